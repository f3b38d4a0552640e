//! What goes in and out of the hub: the commands sessions send, the inputs the I/O layer
//! feeds it, the events and answers it has sent, and the outputs it decides. No wire format:
//! each front door maps these to its protocol.

use crate::{
    Caps, Door, Kept, LinkId, Liveness, Member, ModeChange, Node, Queued, RoomCommand, RoomError, RoomNews, SessionId,
    Topic,
};
use std::net::IpAddr;
use std::time::Duration;

/// The key of a relayed private link: asker `a`, asked `b`, and `a`'s random password.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    pub a: String,
    pub b: String,
    pub password: i16,
}

/// What a session asks of the hub. `sender`, where present, is the name the packet claims;
/// it must be the session's own.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// Take `name`. `verified`: the front door checked the account's password, so the name
    /// may be a reserved one; a guest (`false`) cannot take a reserved name.
    Login {
        name: String,
        verified: bool,
    },
    Lobby {
        sender: String,
        text: String,
    },
    /// `sender`: the name the packet claims, if the protocol says one (JPC does not).
    Direct {
        sender: Option<String>,
        to: String,
        text: String,
    },
    /// An image, base64 in `data` (JPC type 1).
    Image {
        sender: Option<String>,
        to: String,
        data: String,
    },
    /// Nothing but a sign of life (JPC HEARTBEAT).
    Alive,
    /// The session is away, with `message` (or back: `None`, or nothing but spaces).
    Away {
        message: Option<String>,
    },
    /// The session (named, a guest, of a door that carries rooms) takes `name` instead of
    /// its own: refused as a login would be, or if it is signed in to an account (whose
    /// name it keeps) or the desk is talking with it.
    Rename {
        name: String,
    },
    /// Something of a room (for a session that carries `rooms`).
    Room(RoomCommand),
    /// The session starts (`active`) or stops typing to `to`.
    Typing {
        to: String,
        active: bool,
    },
    /// An NL operator joins the desk's pool (`key`), or says it is still there.
    OperatorKey {
        uuid: String,
    },
    /// An operator answers ring `id`; `echo` is the ID as it sent it.
    RingAck {
        id: u64,
        echo: String,
    },
    /// An operator writes to its end user.
    DeskMsg {
        texts: Vec<String>,
    },
    /// An operator is composing, or paused.
    DeskState {
        composing: bool,
    },
    /// An operator ends its conversation.
    Disassociate,
    /// An operator leaves the pool (`disconnect`).
    OperatorLeave,
    /// Sent by `a` on its chat session.
    LinkAsk(LinkKey),
    /// Sent by `a` or `b` on its chat session: refuse or withdraw.
    LinkAbort(LinkKey),
    /// Sent by `b` as the first packet of a new connection.
    LinkAccept(LinkKey),
    /// Sent by `a` as the first packet of a new connection.
    LinkConnect(LinkKey),
    /// A asks `to` for a direct link (ChatHack).
    DirectAsk {
        sender: String,
        to: String,
    },
    /// B accepts `to`'s ask: `to` may connect to `address:port` and must open with `id`.
    DirectAccept {
        sender: String,
        to: String,
        port: i32,
        address: IpAddr,
        id: i64,
    },
    /// B denies `to`'s ask.
    DirectDeny {
        sender: String,
        to: String,
    },
}

/// Which command an answer answers: some protocols answer only some commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Login,
    Lobby,
    Direct,
    LinkAsk,
    LinkAbort,
    LinkAccept,
    LinkConnect,
    DirectAsk,
    DirectAccept,
    DirectDeny,
    Image,
    Alive,
    Away,
    Rename,
    Typing,
    Desk,
    Room,
}

impl Command {
    /// A chat message (lobby, direct, image, an operator's reply): what a session's message
    /// rate counts. Logins, heartbeats, typing, link steps and answers are not.
    pub fn is_chat(&self) -> bool {
        matches!(
            self,
            Command::Lobby { .. }
                | Command::Direct { .. }
                | Command::Image { .. }
                | Command::DeskMsg { .. }
                | Command::Room(RoomCommand::Say { .. })
        )
    }

    pub fn kind(&self) -> Kind {
        match self {
            Command::Login { .. } => Kind::Login,
            Command::Lobby { .. } => Kind::Lobby,
            Command::Direct { .. } => Kind::Direct,
            Command::LinkAsk(_) => Kind::LinkAsk,
            Command::LinkAbort(_) => Kind::LinkAbort,
            Command::LinkAccept(_) => Kind::LinkAccept,
            Command::LinkConnect(_) => Kind::LinkConnect,
            Command::DirectAsk { .. } => Kind::DirectAsk,
            Command::DirectAccept { .. } => Kind::DirectAccept,
            Command::DirectDeny { .. } => Kind::DirectDeny,
            Command::Image { .. } => Kind::Image,
            Command::Alive => Kind::Alive,
            Command::Away { .. } => Kind::Away,
            Command::Rename { .. } => Kind::Rename,
            Command::Typing { .. } => Kind::Typing,
            Command::Room(_) => Kind::Room,
            Command::OperatorKey { .. }
            | Command::RingAck { .. }
            | Command::DeskMsg { .. }
            | Command::DeskState { .. }
            | Command::Disassociate
            | Command::OperatorLeave => Kind::Desk,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    /// `origin` is the address the connection comes from (its IP, without the port): a link's
    /// new connection must come from where its party's chat session does.
    Connected {
        session: SessionId,
        /// The door it came in by, and what its protocol can carry.
        door: Door,
        caps: Caps,
        /// How it must prove it is there, if it must.
        liveness: Option<Liveness>,
        origin: IpAddr,
    },
    Command {
        session: SessionId,
        command: Command,
    },
    Disconnected {
        session: SessionId,
    },
    /// The I/O layer stopped relaying a link's bytes (either end closed), or could not park
    /// one of its ends.
    LinkClosed {
        link: LinkId,
    },
    /// Time passed: expire what is due.
    Tick,
    /// The names that have an account (or are otherwise reserved) now, replacing the last set.
    Reserved {
        names: Vec<String>,
    },
    /// The next page of what was queued for `session`'s name, oldest first (answering
    /// `Output::FetchOffline`); empty when nothing is left.
    Offline {
        session: SessionId,
        queued: Vec<Queued>,
    },
    /// The next page of `session`'s queue could not be read (the store failed; answering
    /// `Output::FetchOffline`): nothing was taken out of the queue. The session is told once,
    /// its queue stays (and what comes for it meanwhile joins it, in order), and the fetch is
    /// asked again later.
    OfflineFailed {
        session: SessionId,
    },
    /// `session`'s connection wrote the page of queued messages up to id `last` (answering
    /// `Output::Page`): they may leave the queue, and the next page come.
    PageDelivered {
        session: SessionId,
        last: i64,
    },
    /// The hub's services (front doors) and whether each is up, for the desk's `status`.
    Services {
        services: Vec<(String, bool)>,
    },
    /// In a cluster: the answer to `Output::Claim`. `Ok`: no other node holds the name (or
    /// one that looks like it), and from now on none can until it is released; else why not
    /// (`NameTaken`, or `Unavailable` when the cluster cannot be reached).
    Claimed {
        session: SessionId,
        result: Result<(), HubError>,
    },
    /// In a cluster: `session`'s claim on its name was lost (its node's lease ran out while
    /// it could not renew it, and another node took the name): it is closed.
    Lost {
        session: SessionId,
    },
    /// In a cluster: `node` holds `name` now, for a session of `door` that carries `caps`;
    /// `was`: the session was named so until now (a rename: the old name is no longer held).
    Joined {
        node: Node,
        name: String,
        door: Door,
        caps: Caps,
        was: Option<String>,
    },
    /// In a cluster: `node` no longer holds `name`.
    Left {
        node: Node,
        name: String,
    },
    /// In a cluster: `node` is gone (its lease ran out): nothing it held is held any more.
    NodeGone {
        node: Node,
    },
    /// In a cluster: a lobby message from another node's session, filtered and kept there;
    /// `mesh`: its sender is a peer of a bridged mesh.
    Lobby {
        from: String,
        text: String,
        mesh: bool,
    },
    /// In a cluster: a command from another node for a session here; answered with
    /// `Output::Answer` (`id` is the other node's), if it wants an answer.
    Remote {
        node: Node,
        id: u64,
        command: Remote,
    },
    /// In a cluster: the answer to `Output::Forward` number `id`.
    Answer {
        id: u64,
        result: Result<(), HubError>,
    },
    /// In a cluster: news of `node`'s desk.
    DeskNews {
        node: Node,
        news: DeskNews,
    },
    /// In a cluster: `node` is up (first heard, or heard again after a break): it learns
    /// what it should know of this one's desk.
    NodeUp {
        node: Node,
    },
    /// In a cluster: a message joined `name`'s queue (queued by any node, which may not yet
    /// have known that a session here had just taken the name): if one here holds it, it is
    /// handed over.
    Queued {
        name: String,
    },
    /// In a cluster: a change to a room, decided on `node`.
    RoomNews {
        node: Node,
        news: RoomNews,
    },
    /// In a cluster: `name`, held by `node`, is away with `message` (or back).
    Away {
        node: Node,
        name: String,
        message: Option<String>,
    },
}

/// What one node asks another to do for a session there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Remote {
    /// Deliver a direct message or an image to `kept.recipient`, or queue it if that is a
    /// reserved name nobody holds; answered.
    Direct(Kept),
    /// Tell `to` that `from` is typing (or stopped); not answered.
    Typing { from: String, to: String, active: bool },
    /// A (on the sending node) asks `key.b` (here) for a private link, numbered `tag` on A's
    /// node; answered.
    LinkAsk { key: LinkKey, tag: u64 },
    /// B accepted the link `key` on its node: A may connect.
    LinkAccepted { key: LinkKey },
    /// The link `key` is over before it opened, or its relay is to stop.
    LinkAborted { key: LinkKey },
    /// Operator `op` (a session on the sending node, `uuid`) answers ring `id` of an end user
    /// here; answered (`NoSuchLink`: another operator was first, or it is over).
    RingAck { id: u64, op: u64, uuid: String, echo: String },
    /// Operator `op` here won ring `id` (its `echo`): it is with `user` now, who wrote `texts`.
    DeskJoined { op: u64, user: String, texts: Vec<String>, id: u64, echo: String },
    /// What operator `op`'s end user wrote.
    DeskWrote { op: u64, texts: Vec<String> },
    /// Operator `op`'s end user is typing (or stopped).
    DeskTyping { op: u64, composing: bool },
    /// The operator of end user `user` here ended the conversation (`notice`: what to tell).
    DeskEnd { user: String, notice: String },
    /// Operator `op`'s end user `user` left.
    DeskUserLeft { op: u64, user: String },
    /// ChatHack: A (`from`, on the sending node) asks `to` here for a direct link.
    DirectAsk { from: String, to: String },
    /// ChatHack: B (`from`) answered the ask of A (`to`, here).
    DirectAnswer { from: String, to: String, answer: crate::DirectAnswer },
}

/// What a node tells every other node of its desk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskNews {
    /// It has `count` operators now.
    Operators { count: u64 },
    /// An end user there rings: for every operator.
    Ring { id: u64, expires_in: Duration },
    /// Ring `id` is over: `winner` (an operator's UUID) took it, or (empty) it expired or was
    /// called off.
    RingOver { id: u64, winner: String },
}

/// Who gets the answer to a command that queued a message, once it is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyTo {
    /// A session here, for its command of this kind.
    Session(SessionId, Kind),
    /// Another node, for its `Output::Forward` number `id`.
    Node(Node, u64),
}

/// Why the hub refused a command. Each front door maps these to its protocol's error answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HubError {
    NameTaken,
    InvalidName,
    /// The packet claims a name that is not the session's.
    NotYourName,
    NotLoggedIn,
    /// No such name online, or its protocol cannot carry this.
    Unreachable,
    /// A private link between these two is already pending or open.
    LinkInProgress,
    /// No pending private link has this key.
    NoSuchLink,
    /// What it asks cannot be done now: the cluster (or the store) cannot be reached, and
    /// the hub would rather refuse than answer a false OK.
    Unavailable,
    /// A room command was refused.
    Room(RoomError),
    /// The session's name cannot change: it is its account's, or the desk is talking with it.
    NameFixed,
}

/// Something for a session's protocol to encode and send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Lobby {
        from: String,
        text: String,
    },
    Direct {
        from: String,
        to: String,
        text: String,
    },
    LinkAsked(LinkKey),
    LinkAccepted(LinkKey),
    LinkAborted(LinkKey),
    /// `from` asks for a direct link.
    DirectAsked {
        from: String,
    },
    /// `from` accepted: connect to `address:port` and open with `id`.
    DirectAccepted {
        from: String,
        port: i32,
        address: IpAddr,
        id: i64,
    },
    /// `from` denied, left, or never answered.
    DirectDenied {
        from: String,
    },
    /// An image, base64.
    Image {
        from: String,
        to: String,
        data: String,
    },
    /// `from` started (`active`) or stopped typing to `to`.
    Typing {
        from: String,
        to: String,
        active: bool,
    },
    /// `name` came online, or left, by the door called `via` (as `Config::door_names` calls
    /// it); `via` is `desk` for the support desk opening (its first operator came) or closing.
    Presence {
        name: String,
        via: &'static str,
        /// It hears the lobby.
        lobby: bool,
        online: bool,
    },
    /// Who is in the lobby (the session too), here and on the other nodes: for a session
    /// that carries `lobby_roster`, once it is logged in.
    InLobby {
        names: Vec<String>,
    },
    /// For the support desk's operators.
    Desk(DeskEvent),
    /// `name` joined `room` (the session itself too, first thing when it joins).
    RoomJoined {
        room: String,
        name: String,
    },
    /// The room the session just joined: its topic and members (itself too).
    RoomState {
        room: String,
        topic: Option<Topic>,
        members: Vec<(String, Member)>,
    },
    /// `name` left `room` (`reason`), or was kicked out `by` an operator.
    RoomParted {
        room: String,
        name: String,
        reason: String,
        by: Option<String>,
    },
    /// A message in `room` (`notice`: one nobody answers).
    RoomSaid {
        room: String,
        from: String,
        text: String,
        notice: bool,
    },
    /// The topic of `room` is now `topic` (empty: none).
    RoomTopic {
        room: String,
        topic: Topic,
    },
    /// `by` changed the modes of `room`.
    RoomModes {
        room: String,
        by: String,
        changes: Vec<ModeChange>,
    },
    /// `by` invites the session to `room`.
    Invited {
        room: String,
        by: String,
    },
    /// `name` is away with `message`, or back (`None`): for those told who comes and goes.
    Away {
        name: String,
        message: Option<String>,
    },
    /// `name`, which the session just wrote to, is away with `message`.
    IsAway {
        name: String,
        message: String,
    },
    /// `from` is named `to` now (on the door `via`): for those told who comes and goes, and
    /// for the session itself.
    Renamed {
        from: String,
        to: String,
        via: &'static str,
    },
    /// Are you there? (JPC: the server's HEARTBEAT; NL: `probe`.)
    Ping,
    /// The session is being closed for its silence (JPC: CLOSE).
    Closing,
}

/// What the support desk tells its operators (NL Chat).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskEvent {
    /// The server is up (NL: `server_online`, first thing to a new operator).
    ServerOnline,
    /// The hub's services and whether each is up (NL: `status`).
    Status { services: Vec<(String, bool)> },
    /// An end user wants support (NL: `ring`); the ring expires in `expires_in`.
    Ring { id: u64, expires_in: Duration },
    /// Ring `id` went to the operator `winner` (its UUID), or expired (`winner` empty).
    /// `echo`: the ID as the winner sent it, for the winner.
    RingAckAck { id: u64, echo: Option<String>, winner: String },
    /// The associated end user wrote (NL: `msg` in).
    UserWrote { texts: Vec<String> },
    /// The associated end user is typing, or stopped (NL: `chat_state` in).
    UserTyping { composing: bool },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Output {
    /// The answer to the command a session just sent, of this kind.
    Reply {
        to: SessionId,
        kind: Kind,
        result: Result<(), HubError>,
    },
    Deliver {
        to: SessionId,
        event: Event,
    },
    /// One event to many sessions: encode it once per protocol.
    Broadcast {
        to: Vec<SessionId>,
        event: Event,
    },
    /// Once what was sent to `session` before is flushed, its connection stops being a chat
    /// session and becomes one end of `link`; the hub has forgotten the session.
    Park {
        session: SessionId,
        link: LinkId,
    },
    /// `link` will never pair: drop whatever end of it was parked.
    Unpark {
        link: LinkId,
    },
    /// In a cluster: the other end of `link` is parked on `node`: relay the end parked here
    /// to it over the bus, as the link numbered `tag` on A's node (`home`: this is A's node).
    Bridge {
        link: LinkId,
        node: Node,
        home: bool,
        tag: u64,
    },
    /// Close the session's connection once what was sent to it before is written; the hub
    /// has forgotten the session.
    Close {
        session: SessionId,
    },
    /// Keep this message in the history.
    Keep(Kept),
    /// Keep this message for its recipient, in its queue, and only then give `reply` (if any:
    /// a command that queued several messages is answered after the last; the session and the
    /// kind of its command) the answer to its command (OK, or an error if it could not be kept).
    Queue {
        kept: Kept,
        reply: Option<ReplyTo>,
    },
    /// `session` is logged in as `name`: take the queued messages up to `delivered` (the last
    /// id of the page its connection wrote, if any) out of its queue, then fetch the next page
    /// (images only if `images`) and hand it back with `Input::Offline`.
    FetchOffline {
        session: SessionId,
        name: String,
        images: bool,
        delivered: Option<i64>,
    },
    /// A page of queued messages (at least one) for `to`, to write whatever its outbound
    /// limit (it is not counted against it), then answer with `Input::PageDelivered` once
    /// written, with the last message's id.
    Page {
        to: SessionId,
        queued: Vec<Queued>,
    },
    /// In a cluster: claim `name` (the session's, as it asked for it) for `session`, and
    /// answer with `Input::Claimed`. `was`: the session is named so now, and renames itself
    /// (its old name is released once the claim is granted, unless it looks the same: then
    /// the claim is the same, and names the session anew).
    Claim {
        session: SessionId,
        name: String,
        was: Option<String>,
    },
    /// In a cluster: `name`, claimed for `session` (granted or not yet answered), is free.
    Release {
        session: SessionId,
        name: String,
    },
    /// In a cluster: a lobby message for every other node's sessions (`mesh`: from a peer of
    /// a bridged mesh), published once.
    Publish {
        from: String,
        text: String,
        mesh: bool,
    },
    /// In a cluster: a command for a session on `node`, answered with `Input::Answer` if it
    /// is one that is answered.
    Forward {
        node: Node,
        id: u64,
        command: Remote,
    },
    /// In a cluster: the answer to `node`'s command number `id`.
    Answer {
        node: Node,
        id: u64,
        result: Result<(), HubError>,
    },
    /// In a cluster: news of this node's desk for every other node.
    DeskNews(DeskNews),
    /// In a cluster: a change to a room decided here, for every other node.
    RoomNews(RoomNews),
    /// In a cluster: `name`, held here, is away with `message` (or back), for every other node.
    Away {
        name: String,
        message: Option<String>,
    },
}

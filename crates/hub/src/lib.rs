//! The hub: sessions, one namespace of names across protocols, the lobby, direct messages and
//! the broker for relayed private links. A deterministic state machine: it does no I/O and
//! reads no clock. Feed it [`Input`]s with [`Hub::handle`] (time passed in as `now`) and drain
//! what it decided with [`Hub::poll_output`].
//!
//! The hub knows no wire format: it speaks in [`Event`]s and [`HubError`]s, and each front door
//! turns them into its protocol's packets, encoding a lobby message once per protocol.

mod desk;
mod direct;
mod filter;
mod invariants;
mod keep;
mod links;
mod live;
mod names;
#[cfg(test)]
mod tests;

pub use desk::{notice, SUPPORT};
pub use filter::WordFilter;
use keep::Sent;
pub use keep::{Kept, Queued};
pub use links::LinkId;
use names::skeleton_digest;
pub use names::{fold, same_name, skeleton, valid_name, MAX_NAME};

use indexmap::IndexSet;
use keep::Drain;
use links::{Link, Links, State};
use rustc_hash::{FxBuildHasher, FxHashMap, FxHashSet};
use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// A connection's identity inside the hub, chosen by the I/O layer; never reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionId(pub u64);

/// The front door a session came in by: a label the hub hands back (in presence events and
/// the roster) and never looks into. What the hub does with a session depends on its
/// [`Caps`] alone, which its door declares when it connects.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Door(pub u8);

/// What a session's protocol can carry. A message to a session that cannot carry it is an
/// error to the sender, never silently dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// Receives lobby messages.
    pub lobby: bool,
    /// Gets its own lobby messages back (ChatHack does, ChatOS does not).
    pub lobby_echo: bool,
    /// Receives direct messages.
    pub direct: bool,
    /// Can take part in private links relayed by the hub (ChatOS).
    pub relay_links: bool,
    /// Can take part in direct links the hub only brokers (ChatHack).
    pub direct_links: bool,
    /// Receives images (JPC, web).
    pub images: bool,
    /// Gets its own direct messages back, so that all its tabs show them (web).
    pub direct_echo: bool,
    /// Receives typing notices (web).
    pub typing: bool,
    /// Is told who comes and goes (web).
    pub presence: bool,
    /// A peer of a mesh where everyone hears everyone (PeerChat), bridged by the hub: named
    /// `NAME@MESH`, and a lobby message from one never goes to another (each heard it from
    /// its author already).
    pub mesh: bool,
    /// May join the support desk's pool of operators (NL Chat).
    pub operator: bool,
}

impl Caps {
    /// Carries nothing: a door sets what its protocol can.
    pub const NONE: Caps = Caps {
        lobby: false,
        lobby_echo: false,
        direct: false,
        relay_links: false,
        direct_links: false,
        images: false,
        direct_echo: false,
        typing: false,
        presence: false,
        mesh: false,
        operator: false,
    };
}

/// How the sessions of a protocol that must be heard from prove they are there. A verified
/// login of a name held by such a session of the same door replaces it: it may be stale (a
/// JPC client reconnects at once).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Liveness {
    /// The hub pings this often.
    pub ping_every: Duration,
    /// Silent this long, a session is closed.
    pub silence: Duration,
    /// Ping only a session silent for `ping_every` (NL's probe), rather than every
    /// `ping_every` whatever it says (JPC's heartbeat).
    pub quiet_first: bool,
}

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

/// A command that queued nothing.
fn none(_: ()) -> Vec<Kept> {
    Vec::new()
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
    Typing,
    Desk,
}

impl Command {
    /// A chat message (lobby, direct, image, an operator's reply): what a session's message
    /// rate counts. Logins, heartbeats, typing, link steps and answers are not.
    pub fn is_chat(&self) -> bool {
        matches!(self, Command::Lobby { .. } | Command::Direct { .. } | Command::Image { .. } | Command::DeskMsg { .. })
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
            Command::Typing { .. } => Kind::Typing,
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
    /// `name` came online by `door`, or left; `door` `None`: the support desk opened (its
    /// first operator came) or closed.
    Presence {
        name: String,
        door: Option<Door>,
        online: bool,
    },
    /// For the support desk's operators.
    Desk(DeskEvent),
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
        reply: Option<(SessionId, Kind)>,
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
}

#[derive(Debug, Clone)]
pub struct Config {
    /// How long a private link may stay asked or accepted before it is aborted.
    pub link_timeout: Duration,
    /// How long a connection may stay without a name (or, for an NL operator, without its
    /// `key`) before it is closed.
    pub login_timeout: Duration,
    /// Words censored in lobby messages (none by default).
    pub word_filter: WordFilter,
    /// How long a desk ring waits for an operator.
    pub ring_timeout: Duration,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            link_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(30),
            word_filter: WordFilter::default(),
            ring_timeout: Duration::from_secs(60),
        }
    }
}

struct Session {
    door: Door,
    caps: Caps,
    name: Option<String>,
    /// The name was verified by its front door (a password, a white-listed MAC): it is an
    /// account's or a device's, not a guest's.
    verified: bool,
    origin: IpAddr,
    /// When the session last sent a command, and was last pinged (for liveness).
    last_heard: Instant,
    last_ping: Instant,
    /// What was queued for the session's name is being handed to it, a page at a time; new
    /// direct messages join the queue meanwhile, so that they come after the older ones.
    drain: Option<Drain>,
}

pub struct Hub {
    config: Config,
    sessions: FxHashMap<SessionId, Session>,
    /// Folded name → the session holding it.
    names: FxHashMap<String, SessionId>,
    /// Skeleton digests of the names held: no other session may take a look-alike.
    looks: FxHashMap<u64, SessionId>,
    /// Folded names that only a verified login may take.
    reserved: FxHashSet<String>,
    /// Skeleton digests of the reserved names: no guest may take a look-alike.
    reserved_looks: FxHashSet<u64>,
    /// Named sessions whose protocol receives lobby messages.
    lobby: IndexSet<SessionId, FxBuildHasher>,
    links: Links,
    asks: direct::Asks,
    /// Sessions that must prove they are there, and how.
    live: FxHashMap<SessionId, Liveness>,
    /// Sessions by the time they must have logged in, oldest first (the timeout is the same
    /// for all): a session that has by then is passed over.
    unnamed: VecDeque<(Instant, SessionId)>,
    /// Named sessions told who comes and goes.
    watchers: IndexSet<SessionId, FxBuildHasher>,
    desk: desk::Desk,
    /// The time of the input being handled.
    now: Instant,
    out: VecDeque<Output>,
}

impl Hub {
    pub fn new(config: Config) -> Self {
        Hub {
            config,
            sessions: FxHashMap::default(),
            names: FxHashMap::default(),
            looks: FxHashMap::default(),
            reserved: FxHashSet::default(),
            reserved_looks: FxHashSet::default(),
            lobby: IndexSet::default(),
            links: Links::default(),
            asks: direct::Asks::default(),
            live: FxHashMap::default(),
            unnamed: VecDeque::new(),
            watchers: IndexSet::default(),
            desk: desk::Desk::default(),
            now: Instant::now(),
            out: VecDeque::new(),
        }
    }

    /// The next decision, in the order the hub made them.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// Sessions connected, named or not (parked link ends are not sessions).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Who is online, and by which door, in the order they came.
    pub fn roster(&self) -> Vec<(String, Door)> {
        let mut named: Vec<(SessionId, &Session)> = self.sessions.iter().map(|(&id, s)| (id, s)).collect();
        named.sort_by_key(|&(id, _)| id);
        named.into_iter().filter_map(|(_, s)| Some((s.name.clone()?, s.door))).collect()
    }

    /// Operators in the desk's pool.
    pub fn desk_operators(&self) -> usize {
        self.desk.operators()
    }

    /// Private links pending or open.
    pub fn link_count(&self) -> usize {
        self.links.len()
    }

    pub fn handle(&mut self, now: Instant, input: Input) {
        self.now = now;
        match input {
            Input::Connected { session, door, caps, liveness, origin } => {
                self.sessions.insert(
                    session,
                    Session {
                        door,
                        caps,
                        name: None,
                        verified: false,
                        origin,
                        last_heard: now,
                        last_ping: now,
                        drain: None,
                    },
                );
                self.unnamed.push_back((now + self.config.login_timeout, session));
                if let Some(liveness) = liveness {
                    self.live.insert(session, liveness);
                }
            }
            Input::Command { session, command } => self.command(now, session, command),
            Input::Disconnected { session } => self.disconnected(session),
            Input::LinkClosed { link } => {
                // A link that breaks before it opened is an aborted one: both are told.
                if let Some(l) = self.links.remove(link).filter(|l| l.state != State::Open) {
                    self.abort_link(l);
                }
            }
            Input::Reserved { names } => self.reserve(&names),
            Input::Offline { session, queued } => self.offline(session, queued),
            Input::PageDelivered { session, last } => self.page_delivered(session, last),
            Input::Services { services } => self.services(services),
            Input::Tick => {
                for link in self.links.expire(now) {
                    self.abort_link(link);
                }
                self.expire_asks(now);
                self.expire_rings(now);
                self.check_liveness(now);
                self.check_logins(now);
            }
        }
    }

    /// Runs one command and answers it. The answer goes out before anything the command caused,
    /// as ChatOS wants (ERROR 1, then the relay; ERROR, then TCPAbort).
    fn command(&mut self, now: Instant, session: SessionId, command: Command) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return; // already gone: a late packet from a closed connection
        };
        s.last_heard = now;
        let mark = self.out.len();
        let kind = command.kind();
        // Ok: the messages the command queued for their recipients, if any; then it is answered
        // only once they are stored.
        let result: Result<Vec<Kept>, HubError> = match command {
            Command::Login { name, verified } => match s.name {
                Some(_) => return, // a second login on a named session is ignored
                None => self.login(session, name, verified).map(none),
            },
            Command::LinkAccept(key) => self.link_accept(now, session, key).map(none),
            Command::LinkConnect(key) => self.link_connect(session, key).map(none),
            Command::Lobby { sender, text } => {
                self.me(session, Some(&sender)).map(|me| self.lobby(session, me, text)).map(none)
            }
            Command::Direct { sender, to, text } => self.me(session, sender.as_deref()).and_then(|sender| {
                self.direct(session, Kept { sender, recipient: Some(to), body: text, ..Kept::default() })
                    .map(Sent::queued)
            }),
            Command::Image { sender, to, data } => self.me(session, sender.as_deref()).and_then(|sender| {
                self.direct(session, Kept { sender, recipient: Some(to), image: true, body: data, ..Kept::default() })
                    .map(Sent::queued)
            }),
            Command::Alive => self.me(session, None).map(|_| Vec::new()),
            Command::Typing { to, active } => {
                self.me(session, None).and_then(|me| self.typing(me, to, active)).map(none)
            }
            Command::OperatorKey { uuid } => self.operator_key(session, uuid).map(none),
            Command::RingAck { id, echo } => self.ring_ack(session, id, echo).map(none),
            Command::DeskMsg { texts } => self.desk_msg(session, texts),
            Command::DeskState { composing } => self.desk_state(session, composing).map(none),
            Command::Disassociate => self.disassociate(session).map(none),
            Command::OperatorLeave => {
                self.close(session, Event::Closing);
                return;
            }
            Command::LinkAsk(key) => self.link_ask(now, session, key).map(none),
            Command::LinkAbort(key) => self.link_abort(session, key).map(none),
            Command::DirectAsk { sender, to } => {
                self.me(session, Some(&sender)).and_then(|me| self.direct_ask(now, session, me, to)).map(none)
            }
            Command::DirectAccept { sender, to, port, address, id } => self
                .me(session, Some(&sender))
                .and_then(|me| self.direct_answer(me, to, direct::Answer::Accept { port, address, id }))
                .map(none),
            Command::DirectDeny { sender, to } => self
                .me(session, Some(&sender))
                .and_then(|me| self.direct_answer(me, to, direct::Answer::Deny))
                .map(none),
        };
        match result {
            Ok(queued) if !queued.is_empty() => {
                let n = queued.len();
                for (i, kept) in queued.into_iter().enumerate() {
                    let reply = (i + 1 == n).then_some((session, kind));
                    self.out.push_back(Output::Queue { kept, reply });
                }
            }
            result => self.out.insert(mark, Output::Reply { to: session, kind, result: result.map(drop) }),
        }
    }

    /// The session's name, checked against the one a packet claims.
    /// The session's name, checked against the one a packet claims, if it claims one.
    fn me(&self, session: SessionId, claimed: Option<&str>) -> Result<String, HubError> {
        let me = self.sessions[&session].name.as_deref().ok_or(HubError::NotLoggedIn)?;
        match claimed {
            Some(claimed) if !same_name(claimed, me) => Err(HubError::NotYourName),
            _ => Ok(me.to_owned()),
        }
    }

    fn deliver(&mut self, to: SessionId, event: Event) {
        self.out.push_back(Output::Deliver { to, event });
    }

    /// The online session holding `name` and its name as registered, if its protocol has the
    /// capability `can`.
    fn reachable(&self, name: &str, can: impl Fn(Caps) -> bool) -> Option<(SessionId, String)> {
        let id = *self.names.get(&fold(name))?;
        let s = self.sessions.get(&id)?;
        can(s.caps).then(|| (id, s.name.clone().unwrap_or_default()))
    }

    /// A lobby message goes to everyone in the lobby, never back into the PeerChat mesh it
    /// came from: every mesh peer heard it from its author already.
    fn lobby(&mut self, session: SessionId, me: String, text: String) {
        let text = self.config.word_filter.apply(text);
        let sender_guest = self.guest(session);
        self.keep(Kept { sender: me.clone(), sender_guest, body: text.clone(), ..Kept::default() });
        let caps = self.sessions[&session].caps;
        let to: Vec<SessionId> = self
            .lobby
            .iter()
            .copied()
            .filter(|&id| caps.lobby_echo || id != session)
            .filter(|id| !caps.mesh || !self.sessions[id].caps.mesh)
            .collect();
        if !to.is_empty() {
            self.out.push_back(Output::Broadcast { to, event: Event::Lobby { from: me, text } });
        }
    }

    /// Delivers a direct message or an image (`event`, whose `to` is filled in here) to `to`,
    /// if its protocol can carry it.
    /// A reserved name that is offline gets it when it next logs in, and one that is still
    /// being handed what waited for it gets it after that: the answer waits until the message
    /// is stored in its queue.
    /// A sender whose protocol wants it gets its message back, addressed as delivered.
    fn direct(&mut self, session: SessionId, mut kept: Kept) -> Result<Sent, HubError> {
        let to = kept.recipient.clone().unwrap_or_default();
        kept.sender_guest = self.guest(session);
        if fold(&to) == SUPPORT {
            return self.write_to_desk(session, kept).map(|()| Sent::Delivered);
        }
        let image = kept.image;
        let echo = self.sessions[&session].caps.direct_echo;
        let Some((id, name)) = self.reachable(&to, |c| if image { c.images } else { c.direct }) else {
            if !self.queues_for(&to) {
                return Err(HubError::Unreachable);
            }
            if echo {
                self.deliver(session, kept.clone().event(to));
            }
            return Ok(Sent::Queued(kept));
        };
        kept.recipient = Some(name.clone());
        kept.recipient_guest = self.guest(id);
        if self.draining(id) {
            // What waited for the recipient is still being handed over: this joins the queue.
            if echo && id != session {
                self.deliver(session, kept.clone().event(name));
            }
            self.queued_behind_drain(id);
            return Ok(Sent::Queued(kept));
        }
        self.keep(kept.clone());
        let event = kept.event(name);
        if echo && id != session {
            self.deliver(session, event.clone());
        }
        self.deliver(id, event);
        Ok(Sent::Delivered)
    }

    /// Tells the watchers that `name` came or went (`support` with protocol `Nl`: the desk
    /// opened or closed).
    pub(crate) fn presence(&mut self, name: String, door: Option<Door>, online: bool) {
        if !self.watchers.is_empty() {
            let to = self.watchers.iter().copied().collect();
            self.out.push_back(Output::Broadcast { to, event: Event::Presence { name, door, online } });
        }
    }

    /// A typing notice: delivered if `to` is online and shows them, dropped quietly if it is
    /// online and does not (it is no message), refused if nobody holds the name.
    fn typing(&mut self, me: String, to: String, active: bool) -> Result<(), HubError> {
        if fold(&to) == SUPPORT {
            return self.typing_to_desk(&me, active);
        }
        let (id, name) = self.reachable(&to, |_| true).ok_or(HubError::Unreachable)?;
        if self.sessions[&id].caps.typing {
            self.deliver(id, Event::Typing { from: me, to: name, active });
        }
        Ok(())
    }

    fn disconnected(&mut self, session: SessionId) {
        let Some(s) = self.sessions.remove(&session) else {
            return; // a parked link end, or already gone
        };
        if let Some(name) = &s.name {
            self.release(session, name);
            self.lobby.swap_remove(&session);
            self.watchers.swap_remove(&session);
            self.presence(name.clone(), Some(s.door), false);
        }
        self.desk_left(session, s.name.as_deref());
        self.live.remove(&session);
        for link in self.links.drop_session(session) {
            self.abort_link(link);
        }
        self.drop_asks(session);
    }

    /// TCPAsk: A asks B for a private link. Every refusal also sends TCPAbort back to A.
    fn link_ask(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let result = self.me(session, Some(&key.a)).and_then(|me| {
            let (b_id, b) = self
                .reachable(&key.b, |c| c.relay_links)
                .filter(|(id, _)| *id != session)
                .ok_or(HubError::Unreachable)?;
            if self.links.busy(&me, &b) {
                return Err(HubError::LinkInProgress);
            }
            Ok((me, b_id, b))
        });
        match result {
            Ok((a, b_id, b)) => {
                let key = LinkKey { a, b, password: key.password };
                self.links.insert(key.clone(), [session, b_id], now + self.config.link_timeout);
                self.deliver(b_id, Event::LinkAsked(key));
                Ok(())
            }
            Err(e) => {
                if e != HubError::NotLoggedIn {
                    self.deliver(session, Event::LinkAborted(key));
                }
                Err(e)
            }
        }
    }

    /// TCPAbort on a chat session: B refuses, or A withdraws, a link not yet open.
    fn link_abort(&mut self, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let me = self.sessions[&session].name.as_deref().ok_or(HubError::NotLoggedIn)?;
        if fold(me) != fold(&key.a) && fold(me) != fold(&key.b) {
            return Err(HubError::NotYourName);
        }
        let id = self.links.find_mut(&key).filter(|l| l.state != State::Open).ok_or(HubError::NoSuchLink)?.id;
        let link = self.links.remove(id).expect("just found");
        self.abort_link(link);
        Ok(())
    }

    /// Tells both chat sessions that `link` is over (so the one who aborted gets it echoed, as
    /// the original does) and drops its parked end.
    fn abort_link(&mut self, link: Link) {
        for chat in link.chats {
            if self.sessions.contains_key(&chat) {
                self.deliver(chat, Event::LinkAborted(link.key.clone()));
            }
        }
        if link.state != State::Asked {
            self.out.push_back(Output::Unpark { link: link.id });
        }
    }

    /// Whether `session` may become the end of a link that belongs to `party`'s chat session:
    /// a fresh connection of a protocol with relayed links, not a named chat session, coming
    /// from the same address as that chat session. The password alone is an i16, which a
    /// stranger could guess within the timeout; the address check keeps them out.
    fn can_become_link(&self, session: SessionId, party: SessionId) -> bool {
        let s = &self.sessions[&session];
        let same_origin = self.sessions.get(&party).is_some_and(|p| p.origin == s.origin);
        s.name.is_none() && s.caps.relay_links && same_origin
    }

    /// TCPAccept, first packet of B's new connection: the connection is parked and A is told.
    fn link_accept(&mut self, now: Instant, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let timeout = self.config.link_timeout;
        let b_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Asked).ok_or(HubError::NoSuchLink)?.chats[1];
        if !self.can_become_link(session, b_chat) {
            return Err(HubError::NoSuchLink);
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Accepted;
        link.deadline = now + timeout;
        let (id, a_chat, key) = (link.id, link.chats[0], link.key.clone());
        if self.sessions.contains_key(&a_chat) {
            self.deliver(a_chat, Event::LinkAccepted(key));
        }
        self.park(session, id);
        Ok(())
    }

    /// TCPConnect, first packet of A's new connection: parked too, and the link is open.
    fn link_connect(&mut self, session: SessionId, key: LinkKey) -> Result<(), HubError> {
        let a_chat =
            self.links.find_mut(&key).filter(|l| l.state == State::Accepted).ok_or(HubError::NoSuchLink)?.chats[0];
        if !self.can_become_link(session, a_chat) {
            return Err(HubError::NoSuchLink);
        }
        let link = self.links.find_mut(&key).expect("just found");
        link.state = State::Open;
        let id = link.id;
        self.park(session, id);
        Ok(())
    }

    fn park(&mut self, session: SessionId, link: LinkId) {
        self.sessions.remove(&session);
        self.out.push_back(Output::Park { session, link });
    }
}

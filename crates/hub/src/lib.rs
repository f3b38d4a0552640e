//! The hub: sessions, one namespace of names across protocols, the lobby, direct messages and
//! the broker for relayed private links. A deterministic state machine: it does no I/O and
//! reads no clock. Feed it [`Input`]s with [`Hub::handle`] (time passed in as `now`), drain
//! what it decided with [`Hub::poll_output`], and wake it with [`Input::Tick`] when
//! [`Hub::poll_timeout`] says.
//!
//! The hub knows no wire format: it speaks in [`Event`]s and [`HubError`]s, and each front door
//! turns them into its protocol's packets, encoding a lobby message once per protocol.

mod away;
pub use away::MAX_AWAY;
mod whowas;
pub use whowas::{Was, WAS_KEPT};
mod chat;
mod cluster;
mod desk;
mod direct;
pub use direct::Answer as DirectAnswer;
mod filter;
mod interface;
mod invariants;
mod keep;
mod links;
mod live;
mod names;
mod rename;
mod rooms;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
#[cfg(test)]
mod tests;
mod timers;

pub use cluster::Node;
pub use desk::{notice, DESK, SUPPORT};
pub use filter::WordFilter;
pub use interface::{Command, DeskEvent, DeskNews, Event, HubError, Input, Kind, LinkKey, Output, Remote, ReplyTo};
use keep::Sent;
pub use keep::{Kept, Queued, QUEUE_UNREADABLE, REFETCH_FIRST};
pub use links::LinkId;
use names::skeleton_digest;
pub use names::{fold, same_name, skeleton, valid_name, MAX_NAME};
pub use rooms::{
    fold_room, matches_mask, valid_room, Masks, Member, Mode, ModeChange, RoomCommand, RoomError, RoomModes, RoomNews,
    RoomView, Topic, LOBBY_ROOM, MAX_BANS, MAX_ROOM, MAX_ROOMS_EACH, MAX_TOPIC,
};

use indexmap::IndexSet;
use keep::Drain;
use links::{Links, State};
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
    /// Is handed who is in the lobby when it logs in, and told with each coming and going
    /// whether that one hears the lobby (IRC: the `NAMES` of `#lobby`, then its `JOIN`s and
    /// `QUIT`s).
    pub lobby_roster: bool,
    /// Joins rooms beside the lobby (IRC's channels, the web's rooms): it hears the lobby
    /// and is told who comes and goes too, so that presence tells a room who left the hub.
    pub rooms: bool,
}

impl Caps {
    /// As bits (`lobby` is bit 0, then in the order of the fields): how they cross between
    /// the nodes of a cluster.
    pub fn bits(self) -> u16 {
        [
            self.lobby,
            self.lobby_echo,
            self.direct,
            self.relay_links,
            self.direct_links,
            self.images,
            self.direct_echo,
            self.typing,
            self.presence,
            self.mesh,
            self.operator,
            self.lobby_roster,
            self.rooms,
        ]
        .iter()
        .enumerate()
        .fold(0, |bits, (i, &on)| bits | (u16::from(on) << i))
    }

    /// From [`Caps::bits`]; bits past the last field are ignored.
    pub fn from_bits(bits: u16) -> Caps {
        let bit = |i: u16| bits & (1 << i) != 0;
        Caps {
            lobby: bit(0),
            lobby_echo: bit(1),
            direct: bit(2),
            relay_links: bit(3),
            direct_links: bit(4),
            images: bit(5),
            direct_echo: bit(6),
            typing: bit(7),
            presence: bit(8),
            mesh: bit(9),
            operator: bit(10),
            lobby_roster: bit(11),
            rooms: bit(12),
        }
    }

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
        lobby_roster: false,
        rooms: false,
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

/// A session that must prove it is there: the rule, and when it last sent a command and was
/// last pinged.
#[derive(Debug)]
struct Live {
    rule: Liveness,
    last_heard: Instant,
    last_ping: Instant,
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
    /// What each door is called, by its index: labels the hub hands back in presence events
    /// and the roster.
    pub door_names: Vec<&'static str>,
    /// The hub is a node of a cluster: a login is a claim another node may refuse, and what
    /// other nodes hold is known (see `cluster.rs`).
    pub cluster: bool,
    /// How long a command forwarded to another node waits for its answer before it fails.
    pub answer_timeout: Duration,
    /// Where the desk numbers its rings from: in a cluster, a number no other node's rings
    /// reach (the server gives this start's first session id).
    pub first_id: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            link_timeout: Duration::from_secs(30),
            login_timeout: Duration::from_secs(30),
            word_filter: WordFilter::default(),
            ring_timeout: Duration::from_secs(60),
            door_names: Vec::new(),
            cluster: false,
            answer_timeout: Duration::from_secs(10),
            first_id: 0,
        }
    }
}

/// What became of a command that went through.
#[derive(Debug)]
pub(crate) enum Done {
    /// Answered now.
    Now,
    /// Answered once these messages, queued for their recipients, are stored (now, if none).
    Queued(Vec<Kept>),
    /// Answered later: by the answer to a claim, or to a command forwarded to another node.
    Later,
}

/// A command that is answered now.
fn none(_: ()) -> Done {
    Done::Now
}

struct Session {
    door: Door,
    /// Its [`Caps`], as bits (two bytes rather than thirteen: see [`Session::caps`]).
    caps: u16,
    /// (A box, not a `String`: 8 bytes less in every session.)
    name: Option<Box<str>>,
    /// The name was verified by its front door (a password, a white-listed MAC): it is an
    /// account's or a device's, not a guest's.
    verified: bool,
    origin: IpAddr,
    /// It must prove it is there: it has an entry in [`Hub::live`], which holds when it was
    /// last heard (so that a session of any other protocol pays nothing for it).
    live: bool,
    /// What was queued for the session's name is being handed to it, a page at a time; new
    /// direct messages join the queue meanwhile, so that they come after the older ones.
    drain: Option<Box<Drain>>,
}

impl Session {
    fn caps(&self) -> Caps {
        Caps::from_bits(self.caps)
    }
}

pub struct Hub {
    config: Config,
    sessions: FxHashMap<SessionId, Session>,
    /// Folded name → the session holding it.
    names: FxHashMap<Box<str>, SessionId>,
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
    /// Sessions that must prove they are there, how, and how well they have.
    live: FxHashMap<SessionId, Live>,
    /// Sessions by the time they must have logged in, oldest first (the timeout is the same
    /// for all): a session that has by then is passed over.
    unnamed: VecDeque<(Instant, SessionId)>,
    /// Named sessions told who comes and goes.
    watchers: IndexSet<SessionId, FxBuildHasher>,
    /// Named sessions that are away, with their messages (few are: not in `Session`).
    away: FxHashMap<SessionId, Box<str>>,
    /// The last names that left, for `WHOWAS`.
    was: whowas::Departures,
    desk: desk::Desk,
    rooms: rooms::Rooms,
    /// In a cluster, what the other nodes hold.
    elsewhere: cluster::Elsewhere,
    /// In a cluster, sessions whose login claimed a name (held here meanwhile), and whether
    /// it was verified, until the claim is answered. Not in `Session`: a single node pays
    /// nothing for it.
    claiming: FxHashMap<SessionId, cluster::Claiming>,
    /// Queues whose page could not be read, by when to ask for it again, soonest first.
    refetch: keep::Refetch,
    /// When the hub next needs waking, and what for.
    timers: timers::Timers,
    /// The time of the input being handled.
    now: Instant,
    out: VecDeque<Output>,
}

impl Hub {
    /// A hub configured by `config`, started at `now`.
    pub fn new(config: Config, now: Instant) -> Self {
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
            away: FxHashMap::default(),
            was: whowas::Departures::new(),
            desk: desk::Desk::default(),
            rooms: rooms::Rooms::default(),
            elsewhere: cluster::Elsewhere::default(),
            claiming: FxHashMap::default(),
            refetch: keep::Refetch::default(),
            timers: timers::Timers::default(),
            now,
            out: VecDeque::new(),
        }
    }

    /// The next decision, in the order the hub made them.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.out.pop_front()
    }

    /// When the hub must next be given [`Input::Tick`] (a link's step, an ask, a ring, a
    /// forwarded command or a login running out, a session to ping or to close, a queue to
    /// read again); `None` while nothing waits. Earlier is harmless: a tick finds what is due.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let login = self.unnamed.front().map(|&(deadline, _)| deadline);
        [self.timers.next(), login, self.refetch.next()].into_iter().flatten().min()
    }

    /// Sessions connected, named or not (parked link ends are not sessions).
    pub fn session_count(&self) -> usize {
        self.sessions.len()
    }

    /// Who is online, and by which door (its name): here in the order they came, then on
    /// the other nodes of a cluster.
    pub fn roster(&self) -> Vec<(String, &'static str)> {
        let mut named: Vec<(SessionId, &Session)> = self.sessions.iter().map(|(&id, s)| (id, s)).collect();
        named.sort_by_key(|&(id, _)| id);
        let here =
            named.into_iter().filter_map(|(_, s)| Some((String::from(s.name.as_deref()?), self.door_name(s.door))));
        let mut elsewhere: Vec<(String, &'static str)> =
            self.elsewhere.roster().map(|(name, door)| (name.to_owned(), self.door_name(door))).collect();
        elsewhere.sort();
        here.chain(elsewhere).collect()
    }

    /// What the door `door` is called, as the I/O layer named it.
    fn door_name(&self, door: Door) -> &'static str {
        self.config.door_names.get(usize::from(door.0)).copied().unwrap_or("?")
    }

    /// Operators in the desk's pool.
    pub fn desk_operators(&self) -> usize {
        self.desk.operators()
    }

    /// Whether the desk has an operator, here or on another node of the cluster.
    pub fn desk_open(&self) -> bool {
        self.desk.open()
    }

    /// Rings nobody has taken yet.
    pub fn desk_rings(&self) -> usize {
        self.desk.rings()
    }

    /// Login deadlines kept: of connections yet to log in, and of some that did but were
    /// behind one that had not yet (dropped as the one before them logs in or times out).
    pub fn login_deadlines(&self) -> usize {
        self.unnamed.len()
    }

    /// Rooms that have a member, here or on another node.
    pub fn room_count(&self) -> usize {
        self.rooms.count()
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
                        caps: caps.bits(),
                        name: None,
                        verified: false,
                        origin,
                        live: liveness.is_some(),
                        drain: None,
                    },
                );
                self.unnamed.push_back((now + self.config.login_timeout, session));
                if let Some(liveness) = liveness {
                    self.live.insert(session, Live { rule: liveness, last_heard: now, last_ping: now });
                    self.timers.at(now + liveness.ping_every.min(liveness.silence), timers::Due::Live(session));
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
            Input::OfflineFailed { session } => self.offline_failed(now, session),
            Input::PageDelivered { session, last } => self.page_delivered(session, last),
            Input::Services { services } => self.services(services),
            Input::Claimed { session, result } => self.claimed(now, session, result),
            Input::Lost { session } => {
                if self.sessions.contains_key(&session) {
                    self.close(session, Event::Closing);
                }
            }
            Input::Joined { node, name, door, caps, was } => self.joined(node, name, door, caps, was),
            Input::Away { node, name, message } => self.remote_away(node, name, message),
            Input::Left { node, name } => self.left(node, &name),
            Input::NodeGone { node } => self.node_gone(node),
            Input::Lobby { from, text, mesh } => self.remote_lobby(from, text, mesh),
            Input::Remote { node, id, command } => self.remote(node, id, command),
            Input::Answer { id, result } => self.answer(id, result),
            Input::DeskNews { node, news } => self.desk_news(node, news),
            Input::NodeUp { .. } => {
                self.desk_announce();
                self.rooms_announce();
                self.away_announce();
            }
            Input::RoomNews { node, news } => self.apply(rooms::From::There(node), news),
            Input::Queued { name } => self.queued_for(&name),
            Input::Tick => {
                // Only the tables with something due are looked at.
                let fired = self.timers.fired(now);
                if fired.links {
                    for link in self.links.expire(now) {
                        self.abort_link(link);
                    }
                }
                if fired.asks {
                    self.expire_asks(now);
                }
                if fired.rings {
                    self.expire_rings(now);
                }
                self.check_liveness(now, &fired.live);
                self.check_logins(now);
                if fired.forwards {
                    self.expire_forwards(now);
                }
                self.retry_fetches(now);
            }
        }
    }

    /// Runs one command and answers it. The answer goes out before anything the command caused,
    /// as ChatOS wants (ERROR 1, then the relay; ERROR, then TCPAbort).
    fn command(&mut self, now: Instant, session: SessionId, command: Command) {
        let Some(s) = self.sessions.get_mut(&session) else {
            return; // already gone: a late packet from a closed connection
        };
        if s.live {
            if let Some(l) = self.live.get_mut(&session) {
                l.last_heard = now;
            }
        }
        let kind = command.kind();
        // In a cluster, what a session sends while its name is claimed waits for the answer
        // (a JPC device sends its first message right behind its HELLO, unanswered).
        let claiming = if self.config.cluster { self.claiming.get_mut(&session) } else { None };
        if let Some(claiming) = claiming {
            if claiming.waiting.len() < cluster::MAX_WAITING && !matches!(command, Command::Login { .. }) {
                claiming.waiting.push(command);
            } else {
                self.out.push_back(Output::Reply { to: session, kind, result: Err(HubError::NotLoggedIn) });
            }
            return;
        }
        let mark = self.out.len();
        let result: Result<Done, HubError> = match command {
            Command::Login { name, verified } => match (&s.name, self.claiming.contains_key(&session)) {
                (None, false) => self.login(session, name, verified),
                _ => return, // a second login on a named (or claiming) session is ignored
            },
            Command::LinkAccept(key) => self.link_accept(now, session, key).map(none),
            Command::LinkConnect(key) => self.link_connect(session, key).map(none),
            Command::Lobby { sender, text } => {
                self.me(session, Some(&sender)).map(|me| self.lobby(session, me, text)).map(none)
            }
            Command::Direct { sender, to, text } => self.me(session, sender.as_deref()).and_then(|sender| {
                let done = self
                    .direct(session, kind, Kept { sender, recipient: Some(to.clone()), body: text, ..Kept::default() })
                    .map(Sent::done)?;
                self.tell_if_away(session, &to);
                Ok(done)
            }),
            Command::Image { sender, to, data } => self.me(session, sender.as_deref()).and_then(|sender| {
                let kept = Kept { sender, recipient: Some(to), image: true, body: data, ..Kept::default() };
                self.direct(session, kind, kept).map(Sent::done)
            }),
            Command::Alive => self.me(session, None).map(|_| Done::Now),
            Command::Away { message } => {
                self.me(session, None).and_then(|me| self.set_away(session, me, message)).map(none)
            }
            Command::Room(command) => self.me(session, None).and_then(|me| self.room(session, me, command)).map(none),
            Command::Rename { name } => self.me(session, None).and_then(|me| self.rename(session, me, name)),
            Command::Typing { to, active } if to.starts_with('#') => {
                self.me(session, None).and_then(|me| self.room_typing(session, me, &to, active)).map(none)
            }
            Command::Typing { to, active } => {
                self.me(session, None).and_then(|me| self.typing(me, to, active)).map(none)
            }
            Command::OperatorKey { uuid } => self.operator_key(session, uuid).map(none),
            Command::RingAck { id, echo } => self.ring_ack(session, id, echo),
            Command::DeskMsg { texts } => self.desk_msg(session, texts).map(Done::Queued),
            Command::DeskState { composing } => self.desk_state(session, composing).map(none),
            Command::Disassociate => self.disassociate(session).map(none),
            Command::OperatorLeave => {
                self.close(session, Event::Closing);
                return;
            }
            Command::LinkAsk(key) => self.link_ask(now, session, key),
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
            Ok(Done::Queued(queued)) if !queued.is_empty() => {
                let n = queued.len();
                for (i, kept) in queued.into_iter().enumerate() {
                    let reply = (i + 1 == n).then_some(ReplyTo::Session(session, kind));
                    self.out.push_back(Output::Queue { kept, reply });
                }
            }
            Ok(Done::Later) => {}
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
        let id = *self.names.get(fold(name).as_str())?;
        let s = self.sessions.get(&id)?;
        // A session still claiming its name (in a cluster) is not reachable by it yet.
        let name = s.name.as_ref()?;
        can(s.caps()).then(|| (id, String::from(&**name)))
    }

    fn disconnected(&mut self, session: SessionId) {
        let Some(s) = self.sessions.remove(&session) else {
            return; // a parked link end, or already gone
        };
        if let Some(claiming) = self.claiming.remove(&session) {
            self.release(session, &claiming.name);
        }
        if let Some(name) = &s.name {
            self.release(session, name);
            self.lobby.swap_remove(&session);
            self.watchers.swap_remove(&session);
            self.away.remove(&session);
            self.rooms_quit(session, name);
            self.presence(String::from(&**name), Some(s.door), s.caps().lobby, false);
        }
        self.desk_left(session, s.name.as_deref());
        self.live.remove(&session);
        for link in self.links.drop_session(session) {
            self.abort_link(link);
        }
        self.drop_asks(session);
    }
}

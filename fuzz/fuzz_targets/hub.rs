//! Fuzzes the hub state machine: arbitrary sequences of inputs to `Hub::handle`, with names
//! from a small pool (so that they collide, fold together and look alike), time moving on.
//! No input may panic; after every step the hub's invariants hold (`check_invariants`: one
//! session per name, every table of sessions holds live ones, a link's ends exist, the desk
//! agrees with itself), and no output is for a session that is not connected (never was, or
//! was closed, disconnected or parked). Half the runs are of a node of a cluster, fed what the
//! other nodes hold and send as well.

#![no_main]

use arbitrary::Arbitrary;
use hub::{
    Caps, Command, DeskNews, Door, Hub, HubError, Input, Kept, LinkId, LinkKey, Liveness, Masks, Member, Mode, ModeChange, Node,
    Output, Queued, Remote, ReplyTo, RoomCommand, RoomModes, RoomNews, SessionId, Topic,
};
use libfuzzer_sys::fuzz_target;
use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

/// Names that collide: by case, by width, by look, the desk's, a mesh peer's, and one that is
/// no name at all.
const NAMES: [&str; 12] = [
    "alice",
    "ALICE",
    "ａｌｉｃｅ",
    "\u{430}lice",
    "bob",
    "support",
    "lindsay",
    "ann@peerchat",
    "carol",
    "al\u{AD}ice",
    "",
    "x y",
];

#[derive(Arbitrary, Debug)]
enum Op {
    /// A door with any capabilities at all (a bit each), and liveness or not.
    Connect {
        door: u8,
        caps: u16,
        liveness: Option<(u8, u8, bool)>,
        origin: u8,
    },
    Login {
        session: u8,
        name: u8,
        verified: bool,
    },
    Lobby {
        session: u8,
        sender: u8,
    },
    Direct {
        session: u8,
        to: u8,
        image: bool,
    },
    Typing {
        session: u8,
        to: u8,
        active: bool,
    },
    Alive {
        session: u8,
    },
    /// Away with a message of `len` bytes (0: back; over the bound: cut).
    Away {
        session: u8,
        len: u16,
    },
    Rename {
        session: u8,
        name: u8,
    },
    LinkAsk {
        session: u8,
        a: u8,
        b: u8,
        password: i16,
    },
    LinkAbort {
        session: u8,
        a: u8,
        b: u8,
        password: i16,
    },
    LinkAccept {
        session: u8,
        a: u8,
        b: u8,
        password: i16,
    },
    LinkConnect {
        session: u8,
        a: u8,
        b: u8,
        password: i16,
    },
    LinkClosed {
        link: u8,
    },
    DirectAsk {
        session: u8,
        to: u8,
    },
    DirectAnswer {
        session: u8,
        to: u8,
        accept: bool,
    },
    OperatorKey {
        session: u8,
        uuid: u8,
    },
    RingAck {
        session: u8,
        id: u8,
    },
    DeskMsg {
        session: u8,
    },
    DeskState {
        session: u8,
        composing: bool,
    },
    Disassociate {
        session: u8,
    },
    OperatorLeave {
        session: u8,
    },
    Disconnect {
        session: u8,
    },
    Tick {
        millis: u16,
    },
    Reserved {
        names: u16,
    },
    Offline {
        session: u8,
        messages: u8,
    },
    PageDelivered {
        session: u8,
        last: u8,
    },
    Claimed {
        session: u8,
        granted: Option<bool>,
    },
    Lost {
        session: u8,
    },
    /// `was`: a rename, from that name.
    Joined {
        node: u8,
        name: u8,
        door: u8,
        caps: u16,
        was: Option<u8>,
    },
    Left {
        node: u8,
        name: u8,
    },
    NodeGone {
        node: u8,
    },
    RemoteLobby {
        from: u8,
        mesh: bool,
    },
    RemoteDirect {
        node: u8,
        id: u8,
        to: u8,
        image: bool,
    },
    RemoteTyping {
        node: u8,
        to: u8,
        active: bool,
    },
    RemoteAway {
        node: u8,
        who: u8,
        away: bool,
    },
    Answer {
        id: u8,
        ok: bool,
    },
    RemoteLink {
        node: u8,
        id: u8,
        a: u8,
        b: u8,
        password: i16,
        what: u8,
    },
    RemoteDesk {
        node: u8,
        id: u8,
        op: u8,
        ring: u8,
        user: u8,
        what: u8,
    },
    DeskNews {
        node: u8,
        ring: u8,
        count: u8,
        what: u8,
    },
    NodeUp {
        node: u8,
    },
    RemoteDirectLink {
        node: u8,
        from: u8,
        to: u8,
        what: u8,
    },
    QueuedElsewhere {
        name: u8,
    },
    /// A room command: which one, the room (of a small pool), a name, a mode.
    Room {
        session: u8,
        what: u8,
        room: u8,
        name: u8,
        mode: u8,
        on: bool,
    },
    /// News of a room from another node.
    RoomNews {
        node: u8,
        what: u8,
        room: u8,
        name: u8,
        mode: u8,
        on: bool,
    },
}

/// Rooms that collide by case and width, the lobby's name, and names that are none.
const ROOMS: [&str; 6] = ["#rust", "#RUST", "#ｒｕｓｔ", "#lobby", "rust", "#a,b"];

fn room(i: u8) -> String {
    ROOMS[usize::from(i) % ROOMS.len()].to_owned()
}

fn mode(i: u8, n: u8) -> Mode {
    match i % 12 {
        0 => Mode::Op(name(n)),
        1 => Mode::Voice(name(n)),
        2 => Mode::Ban(format!("{}*", name(n))),
        3 => Mode::Key("k".into()),
        4 => Mode::Limit(u32::from(n % 3)),
        5 => Mode::InviteOnly,
        6 => Mode::Moderated,
        7 => Mode::NoOutside,
        8 => Mode::Secret,
        9 => Mode::Except(format!("{}*", name(n))),
        10 => Mode::InviteExcept(format!("{}*", name(n))),
        _ => Mode::TopicLock,
    }
}

fn caps_of(caps: u16) -> Caps {
    Caps::from_bits(caps)
}

fn name(i: u8) -> String {
    NAMES[usize::from(i) % NAMES.len()].to_owned()
}

fn key(a: u8, b: u8, password: i16) -> LinkKey {
    LinkKey { a: name(a), b: name(b), password }
}

struct Run {
    hub: Hub,
    now: Instant,
    next: u64,
    /// Sessions connected and neither closed, disconnected nor parked: the only ones an
    /// output may be for.
    live: HashSet<SessionId>,
    /// Every session ever connected, so that ops can name old ones too.
    all: Vec<SessionId>,
}

impl Run {
    fn session(&self, i: u8) -> SessionId {
        self.all.get(usize::from(i) % self.all.len().max(1)).copied().unwrap_or(SessionId(999))
    }

    fn command(&self, session: u8, command: Command) -> Input {
        Input::Command { session: self.session(session), command }
    }

    fn input(&mut self, op: Op) -> Input {
        match op {
            Op::Connect { door, caps, liveness, origin } => {
                self.next += 1;
                let session = SessionId(self.next);
                self.all.push(session);
                self.live.insert(session);
                let caps = caps_of(caps);
                let liveness = liveness.map(|(ping, silence, quiet_first)| Liveness {
                    ping_every: Duration::from_millis(u64::from(ping) * 100),
                    silence: Duration::from_millis(u64::from(silence) * 100),
                    quiet_first,
                });
                let origin = IpAddr::V4(Ipv4Addr::new(192, 0, 2, origin % 3));
                Input::Connected { session, door: Door(door % 7), caps, liveness, origin }
            }
            Op::Login { session, name: n, verified } => {
                self.command(session, Command::Login { name: name(n), verified })
            }
            Op::Lobby { session, sender } => {
                self.command(session, Command::Lobby { sender: name(sender), text: "hi".into() })
            }
            Op::Direct { session, to, image: false } => {
                self.command(session, Command::Direct { sender: None, to: name(to), text: "psst".into() })
            }
            Op::Direct { session, to, image: true } => {
                self.command(session, Command::Image { sender: None, to: name(to), data: "AA==".into() })
            }
            // Odd targets are rooms.
            Op::Typing { session, to, active } => {
                let to = if to % 2 == 1 { room(to) } else { name(to) };
                self.command(session, Command::Typing { to, active })
            }
            Op::Alive { session } => self.command(session, Command::Alive),
            Op::Rename { session, name: n } => self.command(session, Command::Rename { name: name(n) }),
            Op::Away { session, len } => {
                let message = (len > 0).then(|| "é\r\n ".repeat(usize::from(len % 200)));
                self.command(session, Command::Away { message })
            }
            Op::LinkAsk { session, a, b, password } => self.command(session, Command::LinkAsk(key(a, b, password))),
            Op::LinkAbort { session, a, b, password } => self.command(session, Command::LinkAbort(key(a, b, password))),
            Op::LinkAccept { session, a, b, password } => {
                self.command(session, Command::LinkAccept(key(a, b, password)))
            }
            Op::LinkConnect { session, a, b, password } => {
                self.command(session, Command::LinkConnect(key(a, b, password)))
            }
            Op::LinkClosed { link } => Input::LinkClosed { link: LinkId(u64::from(link % 8)) },
            Op::DirectAsk { session, to } => {
                let sender = self.named(session);
                self.command(session, Command::DirectAsk { sender, to: name(to) })
            }
            Op::DirectAnswer { session, to, accept } => {
                let sender = self.named(session);
                let command = match accept {
                    true => Command::DirectAccept {
                        sender,
                        to: name(to),
                        port: 7000,
                        address: IpAddr::V4(Ipv4Addr::LOCALHOST),
                        id: 1,
                    },
                    false => Command::DirectDeny { sender, to: name(to) },
                };
                self.command(session, command)
            }
            Op::OperatorKey { session, uuid } => {
                self.command(session, Command::OperatorKey { uuid: format!("u{}", uuid % 3) })
            }
            Op::RingAck { session, id } => {
                self.command(session, Command::RingAck { id: u64::from(id % 4), echo: id.to_string() })
            }
            Op::DeskMsg { session } => self.command(session, Command::DeskMsg { texts: vec!["a".into(), "b".into()] }),
            Op::DeskState { session, composing } => self.command(session, Command::DeskState { composing }),
            Op::Disassociate { session } => self.command(session, Command::Disassociate),
            Op::OperatorLeave { session } => self.command(session, Command::OperatorLeave),
            Op::Disconnect { session } => {
                let session = self.session(session);
                self.live.remove(&session);
                Input::Disconnected { session }
            }
            Op::Tick { millis } => {
                self.now += Duration::from_millis(u64::from(millis) * 10);
                Input::Tick
            }
            Op::Reserved { names } => Input::Reserved {
                names: (0..NAMES.len()).filter(|i| names & (1 << i) != 0).map(|i| NAMES[i].to_owned()).collect(),
            },
            // One in five pages could not be read.
            Op::Offline { session, messages } if messages % 5 == 4 => {
                Input::OfflineFailed { session: self.session(session) }
            }
            Op::Offline { session, messages } => {
                let queued = (0..messages % 4)
                    .map(|i| Queued {
                        id: i64::from(i) + 1,
                        at_ms: 0,
                        kept: Kept {
                            sender: "bob".into(),
                            recipient: Some("alice".into()),
                            body: "q".into(),
                            ..Kept::default()
                        },
                    })
                    .collect();
                Input::Offline { session: self.session(session), queued }
            }
            Op::PageDelivered { session, last } => {
                Input::PageDelivered { session: self.session(session), last: i64::from(last) }
            }
            Op::Claimed { session, granted } => {
                let result = match granted {
                    Some(true) => Ok(()),
                    Some(false) => Err(HubError::NameTaken),
                    None => Err(HubError::Unavailable),
                };
                Input::Claimed { session: self.session(session), result }
            }
            // The hub closes the session itself (`Output::Close`).
            Op::Lost { session } => Input::Lost { session: self.session(session) },
            Op::Joined { node, name: n, door, caps: c, was } => Input::Joined {
                node: Node(u32::from(node % 3)),
                name: name(n),
                door: Door(door % 6),
                caps: caps_of(c),
                was: was.map(name),
            },
            Op::Left { node, name: n } => Input::Left { node: Node(u32::from(node % 3)), name: name(n) },
            Op::NodeGone { node } => Input::NodeGone { node: Node(u32::from(node % 3)) },
            Op::RemoteLobby { from, mesh } => Input::Lobby { from: name(from), text: "hi".into(), mesh },
            Op::RemoteDirect { node, id, to, image } => Input::Remote {
                node: Node(u32::from(node % 3)),
                id: u64::from(id),
                command: Remote::Direct(Kept {
                    sender: "zed".into(),
                    recipient: Some(name(to)),
                    image,
                    body: "psst".into(),
                    ..Kept::default()
                }),
            },
            Op::RemoteTyping { node, to, active } => Input::Remote {
                node: Node(u32::from(node % 3)),
                id: 0,
                command: Remote::Typing { from: "zed".into(), to: name(to), active },
            },
            Op::RemoteAway { node, who, away } => Input::Away {
                node: Node(u32::from(node % 3)),
                name: name(who),
                message: away.then(|| "out".into()),
            },
            Op::RemoteLink { node, id, a, b, password, what } => {
                let key = key(a, b, password);
                let command = match what % 3 {
                    0 => Remote::LinkAsk { key, tag: u64::from(id) },
                    1 => Remote::LinkAccepted { key },
                    _ => Remote::LinkAborted { key },
                };
                Input::Remote { node: Node(u32::from(node % 3)), id: u64::from(id % 8), command }
            }
            Op::RemoteDesk { node, id, op, ring, user, what } => {
                let (op, ring, user) = (u64::from(op % 8), u64::from(ring % 4), name(user));
                let command = match what % 6 {
                    0 => Remote::RingAck { id: ring, op, uuid: "op".into(), echo: "1".into() },
                    1 => Remote::DeskJoined { op, user, texts: vec!["hi".into()], id: ring, echo: "1".into() },
                    2 => Remote::DeskWrote { op, texts: vec!["hi".into()] },
                    3 => Remote::DeskTyping { op, composing: ring % 2 == 0 },
                    4 => Remote::DeskEnd { user, notice: "over".into() },
                    _ => Remote::DeskUserLeft { op, user },
                };
                Input::Remote { node: Node(u32::from(node % 3)), id: u64::from(id % 8), command }
            }
            Op::DeskNews { node, ring, count, what } => {
                let ring = u64::from(ring % 4);
                let news = match what % 3 {
                    0 => DeskNews::Operators { count: u64::from(count % 3) },
                    1 => DeskNews::Ring { id: ring, expires_in: std::time::Duration::from_secs(60) },
                    _ => DeskNews::RingOver {
                        id: ring,
                        winner: if count % 2 == 0 { String::new() } else { "op".into() },
                    },
                };
                Input::DeskNews { node: Node(u32::from(node % 3)), news }
            }
            Op::NodeUp { node } => Input::NodeUp { node: Node(u32::from(node % 3)) },
            Op::QueuedElsewhere { name: n } => Input::Queued { name: name(n) },
            Op::Room { session, what, room: r, name: n, mode: m, on } => {
                let (room, name) = (room(r), name(n));
                let command = match what % 7 {
                    0 => RoomCommand::Join { room, key: (m % 2 == 0).then(|| "k".into()) },
                    1 => RoomCommand::Part { room, reason: "bye".into() },
                    2 => RoomCommand::Say { room, text: "hi".into(), notice: on },
                    3 => RoomCommand::Topic { room, text: if on { "t".into() } else { String::new() }, at: i64::from(m) },
                    4 => RoomCommand::Mode { room, changes: vec![ModeChange { on, mode: mode(m, n) }] },
                    5 => RoomCommand::Kick { room, name, reason: "out".into() },
                    _ => RoomCommand::Invite { room, name },
                };
                self.command(session, Command::Room(command))
            }
            Op::RoomNews { node, what, room: r, name: n, mode: m, on } => {
                let (room, name) = (room(r), name(n));
                let member = Member { op: on, voice: m % 2 == 0 };
                let news = match what % 9 {
                    0 => RoomNews::Joined { room, name, member },
                    1 => RoomNews::Parted { room, name, reason: "x".into(), by: on.then(|| "zed".into()) },
                    2 => RoomNews::Quit { room, name },
                    3 => RoomNews::Said { room, from: name, text: "hi".into(), notice: on },
                    4 => RoomNews::Topic { room, topic: Topic { text: "t".into(), by: name, at: i64::from(m) } },
                    5 => RoomNews::Modes { room, by: "zed".into(), changes: vec![ModeChange { on, mode: mode(m, n) }] },
                    6 => RoomNews::Invited { room, name, by: "zed".into() },
                    7 => RoomNews::Typing { room, from: name, active: on },
                    _ => RoomNews::Sync {
                        room,
                        topic: None,
                        modes: RoomModes::default(),
                        masks: Masks { bans: vec![format!("{name}*")], ..Masks::default() },
                        members: vec![(name, member)],
                    },
                };
                Input::RoomNews { node: Node(u32::from(node % 3)), news }
            }
            Op::RemoteDirectLink { node, from, to, what } => {
                let (from, to) = (name(from), name(to));
                let command = match what % 3 {
                    0 => Remote::DirectAsk { from, to },
                    1 => Remote::DirectAnswer { from, to, answer: hub::DirectAnswer::Deny },
                    _ => Remote::DirectAnswer {
                        from,
                        to,
                        answer: hub::DirectAnswer::Accept { port: 1, address: [127, 0, 0, 1].into(), id: 1 },
                    },
                };
                Input::Remote { node: Node(u32::from(node % 3)), id: 0, command }
            }
            Op::Answer { id, ok } => {
                Input::Answer { id: u64::from(id % 8), result: if ok { Ok(()) } else { Err(HubError::Unreachable) } }
            }
        }
    }

    /// The name a session holds, as a packet would claim it (or some name, if none).
    fn named(&self, session: u8) -> String {
        let roster = self.hub.roster();
        roster.get(usize::from(session) % roster.len().max(1)).map_or_else(|| name(session), |(n, _)| n.clone())
    }

    fn step(&mut self, op: Op) {
        let input = self.input(op);
        self.hub.handle(self.now, input);
        while let Some(out) = self.hub.poll_output() {
            let to: Vec<SessionId> = match &out {
                Output::Reply { to, .. } | Output::Deliver { to, .. } | Output::Page { to, .. } => vec![*to],
                Output::Broadcast { to, .. } => to.clone(),
                Output::Park { session, .. } | Output::Close { session } | Output::FetchOffline { session, .. } => {
                    vec![*session]
                }
                Output::Queue { reply: Some(ReplyTo::Session(to, _)), .. } | Output::Claim { session: to, .. } => {
                    vec![*to]
                }
                // A session that left releases its claim: it need not be connected.
                Output::Release { .. } | Output::Queue { .. } | Output::Unpark { .. } | Output::Keep(_) => vec![],
                Output::Publish { .. }
                | Output::Forward { .. }
                | Output::Answer { .. }
                | Output::Bridge { .. }
                | Output::DeskNews(_)
                | Output::RoomNews(_)
                | Output::Away { .. } => vec![],
            };
            for id in to {
                assert!(self.live.contains(&id), "{out:?} for {id:?}, not connected");
            }
            if let Output::Park { session, .. } | Output::Close { session } = out {
                self.live.remove(&session);
            }
        }
        if let Err(e) = self.hub.check_invariants() {
            panic!("{e}");
        }
    }
}

fuzz_target!(|run: (bool, Vec<Op>)| {
    let (cluster, ops) = run;
    let now = Instant::now();
    let mut run = Run {
        hub: Hub::new(hub::Config { cluster, ..hub::Config::default() }, now),
        now,
        next: 0,
        live: HashSet::new(),
        all: Vec::new(),
    };
    for op in ops.into_iter().take(512) {
        run.step(op);
    }
});

//! Hub tests: feed inputs, assert outputs. No sockets, no clock: time is an input.

use super::*;
use std::net::IpAddr;

struct T {
    hub: Hub,
    now: Instant,
    next: u64,
}

fn t() -> T {
    T { hub: Hub::new(Config::default()), now: Instant::now(), next: 0 }
}

fn key(a: &str, b: &str, password: i16) -> LinkKey {
    LinkKey { a: a.into(), b: b.into(), password }
}

/// The kind replies are compared with: `T::all` puts it in every reply, so that tests say
/// only what the answer is (`replies_say_which_command_they_answer` checks the kinds).
const ANY: Kind = Kind::Alive;

fn ok(to: SessionId) -> Output {
    Output::Reply { to, kind: ANY, result: Ok(()) }
}

fn err(to: SessionId, e: HubError) -> Output {
    Output::Reply { to, kind: ANY, result: Err(e) }
}

fn deliver(to: SessionId, event: Event) -> Output {
    Output::Deliver { to, event }
}

/// The protocols of these tests: what the server's table of doors declares for each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    ChatOs,
    ChatHack,
    Jpc,
    Web,
    Nl,
    PeerChat,
}

impl Protocol {
    fn door(self) -> Door {
        Door(self as u8)
    }

    fn caps(self) -> Caps {
        match self {
            Protocol::ChatOs => Caps { lobby: true, direct: true, relay_links: true, ..Caps::NONE },
            Protocol::ChatHack => Caps { lobby: true, lobby_echo: true, direct_links: true, ..Caps::NONE },
            Protocol::Jpc => Caps { direct: true, images: true, ..Caps::NONE },
            Protocol::Web => Caps {
                lobby: true,
                lobby_echo: true,
                direct: true,
                images: true,
                direct_echo: true,
                typing: true,
                presence: true,
                ..Caps::NONE
            },
            Protocol::Nl => Caps { operator: true, ..Caps::NONE },
            Protocol::PeerChat => Caps { lobby: true, mesh: true, ..Caps::NONE },
        }
    }

    fn liveness(self) -> Option<Liveness> {
        let (ping, silence, quiet_first) = match self {
            Protocol::Jpc => (2, 5, false),
            Protocol::Nl => (7, 10, true),
            _ => return None,
        };
        Some(Liveness { ping_every: Duration::from_secs(ping), silence: Duration::from_secs(silence), quiet_first })
    }
}

const HOME: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
const ELSEWHERE: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(198, 51, 100, 7));

impl T {
    fn connect(&mut self) -> SessionId {
        self.connect_from(HOME)
    }

    fn connect_from(&mut self, origin: IpAddr) -> SessionId {
        self.connect_as(Protocol::ChatOs, origin)
    }

    fn connect_as(&mut self, protocol: Protocol, origin: IpAddr) -> SessionId {
        self.next += 1;
        let session = SessionId(self.next);
        let (door, caps, liveness) = (protocol.door(), protocol.caps(), protocol.liveness());
        self.hub.handle(self.now, Input::Connected { session, door, caps, liveness, origin });
        assert_eq!(self.out(), vec![]);
        session
    }

    fn login(&mut self, name: &str) -> SessionId {
        let s = self.connect();
        self.login_session(s, name)
    }

    fn login_jpc(&mut self, name: &str) -> SessionId {
        let s = self.connect_as(Protocol::Jpc, HOME);
        assert_eq!(self.cmd(s, Command::Login { name: name.into(), verified: true }), vec![ok(s)]);
        // Nothing was queued for it (the store's answer to FetchOffline).
        assert_eq!(self.input(Input::Offline { session: s, queued: vec![] }), vec![]);
        s
    }

    fn login_chathack(&mut self, name: &str) -> SessionId {
        let s = self.connect_as(Protocol::ChatHack, HOME);
        self.login_session(s, name)
    }

    fn login_session(&mut self, s: SessionId, name: &str) -> SessionId {
        assert_eq!(self.cmd(s, Command::Login { name: name.into(), verified: false }), vec![ok(s)]);
        s
    }

    fn cmd(&mut self, session: SessionId, command: Command) -> Vec<Output> {
        self.hub.handle(self.now, Input::Command { session, command });
        self.out()
    }

    fn input(&mut self, input: Input) -> Vec<Output> {
        self.hub.handle(self.now, input);
        self.out()
    }

    /// What the hub decided, less what it asks the store to keep or fetch (tested apart).
    fn out(&mut self) -> Vec<Output> {
        self.all().into_iter().filter(|o| !matches!(o, Output::Keep(_) | Output::FetchOffline { .. })).collect()
    }

    /// Everything the hub decided (replies of kind `ANY`); what must hold between inputs is
    /// checked first.
    fn all(&mut self) -> Vec<Output> {
        self.hub.check_invariants().unwrap();
        self.all_kinds()
            .into_iter()
            .map(|o| match o {
                Output::Reply { to, result, .. } => Output::Reply { to, kind: ANY, result },
                Output::Queue { kept, reply } => Output::Queue { kept, reply: reply.map(|(to, _)| (to, ANY)) },
                o => o,
            })
            .collect()
    }

    fn all_kinds(&mut self) -> Vec<Output> {
        std::iter::from_fn(|| self.hub.poll_output()).collect()
    }

    fn all_input(&mut self, input: Input) -> Vec<Output> {
        self.hub.handle(self.now, input);
        self.all()
    }

    fn cmd_all(&mut self, session: SessionId, command: Command) -> Vec<Output> {
        self.hub.handle(self.now, Input::Command { session, command });
        self.all()
    }
}

#[test]
fn names_are_one_namespace_and_case_blind() {
    let mut t = t();
    let alice = t.login("Alice");
    let other = t.connect();
    assert_eq!(
        t.cmd(other, Command::Login { name: "alice".into(), verified: false }),
        vec![err(other, HubError::NameTaken)]
    );
    for bad in ["", "a b", "tab\there", "x@y", "bell\u{7}", &"n".repeat(MAX_NAME + 1)] {
        assert_eq!(
            t.cmd(other, Command::Login { name: bad.into(), verified: false }),
            vec![err(other, HubError::InvalidName)],
            "{bad:?}"
        );
    }
    // A second login on a named session is ignored.
    assert_eq!(t.cmd(alice, Command::Login { name: "zed".into(), verified: false }), vec![]);
    assert_eq!(t.cmd(other, Command::Login { name: "zed".into(), verified: false }), vec![ok(other)]);
    // A name is free again once its session is gone.
    t.input(Input::Disconnected { session: alice });
    let again = t.connect();
    assert_eq!(t.cmd(again, Command::Login { name: "ALICE".into(), verified: false }), vec![ok(again)]);
    assert_eq!(t.hub.session_count(), 2);
}

#[test]
fn lobby_answers_first_then_reaches_everyone_else() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let c = t.login("c");
    let _unnamed = t.connect();
    let out = t.cmd(a, Command::Lobby { sender: "a".into(), text: "hi".into() });
    assert_eq!(
        out,
        vec![ok(a), Output::Broadcast { to: vec![b, c], event: Event::Lobby { from: "a".into(), text: "hi".into() } }]
    );
    // Claiming another's name, or speaking before login.
    assert_eq!(t.cmd(a, Command::Lobby { sender: "b".into(), text: "x".into() }), vec![err(a, HubError::NotYourName)]);
    let anon = t.connect();
    assert_eq!(
        t.cmd(anon, Command::Lobby { sender: "a".into(), text: "x".into() }),
        vec![err(anon, HubError::NotLoggedIn)]
    );
    // Alone in the lobby: answered, nothing to relay.
    t.input(Input::Disconnected { session: b });
    t.input(Input::Disconnected { session: c });
    assert_eq!(t.cmd(a, Command::Lobby { sender: "A".into(), text: "echo?".into() }), vec![ok(a)]);
}

#[test]
fn direct_messages() {
    let mut t = t();
    let a = t.login("ann");
    let b = t.login("Bob");
    let send = |to: &str| Command::Direct { sender: Some("ann".into()), to: to.into(), text: "yo".into() };
    assert_eq!(
        t.cmd(a, send("bob")),
        vec![ok(a), deliver(b, Event::Direct { from: "ann".into(), to: "Bob".into(), text: "yo".into() })]
    );
    assert_eq!(t.cmd(a, send("nobody")), vec![err(a, HubError::Unreachable)]);
    let wrong = Command::Direct { sender: Some("Bob".into()), to: "ann".into(), text: "x".into() };
    assert_eq!(t.cmd(a, wrong), vec![err(a, HubError::NotYourName)]);
    t.input(Input::Disconnected { session: b });
    assert_eq!(t.cmd(a, send("bob")), vec![err(a, HubError::Unreachable)]);
}

#[test]
fn link_ask_refuse() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", 7);
    assert_eq!(t.cmd(a, Command::LinkAsk(k.clone())), vec![ok(a), deliver(b, Event::LinkAsked(k.clone()))]);
    assert_eq!(t.hub.link_count(), 1);
    // B refuses: A is told, B gets it echoed, as the original server does.
    assert_eq!(
        t.cmd(b, Command::LinkAbort(k.clone())),
        vec![ok(b), deliver(a, Event::LinkAborted(k.clone())), deliver(b, Event::LinkAborted(k.clone()))]
    );
    assert_eq!(t.hub.link_count(), 0);
    assert_eq!(t.cmd(b, Command::LinkAbort(k.clone())), vec![err(b, HubError::NoSuchLink)]);
    let c = t.login("c");
    assert_eq!(t.cmd(c, Command::LinkAbort(k)), vec![err(c, HubError::NotYourName)]);
}

#[test]
fn link_ask_refusals_carry_an_abort() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let nobody = key("a", "nobody", 1);
    assert_eq!(
        t.cmd(a, Command::LinkAsk(nobody.clone())),
        vec![err(a, HubError::Unreachable), deliver(a, Event::LinkAborted(nobody))]
    );
    let myself = key("a", "a", 1);
    assert_eq!(
        t.cmd(a, Command::LinkAsk(myself.clone())),
        vec![err(a, HubError::Unreachable), deliver(a, Event::LinkAborted(myself))]
    );
    let forged = key("b", "a", 1);
    assert_eq!(
        t.cmd(a, Command::LinkAsk(forged.clone())),
        vec![err(a, HubError::NotYourName), deliver(a, Event::LinkAborted(forged))]
    );
    t.cmd(a, Command::LinkAsk(key("a", "b", 1)));
    // Pending between a and b, whichever way round, whatever the password.
    let again = key("a", "b", 2);
    assert_eq!(
        t.cmd(a, Command::LinkAsk(again.clone())),
        vec![err(a, HubError::LinkInProgress), deliver(a, Event::LinkAborted(again))]
    );
    let reverse = key("b", "a", 3);
    assert_eq!(
        t.cmd(b, Command::LinkAsk(reverse.clone())),
        vec![err(b, HubError::LinkInProgress), deliver(b, Event::LinkAborted(reverse))]
    );
}

#[test]
fn link_whole_flow_then_closed() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", -5);
    t.cmd(a, Command::LinkAsk(k.clone()));
    let link = LinkId(1);

    // TCPConnect before TCPAccept: nothing to connect to yet.
    let early = t.connect();
    assert_eq!(t.cmd(early, Command::LinkConnect(k.clone())), vec![err(early, HubError::NoSuchLink)]);

    let b_end = t.connect();
    assert_eq!(
        t.cmd(b_end, Command::LinkAccept(k.clone())),
        vec![ok(b_end), deliver(a, Event::LinkAccepted(k.clone())), Output::Park { session: b_end, link }]
    );
    // A second TCPAccept for the same key finds nothing asked.
    let dup = t.connect();
    assert_eq!(t.cmd(dup, Command::LinkAccept(k.clone())), vec![err(dup, HubError::NoSuchLink)]);

    let a_end = t.connect();
    assert_eq!(t.cmd(a_end, Command::LinkConnect(k.clone())), vec![ok(a_end), Output::Park { session: a_end, link }]);
    // Parked ends are no longer sessions; their disconnects mean nothing to the hub.
    assert_eq!(t.input(Input::Disconnected { session: a_end }), vec![]);

    // An open link never expires, outlives its chat sessions, and blocks a second one (the
    // two stray connections that never became anything are closed, unnamed)...
    t.now += Duration::from_secs(3600);
    let closed = |s| [deliver(s, Event::Closing), Output::Close { session: s }];
    assert_eq!(t.input(Input::Tick), [closed(early), closed(dup)].concat());
    assert!(matches!(
        t.cmd(a, Command::LinkAsk(k.clone()))[0],
        Output::Reply { result: Err(HubError::LinkInProgress), .. }
    ));
    // ...until its relay ends.
    t.input(Input::LinkClosed { link });
    assert_eq!(t.hub.link_count(), 0);
    assert_eq!(t.cmd(a, Command::LinkAsk(k.clone())), vec![ok(a), deliver(b, Event::LinkAsked(k))]);
}

#[test]
fn a_named_session_cannot_become_a_link_end() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", 1);
    t.cmd(a, Command::LinkAsk(k.clone()));
    assert_eq!(t.cmd(b, Command::LinkAccept(k.clone())), vec![err(b, HubError::NoSuchLink)]);
}

#[test]
fn pending_links_time_out() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", 9);
    t.cmd(a, Command::LinkAsk(k.clone()));
    t.now += Duration::from_secs(29);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(1);
    assert_eq!(
        t.input(Input::Tick),
        vec![deliver(a, Event::LinkAborted(k.clone())), deliver(b, Event::LinkAborted(k.clone()))]
    );

    // Accepted but never connected: the parked end is dropped as well. Accepting restarts the clock.
    t.cmd(a, Command::LinkAsk(k.clone()));
    t.now += Duration::from_secs(20);
    let b_end = t.connect();
    t.cmd(b_end, Command::LinkAccept(k.clone()));
    t.now += Duration::from_secs(20);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(10);
    assert_eq!(
        t.input(Input::Tick),
        vec![
            deliver(a, Event::LinkAborted(k.clone())),
            deliver(b, Event::LinkAborted(k.clone())),
            Output::Unpark { link: LinkId(2) }
        ]
    );
    assert_eq!(t.hub.link_count(), 0);
}

#[test]
fn a_leaving_chat_session_aborts_its_pending_links() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", 3);
    t.cmd(a, Command::LinkAsk(k.clone()));
    assert_eq!(t.input(Input::Disconnected { session: a }), vec![deliver(b, Event::LinkAborted(k))]);
    assert_eq!(t.hub.link_count(), 0);
    // Commands from a session that is gone are ignored.
    assert_eq!(t.cmd(a, Command::Lobby { sender: "a".into(), text: "late".into() }), vec![]);
}

#[test]
fn a_link_that_breaks_before_it_opens_is_aborted() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let k = key("a", "b", 4);
    t.cmd(a, Command::LinkAsk(k.clone()));
    let b_end = t.connect();
    t.cmd(b_end, Command::LinkAccept(k.clone()));
    assert_eq!(
        t.input(Input::LinkClosed { link: LinkId(1) }),
        vec![
            deliver(a, Event::LinkAborted(k.clone())),
            deliver(b, Event::LinkAborted(k.clone())),
            Output::Unpark { link: LinkId(1) }
        ]
    );
    assert_eq!(t.cmd(a, Command::LinkAsk(k.clone())), vec![ok(a), deliver(b, Event::LinkAsked(k))]);
}

#[test]
fn a_link_end_must_come_from_its_partys_address() {
    let mut t = t();
    let a = t.login("a");
    let _b = t.login("b");
    let k = key("a", "b", 77);
    t.cmd(a, Command::LinkAsk(k.clone()));
    // A stranger who guessed the password, from elsewhere, is refused; B still can accept.
    let stranger = t.connect_from(ELSEWHERE);
    assert_eq!(t.cmd(stranger, Command::LinkAccept(k.clone())), vec![err(stranger, HubError::NoSuchLink)]);
    let b_end = t.connect();
    assert!(matches!(t.cmd(b_end, Command::LinkAccept(k.clone()))[0], Output::Reply { result: Ok(()), .. }));
    let stranger = t.connect_from(ELSEWHERE);
    assert_eq!(t.cmd(stranger, Command::LinkConnect(k.clone())), vec![err(stranger, HubError::NoSuchLink)]);
    let a_end = t.connect();
    assert!(matches!(t.cmd(a_end, Command::LinkConnect(k))[0], Output::Reply { result: Ok(()), .. }));
}

#[test]
fn reserved_names_need_a_verified_login() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["Alice".into(), "bob".into()] });
    let guest = t.connect();
    let guest_login = |name: &str| Command::Login { name: name.into(), verified: false };
    assert_eq!(t.cmd(guest, guest_login("alice")), vec![err(guest, HubError::NameTaken)]);
    assert_eq!(t.cmd(guest, guest_login("BOB")), vec![err(guest, HubError::NameTaken)]);
    let owner = t.connect();
    assert_eq!(t.cmd(owner, Command::Login { name: "Alice".into(), verified: true }), vec![ok(owner)]);
    // Held by its owner, the name is taken even for a second verified login.
    let twin = t.connect();
    assert_eq!(
        t.cmd(twin, Command::Login { name: "alice".into(), verified: true }),
        vec![err(twin, HubError::NameTaken)]
    );
    // A new set replaces the old one: bob is free for guests again.
    t.input(Input::Reserved { names: vec!["alice".into()] });
    assert_eq!(t.cmd(guest, guest_login("bob")), vec![ok(guest)]);
}

#[test]
fn lobby_across_protocols_with_echo_where_the_protocol_wants_it() {
    let mut t = t();
    let os = t.login("os");
    let hack = t.login_chathack("hack");
    let lobby = |from: &str, text: &str| Event::Lobby { from: from.into(), text: text.into() };
    // ChatHack's global message reaches everyone, its sender included.
    let out = t.cmd(hack, Command::Lobby { sender: "hack".into(), text: "hi".into() });
    assert_eq!(out, vec![ok(hack), Output::Broadcast { to: vec![os, hack], event: lobby("hack", "hi") }]);
    // ChatOS's reaches everyone else.
    let out = t.cmd(os, Command::Lobby { sender: "os".into(), text: "yo".into() });
    assert_eq!(out, vec![ok(os), Output::Broadcast { to: vec![hack], event: lobby("os", "yo") }]);
    // ChatHack carries no direct messages and no relayed links: unreachable from ChatOS.
    let dm = Command::Direct { sender: Some("os".into()), to: "hack".into(), text: "psst".into() };
    assert_eq!(t.cmd(os, dm), vec![err(os, HubError::Unreachable)]);
    let ask = key("os", "hack", 1);
    assert_eq!(
        t.cmd(os, Command::LinkAsk(ask.clone())),
        vec![err(os, HubError::Unreachable), deliver(os, Event::LinkAborted(ask))]
    );
}

#[test]
fn direct_links_ask_accept_deny() {
    let mut t = t();
    let a = t.login_chathack("a");
    let b = t.login_chathack("B");
    let ask = |to: &str| Command::DirectAsk { sender: "a".into(), to: to.into() };
    assert_eq!(t.cmd(a, ask("b")), vec![ok(a), deliver(b, Event::DirectAsked { from: "a".into() })]);
    let address: IpAddr = "127.0.0.1".parse().unwrap();
    let accept = Command::DirectAccept { sender: "B".into(), to: "a".into(), port: 4000, address, id: 99 };
    assert_eq!(
        t.cmd(b, accept.clone()),
        vec![ok(b), deliver(a, Event::DirectAccepted { from: "B".into(), port: 4000, address, id: 99 })]
    );
    // Answered once: a second answer finds no ask.
    assert_eq!(t.cmd(b, accept), vec![err(b, HubError::NoSuchLink)]);
    t.cmd(a, ask("b"));
    let deny = Command::DirectDeny { sender: "B".into(), to: "a".into() };
    assert_eq!(t.cmd(b, deny), vec![ok(b), deliver(a, Event::DirectDenied { from: "B".into() })]);
    // Only the one asked can answer, under its own name.
    t.cmd(a, ask("b"));
    let forged = Command::DirectDeny { sender: "a".into(), to: "a".into() };
    assert_eq!(t.cmd(b, forged), vec![err(b, HubError::NotYourName)]);
}

#[test]
fn direct_link_asks_that_cannot_be_answered_are_denied() {
    let mut t = t();
    let a = t.login_chathack("a");
    let os = t.login("os");
    let ask = |to: &str| Command::DirectAsk { sender: "a".into(), to: to.into() };
    for to in ["nobody", "os", "a"] {
        assert_eq!(
            t.cmd(a, ask(to)),
            vec![err(a, HubError::Unreachable), deliver(a, Event::DirectDenied { from: to.into() })],
            "{to}"
        );
    }
    let _ = os;
    // Unanswered until the timeout.
    let b = t.login_chathack("b");
    t.cmd(a, ask("b"));
    t.now += Duration::from_secs(30);
    assert_eq!(t.input(Input::Tick), vec![deliver(a, Event::DirectDenied { from: "b".into() })]);
    // B leaves before answering.
    t.cmd(a, ask("b"));
    assert_eq!(t.input(Input::Disconnected { session: b }), vec![deliver(a, Event::DirectDenied { from: "b".into() })]);
    // A leaves: its ask is dropped, and B's late answer finds nothing.
    let b = t.login_chathack("b");
    t.cmd(a, ask("b"));
    assert_eq!(t.input(Input::Disconnected { session: a }), vec![]);
    let late = Command::DirectDeny { sender: "b".into(), to: "a".into() };
    assert_eq!(t.cmd(b, late), vec![err(b, HubError::NoSuchLink)]);
}

#[test]
fn every_command_has_its_kind() {
    let address: IpAddr = "::1".parse().unwrap();
    let k = key("a", "b", 1);
    let kinds: Vec<Kind> = [
        Command::Login { name: "a".into(), verified: false },
        Command::Lobby { sender: "a".into(), text: "t".into() },
        Command::Direct { sender: Some("a".into()), to: "b".into(), text: "t".into() },
        Command::LinkAsk(k.clone()),
        Command::LinkAbort(k.clone()),
        Command::LinkAccept(k.clone()),
        Command::LinkConnect(k),
        Command::DirectAsk { sender: "a".into(), to: "b".into() },
        Command::DirectAccept { sender: "a".into(), to: "b".into(), port: 1, address, id: 1 },
        Command::DirectDeny { sender: "a".into(), to: "b".into() },
        Command::Image { sender: None, to: "b".into(), data: "aGk=".into() },
        Command::Alive,
    ]
    .iter()
    .map(Command::kind)
    .collect();
    use Kind::*;
    assert_eq!(
        kinds,
        [
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
            Alive
        ]
    );
}

#[test]
fn the_word_filter_censors_the_lobby() {
    let mut t = T {
        hub: Hub::new(Config { word_filter: WordFilter::from_lines("darn"), ..Config::default() }),
        now: Instant::now(),
        next: 0,
    };
    let a = t.login("a");
    let b = t.login("b");
    let out = t.cmd(a, Command::Lobby { sender: "a".into(), text: "oh DARN it".into() });
    assert_eq!(
        out[1],
        Output::Broadcast { to: vec![b], event: Event::Lobby { from: "a".into(), text: "oh **** it".into() } }
    );
}

#[test]
fn jpc_sessions_are_pinged_and_closed_when_silent() {
    let mut t = t();
    let dev = t.login_jpc("lindsay");
    let _os = t.login("os");
    t.now += Duration::from_millis(1999);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_millis(1);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Ping)]);
    // Heard from: the silence starts again.
    t.now += Duration::from_secs(4);
    assert_eq!(t.cmd(dev, Command::Alive), vec![ok(dev)]);
    t.now += Duration::from_secs(4);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Ping)]);
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Closing), Output::Close { session: dev }]);
    assert_eq!(t.hub.session_count(), 1, "the silent one is gone, its name free");
    // ChatOS has no liveness: never pinged.
    t.now += Duration::from_secs(60);
    assert_eq!(t.input(Input::Tick), vec![]);
}

#[test]
fn images_go_only_where_they_can_be_shown() {
    let mut t = t();
    let dev = t.login_jpc("lindsay");
    let other = t.login_jpc("pc");
    let os = t.login("os");
    let image = |to: &str| Command::Image { sender: None, to: to.into(), data: "aGk=".into() };
    assert_eq!(
        t.cmd(dev, image("PC")),
        vec![ok(dev), deliver(other, Event::Image { from: "lindsay".into(), to: "pc".into(), data: "aGk=".into() })]
    );
    assert_eq!(t.cmd(dev, image("os")), vec![err(dev, HubError::Unreachable)]);
    // JPC's text goes to ChatOS, with the sender's own name.
    let text = Command::Direct { sender: None, to: "os".into(), text: "hi".into() };
    assert_eq!(
        t.cmd(dev, text),
        vec![ok(dev), deliver(os, Event::Direct { from: "lindsay".into(), to: "os".into(), text: "hi".into() })]
    );
}

#[test]
fn a_reconnecting_device_replaces_its_stale_session() {
    let mut t = t();
    let old = t.login_jpc("lindsay");
    let new = t.connect_as(Protocol::Jpc, HOME);
    assert_eq!(
        t.cmd(new, Command::Login { name: "lindsay".into(), verified: true }),
        vec![ok(new), deliver(old, Event::Closing), Output::Close { session: old }]
    );
    // Not so across protocols, nor for a guest.
    let os = t.connect();
    assert_eq!(
        t.cmd(os, Command::Login { name: "lindsay".into(), verified: true }),
        vec![err(os, HubError::NameTaken)]
    );
}

fn kept(sender: &str, recipient: Option<&str>, image: bool, body: &str) -> Kept {
    Kept { sender: sender.into(), recipient: recipient.map(Into::into), image, body: body.into(), ..Kept::default() }
}

impl Kept {
    /// The message, sent by guest session `sender` and to guest session `recipient`.
    fn guests(self, sender: Option<SessionId>, recipient: Option<SessionId>) -> Kept {
        Kept { sender_guest: sender, recipient_guest: recipient, ..self }
    }
}

#[test]
fn lobby_and_direct_messages_are_kept() {
    let mut t = t();
    let a = t.login("a");
    let b = t.login("b");
    let out = t.cmd_all(a, Command::Lobby { sender: "a".into(), text: "hi".into() });
    assert_eq!(out[1], Output::Keep(kept("a", None, false, "hi").guests(Some(a), None)));
    let out = t.cmd_all(a, Command::Direct { sender: None, to: "B".into(), text: "psst".into() });
    assert_eq!(
        out,
        vec![
            ok(a),
            Output::Keep(kept("a", Some("b"), false, "psst").guests(Some(a), Some(b))),
            deliver(b, Event::Direct { from: "a".into(), to: "b".into(), text: "psst".into() })
        ]
    );
    // Alone in the lobby: still kept.
    t.input(Input::Disconnected { session: b });
    assert_eq!(
        t.cmd_all(a, Command::Lobby { sender: "a".into(), text: "echo".into() })[1],
        Output::Keep(kept("a", None, false, "echo").guests(Some(a), None))
    );
}

#[test]
fn messages_to_an_offline_reserved_name_are_queued_and_answered_later() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["Lindsay".into()] });
    let a = t.login("a");
    // Queued: no answer now; the I/O layer answers once it is stored.
    let out = t.cmd_all(a, Command::Direct { sender: None, to: "lindsay".into(), text: "later".into() });
    let later = kept("a", Some("lindsay"), false, "later").guests(Some(a), None);
    assert_eq!(out, vec![Output::Queue { kept: later, reply: Some((a, ANY)) }]);
    // A guest name that is offline is simply unreachable.
    let out = t.cmd_all(a, Command::Direct { sender: None, to: "ghost".into(), text: "x".into() });
    assert_eq!(out, vec![err(a, HubError::Unreachable)]);

    // Lindsay logs in: her queue is fetched a page at a time, each page handed over whole,
    // the next fetched once the connection wrote it (taking the written one out of the queue).
    let dev = t.connect_as(Protocol::Jpc, HOME);
    let fetch = |delivered| Output::FetchOffline { session: dev, name: "Lindsay".into(), images: true, delivered };
    let out = t.cmd_all(dev, Command::Login { name: "Lindsay".into(), verified: true });
    assert_eq!(out, vec![ok(dev), fetch(None)]);
    // What comes for her meanwhile joins the queue, behind what waited: answered once stored.
    let meanwhile = Command::Direct { sender: None, to: "lindsay".into(), text: "now".into() };
    let now = kept("a", Some("Lindsay"), false, "now").guests(Some(a), None);
    assert_eq!(t.cmd_all(a, meanwhile), vec![Output::Queue { kept: now.clone(), reply: Some((a, ANY)) }]);
    let queued = |id, kept| Queued { id, at_ms: 1000 + id, kept };
    let page = vec![queued(7, kept("a", Some("lindsay"), false, "later")), queued(9, kept("b", None, true, "aGk="))];
    let out = t.input(Input::Offline { session: dev, queued: page });
    let [Output::Page { to, queued: page }] = &out[..] else { panic!("{out:?}") };
    assert_eq!(*to, dev);
    assert_eq!(
        page.iter().map(|q| (q.id, q.at_ms, q.event())).collect::<Vec<_>>(),
        [
            (7, 1007, Event::Direct { from: "a".into(), to: "Lindsay".into(), text: "later".into() }),
            (9, 1009, Event::Image { from: "b".into(), to: "Lindsay".into(), data: "aGk=".into() }),
        ]
    );
    assert_eq!(t.all_input(Input::PageDelivered { session: dev, last: 9 }), vec![fetch(Some(9))]);
    let page = vec![queued(10, now)];
    let out = t.input(Input::Offline { session: dev, queued: page.clone() });
    assert_eq!(out, vec![Output::Page { to: dev, queued: page }]);
    assert_eq!(t.all_input(Input::PageDelivered { session: dev, last: 10 }), vec![fetch(Some(10))]);
    // The queue is empty: from then on, straight through.
    assert_eq!(t.input(Input::Offline { session: dev, queued: vec![] }), vec![]);
    let later = Command::Direct { sender: None, to: "lindsay".into(), text: "later still".into() };
    assert_eq!(
        t.cmd(a, later)[1],
        deliver(dev, Event::Direct { from: "a".into(), to: "Lindsay".into(), text: "later still".into() })
    );
    // Gone before a page arrived: nothing was taken from the queue, nothing to give back.
    t.input(Input::Disconnected { session: dev });
    let page = vec![queued(11, kept("a", Some("lindsay"), false, "x"))];
    assert_eq!(t.all_input(Input::Offline { session: dev, queued: page }), vec![]);
    assert_eq!(t.all_input(Input::PageDelivered { session: dev, last: 11 }), vec![]);
    // A ChatOS login of a reserved name fetches text only.
    let os = t.connect();
    let out = t.cmd_all(os, Command::Login { name: "lindsay".into(), verified: true });
    assert_eq!(out[1], Output::FetchOffline { session: os, name: "lindsay".into(), images: false, delivered: None });
}

#[test]
fn an_empty_page_ends_the_drain_only_if_nothing_joined_the_queue_after_its_fetch() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["lindsay".into()] });
    let a = t.login("a");
    let dev = t.connect_as(Protocol::Jpc, HOME);
    t.cmd_all(dev, Command::Login { name: "lindsay".into(), verified: true });
    // Queued while the first fetch was on its way: the store may have answered before it
    // wrote this message, so an empty answer means only "ask again".
    let out = t.cmd_all(a, dm("lindsay", "racing"));
    assert!(matches!(out[..], [Output::Queue { reply: Some(_), .. }]), "{out:?}");
    let again = Output::FetchOffline { session: dev, name: "lindsay".into(), images: true, delivered: None };
    assert_eq!(t.all_input(Input::Offline { session: dev, queued: vec![] }), vec![again]);
    assert_eq!(t.all_input(Input::Offline { session: dev, queued: vec![] }), vec![]);
    assert_eq!(t.cmd(a, dm("lindsay", "live"))[0], ok(a));
}

#[test]
fn a_desk_reply_of_several_messages_to_a_draining_user_is_answered_after_the_last_is_stored() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["ann".into()] });
    let op = desk(&mut t, "op");
    let ann = t.connect_as(Protocol::Web, HOME);
    // Her queue is being fetched (no answer yet) when she writes to support.
    t.cmd_all(ann, Command::Login { name: "ann".into(), verified: true });
    t.cmd(ann, dm("support", "help"));
    t.cmd(op, Command::RingAck { id: 1, echo: "1".into() });
    let out = t.cmd_all(op, Command::DeskMsg { texts: vec!["one".into(), "two".into()] });
    let queue = |text: &str, reply| Output::Queue { kept: kept("support", Some("ann"), false, text), reply };
    assert_eq!(out, vec![queue("one", None), queue("two", Some((op, ANY)))]);
}

impl T {
    /// Logs a new session of `protocol` in as `name`, whoever is told.
    fn join(&mut self, protocol: Protocol, name: &str) -> SessionId {
        let s = self.connect_as(protocol, HOME);
        let out = self.cmd(s, Command::Login { name: name.into(), verified: false });
        assert_eq!(out[0], ok(s));
        s
    }
}

fn presence(name: &str, protocol: Protocol, online: bool) -> Event {
    Event::Presence { name: name.into(), door: Some(protocol.door()), online }
}

#[test]
fn web_sessions_see_who_comes_and_goes_and_the_roster_says_who_is_here() {
    let mut t = t();
    let os = t.login("os");
    let web = t.connect_as(Protocol::Web, HOME);
    // Nobody watches yet: the web user's own arrival goes to no one.
    assert_eq!(t.cmd(web, Command::Login { name: "ann".into(), verified: false }), vec![ok(web)]);
    let hack = t.connect_as(Protocol::ChatHack, HOME);
    assert_eq!(
        t.cmd(hack, Command::Login { name: "hack".into(), verified: false }),
        vec![ok(hack), Output::Broadcast { to: vec![web], event: presence("hack", Protocol::ChatHack, true) }]
    );
    assert_eq!(
        t.hub.roster(),
        [
            ("os".to_owned(), Protocol::ChatOs.door()),
            ("ann".to_owned(), Protocol::Web.door()),
            ("hack".to_owned(), Protocol::ChatHack.door())
        ]
    );
    assert_eq!(
        t.input(Input::Disconnected { session: os }),
        vec![Output::Broadcast { to: vec![web], event: presence("os", Protocol::ChatOs, false) }]
    );
    // A watcher that leaves is told nothing more; an unnamed connection is no presence.
    assert_eq!(t.input(Input::Disconnected { session: web }), vec![]);
    let _ = t.connect();
    assert_eq!(t.input(Input::Disconnected { session: hack }), vec![]);
}

#[test]
fn typing_reaches_those_who_show_it_and_is_refused_for_nobody() {
    let mut t = t();
    let ann = t.join(Protocol::Web, "ann");
    let bob = t.join(Protocol::Web, "bob");
    let os = t.join(Protocol::ChatOs, "os");
    let typing = Command::Typing { to: "BOB".into(), active: true };
    let to_bob = Event::Typing { from: "ann".into(), to: "bob".into(), active: true };
    assert_eq!(t.cmd(ann, typing), vec![ok(ann), deliver(bob, to_bob)]);
    // ChatOS shows no typing: nothing is sent, and it is no error.
    assert_eq!(t.cmd(ann, Command::Typing { to: "os".into(), active: true }), vec![ok(ann)]);
    assert_eq!(t.cmd(ann, Command::Typing { to: "zed".into(), active: true }), vec![err(ann, HubError::Unreachable)]);
    assert_eq!(t.cmd(os, Command::Typing { to: "ann".into(), active: true }).len(), 2, "any protocol may say it");
}

#[test]
fn a_web_sender_gets_its_direct_messages_back_as_delivered() {
    let mut t = t();
    let ann = t.join(Protocol::Web, "ann");
    let os = t.join(Protocol::ChatOs, "Os");
    let sent = Event::Direct { from: "ann".into(), to: "Os".into(), text: "hi".into() };
    assert_eq!(
        t.cmd(ann, Command::Direct { sender: None, to: "os".into(), text: "hi".into() }),
        vec![ok(ann), deliver(ann, sent.clone()), deliver(os, sent)]
    );
    // A ChatOS sender gets no echo.
    let back = Event::Direct { from: "Os".into(), to: "ann".into(), text: "yo".into() };
    assert_eq!(
        t.cmd(os, Command::Direct { sender: Some("Os".into()), to: "ann".into(), text: "yo".into() }),
        vec![ok(os), deliver(ann, back)]
    );
    // Nor does one writing to itself get it twice.
    let me = Event::Direct { from: "ann".into(), to: "ann".into(), text: "memo".into() };
    assert_eq!(
        t.cmd(ann, Command::Direct { sender: None, to: "ann".into(), text: "memo".into() }),
        vec![ok(ann), deliver(ann, me)]
    );
}

fn desk(t: &mut T, uuid: &str) -> SessionId {
    let s = t.connect_as(Protocol::Nl, HOME);
    let services = vec![("chatos".to_owned(), true)];
    let _ = t.input(Input::Services { services: services.clone() });
    assert_eq!(
        t.cmd(s, Command::OperatorKey { uuid: uuid.into() }),
        vec![
            ok(s),
            deliver(s, Event::Desk(DeskEvent::ServerOnline)),
            deliver(s, Event::Desk(DeskEvent::Status { services }))
        ]
    );
    s
}

fn from_support(to: SessionId, name: &str, text: &str) -> Output {
    deliver(to, Event::Direct { from: SUPPORT.into(), to: name.into(), text: text.into() })
}

fn dm(to: &str, text: &str) -> Command {
    Command::Direct { sender: None, to: to.into(), text: text.into() }
}

#[test]
fn the_desk_rings_every_operator_and_the_first_answer_wins() {
    let mut t = t();
    let (a, b) = (desk(&mut t, "op-a"), desk(&mut t, "op-b"));
    let ann = t.join(Protocol::ChatOs, "ann");
    let ring = Event::Desk(DeskEvent::Ring { id: 1, expires_in: Duration::from_secs(60) });
    assert_eq!(t.cmd(ann, dm("Support", "help!")), vec![ok(ann), Output::Broadcast { to: vec![a, b], event: ring }]);
    // What Ann writes while it rings waits for the winner.
    assert_eq!(t.cmd(ann, dm("support", "anyone?")), vec![ok(ann)]);
    let won = |echo: Option<&str>| {
        Event::Desk(DeskEvent::RingAckAck { id: 1, echo: echo.map(str::to_owned), winner: "op-b".into() })
    };
    assert_eq!(
        t.cmd(b, Command::RingAck { id: 1, echo: "\"1\"".into() }),
        vec![
            ok(b),
            deliver(a, won(None)),
            deliver(b, won(Some("\"1\""))),
            deliver(b, Event::Desk(DeskEvent::UserWrote { texts: vec!["help!".into(), "anyone?".into()] })),
            from_support(ann, "ann", notice::JOINED),
        ]
    );
    // Too late, and the loser has nobody to write to.
    assert_eq!(t.cmd(a, Command::RingAck { id: 1, echo: "1".into() }), vec![err(a, HubError::NoSuchLink)]);
    assert_eq!(t.cmd(a, Command::DeskMsg { texts: vec!["me too".into()] }), vec![err(a, HubError::Unreachable)]);
    // Both ways, typing included (ChatOS shows none: nothing goes).
    assert_eq!(
        t.cmd(ann, dm("support", "thanks")),
        vec![ok(ann), deliver(b, Event::Desk(DeskEvent::UserWrote { texts: vec!["thanks".into()] }))]
    );
    assert_eq!(
        t.cmd(b, Command::DeskMsg { texts: vec!["hello".into()] }),
        vec![ok(b), from_support(ann, "ann", "hello")]
    );
    assert_eq!(t.cmd(b, Command::DeskState { composing: true }), vec![ok(b)]);
    assert_eq!(
        t.cmd(ann, Command::Typing { to: "support".into(), active: true }),
        vec![ok(ann), deliver(b, Event::Desk(DeskEvent::UserTyping { composing: true }))]
    );
    // The operator ends it; Ann's next message rings again.
    assert_eq!(t.cmd(b, Command::Disassociate), vec![ok(b), from_support(ann, "ann", notice::ENDED)]);
    let out = t.cmd(ann, dm("support", "again"));
    assert_eq!(
        out[1],
        Output::Broadcast {
            to: vec![a, b],
            event: Event::Desk(DeskEvent::Ring { id: 2, expires_in: Duration::from_secs(60) })
        }
    );
}

#[test]
fn desk_conversations_are_kept_and_support_is_no_ones_name() {
    let mut t = t();
    let op = desk(&mut t, "op");
    let web = t.join(Protocol::Web, "ann");
    let out = t.cmd_all(web, dm("support", "hi"));
    assert!(out.contains(&Output::Keep(kept("ann", Some("support"), false, "hi").guests(Some(web), None))));
    // The web sees its own message, and gets support's typing.
    assert!(out.contains(&deliver(web, Event::Direct { from: "ann".into(), to: "support".into(), text: "hi".into() })));
    t.cmd(op, Command::RingAck { id: 1, echo: "1".into() });
    let out = t.cmd_all(op, Command::DeskMsg { texts: vec!["yes?".into()] });
    assert!(out.contains(&Output::Keep(kept("support", Some("ann"), false, "yes?").guests(None, Some(web)))));
    assert_eq!(
        t.cmd(op, Command::DeskState { composing: true }),
        vec![ok(op), deliver(web, Event::Typing { from: "support".into(), to: "ann".into(), active: true })]
    );
    let s = t.connect();
    assert_eq!(t.cmd(s, Command::Login { name: "Support".into(), verified: true }), vec![err(s, HubError::NameTaken)]);
    let image = Command::Image { sender: None, to: "support".into(), data: "AA==".into() };
    assert_eq!(t.cmd(web, image), vec![err(web, HubError::Unreachable)]);
}

#[test]
fn rings_expire_and_nobody_available_is_said() {
    let mut t = t();
    let ann = t.join(Protocol::ChatOs, "ann");
    // No operator at all: told at once.
    assert_eq!(t.cmd(ann, dm("support", "hello?")), vec![ok(ann), from_support(ann, "ann", notice::NOBODY)]);
    let op = desk(&mut t, "op");
    t.cmd(ann, dm("support", "hello?"));
    for _ in 0..11 {
        t.now += Duration::from_secs(5);
        t.cmd(op, Command::Alive);
        assert_eq!(t.input(Input::Tick), vec![]);
    }
    t.now += Duration::from_secs(5);
    let out = t.input(Input::Tick);
    let expired = Event::Desk(DeskEvent::RingAckAck { id: 1, echo: None, winner: String::new() });
    assert_eq!(out, vec![Output::Broadcast { to: vec![op], event: expired }, from_support(ann, "ann", notice::NOBODY)]);
}

#[test]
fn operators_are_probed_after_seven_quiet_seconds_and_removed_at_ten() {
    let mut t = t();
    let op = desk(&mut t, "op");
    let quiet = desk(&mut t, "quiet");
    t.now += Duration::from_secs(6);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.cmd(op, Command::Alive); // any command counts (probeACK is one)
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), vec![deliver(quiet, Event::Ping)]);
    t.now += Duration::from_secs(3);
    let ann = t.join(Protocol::ChatOs, "ann");
    let out = t.input(Input::Tick);
    assert_eq!(out, vec![deliver(quiet, Event::Closing), Output::Close { session: quiet }]);
    t.now += Duration::from_secs(3);
    assert_eq!(t.input(Input::Tick), vec![deliver(op, Event::Ping)], "7 s after it was last heard");
    // An operator that leaves mid-conversation: the end user is told.
    t.cmd(ann, dm("support", "hi"));
    t.cmd(op, Command::RingAck { id: 1, echo: "1".into() });
    assert_eq!(
        t.cmd(op, Command::OperatorLeave),
        vec![deliver(op, Event::Closing), Output::Close { session: op }, from_support(ann, "ann", notice::LEFT)]
    );
    assert_eq!(t.hub.desk_operators(), 0);
}

#[test]
fn an_end_user_who_leaves_ends_its_conversation() {
    let mut t = t();
    let op = desk(&mut t, "op");
    let ann = t.join(Protocol::ChatOs, "ann");
    t.cmd(ann, dm("support", "hi"));
    t.cmd(op, Command::RingAck { id: 1, echo: "1".into() });
    assert_eq!(
        t.input(Input::Disconnected { session: ann }),
        vec![deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec!["ann left.".into()] }))]
    );
    assert_eq!(t.cmd(op, Command::DeskMsg { texts: vec!["hello?".into()] }), vec![err(op, HubError::Unreachable)]);
    // A second key from the same operator on a new connection replaces the old one.
    let again = t.connect_as(Protocol::Nl, HOME);
    let out = t.cmd(again, Command::OperatorKey { uuid: "op".into() });
    assert_eq!(&out[..3], &[ok(again), deliver(op, Event::Closing), Output::Close { session: op }]);
    assert_eq!(t.hub.desk_operators(), 1);
}

#[test]
fn a_mesh_message_never_goes_back_into_the_mesh() {
    let mut t = t();
    let p1 = t.join(Protocol::PeerChat, "ann@peerchat");
    let p2 = t.join(Protocol::PeerChat, "bob@peerchat");
    let os = t.join(Protocol::ChatOs, "os");
    let web = t.join(Protocol::Web, "web");
    let from_ann = Event::Lobby { from: "ann@peerchat".into(), text: "hi".into() };
    assert_eq!(
        t.cmd(p1, Command::Lobby { sender: "ann@peerchat".into(), text: "hi".into() }),
        vec![ok(p1), Output::Broadcast { to: vec![os, web], event: from_ann }]
    );
    let from_os = Event::Lobby { from: "os".into(), text: "yo".into() };
    assert_eq!(
        t.cmd(os, Command::Lobby { sender: "os".into(), text: "yo".into() }),
        vec![ok(os), Output::Broadcast { to: vec![p1, p2, web], event: from_os }]
    );
    // Only mesh peers carry an `@`, one, between a name and the mesh's (the door adds it).
    let s = t.connect();
    assert_eq!(
        t.cmd(s, Command::Login { name: "x@peerchat".into(), verified: false }),
        vec![err(s, HubError::InvalidName)]
    );
    let m = t.connect_as(Protocol::PeerChat, HOME);
    for bad in ["x", "x@", "@peerchat", "x@y@peerchat"] {
        assert_eq!(
            t.cmd(m, Command::Login { name: bad.into(), verified: false }),
            vec![err(m, HubError::InvalidName)],
            "{bad}"
        );
    }
    assert_eq!(
        t.cmd(m, Command::Login { name: "two words@peerchat".into(), verified: false }),
        vec![err(m, HubError::InvalidName)]
    );
}

#[test]
fn look_alikes_of_reserved_connected_or_desk_names_are_refused() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["alice".into(), "аnna".into()] });
    let bob = t.login("bob");
    let guest = t.connect();
    let try_name = |t: &mut T, name: &str, verified: bool| t.cmd(guest, Command::Login { name: name.into(), verified });
    // Look-alikes of the account alice: Cyrillic letters, fullwidth, a dotted capital I.
    for name in ["\u{430}lice", "ali\u{441}e", "ａｌｉｃｅ", "ALİCE", "Alice"] {
        assert_eq!(try_name(&mut t, name, false), vec![err(guest, HubError::NameTaken)], "{name:?}");
    }
    // Invisible, soft-hyphenated and bidi-reversed names are no names at all.
    for name in ["alice\u{200B}", "al\u{AD}ice", "\u{202E}ecila"] {
        assert_eq!(try_name(&mut t, name, false), vec![err(guest, HubError::InvalidName)], "{name:?}");
    }
    // Look-alikes of someone connected, and of the desk.
    for name in ["b\u{43E}b", "ＢＯＢ", "supp\u{43E}rt", "süpport"] {
        assert_eq!(try_name(&mut t, name, false), vec![err(guest, HubError::NameTaken)], "{name:?}");
    }
    // An account whose own name looks like another account's still gets in, verified.
    assert_eq!(try_name(&mut t, "аnna", true), vec![ok(guest)]);
    // Once bob is gone, his look-alike is free.
    t.input(Input::Disconnected { session: bob });
    let other = t.connect();
    assert_eq!(t.cmd(other, Command::Login { name: "b\u{43E}b".into(), verified: false }), vec![ok(other)]);
}

#[test]
fn history_belongs_to_an_identity_a_guests_to_its_session() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["alice".into()] });
    let alice = t.connect_as(Protocol::Web, HOME);
    assert_eq!(t.cmd(alice, Command::Login { name: "alice".into(), verified: true })[0], ok(alice));
    t.input(Input::Offline { session: alice, queued: vec![] });
    let carol = t.join(Protocol::Web, "carol");
    let out = t.cmd_all(carol, dm("alice", "hi"));
    assert!(out.contains(&Output::Keep(kept("carol", Some("alice"), false, "hi").guests(Some(carol), None))));
    let out = t.cmd_all(alice, dm("carol", "hello"));
    assert!(out.contains(&Output::Keep(kept("alice", Some("carol"), false, "hello").guests(None, Some(carol)))));
    // A later guest of the same name is another identity.
    t.input(Input::Disconnected { session: carol });
    let carol2 = t.join(Protocol::Web, "CAROL");
    assert_ne!(carol2, carol);
    let out = t.cmd_all(alice, dm("carol", "who?"));
    assert!(out.contains(&Output::Keep(kept("alice", Some("CAROL"), false, "who?").guests(None, Some(carol2)))));
}

#[test]
fn a_connection_that_does_not_log_in_in_time_is_closed() {
    let mut t = T { hub: Hub::new(Config { login_timeout: Duration::from_secs(3), ..Config::default() }), ..t() };
    let silent = t.connect();
    let named = t.connect();
    t.login_session(named, "ann");
    let hack = t.connect_as(Protocol::ChatHack, HOME);
    let operator = t.connect_as(Protocol::Nl, HOME);
    t.cmd(operator, Command::OperatorKey { uuid: "u".into() });
    t.now += Duration::from_secs(2);
    let late = t.connect();
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(1);
    // Three seconds without a name: closed. The named one and the operator stay.
    let closed = |s| [deliver(s, Event::Closing), Output::Close { session: s }];
    assert_eq!(t.input(Input::Tick), [closed(silent), closed(hack)].concat());
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), closed(late));
    assert_eq!(t.hub.session_count(), 2);
}

#[test]
fn replies_say_which_command_they_answer() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["lindsay".into()] });
    let a = t.connect();
    t.hub.handle(t.now, Input::Command { session: a, command: Command::Login { name: "a".into(), verified: false } });
    let kinds = |t: &mut T| -> Vec<Kind> {
        t.all_kinds()
            .into_iter()
            .filter_map(|o| match o {
                Output::Reply { kind, .. } => Some(kind),
                Output::Queue { reply: Some((_, kind)), .. } => Some(kind),
                _ => None,
            })
            .collect()
    };
    assert_eq!(kinds(&mut t), [Kind::Login]);
    for (command, kind) in [
        (Command::Lobby { sender: "a".into(), text: "hi".into() }, Kind::Lobby),
        (dm("nobody", "x"), Kind::Direct),
        (dm("lindsay", "queued"), Kind::Direct),
        (Command::Image { sender: None, to: "lindsay".into(), data: "AA==".into() }, Kind::Image),
        (Command::LinkAsk(key("a", "nobody", 1)), Kind::LinkAsk),
        (Command::Typing { to: "nobody".into(), active: true }, Kind::Typing),
    ] {
        t.hub.handle(t.now, Input::Command { session: a, command });
        assert_eq!(kinds(&mut t), [kind]);
    }
}

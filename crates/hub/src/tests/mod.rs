//! Hub tests: feed inputs, assert outputs. No sockets, no clock: time is an input. What
//! every suite shares is here (the hub under test, the doors' capabilities, helpers); each
//! feature's tests are in a file of their own.

mod away;
mod chat;
mod cluster;
mod desk;
mod keep;
mod links;
mod live;
mod names;
mod rename;
mod rooms;
mod whowas;

use super::*;
use std::net::IpAddr;

struct T {
    hub: Hub,
    now: Instant,
    next: u64,
}

fn t() -> T {
    let now = Instant::now();
    T { hub: Hub::new(config(), now), now, next: 0 }
}

/// The hub's configuration in these tests: its defaults, and the doors' names.
fn config() -> Config {
    Config { door_names: Protocol::ALL.iter().map(|p| p.name()).collect(), ..Config::default() }
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

use crate::testing::Protocol;

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
                Output::Queue { kept, reply: Some(ReplyTo::Session(to, _)) } => {
                    Output::Queue { kept, reply: Some(ReplyTo::Session(to, ANY)) }
                }
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

fn kept(sender: &str, recipient: Option<&str>, image: bool, body: &str) -> Kept {
    Kept { sender: sender.into(), recipient: recipient.map(Into::into), image, body: body.into(), ..Kept::default() }
}

impl Kept {
    /// The message, sent by guest session `sender` and to guest session `recipient`.
    fn guests(self, sender: Option<SessionId>, recipient: Option<SessionId>) -> Kept {
        Kept { sender_guest: sender, recipient_guest: recipient, ..self }
    }
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
    Event::Presence { name: name.into(), via: protocol.name(), lobby: protocol.caps().lobby, online }
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
fn a_session_costs_the_hub_few_bytes() {
    // Every connected session has one: what is rare (a queue being handed over) is boxed.
    let size = std::mem::size_of::<crate::Session>();
    assert!(size <= 56, "a session is {size} bytes");
}

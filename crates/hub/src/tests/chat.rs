//! Chat: the lobby, direct messages and images, typing, presence, the mesh rule.

use super::*;

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
fn the_word_filter_censors_the_lobby() {
    let mut t = T {
        hub: Hub::new(Config { word_filter: WordFilter::from_lines("darn"), ..config() }, Instant::now()),
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
            ("os".to_owned(), Protocol::ChatOs.name()),
            ("ann".to_owned(), Protocol::Web.name()),
            ("hack".to_owned(), Protocol::ChatHack.name())
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
fn a_session_that_carries_the_lobby_roster_is_handed_who_is_in_the_lobby_once_logged_in() {
    let mut t = t();
    let os = t.login("os");
    let dev = t.connect_as(Protocol::Jpc, HOME);
    let _ = t.cmd(dev, Command::Login { name: "lindsay".into(), verified: true });
    let irc = t.connect_as(Protocol::Irc, HOME);
    // After the answer: the lobby, itself included; the device hears no lobby and is not in it.
    assert_eq!(
        t.cmd(irc, Command::Login { name: "ann".into(), verified: false }),
        vec![ok(irc), deliver(irc, Event::InLobby { names: vec!["os".into(), "ann".into()] })]
    );
    // From then on it hears who comes and goes, and whether they hear the lobby.
    let dev2 = t.connect_as(Protocol::Jpc, HOME);
    assert_eq!(
        t.cmd(dev2, Command::Login { name: "kettle".into(), verified: true }),
        vec![
            ok(dev2),
            Output::Broadcast {
                to: vec![irc],
                event: Event::Presence { name: "kettle".into(), via: "jpc", lobby: false, online: true }
            }
        ]
    );
    assert_eq!(
        t.input(Input::Disconnected { session: os }),
        vec![Output::Broadcast {
            to: vec![irc],
            event: Event::Presence { name: "os".into(), via: "chatos", lobby: true, online: false }
        }]
    );
}

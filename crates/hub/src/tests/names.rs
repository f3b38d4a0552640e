//! Names: one namespace, folding, reserved names, look-alikes, and the kinds of answers.

use super::*;

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
                Output::Queue { reply: Some(ReplyTo::Session(_, kind)), .. } => Some(kind),
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

//! A change of name: checked as a login is, carried out in every table, told to who watches;
//! in a cluster, claimed first and renamed in place on the other nodes.

use super::*;
use crate::cluster::Node;

fn rename(name: &str) -> Command {
    Command::Rename { name: name.into() }
}

fn renamed(to: &[SessionId], from: &str, name: &str, via: Protocol) -> Output {
    Output::Broadcast { to: to.to_vec(), event: Event::Renamed { from: from.into(), to: name.into(), via: via.name() } }
}

fn dm(from: &str, to: &str, text: &str) -> Command {
    Command::Direct { sender: Some(from.into()), to: to.into(), text: text.into() }
}

#[test]
fn a_guest_takes_a_new_name_everyone_watching_is_told_and_the_old_one_is_free() {
    let mut t = t();
    let web = t.join(Protocol::Web, "watcher");
    let ann = t.join(Protocol::Irc, "ann");
    let carol = t.join(Protocol::ChatOs, "carol");
    t.cmd(ann, Command::Room(RoomCommand::Join { room: "#rust".into(), key: None }));
    t.cmd(ann, Command::Away { message: Some("brb".into()) });
    t.now += Duration::from_secs(3);
    assert_eq!(t.cmd(ann, rename("Anna")), vec![ok(ann), renamed(&[web, ann], "ann", "Anna", Protocol::Irc)]);
    assert_eq!(t.hub.roster()[1], ("Anna".into(), "irc"));
    // Reached by the new name, not the old; in the same rooms, away as before.
    let to_anna = t.cmd(carol, dm("carol", "ANNA", "hi"));
    let heard = Event::Direct { from: "carol".into(), to: "Anna".into(), text: "hi".into() };
    assert_eq!(to_anna[..2], [ok(carol), deliver(ann, heard)]);
    assert_eq!(t.cmd(carol, dm("carol", "ann", "hi")), vec![err(carol, HubError::Unreachable)]);
    assert_eq!(t.hub.rooms(ann, Some("#rust"))[0].members[0].0, "Anna");
    assert_eq!(t.hub.away_of("anna"), Some("brb"));
    // What it says goes out under the new name; a packet claiming the old one is not its.
    let out = t.cmd(ann, Command::Lobby { sender: "Anna".into(), text: "hello".into() });
    assert!(out.contains(&Output::Broadcast {
        to: vec![web, carol],
        event: Event::Lobby { from: "Anna".into(), text: "hello".into() }
    }));
    assert_eq!(
        t.cmd(ann, Command::Lobby { sender: "ann".into(), text: "x".into() }),
        vec![err(ann, HubError::NotYourName)]
    );
    // The old name was, and is free for anyone.
    assert_eq!(t.hub.whowas("ann", 5), vec![Was { name: "ann".into(), via: "irc", left: t.now }]);
    let _other = t.join(Protocol::ChatOs, "ann");
    // A change of case alone is a rename too; the same name is nothing.
    assert_eq!(t.cmd(ann, rename("ANNA")), vec![ok(ann), renamed(&[web, ann], "Anna", "ANNA", Protocol::Irc)]);
    assert_eq!(t.cmd(ann, rename("ANNA")), vec![ok(ann)]);
    // Gone, it frees the name it has now.
    t.input(Input::Disconnected { session: ann });
    let _again = t.join(Protocol::Irc, "anna");
}

#[test]
fn a_rename_is_refused_as_a_login_would_be_and_an_account_keeps_its_name() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["lindsay".into()] });
    let ann = t.join(Protocol::Irc, "ann");
    let _carol = t.join(Protocol::ChatOs, "carol");
    for (name, e) in [
        ("carol", HubError::NameTaken),
        ("CAROL", HubError::NameTaken),
        ("c\u{430}rol", HubError::NameTaken), // a look-alike
        ("lindsay", HubError::NameTaken),     // reserved
        ("l\u{456}ndsay", HubError::NameTaken),
        ("support", HubError::NameTaken),
        ("a b", HubError::InvalidName),
        ("", HubError::InvalidName),
    ] {
        assert_eq!(t.cmd(ann, rename(name)), vec![err(ann, e)], "{name:?}");
    }
    assert_eq!(t.hub.roster()[0].0, "ann");
    // Signed in to an account, a session keeps the account's name.
    let lindsay = t.connect_as(Protocol::Irc, HOME);
    t.cmd(lindsay, Command::Login { name: "lindsay".into(), verified: true });
    assert_eq!(t.cmd(lindsay, rename("lin")), vec![err(lindsay, HubError::NameFixed)]);
    // A door that cannot say a new name cannot ask for one; nor can who has none yet.
    let chatos = t.join(Protocol::ChatOs, "dave");
    assert_eq!(t.cmd(chatos, rename("dan")), vec![err(chatos, HubError::InvalidName)]);
    let unnamed = t.connect_as(Protocol::Irc, HOME);
    assert_eq!(t.cmd(unnamed, rename("x")), vec![err(unnamed, HubError::NotLoggedIn)]);
}

#[test]
fn who_the_desk_talks_with_keeps_its_name_until_it_is_over() {
    let mut t = t();
    let op = desk(&mut t, "op-1");
    let ann = t.join(Protocol::Irc, "ann");
    t.cmd(ann, dm("ann", "support", "help"));
    let _ = op;
    assert_eq!(t.cmd(ann, rename("anna")), vec![err(ann, HubError::NameFixed)]);
}

mod cluster {
    use super::*;

    const ONE: Node = Node(1);

    fn node() -> T {
        T { hub: Hub::new(Config { cluster: true, ..config() }, Instant::now()), now: Instant::now(), next: 0 }
    }

    impl T {
        fn claimed(&mut self, protocol: Protocol, name: &str) -> SessionId {
            let s = self.connect_as(protocol, HOME);
            let _ = self.cmd(s, Command::Login { name: name.into(), verified: false });
            let _ = self.input(Input::Claimed { session: s, result: Ok(()) });
            s
        }
    }

    #[test]
    fn the_new_name_is_claimed_and_the_old_released_once_it_is_granted() {
        let mut t = node();
        let web = t.claimed(Protocol::Web, "watcher");
        let ann = t.claimed(Protocol::Irc, "ann");
        assert_eq!(
            t.cmd(ann, rename("bo")),
            vec![Output::Claim { session: ann, name: "bo".into(), was: Some("ann".into()) }]
        );
        // Meanwhile it holds both; what it says waits for the answer.
        let c = t.connect();
        assert_eq!(t.cmd(c, Command::Login { name: "bo".into(), verified: false }), vec![err(c, HubError::NameTaken)]);
        assert_eq!(t.cmd(ann, Command::Away { message: Some("x".into()) }), vec![]);
        // Refused elsewhere: it is still ann, and the new name free here.
        assert_eq!(
            t.input(Input::Claimed { session: ann, result: Err(HubError::NameTaken) }),
            vec![
                err(ann, HubError::NameTaken),
                ok(ann),
                Output::Away { name: "ann".into(), message: Some("x".into()) },
                Output::Broadcast {
                    to: vec![web],
                    event: Event::Away { name: "ann".into(), message: Some("x".into()) }
                },
            ]
        );
        assert_eq!(t.hub.roster()[1].0, "ann");
        // Granted: renamed, the old claim released.
        t.cmd(ann, rename("bo"));
        assert_eq!(
            t.input(Input::Claimed { session: ann, result: Ok(()) }),
            vec![
                ok(ann),
                Output::Release { session: ann, name: "ann".into() },
                renamed(&[web, ann], "ann", "bo", Protocol::Irc),
            ]
        );
        assert_eq!(t.hub.roster()[1].0, "bo");
        let c = t.connect();
        assert_eq!(t.cmd(c, Command::Login { name: "ann".into(), verified: false }).len(), 1);
        // A name that looks the same has the same claim: renamed at once, the claim renewed.
        assert_eq!(
            t.cmd(ann, rename("BO")),
            vec![
                ok(ann),
                Output::Claim { session: ann, name: "BO".into(), was: Some("bo".into()) },
                renamed(&[web, ann], "bo", "BO", Protocol::Irc),
            ]
        );
        assert_eq!(t.input(Input::Claimed { session: ann, result: Ok(()) }), vec![]);
        // Gone while a rename is claimed, both names are released.
        t.cmd(ann, rename("cy"));
        let out = t.input(Input::Disconnected { session: ann });
        assert!(out.contains(&Output::Release { session: ann, name: "cy".into() }), "{out:?}");
        assert!(out.contains(&Output::Release { session: ann, name: "BO".into() }), "{out:?}");
    }

    #[test]
    fn another_node_renames_its_session_in_place_and_nobody_sees_it_leave() {
        let mut t = node();
        let bob = t.claimed(Protocol::Irc, "bob");
        let irc = Protocol::Irc;
        let joined = |name: &str, was: Option<&str>| Input::Joined {
            node: ONE,
            name: name.into(),
            door: irc.door(),
            caps: irc.caps(),
            was: was.map(Into::into),
        };
        t.input(joined("ann", None));
        t.input(Input::Away { node: ONE, name: "ann".into(), message: Some("brb".into()) });
        t.cmd(bob, Command::Room(RoomCommand::Join { room: "#rust".into(), key: None }));
        let member = Member::default();
        t.input(Input::RoomNews {
            node: ONE,
            news: RoomNews::Joined { room: "#rust".into(), name: "ann".into(), member },
        });
        assert_eq!(t.input(joined("anna", Some("ann"))), vec![renamed(&[bob], "ann", "anna", irc)]);
        assert_eq!(t.hub.roster().into_iter().map(|(n, _)| n).collect::<Vec<_>>(), ["bob", "anna"]);
        assert_eq!(t.hub.away_of("anna"), Some("brb"));
        assert_eq!(t.hub.away_of("ann"), None);
        let members: Vec<String> = t.hub.rooms(bob, Some("#rust"))[0].members.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(members, ["bob", "anna"]);
        assert_eq!(t.hub.whowas("ann", 5).len(), 1);
        // The old claim's deletion comes after: it was renamed already.
        assert_eq!(t.input(Input::Left { node: ONE, name: "ann".into() }), vec![]);
        // A rename this node did not know the old name of is a plain join.
        assert_eq!(
            t.input(joined("cy", Some("nobody"))),
            vec![Output::Broadcast { to: vec![bob], event: presence("cy", irc, true) }]
        );
    }
}

//! Rooms: joining, speaking, topics, modes, kicks and invitations, on one node and across a
//! cluster.

use super::*;

fn room(command: RoomCommand) -> Command {
    Command::Room(command)
}

fn join(room_name: &str) -> Command {
    room(RoomCommand::Join { room: room_name.into(), key: None })
}

fn say(room_name: &str, text: &str) -> Command {
    room(RoomCommand::Say { room: room_name.into(), text: text.into(), notice: false })
}

fn mode(room_name: &str, on: bool, mode: Mode) -> Command {
    room(RoomCommand::Mode { room: room_name.into(), changes: vec![ModeChange { on, mode }] })
}

fn to_all(to: &[SessionId], event: Event) -> Output {
    Output::Broadcast { to: to.to_vec(), event }
}

fn joined(room_name: &str, name: &str) -> Event {
    Event::RoomJoined { room: room_name.into(), name: name.into() }
}

fn op() -> Member {
    Member { op: true, voice: false }
}

fn state(room_name: &str, topic: Option<Topic>, members: &[(&str, Member)]) -> Event {
    let members = members.iter().map(|&(n, m)| (n.to_owned(), m)).collect();
    Event::RoomState { room: room_name.into(), topic, members }
}

impl T {
    fn irc(&mut self, name: &str) -> SessionId {
        let s = self.connect_as(Protocol::Irc, HOME);
        let out = self.cmd(s, Command::Login { name: name.into(), verified: false });
        assert_eq!(out[0], ok(s));
        s
    }
}

#[test]
fn the_first_to_join_a_room_makes_it_and_is_its_operator_and_members_hear_each_other() {
    let mut t = t();
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    assert_eq!(
        t.cmd(ann, join("#Rust")),
        vec![ok(ann), to_all(&[ann], joined("#Rust", "ann")), deliver(ann, state("#Rust", None, &[("ann", op())]))]
    );
    // The room keeps its first spelling; names are folded as names are.
    assert_eq!(
        t.cmd(bob, join("#RUST")),
        vec![
            ok(bob),
            to_all(&[ann, bob], joined("#Rust", "bob")),
            deliver(bob, state("#Rust", None, &[("ann", op()), ("bob", Member::default())]))
        ]
    );
    assert_eq!(t.cmd(bob, join("#rust")), vec![ok(bob)], "a second join changes nothing");
    let said = Event::RoomSaid { room: "#Rust".into(), from: "bob".into(), text: "hi".into(), notice: false };
    assert_eq!(t.cmd(bob, say("#rust", "hi")), vec![ok(bob), to_all(&[ann], said)]);
    assert_eq!(t.hub.room_count(), 1);
    assert_eq!(t.hub.rooms_of(bob), vec!["#Rust".to_owned()]);
    let view = &t.hub.rooms(bob, Some("#rust"))[0];
    assert_eq!((view.count, view.members.len()), (2, 2));
    // Who leaves the room is told to all, itself too; the last one out ends it.
    let parted = Event::RoomParted { room: "#Rust".into(), name: "ann".into(), reason: "bye".into(), by: None };
    assert_eq!(
        t.cmd(ann, room(RoomCommand::Part { room: "#rust".into(), reason: "bye".into() })),
        vec![ok(ann), to_all(&[ann, bob], parted)]
    );
    assert_eq!(t.cmd(ann, say("#rust", "back?")), vec![err(ann, HubError::Room(RoomError::CannotSend))]);
    // Who leaves the hub leaves its rooms quietly: presence tells the others.
    let out = t.input(Input::Disconnected { session: bob });
    assert!(out.iter().all(|o| matches!(o, Output::Broadcast { event: Event::Presence { .. }, .. })), "{out:?}");
    assert_eq!(t.hub.room_count(), 0);
    assert_eq!(t.cmd(ann, say("#rust", "anyone?")), vec![err(ann, HubError::Room(RoomError::NoSuchRoom))]);
}

#[test]
fn room_commands_are_refused_with_the_reason_for_each() {
    let mut t = t();
    let os = t.login("os");
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    let e = |s, why| err(s, HubError::Room(why));
    assert_eq!(t.cmd(ann, join("rust")), vec![e(ann, RoomError::BadName)]);
    assert_eq!(t.cmd(ann, join("#lobby")), vec![e(ann, RoomError::BadName)], "the lobby is no room");
    assert_eq!(t.cmd(ann, join("#a,b")), vec![e(ann, RoomError::BadName)]);
    assert_eq!(t.cmd(os, join("#rust")), vec![err(os, HubError::Unreachable)], "ChatOS has no rooms");
    let _ = t.cmd(ann, join("#rust"));
    let part = |r: &str| room(RoomCommand::Part { room: r.into(), reason: String::new() });
    assert_eq!(t.cmd(bob, part("#rust")), vec![e(bob, RoomError::NotInRoom)]);
    assert_eq!(t.cmd(bob, part("#nope")), vec![e(bob, RoomError::NoSuchRoom)]);
    // +n: outsiders cannot speak; +t: only operators set the topic.
    assert_eq!(t.cmd(bob, say("#rust", "hi")), vec![e(bob, RoomError::CannotSend)]);
    let _ = t.cmd(bob, join("#rust"));
    let topic = |text: &str| room(RoomCommand::Topic { room: "#rust".into(), text: text.into(), at: 1 });
    assert_eq!(t.cmd(bob, topic("mine")), vec![e(bob, RoomError::NotOp)]);
    assert_eq!(t.cmd(bob, mode("#rust", true, Mode::Moderated)), vec![e(bob, RoomError::NotOp)]);
    let kick = room(RoomCommand::Kick { room: "#rust".into(), name: "ann".into(), reason: String::new() });
    assert_eq!(t.cmd(bob, kick), vec![e(bob, RoomError::NotOp)]);
    assert_eq!(t.cmd(ann, mode("#rust", true, Mode::Op("carol".into()))), vec![e(ann, RoomError::TheyAreNotIn)]);
    let invite = |name: &str| room(RoomCommand::Invite { room: "#rust".into(), name: name.into() });
    assert_eq!(t.cmd(ann, invite("bob")), vec![e(ann, RoomError::AlreadyIn)]);
    assert_eq!(t.cmd(ann, invite("os")), vec![e(ann, RoomError::NoSuchName)], "it cannot join rooms");
    assert_eq!(t.cmd(ann, invite("nobody")), vec![e(ann, RoomError::NoSuchName)]);
    // A session is in at most MAX_ROOMS_EACH rooms.
    for i in 1..MAX_ROOMS_EACH {
        assert_eq!(t.cmd(bob, join(&format!("#r{i}")))[0], ok(bob));
    }
    assert_eq!(t.cmd(bob, join("#one-too-many")), vec![e(bob, RoomError::TooManyRooms)]);
}

#[test]
fn operators_set_the_topic_and_modes_and_kick_and_everyone_in_the_room_is_told() {
    let mut t = t();
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    let _ = t.cmd(ann, join("#rust"));
    let _ = t.cmd(bob, join("#rust"));
    let topic = Topic { text: "Rust!".into(), by: "ann".into(), at: 1_700_000_000 };
    assert_eq!(
        t.cmd(ann, room(RoomCommand::Topic { room: "#rust".into(), text: "Rust!".into(), at: 1_700_000_000 })),
        vec![ok(ann), to_all(&[ann, bob], Event::RoomTopic { room: "#rust".into(), topic: topic.clone() })]
    );
    let carol = t.irc("carol");
    let out = t.cmd(carol, join("#rust"));
    let members = [("ann", op()), ("bob", Member::default()), ("carol", Member::default())];
    assert_eq!(out[2], deliver(carol, state("#rust", Some(topic), &members)));
    // +m: only operators and the voiced speak. Modes already set change nothing.
    let changes = vec![
        ModeChange { on: true, mode: Mode::Moderated },
        ModeChange { on: true, mode: Mode::Voice("BOB".into()) },
        ModeChange { on: true, mode: Mode::NoOutside },
    ];
    let applied =
        vec![ModeChange { on: true, mode: Mode::Moderated }, ModeChange { on: true, mode: Mode::Voice("bob".into()) }];
    assert_eq!(
        t.cmd(ann, room(RoomCommand::Mode { room: "#rust".into(), changes })),
        vec![
            ok(ann),
            to_all(&[ann, bob, carol], Event::RoomModes { room: "#rust".into(), by: "ann".into(), changes: applied })
        ]
    );
    assert_eq!(t.cmd(ann, mode("#rust", true, Mode::Moderated)), vec![ok(ann)], "nothing changed, nothing told");
    assert_eq!(t.cmd(carol, say("#rust", "hm")), vec![err(carol, HubError::Room(RoomError::CannotSend))]);
    assert_eq!(t.cmd(bob, say("#rust", "I may"))[0], ok(bob));
    // A kick is told to all, the kicked too, and it is out.
    let kicked = Event::RoomParted {
        room: "#rust".into(),
        name: "carol".into(),
        reason: "quiet".into(),
        by: Some("ann".into()),
    };
    let kick = room(RoomCommand::Kick { room: "#rust".into(), name: "Carol".into(), reason: "quiet".into() });
    assert_eq!(t.cmd(ann, kick), vec![ok(ann), to_all(&[ann, bob, carol], kicked)]);
    assert_eq!(t.hub.rooms_of(carol), Vec::<String>::new());
    // An operator makes another.
    let _ = t.cmd(ann, mode("#rust", true, Mode::Op("bob".into())));
    let view = &t.hub.rooms(ann, Some("#rust"))[0];
    assert_eq!(view.members[1], ("bob".to_owned(), Member { op: true, voice: true }));
}

#[test]
fn keys_limits_bans_and_invitations_decide_who_joins() {
    let mut t = t();
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    let carol = t.irc("carol");
    let e = |s, why| err(s, HubError::Room(why));
    let _ = t.cmd(ann, join("#club"));
    let _ = t.cmd(ann, mode("#club", true, Mode::Key("sesame".into())));
    assert_eq!(t.cmd(bob, join("#club")), vec![e(bob, RoomError::BadKey)]);
    let with_key = room(RoomCommand::Join { room: "#club".into(), key: Some("sesame".into()) });
    assert_eq!(t.cmd(bob, with_key)[0], ok(bob));
    let _ = t.cmd(ann, mode("#club", false, Mode::Key(String::new())));
    let _ = t.cmd(ann, mode("#club", true, Mode::Limit(2)));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::Full)]);
    let _ = t.cmd(ann, mode("#club", false, Mode::Limit(0)));
    let _ = t.cmd(ann, mode("#club", true, Mode::Ban("car*!*@*".into())));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::Banned)]);
    let _ = t.cmd(ann, mode("#club", false, Mode::Ban("CAR*!*@*".into())));
    let _ = t.cmd(ann, mode("#club", true, Mode::Ban("*!*@irc".into())));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::Banned)], "a ban by door");
    assert_eq!(t.hub.rooms(ann, Some("#club"))[0].masks.bans, vec!["*!*@irc".to_owned()]);
    let _ = t.cmd(ann, mode("#club", false, Mode::Ban("*!*@irc".into())));
    // +i: only the invited; an invitation is told to the invited, and used once.
    let _ = t.cmd(ann, mode("#club", true, Mode::InviteOnly));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::InviteOnly)]);
    let invite = room(RoomCommand::Invite { room: "#club".into(), name: "carol".into() });
    assert_eq!(t.cmd(bob, invite.clone()), vec![e(bob, RoomError::NotOp)], "under +i only operators invite");
    assert_eq!(
        t.cmd(ann, invite),
        vec![ok(ann), deliver(carol, Event::Invited { room: "#club".into(), by: "ann".into() })]
    );
    assert_eq!(t.cmd(carol, join("#club"))[0], ok(carol));
    let _ = t.cmd(carol, room(RoomCommand::Part { room: "#club".into(), reason: String::new() }));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::InviteOnly)]);
    // +s: a secret room is seen only by its members.
    let _ = t.cmd(ann, mode("#club", true, Mode::Secret));
    let _ = t.cmd(carol, join("#open"));
    let names = |t: &T, s| t.hub.rooms(s, None).into_iter().map(|v| v.name).collect::<Vec<_>>();
    assert_eq!(names(&t, carol), vec!["#open".to_owned()]);
    assert_eq!(names(&t, ann), vec!["#club".to_owned(), "#open".to_owned()]);
    assert!(t.hub.rooms(carol, Some("#club")).is_empty());
}

/// Typing in a room is told to its other members; one who is not in it may not.
#[test]
fn typing_in_a_room_is_told_to_its_other_members() {
    let mut t = t();
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    let carol = t.irc("carol");
    let _ = t.cmd(ann, join("#club"));
    let _ = t.cmd(bob, join("#Club"));
    let typing = |active| Command::Typing { to: "#CLUB".into(), active };
    let typed = Event::Typing { from: "ann".into(), to: "#club".into(), active: true };
    assert_eq!(t.cmd(ann, typing(true)), vec![ok(ann), to_all(&[bob], typed)]);
    assert_eq!(t.cmd(carol, typing(true)), vec![err(carol, HubError::Room(RoomError::NotInRoom))]);
    assert_eq!(
        t.cmd(carol, Command::Typing { to: "#none".into(), active: true }),
        vec![err(carol, HubError::Unreachable)]
    );
}

/// `+e` lets who matches it past a ban (to join and to speak); `+I` past `+i`.
#[test]
fn ban_exceptions_and_invite_exceptions_let_who_matches_them_in() {
    let mut t = t();
    let ann = t.irc("ann");
    let bob = t.irc("bob");
    let carol = t.irc("carol");
    let e = |s, why| err(s, HubError::Room(why));
    let _ = t.cmd(ann, join("#club"));
    let _ = t.cmd(ann, mode("#club", true, Mode::Ban("*!*@irc".into())));
    let _ = t.cmd(ann, mode("#club", true, Mode::Except("bob!*@*".into())));
    assert_eq!(t.cmd(carol, join("#club")), vec![e(carol, RoomError::Banned)]);
    assert_eq!(t.cmd(bob, join("#club"))[0], ok(bob), "excepted from the ban");
    assert_eq!(t.cmd(bob, say("#club", "hi"))[0], ok(bob), "and may speak");
    let _ = t.cmd(ann, mode("#club", false, Mode::Except("BOB!*@*".into())));
    assert_eq!(t.cmd(bob, say("#club", "hi")), vec![e(bob, RoomError::CannotSend)], "banned again");
    let _ = t.cmd(ann, mode("#club", false, Mode::Ban("*!*@irc".into())));
    let _ = t.cmd(ann, mode("#club", true, Mode::InviteOnly));
    let _ = t.cmd(ann, mode("#club", true, Mode::InviteExcept("car*!*@*".into())));
    assert_eq!(t.cmd(carol, join("#club"))[0], ok(carol), "past +i");
    let view = &t.hub.rooms(ann, Some("#club"))[0];
    assert_eq!((view.masks.excepts.len(), view.masks.invexes.clone()), (0, vec!["car*!*@*".to_owned()]));
    // Each list holds at most so many masks.
    for i in 0..MAX_BANS {
        let _ = t.cmd(ann, mode("#club", true, Mode::Except(format!("x{i}!*@*"))));
    }
    let full = t.cmd(ann, mode("#club", true, Mode::Except("one!*@*".into())));
    assert_eq!(full, vec![e(ann, RoomError::ListFull)]);
}

mod cluster {
    use super::*;

    const TWO: Node = Node(2);

    fn node() -> T {
        T { hub: Hub::new(Config { cluster: true, ..config() }, Instant::now()), now: Instant::now(), next: 0 }
    }

    impl T {
        fn claimed_irc(&mut self, name: &str) -> SessionId {
            let s = self.connect_as(Protocol::Irc, HOME);
            let _ = self.cmd(s, Command::Login { name: name.into(), verified: false });
            let _ = self.input(Input::Claimed { session: s, result: Ok(()) });
            s
        }

        fn news(&mut self, news: RoomNews) -> Vec<Output> {
            self.input(Input::RoomNews { node: TWO, news })
        }
    }

    #[test]
    fn a_room_s_members_on_other_nodes_hear_and_are_heard_and_every_change_crosses_once() {
        let mut t = node();
        let ann = t.claimed_irc("ann");
        let _ = t.input(Input::Joined {
            node: TWO,
            name: "bob".into(),
            door: Protocol::Irc.door(),
            caps: Protocol::Irc.caps(),
            was: None,
        });
        let news = RoomNews::Joined { room: "#rust".into(), name: "ann".into(), member: op() };
        assert_eq!(
            t.cmd(ann, join("#rust")),
            vec![
                ok(ann),
                Output::RoomNews(news),
                to_all(&[ann], joined("#rust", "ann")),
                deliver(ann, state("#rust", None, &[("ann", op())]))
            ]
        );
        // Bob joins on his node: ann hears it, and he counts as a member here.
        let bob = RoomNews::Joined { room: "#rust".into(), name: "bob".into(), member: Member::default() };
        assert_eq!(t.news(bob), vec![to_all(&[ann], joined("#rust", "bob"))]);
        assert_eq!(t.hub.rooms(ann, Some("#rust"))[0].count, 2);
        let said = RoomNews::Said { room: "#rust".into(), from: "bob".into(), text: "hi".into(), notice: false };
        let heard = Event::RoomSaid { room: "#rust".into(), from: "bob".into(), text: "hi".into(), notice: false };
        assert_eq!(t.news(said), vec![to_all(&[ann], heard)]);
        // What ann says here is published once, for bob's node to hand him.
        let out = t.cmd(ann, say("#rust", "hello"));
        let mine = RoomNews::Said { room: "#rust".into(), from: "ann".into(), text: "hello".into(), notice: false };
        assert_eq!(out, vec![ok(ann), Output::RoomNews(mine)]);
        // An operator here kicks a member there: the news carries it.
        let kick = room(RoomCommand::Kick { room: "#rust".into(), name: "bob".into(), reason: "x".into() });
        let parted =
            Event::RoomParted { room: "#rust".into(), name: "bob".into(), reason: "x".into(), by: Some("ann".into()) };
        let out = t.cmd(ann, kick);
        assert_eq!(out[2], to_all(&[ann], parted));
        assert_eq!(t.hub.rooms(ann, Some("#rust"))[0].count, 1);
        // A node that comes up is told who is in what here.
        let out = t.input(Input::NodeUp { node: TWO });
        let sync = RoomNews::Sync {
            room: "#rust".into(),
            topic: None,
            modes: RoomModes::default(),
            masks: Masks::default(),
            members: vec![("ann".into(), op())],
        };
        assert!(out.contains(&Output::RoomNews(sync)), "{out:?}");
        // Who leaves the hub leaves its rooms on every node.
        let out = t.input(Input::Disconnected { session: ann });
        assert!(out.contains(&Output::RoomNews(RoomNews::Quit { room: "#rust".into(), name: "ann".into() })));
        assert_eq!(t.hub.room_count(), 0);
    }

    #[test]
    fn a_node_that_is_gone_takes_its_members_out_of_every_room() {
        let mut t = node();
        let ann = t.claimed_irc("ann");
        let sync = RoomNews::Sync {
            room: "#Big".into(),
            topic: Some(Topic { text: "t".into(), by: "bob".into(), at: 7 }),
            modes: RoomModes { moderated: true, ..RoomModes::default() },
            masks: Masks::default(),
            members: vec![("bob".into(), op()), ("carol".into(), Member::default())],
        };
        assert_eq!(t.news(sync), vec![]);
        let view = t.hub.rooms(ann, Some("#big")).remove(0);
        assert_eq!((view.name.as_str(), view.count, view.modes.moderated), ("#Big", 2, true));
        let out = t.cmd(ann, join("#big"));
        let members = [("ann", Member::default()), ("bob", op()), ("carol", Member::default())];
        let topic = Some(Topic { text: "t".into(), by: "bob".into(), at: 7 });
        assert_eq!(out.last(), Some(&deliver(ann, state("#Big", topic, &members))));
        assert_eq!(t.cmd(ann, say("#big", "hi")), vec![err(ann, HubError::Room(RoomError::CannotSend))], "+m there");
        let _ = t.input(Input::NodeGone { node: TWO });
        assert_eq!(t.hub.rooms(ann, Some("#big"))[0].count, 1);
        let _ = t.input(Input::Disconnected { session: ann });
        assert_eq!(t.hub.room_count(), 0);
    }
}

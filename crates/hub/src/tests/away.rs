//! Away: a session says it is away (and back); who watches presence is told, who writes to it
//! is told its message, and in a cluster every node knows who is away on the others.

use super::*;
use crate::cluster::Node;

fn away(message: &str) -> Command {
    Command::Away { message: Some(message.into()) }
}

fn news(name: &str, message: Option<&str>) -> Event {
    Event::Away { name: name.into(), message: message.map(Into::into) }
}

#[test]
fn watchers_are_told_who_is_away_and_back_and_a_writer_its_message() {
    let mut t = t();
    let ann = t.join(Protocol::Web, "ann");
    let bob = t.join(Protocol::Irc, "bob");
    let carol = t.join(Protocol::ChatOs, "carol");
    assert_eq!(
        t.cmd(bob, away("  at lunch\r\n")),
        vec![ok(bob), Output::Broadcast { to: vec![ann], event: news("bob", Some("at lunch")) }]
    );
    assert_eq!(t.hub.away_of("BOB"), Some("at lunch"));
    assert_eq!(t.hub.aways(), vec![("bob".to_owned(), "at lunch".to_owned())]);
    // Saying it again is no news.
    assert_eq!(t.cmd(bob, away("at lunch")), vec![ok(bob)]);
    // Who writes to bob, on any protocol, hears that he is away after the message went.
    assert_eq!(
        t.cmd(carol, dm("bob", "there?")),
        vec![
            ok(carol),
            deliver(bob, Event::Direct { from: "carol".into(), to: "bob".into(), text: "there?".into() }),
            deliver(carol, Event::IsAway { name: "bob".into(), message: "at lunch".into() }),
        ]
    );
    // A message nobody gets tells nothing of away.
    assert_eq!(t.cmd(carol, dm("nobody", "hi")), vec![err(carol, HubError::Unreachable)]);
    // Back: a message of nothing but spaces is none.
    assert_eq!(
        t.cmd(bob, Command::Away { message: Some("  ".into()) }),
        vec![ok(bob), Output::Broadcast { to: vec![ann], event: news("bob", None) }]
    );
    assert_eq!(t.hub.away_of("bob"), None);
    assert_eq!(t.cmd(carol, dm("bob", "ah")).len(), 2, "not away any more");
    // Away goes with the session.
    t.cmd(ann, away("gone fishing"));
    t.input(Input::Disconnected { session: ann });
    assert_eq!(t.hub.aways(), vec![]);
    // Who is not signed in is not away.
    let s = t.connect();
    assert_eq!(t.cmd(s, away("x")), vec![err(s, HubError::NotLoggedIn)]);
}

#[test]
fn every_node_knows_who_is_away_on_the_others_until_they_leave() {
    let config = Config { cluster: true, ..config() };
    let mut one = T { hub: Hub::new(config.clone(), Instant::now()), now: Instant::now(), next: 0 };
    let mut two = T { hub: Hub::new(config, Instant::now()), now: Instant::now(), next: 0 };
    const ONE: Node = Node(1);
    let ann = one.connect_as(Protocol::Irc, HOME);
    one.cmd(ann, Command::Login { name: "ann".into(), verified: false });
    one.input(Input::Claimed { session: ann, result: Ok(()) });
    // Ann's node publishes that she is away.
    assert_eq!(
        one.cmd(ann, away("brb")),
        vec![ok(ann), Output::Away { name: "ann".into(), message: Some("brb".into()) }]
    );
    // News of a name the node does not hold (yet) is dropped.
    let said = Input::Away { node: ONE, name: "ANN".into(), message: Some("brb".into()) };
    assert_eq!(two.input(said.clone()), vec![]);
    assert_eq!(two.hub.away_of("ann"), None);
    let bob = two.connect_as(Protocol::Irc, HOME);
    two.cmd(bob, Command::Login { name: "bob".into(), verified: false });
    two.input(Input::Claimed { session: bob, result: Ok(()) });
    two.input(Input::Joined {
        node: ONE,
        name: "ann".into(),
        door: Protocol::Irc.door(),
        caps: Protocol::Irc.caps(),
        was: None,
    });
    // Only the node that holds the name says it.
    assert_eq!(two.input(Input::Away { node: Node(3), name: "ann".into(), message: None }), vec![]);
    assert_eq!(two.input(said.clone()), vec![Output::Broadcast { to: vec![bob], event: news("ann", Some("brb")) }]);
    assert_eq!(two.hub.away_of("ann"), Some("brb"));
    // Who writes to her there is told at once, as an IRC server does, while the message goes.
    let out = two.cmd(bob, dm("ann", "hi"));
    assert!(matches!(out[0], Output::Forward { node: ONE, .. }), "{out:?}");
    assert_eq!(out[1..], [deliver(bob, Event::IsAway { name: "ann".into(), message: "brb".into() })]);
    // A node that comes up is told who is away here.
    assert_eq!(
        one.input(Input::NodeUp { node: Node(3) }),
        vec![Output::Away { name: "ann".into(), message: Some("brb".into()) }]
    );
    // She leaves: she is away nowhere.
    two.input(Input::Left { node: ONE, name: "ann".into() });
    assert_eq!(two.hub.away_of("ann"), None);
    assert_eq!(two.hub.aways(), vec![]);
}

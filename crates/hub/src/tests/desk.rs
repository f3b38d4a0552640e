//! The support desk: rings, operators, conversations, probes.

use super::*;

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

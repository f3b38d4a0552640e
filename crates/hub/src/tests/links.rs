//! Private links: relayed ones (ChatOS) and brokered ones (ChatHack).

use super::*;

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

//! The cluster: logins as claims, the directory of what other nodes hold, the lobby published
//! once, and direct messages forwarded to the node of their recipient, which answers. Two
//! hubs, and the test does what the bus would between them.

use super::*;

/// A hub that is a node of a cluster.
fn node() -> T {
    T { hub: Hub::new(Config { cluster: true, ..config() }, Instant::now()), now: Instant::now(), next: 0 }
}

const ONE: Node = Node(1);
const TWO: Node = Node(2);

impl T {
    /// Logs `name` in on `protocol`, the cluster granting the claim.
    fn claim(&mut self, protocol: Protocol, name: &str) -> SessionId {
        let s = self.connect_as(protocol, HOME);
        let out = self.cmd(s, Command::Login { name: name.into(), verified: false });
        assert_eq!(out, vec![Output::Claim { session: s, name: name.into(), was: None }]);
        let out = self.input(Input::Claimed { session: s, result: Ok(()) });
        assert_eq!(out.first(), Some(&ok(s)));
        s
    }

    /// Another node holds `name`.
    fn elsewhere(&mut self, node: Node, protocol: Protocol, name: &str) -> Vec<Output> {
        self.input(Input::Joined { node, name: name.into(), door: protocol.door(), caps: protocol.caps(), was: None })
    }
}

#[test]
fn a_login_is_answered_once_the_cluster_answers_its_claim() {
    let mut t = node();
    let web = t.claim(Protocol::Web, "watcher");
    let a = t.connect();
    assert_eq!(
        t.cmd(a, Command::Login { name: "alice".into(), verified: false }),
        vec![Output::Claim { session: a, name: "alice".into(), was: None }]
    );
    // Held here meanwhile: nobody else here may take it, or a look-alike.
    let b = t.connect();
    assert_eq!(t.cmd(b, Command::Login { name: "ALICE".into(), verified: false }), vec![err(b, HubError::NameTaken)]);
    assert_eq!(
        t.cmd(b, Command::Login { name: "\u{430}lice".into(), verified: false }),
        vec![err(b, HubError::NameTaken)]
    );
    // Nor is the claiming session reachable by it yet.
    let dm = Command::Direct { sender: Some("watcher".into()), to: "alice".into(), text: "hi".into() };
    assert_eq!(t.cmd(web, dm), vec![err(web, HubError::Unreachable)]);
    assert_eq!(
        t.input(Input::Claimed { session: a, result: Ok(()) }),
        vec![ok(a), Output::Broadcast { to: vec![web], event: presence("alice", Protocol::ChatOs, true) }]
    );
    // Refused: another node got it first; the name is free here again.
    let c = t.connect();
    assert_eq!(
        t.cmd(c, Command::Login { name: "carol".into(), verified: false }),
        vec![Output::Claim { session: c, name: "carol".into(), was: None }]
    );
    assert_eq!(
        t.input(Input::Claimed { session: c, result: Err(HubError::NameTaken) }),
        vec![err(c, HubError::NameTaken)]
    );
    let c2 = t.connect();
    assert_eq!(
        t.cmd(c2, Command::Login { name: "carol".into(), verified: false }),
        vec![Output::Claim { session: c2, name: "carol".into(), was: None }]
    );
}

#[test]
fn a_session_that_leaves_releases_its_claim_whether_answered_or_not() {
    let mut t = node();
    let a = t.connect();
    t.cmd(a, Command::Login { name: "alice".into(), verified: false });
    assert_eq!(t.input(Input::Disconnected { session: a }), vec![Output::Release { session: a, name: "alice".into() }]);
    // The claim's late answer changes nothing.
    assert_eq!(t.input(Input::Claimed { session: a, result: Ok(()) }), vec![]);
    let b = t.claim(Protocol::ChatOs, "bob");
    assert_eq!(t.input(Input::Disconnected { session: b }), vec![Output::Release { session: b, name: "bob".into() }]);
    // A session whose claim the cluster says it lost is closed, and releases nothing of
    // another's (the I/O layer releases only a claim that is still this node's).
    let c = t.claim(Protocol::Jpc, "carol");
    assert_eq!(
        t.input(Input::Lost { session: c }),
        vec![
            deliver(c, Event::Closing),
            Output::Close { session: c },
            Output::Release { session: c, name: "carol".into() }
        ]
    );
}

#[test]
fn names_held_elsewhere_are_refused_here_and_seen_come_and_go() {
    let mut t = node();
    let web = t.claim(Protocol::Web, "watcher");
    assert_eq!(
        t.elsewhere(TWO, Protocol::Jpc, "Lindsay"),
        vec![Output::Broadcast { to: vec![web], event: presence("Lindsay", Protocol::Jpc, true) }]
    );
    let a = t.connect();
    for name in ["lindsay", "LINDSAY", "l\u{456}ndsay"] {
        assert_eq!(t.cmd(a, Command::Login { name: name.into(), verified: true }), vec![err(a, HubError::NameTaken)]);
    }
    assert_eq!(t.hub.roster(), vec![("watcher".into(), "web"), ("Lindsay".into(), "jpc")]);
    // Only the node that holds it lets it go.
    assert_eq!(t.input(Input::Left { node: ONE, name: "lindsay".into() }), vec![]);
    assert_eq!(
        t.input(Input::Left { node: TWO, name: "lindsay".into() }),
        vec![Output::Broadcast { to: vec![web], event: presence("Lindsay", Protocol::Jpc, false) }]
    );
    assert_eq!(
        t.cmd(a, Command::Login { name: "lindsay".into(), verified: true }),
        vec![Output::Claim { session: a, name: "lindsay".into(), was: None }]
    );
    // A node that is gone holds nothing.
    t.elsewhere(TWO, Protocol::ChatOs, "x");
    t.elsewhere(TWO, Protocol::ChatOs, "y");
    t.elsewhere(ONE, Protocol::ChatOs, "z");
    let out = t.input(Input::NodeGone { node: TWO });
    assert_eq!(
        out,
        vec![
            Output::Broadcast { to: vec![web], event: presence("x", Protocol::ChatOs, false) },
            Output::Broadcast { to: vec![web], event: presence("y", Protocol::ChatOs, false) },
        ]
    );
    assert_eq!(t.hub.roster(), vec![("watcher".into(), "web"), ("z".into(), "chatos")]);
}

#[test]
fn the_lobby_is_published_once_and_each_node_hands_it_to_its_own() {
    let mut t = node();
    let a = t.claim(Protocol::ChatOs, "a");
    let b = t.claim(Protocol::ChatOs, "b");
    let peer = t.claim(Protocol::PeerChat, "ann@mesh");
    let lobby = |from: &str, text: &str| Event::Lobby { from: from.into(), text: text.into() };
    assert_eq!(
        t.cmd(a, Command::Lobby { sender: "a".into(), text: "hi".into() }),
        vec![
            ok(a),
            Output::Publish { from: "a".into(), text: "hi".into(), mesh: false },
            Output::Broadcast { to: vec![b, peer], event: lobby("a", "hi") },
        ]
    );
    // From another node: everyone here, but a mesh's message never back into a mesh.
    assert_eq!(
        t.input(Input::Lobby { from: "x".into(), text: "yo".into(), mesh: false }),
        vec![Output::Broadcast { to: vec![a, b, peer], event: lobby("x", "yo") }]
    );
    assert_eq!(
        t.input(Input::Lobby { from: "bo@mesh".into(), text: "hey".into(), mesh: true }),
        vec![Output::Broadcast { to: vec![a, b], event: lobby("bo@mesh", "hey") }]
    );
}

#[test]
fn a_direct_message_goes_to_the_node_of_its_recipient_which_answers() {
    let (mut one, mut two) = (node(), node());
    let ann = one.claim(Protocol::Web, "ann");
    let bob = two.claim(Protocol::ChatOs, "bob");
    one.elsewhere(TWO, Protocol::ChatOs, "bob");
    let dm = |to: &str| Command::Direct { sender: Some("ann".into()), to: to.into(), text: "yo".into() };
    let kept = Kept { sender_guest: Some(ann), ..kept("ann", Some("bob"), false, "yo") };
    assert_eq!(
        one.cmd(ann, dm("BOB")),
        vec![Output::Forward { node: TWO, id: 1, command: Remote::Direct(kept.clone()) }]
    );
    let out = two.all_input(Input::Remote { node: ONE, id: 1, command: Remote::Direct(kept.clone()) });
    assert_eq!(
        out,
        vec![
            Output::Keep(Kept { recipient_guest: Some(bob), ..kept.clone() }),
            deliver(bob, Event::Direct { from: "ann".into(), to: "bob".into(), text: "yo".into() }),
            Output::Answer { node: ONE, id: 1, result: Ok(()) },
        ]
    );
    // The answer is the sender's, and a web page gets what it sent back.
    assert_eq!(
        one.input(Input::Answer { id: 1, result: Ok(()) }),
        vec![ok(ann), deliver(ann, Event::Direct { from: "ann".into(), to: "bob".into(), text: "yo".into() })]
    );
    // Bob left meanwhile: the other node says so, in the sender's protocol's words here.
    one.cmd(ann, dm("bob"));
    two.input(Input::Disconnected { session: bob });
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: 2, command: Remote::Direct(kept.clone()) }),
        vec![Output::Answer { node: ONE, id: 2, result: Err(HubError::Unreachable) }]
    );
    assert_eq!(
        one.input(Input::Answer { id: 2, result: Err(HubError::Unreachable) }),
        vec![err(ann, HubError::Unreachable)]
    );
    // A protocol that cannot carry it is refused at once, as here.
    one.elsewhere(TWO, Protocol::ChatHack, "hack");
    assert_eq!(one.cmd(ann, dm("hack")), vec![err(ann, HubError::Unreachable)]);
}

#[test]
fn a_message_for_an_account_that_left_that_node_is_queued_there_and_answered_once_stored() {
    let mut two = node();
    two.input(Input::Reserved { names: vec!["lindsay".into()] });
    let kept = kept("ann", Some("lindsay"), true, "aW1n");
    assert_eq!(
        two.all_input(Input::Remote { node: ONE, id: 7, command: Remote::Direct(kept.clone()) }),
        vec![Output::Queue { kept, reply: Some(ReplyTo::Node(ONE, 7)) }]
    );
}

#[test]
fn a_forwarded_command_fails_when_its_node_goes_or_does_not_answer_in_time() {
    let mut t = node();
    let ann = t.claim(Protocol::ChatOs, "ann");
    t.elsewhere(TWO, Protocol::ChatOs, "bob");
    t.elsewhere(Node(3), Protocol::ChatOs, "carol");
    let dm = |to: &str| Command::Direct { sender: Some("ann".into()), to: to.into(), text: "yo".into() };
    assert!(matches!(t.cmd(ann, dm("bob"))[..], [Output::Forward { node: TWO, .. }]));
    assert!(matches!(t.cmd(ann, dm("carol"))[..], [Output::Forward { node: Node(3), .. }]));
    assert_eq!(
        t.input(Input::NodeGone { node: TWO }),
        vec![err(ann, HubError::Unreachable)],
        "bob is gone with his node, and the message was never answered"
    );
    t.now += Duration::from_secs(10);
    assert_eq!(t.input(Input::Tick), vec![err(ann, HubError::Unreachable)]);
    // A late answer changes nothing.
    assert_eq!(t.input(Input::Answer { id: 2, result: Ok(()) }), vec![]);
}

#[test]
fn typing_crosses_to_a_node_whose_session_shows_it() {
    let (mut one, mut two) = (node(), node());
    let ann = one.claim(Protocol::Web, "ann");
    let bob = two.claim(Protocol::Web, "bob");
    one.elsewhere(TWO, Protocol::Web, "Bob");
    let typing = Remote::Typing { from: "ann".into(), to: "Bob".into(), active: true };
    assert_eq!(
        one.cmd(ann, Command::Typing { to: "bob".into(), active: true }),
        vec![ok(ann), Output::Forward { node: TWO, id: 0, command: typing.clone() }]
    );
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: 0, command: typing }),
        vec![deliver(bob, Event::Typing { from: "ann".into(), to: "bob".into(), active: true })]
    );
    // Not to a protocol that does not show it: quietly, as here.
    one.elsewhere(TWO, Protocol::ChatOs, "os");
    assert_eq!(one.cmd(ann, Command::Typing { to: "os".into(), active: true }), vec![ok(ann)]);
    assert_eq!(
        one.cmd(ann, Command::Typing { to: "nobody".into(), active: true }),
        vec![err(ann, HubError::Unreachable)]
    );
}

#[test]
fn what_a_session_sends_while_its_claim_is_asked_runs_once_it_is_answered() {
    let mut t = node();
    let bob = t.claim(Protocol::ChatOs, "bob");
    // A JPC device says HELLO and its first message at once: the message waits for the claim.
    let d = t.connect_as(Protocol::Jpc, HOME);
    assert_eq!(
        t.cmd(d, Command::Login { name: "lindsay".into(), verified: true }),
        vec![Output::Claim { session: d, name: "lindsay".into(), was: None }]
    );
    let dm = Command::Direct { sender: None, to: "bob".into(), text: "first".into() };
    assert_eq!(t.cmd(d, dm), vec![]);
    let out = t.input(Input::Claimed { session: d, result: Ok(()) });
    let sent = deliver(bob, Event::Direct { from: "lindsay".into(), to: "bob".into(), text: "first".into() });
    assert_eq!(out.first(), Some(&ok(d)));
    assert!(out.contains(&sent), "{out:?}");
    // Refused: what it sent is answered as before any login.
    let e = t.connect_as(Protocol::Jpc, HOME);
    t.cmd(e, Command::Login { name: "pc".into(), verified: true });
    t.cmd(e, Command::Direct { sender: None, to: "bob".into(), text: "x".into() });
    assert_eq!(
        t.input(Input::Claimed { session: e, result: Err(HubError::NameTaken) }),
        vec![err(e, HubError::NameTaken), err(e, HubError::NotLoggedIn)]
    );
}

#[test]
fn a_private_link_between_nodes_is_asked_accepted_and_bridged_by_both() {
    // Node one has A, node two B; the test carries what the bus would.
    let (mut one, mut two) = (node(), node());
    let a = one.claim(Protocol::ChatOs, "a");
    let b = two.claim(Protocol::ChatOs, "b");
    one.elsewhere(TWO, Protocol::ChatOs, "b");
    two.elsewhere(ONE, Protocol::ChatOs, "a");
    let k = key("a", "b", 7);
    // A asks: the ask goes to node two, A's answer waits for it.
    let out = one.cmd(a, Command::LinkAsk(k.clone()));
    let [Output::Forward { node: TWO, id, command }] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(command, &Remote::LinkAsk { key: k.clone(), tag: 1 });
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: *id, command: command.clone() }),
        vec![deliver(b, Event::LinkAsked(k.clone())), Output::Answer { node: ONE, id: *id, result: Ok(()) }]
    );
    assert_eq!(one.input(Input::Answer { id: *id, result: Ok(()) }), vec![ok(a)]);
    // B accepts on a new connection to its node: parked, bridged, and A is told by node one.
    let b_link = two.connect();
    let out = two.cmd(b_link, Command::LinkAccept(k.clone()));
    assert_eq!(
        out,
        vec![
            ok(b_link),
            Output::Forward { node: ONE, id: 0, command: Remote::LinkAccepted { key: k.clone() } },
            Output::Park { session: b_link, link: LinkId(1) },
            Output::Bridge { link: LinkId(1), node: ONE, home: false, tag: 1 },
        ]
    );
    assert_eq!(
        one.input(Input::Remote { node: TWO, id: 0, command: Remote::LinkAccepted { key: k.clone() } }),
        vec![deliver(a, Event::LinkAccepted(k.clone()))]
    );
    let a_link = one.connect();
    assert_eq!(
        one.cmd(a_link, Command::LinkConnect(k.clone())),
        vec![
            ok(a_link),
            Output::Park { session: a_link, link: LinkId(1) },
            Output::Bridge { link: LinkId(1), node: TWO, home: true, tag: 1 },
        ]
    );
    // The relay ends on each node by itself.
    assert_eq!(one.input(Input::LinkClosed { link: LinkId(1) }), vec![]);
    assert_eq!(two.input(Input::LinkClosed { link: LinkId(1) }), vec![]);
    one.hub.check_invariants().unwrap();
    two.hub.check_invariants().unwrap();
}

#[test]
fn a_link_between_nodes_is_refused_or_aborted_across_them() {
    let (mut one, mut two) = (node(), node());
    let a = one.claim(Protocol::ChatOs, "a");
    let b = two.claim(Protocol::ChatOs, "b");
    one.elsewhere(TWO, Protocol::ChatOs, "b");
    let k = key("a", "b", 7);
    // Refused there (B left meanwhile, say): A hears the error, then TCPAbort.
    let out = one.cmd(a, Command::LinkAsk(k.clone()));
    let [Output::Forward { id, .. }] = out.as_slice() else { panic!("{out:?}") };
    assert_eq!(
        one.input(Input::Answer { id: *id, result: Err(HubError::Unreachable) }),
        vec![err(a, HubError::Unreachable), deliver(a, Event::LinkAborted(k.clone()))]
    );
    // Asked again, then A withdraws: node two is told, and tells B.
    let out = one.cmd(a, Command::LinkAsk(k.clone()));
    let [Output::Forward { id, command, .. }] = out.as_slice() else { panic!("{out:?}") };
    two.input(Input::Remote { node: ONE, id: *id, command: command.clone() });
    one.input(Input::Answer { id: *id, result: Ok(()) });
    let out = one.cmd(a, Command::LinkAbort(k.clone()));
    assert!(
        out.contains(&Output::Forward { node: TWO, id: 0, command: Remote::LinkAborted { key: k.clone() } }),
        "{out:?}"
    );
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: 0, command: Remote::LinkAborted { key: k.clone() } }),
        vec![deliver(b, Event::LinkAborted(k.clone()))]
    );
    // A node that goes takes its links with it.
    let out = one.cmd(a, Command::LinkAsk(k.clone()));
    let [Output::Forward { id, .. }] = out.as_slice() else { panic!("{out:?}") };
    one.input(Input::Answer { id: *id, result: Ok(()) });
    let out = one.input(Input::NodeGone { node: TWO });
    assert!(out.contains(&deliver(a, Event::LinkAborted(k.clone()))), "{out:?}");
    one.hub.check_invariants().unwrap();
    two.hub.check_invariants().unwrap();
}

#[test]
fn the_desk_rings_operators_on_other_nodes_and_the_conversation_crosses() {
    let (mut one, mut two) = (node(), node());
    let ann = one.claim(Protocol::ChatOs, "ann");
    // An operator on node two: node one hears of it.
    let op = two.connect_as(Protocol::Nl, HOME);
    let out = two.cmd(op, Command::OperatorKey { uuid: "op-2".into() });
    assert!(out.contains(&Output::DeskNews(DeskNews::Operators { count: 1 })), "{out:?}");
    assert!(!one.hub.desk_open());
    one.input(Input::DeskNews { node: TWO, news: DeskNews::Operators { count: 1 } });
    assert!(one.hub.desk_open() && one.hub.desk_operators() == 0, "open, by another node's operator");
    // Ann rings: the ring is node one's, and goes to every node.
    let expires_in = Duration::from_secs(60);
    let out = one.cmd(ann, dm("support", "help!"));
    assert!(out.contains(&Output::DeskNews(DeskNews::Ring { id: 1, expires_in })), "{out:?}");
    assert_eq!(
        two.input(Input::DeskNews { node: ONE, news: DeskNews::Ring { id: 1, expires_in } }),
        vec![Output::Broadcast { to: vec![op], event: Event::Desk(DeskEvent::Ring { id: 1, expires_in }) }]
    );
    // The operator answers: its node asks Ann's, where the first answer wins.
    let out = two.cmd(op, Command::RingAck { id: 1, echo: "1".into() });
    let [Output::Forward { node: ONE, id, command }] = out.as_slice() else { panic!("{out:?}") };
    let out = one.input(Input::Remote { node: TWO, id: *id, command: command.clone() });
    let joined =
        Remote::DeskJoined { op: op.0, user: "ann".into(), texts: vec!["help!".into()], id: 1, echo: "1".into() };
    assert!(out.contains(&Output::Forward { node: TWO, id: 0, command: joined.clone() }), "{out:?}");
    assert!(out.contains(&Output::DeskNews(DeskNews::RingOver { id: 1, winner: "op-2".into() })), "{out:?}");
    assert!(out.contains(&from_support(ann, "ann", notice::JOINED)), "{out:?}");
    assert!(out.contains(&Output::Answer { node: TWO, id: *id, result: Ok(()) }), "{out:?}");
    // A second answer to the same ring is too late.
    let late = Remote::RingAck { id: 1, op: 99, uuid: "op-3".into(), echo: "1".into() };
    assert_eq!(
        one.input(Input::Remote { node: TWO, id: 77, command: late }),
        vec![Output::Answer { node: TWO, id: 77, result: Err(HubError::NoSuchLink) }]
    );
    let won = Event::Desk(DeskEvent::RingAckAck { id: 1, echo: Some("1".into()), winner: "op-2".into() });
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: 0, command: joined }),
        vec![deliver(op, won), deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec!["help!".into()] }))]
    );
    assert_eq!(two.input(Input::Answer { id: *id, result: Ok(()) }), vec![ok(op)]);
    // Both ways.
    let out = one.cmd(ann, dm("support", "thanks"));
    let wrote = Remote::DeskWrote { op: op.0, texts: vec!["thanks".into()] };
    assert!(out.contains(&Output::Forward { node: TWO, id: 0, command: wrote.clone() }), "{out:?}");
    assert_eq!(
        two.input(Input::Remote { node: ONE, id: 0, command: wrote }),
        vec![deliver(op, Event::Desk(DeskEvent::UserWrote { texts: vec!["thanks".into()] }))]
    );
    let out = two.cmd(op, Command::DeskMsg { texts: vec!["hello".into()] });
    let [_, Output::Forward { node: ONE, id: 0, command }] = out.as_slice() else { panic!("{out:?}") };
    let out = one.input(Input::Remote { node: TWO, id: 0, command: command.clone() });
    assert!(out.contains(&from_support(ann, "ann", "hello")), "{out:?}");
    // The operator ends it: Ann is told on her node.
    let out = two.cmd(op, Command::Disassociate);
    let end = Remote::DeskEnd { user: "ann".into(), notice: notice::ENDED.into() };
    assert!(out.contains(&Output::Forward { node: ONE, id: 0, command: end.clone() }), "{out:?}");
    assert_eq!(
        one.input(Input::Remote { node: TWO, id: 0, command: end }),
        vec![from_support(ann, "ann", notice::ENDED)]
    );
    one.hub.check_invariants().unwrap();
    two.hub.check_invariants().unwrap();
}

#[test]
fn a_message_queued_by_another_node_for_a_name_held_here_is_handed_over() {
    let mut t = node();
    // Everything out, fetches of queues included.
    let all = |t: &mut T, input: Input| {
        t.hub.handle(t.now, input);
        t.all()
    };
    let d = t.connect_as(Protocol::Jpc, HOME);
    t.cmd(d, Command::Login { name: "lindsay".into(), verified: true });
    let out = all(&mut t, Input::Claimed { session: d, result: Ok(()) });
    let fetch = Output::FetchOffline { session: d, name: "lindsay".into(), images: true, delivered: None };
    assert!(out.contains(&fetch), "{out:?}");
    // The queue was empty at login: the drain ends.
    assert_eq!(all(&mut t, Input::Offline { session: d, queued: vec![] }), vec![]);
    // Another node, which did not know yet that lindsay is here, queued a message for it.
    assert_eq!(all(&mut t, Input::Queued { name: "Lindsay".into() }), vec![fetch.clone()]);
    // While that fetch is out, another: asked again behind it rather than lost.
    assert_eq!(all(&mut t, Input::Queued { name: "lindsay".into() }), vec![]);
    assert_eq!(all(&mut t, Input::Offline { session: d, queued: vec![] }), vec![fetch]);
    assert_eq!(all(&mut t, Input::Offline { session: d, queued: vec![] }), vec![]);
    // Nobody here holds it, or a guest does: nothing.
    assert_eq!(all(&mut t, Input::Queued { name: "ghost".into() }), vec![]);
    t.claim(Protocol::ChatOs, "guest");
    assert_eq!(all(&mut t, Input::Queued { name: "guest".into() }), vec![]);
}

#[test]
fn a_look_alike_held_on_two_nodes_at_once_keeps_its_look_until_both_let_go() {
    // The bucket's claims are by skeleton, so two look-alikes are held at once only for a
    // moment (a name changing hands); the hub's tables count both, and the invariants,
    // checked after every input, hold throughout.
    let mut t = node();
    t.elsewhere(TWO, Protocol::Jpc, "lindsay");
    t.elsewhere(ONE, Protocol::ChatOs, "l\u{456}ndsay");
    t.input(Input::Left { node: TWO, name: "lindsay".into() });
    let a = t.connect();
    assert_eq!(t.cmd(a, Command::Login { name: "lindsay".into(), verified: false }), vec![err(a, HubError::NameTaken)]);
    t.input(Input::Left { node: ONE, name: "l\u{456}ndsay".into() });
    assert_eq!(
        t.cmd(a, Command::Login { name: "lindsay".into(), verified: false }),
        vec![Output::Claim { session: a, name: "lindsay".into(), was: None }]
    );
    // The same name moving from one node to another is one entry.
    t.elsewhere(TWO, Protocol::Jpc, "Zed");
    t.elsewhere(ONE, Protocol::Jpc, "zed");
    assert_eq!(t.hub.roster().iter().filter(|(name, _)| name.eq_ignore_ascii_case("zed")).count(), 1);
    assert_eq!(t.input(Input::Left { node: TWO, name: "zed".into() }), vec![]);
}

#[test]
fn a_name_held_elsewhere_costs_the_hub_few_bytes() {
    // Every node has one for every name held on any other: the name on the heap, once.
    let size = std::mem::size_of::<crate::cluster::Held>();
    assert!(size <= 24, "a name held elsewhere is {size} bytes");
}

#[test]
fn the_lobby_roster_names_who_hears_the_lobby_on_every_node() {
    let mut t = node();
    let _ = t.elsewhere(TWO, Protocol::ChatOs, "bob");
    let _ = t.elsewhere(TWO, Protocol::Jpc, "lindsay");
    let _ = t.claim(Protocol::ChatHack, "carol");
    let irc = t.connect_as(Protocol::Irc, HOME);
    let out = t.cmd(irc, Command::Login { name: "ann".into(), verified: false });
    assert_eq!(out, vec![Output::Claim { session: irc, name: "ann".into(), was: None }]);
    assert_eq!(
        t.input(Input::Claimed { session: irc, result: Ok(()) }),
        vec![ok(irc), deliver(irc, Event::InLobby { names: vec!["carol".into(), "ann".into(), "bob".into()] })]
    );
    assert_eq!(
        t.elsewhere(ONE, Protocol::Web, "wendy"),
        vec![Output::Broadcast { to: vec![irc], event: presence("wendy", Protocol::Web, true) }]
    );
}

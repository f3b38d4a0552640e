//! What the hub keeps: history, the offline queue and its pages, identities.

use super::*;

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
    assert_eq!(out, vec![Output::Queue { kept: later, reply: Some(ReplyTo::Session(a, ANY)) }]);
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
    assert_eq!(
        t.cmd_all(a, meanwhile),
        vec![Output::Queue { kept: now.clone(), reply: Some(ReplyTo::Session(a, ANY)) }]
    );
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
fn a_page_that_cannot_be_read_is_no_end_of_the_queue_its_owner_is_told_once_and_it_is_asked_again() {
    let mut t = t();
    t.input(Input::Reserved { names: vec!["lindsay".into()] });
    let a = t.login("a");
    let dev = t.connect_as(Protocol::Web, HOME);
    let fetch = |delivered| Output::FetchOffline { session: dev, name: "lindsay".into(), images: true, delivered };
    assert_eq!(t.cmd_all(dev, Command::Login { name: "lindsay".into(), verified: true }), vec![ok(dev), fetch(None)]);
    let page = vec![Queued { id: 9, at_ms: 0, kept: kept("a", Some("lindsay"), false, "one") }];
    assert!(matches!(t.all_input(Input::Offline { session: dev, queued: page })[..], [Output::Page { .. }]));
    assert_eq!(t.all_input(Input::PageDelivered { session: dev, last: 9 }), vec![fetch(Some(9))]);
    // The next page fails: she is told, from support, and nothing else happens yet (her
    // page has no liveness to keep: time passes freely here).
    let told = from_support(dev, "lindsay", QUEUE_UNREADABLE);
    assert_eq!(t.all_input(Input::OfflineFailed { session: dev }), vec![told]);
    // What comes for her meanwhile still joins her queue, behind the rest.
    let out = t.cmd_all(a, dm("lindsay", "meanwhile"));
    assert!(matches!(out[..], [Output::Queue { reply: Some(_), .. }]), "{out:?}");
    // The same fetch (what was delivered comes out of the queue first) is asked again later,
    // twice as late after a second failure, which she is not told again.
    t.now += REFETCH_FIRST - Duration::from_millis(1);
    assert_eq!(t.all_input(Input::Tick), vec![]);
    t.now += Duration::from_millis(1);
    assert_eq!(t.all_input(Input::Tick), vec![fetch(Some(9))]);
    assert_eq!(t.all_input(Input::OfflineFailed { session: dev }), vec![]);
    t.now += REFETCH_FIRST * 2 - Duration::from_millis(1);
    assert_eq!(t.all_input(Input::Tick), vec![]);
    t.now += Duration::from_millis(1);
    assert_eq!(t.all_input(Input::Tick), vec![fetch(Some(9))]);
    // It reads: the drain goes on, and ends with the queue.
    let page = vec![Queued { id: 12, at_ms: 0, kept: kept("a", Some("lindsay"), false, "meanwhile") }];
    assert!(matches!(t.all_input(Input::Offline { session: dev, queued: page })[..], [Output::Page { .. }]));
    assert_eq!(t.all_input(Input::PageDelivered { session: dev, last: 12 }), vec![fetch(Some(12))]);
    assert_eq!(t.all_input(Input::Offline { session: dev, queued: vec![] }), vec![]);
    assert_eq!(t.cmd(a, dm("lindsay", "live"))[0], ok(a));
    // Gone while a fetch waits to be asked again: it is not.
    t.input(Input::Disconnected { session: dev });
    let dev2 = t.connect_as(Protocol::Web, HOME);
    t.cmd_all(dev2, Command::Login { name: "lindsay".into(), verified: true });
    t.all_input(Input::OfflineFailed { session: dev2 });
    t.input(Input::Disconnected { session: dev2 });
    t.now += REFETCH_FIRST;
    assert_eq!(t.all_input(Input::Tick), vec![]);
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
    assert_eq!(out, vec![queue("one", None), queue("two", Some(ReplyTo::Session(op, ANY)))]);
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

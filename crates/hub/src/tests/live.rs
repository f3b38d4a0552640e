//! Liveness and the login timeout: sessions that must be heard from, or log in in time.

use super::*;

#[test]
fn jpc_sessions_are_pinged_and_closed_when_silent() {
    let mut t = t();
    let dev = t.login_jpc("lindsay");
    let _os = t.login("os");
    t.now += Duration::from_millis(1999);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_millis(1);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Ping)]);
    // Heard from: the silence starts again.
    t.now += Duration::from_secs(4);
    assert_eq!(t.cmd(dev, Command::Alive), vec![ok(dev)]);
    t.now += Duration::from_secs(4);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Ping)]);
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), vec![deliver(dev, Event::Closing), Output::Close { session: dev }]);
    assert_eq!(t.hub.session_count(), 1, "the silent one is gone, its name free");
    // ChatOS has no liveness: never pinged.
    t.now += Duration::from_secs(60);
    assert_eq!(t.input(Input::Tick), vec![]);
}

#[test]
fn a_connection_that_does_not_log_in_in_time_is_closed() {
    let mut t =
        T { hub: Hub::new(Config { login_timeout: Duration::from_secs(3), ..config() }, Instant::now()), ..t() };
    let silent = t.connect();
    let named = t.connect();
    t.login_session(named, "ann");
    let hack = t.connect_as(Protocol::ChatHack, HOME);
    let operator = t.connect_as(Protocol::Nl, HOME);
    t.cmd(operator, Command::OperatorKey { uuid: "u".into() });
    t.now += Duration::from_secs(2);
    let late = t.connect();
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(1);
    // Three seconds without a name: closed. The named one and the operator stay.
    let closed = |s| [deliver(s, Event::Closing), Output::Close { session: s }];
    assert_eq!(t.input(Input::Tick), [closed(silent), closed(hack)].concat());
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), vec![]);
    t.now += Duration::from_secs(1);
    assert_eq!(t.input(Input::Tick), closed(late));
    assert_eq!(t.hub.session_count(), 2);
}

#[test]
fn login_deadlines_that_are_met_are_not_kept_for_the_timeout() {
    let mut t = t();
    // A burst that logs in in turn leaves no deadline behind.
    for i in 0..300 {
        let s = t.connect();
        t.login_session(s, &format!("u{i}"));
    }
    assert_eq!(t.hub.login_deadlines(), 0);
    // One that has not logged in keeps its own and those behind it, until it does.
    let (slow, quick) = (t.connect(), t.connect());
    t.login_session(quick, "quick");
    assert_eq!(t.hub.login_deadlines(), 2);
    t.login_session(slow, "slow");
    assert_eq!(t.hub.login_deadlines(), 0);
}

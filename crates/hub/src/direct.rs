//! The broker of ChatHack's direct links: A asks, B accepts (with an address, a port and an
//! id for A) or denies, and the hub passes each step on. The two clients then connect to each
//! other; the hub never sees their bytes. An ask waits at most the link timeout; an ask to a
//! client that leaves, or that expires, is answered "denied" so that A is not left waiting.
//!
//! In a cluster A and B may be on different nodes: A's node passes the ask to B's
//! (`Remote::DirectAsk`) and keeps it to deny if B's node goes or never answers; B's node
//! keeps it with A on the other node, and passes B's answer back (`Remote::DirectAnswer`).

use crate::cluster::Node;
use crate::timers::Due;
use crate::{fold, Caps, Event, Hub, HubError, Output, Remote, SessionId};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::time::Instant;

/// One side of an ask: a session here, or a name on another node.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Side {
    Here(SessionId),
    There(Node, String),
}

struct Ask {
    a: Side,
    b: Side,
    /// B's name as registered, for the "denied" A gets if B never answers.
    b_name: String,
    deadline: Instant,
}

/// Pending asks, by folded (A, B).
#[derive(Default)]
pub(crate) struct Asks {
    by_pair: FxHashMap<(String, String), Ask>,
}

impl Asks {
    /// When each pending ask runs out.
    pub(crate) fn deadlines(&self) -> impl Iterator<Item = Instant> + '_ {
        self.by_pair.values().map(|ask| ask.deadline)
    }
}

/// B's answer to an ask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Accept { port: i32, address: IpAddr, id: i64 },
    Deny,
}

impl Hub {
    /// A (`session`) asks `to` for a direct link. Refused: A also gets "denied", as if B had.
    pub(crate) fn direct_ask(
        &mut self,
        now: Instant,
        session: SessionId,
        me: String,
        to: String,
    ) -> Result<(), HubError> {
        let can = |c: Caps| c.direct_links;
        let deadline = now + self.config.link_timeout;
        if let Some((b, b_name)) = self.reachable(&to, can).filter(|(b, _)| *b != session) {
            let ask = Ask { a: Side::Here(session), b: Side::Here(b), b_name, deadline };
            self.asks.by_pair.insert((fold(&me), fold(&ask.b_name)), ask);
            self.timers.at(deadline, Due::Asks);
            self.deliver(b, Event::DirectAsked { from: me });
            return Ok(());
        }
        match self.elsewhere.holder(&to).filter(|h| h.caps().direct_links) {
            Some(h) => {
                let (node, b_name) = (h.node, h.name.to_string());
                let ask = Ask { a: Side::Here(session), b: Side::There(node, b_name.clone()), b_name, deadline };
                self.asks.by_pair.insert((fold(&me), fold(&ask.b_name)), ask);
                self.timers.at(deadline, Due::Asks);
                let command = Remote::DirectAsk { from: me, to };
                self.out.push_back(Output::Forward { node, id: 0, command });
                Ok(())
            }
            None => {
                self.deliver(session, Event::DirectDenied { from: to });
                Err(HubError::Unreachable)
            }
        }
    }

    /// A, on `node`, asks `to` here (`Remote::DirectAsk`).
    pub(crate) fn remote_direct_ask(&mut self, node: Node, from: String, to: String) {
        let Some((b, b_name)) = self.reachable(&to, |c| c.direct_links) else {
            let command = Remote::DirectAnswer { from: to, to: from, answer: Answer::Deny };
            self.out.push_back(Output::Forward { node, id: 0, command });
            return;
        };
        let deadline = self.now + self.config.link_timeout;
        let ask = Ask { a: Side::There(node, from.clone()), b: Side::Here(b), b_name, deadline };
        self.asks.by_pair.insert((fold(&from), fold(&ask.b_name)), ask);
        self.timers.at(deadline, Due::Asks);
        self.deliver(b, Event::DirectAsked { from });
    }

    /// B (`me`) answers the ask of `to`.
    pub(crate) fn direct_answer(&mut self, me: String, to: String, answer: Answer) -> Result<(), HubError> {
        let ask = self.asks.by_pair.remove(&(fold(&to), fold(&me))).ok_or(HubError::NoSuchLink)?;
        match ask.a {
            Side::Here(a) => {
                if self.sessions.contains_key(&a) {
                    self.deliver(a, answer_event(me, answer));
                }
            }
            Side::There(node, a_name) => {
                let command = Remote::DirectAnswer { from: me, to: a_name, answer };
                self.out.push_back(Output::Forward { node, id: 0, command });
            }
        }
        Ok(())
    }

    /// B, on `node`, answered A here (`Remote::DirectAnswer`).
    pub(crate) fn remote_direct_answer(&mut self, node: Node, from: String, to: String, answer: Answer) {
        let pair = (fold(&to), fold(&from));
        if !self.asks.by_pair.get(&pair).is_some_and(|ask| matches!(&ask.b, Side::There(n, _) if *n == node)) {
            return; // over already: A left, or it expired
        }
        let ask = self.asks.by_pair.remove(&pair).expect("just seen");
        if let Side::Here(a) = ask.a {
            if self.sessions.contains_key(&a) {
                self.deliver(a, answer_event(ask.b_name, answer));
            }
        }
    }

    /// Asks past their deadline are answered "denied".
    pub(crate) fn expire_asks(&mut self, now: Instant) {
        self.deny_asks(|ask| ask.deadline <= now);
    }

    /// `session` left: its own asks are dropped, asks to it are answered "denied".
    pub(crate) fn drop_asks(&mut self, session: SessionId) {
        self.asks.by_pair.retain(|_, ask| ask.a != Side::Here(session));
        self.deny_asks(|ask| ask.b == Side::Here(session));
    }

    /// Node `node` is gone: asks with it are over, A's answered "denied".
    pub(crate) fn asks_gone(&mut self, node: Node) {
        self.asks.by_pair.retain(|_, ask| !matches!(ask.a, Side::There(n, _) if n == node));
        self.deny_asks(|ask| matches!(ask.b, Side::There(n, _) if n == node));
    }

    fn deny_asks(&mut self, matches: impl Fn(&Ask) -> bool) {
        let mut gone: Vec<(Side, String)> = Vec::new();
        self.asks.by_pair.retain(|_, ask| {
            let keep = !matches(ask);
            if !keep {
                gone.push((ask.a.clone(), ask.b_name.clone()));
            }
            keep
        });
        gone.sort_by(|x, y| x.1.cmp(&y.1));
        for (a, from) in gone {
            match a {
                Side::Here(a) if self.sessions.contains_key(&a) => self.deliver(a, Event::DirectDenied { from }),
                Side::Here(_) => {}
                Side::There(node, to) => {
                    let command = Remote::DirectAnswer { from, to, answer: Answer::Deny };
                    self.out.push_back(Output::Forward { node, id: 0, command });
                }
            }
        }
    }
}

fn answer_event(from: String, answer: Answer) -> Event {
    match answer {
        Answer::Accept { port, address, id } => Event::DirectAccepted { from, port, address, id },
        Answer::Deny => Event::DirectDenied { from },
    }
}

impl Asks {
    /// Every pending ask's sides here exist, and one of them is here.
    pub(crate) fn check(&self, exists: impl Fn(SessionId) -> bool) -> Result<(), String> {
        for ask in self.by_pair.values() {
            for side in [&ask.a, &ask.b] {
                if let Side::Here(s) = side {
                    if !exists(*s) {
                        return Err(format!("a direct-link ask with {s:?}, who is gone"));
                    }
                }
            }
            if matches!((&ask.a, &ask.b), (Side::There(..), Side::There(..))) {
                return Err("a direct-link ask with neither side here".into());
            }
        }
        Ok(())
    }
}

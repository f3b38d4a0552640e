//! The broker of ChatHack's direct links: A asks, B accepts (with an address, a port and an
//! id for A) or denies, and the hub passes each step on. The two clients then connect to each
//! other; the hub never sees their bytes. An ask waits at most the link timeout; an ask to a
//! client that leaves, or that expires, is answered "denied" so that A is not left waiting.

use crate::{fold, Caps, Event, Hub, HubError, SessionId};
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::time::Instant;

struct Ask {
    a: SessionId,
    b: SessionId,
    /// B's name as registered, for the "denied" A gets if B never answers.
    b_name: String,
    deadline: Instant,
}

/// Pending asks, by folded (A, B).
#[derive(Default)]
pub(crate) struct Asks {
    by_pair: FxHashMap<(String, String), Ask>,
}

/// B's answer to an ask.
pub(crate) enum Answer {
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
        let Some((b, b_name)) = self.reachable(&to, can).filter(|(b, _)| *b != session) else {
            self.deliver(session, Event::DirectDenied { from: to });
            return Err(HubError::Unreachable);
        };
        let deadline = now + self.config.link_timeout;
        self.asks.by_pair.insert((fold(&me), fold(&b_name)), Ask { a: session, b, b_name, deadline });
        self.deliver(b, Event::DirectAsked { from: me });
        Ok(())
    }

    /// B (`me`) answers the ask of `to`.
    pub(crate) fn direct_answer(&mut self, me: String, to: String, answer: Answer) -> Result<(), HubError> {
        let ask = self.asks.by_pair.remove(&(fold(&to), fold(&me))).ok_or(HubError::NoSuchLink)?;
        let event = match answer {
            Answer::Accept { port, address, id } => Event::DirectAccepted { from: me, port, address, id },
            Answer::Deny => Event::DirectDenied { from: me },
        };
        if self.sessions.contains_key(&ask.a) {
            self.deliver(ask.a, event);
        }
        Ok(())
    }

    /// Asks past their deadline are answered "denied".
    pub(crate) fn expire_asks(&mut self, now: Instant) {
        self.deny_asks(|ask| ask.deadline <= now);
    }

    /// `session` left: its own asks are dropped, asks to it are answered "denied".
    pub(crate) fn drop_asks(&mut self, session: SessionId) {
        self.asks.by_pair.retain(|_, ask| ask.a != session);
        self.deny_asks(|ask| ask.b == session);
    }

    fn deny_asks(&mut self, matches: impl Fn(&Ask) -> bool) {
        let mut gone: Vec<(SessionId, String)> = Vec::new();
        self.asks.by_pair.retain(|_, ask| {
            let keep = !matches(ask);
            if !keep {
                gone.push((ask.a, ask.b_name.clone()));
            }
            keep
        });
        gone.sort();
        for (a, from) in gone {
            if self.sessions.contains_key(&a) {
                self.deliver(a, Event::DirectDenied { from });
            }
        }
    }
}

impl Asks {
    /// Every pending ask is between two sessions that exist.
    pub(crate) fn check(&self, exists: impl Fn(SessionId) -> bool) -> Result<(), String> {
        match self.by_pair.values().find(|ask| !exists(ask.a) || !exists(ask.b)) {
            Some(ask) => Err(format!("a direct-link ask between {:?} and {:?}, one of them gone", ask.a, ask.b)),
            None => Ok(()),
        }
    }
}

//! Liveness, for protocols whose sessions must prove they are there (JPC: a frame at least
//! every 5 s). The hub pings such a session every `ping_every` and, when it has heard nothing
//! from it for `silence`, tells it it is closing and closes it. And on every protocol, a
//! connection that has not logged in within `login_timeout` is closed: silent connections
//! cost a file descriptor each. Time is an input, as ever.

use crate::timers::Due;
use crate::{Event, Hub, Output, SessionId};
use std::collections::VecDeque;
use std::time::Instant;

impl Hub {
    /// The live sessions whose timer came (`fired`, in order): ping those that are due, close
    /// the silent ones, and set each one's timer for when it is next due (one heard from since
    /// is not due yet: its timer is set again, later).
    pub(crate) fn check_liveness(&mut self, now: Instant, fired: &[SessionId]) {
        let mut silent = Vec::new();
        let mut due = Vec::new();
        for &id in fired {
            let Some(s) = self.live.get(&id) else { continue };
            let l = &s.rule;
            let since = if l.quiet_first { s.last_ping.max(s.last_heard) } else { s.last_ping };
            if now.saturating_duration_since(s.last_heard) >= l.silence {
                silent.push(id);
                continue;
            }
            let pinged = now.saturating_duration_since(since) >= l.ping_every;
            if pinged {
                due.push(id);
            }
            let since = if pinged { now } else { since };
            self.timers.at((s.last_heard + l.silence).min(since + l.ping_every), Due::Live(id));
        }
        for id in due {
            if let Some(s) = self.live.get_mut(&id) {
                s.last_ping = now;
            }
            self.deliver(id, Event::Ping);
        }
        for id in silent {
            self.close(id, Event::Closing);
        }
    }

    /// On a tick: close the sessions that have not logged in in time (an NL operator is in once
    /// it sent its `key`).
    pub(crate) fn check_logins(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.unnamed.front() {
            if deadline > now {
                break;
            }
            self.unnamed.pop_front();
            if !self.in_or_gone(id) {
                self.close(id, Event::Closing);
            }
        }
        self.unnamed_shrunk();
    }

    /// A session logged in: the login deadlines at the front that are met (in the order they
    /// came, as connections mostly log in) are dropped, so that the deadlines a burst of logins
    /// leave do not wait out the timeout in memory (24 bytes each).
    pub(crate) fn drop_met_deadlines(&mut self) {
        while let Some(&(_, id)) = self.unnamed.front() {
            if !self.in_or_gone(id) {
                break;
            }
            self.unnamed.pop_front();
        }
        self.unnamed_shrunk();
    }

    /// Whether `id` has logged in (an NL operator is in once it sent its `key`), or is gone.
    pub(crate) fn in_or_gone(&self, id: SessionId) -> bool {
        self.sessions.get(&id).is_none_or(|s| s.name.is_some()) || self.desk.has_operator(id)
    }

    fn unnamed_shrunk(&mut self) {
        if self.unnamed.is_empty() && self.unnamed.capacity() > 1024 {
            self.unnamed = VecDeque::new(); // a burst of connections is over: its memory too
        }
    }

    /// Tells `session` why it goes, closes it, and forgets it.
    pub(crate) fn close(&mut self, session: SessionId, why: Event) {
        self.deliver(session, why);
        self.out.push_back(Output::Close { session });
        self.disconnected(session);
    }
}

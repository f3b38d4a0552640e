//! Liveness, for protocols whose sessions must prove they are there (JPC: a frame at least
//! every 5 s). The hub pings such a session every `ping_every` and, when it has heard nothing
//! from it for `silence`, tells it it is closing and closes it. And on every protocol, a
//! connection that has not logged in within `login_timeout` is closed: silent connections
//! cost a file descriptor each. Time is an input, as ever.

use crate::{Event, Hub, Output, SessionId};
use std::collections::VecDeque;
use std::time::Instant;

impl Hub {
    /// On every tick: ping the live sessions that are due, close the silent ones.
    pub(crate) fn check_liveness(&mut self, now: Instant) {
        let mut silent = Vec::new();
        let mut due = Vec::new();
        for (&id, l) in &self.live {
            let Some(s) = self.sessions.get(&id) else { continue };
            let since = if l.quiet_first { s.last_ping.max(s.last_heard) } else { s.last_ping };
            if now.saturating_duration_since(s.last_heard) >= l.silence {
                silent.push(id);
            } else if now.saturating_duration_since(since) >= l.ping_every {
                due.push(id);
            }
        }
        silent.sort();
        due.sort();
        for id in due {
            if let Some(s) = self.sessions.get_mut(&id) {
                s.last_ping = now;
            }
            self.deliver(id, Event::Ping);
        }
        for id in silent {
            self.close(id, Event::Closing);
        }
    }

    /// On every tick: close the sessions that have not logged in in time (an NL operator is
    /// in once it sent its `key`).
    pub(crate) fn check_logins(&mut self, now: Instant) {
        while let Some(&(deadline, id)) = self.unnamed.front() {
            if deadline > now {
                break;
            }
            self.unnamed.pop_front();
            let logged_in = self.sessions.get(&id).is_none_or(|s| s.name.is_some()) || self.desk.has_operator(id);
            if !logged_in {
                self.close(id, Event::Closing);
            }
        }
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

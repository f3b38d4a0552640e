//! Liveness, for protocols whose sessions must prove they are there (JPC: a frame at least
//! every 5 s). The hub pings such a session every `ping_every` and, when it has heard nothing
//! from it for `silence`, tells it it is closing and closes it. Time is an input, as ever.

use crate::{Event, Hub, Output, SessionId};
use std::time::Instant;

impl Hub {
    /// On every tick: ping the live sessions that are due, close the silent ones.
    pub(crate) fn check_liveness(&mut self, now: Instant) {
        let mut silent = Vec::new();
        let mut due = Vec::new();
        for &id in &self.live {
            let Some(s) = self.sessions.get(&id) else { continue };
            let Some(l) = self.liveness(s.protocol) else { continue };
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

    /// Tells `session` why it goes, closes it, and forgets it.
    pub(crate) fn close(&mut self, session: SessionId, why: Event) {
        self.deliver(session, why);
        self.out.push_back(Output::Close { session });
        self.disconnected(session);
    }
}

//! When the hub next needs waking, and what for: one min-heap of deadlines, read by
//! [`Hub::poll_timeout`](crate::Hub::poll_timeout) as quinn-proto's `poll_timeout` is, so that
//! the I/O layer sleeps until then rather than ticking blindly. An entry names what to look at
//! when it comes: a small table (private links, ChatHack asks, rings, forwarded commands), which
//! is then swept once for what is due, or one live session. Entries are never taken out when
//! what they wait for moves on or goes: they are passed over when they come up (a session heard
//! from is looked at when its old deadline comes, and its timer set again for its new one).

use crate::SessionId;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::time::Instant;

/// What a deadline is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Due {
    /// A private link's step.
    Links,
    /// A ChatHack direct-link ask.
    Asks,
    /// A support ring.
    Rings,
    /// A command forwarded to another node, awaiting its answer.
    Forwards,
    /// A session that must prove it is there: ping it, or close it.
    Live(SessionId),
}

/// What came due at a tick.
#[derive(Debug, Default)]
pub(crate) struct Fired {
    pub links: bool,
    pub asks: bool,
    pub rings: bool,
    pub forwards: bool,
    /// In order, each once.
    pub live: Vec<SessionId>,
}

#[derive(Debug, Default)]
pub(crate) struct Timers {
    heap: BinaryHeap<Reverse<(Instant, Due)>>,
}

impl Timers {
    /// Wake the hub at `when` for `due`.
    pub fn at(&mut self, when: Instant, due: Due) {
        self.heap.push(Reverse((when, due)));
    }

    /// The soonest deadline.
    pub fn next(&self) -> Option<Instant> {
        self.heap.peek().map(|Reverse((when, _))| *when)
    }

    /// Takes every deadline up to `now`.
    pub fn fired(&mut self, now: Instant) -> Fired {
        let mut fired = Fired::default();
        while let Some(&Reverse((when, due))) = self.heap.peek() {
            if when > now {
                break;
            }
            self.heap.pop();
            match due {
                Due::Links => fired.links = true,
                Due::Asks => fired.asks = true,
                Due::Rings => fired.rings = true,
                Due::Forwards => fired.forwards = true,
                Due::Live(session) => fired.live.push(session),
            }
        }
        fired.live.sort_unstable();
        fired.live.dedup();
        if self.heap.is_empty() && self.heap.capacity() > 4096 {
            self.heap = BinaryHeap::new(); // a burst is over: its memory too
        }
        fired
    }

    /// Whether a deadline for `due` is set no later than `by`.
    pub fn set_by(&self, due: Due, by: Instant) -> bool {
        self.heap.iter().any(|Reverse((when, d))| *d == due && *when <= by)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn deadlines_come_soonest_first_each_kind_once() {
        let mut t = Timers::default();
        let start = Instant::now();
        let s = |n| Due::Live(SessionId(n));
        t.at(start + Duration::from_secs(3), s(2));
        t.at(start + Duration::from_secs(1), Due::Links);
        t.at(start + Duration::from_secs(2), s(1));
        t.at(start + Duration::from_secs(2), s(2));
        t.at(start + Duration::from_secs(9), Due::Rings);
        assert_eq!(t.next(), Some(start + Duration::from_secs(1)));
        let fired = t.fired(start + Duration::from_secs(3));
        assert!(fired.links && !fired.rings && !fired.asks && !fired.forwards);
        assert_eq!(fired.live, [SessionId(1), SessionId(2)]);
        assert_eq!(t.next(), Some(start + Duration::from_secs(9)));
        assert!(t.set_by(Due::Rings, start + Duration::from_secs(9)));
        assert!(!t.set_by(Due::Rings, start + Duration::from_secs(8)));
    }
}

//! A web session's events for its WebSockets: one queue, each open socket at its own place in
//! it. What every socket has taken is dropped at once, so an idle session holds no events and
//! no allocation for them (a ring allocated whole for each session cost 14 KB of every idle
//! web user). A socket that falls behind by more than the feed's bound in bytes lags: it is
//! told so, and is closed as too slow.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use tokio::sync::Notify;

/// What the feed carries (a session's events), and the bytes it counts.
pub(crate) trait Counted {
    fn bytes(&self) -> usize;
}

pub(crate) struct Feed<T: Counted> {
    state: Mutex<State<T>>,
    /// Something was pushed.
    pushed: Notify,
    /// The most bytes the feed holds for its slowest socket.
    limit: usize,
}

struct State<T> {
    items: VecDeque<T>,
    /// The position of `items[0]` since the feed began.
    base: u64,
    /// The bytes of `items`.
    bytes: usize,
    readers: Vec<Place>,
    next_id: u32,
}

/// An open socket's place: the position of the next item it takes.
struct Place {
    id: u32,
    pos: u64,
    lagged: bool,
}

/// A socket fell behind by more than the feed's bound.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Lagged;

/// An open socket's end of the feed; it leaves the feed when dropped.
pub(crate) struct Reader<T: Counted> {
    feed: Arc<Feed<T>>,
    id: u32,
}

impl<T: Clone + Counted> Feed<T> {
    pub fn new(limit: usize) -> Feed<T> {
        let state = State { items: VecDeque::new(), base: 0, bytes: 0, readers: Vec::new(), next_id: 0 };
        Feed { state: Mutex::new(state), pushed: Notify::new(), limit }
    }

    /// A new socket's place, after everything pushed so far.
    pub fn join(self: &Arc<Self>) -> Reader<T> {
        let mut s = self.state.lock().expect("feed lock");
        let (id, pos) = (s.next_id, s.base + s.items.len() as u64);
        s.next_id = s.next_id.wrapping_add(1);
        s.readers.push(Place { id, pos, lagged: false });
        Reader { feed: self.clone(), id }
    }

    /// Hands `item` to every open socket; with none open, it is dropped. Past the bound, the
    /// oldest items go, and the sockets that had not taken them lag.
    pub fn push(&self, item: T) {
        let mut s = self.state.lock().expect("feed lock");
        if s.readers.is_empty() {
            return;
        }
        s.bytes += item.bytes();
        s.items.push_back(item);
        while s.bytes > self.limit && s.items.len() > 1 {
            let dropped = s.items.pop_front().expect("more than one item");
            s.bytes -= dropped.bytes();
            s.base += 1;
            let base = s.base;
            for place in s.readers.iter_mut().filter(|p| p.pos < base) {
                (place.pos, place.lagged) = (base, true);
            }
        }
        drop(s);
        self.pushed.notify_waiters();
    }

    /// Whether the socket `id` has something to take (or lagged).
    fn ready(&self, id: u32) -> bool {
        let s = self.state.lock().expect("feed lock");
        let end = s.base + s.items.len() as u64;
        s.readers.iter().find(|p| p.id == id).is_some_and(|p| p.lagged || p.pos < end)
    }

    /// Hands the socket `id` what it has not taken yet, in order, and drops what every
    /// socket has now taken.
    fn take(&self, id: u32, mut each: impl FnMut(T)) -> Result<(), Lagged> {
        let mut s = self.state.lock().expect("feed lock");
        let (base, end) = (s.base, s.base + s.items.len() as u64);
        let Some(place) = s.readers.iter_mut().find(|p| p.id == id) else { return Ok(()) };
        if std::mem::take(&mut place.lagged) {
            place.pos = end;
            s.trim();
            return Err(Lagged);
        }
        let from = (place.pos - base) as usize;
        place.pos = end;
        s.items.range(from..).cloned().for_each(&mut each);
        s.trim();
        Ok(())
    }
}

impl<T: Counted> Feed<T> {
    fn leave(&self, id: u32) {
        let mut s = self.state.lock().expect("feed lock");
        s.readers.retain(|p| p.id != id);
        s.trim();
    }
}

impl<T: Counted> State<T> {
    /// Drops what every socket has taken; with no items left, the queue's memory goes too.
    fn trim(&mut self) {
        let taken = self.readers.iter().map(|p| p.pos).min().unwrap_or(self.base + self.items.len() as u64);
        while self.base < taken {
            let Some(item) = self.items.pop_front() else { break };
            self.bytes -= item.bytes();
            self.base += 1;
        }
        if self.items.is_empty() && self.items.capacity() > 0 {
            self.items = VecDeque::new();
        }
    }
}

impl<T: Clone + Counted> Reader<T> {
    /// Waits until there is something to take, or the socket lagged.
    pub async fn ready(&self) {
        loop {
            let pushed = self.feed.pushed.notified();
            tokio::pin!(pushed);
            // Registered before looking: a push from now on wakes it.
            pushed.as_mut().enable();
            if self.feed.ready(self.id) {
                return;
            }
            pushed.await;
        }
    }

    /// Everything not yet taken, in order (nothing, if there is nothing): `Err` if the socket
    /// fell behind by more than the bound (what it missed is gone).
    pub fn take(&self, each: impl FnMut(T)) -> Result<(), Lagged> {
        self.feed.take(self.id, each)
    }
}

impl<T: Counted> Drop for Reader<T> {
    fn drop(&mut self) {
        self.feed.leave(self.id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Counted for &'static str {
        fn bytes(&self) -> usize {
            self.len()
        }
    }

    fn taken(r: &Reader<&'static str>) -> Result<Vec<&'static str>, Lagged> {
        let mut out = Vec::new();
        r.take(|item| out.push(item)).map(|()| out)
    }

    fn held(feed: &Feed<&'static str>) -> (usize, usize, usize) {
        let s = feed.state.lock().unwrap();
        (s.items.len(), s.items.capacity(), s.bytes)
    }

    #[test]
    fn each_socket_takes_everything_once_from_where_it_joined_and_taken_items_go() {
        let feed = Arc::new(Feed::new(1000));
        feed.push("before anyone"); // no socket: dropped
        let a = feed.join();
        feed.push("one");
        let b = feed.join();
        feed.push("two");
        assert_eq!(taken(&a), Ok(vec!["one", "two"]));
        assert_eq!(held(&feed).0, 1, "b has yet to take two");
        assert_eq!(taken(&b), Ok(vec!["two"]));
        assert_eq!(held(&feed), (0, 0, 0), "all taken: nothing held, not even capacity");
        assert_eq!(taken(&a), Ok(vec![]));
        // A socket that leaves holds nothing back.
        feed.push("three");
        drop(b);
        assert_eq!(taken(&a), Ok(vec!["three"]));
        assert_eq!(held(&feed), (0, 0, 0));
        drop(a);
        feed.push("after everyone");
        assert_eq!(held(&feed), (0, 0, 0));
    }

    #[test]
    fn a_socket_behind_by_more_than_the_bound_lags_and_the_others_do_not() {
        let feed = Arc::new(Feed::new(10));
        let (slow, fast) = (feed.join(), feed.join());
        for item in ["aaaa", "bbbb"] {
            feed.push(item);
            assert!(taken(&fast).is_ok());
        }
        feed.push("cccc"); // 12 bytes held for the slow one: its oldest go
        assert_eq!(taken(&fast), Ok(vec!["cccc"]));
        assert_eq!(taken(&slow), Err(Lagged));
        assert_eq!(held(&feed).0, 0, "the lagging socket was moved past what it missed");
        // One item over the bound is still carried when it is alone.
        feed.push("a line longer than the bound");
        assert_eq!(taken(&slow), Ok(vec!["a line longer than the bound"]));
    }

    #[tokio::test]
    async fn a_waiting_socket_wakes_on_a_push() {
        let feed = Arc::new(Feed::new(1000));
        let r = feed.join();
        let waiting = tokio::spawn(async move {
            r.ready().await;
            taken(&r)
        });
        tokio::task::yield_now().await;
        feed.push("hello");
        assert_eq!(waiting.await.unwrap(), Ok(vec!["hello"]));
    }
}

//! A connection's bounded outbound queue, filled by the hub task and drained by the
//! connection (on its event loop, or a task of its own: a web session's, the XMPP operator's).
//!
//! Pushing never blocks: when the queued bytes would pass the limit the outbox overflows, the
//! connection is dropped without a flush, and the hub task carries on with everyone else.
//! The hub task pushes once per batch of inputs what the batch has for the connection
//! ([`Outbox::push_all`]): slices of the batch's shared buffer, and short runs of bytes copied
//! into one growing buffer (cheaper than sharing a reference count between cores, and
//! written in one piece). Pushing does not wake the connection: it notes it in [`Wakes`], and
//! the hub task wakes everyone it queued for once per batch (each event loop once, with all of
//! its slots), so a busy connection gets many messages per write. The queue holds no
//! allocation while empty.
//!
//! A connection on an event loop is woken through its outbox, which knows its loop and slot:
//! the outbox is its waker ([`Wake`]), so that the connection needs no allocation of its own
//! for one.

use crate::net::reactor::Reactor;
use bytes::Bytes;
use hub::LinkId;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};

/// What [`Outbox::push_bytes`] copies into the connection's buffer; larger bytes are shared.
#[cfg(test)]
const COPY_MAX: usize = 2048;

/// What the connection task is asked to do, in order.
#[derive(Debug)]
pub(crate) enum Outgoing {
    Bytes(Bytes),
    /// A page of queued messages, up to message `last`: not counted against the outbound
    /// limit (the next page comes only once this one is written, so pages never pile up).
    /// Once written, the connection tells the hub task.
    Page {
        bytes: Bytes,
        last: i64,
    },
    /// Once everything before is written, hand the socket over to the relay of `LinkId`.
    Park(LinkId),
    /// The hub refused to make this connection a link end: read again.
    Resume,
    /// Once everything before is written, close.
    Close,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

/// One of the things [`Outbox::push_all`] queues: bytes to copy (borrowed, or small bytes of
/// their own), or an item as it is.
pub(crate) enum Pushed<'a> {
    Copy(&'a [u8]),
    Own(Bytes),
    Out(Outgoing),
}

enum Item {
    Copied(Vec<u8>),
    Out(Outgoing),
}

/// 64 bytes: with the lock and the reference counts, one allocation of 96 bytes a connection.
#[derive(Default)]
struct Queue {
    items: Vec<Item>,
    /// The task to wake when there is something for it, if the connection is a task's.
    task: Option<Waker>,
    /// The event loop the connection is on, if it is: its slot `key` is woken.
    reactor: Option<Arc<Reactor>>,
    /// Bytes queued and not yet taken (the limit is at most 4 GiB).
    bytes: u32,
    /// While `bytes` is not 0, when the oldest of them was queued (a [`Deadline`]'s `now`):
    /// the connection task has not taken them since.
    since: u32,
    key: u32,
    overflowed: bool,
    /// The connection on its loop waits for what comes next: wake its slot then.
    waiting: bool,
}

/// How long a connection's bytes may wait unsent, judged when more is queued for it: times
/// in milliseconds of the caller's clock, which may wrap (a wait is under 2^31 ms).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Deadline {
    pub now: u32,
    pub wait: u32,
}

/// The limit is the caller's: every outbox of a server shares it, so it is not stored here.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
}

/// Who to wake once the hub task's batch is in the outboxes: tasks one by one, the slots of
/// each event loop all at once.
#[derive(Default)]
pub(crate) struct Wakes {
    tasks: Vec<Waker>,
    /// Each loop woken in this batch, and its slots. (There are few loops: a loop is found by
    /// looking through them, and kept with its empty list for the next batch.)
    slots: Vec<(Arc<Reactor>, Vec<u32>)>,
}

impl Wakes {
    fn slot(&mut self, reactor: &Arc<Reactor>, key: u32) {
        match self.slots.iter_mut().find(|(r, _)| Arc::ptr_eq(r, reactor)) {
            Some((_, keys)) => keys.push(key),
            None => self.slots.push((reactor.clone(), vec![key])),
        }
    }

    /// Wakes everyone noted, and forgets them.
    pub fn wake(&mut self) {
        self.tasks.drain(..).for_each(Waker::wake);
        for (reactor, keys) in &mut self.slots {
            reactor.wake_all(keys);
        }
    }
}

impl Outbox {
    /// The connection joined `reactor`'s loop in slot `key`: it is woken there from now on,
    /// by what is pushed and through [`Wake`].
    pub fn home(&self, reactor: &Arc<Reactor>, key: u32) {
        let mut q = self.queue.lock().expect("outbox lock");
        (q.reactor, q.key) = (Some(reactor.clone()), key);
    }

    /// The connection left its loop: its slot, which another may take, is woken no more.
    pub fn leave_home(&self) {
        let mut q = self.queue.lock().expect("outbox lock");
        (q.reactor, q.waiting) = (None, false);
    }

    /// Queues a copy of `data` (or a share of it, if large). Fails, and marks the outbox
    /// overflowed for good, if the bytes queued and not yet taken would pass `limit`. On
    /// success, notes the connection in `wakes` if it must be woken.
    #[cfg(test)]
    pub fn push_bytes(&self, data: &Bytes, limit: usize, wakes: &mut Wakes) -> Result<(), Overflow> {
        let item = if data.len() <= COPY_MAX { Pushed::Copy(data) } else { Pushed::Out(Outgoing::Bytes(data.clone())) };
        self.push_all(&mut std::iter::once(item), limit, None, wakes)
    }

    /// Queues `out`, like [`Outbox::push_bytes`]; only `Outgoing::Bytes` counts against `limit`.
    pub fn push(&self, out: Outgoing, limit: usize, wakes: &mut Wakes) -> Result<(), Overflow> {
        self.push_all(&mut std::iter::once(Pushed::Out(out)), limit, None, wakes)
    }

    /// Queues each of `items` in turn, under one lock: bytes to copy joined to the last
    /// copied ones, the rest as it is; only bytes count against `limit`. Fails, and marks the
    /// outbox overflowed for good, if the bytes queued and not yet taken would pass `limit`,
    /// or (with a `deadline`) if the oldest of them has waited longer than it allows: a
    /// connection that keeps taking what it is sent is not slow, however much it is sent.
    /// On success, notes the connection in `wakes` if it must be woken.
    pub fn push_all(
        &self,
        items: &mut dyn Iterator<Item = Pushed<'_>>,
        limit: usize,
        deadline: Option<Deadline>,
        wakes: &mut Wakes,
    ) -> Result<(), Overflow> {
        let mut q = self.queue.lock().expect("outbox lock");
        if let Some(d) = deadline {
            if q.bytes > 0 && d.now.wrapping_sub(q.since) > d.wait {
                return Err(q.overflow());
            }
            if q.bytes == 0 {
                q.since = d.now;
            }
        }
        let was_empty = q.items.is_empty();
        for item in items {
            let own;
            let data = match item {
                Pushed::Copy(data) => data,
                Pushed::Own(bytes) => {
                    own = bytes;
                    &own[..]
                }
                Pushed::Out(out) => {
                    if let Outgoing::Bytes(b) = &out {
                        q.reserve(b.len(), limit)?;
                    } else if q.overflowed {
                        return Err(Overflow);
                    }
                    q.items.push(Item::Out(out));
                    continue;
                }
            };
            q.reserve(data.len(), limit)?;
            match q.items.last_mut() {
                Some(Item::Copied(buf)) => buf.extend_from_slice(data),
                _ => {
                    let mut buf = Vec::with_capacity(data.len().max(512));
                    buf.extend_from_slice(data);
                    q.items.push(Item::Copied(buf));
                }
            }
        }
        if was_empty && !q.items.is_empty() {
            q.wake_into(wakes);
        }
        Ok(())
    }

    /// Ready when the outbox overflowed, or when `want_items` and something is queued;
    /// otherwise the connection is woken after the next push (its slot, if it is on a loop;
    /// else `cx`'s waker).
    pub fn poll(&self, cx: &mut Context<'_>, want_items: bool) -> Poll<()> {
        let mut q = self.queue.lock().expect("outbox lock");
        if q.overflowed || (want_items && !q.items.is_empty()) {
            return Poll::Ready(());
        }
        if q.reactor.is_some() {
            q.waiting = true;
        } else if !q.task.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.task = Some(cx.waker().clone());
        }
        Poll::Pending
    }

    /// Whether the outbox overflowed: the connection must close without a flush.
    pub fn overflowed(&self) -> bool {
        self.queue.lock().expect("outbox lock").overflowed
    }

    /// Everything queued, and whether the outbox overflowed (then the connection must close).
    /// The connection task takes a batch only once it has written the previous one, so that
    /// the limit bounds everything not yet written.
    pub fn take(&self) -> (Taken, bool) {
        let mut q = self.queue.lock().expect("outbox lock");
        q.bytes = 0;
        let items = std::mem::take(&mut q.items);
        (Taken(items.into_iter()), q.overflowed)
    }
}

/// The waker of a connection on an event loop: it turns the connection's slot.
impl Wake for Outbox {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let q = self.queue.lock().expect("outbox lock");
        if let Some(reactor) = &q.reactor {
            reactor.wake(q.key);
        }
    }
}

#[cfg(test)]
impl Outbox {
    /// [`Outbox::take`], collected.
    pub fn take_all(&self) -> (Vec<Outgoing>, bool) {
        let (taken, overflowed) = self.take();
        (taken.collect(), overflowed)
    }
}

/// A batch taken from an outbox, item by item, in order.
pub(crate) struct Taken(std::vec::IntoIter<Item>);

impl Taken {
    /// Nothing.
    pub fn none() -> Taken {
        Taken(Vec::new().into_iter())
    }
}

impl Iterator for Taken {
    type Item = Outgoing;

    fn next(&mut self) -> Option<Outgoing> {
        Some(match self.0.next()? {
            Item::Copied(buf) => Outgoing::Bytes(Bytes::from(buf)),
            Item::Out(out) => out,
        })
    }
}

impl Queue {
    /// Counts `n` more bytes against `limit`; past it, the queue overflows for good and its
    /// task is woken to close. One piece larger than the limit (a JPC image, or a batch's run
    /// of messages for the connection) is taken when nothing else waits: the limit bounds a
    /// backlog, not a message.
    fn reserve(&mut self, n: usize, limit: usize) -> Result<(), Overflow> {
        if self.overflowed {
            return Err(Overflow);
        }
        let limit = limit.min(u32::MAX as usize);
        if self.bytes > 0 && self.bytes as usize + n > limit {
            return Err(self.overflow());
        }
        self.bytes = self.bytes.saturating_add(u32::try_from(n).unwrap_or(u32::MAX));
        Ok(())
    }

    /// Notes the connection in `wakes` if it waits for what was just queued.
    fn wake_into(&mut self, wakes: &mut Wakes) {
        match &self.reactor {
            Some(reactor) => {
                if std::mem::take(&mut self.waiting) {
                    wakes.slot(reactor, self.key);
                }
            }
            None => wakes.tasks.extend(self.task.take()),
        }
    }

    /// Overflows for good: what is queued is dropped and the connection woken to close.
    fn overflow(&mut self) -> Overflow {
        self.overflowed = true;
        self.items = Vec::new();
        if let Some(w) = self.task.take() {
            w.wake();
        }
        if let (Some(reactor), true) = (&self.reactor, std::mem::take(&mut self.waiting)) {
            reactor.wake(self.key);
        }
        Overflow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Bytes {
        Bytes::from(vec![7; n])
    }

    #[test]
    fn overflow_is_final_and_taking_frees_room() {
        let (o, w) = (Outbox::default(), &mut Wakes::default());
        assert!(o.push_bytes(&bytes(6), 10, w).is_ok());
        assert!(o.push(Outgoing::Resume, 10, w).is_ok());
        let (items, overflowed) = o.take_all();
        assert_eq!((items.len(), overflowed), (2, false));
        assert!(o.push_bytes(&bytes(10), 10, w).is_ok());
        assert!(o.push_bytes(&bytes(1), 10, w).is_err());
        // One message over the limit passes when nothing else waits.
        let big = Outbox::default();
        assert!(big.push_bytes(&bytes(50), 10, w).is_ok());
        assert!(big.push_bytes(&bytes(1), 10, w).is_err());
        assert!(o.push(Outgoing::Close, 10, w).is_err());
        let (items, overflowed) = o.take_all();
        assert!(items.is_empty() && overflowed);
    }

    #[test]
    fn bytes_that_wait_past_the_deadline_overflow_and_taking_them_restarts_the_clock() {
        // Near the wrap of the millisecond clock, which changes nothing.
        let (o, t0, wait) = (Outbox::default(), u32::MAX - 15_000, 10_000);
        let at = |secs: u32| Some(Deadline { now: t0.wrapping_add(secs * 1000), wait });
        let push =
            |secs| o.push_all(&mut std::iter::once(Pushed::Copy(b"hi")), usize::MAX, at(secs), &mut Wakes::default());
        assert!(push(0).is_ok());
        assert!(push(10).is_ok(), "10 s is not past a deadline of 10 s");
        o.take_all();
        // Taken at 10 s: what is queued from 11 s on may wait until 21 s.
        assert!(push(11).is_ok());
        assert!(push(21).is_ok());
        assert!(push(22).is_err());
        assert!(o.overflowed());
        assert!(o.push(Outgoing::Close, usize::MAX, &mut Wakes::default()).is_err());
    }

    #[test]
    fn small_messages_are_joined_large_ones_shared_order_kept() {
        let (o, w) = (Outbox::default(), &mut Wakes::default());
        let big = bytes(COPY_MAX + 1);
        for data in [bytes(3), bytes(4), big.clone(), bytes(5)] {
            o.push_bytes(&data, usize::MAX, w).unwrap();
        }
        o.push(Outgoing::Close, usize::MAX, w).unwrap();
        o.push_bytes(&bytes(1), usize::MAX, w).unwrap();
        let (items, _) = o.take_all();
        let shape: Vec<String> = items
            .iter()
            .map(|out| match out {
                Outgoing::Bytes(b) if b.as_ptr() == big.as_ptr() => "shared".into(),
                Outgoing::Bytes(b) => b.len().to_string(),
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(shape, ["7", "shared", "5", "Close", "1"]);
    }

    /// A connection that waits is noted once, when the first of a batch comes: a task by its
    /// waker; a loop's slot with the others of its loop, all handed to the loop at once.
    #[tokio::test]
    async fn a_waiting_connection_is_woken_once_and_a_loop_s_slots_together() {
        let (reactor, task) = Reactor::start().unwrap();
        let (a, b, t) = (Arc::new(Outbox::default()), Arc::new(Outbox::default()), Outbox::default());
        a.home(&reactor, 3);
        b.home(&reactor, 5);
        let woken = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let counted = Waker::from(Arc::new(Count(woken.clone())));
        let cx = &mut Context::from_waker(&counted);
        for o in [&*a, &*b, &t] {
            assert!(o.poll(cx, true).is_pending());
        }
        let mut wakes = Wakes::default();
        for o in [&*a, &*b, &t, &*a, &t] {
            o.push_bytes(&bytes(3), usize::MAX, &mut wakes).unwrap();
        }
        assert_eq!(wakes.tasks.len(), 1, "the task once");
        assert_eq!(wakes.slots.len(), 1, "one loop");
        assert_eq!(wakes.slots[0].1, [3, 5], "its two slots, each once");
        wakes.wake();
        assert_eq!(woken.load(std::sync::atomic::Ordering::Relaxed), 1);
        assert!(wakes.slots[0].1.is_empty() && wakes.tasks.is_empty(), "forgotten once woken");
        // A slot that does not wait (it is being turned, or writing) is not noted again; nor
        // one that left its loop.
        a.take();
        a.push_bytes(&bytes(3), usize::MAX, &mut wakes).unwrap();
        b.take();
        b.leave_home();
        b.push_bytes(&bytes(3), usize::MAX, &mut wakes).unwrap();
        assert!(wakes.slots[0].1.is_empty());
        task.abort();
    }

    struct Count(Arc<std::sync::atomic::AtomicUsize>);

    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Every connection has an outbox, idle or not: ARCHITECTURE.md says how big it is.
    #[test]
    fn an_outbox_is_small() {
        assert!(std::mem::size_of::<Queue>() <= 64, "{} bytes", std::mem::size_of::<Queue>());
    }
}

//! A connection's bounded outbound queue, filled by the hub task and drained by the
//! connection's own task.
//!
//! Pushing never blocks: when the queued bytes would pass the limit the outbox overflows, the
//! connection is dropped without a flush, and the hub task carries on with everyone else.
//! The hub task pushes once per batch of inputs what the batch has for the connection
//! ([`Outbox::push_all`]): slices of the batch's shared buffer, and short runs of bytes copied
//! into one growing buffer (cheaper than sharing a reference count between cores, and
//! written in one piece). Pushing does not wake the connection task: it returns the waker,
//! and the hub task wakes everyone it queued for once per batch, so a busy connection gets
//! many messages per write. The queue holds no allocation while empty.

use bytes::Bytes;
use hub::LinkId;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

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

#[derive(Default)]
struct Queue {
    items: VecDeque<Item>,
    bytes: usize,
    overflowed: bool,
    /// While `bytes` is not 0, when the oldest of them was queued (a [`Deadline`]'s `now`):
    /// the connection task has not taken them since. (Four bytes, in what was padding.)
    since: u32,
    /// The connection task, to wake when there is something for it.
    waker: Option<Waker>,
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

impl Outbox {
    /// Queues a copy of `data` (or a share of it, if large). Fails, and marks the outbox
    /// overflowed for good, if the bytes queued and not yet taken would pass `limit`. On
    /// success, returns the connection task's waker if it must be woken.
    #[cfg(test)]
    pub fn push_bytes(&self, data: &Bytes, limit: usize) -> Result<Option<Waker>, Overflow> {
        let item = if data.len() <= COPY_MAX { Pushed::Copy(data) } else { Pushed::Out(Outgoing::Bytes(data.clone())) };
        self.push_all(&mut std::iter::once(item), limit, None)
    }

    /// Queues `out`, like [`Outbox::push_bytes`]; only `Outgoing::Bytes` counts against `limit`.
    pub fn push(&self, out: Outgoing, limit: usize) -> Result<Option<Waker>, Overflow> {
        self.push_all(&mut std::iter::once(Pushed::Out(out)), limit, None)
    }

    /// Queues each of `items` in turn, under one lock: bytes to copy joined to the last
    /// copied ones, the rest as it is; only bytes count against `limit`. Fails, and marks the
    /// outbox overflowed for good, if the bytes queued and not yet taken would pass `limit`,
    /// or (with a `deadline`) if the oldest of them has waited longer than it allows: a
    /// connection that keeps taking what it is sent is not slow, however much it is sent.
    /// On success, returns the connection task's waker if it must be woken.
    pub fn push_all(
        &self,
        items: &mut dyn Iterator<Item = Pushed<'_>>,
        limit: usize,
        deadline: Option<Deadline>,
    ) -> Result<Option<Waker>, Overflow> {
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
                    q.items.push_back(Item::Out(out));
                    continue;
                }
            };
            q.reserve(data.len(), limit)?;
            match q.items.back_mut() {
                Some(Item::Copied(buf)) => buf.extend_from_slice(data),
                _ => {
                    let mut buf = Vec::with_capacity(data.len().max(512));
                    buf.extend_from_slice(data);
                    q.items.push_back(Item::Copied(buf));
                }
            }
        }
        Ok(if was_empty && !q.items.is_empty() { q.waker.take() } else { None })
    }

    /// Ready when the outbox overflowed, or when `want_items` and something is queued;
    /// otherwise the task is woken after the next push.
    pub fn poll(&self, cx: &mut Context<'_>, want_items: bool) -> Poll<()> {
        let mut q = self.queue.lock().expect("outbox lock");
        if q.overflowed || (want_items && !q.items.is_empty()) {
            return Poll::Ready(());
        }
        if !q.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
            q.waker = Some(cx.waker().clone());
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

#[cfg(test)]
impl Outbox {
    /// [`Outbox::take`], collected.
    pub fn take_all(&self) -> (Vec<Outgoing>, bool) {
        let (taken, overflowed) = self.take();
        (taken.collect(), overflowed)
    }
}

/// A batch taken from an outbox, item by item, in order.
pub(crate) struct Taken(std::collections::vec_deque::IntoIter<Item>);

impl Taken {
    /// Nothing.
    pub fn none() -> Taken {
        Taken(VecDeque::new().into_iter())
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
        if self.bytes > 0 && self.bytes + n > limit {
            return Err(self.overflow());
        }
        self.bytes += n;
        Ok(())
    }

    /// Overflows for good: what is queued is dropped and the task woken to close.
    fn overflow(&mut self) -> Overflow {
        self.overflowed = true;
        self.items = VecDeque::new();
        if let Some(w) = self.waker.take() {
            w.wake();
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
        let o = Outbox::default();
        assert!(o.push_bytes(&bytes(6), 10).is_ok());
        assert!(o.push(Outgoing::Resume, 10).is_ok());
        let (items, overflowed) = o.take_all();
        assert_eq!((items.len(), overflowed), (2, false));
        assert!(o.push_bytes(&bytes(10), 10).is_ok());
        assert!(o.push_bytes(&bytes(1), 10).is_err());
        // One message over the limit passes when nothing else waits.
        let big = Outbox::default();
        assert!(big.push_bytes(&bytes(50), 10).is_ok());
        assert!(big.push_bytes(&bytes(1), 10).is_err());
        assert!(o.push(Outgoing::Close, 10).is_err());
        let (items, overflowed) = o.take_all();
        assert!(items.is_empty() && overflowed);
    }

    #[test]
    fn bytes_that_wait_past_the_deadline_overflow_and_taking_them_restarts_the_clock() {
        // Near the wrap of the millisecond clock, which changes nothing.
        let (o, t0, wait) = (Outbox::default(), u32::MAX - 15_000, 10_000);
        let at = |secs: u32| Some(Deadline { now: t0.wrapping_add(secs * 1000), wait });
        let push = |secs| o.push_all(&mut std::iter::once(Pushed::Copy(b"hi")), usize::MAX, at(secs));
        assert!(push(0).is_ok());
        assert!(push(10).is_ok(), "10 s is not past a deadline of 10 s");
        o.take_all();
        // Taken at 10 s: what is queued from 11 s on may wait until 21 s.
        assert!(push(11).is_ok());
        assert!(push(21).is_ok());
        assert!(push(22).is_err());
        assert!(o.overflowed());
        assert!(o.push(Outgoing::Close, usize::MAX).is_err());
    }

    #[test]
    fn small_messages_are_joined_large_ones_shared_order_kept() {
        let o = Outbox::default();
        let big = bytes(COPY_MAX + 1);
        for data in [bytes(3), bytes(4), big.clone(), bytes(5)] {
            o.push_bytes(&data, usize::MAX).unwrap();
        }
        o.push(Outgoing::Close, usize::MAX).unwrap();
        o.push_bytes(&bytes(1), usize::MAX).unwrap();
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
}

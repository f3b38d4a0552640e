//! A connection's bounded outbound queue, filled by the hub task and drained by the
//! connection's own task.
//!
//! Pushing never blocks: when the queued bytes would pass the limit the outbox overflows, the
//! connection is dropped without a flush, and the hub task carries on with everyone else. The
//! queue holds no allocation while empty, so an idle connection costs a few dozen bytes here.

use bytes::Bytes;
use hub::LinkId;
use std::collections::VecDeque;
use std::sync::Mutex;
use std::task::{Context, Poll, Waker};

/// What the connection task is asked to do, in order.
#[derive(Debug)]
pub(crate) enum Out {
    Bytes(Bytes),
    /// Once everything before is written, hand the socket over to the relay of `LinkId`.
    Park(LinkId),
    /// The hub refused to make this connection a link end: read again.
    Resume,
    /// Once everything before is written, close.
    Close,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Overflow;

#[derive(Default)]
struct Queue {
    items: VecDeque<Out>,
    bytes: usize,
    overflowed: bool,
    /// The connection task, to wake when there is something for it.
    waker: Option<Waker>,
}

/// The limit is the caller's: every outbox of a server shares it, so it is not stored here.
#[derive(Default)]
pub(crate) struct Outbox {
    queue: Mutex<Queue>,
}

impl Outbox {
    /// Queues `out`. Fails, and marks the outbox overflowed for good, if the bytes queued and
    /// not yet taken by the connection task would pass `limit`.
    pub fn push(&self, out: Out, limit: usize) -> Result<(), Overflow> {
        let mut q = self.queue.lock().expect("outbox lock");
        if q.overflowed {
            return Err(Overflow);
        }
        if let Out::Bytes(b) = &out {
            if q.bytes + b.len() > limit {
                q.overflowed = true;
                q.items = VecDeque::new();
                let waker = q.waker.take();
                drop(q);
                if let Some(w) = waker {
                    w.wake();
                }
                return Err(Overflow);
            }
            q.bytes += b.len();
        }
        let was_empty = q.items.is_empty();
        q.items.push_back(out);
        let waker = if was_empty { q.waker.take() } else { None };
        drop(q);
        if let Some(w) = waker {
            w.wake();
        }
        Ok(())
    }

    /// Ready when the outbox overflowed, or when `want_items` and something is queued;
    /// otherwise the task is woken at the next push.
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
    pub fn take(&self) -> (VecDeque<Out>, bool) {
        let mut q = self.queue.lock().expect("outbox lock");
        q.bytes = 0;
        (std::mem::take(&mut q.items), q.overflowed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Out {
        Out::Bytes(Bytes::from(vec![0; n]))
    }

    #[test]
    fn overflow_is_final_and_taking_frees_room() {
        let o = Outbox::default();
        assert_eq!(o.push(bytes(6), 10), Ok(()));
        assert_eq!(o.push(Out::Resume, 10), Ok(()));
        let (items, overflowed) = o.take();
        assert_eq!((items.len(), overflowed), (2, false));
        assert_eq!(o.push(bytes(10), 10), Ok(()));
        assert_eq!(o.push(bytes(1), 10), Err(Overflow));
        assert_eq!(o.push(Out::Close, 10), Err(Overflow));
        let (items, overflowed) = o.take();
        assert!(items.is_empty() && overflowed);
    }
}

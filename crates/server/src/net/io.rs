//! Socket helpers shared by the connection drivers: one bounded read into a buffer that holds
//! no memory while idle, and the wait for what to do next.

use crate::net::outbox::Outbox;
use crate::net::transport::{Read, Transport};
use bytes::BytesMut;
use prometheus_client::metrics::counter::Counter;
use std::cell::RefCell;

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::Poll;
use tokio::net::TcpStream;
use tokio::time::Sleep;

/// The most one read takes from a socket, into a buffer of the worker thread's, not the
/// connection's, zeroed once rather than at every read.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static CHUNK: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Reads once from `transport` into `rbuf`, without blocking, through the worker thread's
/// buffer.
pub(crate) fn read_once(transport: &mut Transport, rbuf: &mut BytesMut, wire: &Counter) -> io::Result<Read> {
    CHUNK.with_borrow_mut(|chunk| transport.read_once(chunk, rbuf, wire))
}

/// Gives back the memory of a buffer that has been emptied, so idle connections hold none.
pub(crate) fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

/// What a connection task has to do next.
pub(crate) enum Wake {
    /// The outbox has a batch (or overflowed).
    Outbox,
    Writable,
    Readable,
    /// A partial frame got no new byte in time.
    Stalled,
}

/// Waits until the outbox has something (`writing`: only an overflow counts, the next batch
/// waits until the current one is written), the socket takes bytes (if `writing`), has
/// bytes (if `reading`), or, if `reading`, the deadline of a partial frame passes. A plain
/// `poll_fn` holding four references and two flags: the wait is part of every idle
/// connection's task, so it is kept small.
pub(crate) fn wait<'a>(
    stream: &'a TcpStream,
    outbox: &'a Outbox,
    reading: bool,
    writing: bool,
    stall: Option<&'a mut Pin<Box<Sleep>>>,
) -> impl Future<Output = io::Result<Wake>> + 'a {
    let mut stall = stall.filter(|_| reading);
    std::future::poll_fn(move |cx| {
        if outbox.poll(cx, !writing).is_ready() {
            return Poll::Ready(Ok(Wake::Outbox));
        }
        if let Some(stall) = stall.as_mut() {
            if stall.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Ok(Wake::Stalled));
            }
        }
        if writing {
            if let Poll::Ready(r) = stream.poll_write_ready(cx) {
                return Poll::Ready(r.map(|()| Wake::Writable));
            }
        }
        if reading {
            if let Poll::Ready(r) = stream.poll_read_ready(cx) {
                return Poll::Ready(r.map(|()| Wake::Readable));
            }
        }
        Poll::Pending
    })
}

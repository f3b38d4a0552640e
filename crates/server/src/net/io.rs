//! Socket helpers of the connection driver: one bounded read into a buffer that holds no
//! memory while idle.

use crate::net::transport::{Read, Socket, Transport};
use bytes::BytesMut;
use prometheus_client::metrics::counter::Counter;
use std::cell::RefCell;
use std::io;

/// The most one read takes from a socket, into a buffer of the worker thread's, not the
/// connection's, zeroed once rather than at every read.
pub(crate) const READ_CHUNK: usize = 16 * 1024;

thread_local! {
    static CHUNK: RefCell<Box<[u8]>> = RefCell::new(vec![0; READ_CHUNK].into_boxed_slice());
}

/// Reads once from `transport` into `rbuf`, without blocking, through the worker thread's
/// buffer.
pub(crate) fn read_once<S: Socket>(
    transport: &mut Transport<S>,
    rbuf: &mut BytesMut,
    wire: &Counter,
) -> io::Result<Read> {
    CHUNK.with_borrow_mut(|chunk| transport.read_once(chunk, rbuf, wire))
}

/// Gives back the memory of a buffer that has been emptied, so idle connections hold none.
pub(crate) fn release_if_empty(buf: &mut BytesMut) {
    if buf.is_empty() && buf.capacity() > 0 {
        *buf = BytesMut::new();
    }
}

//! A connection's socket: plain TCP, or TLS over it (rustls, once its handshake is done).
//! Transport is not protocol: the connection driver reads and writes through it without
//! blocking, on the socket's readiness as the event loop saw it, whatever it is; the relay of
//! private links and the web (hyper) use it, over tokio's socket, as an
//! `AsyncRead + AsyncWrite`. A plain connection pays an enum tag for TLS, nothing more.
//!
//! The socket is the driver's `std::net::TcpStream` (non-blocking, registered with the event
//! loop: no state of tokio's per connection), or tokio's: [`Transport::into_std`] and
//! [`Transport::into_tokio`] move a connection between the two.

use bytes::{Buf, Bytes, BytesMut};
use prometheus_client::metrics::counter::Counter;
use rustls::ServerConnection;
use std::collections::VecDeque;
use std::io::{self, IoSlice, Read as _, Write as _};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub(crate) enum Transport<S = TcpStream> {
    Plain(S),
    Tls(Box<TlsConn<S>>),
}

/// A TLS connection: the socket, and rustls's state of it.
pub(crate) struct TlsConn<S = TcpStream> {
    tcp: S,
    tls: ServerConnection,
    /// Its close_notify is on its way: the connection is being shut down.
    closing: bool,
}

/// What one non-blocking read found.
pub(crate) enum Read {
    Data,
    Eof,
    /// The socket has nothing now (`WouldBlock`): wait for its next readiness.
    Blocked,
    /// Only TLS's own records: read again.
    Nothing,
}

/// A non-blocking socket, read and written without waiting: tokio's (which then waits for its
/// readiness itself) or a `std` one on the event loop (`WouldBlock` until its next event).
pub(crate) trait Socket {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize>;
    fn try_write(&self, buf: &[u8]) -> io::Result<usize>;
    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize>;
}

impl Socket for TcpStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        TcpStream::try_read(self, buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        TcpStream::try_write(self, buf)
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        TcpStream::try_write_vectored(self, bufs)
    }
}

impl Socket for std::net::TcpStream {
    fn try_read(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&mut &*self).read(buf)
    }

    fn try_write(&self, buf: &[u8]) -> io::Result<usize> {
        (&mut &*self).write(buf)
    }

    fn try_write_vectored(&self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        (&mut &*self).write_vectored(bufs)
    }
}

/// The socket as `std::io` sees it, without blocking: what rustls reads from and writes to.
struct Sync<'a, S>(&'a S);

impl<S: Socket> io::Read for Sync<'_, S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.try_read(buf)
    }
}

impl<S: Socket> io::Write for Sync<'_, S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.try_write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl<S> Transport<S> {
    /// The same connection over the socket `f` makes of its own.
    fn map_socket<T>(self, f: impl FnOnce(S) -> io::Result<T>) -> io::Result<Transport<T>> {
        Ok(match self {
            Transport::Plain(tcp) => Transport::Plain(f(tcp)?),
            Transport::Tls(t) => {
                let TlsConn { tcp, tls, closing } = *t;
                Transport::Tls(Box::new(TlsConn { tcp: f(tcp)?, tls, closing }))
            }
        })
    }
}

impl Transport {
    /// The connection on a `std` socket, for the event loop: tokio forgets it.
    pub fn into_std(self) -> io::Result<Transport<std::net::TcpStream>> {
        self.map_socket(TcpStream::into_std)
    }
}

impl Transport<std::net::TcpStream> {
    /// The connection on tokio's socket again (the event loop has let it go), for the relay.
    pub fn into_tokio(self) -> io::Result<Transport> {
        self.map_socket(TcpStream::from_std)
    }
}

impl<S: Socket> Transport<S> {
    pub fn tls(tcp: S, tls: ServerConnection) -> Transport<S> {
        Transport::Tls(Box::new(TlsConn { tcp, tls, closing: false }))
    }

    pub fn tcp(&self) -> &S {
        match self {
            Transport::Plain(tcp) => tcp,
            Transport::Tls(t) => &t.tcp,
        }
    }

    pub fn is_tls(&self) -> bool {
        matches!(self, Transport::Tls(_))
    }

    /// Moves into `rbuf` what TLS has read and decrypted already: a client's first bytes may
    /// come with the end of its handshake. `Ok(true)` if the peer closed meanwhile.
    pub fn take_buffered(&mut self, rbuf: &mut BytesMut) -> io::Result<bool> {
        match self {
            Transport::Plain(_) => Ok(false),
            Transport::Tls(t) => t.plaintext(rbuf),
        }
    }

    /// TLS has records of its own to write (an alert, a key update, a close).
    pub fn wants_write(&self) -> bool {
        match self {
            Transport::Plain(_) => false,
            Transport::Tls(t) => t.tls.wants_write(),
        }
    }

    /// Reads what the socket has now, once, and appends the plaintext to `rbuf`, counting the
    /// bytes read off the socket in `wire`. `chunk` is the reading thread's buffer.
    pub fn read_once(&mut self, chunk: &mut [u8], rbuf: &mut BytesMut, wire: &Counter) -> io::Result<Read> {
        let tcp = self.tcp();
        let n = match tcp.try_read(chunk) {
            Ok(0) => return Ok(Read::Eof),
            Ok(n) => {
                wire.inc_by(n as u64);
                n
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(Read::Blocked),
            Err(e) => return Err(e),
        };
        let Transport::Tls(t) = self else {
            rbuf.extend_from_slice(&chunk[..n]);
            return Ok(Read::Data);
        };
        let before = rbuf.len();
        let mut input = &chunk[..n];
        while !input.is_empty() {
            if t.tls.read_tls(&mut input)? == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "TLS records past their buffer"));
            }
            t.tls.process_new_packets().map_err(tls_error)?;
            if t.plaintext(rbuf)? {
                return Ok(Read::Eof); // close_notify
            }
        }
        Ok(if rbuf.len() > before { Read::Data } else { Read::Nothing })
    }

    /// Writes as much of `queue` as the socket takes now (through TLS, if it is). `Ok(true)`
    /// once all of it, and whatever TLS had of its own, is written.
    pub fn flush_queue(&mut self, queue: &mut VecDeque<Bytes>) -> io::Result<bool> {
        let t = match self {
            Transport::Plain(tcp) => return flush_plain(tcp, queue),
            Transport::Tls(t) => t,
        };
        loop {
            let mut moved = false;
            while let Some(front) = queue.front_mut() {
                let n = t.tls.writer().write(front)?;
                if n == 0 {
                    break; // rustls's buffer is full: write it out first
                }
                moved = true;
                front.advance(n);
                if front.is_empty() {
                    queue.pop_front();
                }
            }
            let mut wrote = false;
            while t.tls.wants_write() {
                match t.tls.write_tls(&mut Sync(&t.tcp)) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(_) => wrote = true,
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                    Err(e) => return Err(e),
                }
            }
            if queue.is_empty() {
                *queue = VecDeque::new();
                return Ok(true);
            }
            if !moved && !wrote {
                return Ok(false);
            }
        }
    }
}

impl<S: Socket> TlsConn<S> {
    /// Moves the plaintext rustls has into `rbuf`; `true` if the peer closed (close_notify).
    fn plaintext(&mut self, rbuf: &mut BytesMut) -> io::Result<bool> {
        let mut buf = [0u8; 4096];
        loop {
            match self.tls.reader().read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(n) => rbuf.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) => return Err(e),
            }
        }
    }
}

impl TlsConn {
    /// Writes TLS's records until it has none or the socket takes no more.
    fn poll_write_tls(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.tls.wants_write() {
            match self.tls.write_tls(&mut Sync(&self.tcp)) {
                Ok(0) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => ready!(self.tcp.poll_write_ready(cx))?,
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        Poll::Ready(Ok(()))
    }
}

/// Writes as much of `queue` as the socket takes now, in vectored writes.
fn flush_plain<S: Socket>(tcp: &S, queue: &mut VecDeque<Bytes>) -> io::Result<bool> {
    while !queue.is_empty() {
        let mut slices = [IoSlice::new(&[]); 64];
        let n = queue.len().min(slices.len());
        for (slot, buf) in slices.iter_mut().zip(queue.iter()) {
            *slot = IoSlice::new(buf);
        }
        let mut written = match tcp.try_write_vectored(&slices[..n]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(w) => w,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
            Err(e) => return Err(e),
        };
        while written > 0 {
            let front = queue.front_mut().expect("written bytes came from the queue");
            if front.len() <= written {
                written -= front.len();
                queue.pop_front();
            } else {
                front.advance(written);
                written = 0;
            }
        }
    }
    *queue = VecDeque::new();
    Ok(true)
}

impl AsyncRead for Transport {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let t = match self.get_mut() {
            Transport::Plain(tcp) => return Pin::new(tcp).poll_read(cx, buf),
            Transport::Tls(t) => t,
        };
        loop {
            match t.tls.reader().read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n); // 0: the peer closed
                    return Poll::Ready(Ok(()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
            ready!(t.tcp.poll_read_ready(cx))?;
            match t.tls.read_tls(&mut Sync(&t.tcp)) {
                Ok(0) => return Poll::Ready(Ok(())), // the socket closed
                Ok(_) => {
                    t.tls.process_new_packets().map_err(tls_error)?;
                    ready!(t.poll_write_tls(cx))?; // an alert, a key update
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Transport {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let t = match self.get_mut() {
            Transport::Plain(tcp) => return Pin::new(tcp).poll_write(cx, buf),
            Transport::Tls(t) => t,
        };
        loop {
            let n = t.tls.writer().write(buf)?;
            if n > 0 || buf.is_empty() {
                // Best effort now; what the socket does not take goes with the next write or
                // the flush.
                if let Poll::Ready(Err(e)) = t.poll_write_tls(cx) {
                    return Poll::Ready(Err(e));
                }
                return Poll::Ready(Ok(n));
            }
            ready!(t.poll_write_tls(cx))?; // rustls's buffer is full
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_flush(cx),
            Transport::Tls(t) => t.poll_write_tls(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Transport::Plain(tcp) => Pin::new(tcp).poll_shutdown(cx),
            Transport::Tls(t) => {
                if !t.closing {
                    t.closing = true;
                    t.tls.send_close_notify();
                }
                ready!(t.poll_write_tls(cx))?;
                Pin::new(&mut t.tcp).poll_shutdown(cx)
            }
        }
    }
}

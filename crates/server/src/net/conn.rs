//! The driver of every front door's connections, on the event loop ([`crate::net::reactor`]).
//! A [`Door`] turns the bytes its protocol reads into [`Act`]s; the driver here does the
//! rest: reads into a per-thread buffer when the socket has bytes, writes what the hub task
//! queued, posts commands to the hub task, pauses reading while an act is pending (a password
//! check, a full hub queue, a ChatOS link verdict), hangs up on protocol violations once the
//! answers to earlier frames are written, and hands a socket to the relay when it becomes a
//! private link end.
//!
//! A connection is its `Driver` in its loop's slab: no task, no buffer while idle (the read
//! buffer is released once empty, the write queue too), no waker of its own (its outbox is
//! its waker), and, while one is pending, one boxed future (BENCHMARKS.md).

use crate::doors::spec::Spec;
use crate::metrics::DoorMetrics;
use crate::msg::HubMsg;
use crate::net::io::{read_once, release_if_empty};
use crate::net::outbox::{Outbox, Outgoing, Taken};
use crate::net::reactor::{Entry, Reactor, Turn};
use crate::net::transport::{Read, Transport};
use crate::{Shared, Ticket};
use bytes::{Bytes, BytesMut};
use hub::{Command, LinkId, SessionId};
use proto::DecodeError;
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::num::NonZeroI64;
use std::os::fd::{AsRawFd, RawFd};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use tokio::sync::mpsc;
use tokio::time::{Instant, Sleep};
use tracing::debug;

/// Reads a connection makes in one turn before the others on its loop go: a socket that keeps
/// having bytes cannot hold its loop.
const READS_A_TURN: u32 = 8;

/// Work a connection waits for before it reads on; what it yields is then acted on.
pub(crate) type Later = Pin<Box<dyn Future<Output = Act> + Send>>;

/// What a front door makes of one frame.
pub(crate) enum Act {
    /// Nothing (a frame that is ignored).
    Nothing,
    /// A frame dropped, the connection kept (counted: `dropped_frames`).
    Dropped,
    /// Bad input ignored, the connection kept (counted: `bad_input`).
    Ignored,
    /// A command for the hub.
    Hub(Command),
    /// A command that may turn this connection into a private link end: read nothing more
    /// until the hub rules (ChatOS TCPAccept and TCPConnect).
    HubThenVerdict(Command),
    /// The front door's own answer, written after everything the hub queued before it.
    Reply(Bytes),
    /// Read nothing more until this is done, then act on what it yields.
    Later(Later),
    /// Write these last words, after what is queued, and close (a refused JPC HELLO).
    Refuse(Bytes),
    /// Close once what is queued is written (a PeerChat `leave`).
    Leave,
    /// The hub task is gone: the server is stopping.
    Stop,
}

/// A protocol's side of a connection.
pub(crate) trait Protocol: Send + 'static {
    /// The door's entry in the table of doors.
    const SPEC: &'static Spec;

    /// The door's side of a connection its listener accepted from `peer`.
    fn accepted(shared: &Shared, peer: SocketAddr) -> Self
    where
        Self: Sized;

    /// Takes one frame off the front of `rbuf` and says what to do with it. `Ok(None)`: the
    /// buffer holds no whole frame. `Err`: the bytes break the protocol; the connection is
    /// closed once the answers to its earlier frames, and [`Door::last_words`], are written.
    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError>;

    /// What to write to a connection that broke the protocol, before closing it.
    fn last_words(&self) -> Option<Bytes> {
        None
    }

    /// Bytes the hub task queued, as they go on the wire (NL encrypts them here).
    fn outgoing(&mut self, bytes: Bytes) -> Bytes {
        bytes
    }

    /// What the connection says first, before reading anything (a PeerChat `join` on a
    /// connection the hub made).
    fn greeting(&self) -> Option<Bytes> {
        None
    }

    /// The connection is over.
    fn closed(&mut self, _session: SessionId, _shared: &Shared) {}
}

/// How a connection ends.
enum End {
    Closed,
    /// The socket now belongs to this link's relay.
    Park(LinkId),
}

/// What a connection has only now and then.
#[derive(Default)]
struct Rare {
    /// What must be done before reading on.
    later: Option<Later>,
    /// While `rbuf` holds a partial frame: when the connection is closed if no byte of it
    /// comes. The only timer a connection has, and only while a frame is half there.
    stall: Option<Pin<Box<Sleep>>>,
    /// A page of queued messages is in `wbuf`, up to this message: once written, the hub is
    /// told, and the next page may come.
    page: Option<NonZeroI64>,
    /// Once what is queued is written, the connection ends so (it closes, or becomes a link
    /// end); and how it ended, once it has.
    after_flush: Option<End>,
}

impl Rare {
    fn is_empty(&self) -> bool {
        self.later.is_none() && self.stall.is_none() && self.page.is_none() && self.after_flush.is_none()
    }
}

struct Driver<D> {
    session: SessionId,
    stream: Transport<std::net::TcpStream>,
    outbox: Arc<Outbox>,
    shared: Arc<Shared>,
    door: D,
    /// Bytes read and not yet decoded; empty (no allocation) while idle.
    rbuf: BytesMut,
    /// Bytes taken from the outbox and not yet written.
    wbuf: VecDeque<Bytes>,
    /// A command that may make this connection a link end went to the hub: read nothing
    /// more until it rules.
    awaiting_verdict: bool,
    /// The connection broke the protocol, or the server stops: read nothing more.
    hung_up: bool,
    /// What a connection has only now and then, boxed: absent, as while idle, it costs 8
    /// bytes, not 48.
    rare: Option<Box<Rare>>,
    /// The session's bucket of chat messages (`Shared::meter`).
    tat: u64,
    /// What the connection counts under in its address's limits.
    ticket: Ticket,
    /// The socket's readiness as its last events said and its last reads and writes have not
    /// yet contradicted (edge-triggered).
    readable: bool,
    writable: bool,
}

/// A door's listener served: every connection it accepts (under its address's limits, through
/// the TLS handshake on a TLS listener) joins an event loop, driven by `D`. What the `serve` of
/// every door on this driver is.
pub(crate) fn accept<D: Protocol>(
    listener: tokio::net::TcpListener,
    shared: Arc<Shared>,
    tls: bool,
) -> crate::doors::spec::Serving {
    Box::pin(crate::net::listen::accept_loop(listener, shared, D::SPEC, tls, |stream, peer, shared, ticket| {
        let door = D::accepted(&shared, peer);
        serve(stream, peer, shared, door, ticket);
        None::<std::future::Ready<()>>
    }))
}

/// Sets a new connection up and hands it to an event loop.
pub(crate) fn serve<D: Protocol>(stream: Transport, peer: SocketAddr, shared: Arc<Shared>, door: D, ticket: Ticket) {
    let tls = stream.is_tls();
    let stream = match stream.into_std() {
        Ok(stream) => stream,
        Err(e) => {
            debug!(%peer, error = %e, door = D::SPEC.name, "connection lost before it was served");
            shared.release(ticket, D::SPEC.door, tls);
            return;
        }
    };
    let session = shared.new_session();
    debug!(session = session.0, %peer, door = D::SPEC.name, "connected");
    let outbox = Arc::new(Outbox::default());
    let origin = peer.ip().to_canonical();
    let limit = shared.config.outbound_limit;
    let connected = HubMsg::Connected { session, door: D::SPEC.door, tls, origin, outbox: outbox.clone(), limit };
    let mut d = Driver {
        session,
        stream,
        outbox,
        shared,
        door,
        rbuf: BytesMut::new(),
        wbuf: VecDeque::new(),
        awaiting_verdict: false,
        hung_up: false,
        rare: None,
        tat: 0,
        ticket,
        readable: true,
        writable: true,
    };
    d.post(connected);
    if let Some(bytes) = d.door.greeting() {
        d.post(HubMsg::Write { session, bytes });
    }
    // What a TLS client sent with the end of its handshake is read already. (If it closed
    // meanwhile, or broke TLS, the first read says so.)
    if let Ok(false) = d.stream.take_buffered(&mut d.rbuf) {
        d.decode();
    }
    let reactor = d.shared.reactor(session).clone();
    reactor.adopt(Box::new(d));
}

/// Sends to the hub task at once if its queue has room, else returns the wait for room, boxed:
/// it is rare, and kept out of line a connection's future stays small. `Act::Stop` if the hub
/// task is gone.
fn send_or_wait(hub: &mpsc::Sender<HubMsg>, msg: HubMsg) -> Option<Later> {
    match hub.try_send(msg) {
        Ok(()) => None,
        Err(mpsc::error::TrySendError::Closed(_)) => Some(Box::pin(std::future::ready(Act::Stop))),
        Err(mpsc::error::TrySendError::Full(msg)) => {
            let hub = hub.clone();
            Some(Box::pin(async move {
                match hub.send(msg).await {
                    Ok(()) => Act::Nothing,
                    Err(_) => Act::Stop,
                }
            }))
        }
    }
}

impl<D: Protocol> Driver<D> {
    /// The figures of this connection's door, plain or TLS.
    fn metrics(&self) -> &DoorMetrics {
        self.shared.metrics.door(D::SPEC.door, self.stream.is_tls())
    }

    /// Writes what the socket takes now of `wbuf`; `Ok(true)` once all of it is written.
    fn flush(&mut self) -> std::io::Result<bool> {
        let done = self.stream.flush_queue(&mut self.wbuf)?;
        if !done {
            self.writable = false; // until the socket says it takes more
        }
        Ok(done)
    }

    /// One step of the connection. The order is the order of urgency: what
    /// must be done before reading on, the outbox (an overflow closes at once), the partial
    /// frame's deadline, writing, reading. While something must be done before reading on,
    /// what the hub sends is still written (a client held back by its message rate still
    /// hears the others; an IRC command held until its login's answer needs that answer).
    fn step(&mut self, cx: &mut Context<'_>, reads: &mut u32) -> Step {
        let mut later_pending = false;
        if let Some(later) = self.rare.as_mut().and_then(|r| r.later.as_mut()) {
            match later.as_mut().poll(cx) {
                Poll::Ready(act) => {
                    self.set_later(None);
                    self.act(act);
                    self.decode();
                    return Step::Go;
                }
                Poll::Pending => later_pending = true,
            }
        }
        let reading = !later_pending && !self.awaiting_verdict && !self.hung_up && self.after_flush().is_none();
        let writing = !self.wbuf.is_empty() || self.stream.wants_write();
        let tls = self.stream.is_tls();
        let done = if self.outbox.poll(cx, !writing).is_ready() {
            self.pull_and_flush()
        } else if reading
            && self.rare.as_mut().and_then(|r| r.stall.as_mut()).is_some_and(|s| s.as_mut().poll(cx).is_ready())
        {
            let bytes = self.rbuf.len();
            debug!(session = self.session.0, bytes, door = D::SPEC.name, "a partial frame stalled: closing");
            self.shared.metrics.timed_out.inc();
            Err(())
        } else if writing && self.writable {
            match self.flush() {
                Ok(true) => self.pull_and_flush(),
                Ok(false) => Ok(()),
                Err(e) => {
                    debug!(session = self.session.0, error = %e, door = D::SPEC.name, "write failed");
                    Err(())
                }
            }
        } else if reading && self.readable {
            if *reads == READS_A_TURN {
                return Step::Yield;
            }
            *reads += 1;
            match read_once(&mut self.stream, &mut self.rbuf, &self.shared.metrics.door(D::SPEC.door, tls).bytes_in) {
                Ok(Read::Data) => {
                    self.decode();
                    Ok(())
                }
                Ok(Read::Nothing) => Ok(()),
                Ok(Read::Blocked) => {
                    self.readable = false;
                    Ok(())
                }
                Ok(Read::Eof) => {
                    if !self.rbuf.is_empty() {
                        let bytes = self.rbuf.len();
                        debug!(session = self.session.0, bytes, door = D::SPEC.name, "closed in the middle of a frame");
                    }
                    Err(())
                }
                Err(e) => {
                    debug!(session = self.session.0, error = %e, door = D::SPEC.name, "read failed");
                    Err(())
                }
            }
        } else {
            return Step::Idle;
        };
        if done.is_err() {
            // A link end still goes to its relay, which sees the broken socket and closes
            // the link; else the hub would hold the link open for good.
            if !matches!(self.after_flush(), Some(End::Park(_))) {
                self.rare().after_flush = Some(End::Closed);
            }
            return Step::End;
        }
        if self.wbuf.is_empty() && !self.stream.wants_write() {
            if let Some(last) = self.rare.as_mut().and_then(|r| r.page.take()) {
                self.tidy();
                self.post(HubMsg::PageDelivered { session: self.session, last: last.get() });
            }
            if self.after_flush().is_some() {
                return Step::End;
            }
        }
        Step::Go
    }

    /// Takes the outbox's next batch and writes what the socket takes now. `Err`: close now
    /// (the outbox overflowed, or the socket failed).
    fn pull_and_flush(&mut self) -> Result<(), ()> {
        let (items, overflowed) = if self.wbuf.is_empty() && self.after_flush().is_none() {
            self.outbox.take()
        } else {
            (Taken::none(), self.outbox.overflowed())
        };
        if overflowed {
            return Err(());
        }
        let mut resumed = false;
        for item in items {
            match item {
                Outgoing::Bytes(b) => {
                    let b = self.door.outgoing(b);
                    if !b.is_empty() {
                        self.wbuf.push_back(b);
                    }
                }
                Outgoing::Page { bytes, last } => {
                    let bytes = self.door.outgoing(bytes);
                    if !bytes.is_empty() {
                        self.wbuf.push_back(bytes);
                    }
                    self.rare().page = NonZeroI64::new(last);
                }
                Outgoing::Resume => resumed = true,
                Outgoing::Park(link) => self.rare().after_flush = Some(End::Park(link)),
                Outgoing::Close => self.rare().after_flush = Some(End::Closed),
            }
        }
        self.flush().map_err(drop)?;
        if resumed && self.after_flush().is_none() {
            self.awaiting_verdict = false;
            self.decode();
        }
        Ok(())
    }

    /// Acts on every whole frame buffered, until something must be waited for.
    fn decode(&mut self) {
        while !self.awaiting_verdict && !self.hung_up && !self.waiting() {
            match self.door.next(&mut self.rbuf, self.session, &self.shared) {
                Ok(Some(act)) => self.act(act),
                Ok(None) => break,
                Err(e) => {
                    debug!(session = self.session.0, error = %e, door = D::SPEC.name, "bad input, closing the connection");
                    self.metrics().bad_input.inc();
                    self.rbuf = BytesMut::new();
                    let last_words = self.door.last_words();
                    self.post(HubMsg::Hangup { session: self.session, last_words });
                    self.hung_up = true;
                }
            }
        }
        release_if_empty(&mut self.rbuf);
        // A partial frame left: its next byte is due within the timeout, counted from now,
        // when the connection goes back to reading.
        if self.rbuf.is_empty() {
            if let Some(rare) = self.rare.as_mut() {
                rare.stall = None;
                self.tidy();
            }
        } else {
            let deadline = Instant::now() + self.shared.config.login_timeout();
            let rare = self.rare();
            match rare.stall.as_mut() {
                Some(stall) => stall.as_mut().reset(deadline),
                None => rare.stall = Some(Box::pin(tokio::time::sleep_until(deadline))),
            }
        }
    }

    fn act(&mut self, act: Act) {
        let session = self.session;
        match act {
            Act::Nothing => {}
            Act::Dropped => {
                self.metrics().dropped_frames.inc();
            }
            Act::Ignored => {
                self.metrics().bad_input.inc();
            }
            Act::Hub(command) => match self.shared.meter(&mut self.tat, &command) {
                // Over its message rate: read nothing more until the message may go.
                Some(wait) => {
                    let hub = self.shared.hub.clone();
                    self.set_later(Some(Box::pin(async move {
                        tokio::time::sleep(wait).await;
                        match hub.send(HubMsg::Command { session, command }).await {
                            Ok(()) => Act::Nothing,
                            Err(_) => Act::Stop,
                        }
                    })));
                }
                None => self.post(HubMsg::Command { session, command }),
            },
            Act::HubThenVerdict(command) => {
                self.awaiting_verdict = true;
                self.post(HubMsg::Command { session, command });
            }
            Act::Reply(bytes) => self.post(HubMsg::Write { session, bytes }),
            Act::Later(later) => self.set_later(Some(later)),
            Act::Refuse(last_words) => {
                self.post(HubMsg::Hangup { session, last_words: Some(last_words) });
                self.hung_up = true;
            }
            Act::Leave => {
                self.post(HubMsg::Hangup { session, last_words: None });
                self.hung_up = true;
            }
            Act::Stop => self.hung_up = true,
        }
    }

    /// Sends to the hub task without waiting; if its queue is full, the send becomes what
    /// must be done before reading on.
    /// Behind a send already waiting, this one waits its turn (the hub gets them in order).
    fn post(&mut self, msg: HubMsg) {
        let wait = match self.rare.as_mut().and_then(|r| r.later.take()) {
            None => send_or_wait(&self.shared.hub, msg),
            Some(before) => {
                let hub = self.shared.hub.clone();
                Some(Box::pin(async move {
                    match before.await {
                        Act::Stop => Act::Stop,
                        act => hub.send(msg).await.map_or(Act::Stop, |()| act),
                    }
                }) as Later)
            }
        };
        self.set_later(wait);
    }

    /// What a connection has only now and then, made if it was not there.
    fn rare(&mut self) -> &mut Rare {
        self.rare.get_or_insert_with(Box::default)
    }

    /// Lets go of what a connection has only now and then, once it is nothing.
    fn tidy(&mut self) {
        if self.rare.as_ref().is_some_and(|r| r.is_empty()) {
            self.rare = None;
        }
    }

    fn set_later(&mut self, later: Option<Later>) {
        match later {
            Some(later) => self.rare().later = Some(later),
            None => {
                if let Some(rare) = self.rare.as_mut() {
                    rare.later = None;
                    self.tidy();
                }
            }
        }
    }

    /// Something must be done before reading on.
    fn waiting(&self) -> bool {
        self.rare.as_ref().is_some_and(|r| r.later.is_some())
    }

    fn after_flush(&self) -> Option<&End> {
        self.rare.as_ref().and_then(|r| r.after_flush.as_ref())
    }
}

/// What a step of a connection did.
enum Step {
    /// Something: there may be more.
    Go,
    /// Nothing: only an event or a wake can give it more.
    Idle,
    /// Nothing yet: it has read its share of this turn.
    Yield,
    /// The connection is over.
    End,
}

impl<D: Protocol> Entry for Driver<D> {
    fn fd(&self) -> RawFd {
        self.stream.tcp().as_raw_fd()
    }

    fn adopted(&mut self, reactor: &Arc<Reactor>, key: u32) {
        self.outbox.home(reactor, key);
    }

    /// The outbox, which knows the connection's loop and slot: a reference count more, no
    /// allocation.
    fn waker(&self) -> Waker {
        Waker::from(self.outbox.clone())
    }

    fn ready(&mut self, readable: bool, writable: bool) {
        self.readable |= readable;
        self.writable |= writable;
    }

    fn turn(&mut self, cx: &mut Context<'_>) -> Turn {
        let mut reads = 0;
        loop {
            match self.step(cx, &mut reads) {
                Step::Go => {}
                Step::Idle => return Turn::Idle,
                Step::Yield => return Turn::Again,
                Step::End => return Turn::Done,
            }
        }
    }

    /// Hands the socket to its link's relay, or closes it, and tells the hub.
    fn finish(self: Box<Self>) {
        let tls = self.stream.is_tls();
        self.outbox.leave_home();
        let Driver { session, stream, rbuf, shared, mut door, ticket, rare, .. } = *self;
        door.closed(session, &shared);
        if let Some(End::Park(link)) = rare.and_then(|r| r.after_flush) {
            debug!(session = session.0, link = link.0, door = D::SPEC.name, "connection becomes a private link end");
            match stream.into_tokio() {
                Ok(stream) => shared.relays.deposit(link, (stream, rbuf), shared.hub.clone(), shared.metrics.clone()),
                Err(e) => debug!(session = session.0, error = %e, "a link end lost its socket"),
            }
        } else {
            drop(stream);
        }
        shared.release(ticket, D::SPEC.door, tls);
        debug!(session = session.0, door = D::SPEC.name, "disconnected");
        if let Some(wait) = send_or_wait(&shared.hub, HubMsg::Disconnected { session }) {
            tokio::spawn(wait);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every connection is one such entry, idle most of the time: ARCHITECTURE.md says how
    /// big it is, and this holds it to that.
    #[test]
    fn a_connection_is_small() {
        let size = std::mem::size_of::<Driver<crate::doors::chatos::ChatOs>>();
        assert!(size <= 136, "a ChatOS connection's entry is {size} bytes");
    }

    /// An IRC connection keeps what waits for the hub's answers boxed, absent while idle.
    #[test]
    fn an_irc_connection_is_small_too() {
        let size = std::mem::size_of::<Driver<crate::doors::irc::Irc>>();
        assert!(size <= 424, "an IRC connection's entry is {size} bytes");
    }
}

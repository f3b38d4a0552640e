//! The ChatOS front door: one task per connection that decodes packets into hub commands,
//! writes what the hub queues for it, and, when the hub makes it one end of a private link,
//! hands its socket (and any bytes already read) to the relay.
//!
//! A packet that breaks the protocol (unknown opcode, string length ≤ 0 or over the limit,
//! bad UTF-8) leaves the stream impossible to resynchronise: the connection is closed once the
//! answers to its earlier packets are written. Everything it sent before stays accepted.

use crate::io::{flush, read_once, release_if_empty, wait, Read, Wake};
use crate::metrics::Metrics;
use crate::outbox::{Out, Outbox};
use crate::router::HubMsg;
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Command, Event, HubError, LinkId, LinkKey, Protocol, SessionId};
use proto::chatos::{Codec, ErrorCode, Packet};
use std::collections::VecDeque;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tracing::debug;

/// Every ERROR packet, ready to send without an allocation (index = code).
static ERROR_PACKETS: [[u8; 2]; 9] = [[8, 0], [8, 1], [8, 2], [8, 3], [8, 4], [8, 5], [8, 6], [8, 7], [8, 8]];

pub(crate) fn encode_reply(result: Result<(), HubError>) -> Bytes {
    let code = match result {
        Ok(()) => ErrorCode::Ok,
        Err(HubError::NameTaken) => ErrorCode::PseudoUnavailable,
        Err(HubError::InvalidName | HubError::NotYourName) => ErrorCode::InvalidPseudonym,
        Err(HubError::NotLoggedIn) => ErrorCode::NotConnected,
        Err(HubError::Unreachable) => ErrorCode::UnreachableUser,
        Err(HubError::LinkInProgress) => ErrorCode::TcpInProtocol,
        Err(HubError::NoSuchLink) => ErrorCode::TcpNotInProtocol,
    };
    Bytes::from_static(&ERROR_PACKETS[code as usize])
}

fn wire_key(k: &LinkKey) -> proto::chatos::LinkKey {
    proto::chatos::LinkKey { sender: k.a.clone(), recipient: k.b.clone(), password: k.password }
}

fn hub_key(k: proto::chatos::LinkKey) -> LinkKey {
    LinkKey { a: k.sender, b: k.recipient, password: k.password }
}

pub(crate) fn encode_event(event: &Event) -> Bytes {
    let packet = match event {
        Event::Lobby { from, text } => Packet::Sma { sender: from.clone(), message: text.clone() },
        Event::Direct { from, to, text } => {
            Packet::Spm { sender: from.clone(), recipient: to.clone(), message: text.clone() }
        }
        Event::LinkAsked(k) => Packet::TcpAsk(wire_key(k)),
        Event::LinkAccepted(k) => Packet::TcpAccept(wire_key(k)),
        Event::LinkAborted(k) => Packet::TcpAbort(wire_key(k)),
    };
    packet.to_bytes()
}

/// How a connection's task ended.
enum End {
    Closed,
    /// The socket now belongs to this link's relay.
    Park(LinkId),
}

struct Driver {
    session: SessionId,
    stream: TcpStream,
    outbox: Arc<Outbox>,
    shared: Arc<Shared>,
    codec: Codec,
    /// Bytes read and not yet decoded; empty (no allocation) while idle.
    rbuf: BytesMut,
    /// Bytes taken from the outbox and not yet written.
    wbuf: VecDeque<Bytes>,
    /// A TCPAccept or TCPConnect went to the hub: read nothing more until it says whether this
    /// connection became a link end.
    awaiting_verdict: bool,
    /// The connection broke the protocol: read nothing more, close once answers are written.
    hung_up: bool,
    /// A message the hub task's full queue could not take yet: read nothing more until it is
    /// sent. Boxed, so that it costs a connection nothing while absent.
    blocked: Option<Box<HubMsg>>,
}

/// Sets a new connection up and returns its task. Only the driver is captured, so the task's
/// future is little more than the driver itself.
pub(crate) fn serve(stream: TcpStream, peer: SocketAddr, shared: Arc<Shared>) -> impl Future<Output = ()> + Send {
    let session = shared.new_session();
    debug!(session = session.0, %peer, "chatos: connected");
    let outbox = Arc::new(Outbox::default());
    let origin = peer.ip().to_canonical();
    let connected = HubMsg::Connected { session, protocol: Protocol::ChatOs, origin, outbox: outbox.clone() };
    let codec = Codec::new(shared.config.max_string);
    let mut d = Driver {
        session,
        stream,
        outbox,
        shared,
        codec,
        rbuf: BytesMut::new(),
        wbuf: VecDeque::new(),
        awaiting_verdict: false,
        hung_up: false,
        blocked: None,
    };
    d.post(connected);
    async move {
        let end = d.run().await;
        if let Ok(Some(wait)) = d.finish(end) {
            let _ = wait.await;
        }
    }
}

/// The wait for room in the hub task's queue, boxed: it is rare, and kept out of line a
/// connection's future stays small.
type Wait = Pin<Box<dyn Future<Output = Result<(), ()>> + Send>>;

/// Sends to the hub task at once if its queue has room, else returns the wait for room.
/// `Err` if the hub task is gone (the server is stopping).
fn send_or_wait(hub: &mpsc::Sender<HubMsg>, msg: HubMsg) -> Result<Option<Wait>, ()> {
    match hub.try_send(msg) {
        Ok(()) => Ok(None),
        Err(mpsc::error::TrySendError::Closed(_)) => Err(()),
        Err(mpsc::error::TrySendError::Full(msg)) => {
            let hub = hub.clone();
            Ok(Some(Box::pin(async move { hub.send(msg).await.map_err(drop) })))
        }
    }
}

impl Driver {
    /// Hands the socket to its link's relay, or closes it, and tells the hub; returns the wait
    /// for room in the hub's queue, if there is none now.
    fn finish(self, end: End) -> Result<Option<Wait>, ()> {
        let Driver { session, stream, rbuf, shared, .. } = self;
        if let End::Park(link) = end {
            debug!(session = session.0, link = link.0, "chatos: connection becomes a private link end");
            shared.relays.deposit(link, (stream, rbuf), shared.hub.clone(), shared.metrics.clone());
        } else {
            drop(stream);
        }
        Metrics::dec(&shared.metrics.open);
        debug!(session = session.0, "chatos: disconnected");
        send_or_wait(&shared.hub, HubMsg::Disconnected { session })
    }

    async fn run(&mut self) -> End {
        let mut after_flush = None;
        loop {
            if let Some(msg) = self.blocked.take() {
                let sent = match send_or_wait(&self.shared.hub, *msg) {
                    Ok(Some(wait)) => wait.await,
                    other => other.map(drop),
                };
                self.hung_up |= sent.is_err(); // the hub is gone: the server is stopping
                self.decode();
                continue;
            }
            let reading = !self.awaiting_verdict && !self.hung_up && after_flush.is_none();
            let writing = !self.wbuf.is_empty();
            let more = match wait(&self.stream, &self.outbox, reading, writing).await {
                Ok(Wake::Outbox) => self.pull_and_flush(&mut after_flush),
                Ok(Wake::Writable) => match flush(&self.stream, &mut self.wbuf) {
                    Ok(true) => self.pull_and_flush(&mut after_flush),
                    Ok(false) => Ok(()),
                    Err(_) => Err(()),
                },
                Ok(Wake::Readable) => match read_once(&self.stream, &mut self.rbuf) {
                    Ok(Read::Data) => {
                        self.decode();
                        Ok(())
                    }
                    Ok(Read::Nothing) => Ok(()),
                    Ok(Read::Eof) => {
                        if !self.rbuf.is_empty() {
                            debug!(
                                session = self.session.0,
                                bytes = self.rbuf.len(),
                                "chatos: closed in the middle of a packet"
                            );
                        }
                        Err(())
                    }
                    Err(e) => {
                        debug!(session = self.session.0, error = %e, "chatos: read failed");
                        Err(())
                    }
                },
                Err(e) => {
                    debug!(session = self.session.0, error = %e, "chatos: socket failed");
                    Err(())
                }
            };
            if more.is_err() {
                // A link end still goes to its relay, which sees the broken socket and closes
                // the link; else the hub would hold the link open for good.
                return match after_flush {
                    Some(End::Park(link)) => End::Park(link),
                    _ => End::Closed,
                };
            }
            if self.wbuf.is_empty() {
                if let Some(end) = after_flush.take() {
                    return end;
                }
            }
        }
    }

    /// Takes the outbox's next batch and writes what the socket takes now. `Err`: close now
    /// (the outbox overflowed, or the socket failed).
    fn pull_and_flush(&mut self, after_flush: &mut Option<End>) -> Result<(), ()> {
        let (items, overflowed) = if self.wbuf.is_empty() && after_flush.is_none() {
            self.outbox.take()
        } else {
            (Vec::new(), self.outbox.overflowed())
        };
        if overflowed {
            return Err(());
        }
        let mut resumed = false;
        for item in items {
            match item {
                Out::Bytes(b) => self.wbuf.push_back(b),
                Out::Resume => resumed = true,
                Out::Park(link) => *after_flush = Some(End::Park(link)),
                Out::Close => *after_flush = Some(End::Closed),
            }
        }
        flush(&self.stream, &mut self.wbuf).map_err(drop)?;
        if resumed && after_flush.is_none() {
            self.awaiting_verdict = false;
            self.decode();
        }
        Ok(())
    }

    /// Decodes and forwards every whole packet buffered, until a link packet awaits its verdict
    /// or the hub task's queue is full.
    fn decode(&mut self) {
        while !self.awaiting_verdict && !self.hung_up && self.blocked.is_none() {
            match self.codec.decode(&mut self.rbuf) {
                Ok(Some(packet)) => self.forward(packet),
                Ok(None) => break,
                Err(e) => {
                    debug!(session = self.session.0, error = %e, "chatos: bad input, closing the connection");
                    Metrics::inc(&self.shared.metrics.bad_input);
                    self.hung_up = true;
                    self.rbuf = BytesMut::new();
                    self.post(HubMsg::Hangup { session: self.session });
                }
            }
        }
        release_if_empty(&mut self.rbuf);
    }

    fn forward(&mut self, packet: Packet) {
        let command = match packet {
            Packet::Cr { pseudo } => Command::Login { name: pseudo, verified: false },
            Packet::Spm { sender, recipient, message } => Command::Direct { sender, to: recipient, text: message },
            Packet::Sma { sender, message } => Command::Lobby { sender, text: message },
            Packet::TcpAsk(k) => Command::LinkAsk(hub_key(k)),
            Packet::TcpAbort(k) => Command::LinkAbort(hub_key(k)),
            Packet::TcpAccept(k) => {
                self.awaiting_verdict = true;
                Command::LinkAccept(hub_key(k))
            }
            Packet::TcpConnect(k) => {
                self.awaiting_verdict = true;
                Command::LinkConnect(hub_key(k))
            }
            Packet::Error(code) => {
                debug!(session = self.session.0, code, "chatos: client sent an ERROR packet; ignored");
                return;
            }
        };
        self.post(HubMsg::Command { session: self.session, command });
    }

    /// Sends to the hub task without waiting; if its queue is full, keeps the message for the
    /// run loop to send, and reading stops until then.
    fn post(&mut self, msg: HubMsg) {
        match self.shared.hub.try_send(msg) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(msg)) => self.blocked = Some(Box::new(msg)),
            Err(mpsc::error::TrySendError::Closed(_)) => self.hung_up = true,
        }
    }
}

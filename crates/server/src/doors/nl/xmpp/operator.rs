//! One full JID on the XMPP session, driven as the connection driver drives a socket: its
//! chat bodies go through the NL door's decoding (one raw packet each: decrypted on a
//! blocking thread, at most 8 blocks before `key`), and what the hub queues for it is
//! encrypted to its key and handed back to the XMPP session. It becomes a hub session, and
//! an operator in the pool, only once its `key` opened; a JID that sends no `key` within the
//! login timeout is forgotten.

use super::{Input, Outs};
use crate::doors::nl::{NlDoor, Operator};
use crate::msg::HubMsg;
use crate::net::conn::{Act, Protocol};
use crate::net::outbox::{Outbox, Outgoing};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Command, SessionId};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_xmpp::jid::FullJid;
use tracing::debug;

/// Bodies waiting for a JID's task: more are dropped (counted).
const INBOX: usize = 32;

/// A JID's task, as the XMPP session holds it.
pub(super) struct Entry {
    pub tx: mpsc::Sender<Input>,
    keyed: Arc<AtomicBool>,
}

impl Entry {
    /// Its `key` opened: it is an operator, not a stranger.
    pub fn is_operator(&self) -> bool {
        self.keyed.load(Ordering::Relaxed)
    }
}

/// Starts the task of `jid`, which gives its packets to `out`; with `known`, an operator whose
/// key is known already, in the pool at once.
pub(super) fn spawn(jid: FullJid, shared: Arc<Shared>, out: Outs, tls: bool, known: Option<Operator>) -> Entry {
    let (tx, inbox) = mpsc::channel(INBOX);
    let keyed = Arc::new(AtomicBool::new(false));
    let uuid = known.as_ref().map(|op| op.uuid.clone());
    let door = NlDoor::over_xmpp(&shared, known);
    let session = shared.new_session();
    let task = Task {
        jid,
        out,
        inbox,
        door,
        session,
        outbox: Arc::new(Outbox::default()),
        connected: false,
        keyed: keyed.clone(),
        tat: 0,
        rbuf: BytesMut::new(),
        tls,
        shared,
    };
    tokio::spawn(task.run(uuid));
    Entry { tx, keyed }
}

struct Task {
    jid: FullJid,
    shared: Arc<Shared>,
    out: Outs,
    inbox: mpsc::Receiver<Input>,
    door: NlDoor,
    session: SessionId,
    outbox: Arc<Outbox>,
    /// A hub session (its `key` opened).
    connected: bool,
    keyed: Arc<AtomicBool>,
    /// The session's bucket of chat messages (`Shared::meter`).
    tat: u64,
    rbuf: BytesMut,
    /// The XMPP session is over TLS (for the figures).
    tls: bool,
}

/// How a task ended.
#[derive(PartialEq)]
enum End {
    /// The hub closed its session (it left the pool: a missed probe, `disconnect`, the hub
    /// stopping).
    ByHub,
    /// It went away, or never was an operator, or the hub is gone.
    Other,
}

impl Task {
    /// `rejoin`: the UUID of an operator whose key is known, which joins the pool at once.
    async fn run(mut self, rejoin: Option<String>) {
        let deadline = tokio::time::Instant::now() + self.shared.config.login_timeout();
        if let Some(uuid) = rejoin {
            debug!(jid = %self.jid, "nl: an XMPP operator dropped while the session was away is taken back");
            if !self.command(Command::OperatorKey { uuid }).await {
                return;
            }
        }
        let end = loop {
            let outbox = &self.outbox;
            tokio::select! {
                input = self.inbox.recv() => match input {
                    None | Some(Input::Gone) => break End::Other,
                    Some(Input::Back) => {
                        let online = crate::doors::nl::encode_event(&hub::Event::Desk(hub::DeskEvent::ServerOnline));
                        if let Some(line) = online.filter(|_| self.connected) {
                            self.send(line).await;
                        }
                    }
                    Some(Input::Body(body)) => {
                        if !self.body(&body).await {
                            break End::Other;
                        }
                    }
                },
                () = std::future::poll_fn(|cx| outbox.poll(cx, true)), if self.connected => {
                    if !self.pull().await {
                        break End::ByHub;
                    }
                }
                () = tokio::time::sleep_until(deadline), if !self.connected => {
                    debug!(jid = %self.jid, "nl: no key from this JID in time: forgotten");
                    break End::Other;
                }
            }
        };
        if self.connected {
            debug!(session = self.session.0, jid = %self.jid, "nl: an XMPP operator left");
            let _ = self.shared.hub.send(HubMsg::Disconnected { session: self.session }).await;
        }
        let operator = match end {
            End::ByHub => self.door.take_operator(),
            End::Other => None,
        };
        let Task { jid, out, inbox, .. } = self;
        drop(inbox); // the XMPP session sees the task gone
        let _ = out.ended.send((jid, operator));
    }

    /// One chat body, one raw packet; `false`: the task ends (the hub is gone).
    async fn body(&mut self, body: &str) -> bool {
        // One body is one packet: JSON has no line breaks outside its whitespace.
        self.rbuf.extend(body.bytes().map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }));
        self.rbuf.extend_from_slice(b"\n");
        loop {
            match self.door.next(&mut self.rbuf, self.session, &self.shared) {
                Ok(None) => break,
                Ok(Some(act)) => {
                    if !self.act(act).await {
                        return false;
                    }
                }
                Err(e) => {
                    debug!(jid = %self.jid, error = %e, "nl: a packet broke the protocol: ignored");
                    self.metrics().bad_input.inc();
                    self.rbuf.clear();
                }
            }
        }
        self.rbuf = BytesMut::new();
        true
    }

    fn metrics(&self) -> &crate::metrics::DoorMetrics {
        self.shared.metrics.door(crate::doors::nl::SPEC.door, self.tls)
    }

    async fn act(&mut self, mut act: Act) -> bool {
        loop {
            match act {
                Act::Later(later) => act = later.await,
                Act::Hub(command) => return self.command(command).await,
                Act::Ignored => {
                    self.metrics().bad_input.inc();
                    return true;
                }
                Act::Dropped => {
                    self.metrics().dropped_frames.inc();
                    return true;
                }
                Act::Stop => return false,
                _ => return true,
            }
        }
    }

    /// A command for the hub; the first must be a `key`, which makes the JID a session.
    async fn command(&mut self, command: Command) -> bool {
        if !self.connected {
            if !matches!(command, Command::OperatorKey { .. }) {
                return true;
            }
            let connected = HubMsg::Connected {
                session: self.session,
                door: crate::doors::nl::SPEC.door,
                tls: self.tls,
                origin: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                outbox: self.outbox.clone(),
                limit: self.shared.config.outbound_limit,
            };
            if self.shared.hub.send(connected).await.is_err() {
                return false;
            }
            debug!(session = self.session.0, jid = %self.jid, "nl: an XMPP operator joined");
            self.connected = true;
            self.keyed.store(true, Ordering::Relaxed);
        }
        if let Some(wait) = self.shared.meter(&mut self.tat, &command) {
            tokio::time::sleep(wait).await;
        }
        self.shared.hub.send(HubMsg::Command { session: self.session, command }).await.is_ok()
    }

    /// Takes what the hub queued and hands it to the XMPP session; `false`: the session is
    /// over (closed by the hub, or its queue overflowed).
    async fn pull(&mut self) -> bool {
        let (items, overflowed) = self.outbox.take();
        if overflowed {
            debug!(session = self.session.0, jid = %self.jid, "nl: too much queued for an XMPP operator");
            self.metrics().slow_consumers.inc();
            return false;
        }
        for item in items {
            match item {
                Outgoing::Bytes(bytes) => self.send(bytes).await,
                Outgoing::Page { bytes, last } => {
                    self.send(bytes).await;
                    let _ = self.shared.hub.send(HubMsg::PageDelivered { session: self.session, last }).await;
                }
                Outgoing::Close => return false,
                Outgoing::Park(_) | Outgoing::Resume => {}
            }
        }
        true
    }

    /// Plain command lines, sealed to the operator's key, one message each.
    async fn send(&mut self, plain: Bytes) {
        let sealed = self.door.outgoing(plain);
        for line in sealed.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            let packet = (self.jid.clone(), Bytes::copy_from_slice(line));
            if self.out.packets.send(packet).await.is_err() {
                return;
            }
        }
    }
}

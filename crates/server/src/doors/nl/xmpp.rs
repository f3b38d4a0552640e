//! NL Chat over XMPP, the original system's transport: the hub logs into an XMPP server as a
//! client (`[doors.nl] xmpp_jid`), and each NL raw packet travels as the body of a
//! `<message type='chat'>` between the hub's full JID and an operator's full JID. An operator
//! is a full JID whose `key` opened: from then on it is a hub session of the NL door like a
//! TCP connection (one pool of operators whatever the transport), answered at that full JID,
//! and its own task ([`operator`]) drives it as the connection driver drives a socket.
//!
//! This task holds the XMPP session (tokio-xmpp: STARTTLS with the server's certificate
//! checked, SASL, resource binding, stream management, reconnection with backoff): it hands
//! each chat body to the task of the full JID it came from (starting one for a JID not seen
//! yet, at most [`STRANGERS`] at once that have not sent `key`), sends what operators' tasks
//! give it, answers XEP-0199 pings and pings the server, and ends an operator whose resource
//! goes unavailable or to whom a message bounced. When the session comes back after a loss,
//! every operator still in the pool hears `server_online`, and every one dropped meanwhile
//! (its probes unanswerable) is taken back with the key it gave.
//! What it ignores (other message types, stanzas of its own echoed back, presence of other
//! resources, bodies over the line bound) is logged and counted as bad input.

use super::{NlConfig, Operator};
use crate::Shared;
use anyhow::Context;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use rustc_hash::FxHashMap;
use std::borrow::Cow;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, BufStream};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::rustls;
use tokio_xmpp::connect::ServerConnector;
use tokio_xmpp::error::ProtocolError;
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::parsers::ping::Ping;
use tokio_xmpp::parsers::presence::{Presence, Type as PresenceType};
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::parsers::starttls;
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::xmlstream::{
    initiate_stream, FallibleStreamElement, PendingFeaturesRecv, ReadError, StreamHeader, Timeouts, XmppStream,
    XmppStreamElement,
};
use tokio_xmpp::Stanza;
use tracing::{debug, info, warn};

mod operator;

/// At most this many full JIDs that have not sent `key` have a task at once: a stranger's
/// flood of resources costs the hub this much, no more.
const STRANGERS: usize = 16;
/// Operators dropped from the pool while the XMPP session was away, taken back with their key
/// when it comes back.
const REMEMBERED: usize = 256;
/// How often the hub pings the XMPP server (XEP-0199) on a quiet session.
const PING_EVERY: Duration = Duration::from_secs(60);
/// Stanzas waiting for the XMPP session (while it reconnects, say), per direction.
const QUEUE: usize = 256;

/// An XMPP account to log into: the one the desk serves operators through, or an operator
/// console's (`switchboard nl --xmpp-jid`).
pub struct Account {
    jid: FullJid,
    password: String,
    server: String,
    /// `None`: plaintext (`xmpp_insecure_plain`).
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl Account {
    /// The account the settings name, its password read; `None` if none is named.
    pub fn from_config(nl: &NlConfig) -> anyhow::Result<Option<Account>> {
        let Some(jid) = &nl.xmpp_jid else { return Ok(None) };
        let path = nl.xmpp_password_file.as_ref().context("doors.nl.xmpp_jid needs doors.nl.xmpp_password_file")?;
        let account = Account::new(jid, path, nl.xmpp_server.clone(), nl.xmpp_ca.as_deref(), nl.xmpp_insecure_plain)
            .context("doors.nl.xmpp_jid")?;
        Ok(Some(account))
    }

    /// The account `jid` (a full JID), its password the first line of `password_file`, on
    /// `server` (default: the JID's domain, port 5222), over STARTTLS with the certificate
    /// checked against `ca` (default: the Mozilla roots), or plainly if `plain`.
    pub fn new(
        jid: &str,
        password_file: &Path,
        server: Option<String>,
        ca: Option<&Path>,
        plain: bool,
    ) -> anyhow::Result<Account> {
        let jid =
            FullJid::new(jid).map_err(|e| anyhow::anyhow!("{jid:?} is no full JID (user@domain/resource): {e}"))?;
        let path = password_file;
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let password = text.lines().next().unwrap_or_default().to_owned();
        anyhow::ensure!(!password.is_empty(), "{}: its first line, the XMPP password, is empty", path.display());
        let server = server.unwrap_or_else(|| format!("{}:5222", jid.domain()));
        let tls = match plain {
            true => None,
            false => Some(crate::net::tls::client_config(ca).context("the XMPP server's CA")?),
        };
        Ok(Account { jid, password, server, tls })
    }

    pub fn jid(&self) -> &FullJid {
        &self.jid
    }

    /// Where it connects (`HOST:PORT`).
    pub fn server(&self) -> &str {
        &self.server
    }

    /// Its session, which connects (and reconnects) by itself: events and stanzas come out
    /// of it, and every stanza sent waits in it, in order, for the session to be up.
    pub fn session(&self, timeouts: Timeouts) -> StanzaStream {
        let connector = Connector { server: self.server.clone(), tls: self.tls.clone() };
        StanzaStream::new_c2s(connector, self.jid.clone().into(), self.password.clone(), timeouts, QUEUE)
    }
}

/// A byte stream to the XMPP server, plain or TLS.
pub(crate) trait Io: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Io for T {}

/// Connects to the configured server (no DNS SRV lookup) and, unless told to speak plainly,
/// goes to TLS with STARTTLS and checks the server's certificate for the JID's domain.
#[derive(Clone)]
struct Connector {
    server: String,
    tls: Option<Arc<rustls::ClientConfig>>,
}

impl std::fmt::Debug for Connector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connector").field("server", &self.server).field("tls", &self.tls.is_some()).finish()
    }
}

impl ServerConnector for Connector {
    type Stream = BufStream<Box<dyn Io>>;

    async fn connect(
        &self,
        jid: &Jid,
        ns: &'static str,
        timeouts: Timeouts,
    ) -> Result<(PendingFeaturesRecv<Self::Stream>, sasl::common::ChannelBinding), tokio_xmpp::Error> {
        use sasl::common::ChannelBinding;
        let tcp = TcpStream::connect(&self.server).await?;
        tcp.set_nodelay(true)?;
        let domain = jid.domain().to_string();
        let header = || StreamHeader { to: Some(Cow::Owned(domain.clone())), from: None, id: None };
        let Some(config) = &self.tls else {
            let io: Box<dyn Io> = Box::new(tcp);
            return Ok((initiate_stream(BufStream::new(io), ns, header(), timeouts).await?, ChannelBinding::None));
        };
        let pending = initiate_stream(BufStream::new(tcp), ns, header(), timeouts).await?;
        let (features, mut stream): (_, XmppStream<_>) = pending.recv_features().await?;
        if !features.can_starttls() {
            return Err(ProtocolError::NoTls.into());
        }
        stream.send(&XmppStreamElement::Starttls(starttls::Nonza::Request(starttls::Request))).await?;
        loop {
            match stream.next().await {
                Some(Ok(FallibleStreamElement::Ok(XmppStreamElement::Starttls(starttls::Nonza::Proceed(_))))) => break,
                Some(Ok(_)) | Some(Err(ReadError::SoftTimeout)) => {}
                Some(Err(ReadError::HardError(e))) => return Err(e.into()),
                Some(Err(ReadError::ParseError(e))) => {
                    return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, e).into())
                }
                None | Some(Err(ReadError::StreamFooterReceived)) => return Err(tokio_xmpp::Error::Disconnected),
            }
        }
        let tcp = stream.into_inner().into_inner();
        let name = rustls::pki_types::ServerName::try_from(domain.clone())
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
        let tls = tokio_rustls::TlsConnector::from(config.clone()).connect(name, tcp).await?;
        // SCRAM's channel binding, with TLS 1.3 (RFC 9266).
        let (_, connection) = tls.get_ref();
        let binding = match connection.protocol_version() {
            Some(rustls::ProtocolVersion::TLSv1_3) => connection
                .export_keying_material(vec![0u8; 32], b"EXPORTER-Channel-Binding", None)
                .map_or(ChannelBinding::None, ChannelBinding::TlsExporter),
            _ => ChannelBinding::None,
        };
        let io: Box<dyn Io> = Box::new(tls);
        Ok((initiate_stream(BufStream::new(io), ns, header(), timeouts).await?, binding))
    }
}

/// The NL door's `also`: the XMPP session, if an account is configured; on a cluster's
/// node, only while the node holds its lease.
pub(crate) fn serve(shared: &Arc<Shared>) -> Vec<crate::doors::spec::Serving> {
    let keys = shared.state::<super::Keys>(super::SPEC.door);
    match (&keys.xmpp, &keys.lease) {
        (Some(account), None) => vec![Box::pin(run(shared.clone(), account.clone()))],
        (Some(account), Some(lease)) => vec![Box::pin(held(shared.clone(), account.clone(), lease.clone()))],
        (None, _) => Vec::new(),
    }
}

/// How long a lease lives unless renewed; another node takes the session over within this of
/// its holder's death.
const LEASE_AGE: Duration = Duration::from_secs(6);
/// How often the holder renews it, and the others try for it.
const LEASE_BEAT: Duration = Duration::from_secs(2);
/// A holder that could not renew for this long gives the session up, before the lease could
/// have aged out and another node taken it: two nodes never hold one JID's session.
const LEASE_GIVE_UP: Duration = Duration::from_secs(4);
/// The lease's key.
const LEASE_KEY: &str = "nl-xmpp";

/// The right to hold the XMPP session, in a cluster: one node at a time (two on one full JID
/// would throw each other off the XMPP server).
#[derive(Clone)]
pub(crate) struct Lease {
    kv: async_nats::jetstream::kv::Store,
    /// This node, as the lease names its holder.
    node: String,
}

impl Lease {
    pub async fn open(durable: &crate::cluster::state::Durable, node: String) -> anyhow::Result<Lease> {
        Ok(Lease { kv: durable.leases(LEASE_AGE).await?, node })
    }

    /// Waits until this node holds the lease; its revision.
    async fn acquire(&self) -> u64 {
        loop {
            if let Ok(revision) = self.kv.create(LEASE_KEY, self.node.clone().into()).await {
                return revision;
            }
            tokio::time::sleep(LEASE_BEAT).await;
        }
    }

    /// Renews the lease from `revision` on, until it is lost (taken, or not renewed in time).
    async fn keep(&self, mut revision: u64) {
        let mut renewed = tokio::time::Instant::now();
        loop {
            tokio::time::sleep(LEASE_BEAT).await;
            match self.kv.update(LEASE_KEY, self.node.clone().into(), revision).await {
                Ok(next) => (revision, renewed) = (next, tokio::time::Instant::now()),
                Err(e) if e.kind() == async_nats::jetstream::kv::UpdateErrorKind::WrongLastRevision => return,
                Err(e) => {
                    warn!(error = %e, "nl: the XMPP session's lease could not be renewed");
                    if renewed.elapsed() >= LEASE_GIVE_UP {
                        return;
                    }
                }
            }
        }
    }

    /// Gives it back, so that another node need not wait for it to age out.
    async fn release(&self, revision: u64) {
        let _ = self.kv.delete_expect_revision(LEASE_KEY, Some(revision)).await;
    }
}

/// On a cluster's node: the XMPP session while this node holds the lease, given up the
/// moment the lease is lost, and taken again when it can be.
async fn held(shared: Arc<Shared>, account: Arc<Account>, lease: Lease) {
    loop {
        let revision = tokio::select! {
            revision = lease.acquire() => revision,
            () = shared.hub.closed() => return,
        };
        info!(node = %lease.node, "nl: this node holds the XMPP session");
        let session = run(shared.clone(), account.clone());
        tokio::pin!(session);
        tokio::select! {
            () = &mut session => {
                lease.release(revision).await;
                return;
            }
            () = lease.keep(revision) => warn!("nl: the XMPP session's lease is lost: this node lets the session go"),
        }
    }
}

/// What an operator's task hears from the XMPP session.
enum Input {
    /// A chat body from its full JID.
    Body(String),
    /// Its resource went unavailable, or a message to it bounced: it is gone.
    Gone,
    /// The XMPP session came back after a loss: it hears `server_online`.
    Back,
}

/// Where an operator's task gives what it has for the XMPP session: raw packets for its full
/// JID (held while the session is away), and, once, that it ended (`Some`: an operator dropped
/// from the pool, to take back if the session was away meanwhile).
#[derive(Clone)]
struct Outs {
    packets: mpsc::Sender<(FullJid, Bytes)>,
    ended: mpsc::UnboundedSender<(FullJid, Option<Operator>)>,
}

/// Every full JID with a task, and whether it is an operator yet.
#[derive(Default)]
struct Tasks {
    by_jid: FxHashMap<FullJid, operator::Entry>,
    /// Operators dropped from the pool while the session was away, to take back on its return.
    dropped: FxHashMap<FullJid, Operator>,
}

async fn run(shared: Arc<Shared>, account: Arc<Account>) {
    /// The gauge says offline however the session ends (its future dropped, too).
    struct Offline<'a>(&'a prometheus_client::metrics::gauge::Gauge);
    impl Drop for Offline<'_> {
        fn drop(&mut self) {
            self.0.set(0);
        }
    }
    let _offline = Offline(&shared.metrics.desk_xmpp);
    let timeouts = Timeouts { read_timeout: PING_EVERY, response_timeout: Duration::from_secs(20) };
    let mut stream = account.session(timeouts);
    let (packets, mut packets_rx) = mpsc::channel(QUEUE);
    let (ended, mut ended_rx) = mpsc::unbounded_channel();
    let mut out_tx = Some(Outs { packets, ended });
    let mut tasks = Tasks::default();
    let mut me: Option<FullJid> = None;
    // Bound and not interrupted.
    let mut online = false;
    let mut ping = tokio::time::interval(PING_EVERY);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pings = 0u64;
    let tls = account.tls.is_some();
    info!(jid = %account.jid, server = %account.server, tls, "nl: connecting to the XMPP server");
    loop {
        tokio::select! {
            // The hub stopped: no new JID; strangers are forgotten, and operators end once
            // the hub's last words to them are sent.
            () = shared.hub.closed(), if out_tx.is_some() => {
                out_tx = None;
                for entry in tasks.by_jid.values().filter(|entry| !entry.is_operator()) {
                    let _ = entry.tx.try_send(Input::Gone);
                }
                if !online {
                    break; // nobody can be told anything
                }
            }
            // While the session is away, what operators' tasks give waits in their queue
            // (and then their outboxes), in order, and this loop never waits on a send.
            packet = packets_rx.recv(), if online => {
                if let Some((to, packet)) = packet {
                    stream.send(Box::new(Stanza::Message(chat(to, &packet)))).await;
                }
            }
            gone = ended_rx.recv() => match gone {
                Some((jid, operator)) => {
                    if tasks.by_jid.get(&jid).is_some_and(|entry| entry.tx.is_closed()) {
                        tasks.by_jid.remove(&jid);
                    }
                    // Dropped while the session was away: it may not have heard its probes.
                    if let Some(operator) = operator.filter(|_| !online) {
                        if tasks.dropped.len() < REMEMBERED {
                            tasks.dropped.insert(jid, operator);
                        }
                    }
                }
                // Every operator's task ended after the hub stopped: their last words out.
                None => {
                    while let Ok((to, packet)) = packets_rx.try_recv() {
                        stream.send(Box::new(Stanza::Message(chat(to, &packet)))).await;
                    }
                    break;
                }
            },
            _ = ping.tick(), if online => {
                if let Some(me) = &me {
                    pings += 1;
                    if let Ok(server) = Jid::new(me.domain().as_str()) {
                        let iq = Iq::from_get(format!("ping-{pings}"), Ping).with_to(server);
                        stream.send(Box::new(Stanza::Iq(iq))).await;
                    }
                }
            }
            event = stream.next() => match event {
                None => {
                    warn!("nl: the XMPP session ended for good");
                    break;
                }
                Some(Event::Stream(StreamEvent::Reset { bound_jid, .. })) => {
                    let bound = bound_jid.try_as_full().ok().cloned();
                    let again = me.is_some();
                    info!(jid = %bound_jid, again, "nl: online on the XMPP server");
                    me = bound;
                    online = true;
                    shared.metrics.desk_xmpp.set(1);
                    stream.send(Box::new(Stanza::Presence(Presence::available()))).await;
                    if again {
                        // Lost state: the operators may have missed what was said meanwhile.
                        for entry in tasks.by_jid.values() {
                            let _ = entry.tx.try_send(Input::Back);
                        }
                        // Those dropped while it was away (they could not answer probes) are
                        // taken back with the key they gave: they hear `server_online` and
                        // `status`, as after a `key` (the original client waits for `status`),
                        // and a probe finds out whether they are still there.
                        if let Some(out) = &out_tx {
                            for (jid, operator) in tasks.dropped.drain() {
                                tasks.by_jid.retain(|_, entry| !entry.tx.is_closed());
                                if let std::collections::hash_map::Entry::Vacant(vacant) = tasks.by_jid.entry(jid) {
                                    let jid = vacant.key().clone();
                                    vacant.insert(operator::spawn(jid, shared.clone(), out.clone(), tls, Some(operator)));
                                }
                            }
                        }
                    }
                }
                Some(Event::Stream(StreamEvent::Suspended)) => {
                    warn!("nl: the XMPP session is interrupted: reconnecting");
                    online = false;
                    shared.metrics.desk_xmpp.set(0);
                    if out_tx.is_none() {
                        break;
                    }
                }
                Some(Event::Stream(StreamEvent::Resumed)) => {
                    info!("nl: the XMPP session resumed, nothing lost");
                    online = true;
                    shared.metrics.desk_xmpp.set(1);
                }
                Some(Event::Stanza(stanza)) => {
                    let answer = on_stanza(stanza, me.as_ref(), &mut tasks, out_tx.as_ref(), &shared, tls);
                    if let Some(answer) = answer {
                        stream.send(Box::new(answer)).await;
                    }
                }
            },
        }
    }
    // Offline, then the stream closed (with what is queued sent first).
    stream.send(Box::new(Stanza::Presence(Presence::unavailable()))).await;
    let _ = tokio::time::timeout(Duration::from_secs(2), stream.close()).await;
    info!("nl: logged out of the XMPP server");
}

/// A chat message with a raw packet for `to`.
fn chat(to: FullJid, packet: &[u8]) -> Message {
    let body = String::from_utf8_lossy(packet).trim_end().to_owned();
    Message::chat(Some(Jid::from(to))).with_body(Lang::default(), body)
}

/// Acts on one stanza from the XMPP server; returns the answer to send, if any.
fn on_stanza(
    stanza: Stanza,
    me: Option<&FullJid>,
    tasks: &mut Tasks,
    out: Option<&Outs>,
    shared: &Arc<Shared>,
    tls: bool,
) -> Option<Stanza> {
    let metrics = shared.metrics.door(super::SPEC.door, tls);
    match stanza {
        Stanza::Iq(Iq::Get { from, id, payload, .. }) => {
            let to = from?;
            if payload.is("ping", tokio_xmpp::parsers::ns::PING) {
                return Some(Stanza::Iq(Iq::empty_result(to, id)));
            }
            let error = StanzaError::new(ErrorType::Cancel, DefinedCondition::ServiceUnavailable, "en", "");
            Some(Stanza::Iq(Iq::from_error(id, error).with_to(to)))
        }
        Stanza::Iq(Iq::Set { from, id, .. }) => {
            let error = StanzaError::new(ErrorType::Cancel, DefinedCondition::ServiceUnavailable, "en", "");
            Some(Stanza::Iq(Iq::from_error(id, error).with_to(from?)))
        }
        Stanza::Iq(_) => None, // answers to our pings
        Stanza::Presence(presence) => {
            let from = presence.from.as_ref().and_then(|j| j.try_as_full().ok())?;
            if presence.type_ == PresenceType::Unavailable {
                if let Some(entry) = tasks.by_jid.remove(from) {
                    debug!(jid = %from, "nl: an operator's resource went unavailable");
                    let _ = entry.tx.try_send(Input::Gone);
                }
            }
            None
        }
        Stanza::Message(message) => {
            let from = message.from.as_ref().and_then(|j| j.try_as_full().ok()).cloned();
            let Some(from) = from.filter(|from| Some(from) != me) else {
                debug!(from = ?message.from, "nl: a message of the hub's own, or from no full JID: ignored");
                return None;
            };
            match message.type_ {
                // The original server took both (its client sends `chat`).
                MessageType::Chat | MessageType::Normal => {}
                MessageType::Error => {
                    // A message to it bounced: it is not there.
                    if let Some(entry) = tasks.by_jid.remove(&from) {
                        debug!(jid = %from, "nl: a message to an operator bounced: it is gone");
                        let _ = entry.tx.try_send(Input::Gone);
                    }
                    return None;
                }
                other => {
                    debug!(jid = %from, kind = ?other, "nl: a message that is not a chat: ignored");
                    metrics.bad_input.inc();
                    return None;
                }
            }
            let (_, body) = message.get_best_body_cloned(vec![])?;
            metrics.bytes_in.inc_by(body.len() as u64);
            if body.len() > shared.config.doors.nl.max_line {
                debug!(jid = %from, bytes = body.len(), "nl: a body over the line bound: ignored");
                metrics.bad_input.inc();
                return None;
            }
            deliver(from, body, tasks, out?, shared, tls);
            None
        }
    }
}

/// Hands a body to its JID's task, starting one if there is room for a stranger.
fn deliver(from: FullJid, body: String, tasks: &mut Tasks, out: &Outs, shared: &Arc<Shared>, tls: bool) {
    let metrics = shared.metrics.door(super::SPEC.door, tls);
    if let Some(entry) = tasks.by_jid.get(&from) {
        match entry.tx.try_send(Input::Body(body)) {
            Ok(()) => return,
            Err(mpsc::error::TrySendError::Full(_)) => {
                debug!(jid = %from, "nl: an operator sends faster than the hub reads: dropped");
                metrics.dropped_frames.inc();
                return;
            }
            Err(mpsc::error::TrySendError::Closed(Input::Body(body))) => {
                tasks.by_jid.remove(&from);
                return deliver(from, body, tasks, out, shared, tls);
            }
            Err(mpsc::error::TrySendError::Closed(_)) => return,
        }
    }
    tasks.by_jid.retain(|_, entry| !entry.tx.is_closed());
    let strangers = tasks.by_jid.values().filter(|entry| !entry.is_operator()).count();
    if strangers >= STRANGERS {
        debug!(jid = %from, "nl: too many full JIDs that sent no key: ignored");
        metrics.bad_input.inc();
        return;
    }
    let entry = operator::spawn(from.clone(), shared.clone(), out.clone(), tls, None);
    let _ = entry.tx.try_send(Input::Body(body));
    tasks.by_jid.insert(from, entry);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_account_is_read_from_its_settings_and_its_server_defaults_to_the_domain_on_5222() {
        let dir = tempfile::tempdir().unwrap();
        let password = dir.path().join("pw");
        std::fs::write(&password, "secret\nignored\n").unwrap();
        let account = Account::new("desk@example.org/switchboard", &password, None, None, false).unwrap();
        assert_eq!((account.server(), account.password.as_str()), ("example.org:5222", "secret"));
        assert!(account.tls.is_some(), "TLS unless told otherwise");
        let plain = Account::new("desk@example.org/s", &password, Some("127.0.0.1:1".into()), None, true).unwrap();
        assert_eq!((plain.server(), plain.tls.is_none()), ("127.0.0.1:1", true));
        let bare = Account::new("desk@example.org", &password, None, None, true).err().unwrap();
        assert!(bare.to_string().contains("no full JID"), "{bare}");
        std::fs::write(&password, "\n").unwrap();
        assert!(Account::new("desk@example.org/s", &password, None, None, true).is_err(), "an empty password");
        let mut nl = NlConfig::default();
        assert!(Account::from_config(&nl).unwrap().is_none(), "no JID, no XMPP");
        nl.xmpp_jid = Some("desk@example.org/s".into());
        assert!(Account::from_config(&nl).is_err(), "a JID needs its password file");
    }
}

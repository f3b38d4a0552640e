//! The NL Chat front door: operator consoles of the support desk, one raw packet per line.
//! A packet for the server (`"to": "alice"`) is decrypted with the server's key on a blocking
//! thread (RSA is slow, and a packet may hold many blocks) while the connection reads nothing
//! more, then becomes a desk command for the hub. At most one decryption per core runs at
//! once, whatever the number of connections, and a connection that has not sent `key` gets
//! at most 8 blocks decrypted per packet. What the hub sends an operator is written as
//! plain command lines into its outbox and encrypted here, on the way out, to the operator's
//! key, addressed with its UUID and `"to": "bob"`.
//!
//! Nothing a stranger sends ends the connection: garbage, plaintext, a packet for someone
//! else or encrypted to another key is logged, counted and ignored.

use crate::doors::spec::{self, Spec};
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, DeskEvent, Event, SessionId};
use proto::line::{Line, LineDecoder};
use proto::nlchat::crypto;
use proto::nlchat::{ChatState, Command as Nl, Io, NlError, RawPacket, RingId, Service, TO_CLIENT, TO_SERVER};
use proto::DecodeError;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};
use tracing::debug;

pub(crate) mod xmpp;

/// What the NL door keeps: the server's key pair, and permits for decryptions at once (one
/// per core): RSA is slow, and strangers may send packets, so this bounds the threads and
/// CPU they can take.
pub(crate) struct Keys {
    /// The server's private key, ready to open blocks in constant time.
    key: Arc<crypto::Opener>,
    decrypt: Arc<tokio::sync::Semaphore>,
    /// The XMPP account operators also reach the desk through, if one is configured.
    xmpp: Option<Arc<xmpp::Account>>,
    /// In a cluster: the lease that lets one node at a time hold the XMPP session.
    lease: Option<xmpp::Lease>,
}

/// The name the server's NL key pair is kept under in the store.
pub(crate) const KEY_NAME: &str = "nl";

/// The server's NL key pair: the one kept in the store, or a new one, kept from now on.
pub fn server_key(store: &mut store::Store) -> anyhow::Result<crypto::rsa::RsaPrivateKey> {
    if let Some(pem) = store.key(KEY_NAME)? {
        return Ok(crypto::private_key_from_pem(&pem)?);
    }
    let made = make_key();
    let kept = store.key_or_insert(KEY_NAME, &made)?;
    Ok(crypto::private_key_from_pem(&kept)?)
}

/// The cluster's key pair (every node's), made and kept first if there is none yet.
pub async fn cluster_key(durable: &crate::cluster::state::Durable) -> anyhow::Result<crypto::rsa::RsaPrivateKey> {
    let pem = durable.nl_key(make_key).await?;
    Ok(crypto::private_key_from_pem(&pem)?)
}

/// A new key pair for the server, as PEM.
pub(crate) fn make_key() -> String {
    crypto::private_key_to_pem(&crypto::generate(&mut rand::rngs::OsRng))
}

/// The most blocks the server decrypts in a packet from a connection that has not sent `key`
/// yet: a `key` takes three with a 2048-bit key, five with a 4096-bit one. A stranger cannot
/// make the server decrypt [`crypto::MAX_BLOCKS`] blocks per line.
const BLOCKS_BEFORE_KEY: usize = 8;

/// The operator a connection speaks for, once it sent `key`.
struct Operator {
    uuid: String,
    key: crypto::Sealer,
}

crate::settings::settings! {
    /// The NL Chat front door, the support desk's operators: `[doors.nl]`.
    pub struct NlConfig, flags NlFlags {
        /// Where the NL Chat front door (the support desk's operators) listens.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 7702)), flag "nl-addr", value "HOST:PORT",
            legacy "nl_addr";
        /// Where the NL Chat TLS door listens (with a certificate).
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 7712))), flag "nl-tls-addr",
            value "HOST:PORT", legacy "nl_tls_addr";
        /// Longest NL raw packet line accepted, in bytes.
        max_line: usize = proto::nlchat::DEFAULT_MAX_LINE, flag "nl-max-line", value "BYTES", legacy "nl_max_line";
        /// Seconds of silence after which an operator is probed.
        probe_secs: u64 = 7, flag "nl-probe-secs", value "SECS", legacy "nl_probe_secs";
        /// Seconds a probed operator has to answer before it leaves the pool.
        probe_grace_secs: u64 = 3, flag "nl-probe-grace-secs", value "SECS", legacy "nl_probe_grace_secs";
        /// The XMPP account through which the desk also serves operators, as the original NL
        /// system did: a full JID (`desk@example.org/switchboard`), whose resource is the one
        /// the operators' client sends to. None: no XMPP.
        xmpp_jid: Option<String> = None, flag "nl-xmpp-jid", value "JID",
            legacy "nl_xmpp_jid";
        /// A file whose first line is the password of that XMPP account.
        xmpp_password_file: Option<PathBuf> = None, flag "nl-xmpp-password-file", value "FILE",
            legacy "nl_xmpp_password_file";
        /// The XMPP server to connect to; none: the JID's domain, port 5222 (no DNS SRV lookup).
        xmpp_server: Option<String> = None, flag "nl-xmpp-server", value "HOST:PORT",
            legacy "nl_xmpp_server";
        /// The CA (PEM) that the XMPP server's certificate must be signed by; none: the Mozilla
        /// roots of the web.
        xmpp_ca: Option<PathBuf> = None, flag "nl-xmpp-ca", value "FILE",
            legacy "nl_xmpp_ca";
        /// Speak to the XMPP server without TLS: only for a server on loopback (tests).
        xmpp_insecure_plain: bool = false, flag "nl-xmpp-insecure-plain", value "BOOL",
            legacy "nl_xmpp_insecure_plain";
    }
}
crate::doors::spec::listen!(NlConfig: addr, tls_addr);

impl NlConfig {
    /// When operators are probed and removed, for the hub.
    pub fn probe(&self) -> hub::Liveness {
        hub::Liveness {
            ping_every: std::time::Duration::from_secs(self.probe_secs),
            silence: std::time::Duration::from_secs(self.probe_secs + self.probe_grace_secs),
            quiet_first: true,
        }
    }
}

/// The NL side of a connection.
/// The NL Chat door: the support desk's operators, probed when silent.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(4),
    name: "nl",
    caps: Caps { operator: true, ..Caps::NONE },
    liveness: |config| Some(config.doors.nl.probe()),
    encode_event,
    encode_reply: spec::no_reply,
    encode_queued: |queued| encode_event(&queued.event()),
    // Operators were told already: every service went offline in their `status`.
    goodbye: spec::no_goodbye,
    serve: conn::accept::<NlDoor>,
    // Operators over XMPP, if an account is configured.
    also: xmpp::serve,
    // The server's key pair: the store's (a cluster's, on a node), made once.
    state: |startup| {
        Box::pin(async move {
            let key = match startup.cluster {
                None => startup.store.call(server_key).await??,
                Some(durable) => cluster_key(durable).await?,
            };
            let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
            let opener = crypto::Opener::new(&key).map_err(|e| anyhow::anyhow!("the server's NL key: {e}"))?;
            let xmpp = xmpp::Account::from_config(&startup.config.doors.nl)?;
            // In a cluster, one node at a time holds the XMPP session.
            let lease = match (startup.cluster, &xmpp) {
                (Some(durable), Some(_)) => {
                    let node =
                        startup.config.node_name.clone().unwrap_or_else(|| format!("pid {}", std::process::id()));
                    Some(xmpp::Lease::open(durable, node).await?)
                }
                _ => None,
            };
            let decrypt = Arc::new(tokio::sync::Semaphore::new(cores));
            let keys = Keys { key: Arc::new(opener), decrypt, xmpp: xmpp.map(Arc::new), lease };
            Ok(Arc::new(keys) as spec::State)
        })
    },
};

pub(crate) struct NlDoor {
    lines: LineDecoder,
    /// Shared with the decryption of the packet in flight, which may set it (`key`).
    operator: Arc<Mutex<Option<Operator>>>,
}

impl NlDoor {
    /// The door's side of a full JID on the XMPP session (`known`: an operator whose key it
    /// gave already).
    fn over_xmpp(shared: &Shared, known: Option<Operator>) -> NlDoor {
        NlDoor { lines: LineDecoder::new(shared.config.doors.nl.max_line), operator: Arc::new(Mutex::new(known)) }
    }

    /// The operator it speaks for, if its `key` opened.
    fn take_operator(&mut self) -> Option<Operator> {
        self.operator.lock().expect("operator lock").take()
    }
}

impl Protocol for NlDoor {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, _: SocketAddr) -> Self {
        NlDoor::over_xmpp(shared, None)
    }

    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError> {
        loop {
            match self.lines.decode(rbuf) {
                None => return Ok(None),
                Some(Line::Oversized) => {
                    debug!(session = session.0, "nl: a line over the limit, skipped");
                    return Ok(Some(Act::Ignored));
                }
                Some(Line::Text(line)) if line.iter().all(u8::is_ascii_whitespace) => continue,
                Some(Line::Text(line)) => {
                    let (operator, shared) = (self.operator.clone(), shared.clone());
                    return Ok(Some(Act::Later(Box::pin(async move {
                        let keys = shared.state::<Keys>(SPEC.door);
                        let server = keys.key.clone();
                        let Ok(permit) = keys.decrypt.clone().acquire_owned().await else { return Act::Stop };
                        let opened = tokio::task::spawn_blocking(move || {
                            let _permit = permit;
                            open(&line, &server, &operator)
                        })
                        .await;
                        match opened {
                            Ok(Ok(Some(command))) => Act::Hub(command),
                            Ok(Ok(None)) => Act::Nothing,
                            Ok(Err(e)) => {
                                debug!(session = session.0, error = %e, "nl: ignored a packet");
                                Act::Ignored
                            }
                            Err(_) => Act::Stop,
                        }
                    }))));
                }
            }
        }
    }

    /// Encrypts each command line the hub queued to the operator's key. Before `key` nothing
    /// is queued for the connection (the hub only talks to operators in its pool).
    fn outgoing(&mut self, plain: Bytes) -> Bytes {
        let operator = self.operator.lock().expect("operator lock");
        let Some(op) = operator.as_ref() else { return Bytes::new() };
        let mut out = Vec::new();
        for line in plain.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
            if let Some(packet) = seal(line, op) {
                out.extend_from_slice(packet.as_bytes());
                out.push(b'\n');
            }
        }
        Bytes::from(out)
    }
}

/// One plain command line as a raw packet for `op` (without its newline): encrypted to its
/// key, addressed with its UUID and `"to": "bob"`. The hub does not know UUIDs: a command
/// about the recipient itself gets its own.
fn seal(line: &[u8], op: &Operator) -> Option<String> {
    let mut command = serde_json::from_slice::<serde_json::Value>(line).ok()?;
    if matches!(command["type"].as_str(), Some("msg" | "chat_state" | "probe")) {
        command["UUID"] = op.uuid.clone().into();
    }
    let messages = crypto::encrypt(&command.to_string(), &op.key);
    let line = RawPacket { messages, uuid: op.uuid.clone(), to: TO_CLIENT.into() }.to_line();
    String::from_utf8(line).ok().map(|line| line.trim_end().to_owned())
}

/// Opens one raw packet: `Ok(None)` for what is not for the server or not a command the
/// server takes, `Err` for what is broken.
fn open(line: &[u8], server: &crypto::Opener, operator: &Mutex<Option<Operator>>) -> Result<Option<Command>, NlError> {
    let raw = RawPacket::parse(line)?;
    if raw.to != TO_SERVER {
        return Ok(None); // bounced back to us: never decrypted (the text's reason for `to`)
    }
    let known = operator.lock().expect("operator lock").is_some();
    if !known && raw.messages.len() > BLOCKS_BEFORE_KEY {
        return Err(NlError::TooManyBlocks(BLOCKS_BEFORE_KEY));
    }
    let json = crypto::decrypt(&raw.messages, server)?;
    let command = Nl::parse(&json)?;
    let mut operator = operator.lock().expect("operator lock");
    if let Nl::Key { uuid, key } = command {
        let key = crypto::Sealer::new(&crypto::public_key_from_pem(&key)?)?;
        if operator.as_ref().is_some_and(|op| op.uuid != uuid) {
            return Ok(None); // one operator per connection
        }
        *operator = Some(Operator { uuid: uuid.clone(), key });
        return Ok(Some(Command::OperatorKey { uuid }));
    }
    let Some(me) = operator.as_ref() else { return Ok(None) };
    let mine = |uuid: &str| uuid == me.uuid;
    Ok(match command {
        Nl::RingAck { id, uuid } if mine(&uuid) => {
            id.as_u64().map(|n| Command::RingAck { id: n, echo: id.0.to_string() })
        }
        Nl::Msg { msg, io: Io::Out, uuid } if mine(&uuid) => Some(Command::DeskMsg { texts: msg }),
        Nl::ChatState { state, io: Io::Out, uuid } if mine(&uuid) => {
            Some(Command::DeskState { composing: state == ChatState::Composing })
        }
        Nl::ProbeAck { uuid } if mine(&uuid) => Some(Command::Alive),
        Nl::Disassociate { uuid } if mine(&uuid) => Some(Command::Disassociate),
        Nl::Disconnect { uuid } if mine(&uuid) => Some(Command::OperatorLeave),
        _ => None, // the server's own commands, or another operator's
    })
}

fn now_secs() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

/// A hub event as a plain NL command line, encrypted later by the connection.
pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let command = match event {
        Event::Desk(DeskEvent::ServerOnline) => Nl::ServerOnline,
        Event::Desk(DeskEvent::Status { services }) => Nl::Status {
            services: services
                .iter()
                .map(|(name, up)| Service { name: name.clone(), status: if *up { "online" } else { "offline" }.into() })
                .collect(),
        },
        Event::Desk(DeskEvent::Ring { id, expires_in }) => Nl::Ring {
            group: String::new(),
            id: RingId::number(*id),
            time: Some((now_secs() + expires_in.as_secs_f64()).round()),
        },
        Event::Desk(DeskEvent::RingAckAck { id, echo, winner }) => {
            let id = echo
                .as_deref()
                .and_then(|e| serde_json::from_str(e).ok())
                .map(RingId)
                .unwrap_or_else(|| RingId::number(*id));
            Nl::RingAckAck { id, uuid: winner.clone() }
        }
        Event::Desk(DeskEvent::UserWrote { texts }) => Nl::Msg { msg: texts.clone(), io: Io::In, uuid: String::new() },
        Event::Desk(DeskEvent::UserTyping { composing }) => Nl::ChatState {
            uuid: String::new(),
            io: Io::In,
            state: if *composing { ChatState::Composing } else { ChatState::Paused },
        },
        Event::Ping => Nl::Probe { uuid: String::new() },
        _ => return None,
    };
    let mut line = command.to_json().into_bytes();
    line.push(b'\n');
    Some(line.into())
}

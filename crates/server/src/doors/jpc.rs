//! The JPC front door: a HELLO is checked against the white-list (on the store's thread, while
//! the connection waits), then SEND becomes a direct message or an image for the hub, and the
//! hub's direct messages and images come back as TELL. Heartbeats are the hub's business (a
//! session that is silent for 5 s is closed; the hub pings every 2 s, since the original
//! client only beats after it has read something). A frame with a bad CRC, or that is too
//! long or cut, is dropped and counted; the connection stays.

use crate::doors::spec::{self, Spec};
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, Event, HubError, Liveness, SessionId};
use proto::jpc::{error_code, Codec, Item, Message, IMAGE};
use proto::DecodeError;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tracing::{debug, error};

/// The identifier the server sends in its HEARTBEATs ("SWBTCH" in ASCII, 48 bits like a MAC).
pub(crate) const SERVER_ID: u64 = 0x5357_4254_4348;

/// ERROR `code`, then CLOSE: what a connection that may not stay gets before it is closed.
fn refusal(code: i64) -> Bytes {
    let mut dst = BytesMut::new();
    Message::Error { code }.encode(&mut dst);
    Message::Close.encode(&mut dst);
    dst.freeze()
}

crate::settings::settings! {
    /// The JPC front door: `[doors.jpc]`.
    pub struct JpcConfig, flags JpcFlags {
        /// Where the JPC front door listens, on the original's port.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 27272)), flag "jpc-addr", value "HOST:PORT",
            legacy "jpc_addr";
        /// Where the JPC TLS door listens (with a certificate).
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 27273))), flag "jpc-tls-addr",
            value "HOST:PORT", legacy "jpc_tls_addr";
        /// Longest JPC frame accepted, in bytes of JSON, an image's base64 included.
        max_frame: usize = proto::jpc::DEFAULT_MAX_FRAME, flag "jpc-max-frame", value "BYTES",
            legacy "jpc_max_frame";
    }
}
crate::doors::spec::listen!(JpcConfig: addr, tls_addr);

/// The JPC door: white-listed devices, direct messages and images, heartbeats.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(2),
    name: "jpc",
    caps: Caps { direct: true, images: true, ..Caps::NONE },
    // The original client beats only after it has read something: the hub beats every 2 s.
    liveness: |_| {
        Some(Liveness { ping_every: Duration::from_secs(2), silence: Duration::from_secs(5), quiet_first: false })
    },
    encode_event,
    encode_reply: |_, result| encode_reply(result),
    encode_queued: |queued| encode_event(&queued.event()),
    // The original client reconnects only after a CLOSE; on a bare end of stream it spins.
    goodbye: || encode_event(&Event::Closing),
    serve: conn::accept::<Jpc>,
    state: spec::no_state,
    also: spec::nothing_else,
};

/// The JPC side of a connection.
pub(crate) struct Jpc {
    codec: Codec,
    hello: bool,
}

impl Protocol for Jpc {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, _: SocketAddr) -> Self {
        Jpc { codec: Codec::new(shared.config.doors.jpc.max_frame), hello: false }
    }

    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError> {
        let Some(item) = self.codec.decode(rbuf) else { return Ok(None) };
        let message = match item {
            Item::Message(m) => m,
            Item::Dropped(why) => {
                debug!(session = session.0, ?why, "jpc: frame dropped");
                return Ok(Some(Act::Dropped));
            }
            Item::Malformed(e) => {
                debug!(session = session.0, error = %e, "jpc: not a JPC message");
                return Ok(Some(match self.hello {
                    true => Act::Reply(Message::Error { code: error_code::MALFORMED }.to_bytes()),
                    false => Act::Refuse(refusal(error_code::NOT_WHITELISTED)),
                }));
            }
        };
        Ok(Some(match (self.hello, message) {
            (false, Message::Hello { mac }) => {
                self.hello = true;
                let (store, metrics) = (shared.store.clone(), shared.metrics.clone());
                Act::Later(Box::pin(async move {
                    match store.call(move |s| s.device_by_mac(mac)).await {
                        Ok(Ok(Some(name))) => Act::Hub(Command::Login { name, verified: true }),
                        Ok(Ok(None)) => {
                            debug!(session = session.0, mac, "jpc: HELLO from a device not on the white-list");
                            Act::Refuse(refusal(error_code::NOT_WHITELISTED))
                        }
                        Ok(Err(e)) => {
                            error!(error = %e, "reading the white-list");
                            metrics.store_read_failed("reading the white-list", &e);
                            Act::Refuse(refusal(error_code::UNKNOWN))
                        }
                        Err(_) => Act::Stop,
                    }
                }))
            }
            // Anything before HELLO gets what a device not on the white-list gets.
            (false, _) => Act::Refuse(refusal(error_code::NOT_WHITELISTED)),
            (true, Message::Hello { .. } | Message::Tell { .. }) => Act::Nothing,
            (true, Message::Heartbeat { .. }) => Act::Hub(Command::Alive),
            (true, Message::Close) => Act::Refuse(Message::Close.to_bytes()),
            (true, Message::Error { code }) => {
                debug!(session = session.0, code, "jpc: client sent an ERROR");
                Act::Nothing
            }
            (true, Message::Send { recipient, kind, message }) => Act::Hub(match kind {
                IMAGE => Command::Image { sender: None, to: recipient, data: message },
                _ => Command::Direct { sender: None, to: recipient, text: message },
            }),
        }))
    }
}

/// JPC answers only failures.
pub(crate) fn encode_reply(result: Result<(), HubError>) -> Option<Bytes> {
    let code = match result {
        Ok(()) => return None,
        Err(HubError::Unreachable) => error_code::UNKNOWN_RECIPIENT,
        Err(HubError::NotLoggedIn) => error_code::NOT_WHITELISTED,
        Err(HubError::NameTaken | HubError::Unavailable) => error_code::UNKNOWN,
        Err(_) => error_code::MALFORMED,
    };
    Some(Message::Error { code }.to_bytes())
}

pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let message = match event {
        Event::Direct { from, to, text } => {
            Message::Tell { sender: from.clone(), recipient: to.clone(), kind: proto::jpc::TEXT, message: text.clone() }
        }
        Event::Image { from, to, data } => {
            Message::Tell { sender: from.clone(), recipient: to.clone(), kind: IMAGE, message: data.clone() }
        }
        Event::Ping => Message::Heartbeat { id: SERVER_ID },
        Event::Closing => Message::Close,
        // Never sent to JPC: it has no lobby, links, typing, presence or the desk's events.
        Event::Lobby { .. }
        | Event::LinkAsked(_)
        | Event::LinkAccepted(_)
        | Event::LinkAborted(_)
        | Event::DirectAsked { .. }
        | Event::DirectAccepted { .. }
        | Event::DirectDenied { .. }
        | Event::Typing { .. }
        | Event::Presence { .. }
        | Event::Away { .. }
        | Event::Renamed { .. }
        | Event::IsAway { .. }
        | Event::RoomJoined { .. }
        | Event::RoomState { .. }
        | Event::RoomParted { .. }
        | Event::RoomSaid { .. }
        | Event::RoomTopic { .. }
        | Event::RoomModes { .. }
        | Event::Invited { .. }
        | Event::InLobby { .. }
        | Event::Desk(_) => return None,
    };
    Some(message.to_bytes())
}

//! The ChatHack front door: client packets to hub commands, hub events and answers to server
//! packets. A login with a password is checked by the store, on its own thread, while the
//! connection reads nothing more; the hub then gets a verified login or the client ACK 2.
//! A password login held back by the throttle (too many from one address, or from an address
//! that failed at a guarded account: `throttle.rs`) gets ACK 2 unchecked.
//! A global message over the bound is answered ACK 1 and skipped, the connection goes on; a
//! packet that breaks the framing is answered ACK 1 and the connection closed.

use crate::doors::spec::{self, Spec};
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, Event, HubError, Kind, SessionId};
use proto::chathack::{ack, ClientPacket, Codec, Decoded, ServerPacket};
use proto::DecodeError;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use store::Verdict;
use tokio::time::Instant;
use tracing::{debug, error, info};

static ACKS: [[u8; 1]; 5] = [[0], [1], [2], [3], [4]];

fn ack(code: i8) -> Bytes {
    Bytes::from_static(&ACKS[code as usize])
}

crate::settings::settings! {
    /// The ChatHack front door: `[doors.chathack]`.
    pub struct ChathackConfig, flags ChathackFlags {
        /// Where the ChatHack front door listens.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 7701)), flag "chathack-addr", value "HOST:PORT",
            legacy "chathack_addr";
        /// Where the ChatHack TLS door listens (with a certificate).
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 7711))), flag "chathack-tls-addr",
            value "HOST:PORT", legacy "chathack_tls_addr";
        /// Longest ChatHack message, file, login or password accepted, in bytes, as the
        /// original.
        max: usize = proto::chathack::DEFAULT_MAX, flag "chathack-max", value "BYTES", legacy "chathack_max";
    }
}
crate::doors::spec::listen!(ChathackConfig: addr, tls_addr);

/// The ChatHack door: logins with or without a password, the lobby, and direct links the
/// hub only brokers.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(1),
    name: "chathack",
    caps: Caps { lobby: true, lobby_echo: true, direct_links: true, ..Caps::NONE },
    liveness: spec::no_liveness,
    encode_event,
    encode_reply,
    encode_queued: |queued| encode_event(&queued.event()),
    goodbye: spec::no_goodbye,
    serve: conn::accept::<ChatHack>,
    state: spec::no_state,
    also: spec::nothing_else,
};

/// The ChatHack side of a connection.
pub(crate) struct ChatHack {
    codec: Codec,
    /// The client's address, for the throttle on password attempts.
    origin: IpAddr,
}

impl Protocol for ChatHack {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, peer: SocketAddr) -> Self {
        ChatHack { codec: Codec::new(shared.config.doors.chathack.max), origin: peer.ip().to_canonical() }
    }

    fn next(
        &mut self,
        rbuf: &mut BytesMut,
        session: SessionId,
        shared: &Arc<Shared>,
    ) -> Result<Option<Act>, DecodeError> {
        let Some(decoded) = self.codec.decode_client(rbuf)? else { return Ok(None) };
        let packet = match decoded {
            Decoded::Packet(p) => p,
            Decoded::Oversized { opcode } => {
                debug!(session = session.0, opcode, "chathack: over the size bound; refused");
                return Ok(Some(Act::Reply(ack(ack::PACKET_ERROR))));
            }
        };
        Ok(Some(match packet {
            ClientPacket::LoginWithPassword { login, password } => {
                let (origin, account) = (self.origin, hub::fold(&login));
                if let Err(refused) = shared.logins.attempt(origin, &account, Instant::now()) {
                    info!(%origin, login, ?refused, "chathack: too many password attempts; refused unchecked");
                    return Ok(Some(Act::Reply(ack(ack::BAD_LOGIN))));
                }
                let shared = shared.clone();
                Act::Later(Box::pin(async move {
                    match shared.store.call(move |s| s.verify(&login, &password)).await {
                        Ok(Ok(Verdict::Ok(name))) => {
                            shared.logins.succeeded(origin, &account, Instant::now());
                            Act::Hub(Command::Login { name, verified: true })
                        }
                        Ok(Ok(Verdict::WrongPassword)) => {
                            shared.logins.failed(origin, &account, Instant::now());
                            Act::Reply(ack(ack::BAD_LOGIN))
                        }
                        Ok(Ok(Verdict::NoAccount)) => Act::Reply(ack(ack::BAD_LOGIN)),
                        Ok(Err(e)) => {
                            error!(error = %e, "checking a password");
                            shared.metrics.store_read_failed("checking a password", &e);
                            Act::Reply(ack(ack::BAD_LOGIN))
                        }
                        Err(_) => Act::Stop,
                    }
                }))
            }
            ClientPacket::Login { login } => Act::Hub(Command::Login { name: login, verified: false }),
            ClientPacket::Global { login, message } => Act::Hub(Command::Lobby { sender: login, text: message }),
            ClientPacket::Ask { sender, receiver } => Act::Hub(Command::DirectAsk { sender, to: receiver }),
            ClientPacket::Accept { sender, receiver, port, address, id } => {
                Act::Hub(Command::DirectAccept { sender, to: receiver, port, address, id })
            }
            ClientPacket::Deny { sender, receiver } => Act::Hub(Command::DirectDeny { sender, to: receiver }),
        }))
    }

    fn last_words(&self) -> Option<Bytes> {
        Some(ack(ack::PACKET_ERROR))
    }
}

/// ChatHack answers logins, and errors; a global message or a link step that went through
/// gets no answer.
pub(crate) fn encode_reply(kind: Kind, result: Result<(), HubError>) -> Option<Bytes> {
    let code = match (kind, result) {
        (Kind::Login, Ok(())) => ack::CONNECTED,
        // Or the cluster cannot be reached: the name cannot be had now.
        (Kind::Login, Err(HubError::NameTaken | HubError::Unavailable)) => ack::LOGIN_EXISTS,
        (Kind::Login, Err(HubError::InvalidName)) => ack::BAD_LOGIN,
        (_, Ok(())) => return None,
        // The asker was told "denied" already.
        (Kind::DirectAsk, Err(HubError::Unreachable)) => return None,
        (_, Err(_)) => ack::PACKET_ERROR,
    };
    Some(ack(code))
}

pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let packet = match event {
        Event::Lobby { from, text } => ServerPacket::Global { login: from.clone(), message: text.clone() },
        Event::DirectAsked { from } => ServerPacket::Asked { login: from.clone() },
        Event::DirectAccepted { from, port, address, id } => {
            ServerPacket::Accepted { login: from.clone(), port: *port, address: *address, id: *id }
        }
        Event::DirectDenied { from } => ServerPacket::Denied { login: from.clone() },
        // Never sent to ChatHack: it has no direct messages, relayed links, images, liveness,
        // typing, presence or the desk's events.
        Event::Direct { .. }
        | Event::LinkAsked(_)
        | Event::LinkAccepted(_)
        | Event::LinkAborted(_)
        | Event::Image { .. }
        | Event::Ping
        | Event::Closing
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
    Some(packet.to_bytes())
}

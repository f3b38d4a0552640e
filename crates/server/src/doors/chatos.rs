//! The ChatOS front door: packets to hub commands, and hub events and answers to packets.
//! The connection itself is driven by `conn.rs`; a connection whose TCPAccept or TCPConnect
//! the hub accepts becomes one end of a private link there.
//!
//! A packet that breaks the protocol (unknown opcode, string length ≤ 0 or over the limit,
//! bad UTF-8) leaves the stream impossible to resynchronise: the connection is closed once the
//! answers to its earlier packets are written. Everything it sent before stays accepted.

use crate::doors::spec::{self, Spec};
use crate::net::conn::{self, Act, Protocol};
use crate::Shared;
use bytes::{Bytes, BytesMut};
use hub::{Caps, Command, Event, HubError, Kind, LinkKey, SessionId};
use proto::chatos::{Codec, ErrorCode, Packet};
use proto::DecodeError;
use std::net::SocketAddr;
use std::sync::Arc;
use tracing::debug;

/// Every ERROR packet, ready to send without an allocation (index = code).
static ERROR_PACKETS: [[u8; 2]; 9] = [[8, 0], [8, 1], [8, 2], [8, 3], [8, 4], [8, 5], [8, 6], [8, 7], [8, 8]];

crate::settings::settings! {
    /// The ChatOS front door: `[doors.chatos]`.
    pub struct ChatosConfig, flags ChatosFlags {
        /// Where the ChatOS front door listens.
        addr: SocketAddr = SocketAddr::from(([0, 0, 0, 0], 7700)), flag "chatos-addr", value "HOST:PORT",
            legacy "chatos_addr";
        /// Where the ChatOS TLS door listens (with a certificate).
        tls_addr: Option<SocketAddr> = Some(SocketAddr::from(([0, 0, 0, 0], 7710))), flag "chatos-tls-addr",
            value "HOST:PORT", legacy "chatos_tls_addr";
        /// Longest ChatOS string (pseudonym, message) accepted, in bytes, as the original; a
        /// web message's text too (it must reach ChatOS users).
        max_string: usize = proto::chatos::DEFAULT_MAX_STRING, flag "max-string", value "BYTES",
            legacy "max_string";
    }
}
crate::doors::spec::listen!(ChatosConfig: addr, tls_addr);

/// The ChatOS door: pseudonyms, the lobby, private messages and relayed private links.
pub(crate) static SPEC: Spec = Spec {
    door: hub::Door(0),
    name: "chatos",
    caps: Caps { lobby: true, direct: true, relay_links: true, ..Caps::NONE },
    liveness: spec::no_liveness,
    encode_event,
    encode_reply: |kind, result| Some(encode_reply(kind, result)),
    encode_queued: |queued| encode_event(&queued.event()),
    goodbye: spec::no_goodbye,
    serve: conn::accept::<ChatOs>,
    state: spec::no_state,
    also: spec::nothing_else,
};

pub(crate) fn encode_reply(kind: Kind, result: Result<(), HubError>) -> Bytes {
    let code = match result {
        Ok(()) => ErrorCode::Ok,
        Err(HubError::NameTaken) => ErrorCode::PseudoUnavailable,
        // The cluster cannot be reached: the name cannot be had now; nor can anyone.
        Err(HubError::Unavailable) if kind == Kind::Login => ErrorCode::PseudoUnavailable,
        Err(HubError::Unavailable) => ErrorCode::UnreachableUser,
        Err(HubError::InvalidName | HubError::NotYourName) => ErrorCode::InvalidPseudonym,
        Err(HubError::NotLoggedIn) => ErrorCode::NotConnected,
        Err(HubError::Unreachable | HubError::Room(_)) => ErrorCode::UnreachableUser,
        Err(HubError::LinkInProgress | HubError::NameFixed) => ErrorCode::TcpInProtocol,
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

pub(crate) fn encode_event(event: &Event) -> Option<Bytes> {
    let packet = match event {
        Event::Lobby { from, text } => Packet::Sma { sender: from.clone(), message: text.clone() },
        Event::Direct { from, to, text } => {
            Packet::Spm { sender: from.clone(), recipient: to.clone(), message: text.clone() }
        }
        Event::LinkAsked(k) => Packet::TcpAsk(wire_key(k)),
        Event::LinkAccepted(k) => Packet::TcpAccept(wire_key(k)),
        Event::LinkAborted(k) => Packet::TcpAbort(wire_key(k)),
        // Never sent to ChatOS: it has no direct links, images, liveness, typing, presence or the desk's events.
        Event::DirectAsked { .. }
        | Event::DirectAccepted { .. }
        | Event::DirectDenied { .. }
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

/// The ChatOS side of a connection.
pub(crate) struct ChatOs {
    codec: Codec,
}

impl Protocol for ChatOs {
    const SPEC: &'static Spec = &SPEC;

    fn accepted(shared: &Shared, _: SocketAddr) -> Self {
        ChatOs { codec: Codec::new(shared.config.doors.chatos.max_string) }
    }

    fn next(&mut self, rbuf: &mut BytesMut, session: SessionId, _: &Arc<Shared>) -> Result<Option<Act>, DecodeError> {
        let Some(packet) = self.codec.decode(rbuf)? else { return Ok(None) };
        Ok(Some(match packet {
            Packet::Cr { pseudo } => Act::Hub(Command::Login { name: pseudo, verified: false }),
            Packet::Spm { sender, recipient, message } => {
                Act::Hub(Command::Direct { sender: Some(sender), to: recipient, text: message })
            }
            Packet::Sma { sender, message } => Act::Hub(Command::Lobby { sender, text: message }),
            Packet::TcpAsk(k) => Act::Hub(Command::LinkAsk(hub_key(k))),
            Packet::TcpAbort(k) => Act::Hub(Command::LinkAbort(hub_key(k))),
            Packet::TcpAccept(k) => Act::HubThenVerdict(Command::LinkAccept(hub_key(k))),
            Packet::TcpConnect(k) => Act::HubThenVerdict(Command::LinkConnect(hub_key(k))),
            Packet::Error(code) => {
                debug!(session = session.0, code, "chatos: client sent an ERROR packet; ignored");
                Act::Nothing
            }
        }))
    }
}

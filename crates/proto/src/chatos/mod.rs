//! ChatOS: binary frames of an i8 opcode and STR16 fields (WIRE.md, "ChatOS").
//!
//! [`Codec::decode`] takes one packet off the front of a buffer; [`Packet::encode`] writes one.
//! A string length of 0 or less, or over the configured limit (1024 by default, as the original
//! server), and an unknown opcode are violations: the stream cannot be resynchronised after them,
//! so a server answers by closing the connection. So is a string that is not UTF-8, but for a
//! CR's pseudonym: its bad bytes decode as U+FFFD, which no name may hold, and the server
//! answers ERROR 3 (invalid pseudonym) on a connection that goes on.

mod fetch;
#[cfg(test)]
mod tests;

pub use fetch::{FetchRequest, FetchResponse, ResponseHead, MAX_HEAD, MAX_PATH};

use crate::cursor::{Cursor, Short};
use crate::DecodeError;
use bytes::{BufMut, Bytes, BytesMut};

/// The original server's bound on a string's length in bytes.
pub const DEFAULT_MAX_STRING: usize = 1024;

/// Opcodes, as on the wire.
pub mod op {
    pub const CR: i8 = 1;
    pub const SPM: i8 = 2;
    pub const SMA: i8 = 3;
    pub const TCP_ASK: i8 = 4;
    pub const TCP_ACCEPT: i8 = 5;
    pub const TCP_ABORT: i8 = 6;
    pub const TCP_CONNECT: i8 = 7;
    pub const ERROR: i8 = 8;
}

/// The codes an ERROR packet carries. 7 and 8 are the original server's additions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(i8)]
pub enum ErrorCode {
    Ok = 1,
    PseudoUnavailable = 2,
    InvalidPseudonym = 3,
    UnreachableUser = 4,
    TcpInProtocol = 5,
    TcpNotInProtocol = 6,
    NotConnected = 7,
    AlreadyConnected = 8,
}

impl ErrorCode {
    pub fn from_i8(code: i8) -> Option<ErrorCode> {
        use ErrorCode::*;
        Some(match code {
            1 => Ok,
            2 => PseudoUnavailable,
            3 => InvalidPseudonym,
            4 => UnreachableUser,
            5 => TcpInProtocol,
            6 => TcpNotInProtocol,
            7 => NotConnected,
            8 => AlreadyConnected,
            _ => return None,
        })
    }

    /// What the code means, in words a person reads.
    pub fn meaning(self) -> &'static str {
        match self {
            ErrorCode::Ok => "ok",
            ErrorCode::PseudoUnavailable => "pseudonym unavailable",
            ErrorCode::InvalidPseudonym => "invalid pseudonym",
            ErrorCode::UnreachableUser => "unreachable user",
            ErrorCode::TcpInProtocol => "a private connection with this user is already pending or open",
            ErrorCode::TcpNotInProtocol => "no such private connection request",
            ErrorCode::NotConnected => "not connected: send a pseudonym first",
            ErrorCode::AlreadyConnected => "already connected",
        }
    }
}

/// The key of one private connection: asker A (`sender`), asked B (`recipient`), and the
/// random password A chose. All four TCP packets carry it in this order.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct LinkKey {
    pub sender: String,
    pub recipient: String,
    pub password: i16,
}

/// One ChatOS packet, in either direction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet {
    Cr {
        pseudo: String,
    },
    Spm {
        sender: String,
        recipient: String,
        message: String,
    },
    Sma {
        sender: String,
        message: String,
    },
    TcpAsk(LinkKey),
    TcpAccept(LinkKey),
    TcpAbort(LinkKey),
    TcpConnect(LinkKey),
    /// The raw code: any i8 is carried, [`ErrorCode::from_i8`] names the known ones.
    Error(i8),
}

impl Packet {
    pub fn error(code: ErrorCode) -> Packet {
        Packet::Error(code as i8)
    }

    pub fn opcode(&self) -> i8 {
        match self {
            Packet::Cr { .. } => op::CR,
            Packet::Spm { .. } => op::SPM,
            Packet::Sma { .. } => op::SMA,
            Packet::TcpAsk(_) => op::TCP_ASK,
            Packet::TcpAccept(_) => op::TCP_ACCEPT,
            Packet::TcpAbort(_) => op::TCP_ABORT,
            Packet::TcpConnect(_) => op::TCP_CONNECT,
            Packet::Error(_) => op::ERROR,
        }
    }

    /// Appends the packet's wire form to `dst`. A string longer than a STR16 can say
    /// (32767 bytes) is cut at the last character boundary that fits; callers bound text long
    /// before that.
    pub fn encode(&self, dst: &mut BytesMut) {
        dst.put_i8(self.opcode());
        match self {
            Packet::Cr { pseudo } => put_str16(dst, pseudo),
            Packet::Spm { sender, recipient, message } => {
                put_str16(dst, sender);
                put_str16(dst, recipient);
                put_str16(dst, message);
            }
            Packet::Sma { sender, message } => {
                put_str16(dst, sender);
                put_str16(dst, message);
            }
            Packet::TcpAsk(k) | Packet::TcpAccept(k) | Packet::TcpAbort(k) | Packet::TcpConnect(k) => {
                put_str16(dst, &k.sender);
                put_str16(dst, &k.recipient);
                dst.put_i16(k.password);
            }
            Packet::Error(code) => dst.put_i8(*code),
        }
    }

    /// The packet's wire form as one buffer.
    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::with_capacity(self.encoded_len());
        self.encode(&mut dst);
        dst.freeze()
    }

    fn encoded_len(&self) -> usize {
        let s = |x: &String| 2 + x.len().min(i16::MAX as usize);
        1 + match self {
            Packet::Cr { pseudo } => s(pseudo),
            Packet::Spm { sender, recipient, message } => s(sender) + s(recipient) + s(message),
            Packet::Sma { sender, message } => s(sender) + s(message),
            Packet::TcpAsk(k) | Packet::TcpAccept(k) | Packet::TcpAbort(k) | Packet::TcpConnect(k) => {
                s(&k.sender) + s(&k.recipient) + 2
            }
            Packet::Error(_) => 1,
        }
    }
}

fn put_str16(dst: &mut BytesMut, s: &str) {
    let mut end = s.len().min(i16::MAX as usize);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    dst.put_i16(end as i16);
    dst.put_slice(&s.as_bytes()[..end]);
}

/// Decodes ChatOS packets with a bound on every string.
#[derive(Debug, Clone, Copy)]
pub struct Codec {
    /// At most `i16::MAX`: two bytes (every ChatOS connection has a codec).
    max_string: u16,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(DEFAULT_MAX_STRING)
    }
}

impl Codec {
    /// `max_string` bounds each string in bytes; it is itself capped at what an i16 can say.
    pub fn new(max_string: usize) -> Self {
        Codec { max_string: max_string.clamp(1, i16::MAX as usize) as u16 }
    }

    pub fn max_string(&self) -> usize {
        usize::from(self.max_string)
    }

    /// Takes one whole packet off the front of `src`. `Ok(None)`: `src` holds only the start
    /// of a packet (nothing is consumed). `Err`: the bytes break the protocol; the stream
    /// cannot be trusted after that.
    pub fn decode(&self, src: &mut BytesMut) -> Result<Option<Packet>, DecodeError> {
        match self.parse(src) {
            Ok(Some((packet, used))) => {
                let _ = src.split_to(used);
                Ok(Some(packet))
            }
            other => other.map(|_| None),
        }
    }

    /// Parses one packet at the front of `src` without consuming it: the packet and the number
    /// of bytes it takes.
    pub fn parse(&self, src: &[u8]) -> Result<Option<(Packet, usize)>, DecodeError> {
        let mut c = Cursor::new(src);
        match self.packet(&mut c) {
            Ok(p) => Ok(Some((p, c.position()))),
            Err(Short::Incomplete) => Ok(None),
            Err(Short::Invalid(e)) => Err(e),
            Err(Short::Oversized { .. }) => Err(DecodeError::Malformed("oversized field")),
        }
    }

    fn packet(&self, c: &mut Cursor<'_>) -> Result<Packet, Short> {
        let max = self.max_string();
        let opcode = c.i8()?;
        let link = |c: &mut Cursor<'_>| -> Result<LinkKey, Short> {
            Ok(LinkKey { sender: c.str16(max)?, recipient: c.str16(max)?, password: c.i16()? })
        };
        Ok(match opcode {
            // A pseudonym that is not UTF-8 is no valid name: the server answers ERROR 3.
            op::CR => Packet::Cr { pseudo: c.str16_lossy(max)? },
            op::SPM => Packet::Spm { sender: c.str16(max)?, recipient: c.str16(max)?, message: c.str16(max)? },
            op::SMA => Packet::Sma { sender: c.str16(max)?, message: c.str16(max)? },
            op::TCP_ASK => Packet::TcpAsk(link(c)?),
            op::TCP_ACCEPT => Packet::TcpAccept(link(c)?),
            op::TCP_ABORT => Packet::TcpAbort(link(c)?),
            op::TCP_CONNECT => Packet::TcpConnect(link(c)?),
            op::ERROR => Packet::Error(c.i8()?),
            other => return Err(DecodeError::UnknownOpcode(other).into()),
        })
    }
}

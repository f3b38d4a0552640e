//! ChatHack: binary frames of an i8 opcode, STR32 strings, i32 ports, i64 ids and addresses
//! tagged IPv4 or IPv6 (WIRE.md, "ChatHack"). Opcodes mean different things in each direction,
//! so there are three families: [`ClientPacket`] (client to server), [`ServerPacket`] (server to
//! client) and [`DirectPacket`] (between two clients, over their direct connection).
//!
//! Messages and files are bounded (1024 bytes by default, as the original). A packet whose last
//! field is over the bound, with a sane length, is skipped whole and reported as
//! [`Decoded::Oversized`], so the connection stays usable; a negative length, an unknown opcode
//! or address type, or an over-long login break the framing and are errors.

#[cfg(test)]
mod tests;

use crate::cursor::{Cursor, Short};
use crate::DecodeError;
use bytes::{Buf, BufMut, Bytes, BytesMut};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The original's bound on a message or a file, in bytes.
pub const DEFAULT_MAX: usize = 1024;

/// Server answers that are a lone byte.
pub mod ack {
    pub const PACKET_ERROR: i8 = 1;
    pub const BAD_LOGIN: i8 = 2;
    pub const CONNECTED: i8 = 3;
    pub const LOGIN_EXISTS: i8 = 4;
}

/// What an ACK means, in words a person reads.
pub fn ack_meaning(code: i8) -> &'static str {
    match code {
        ack::PACKET_ERROR => "packet error",
        ack::BAD_LOGIN => "bad login or password",
        ack::CONNECTED => "connected",
        ack::LOGIN_EXISTS => "login already exists",
        _ => "unknown answer",
    }
}

/// From a client to the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientPacket {
    /// `[1]`
    LoginWithPassword { login: String, password: String },
    /// `[2]`
    Login { login: String },
    /// `[3]`
    Global { login: String, message: String },
    /// `[4]` A asks B for a private connection.
    Ask { sender: String, receiver: String },
    /// `[5]` B accepts: A may connect to `address:port` and must open with `id`.
    Accept { sender: String, receiver: String, port: i32, address: IpAddr, id: i64 },
    /// `[6]` B refuses.
    Deny { sender: String, receiver: String },
}

/// From the server to a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerPacket {
    /// `[1]`..`[4]`, alone: see [`ack`].
    Ack(i8),
    /// `[5]`
    Global { login: String, message: String },
    /// `[6]` `login` asks for a private connection.
    Asked { login: String },
    /// `[7]` `login` accepted: connect to `address:port` and open with `id`.
    Accepted { login: String, port: i32, address: IpAddr, id: i64 },
    /// `[8]` `login` refused.
    Denied { login: String },
}

/// Between two clients, over their direct connection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectPacket {
    /// `[9]` The first packet of the one who connects: its login and the accepted id.
    Open { login: String, id: i64 },
    /// `[7]`
    Message { login: String, message: String },
    /// `[8]`
    File { login: String, name: String, data: Bytes },
}

/// What a decoder takes off a stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded<T> {
    Packet(T),
    /// A packet with this opcode whose message or file was over the bound: skipped whole.
    Oversized {
        opcode: i8,
    },
}

/// Decodes one family of packets with bounds, skipping oversized ones.
#[derive(Debug, Clone)]
pub struct Codec {
    max: usize,
    /// Bytes of an oversized packet still to be discarded as they arrive.
    skipping: u64,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(DEFAULT_MAX)
    }
}

/// How one family's packet is read after its opcode.
type Parse<T> = fn(i8, &mut Cursor<'_>, usize) -> Result<T, Short>;

impl Codec {
    /// `max` bounds messages, files, logins and passwords, in bytes.
    pub fn new(max: usize) -> Self {
        Codec { max: max.min(i32::MAX as usize), skipping: 0 }
    }

    pub fn max(&self) -> usize {
        self.max
    }

    /// Takes one client packet off the front of `src` (a server's view). `Ok(None)`: more
    /// bytes needed. `Err`: the framing is broken; answer ACK 1 and close.
    pub fn decode_client(&mut self, src: &mut BytesMut) -> Result<Option<Decoded<ClientPacket>>, DecodeError> {
        self.decode(src, ClientPacket::parse)
    }

    /// Takes one server packet off the front of `src` (a client's view).
    pub fn decode_server(&mut self, src: &mut BytesMut) -> Result<Option<Decoded<ServerPacket>>, DecodeError> {
        self.decode(src, ServerPacket::parse)
    }

    /// Takes one packet off the front of a direct connection between two clients.
    pub fn decode_direct(&mut self, src: &mut BytesMut) -> Result<Option<Decoded<DirectPacket>>, DecodeError> {
        self.decode(src, DirectPacket::parse)
    }

    fn decode<T>(&mut self, src: &mut BytesMut, parse: Parse<T>) -> Result<Option<Decoded<T>>, DecodeError> {
        if self.skipping > 0 {
            let n = (src.len() as u64).min(self.skipping);
            src.advance(n as usize);
            self.skipping -= n;
            if self.skipping > 0 {
                return Ok(None);
            }
        }
        let mut c = Cursor::new(src);
        let Ok(opcode) = c.i8() else { return Ok(None) };
        match parse(opcode, &mut c, self.max) {
            Ok(p) => {
                let used = c.position();
                src.advance(used);
                Ok(Some(Decoded::Packet(p)))
            }
            Err(Short::Incomplete) => Ok(None),
            Err(Short::Invalid(e)) => Err(e),
            Err(Short::Oversized { len }) => {
                let head = c.position();
                src.advance(head);
                self.skipping = len;
                let n = (src.len() as u64).min(self.skipping);
                src.advance(n as usize);
                self.skipping -= n;
                Ok(Some(Decoded::Oversized { opcode }))
            }
        }
    }
}

fn address(c: &mut Cursor<'_>) -> Result<IpAddr, Short> {
    match c.i8()? {
        1 => {
            let b = c.bytes(4)?;
            Ok(IpAddr::V4(Ipv4Addr::new(b[0], b[1], b[2], b[3])))
        }
        2 => {
            let mut octets = [0u8; 16];
            octets.copy_from_slice(c.bytes(16)?);
            Ok(IpAddr::V6(Ipv6Addr::from(octets)))
        }
        _ => Err(DecodeError::Malformed("address type").into()),
    }
}

impl ClientPacket {
    fn parse(opcode: i8, c: &mut Cursor<'_>, max: usize) -> Result<Self, Short> {
        Ok(match opcode {
            1 => ClientPacket::LoginWithPassword { login: c.str32(max)?, password: c.str32(max)? },
            2 => ClientPacket::Login { login: c.str32(max)? },
            3 => ClientPacket::Global { login: c.str32(max)?, message: c.last_str32(max)? },
            4 => ClientPacket::Ask { sender: c.str32(max)?, receiver: c.str32(max)? },
            5 => ClientPacket::Accept {
                sender: c.str32(max)?,
                receiver: c.str32(max)?,
                port: c.i32()?,
                address: address(c)?,
                id: c.i64()?,
            },
            6 => ClientPacket::Deny { sender: c.str32(max)?, receiver: c.str32(max)? },
            other => return Err(DecodeError::UnknownOpcode(other).into()),
        })
    }
}

impl ServerPacket {
    fn parse(opcode: i8, c: &mut Cursor<'_>, max: usize) -> Result<Self, Short> {
        Ok(match opcode {
            1..=4 => ServerPacket::Ack(opcode),
            5 => ServerPacket::Global { login: c.str32(max)?, message: c.last_str32(max)? },
            6 => ServerPacket::Asked { login: c.str32(max)? },
            7 => ServerPacket::Accepted { login: c.str32(max)?, port: c.i32()?, address: address(c)?, id: c.i64()? },
            8 => ServerPacket::Denied { login: c.str32(max)? },
            other => return Err(DecodeError::UnknownOpcode(other).into()),
        })
    }
}

impl DirectPacket {
    /// When `src` starts with a file still arriving (its head read, not all its bytes): the
    /// file's name, its size and the bytes of it there, for a progress bar. Reads nothing off
    /// `src`.
    pub fn file_coming(src: &[u8], max: usize) -> Option<(String, usize, usize)> {
        let mut c = Cursor::new(src);
        if c.i8().ok()? != 8 {
            return None;
        }
        c.str32(max).ok()?;
        let name = c.str32(max).ok()?;
        let size = usize::try_from(c.i32().ok()?).ok().filter(|&s| s <= max)?;
        let arrived = src.len() - c.position();
        (arrived < size).then_some((name, size, arrived))
    }

    fn parse(opcode: i8, c: &mut Cursor<'_>, max: usize) -> Result<Self, Short> {
        Ok(match opcode {
            9 => DirectPacket::Open { login: c.str32(max)?, id: c.i64()? },
            7 => DirectPacket::Message { login: c.str32(max)?, message: c.last_str32(max)? },
            8 => DirectPacket::File {
                login: c.str32(max)?,
                name: c.str32(max)?,
                data: Bytes::copy_from_slice(c.last_bytes32(max)?),
            },
            other => return Err(DecodeError::UnknownOpcode(other).into()),
        })
    }
}

fn put_str32(dst: &mut BytesMut, s: &str) {
    put_bytes32(dst, s.as_bytes());
}

fn put_bytes32(dst: &mut BytesMut, b: &[u8]) {
    let b = &b[..b.len().min(i32::MAX as usize)];
    dst.put_i32(b.len() as i32);
    dst.put_slice(b);
}

fn put_address(dst: &mut BytesMut, address: &IpAddr) {
    match address {
        IpAddr::V4(a) => {
            dst.put_i8(1);
            dst.put_slice(&a.octets());
        }
        IpAddr::V6(a) => {
            dst.put_i8(2);
            dst.put_slice(&a.octets());
        }
    }
}

impl ClientPacket {
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            ClientPacket::LoginWithPassword { login, password } => {
                dst.put_i8(1);
                put_str32(dst, login);
                put_str32(dst, password);
            }
            ClientPacket::Login { login } => {
                dst.put_i8(2);
                put_str32(dst, login);
            }
            ClientPacket::Global { login, message } => {
                dst.put_i8(3);
                put_str32(dst, login);
                put_str32(dst, message);
            }
            ClientPacket::Ask { sender, receiver } => {
                dst.put_i8(4);
                put_str32(dst, sender);
                put_str32(dst, receiver);
            }
            ClientPacket::Accept { sender, receiver, port, address, id } => {
                dst.put_i8(5);
                put_str32(dst, sender);
                put_str32(dst, receiver);
                dst.put_i32(*port);
                put_address(dst, address);
                dst.put_i64(*id);
            }
            ClientPacket::Deny { sender, receiver } => {
                dst.put_i8(6);
                put_str32(dst, sender);
                put_str32(dst, receiver);
            }
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }
}

impl ServerPacket {
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            ServerPacket::Ack(code) => dst.put_i8(*code),
            ServerPacket::Global { login, message } => {
                dst.put_i8(5);
                put_str32(dst, login);
                put_str32(dst, message);
            }
            ServerPacket::Asked { login } => {
                dst.put_i8(6);
                put_str32(dst, login);
            }
            ServerPacket::Accepted { login, port, address, id } => {
                dst.put_i8(7);
                put_str32(dst, login);
                dst.put_i32(*port);
                put_address(dst, address);
                dst.put_i64(*id);
            }
            ServerPacket::Denied { login } => {
                dst.put_i8(8);
                put_str32(dst, login);
            }
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }
}

impl DirectPacket {
    pub fn encode(&self, dst: &mut BytesMut) {
        match self {
            DirectPacket::Open { login, id } => {
                dst.put_i8(9);
                put_str32(dst, login);
                dst.put_i64(*id);
            }
            DirectPacket::Message { login, message } => {
                dst.put_i8(7);
                put_str32(dst, login);
                put_str32(dst, message);
            }
            DirectPacket::File { login, name, data } => {
                dst.put_i8(8);
                put_str32(dst, login);
                put_str32(dst, name);
                put_bytes32(dst, data);
            }
        }
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }
}

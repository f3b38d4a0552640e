//! JPC: JSON messages `{"opcode": N, "payload": ...}` in CRC-checked, byte-stuffed frames
//! (WIRE.md, "JPC"). [`frame`] does the framing; this module the six messages.
//!
//! On input the original's variants are accepted (a TELL with `type` or `message_type`); on
//! output TELL carries the superset WIRE.md settles on:
//! `{"type", "message_type", "recipient", "sender", "message"}`.

pub mod frame;
#[cfg(test)]
mod tests;

pub use frame::{crc16, encode_frame, Dropped, FrameDecoder, FrameItem, DEFAULT_MAX_FRAME};

use crate::DecodeError;
use bytes::{Bytes, BytesMut};
use serde_json::{json, Map, Value};

pub mod opcode {
    pub const HELLO: i64 = 0;
    pub const CLOSE: i64 = 1;
    pub const HEARTBEAT: i64 = 2;
    pub const ERROR: i64 = 3;
    pub const SEND: i64 = 4;
    pub const TELL: i64 = 5;
}

/// ERROR codes. 0 and 1 are the original's; the others are Switchboard's.
pub mod error_code {
    pub const UNKNOWN: i64 = 0;
    pub const TIMED_OUT: i64 = 1;
    /// HELLO from a MAC that is not on the white-list, or anything before HELLO.
    pub const NOT_WHITELISTED: i64 = 2;
    /// A frame that is not one of the six messages.
    pub const MALFORMED: i64 = 3;
    /// SEND to a name that is not known or cannot be reached.
    pub const UNKNOWN_RECIPIENT: i64 = 4;
    /// SEND of a message or image over the bound.
    pub const TOO_LARGE: i64 = 5;
}

/// What an ERROR code means, in words a person reads.
pub fn error_meaning(code: i64) -> &'static str {
    match code {
        error_code::UNKNOWN => "unknown error",
        error_code::TIMED_OUT => "timed out",
        error_code::NOT_WHITELISTED => "this device is not on the white-list",
        error_code::MALFORMED => "malformed message",
        error_code::UNKNOWN_RECIPIENT => "unknown recipient",
        error_code::TOO_LARGE => "message too large",
        _ => "unknown error code",
    }
}

/// Message types: 0 text, 1 image (its bytes base64-encoded in `message`).
pub const TEXT: u8 = 0;
pub const IMAGE: u8 = 1;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    /// The client's 48-bit MAC address.
    Hello {
        mac: u64,
    },
    Close,
    /// The sender's MAC (a client) or identifier (the server).
    Heartbeat {
        id: u64,
    },
    Error {
        code: i64,
    },
    Send {
        recipient: String,
        kind: u8,
        message: String,
    },
    Tell {
        sender: String,
        recipient: String,
        kind: u8,
        message: String,
    },
}

impl Message {
    pub fn to_json(&self) -> Vec<u8> {
        let (opcode, payload) = match self {
            Message::Hello { mac } => (opcode::HELLO, json!(mac)),
            Message::Close => (opcode::CLOSE, Value::Null),
            Message::Heartbeat { id } => (opcode::HEARTBEAT, json!(id)),
            Message::Error { code } => (opcode::ERROR, json!(code)),
            Message::Send { recipient, kind, message } => {
                (opcode::SEND, json!({"recipient": recipient, "type": kind, "message": message}))
            }
            Message::Tell { sender, recipient, kind, message } => (
                opcode::TELL,
                json!({"type": kind, "message_type": kind, "recipient": recipient, "sender": sender, "message": message}),
            ),
        };
        serde_json::to_vec(&json!({"opcode": opcode, "payload": payload})).expect("JSON of plain values")
    }

    /// Appends the message, framed, to `dst`.
    pub fn encode(&self, dst: &mut BytesMut) {
        encode_frame(&self.to_json(), dst);
    }

    pub fn to_bytes(&self) -> Bytes {
        let mut dst = BytesMut::new();
        self.encode(&mut dst);
        dst.freeze()
    }

    /// Reads a frame's JSON.
    pub fn from_json(json: &[u8]) -> Result<Message, DecodeError> {
        let value: Value = serde_json::from_slice(json).map_err(|_| DecodeError::Malformed("not JSON"))?;
        let object = value.as_object().ok_or(DecodeError::Malformed("not a JSON object"))?;
        let opcode = object.get("opcode").and_then(Value::as_i64).ok_or(DecodeError::Malformed("no opcode"))?;
        let payload = object.get("payload").unwrap_or(&Value::Null);
        let number = || payload.as_u64().ok_or(DecodeError::Malformed("payload is not a number"));
        Ok(match opcode {
            opcode::HELLO => Message::Hello { mac: number()? },
            opcode::CLOSE => Message::Close,
            opcode::HEARTBEAT => Message::Heartbeat { id: number()? },
            opcode::ERROR => {
                Message::Error { code: payload.as_i64().ok_or(DecodeError::Malformed("error code is not a number"))? }
            }
            opcode::SEND => {
                let p = payload.as_object().ok_or(DecodeError::Malformed("SEND payload"))?;
                Message::Send { recipient: text(p, "recipient")?, kind: kind(p)?, message: text(p, "message")? }
            }
            opcode::TELL => {
                let p = payload.as_object().ok_or(DecodeError::Malformed("TELL payload"))?;
                Message::Tell {
                    sender: text(p, "sender").unwrap_or_default(),
                    recipient: text(p, "recipient").unwrap_or_default(),
                    kind: kind(p)?,
                    message: text(p, "message")?,
                }
            }
            other => return Err(DecodeError::UnknownOpcode(i8::try_from(other).unwrap_or(i8::MAX))),
        })
    }
}

fn text(p: &Map<String, Value>, field: &'static str) -> Result<String, DecodeError> {
    p.get(field).and_then(Value::as_str).map(str::to_owned).ok_or(DecodeError::Malformed(field))
}

/// `type` or the original's `message_type`: 0 or 1.
fn kind(p: &Map<String, Value>) -> Result<u8, DecodeError> {
    let t = p.get("type").or_else(|| p.get("message_type")).and_then(Value::as_u64);
    match t {
        Some(t @ 0..=1) => Ok(t as u8),
        _ => Err(DecodeError::Malformed("type")),
    }
}

/// What [`Codec::decode`] takes off a stream: a message, or something to count and ignore.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Message(Message),
    /// A frame dropped by the framing (bad CRC, too long, ...).
    Dropped(Dropped),
    /// A frame whose JSON is not one of the six messages.
    Malformed(DecodeError),
}

/// Frames and messages together.
#[derive(Debug, Default)]
pub struct Codec {
    frames: FrameDecoder,
}

impl Codec {
    pub fn new(max_frame: usize) -> Self {
        Codec { frames: FrameDecoder::new(max_frame) }
    }

    pub fn decode(&mut self, src: &mut BytesMut) -> Option<Item> {
        Some(match self.frames.decode(src)? {
            FrameItem::Frame(json) => match Message::from_json(&json) {
                Ok(m) => Item::Message(m),
                Err(e) => Item::Malformed(e),
            },
            FrameItem::Dropped(why) => Item::Dropped(why),
        })
    }
}

//! NL Chat: raw packets, one per line (`{"messages": [base64 block, ...], "UUID", "to"}`),
//! whose blocks are the command JSON cut into pieces of at most 214 bytes, each encrypted
//! with RSA-2048 OAEP-SHA-1 ([`crypto`]); and the twelve commands, with their exact field
//! names, accepting the original's variants on input (WIRE.md).

pub mod crypto;
#[cfg(test)]
mod tests;

use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};

/// `to` of a packet for the server.
pub const TO_SERVER: &str = "alice";
/// `to` of a packet for an operator.
pub const TO_CLIENT: &str = "bob";
/// The longest raw packet line the server reads by default.
pub const DEFAULT_MAX_LINE: usize = 32 * 1024;

/// A raw packet: encrypted blocks, the operator's UUID, and who it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RawPacket {
    pub messages: Vec<String>,
    #[serde(rename = "UUID")]
    pub uuid: String,
    pub to: String,
}

impl RawPacket {
    pub fn parse(line: &[u8]) -> Result<RawPacket, NlError> {
        serde_json::from_slice(line).map_err(|e| NlError::Json(e.to_string()))
    }

    /// The packet as one line, ending in `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let mut line = serde_json::to_vec(self).expect("plain data serialises");
        line.push(b'\n');
        line
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NlError {
    #[error("not the JSON expected: {0}")]
    Json(String),
    #[error("no {0} field, or not of the right kind")]
    Field(&'static str),
    #[error("unknown command type {0:?}")]
    UnknownType(String),
    #[error("a block that is not base64")]
    Base64,
    #[error("a block that does not decrypt with this key")]
    Decrypt,
    #[error("more than {0} blocks")]
    TooManyBlocks(usize),
    #[error("the decrypted command is not UTF-8")]
    Utf8,
    #[error("not a PEM RSA public key")]
    Key,
}

/// Direction of a message or chat state: `in` to the operator, `out` from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Io {
    In,
    Out,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChatState {
    Composing,
    Paused,
}

/// One of the hub's services in a `status`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub name: String,
    /// `online` or `offline`.
    pub status: String,
}

/// A ring's `ID`, kept as it came: the original sends an integer, others a string, and it
/// is echoed back in the same form.
#[derive(Debug, Clone, PartialEq)]
pub struct RingId(pub Value);

impl RingId {
    pub fn number(n: u64) -> RingId {
        RingId(Value::from(n))
    }

    /// The ID as a number, whichever form it came in.
    pub fn as_u64(&self) -> Option<u64> {
        match &self.0 {
            Value::Number(n) => {
                n.as_u64().or_else(|| n.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64))
            }
            Value::String(s) => s.trim().parse().ok(),
            _ => None,
        }
    }
}

/// Every command of WIRE.md.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// `time`: epoch seconds when the ring expires.
    Ring {
        group: String,
        id: RingId,
        time: Option<f64>,
    },
    RingAck {
        id: RingId,
        uuid: String,
    },
    /// `uuid`: the operator that won, `""` if the ring expired unanswered.
    RingAckAck {
        id: RingId,
        uuid: String,
    },
    Status {
        services: Vec<Service>,
    },
    Msg {
        msg: Vec<String>,
        io: Io,
        uuid: String,
    },
    Key {
        uuid: String,
        key: String,
    },
    Disconnect {
        uuid: String,
    },
    Probe {
        uuid: String,
    },
    ProbeAck {
        uuid: String,
    },
    Disassociate {
        uuid: String,
    },
    ChatState {
        uuid: String,
        io: Io,
        state: ChatState,
    },
    ServerOnline,
}

fn string(o: &Map<String, Value>, field: &'static str) -> Result<String, NlError> {
    o.get(field).and_then(Value::as_str).map(str::to_owned).ok_or(NlError::Field(field))
}

/// A number sent as a number or as a string (a finite one: `"inf"` is no time).
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|f: &f64| f.is_finite())
}

fn ring_id(o: &Map<String, Value>) -> Result<RingId, NlError> {
    match o.get("ID") {
        Some(v @ (Value::Number(_) | Value::String(_))) => Ok(RingId(v.clone())),
        _ => Err(NlError::Field("ID")),
    }
}

fn io(o: &Map<String, Value>) -> Result<Io, NlError> {
    match o.get("I/O").and_then(Value::as_str) {
        Some("in") => Ok(Io::In),
        Some("out") => Ok(Io::Out),
        _ => Err(NlError::Field("I/O")),
    }
}

impl Io {
    fn as_str(self) -> &'static str {
        match self {
            Io::In => "in",
            Io::Out => "out",
        }
    }
}

impl Command {
    /// Parses a decrypted command.
    pub fn parse(json: &str) -> Result<Command, NlError> {
        let value: Value = serde_json::from_str(json).map_err(|e| NlError::Json(e.to_string()))?;
        let o = value.as_object().ok_or_else(|| NlError::Json("not an object".into()))?;
        let kind = string(o, "type")?;
        Ok(match kind.as_str() {
            "ring" => Command::Ring {
                group: o.get("group").and_then(Value::as_str).unwrap_or_default().to_owned(),
                id: ring_id(o)?,
                time: o.get("time").and_then(number),
            },
            "ringACK" => Command::RingAck { id: ring_id(o)?, uuid: string(o, "UUID")? },
            "ringACKACK" => Command::RingAckAck { id: ring_id(o)?, uuid: string(o, "UUID")? },
            "status" => {
                let services = o.get("services").cloned().ok_or(NlError::Field("services"))?;
                Command::Status { services: serde_json::from_value(services).map_err(|_| NlError::Field("services"))? }
            }
            "msg" => {
                let msg = match o.get("msg") {
                    Some(Value::String(s)) => vec![s.clone()],
                    Some(Value::Array(items)) => items
                        .iter()
                        .map(|i| i.as_str().map(str::to_owned))
                        .collect::<Option<Vec<_>>>()
                        .ok_or(NlError::Field("msg"))?,
                    _ => return Err(NlError::Field("msg")),
                };
                Command::Msg { msg, io: io(o)?, uuid: string(o, "UUID")? }
            }
            "key" => Command::Key { uuid: string(o, "UUID")?, key: string(o, "key")? },
            "disconnect" => Command::Disconnect { uuid: string(o, "UUID")? },
            "probe" => Command::Probe { uuid: string(o, "UUID")? },
            "probeACK" => Command::ProbeAck { uuid: string(o, "UUID")? },
            "disassociate" => Command::Disassociate { uuid: string(o, "UUID")? },
            "chat_state" => {
                let state = match o.get("state").and_then(Value::as_str) {
                    Some("composing" | "typing") => ChatState::Composing,
                    Some("paused" | "idle" | "no_state") => ChatState::Paused,
                    _ => return Err(NlError::Field("state")),
                };
                Command::ChatState { uuid: string(o, "UUID")?, io: io(o)?, state }
            }
            "server_online" => Command::ServerOnline,
            _ => return Err(NlError::UnknownType(kind)),
        })
    }

    /// The command as JSON, with the field names of WIRE.md.
    pub fn to_json(&self) -> String {
        let v = match self {
            Command::Ring { group, id, time } => {
                let mut v = json!({ "type": "ring", "group": group, "ID": id.0 });
                if let Some(t) = time {
                    v["time"] = json!(t);
                }
                v
            }
            Command::RingAck { id, uuid } => json!({ "type": "ringACK", "ID": id.0, "UUID": uuid }),
            Command::RingAckAck { id, uuid } => json!({ "type": "ringACKACK", "ID": id.0, "UUID": uuid }),
            Command::Status { services } => json!({ "type": "status", "services": services }),
            Command::Msg { msg, io, uuid } => json!({ "type": "msg", "msg": msg, "I/O": io.as_str(), "UUID": uuid }),
            Command::Key { uuid, key } => json!({ "type": "key", "UUID": uuid, "key": key }),
            Command::Disconnect { uuid } => json!({ "type": "disconnect", "UUID": uuid }),
            Command::Probe { uuid } => json!({ "type": "probe", "UUID": uuid }),
            Command::ProbeAck { uuid } => json!({ "type": "probeACK", "UUID": uuid }),
            Command::Disassociate { uuid } => json!({ "type": "disassociate", "UUID": uuid }),
            Command::ChatState { uuid, io, state } => {
                let state = match state {
                    ChatState::Composing => "composing",
                    ChatState::Paused => "paused",
                };
                json!({ "type": "chat_state", "UUID": uuid, "I/O": io.as_str(), "state": state })
            }
            Command::ServerOnline => json!({ "type": "server_online" }),
        };
        v.to_string()
    }
}

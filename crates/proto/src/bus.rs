//! What the nodes of a cluster say to each other over NATS, and what they keep in its
//! key-value buckets: JSON, one message a NATS message. Nodes trust each other no more than
//! clients: a message that is too long or not the JSON asked for is an error, never a panic.

use serde::{Deserialize, Serialize};

/// The longest message a node accepts from the bus: an image of the web client's largest
/// (4 MiB, 5.6 MB as base64) with room to spare. NATS's own `max_payload` must allow it.
pub const MAX_MESSAGE: usize = 8 * 1024 * 1024;

/// A message between nodes. `node` is the sender's id on the bus.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum BusMsg {
    /// The node is up (every second): a node not heard from for a while is gone. `name`: the
    /// node's name, for people.
    Alive { node: String, name: String },
    /// A lobby message, for everyone in the lobby on every other node; `at`: when it was
    /// published, in milliseconds since the Unix epoch by its node's clock.
    Lobby { node: String, from: String, text: String, mesh: bool, at: i64 },
    /// For the session holding `msg.recipient` on the node it is sent to: deliver or queue
    /// it, and answer `id`.
    Direct { node: String, id: u64, msg: Kept },
    /// For the session holding `to`: `from` is typing (or stopped).
    Typing { node: String, from: String, to: String, active: bool },
    /// The answer to the sender's message `id`: `None` for done.
    Answer { id: u64, error: Option<Refusal> },
    /// A asks B (on the node it is sent to) for a private link, numbered `tag` on A's node;
    /// answer `id`.
    LinkAsk { node: String, id: u64, key: LinkKey, tag: u64 },
    /// B accepted the link `key`.
    LinkAccepted { node: String, key: LinkKey },
    /// The link `key` is over.
    LinkAborted { node: String, key: LinkKey },
    /// Operator `op` of the sending node answers ring `ring`; answer `id`.
    RingAck { node: String, id: u64, ring: u64, op: u64, uuid: String, echo: String },
    /// Operator `op` (of the node it is sent to) won ring `ring`: it is with `user`.
    DeskJoined { node: String, op: u64, user: String, texts: Vec<String>, ring: u64, echo: String },
    /// What operator `op`'s end user wrote.
    DeskWrote { node: String, op: u64, texts: Vec<String> },
    /// Operator `op`'s end user is typing, or stopped.
    DeskTyping { node: String, op: u64, composing: bool },
    /// The operator of `user` ended the conversation; tell the user `notice`.
    DeskEnd { node: String, user: String, notice: String },
    /// Operator `op`'s end user `user` left.
    DeskUserLeft { node: String, op: u64, user: String },
    /// ChatHack: A (`from`) asks `to` for a direct link.
    DirectAsk { node: String, from: String, to: String },
    /// ChatHack: B (`from`) answers A (`to`): accepted (with where A connects), or denied.
    DirectAnswer {
        node: String,
        from: String,
        to: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        accept: Option<DirectAccept>,
    },
    /// The sending node's desk: its operators (`operators`), a ring (`ring` with
    /// `expires_ms`), or a ring over (`ring` with `winner`, empty if nobody).
    Desk {
        node: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        operators: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ring: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        expires_ms: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        winner: Option<String>,
    },
    /// A change to a room, decided on the sending node, for every node to carry out.
    Room { node: String, news: RoomNews },
    /// `name`, held by the sending node, is away with `message`, or back (none).
    Away {
        node: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
}

/// A change to a room (the hub's `RoomNews`): modes by their IRC letters.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "n", rename_all = "snake_case")]
pub enum RoomNews {
    Joined {
        room: String,
        name: String,
        member: Member,
    },
    Parted {
        room: String,
        name: String,
        reason: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        by: Option<String>,
    },
    Quit {
        room: String,
        name: String,
    },
    Said {
        room: String,
        from: String,
        text: String,
        notice: bool,
    },
    Topic {
        room: String,
        text: String,
        by: String,
        /// When it was set, in seconds since the Unix epoch.
        #[serde(default)]
        at: i64,
    },
    Modes {
        room: String,
        by: String,
        changes: Vec<ModeChange>,
    },
    Invited {
        room: String,
        name: String,
        by: String,
    },
    Typing {
        room: String,
        from: String,
        active: bool,
    },
    Sync {
        room: String,
        /// The topic and who set it, and (`topic_at`) when.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        topic: Option<(String, String)>,
        #[serde(default)]
        topic_at: i64,
        modes: RoomModes,
        bans: Vec<String>,
        /// Ban exceptions (`+e`) and invite exceptions (`+I`).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        excepts: Vec<String>,
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        invexes: Vec<String>,
        members: Vec<(String, Member)>,
    },
}

/// A member's standing in a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub op: bool,
    pub voice: bool,
}

/// A mode set (`on`) or unset: its IRC letter and its argument, if it takes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModeChange {
    pub on: bool,
    pub mode: char,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arg: Option<String>,
}

/// A room's modes: the letters of those set (of `imnst`), its key and its limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoomModes {
    pub set: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// Where A connects to B, and with what id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectAccept {
    pub port: i32,
    pub address: std::net::IpAddr,
    pub id: i64,
}

/// A ChatOS private link: A, B, and A's password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LinkKey {
    pub a: String,
    pub b: String,
    pub password: i16,
}

/// What the two nodes of a private link between nodes say to each other about its bytes, on
/// the link's two subjects (one a way). Binary: a kind byte, a number (big-endian `u64`), and
/// for data the bytes. Data goes only within the window its receiver has acknowledged (back
/// pressure), and names its offset in the stream, so a byte lost is seen, never skipped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkFrame {
    /// This end listens; sent until it hears the other.
    Hello,
    /// Bytes of the stream, from `offset`.
    Data { offset: u64, bytes: bytes::Bytes },
    /// The other way's bytes written to this end's socket, up to `total`.
    Ack { total: u64 },
    /// This way is over, after `total` bytes.
    Eof { total: u64 },
    /// The link is broken: drop it.
    Reset,
}

impl LinkFrame {
    pub fn to_bytes(&self) -> bytes::Bytes {
        let (kind, n, data): (u8, u64, &[u8]) = match self {
            LinkFrame::Hello => (0, 0, &[]),
            LinkFrame::Data { offset, bytes } => (1, *offset, bytes),
            LinkFrame::Ack { total } => (2, *total, &[]),
            LinkFrame::Eof { total } => (3, *total, &[]),
            LinkFrame::Reset => (4, 0, &[]),
        };
        let mut out = Vec::with_capacity(9 + data.len());
        out.push(kind);
        out.extend_from_slice(&n.to_be_bytes());
        out.extend_from_slice(data);
        out.into()
    }

    pub fn decode(frame: bytes::Bytes) -> Result<LinkFrame, BusError> {
        if frame.len() > MAX_MESSAGE {
            return Err(BusError::TooLong(frame.len()));
        }
        if frame.len() < 9 {
            return Err(BusError::Link("shorter than its header"));
        }
        let n = u64::from_be_bytes(frame[1..9].try_into().expect("eight bytes"));
        let rest = frame.len() > 9;
        Ok(match (frame[0], rest) {
            (0 | 4, false) if n != 0 => return Err(BusError::Link("a number where there is none")),
            (0, false) => LinkFrame::Hello,
            (1, _) => LinkFrame::Data { offset: n, bytes: frame.slice(9..) },
            (2, false) => LinkFrame::Ack { total: n },
            (3, false) => LinkFrame::Eof { total: n },
            (4, false) => LinkFrame::Reset,
            (0..=4, true) => return Err(BusError::Link("bytes after a frame that has none")),
            _ => return Err(BusError::Link("an unknown kind")),
        })
    }
}

/// A message to keep and deliver, as the hub has it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Kept {
    pub sender: String,
    /// The sender's session, if it is a guest's (its history is its session's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender_guest: Option<u64>,
    pub recipient: String,
    #[serde(default)]
    pub image: bool,
    pub body: String,
}

/// Why a node refused a command, as the hub says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    NameTaken,
    InvalidName,
    NotYourName,
    NotLoggedIn,
    Unreachable,
    LinkInProgress,
    NoSuchLink,
    Unavailable,
}

/// A name's claim, the value of its key in the names bucket: which node holds it, and for
/// a session of which door, that carries what (a bit each, as the server numbers them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holding {
    pub node: String,
    pub name: String,
    pub door: u8,
    pub caps: u16,
    /// The session had this name until it claimed this one (a rename): another node renames
    /// it rather than seeing one leave and another come.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub was: Option<String>,
}

/// An entry of the cluster's log (the `switchboard_log` stream): a message kept, or a queue
/// delivered up to a message. Its sequence in the log is the message's id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "t", rename_all = "snake_case")]
pub enum LogMsg {
    Kept {
        /// Milliseconds since the Unix epoch.
        at: i64,
        sender: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        sender_guest: Option<i64>,
        /// `None`: the lobby.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        recipient_guest: Option<i64>,
        #[serde(default)]
        image: bool,
        /// Said in a room (`recipient`).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        room: bool,
        body: String,
        /// Queued for its recipient, who was offline.
        #[serde(default)]
        offline: bool,
    },
    Delivered {
        name: String,
        upto: i64,
        images: bool,
    },
}

/// An account in the `switchboard_accounts` bucket (keyed by [`name_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountValue {
    pub name: String,
    /// Its password as an argon2id PHC string.
    pub phc: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// A white-listed device in the `switchboard_whitelist` bucket (keyed by [`name_key`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeviceValue {
    pub name: String,
    pub mac: u64,
    pub created_at: i64,
}

macro_rules! json_value {
    ($($t:ty),*) => {$(
        impl $t {
            pub fn to_bytes(&self) -> Vec<u8> {
                serde_json::to_vec(self).expect("a value serializes")
            }

            pub fn decode(bytes: &[u8]) -> Result<$t, BusError> {
                decode(bytes)
            }
        }
    )*};
}
json_value!(LogMsg, AccountValue, DeviceValue);

/// The key of a name in a bucket (keys are ASCII): the name as folded, in hex.
pub fn name_key(folded: &str) -> String {
    claim_key(folded)
}

/// The name as folded that [`name_key`] made `key` of, if it is one.
pub fn key_name(key: &str) -> Option<String> {
    // Hex digits only: `from_str_radix` alone would take a sign (`+1`).
    if !key.len().is_multiple_of(2) || !key.bytes().all(|b| b.is_ascii_hexdigit()) {
        return None;
    }
    let bytes: Option<Vec<u8>> =
        (0..key.len()).step_by(2).map(|i| u8::from_str_radix(&key[i..i + 2], 16).ok()).collect();
    String::from_utf8(bytes?).ok()
}

/// Why bytes from the bus are not a message.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("a message of {0} bytes, over the bound")]
    TooLong(usize),
    #[error("not a message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a link frame: {0}")]
    Link(&'static str),
}

impl BusMsg {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a message serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<BusMsg, BusError> {
        decode(bytes)
    }
}

impl Holding {
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a claim serializes")
    }

    pub fn decode(bytes: &[u8]) -> Result<Holding, BusError> {
        decode(bytes)
    }
}

fn decode<T: for<'de> Deserialize<'de>>(bytes: &[u8]) -> Result<T, BusError> {
    if bytes.len() > MAX_MESSAGE {
        return Err(BusError::TooLong(bytes.len()));
    }
    Ok(serde_json::from_slice(bytes)?)
}

/// The key of a name's claim in the names bucket: its skeleton (two names that look alike
/// have one, so one key: a look-alike cannot be claimed while the other is held), in hex, as
/// keys are ASCII.
pub fn claim_key(skeleton: &str) -> String {
    skeleton.bytes().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_as_json() {
        let lobby = BusMsg::Lobby { node: "n1".into(), from: "ann".into(), text: "hi".into(), mesh: false, at: 5 };
        assert_eq!(lobby.to_bytes(), br#"{"t":"lobby","node":"n1","from":"ann","text":"hi","mesh":false,"at":5}"#);
        let answer = BusMsg::Answer { id: 7, error: Some(Refusal::Unreachable) };
        assert_eq!(answer.to_bytes(), br#"{"t":"answer","id":7,"error":"unreachable"}"#);
        let direct = BusMsg::Direct {
            node: "n2".into(),
            id: 1,
            msg: Kept { sender: "a".into(), sender_guest: None, recipient: "b".into(), image: false, body: "x".into() },
        };
        assert_eq!(
            direct.to_bytes(),
            br#"{"t":"direct","node":"n2","id":1,"msg":{"sender":"a","recipient":"b","image":false,"body":"x"}}"#
        );
        let room = BusMsg::Room {
            node: "n3".into(),
            news: RoomNews::Modes {
                room: "#rust".into(),
                by: "ann".into(),
                changes: vec![ModeChange { on: true, mode: 'o', arg: Some("bob".into()) }],
            },
        };
        assert_eq!(
            room.to_bytes(),
            br##"{"t":"room","node":"n3","news":{"n":"modes","room":"#rust","by":"ann","changes":[{"on":true,"mode":"o","arg":"bob"}]}}"##
        );
        let away = BusMsg::Away { node: "n4".into(), name: "ann".into(), message: Some("lunch".into()) };
        assert_eq!(away.to_bytes(), br#"{"t":"away","node":"n4","name":"ann","message":"lunch"}"#);
        let back = BusMsg::Away { node: "n4".into(), name: "ann".into(), message: None };
        assert_eq!(back.to_bytes(), br#"{"t":"away","node":"n4","name":"ann"}"#);
        for msg in [lobby, answer, direct, room, away, back] {
            assert_eq!(BusMsg::decode(&msg.to_bytes()).unwrap(), msg);
        }
    }

    #[test]
    fn what_is_not_a_message_is_an_error() {
        for bad in [&b""[..], b"{", b"{\"t\":\"nope\"}", b"{\"t\":\"lobby\"}", b"[1,2]", b"\xff"] {
            assert!(BusMsg::decode(bad).is_err(), "{bad:?}");
        }
        let long = vec![b' '; MAX_MESSAGE + 1];
        assert!(matches!(BusMsg::decode(&long), Err(BusError::TooLong(_))));
    }

    #[test]
    fn log_entries_and_bucket_values() {
        let kept = LogMsg::Kept {
            at: 1,
            sender: "ann".into(),
            sender_guest: Some(4 << 32),
            recipient: Some("Bob".into()),
            recipient_guest: None,
            image: false,
            room: false,
            body: "hi".into(),
            offline: true,
        };
        let bytes = kept.to_bytes();
        assert_eq!(
            bytes,
            br#"{"t":"kept","at":1,"sender":"ann","sender_guest":17179869184,"recipient":"Bob","image":false,"body":"hi","offline":true}"#
        );
        assert_eq!(LogMsg::decode(&bytes).unwrap(), kept);
        // A room's message says so; an entry of before rooms reads as no room's.
        let said = LogMsg::Kept {
            at: 2,
            sender: "ann".into(),
            sender_guest: None,
            recipient: Some("#r".into()),
            recipient_guest: None,
            image: false,
            room: true,
            body: "hi".into(),
            offline: false,
        };
        assert!(String::from_utf8(said.to_bytes()).unwrap().contains(r#""image":false,"room":true,"body""#));
        assert_eq!(LogMsg::decode(&said.to_bytes()).unwrap(), said);
        let done = LogMsg::Delivered { name: "bob".into(), upto: 9, images: true };
        assert_eq!(LogMsg::decode(&done.to_bytes()).unwrap(), done);
        let account = AccountValue { name: "Ann".into(), phc: "$argon2id$x".into(), created_at: 3 };
        assert_eq!(AccountValue::decode(&account.to_bytes()).unwrap(), account);
        assert!(DeviceValue::decode(br#"{"name":"k","mac":-1,"created_at":0}"#).is_err());
        assert_eq!(key_name(&name_key("ann")).as_deref(), Some("ann"));
        assert_eq!(key_name(&name_key("é")).as_deref(), Some("é"));
        for bad in ["6", "zz", "ff", "é0", "61+16e"] {
            assert_eq!(key_name(bad), None, "{bad}");
        }
    }

    #[test]
    fn link_frames_byte_by_byte() {
        let data = LinkFrame::Data { offset: 258, bytes: bytes::Bytes::from_static(b"hi") };
        assert_eq!(&data.to_bytes()[..], b"\x01\0\0\0\0\0\0\x01\x02hi");
        assert_eq!(&LinkFrame::Ack { total: 1 }.to_bytes()[..], b"\x02\0\0\0\0\0\0\0\x01");
        for frame in
            [LinkFrame::Hello, data, LinkFrame::Ack { total: 7 }, LinkFrame::Eof { total: 9 }, LinkFrame::Reset]
        {
            assert_eq!(LinkFrame::decode(frame.to_bytes()).unwrap(), frame);
        }
        for bad in [&b""[..], b"\x01\0\0", b"\x05\0\0\0\0\0\0\0\0", b"\x02\0\0\0\0\0\0\0\0x", b"\0\0\0\0\0\0\0\0\x01"] {
            assert!(LinkFrame::decode(bytes::Bytes::copy_from_slice(bad)).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn claims_and_their_keys() {
        let claim = Holding { node: "n1".into(), name: "Ann".into(), door: 3, caps: 0b1_0101, was: None };
        assert_eq!(Holding::decode(&claim.to_bytes()).unwrap(), claim);
        // A rename says what the name was; a claim of a node that knows no renames reads.
        let renamed = Holding { was: Some("ann".into()), ..claim.clone() };
        assert_eq!(Holding::decode(&renamed.to_bytes()).unwrap(), renamed);
        assert_eq!(Holding::decode(br#"{"node":"n1","name":"Ann","door":3,"caps":21}"#).unwrap(), claim);
        assert_eq!(claim_key("ann"), "616e6e");
        assert_eq!(claim_key("é"), "c3a9");
    }
}

//! PeerChat: one JSON object per line (`\n` or `\r\n`), six message types. Numbers go out as
//! strings and are read as strings or numbers. Invalid JSON, a missing or an unknown `type`,
//! and a `join` without a valid port are ignorable items, never errors: the connection goes
//! on. Invalid age or zip are replaced by defaults (the text says implementations fill them).

use crate::line::{Line, LineDecoder};
use bytes::BytesMut;
use serde_json::{json, Map, Value};

/// The longest line read by default.
pub const DEFAULT_MAX_LINE: usize = 64 * 1024;
/// What an invalid or missing age becomes.
pub const DEFAULT_AGE: u32 = 0;
/// What an invalid or missing zip becomes.
pub const DEFAULT_ZIP: &str = "00000";

/// Who a peer is, in `join` and `join-reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Info {
    pub name: String,
    pub age: u32,
    /// Digits, kept as text (a zip code may start with 0).
    pub zip: String,
    /// The port the peer listens on.
    pub port: u16,
}

/// A peer in a `who-reply`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerAddr {
    pub ip: String,
    pub port: u16,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Join(Info),
    JoinReply(Info),
    Who,
    WhoReply(Vec<PeerAddr>),
    Leave,
    Message(String),
}

/// What one line is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Message(Message),
    /// Not a message this version knows (bad JSON, no or unknown type, a join without a port,
    /// a line over the bound): ignored without an answer.
    Ignored(String),
}

/// A number sent as a string or as a number.
fn number(v: Option<&Value>) -> Option<u64> {
    match v? {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn port(v: Option<&Value>) -> Option<u16> {
    number(v).and_then(|p| u16::try_from(p).ok()).filter(|&p| p != 0)
}

fn info(o: &Map<String, Value>) -> Result<Info, String> {
    let name = match o.get("name") {
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
        None => String::new(),
    };
    let age = number(o.get("age")).and_then(|a| u32::try_from(a).ok()).unwrap_or(DEFAULT_AGE);
    let zip = match o.get("zip") {
        Some(Value::String(s)) if !s.trim().is_empty() && s.trim().bytes().all(|b| b.is_ascii_digit()) => {
            s.trim().to_owned()
        }
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        _ => DEFAULT_ZIP.to_owned(),
    };
    let port = port(o.get("port")).ok_or("a join without a valid port")?;
    Ok(Info { name, age, zip, port })
}

impl Message {
    /// Reads one line's JSON.
    pub fn parse(line: &[u8]) -> Item {
        let value: Value = match serde_json::from_slice(line) {
            Ok(v) => v,
            Err(e) => return Item::Ignored(format!("invalid JSON: {e}")),
        };
        let Some(o) = value.as_object() else { return Item::Ignored("not a JSON object".into()) };
        let Some(kind) = o.get("type").and_then(Value::as_str) else {
            return Item::Ignored("no type".into());
        };
        let message = match kind {
            "join" => info(o).map(Message::Join),
            "join-reply" => info(o).map(Message::JoinReply),
            "who" => Ok(Message::Who),
            "who-reply" => match o.get("peers") {
                Some(Value::Array(peers)) => Ok(Message::WhoReply(
                    peers
                        .iter()
                        .filter_map(|p| {
                            let ip = p.get("ip")?.as_str()?.trim().to_owned();
                            Some(PeerAddr { ip, port: port(p.get("port"))? })
                        })
                        .collect(),
                )),
                _ => Err("a who-reply without peers".into()),
            },
            "leave" => Ok(Message::Leave),
            "message" => match o.get("message") {
                Some(Value::String(s)) => Ok(Message::Message(s.clone())),
                _ => Err("a message without its text".into()),
            },
            other => Err(format!("unknown type {other:?}")),
        };
        match message {
            Ok(m) => Item::Message(m),
            Err(why) => Item::Ignored(why),
        }
    }

    /// The message as one line, numbers as strings, ending in `\n`.
    pub fn to_line(&self) -> Vec<u8> {
        let info = |kind: &str, i: &Info| json!({ "type": kind, "name": i.name, "age": i.age.to_string(), "zip": i.zip, "port": i.port.to_string() });
        let value = match self {
            Message::Join(i) => info("join", i),
            Message::JoinReply(i) => info("join-reply", i),
            Message::Who => json!({ "type": "who" }),
            Message::WhoReply(peers) => {
                let peers: Vec<Value> =
                    peers.iter().map(|p| json!({ "ip": p.ip, "port": p.port.to_string() })).collect();
                json!({ "type": "who-reply", "peers": peers })
            }
            Message::Leave => json!({ "type": "leave" }),
            Message::Message(text) => json!({ "type": "message", "message": text }),
        };
        let mut line = serde_json::to_vec(&value).expect("plain data serialises");
        line.push(b'\n');
        line
    }
}

/// Lines to items, bounded.
#[derive(Debug, Clone)]
pub struct Codec {
    lines: LineDecoder,
}

impl Default for Codec {
    fn default() -> Self {
        Codec::new(DEFAULT_MAX_LINE)
    }
}

impl Codec {
    pub fn new(max_line: usize) -> Self {
        Codec { lines: LineDecoder::new(max_line) }
    }

    /// The next item in `buf`; `None` until a line is whole. Blank lines are skipped.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Item> {
        loop {
            return match self.lines.decode(buf)? {
                Line::Oversized => Some(Item::Ignored("a line over the bound".into())),
                Line::Text(t) if t.iter().all(u8::is_ascii_whitespace) => continue,
                Line::Text(t) => Some(Message::parse(&t)),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn decode_all(input: &[u8], chunk: usize) -> Vec<Item> {
        let (mut codec, mut buf, mut out) = (Codec::new(256), BytesMut::new(), Vec::new());
        for piece in input.chunks(chunk.max(1)) {
            buf.extend_from_slice(piece);
            while let Some(item) = codec.decode(&mut buf) {
                out.push(item);
            }
        }
        out
    }

    fn bob() -> Info {
        Info { name: "Bob".into(), age: 15, zip: "12345".into(), port: 1234 }
    }

    #[test]
    fn the_texts_examples_and_numbers_either_way() {
        let input = concat!(
            "{\"type\": \"join\", \"name\": \"Bob\", \"age\": \"15\", \"zip\": \"12345\", \"port\": \"1234\"}\r\n",
            "{\"type\": \"join-reply\", \"name\": \"Bob\", \"age\": 15, \"zip\": 12345, \"port\": 1234}\n",
            "{\"type\": \"who\"}\n",
            "{\"type\": \"who-reply\", \"peers\": [{\"ip\": \"1.2.3.4\", \"port\": \"1234\"}, {\"ip\": \"::1\", \"port\": 4567}]}\n",
            "{\"type\": \"leave\"}\n",
            "{\"type\": \"message\", \"message\": \"Hello There!\"}\n",
        );
        let want = vec![
            Item::Message(Message::Join(bob())),
            Item::Message(Message::JoinReply(bob())),
            Item::Message(Message::Who),
            Item::Message(Message::WhoReply(vec![
                PeerAddr { ip: "1.2.3.4".into(), port: 1234 },
                PeerAddr { ip: "::1".into(), port: 4567 },
            ])),
            Item::Message(Message::Leave),
            Item::Message(Message::Message("Hello There!".into())),
        ];
        assert_eq!(decode_all(input.as_bytes(), usize::MAX), want);
        assert_eq!(decode_all(input.as_bytes(), 1), want, "one byte at a time");
    }

    #[test]
    fn what_is_ignored_and_what_is_filled_in() {
        let input = concat!(
            "not json\n",
            "{\"name\": \"no type\"}\n",
            "{\"type\": \"dance\"}\n",
            "[1, 2]\n",
            "{\"type\": \"join\", \"name\": \"Al\", \"age\": \"old\", \"zip\": \"ab\", \"port\": \"99999\"}\n",
            "{\"type\": \"join\", \"name\": \"Al\", \"age\": \"-3\", \"zip\": null, \"port\": \"80\"}\n",
            "{\"type\": \"who-reply\", \"peers\": [{\"ip\": \"1.2.3.4\" \"port\": \"1234\"}]}\n",
            "\n",
            "{\"type\": \"who\"}\n",
        );
        let items = decode_all(input.as_bytes(), 7);
        assert!(matches!(&items[..4], [Item::Ignored(_), Item::Ignored(_), Item::Ignored(_), Item::Ignored(_)]));
        assert!(matches!(&items[4], Item::Ignored(why) if why.contains("port")));
        let filled = Info { name: "Al".into(), age: DEFAULT_AGE, zip: DEFAULT_ZIP.into(), port: 80 };
        assert_eq!(items[5], Item::Message(Message::Join(filled)));
        assert!(matches!(&items[6], Item::Ignored(why) if why.contains("JSON")), "the text's own example");
        assert_eq!(items[7], Item::Message(Message::Who));
        assert_eq!(items.len(), 8);
        let long = format!("{{\"type\": \"message\", \"message\": \"{}\"}}\n{{\"type\": \"who\"}}\n", "x".repeat(300));
        assert_eq!(decode_all(long.as_bytes(), 5)[1], Item::Message(Message::Who), "after an oversized line");
    }

    #[test]
    fn numbers_go_out_as_strings() {
        assert_eq!(
            Message::Join(bob()).to_line(),
            b"{\"age\":\"15\",\"name\":\"Bob\",\"port\":\"1234\",\"type\":\"join\",\"zip\":\"12345\"}\n"
        );
        let reply = Message::WhoReply(vec![PeerAddr { ip: "127.0.0.1".into(), port: 7 }]);
        assert_eq!(reply.to_line(), b"{\"peers\":[{\"ip\":\"127.0.0.1\",\"port\":\"7\"}],\"type\":\"who-reply\"}\n");
    }

    fn message() -> impl Strategy<Value = Message> {
        let info = ("\\PC{0,20}", any::<u32>(), "[0-9]{1,9}", 1u16..).prop_map(|(name, age, zip, port)| Info {
            name,
            age,
            zip,
            port,
        });
        prop_oneof![
            info.clone().prop_map(Message::Join),
            info.prop_map(Message::JoinReply),
            Just(Message::Who),
            Just(Message::Leave),
            "\\PC{0,40}".prop_map(Message::Message),
            proptest::collection::vec(("[0-9.:a-f]{1,20}", 1u16..), 0..4)
                .prop_map(|v| Message::WhoReply(v.into_iter().map(|(ip, port)| PeerAddr { ip, port }).collect())),
        ]
    }

    proptest! {
        #[test]
        fn round_trip_whole_and_byte_by_byte(messages in proptest::collection::vec(message(), 1..6)) {
            let wire: Vec<u8> = messages.iter().flat_map(|m| m.to_line()).collect();
            let want: Vec<Item> = messages.into_iter().map(Item::Message).collect();
            prop_assert_eq!(decode_all(&wire, usize::MAX), want.clone());
            prop_assert_eq!(decode_all(&wire, 1), want);
        }
    }
}

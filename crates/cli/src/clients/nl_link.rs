//! How the NL console reaches the desk: the hub's NL TCP door, one raw packet a line, or an
//! XMPP server, one raw packet the body of a chat message to the hub's full JID (as NL Chat's
//! original clients did). Either way the console sends and receives raw packets.

use crate::clients::connect::Stream;
use bytes::BytesMut;
use futures_util::StreamExt;
use proto::line::{Line, LineDecoder};
use proto::nlchat::RawPacket;
use tokio::io::{AsyncReadExt, AsyncWriteExt, ReadHalf, WriteHalf};
use tokio_xmpp::jid::Jid;
use tokio_xmpp::parsers::iq::Iq;
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};
use tokio_xmpp::stanzastream::{Event, StanzaStream, StreamEvent};
use tokio_xmpp::Stanza;

/// The longest line (or body) read from the server.
const MAX_LINE: usize = 1 << 20;

pub enum Link {
    Tcp { read: ReadHalf<Stream>, write: WriteHalf<Stream>, decoder: LineDecoder, buf: BytesMut },
    Xmpp { session: StanzaStream, hub: Jid },
}

/// What came from the server.
pub enum Heard {
    /// A raw packet's text.
    Packet(Vec<u8>),
    /// The XMPP session is up again after a loss: the desk may not know this console.
    Back,
}

impl Link {
    pub fn tcp(stream: Stream) -> Link {
        let (read, write) = tokio::io::split(stream);
        Link::Tcp { read, write, decoder: LineDecoder::new(MAX_LINE), buf: BytesMut::new() }
    }

    /// Over XMPP, to the hub's full JID `hub`.
    pub fn xmpp(session: StanzaStream, hub: Jid) -> Link {
        Link::Xmpp { session, hub }
    }

    pub async fn send(&mut self, raw: &RawPacket) -> std::io::Result<()> {
        match self {
            Link::Tcp { write, .. } => write.write_all(&raw.to_line()).await,
            Link::Xmpp { session, hub } => {
                let line = String::from_utf8_lossy(&raw.to_line()).trim_end().to_owned();
                let message = Message::chat(Some(hub.clone())).with_body(Lang::default(), line);
                session.send(Box::new(Stanza::Message(message))).await;
                Ok(())
            }
        }
    }

    /// What the server sends next; `None` once it closed the connection (over XMPP the
    /// session reconnects by itself: never). Cancel-safe.
    pub async fn next(&mut self) -> std::io::Result<Option<Heard>> {
        match self {
            Link::Tcp { read, decoder, buf, .. } => loop {
                match decoder.decode(buf) {
                    Some(Line::Text(line)) => return Ok(Some(Heard::Packet(line.to_vec()))),
                    Some(Line::Oversized) => continue,
                    None => {}
                }
                if read.read_buf(buf).await? == 0 {
                    return Ok(None);
                }
            },
            Link::Xmpp { session, hub } => loop {
                let Some(event) = session.next().await else { return Ok(None) };
                match event {
                    Event::Stream(StreamEvent::Reset { .. }) => {
                        session.send(Box::new(Stanza::Presence(Presence::available()))).await;
                        return Ok(Some(Heard::Back));
                    }
                    Event::Stream(_) => {}
                    Event::Stanza(Stanza::Message(m))
                        if m.type_ == MessageType::Chat && m.from.as_ref() == Some(hub) =>
                    {
                        if let Some((_, body)) = m.get_best_body_cloned(vec![]).filter(|(_, b)| b.len() <= MAX_LINE) {
                            return Ok(Some(Heard::Packet(body.into_bytes())));
                        }
                    }
                    Event::Stanza(Stanza::Iq(Iq::Get { from: Some(from), id, payload, .. })) => {
                        let answer = match payload.is("ping", tokio_xmpp::parsers::ns::PING) {
                            true => Iq::empty_result(from, id),
                            false => {
                                let error =
                                    StanzaError::new(ErrorType::Cancel, DefinedCondition::ServiceUnavailable, "en", "");
                                Iq::from_error(id, error).with_to(from)
                            }
                        };
                        session.send(Box::new(Stanza::Iq(answer))).await;
                    }
                    Event::Stanza(_) => {}
                }
            },
        }
    }
}

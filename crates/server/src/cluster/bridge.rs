//! A ChatOS private link whose two ends are parked on different nodes: each node relays its
//! end's bytes over the bus, on a subject a way (`switchboard.link.A-NODE.TAG.a` carries A's
//! bytes, `.b` B's). Each end says `Hello` until it hears the other (core NATS keeps nothing
//! for a subject nobody listens to yet); data then goes in order, each frame naming its
//! offset, and never more than [`WINDOW`] bytes past what the other end acknowledged having
//! written to its socket, so a slow reader slows its writer and nothing piles up. A half
//! close crosses as `Eof`; a byte lost, a socket broken, NATS gone or the other node silent
//! before it said hello resets the link: its two sockets close, and no byte is skipped.

use crate::msg::HubMsg;
use crate::net::transport::Transport;
use bytes::{Bytes, BytesMut};
use futures_util::StreamExt;
use hub::LinkId;
use proto::bus::LinkFrame;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// Bytes in flight one way, at most, before the sender waits for an acknowledgement.
pub(crate) const WINDOW: u64 = 1 << 20;
/// The most bytes in one frame.
const CHUNK: usize = 64 * 1024;
/// How often an end says hello until it hears the other.
const HELLO: Duration = Duration::from_millis(100);

/// Where a parked end's bytes go, and where the other end's come from.
#[derive(Debug, Clone)]
pub(crate) struct Bridge {
    pub client: async_nats::Client,
    pub out: String,
    pub inbound: String,
    /// How long the other end has to say hello.
    pub timeout: Duration,
}

/// Why a bridge ended before both ways were over.
#[derive(Debug, thiserror::Error)]
enum Broken {
    #[error("the other end never said hello")]
    Silent,
    #[error("the other end reset the link")]
    Reset,
    #[error("{0}")]
    Frame(&'static str),
    #[error("the cluster cannot be reached")]
    Away,
    #[error("this end's socket: {0}")]
    Io(#[from] std::io::Error),
}

/// Relays `end` (its socket and the bytes already read from it) to the other node until both
/// ways are over or the link breaks, then tells the hub the link is closed.
pub(crate) async fn run(link: LinkId, end: (Transport, BytesMut), bridge: Bridge, hub: mpsc::Sender<HubMsg>) {
    let result = relay(end, &bridge).await;
    match &result {
        Ok((sent, got)) => tracing::debug!(link = link.0, sent, got, "private link between nodes closed"),
        Err(e) => {
            tracing::debug!(link = link.0, error = %e, "private link between nodes ended");
            let _ = bridge.client.publish(bridge.out.clone(), LinkFrame::Reset.to_bytes()).await;
        }
    }
    let _ = hub.send(HubMsg::LinkClosed { link }).await;
}

async fn relay((socket, early): (Transport, BytesMut), bridge: &Bridge) -> Result<(u64, u64), Broken> {
    let Bridge { client, out, inbound, timeout } = bridge;
    let mut frames = client.subscribe(inbound.clone()).await.map_err(|_| Broken::Away)?;
    let (mut rd, mut wr) = tokio::io::split(socket);
    let publish =
        |frame: LinkFrame| async move { client.publish(out.clone(), frame.to_bytes()).await.map_err(|_| Broken::Away) };
    // This way: sent, and acknowledged by the other end; the other way: written here, and
    // acknowledged to it.
    let (mut sent, mut acked, mut got, mut told) = (0u64, 0u64, 0u64, 0u64);
    let (mut heard, mut eof_sent, mut eof_got) = (false, false, false);
    let mut early = Some(early.freeze()).filter(|b| !b.is_empty());
    let mut buf = vec![0u8; CHUNK];
    let mut hello = tokio::time::interval(HELLO);
    let mut check = tokio::time::interval(Duration::from_millis(500));
    let deadline = tokio::time::sleep(*timeout);
    tokio::pin!(deadline);
    while !(eof_sent && eof_got) {
        let may_send = heard && !eof_sent && sent - acked < WINDOW;
        tokio::select! {
            _ = hello.tick(), if !heard => publish(LinkFrame::Hello).await?,
            () = &mut deadline, if !heard => return Err(Broken::Silent),
            _ = check.tick() => {
                if client.connection_state() != async_nats::connection::State::Connected {
                    return Err(Broken::Away);
                }
            }
            frame = frames.next() => {
                let Some(message) = frame else { return Err(Broken::Away) };
                let frame = LinkFrame::decode(message.payload).map_err(|_| Broken::Frame("not a link frame"))?;
                if !heard {
                    heard = true;
                    // It may have said hello before this end listened: now it knows.
                    publish(LinkFrame::Ack { total: got }).await?;
                }
                match frame {
                    LinkFrame::Hello => {}
                    LinkFrame::Data { offset, bytes } => {
                        if offset != got || eof_got {
                            return Err(Broken::Frame("bytes out of order"));
                        }
                        wr.write_all(&bytes).await?;
                        got += bytes.len() as u64;
                        if got - told >= WINDOW / 4 {
                            told = got;
                            publish(LinkFrame::Ack { total: got }).await?;
                        }
                    }
                    LinkFrame::Ack { total } => acked = acked.max(total.min(sent)),
                    LinkFrame::Eof { total } => {
                        if total != got {
                            return Err(Broken::Frame("a way ended short of its bytes"));
                        }
                        wr.shutdown().await?;
                        eof_got = true;
                    }
                    LinkFrame::Reset => return Err(Broken::Reset),
                }
            }
            read = read_some(&mut rd, &mut buf, &mut early), if may_send => {
                let bytes = read?;
                if bytes.is_empty() {
                    publish(LinkFrame::Eof { total: sent }).await?;
                    eof_sent = true;
                } else {
                    let n = bytes.len() as u64;
                    publish(LinkFrame::Data { offset: sent, bytes }).await?;
                    sent += n;
                }
            }
        }
    }
    Ok((sent, got))
}

/// The bytes read before the link was parked first, then what the socket gives (empty: the
/// end of this way).
async fn read_some(
    rd: &mut (impl tokio::io::AsyncRead + Unpin),
    buf: &mut [u8],
    early: &mut Option<Bytes>,
) -> std::io::Result<Bytes> {
    if let Some(bytes) = early.take() {
        return Ok(bytes);
    }
    let n = rd.read(buf).await?;
    Ok(Bytes::copy_from_slice(&buf[..n]))
}

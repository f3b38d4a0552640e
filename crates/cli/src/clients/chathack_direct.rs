//! ChatHack direct connections between two clients: the listener that peers connect to, the
//! connection we open to a peer that accepted, the reading of messages and files, and the
//! saving of files under a safe name.

use crate::ui::{Meter, Screen, To};
use bytes::{Bytes, BytesMut};
use proto::chathack::{Codec, Decoded, DirectPacket};
use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// How long one who connects has to send its opening packet.
const OPENING: Duration = Duration::from_secs(10);

/// Our side of an open direct connection.
pub(crate) struct Direct {
    write: OwnedWriteHalf,
}

impl Direct {
    /// Sends one packet; a file shows a progress bar: on the full screen, its `meter`; in
    /// line mode, one of indicatif's when stdout is a terminal.
    pub async fn send(&mut self, packet: &DirectPacket, mut meter: Option<Meter>) -> std::io::Result<()> {
        let bytes = packet.to_bytes();
        let bar = (meter.is_none() && matches!(packet, DirectPacket::File { .. }) && std::io::stdout().is_terminal())
            .then(|| indicatif::ProgressBar::new(bytes.len() as u64));
        for chunk in bytes.chunks(4096) {
            self.write.write_all(chunk).await?;
            if let Some(bar) = &bar {
                bar.inc(chunk.len() as u64);
            }
            if let Some(m) = &mut meter {
                m.add(chunk.len() as u64);
            }
        }
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        Ok(())
    }
}

pub(crate) enum DirectEvent {
    /// Someone connected to our listener and opened as `peer` with `id`: the main loop
    /// answers on `verdict` whether that is a login and id it accepted.
    Opening {
        peer: String,
        id: i64,
        direct: Direct,
        verdict: oneshot::Sender<bool>,
    },
    /// Our connection to a peer that accepted is open.
    Open {
        peer: String,
        direct: Direct,
    },
    Message {
        peer: String,
        message: String,
    },
    File {
        peer: String,
        name: String,
        data: Bytes,
    },
    Refused {
        peer: String,
        why: String,
    },
    Closed {
        peer: String,
    },
}

/// Takes the connections peers open to us.
pub(crate) async fn accept(listener: TcpListener, max: usize, events: mpsc::Sender<DirectEvent>, screen: Screen) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(incoming(stream, max, events.clone(), screen.clone()));
    }
}

async fn incoming(stream: TcpStream, max: usize, events: mpsc::Sender<DirectEvent>, screen: Screen) {
    let _ = stream.set_nodelay(true);
    let (mut read, write) = stream.into_split();
    let (mut codec, mut buf) = (Codec::new(max), BytesMut::new());
    let opening = tokio::time::timeout(OPENING, async {
        loop {
            match codec.decode_direct(&mut buf) {
                Ok(Some(Decoded::Packet(DirectPacket::Open { login, id }))) => return Some((login, id)),
                Ok(None) => {}
                _ => return None, // anything else first is not a ChatHack peer
            }
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return None,
                Ok(_) => {}
            }
        }
    });
    let Ok(Some((peer, id))) = opening.await else { return };
    let (verdict, accepted) = oneshot::channel();
    let direct = Direct { write };
    if events.send(DirectEvent::Opening { peer: peer.clone(), id, direct, verdict }).await.is_err() {
        return;
    }
    if accepted.await == Ok(true) {
        read_packets(read, buf, codec, peer, events, screen).await;
    }
}

/// Connects to a peer that accepted us, and opens with our login and its id.
pub(crate) async fn connect(
    addr: SocketAddr,
    me: String,
    peer: String,
    id: i64,
    max: usize,
    events: mpsc::Sender<DirectEvent>,
    screen: Screen,
) {
    let opened = async {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (read, mut write) = stream.into_split();
        write.write_all(&DirectPacket::Open { login: me, id }.to_bytes()).await?;
        Ok::<_, std::io::Error>((read, Direct { write }))
    };
    match opened.await {
        Ok((read, direct)) => {
            if events.send(DirectEvent::Open { peer: peer.clone(), direct }).await.is_ok() {
                read_packets(read, BytesMut::new(), Codec::new(max), peer, events, screen).await;
            }
        }
        Err(e) => {
            let _ = events.send(DirectEvent::Refused { peer, why: format!("cannot connect to {addr}: {e}") }).await;
        }
    }
}

async fn read_packets(
    mut read: OwnedReadHalf,
    mut buf: BytesMut,
    mut codec: Codec,
    peer: String,
    events: mpsc::Sender<DirectEvent>,
    screen: Screen,
) {
    // A file arriving shows its progress on the full screen.
    let mut meter: Option<(Meter, usize)> = None;
    loop {
        let decoded = codec.decode_direct(&mut buf);
        if let Ok(Some(Decoded::Packet(DirectPacket::File { name, data, .. }))) = &decoded {
            // Its bar ends full, even when the whole file came in one read.
            let (mut m, _) = meter.take().unwrap_or_else(|| {
                let label = format!("{name} from {peer}");
                (Meter::new(&screen, To::Person(peer.clone()), label, data.len() as u64), data.len())
            });
            m.set(data.len() as u64);
        }
        let event = match decoded {
            Ok(Some(Decoded::Packet(DirectPacket::Message { message, .. }))) => {
                Some(DirectEvent::Message { peer: peer.clone(), message })
            }
            Ok(Some(Decoded::Packet(DirectPacket::File { name, data, .. }))) => {
                Some(DirectEvent::File { peer: peer.clone(), name, data })
            }
            Ok(Some(Decoded::Packet(DirectPacket::Open { .. }))) => None,
            Ok(Some(Decoded::Oversized { .. })) => {
                let why = format!("sent more than {} bytes at once: refused", codec.max());
                Some(DirectEvent::Refused { peer: peer.clone(), why })
            }
            Ok(None) => {
                if !screen.plain() {
                    if let Some((name, size, arrived)) = DirectPacket::file_coming(&buf, codec.max()) {
                        let (m, _) = meter.get_or_insert_with(|| {
                            let label = format!("{name} from {peer}");
                            (Meter::new(&screen, To::Person(peer.clone()), label, size as u64), size)
                        });
                        m.set(arrived as u64);
                    }
                }
                match read.read_buf(&mut buf).await {
                    Ok(n) if n > 0 => continue,
                    _ => break,
                }
            }
            Err(e) => {
                let _ = events.send(DirectEvent::Refused { peer: peer.clone(), why: format!("bad packet: {e}") }).await;
                break;
            }
        };
        if let Some(event) = event {
            if events.send(event).await.is_err() {
                return;
            }
        }
    }
    let _ = events.send(DirectEvent::Closed { peer }).await;
}

/// Saves a received file in `dir` under a name made from `name` that cannot leave `dir`
/// (only its last component, without control characters) and never replaces a file there.
pub(crate) fn save(dir: &Path, name: &str, data: &[u8]) -> std::io::Result<PathBuf> {
    use std::io::Write;
    let last = name.rsplit(['/', '\\']).next().unwrap_or_default();
    let mut safe: String = last.chars().filter(|c| !c.is_control()).take(100).collect();
    if safe.is_empty() || safe.chars().all(|c| c == '.') {
        safe = "file".into();
    }
    let (stem, ext) = match safe.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() => (stem.to_owned(), format!(".{ext}")),
        _ => (safe.clone(), String::new()),
    };
    for n in 0.. {
        let candidate = match n {
            0 => dir.join(&safe),
            n => dir.join(format!("{stem}-{n}{ext}")),
        };
        match std::fs::OpenOptions::new().write(true).create_new(true).open(&candidate) {
            Ok(mut file) => {
                file.write_all(data)?;
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    unreachable!("some name is always free")
}

#[cfg(test)]
mod tests {
    use super::save;

    #[test]
    fn saved_names_stay_in_the_folder_and_never_replace() {
        let dir = tempfile::tempdir().unwrap();
        let names: Vec<String> = ["../../etc/passwd", "a.txt", "a.txt", "..", "", "dir\\\\evil.bin", "x\u{7}y"]
            .iter()
            .map(|n| save(dir.path(), n, b"data").unwrap().file_name().unwrap().to_str().unwrap().to_owned())
            .collect();
        assert_eq!(names, ["passwd", "a.txt", "a-1.txt", "file", "file-1", "evil.bin", "xy"]);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 7);
    }
}

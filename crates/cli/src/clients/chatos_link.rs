//! One open ChatOS private connection in the client: either end may fetch a file from the
//! folder the other shares, with the exchange the original client uses (WIRE.md). A reader
//! task takes requests and responses off the link, a writer task sends ours, so a large file
//! going one way never blocks one coming the other way.

use crate::clients::connect::Stream;
use crate::ui::{Meter, Screen, To};
use anyhow::{bail, Context};
use bytes::{Buf, BytesMut};
use proto::chatos::{FetchRequest, FetchResponse, ResponseHead};
use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::sync::{Arc, Mutex};
use tokio::fs::File;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::sync::mpsc;

/// What the link's writer does next.
pub(crate) enum LinkCmd {
    /// Ask the peer for `remote`, saving it as `local` (by default its file name, here).
    Get { remote: String, local: Option<PathBuf> },
    /// Answer the peer's request for `path` from our shared folder.
    Serve { path: String },
}

pub(crate) enum LinkEvent {
    Open { peer: String, cmds: mpsc::Sender<LinkCmd> },
    Closed { peer: String },
}

/// Our requests awaiting their responses, in order: (remote path, where to save).
type Awaited = Arc<Mutex<VecDeque<(String, PathBuf)>>>;

/// Runs the link in the background; `events` hears that it is open, then that it closed.
pub(crate) fn spawn(
    stream: Stream,
    leftover: BytesMut,
    peer: String,
    share: Option<PathBuf>,
    events: mpsc::Sender<LinkEvent>,
    screen: Screen,
) {
    let (read, write) = tokio::io::split(stream);
    let (cmds, rx) = mpsc::channel(16);
    let awaited = Awaited::default();
    let link = Link { peer: peer.clone(), screen: screen.clone() };
    tokio::spawn(writer(write, rx, share, awaited.clone(), link.clone()));
    let reader_cmds = cmds.clone();
    tokio::spawn(async move {
        let _ = events.send(LinkEvent::Open { peer: peer.clone(), cmds }).await;
        if let Err(e) = reader(read, leftover, &link, reader_cmds, awaited).await {
            screen.error(To::Person(peer.clone()), format!("private connection with {peer}: {e:#}"));
        }
        let _ = events.send(LinkEvent::Closed { peer }).await;
    });
}

/// Reads more of the link into `buf`; fails at the end of the stream.
async fn fill(read: &mut ReadHalf<Stream>, buf: &mut BytesMut) -> anyhow::Result<()> {
    if read.read_buf(buf).await? == 0 {
        bail!("closed");
    }
    Ok(())
}

/// Who is at the other end, and where to say what goes on.
#[derive(Clone)]
struct Link {
    peer: String,
    screen: Screen,
}

async fn reader(
    mut read: ReadHalf<Stream>,
    mut buf: BytesMut,
    link: &Link,
    cmds: mpsc::Sender<LinkCmd>,
    awaited: Awaited,
) -> anyhow::Result<()> {
    loop {
        let Some(is_response) = FetchRequest::starts_response(&buf) else {
            if read.read_buf(&mut buf).await? == 0 {
                return Ok(()); // closed between exchanges: a normal end
            }
            continue;
        };
        if !is_response {
            let Some((request, used)) = FetchRequest::parse(&buf)? else {
                fill(&mut read, &mut buf).await?;
                continue;
            };
            buf.advance(used);
            let _ = cmds.send(LinkCmd::Serve { path: request.path }).await;
            continue;
        }
        let Some((head, used)) = ResponseHead::parse(&buf)? else {
            fill(&mut read, &mut buf).await?;
            continue;
        };
        buf.advance(used);
        let Some((remote, local)) = awaited.lock().expect("awaited lock").pop_front() else {
            bail!("a response nobody asked for");
        };
        let mut file = if head.status == 200 {
            Some(File::create(&local).await.with_context(|| format!("creating {}", local.display()))?)
        } else {
            None
        };
        let (peer, to) = (&link.peer, To::Person(link.peer.clone()));
        let mut meter =
            file.is_some().then(|| Meter::new(&link.screen, to.clone(), format!("{peer}:{remote}"), head.len));
        let mut left = head.len;
        while left > 0 {
            if buf.is_empty() {
                fill(&mut read, &mut buf).await?;
            }
            let n = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
            if let Some(f) = &mut file {
                f.write_all(&buf[..n]).await?;
            }
            buf.advance(n);
            left -= n as u64;
            if let Some(m) = &mut meter {
                m.add(n as u64);
            }
        }
        match file {
            Some(mut f) => {
                f.flush().await?;
                let text = format!("{peer}:{remote} saved as {} ({} bytes)", local.display(), head.len);
                link.screen.note(to, "[file]", text);
            }
            None => link.screen.note(to, "[file]", format!("{peer} has no file {remote} ({})", head.status)),
        }
    }
}

async fn writer(
    mut write: WriteHalf<Stream>,
    mut rx: mpsc::Receiver<LinkCmd>,
    share: Option<PathBuf>,
    awaited: Awaited,
    link: Link,
) {
    while let Some(cmd) = rx.recv().await {
        let result = match cmd {
            LinkCmd::Get { remote, local } => {
                let local = local.unwrap_or_else(|| default_local(&remote));
                awaited.lock().expect("awaited lock").push_back((remote.clone(), local));
                let mut req = BytesMut::new();
                FetchRequest { path: remote }.encode(&mut req);
                write.write_all(&req).await.map_err(anyhow::Error::from)
            }
            LinkCmd::Serve { path } => serve(&mut write, share.as_deref(), &path, &link).await,
        };
        if result.is_err() {
            break;
        }
    }
}

/// The file name of `remote`, in the current folder; never a path the peer chose.
fn default_local(remote: &str) -> PathBuf {
    let name = Path::new(remote).file_name().and_then(|n| n.to_str()).filter(|n| !n.is_empty());
    PathBuf::from(name.unwrap_or("download"))
}

/// The file `requested` names inside `share`, if it is one: no `..`, no way out by a link.
fn resolve(share: &Path, requested: &str) -> Option<PathBuf> {
    let rel = Path::new(requested.trim_start_matches('/'));
    if rel.components().any(|c| !matches!(c, Component::Normal(_) | Component::CurDir)) {
        return None;
    }
    let root = share.canonicalize().ok()?;
    let full = root.join(rel).canonicalize().ok()?;
    (full.starts_with(&root) && full.is_file()).then_some(full)
}

async fn serve(
    write: &mut WriteHalf<Stream>,
    share: Option<&Path>,
    requested: &str,
    link: &Link,
) -> anyhow::Result<()> {
    let found = share.and_then(|s| resolve(s, requested));
    let Some(path) = found else {
        write.write_all(&FetchResponse::NotFound.head()).await?;
        return Ok(());
    };
    let mut file = File::open(&path).await?;
    let len = file.metadata().await?.len();
    let mut sniff = vec![0; 4096];
    let n = file.read(&mut sniff).await?;
    let text = looks_like_text(&sniff[..n]);
    write.write_all(&FetchResponse::Found { text, len }.head()).await?;
    write.write_all(&sniff[..n]).await?;
    let label = format!("{requested} to {}", link.peer);
    let mut meter = Meter::new(&link.screen, To::Person(link.peer.clone()), label, len);
    meter.add(n as u64);
    let mut sent = n as u64;
    let mut chunk = vec![0; 64 * 1024];
    while sent < len {
        let want = chunk.len().min(usize::try_from(len - sent).unwrap_or(usize::MAX));
        let got = file.read(&mut chunk[..want]).await?;
        if got == 0 {
            break;
        }
        write.write_all(&chunk[..got]).await?;
        sent += got as u64;
        meter.add(got as u64);
    }
    if sent != len {
        bail!("{} changed while being sent", path.display());
    }
    Ok(())
}

/// Whether the first bytes of a file are UTF-8 text (a character cut at their end allowed).
fn looks_like_text(bytes: &[u8]) -> bool {
    match std::str::from_utf8(bytes) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

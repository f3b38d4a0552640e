//! `switchboard jpc`: a JPC client. It says HELLO with this machine's MAC address (or
//! `--mac`), prints every TELL with its sender, saves images into `--downloads`, sends
//! `@name text` and `/image name FILE`, keeps heartbeats going, and when the server goes away
//! (closed, CLOSE, ERROR, or 5 s of silence) reconnects by itself with back-off. On a
//! terminal, the full-screen UI shows images inline (`--images`); in line mode, every event
//! is one line on stdout.

use crate::clients::connect::{Connect, Stream};
use crate::ui::{self, Input, Screen, To};
use anyhow::Context;
use base64::Engine;
use bytes::BytesMut;
use proto::jpc::{error_meaning, Codec, Item, Message, IMAGE, TEXT};
use std::path::{Path, PathBuf};
use std::time::Duration;
use store::{format_mac, parse_mac};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct JpcArgs {
    /// The hub's (or any JPC server's) address.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// This device's MAC address, `aa:bb:cc:dd:ee:ff` or an integer [default: this machine's].
    #[arg(long)]
    mac: Option<String>,
    /// Where received images are saved.
    #[arg(long, value_name = "DIR", default_value = ".")]
    downloads: PathBuf,
    /// How images are drawn on the full screen (they are saved in every case).
    #[arg(long, value_enum, default_value_t = ui::Images::Auto)]
    images: ui::Images,
    #[command(flatten)]
    connect: Connect,
    #[command(flatten)]
    ui: ui::UiArgs,
}

const COMMANDS: &[ui::Command] = &[
    ui::Command { name: "/image", args: "name FILE", what: "send an image to name" },
    ui::Command { name: "/quit", args: "", what: "say CLOSE and leave" },
];

/// Heartbeats go out this often; a server silent for `SILENCE` is taken as gone.
const BEAT: Duration = Duration::from_secs(2);
const SILENCE: Duration = Duration::from_secs(5);
/// Reconnection back-off: from the first to the last, doubling.
const BACKOFF: (Duration, Duration) = (Duration::from_millis(250), Duration::from_secs(8));

/// This machine's MAC address, as Python's `uuid.getnode()` finds it: the first interface with
/// a real one.
fn this_machine() -> Option<u64> {
    let mut names: Vec<_> = std::fs::read_dir("/sys/class/net").ok()?.flatten().map(|e| e.path()).collect();
    names.sort();
    names
        .iter()
        .filter_map(|dir| std::fs::read_to_string(dir.join("address")).ok())
        .filter_map(|text| parse_mac(&text))
        .find(|&mac| mac != 0)
}

pub async fn run(args: JpcArgs) -> anyhow::Result<()> {
    let mac = match &args.mac {
        Some(text) => parse_mac(text).with_context(|| format!("{text:?} is not a MAC address"))?,
        None => this_machine().context("no MAC address found on this machine: give one with --mac")?,
    };
    std::fs::create_dir_all(&args.downloads)?;
    // JPC has no lobby: text typed in the main buffer is no message.
    let cfg = ui::Config { main_talks: false, ..ui::Config::new("jpc", "jpc", format_mac(mac), COMMANDS).at_private() };
    let (screen, mut lines) = Screen::start(cfg, &args.ui, args.images);
    let mut backoff = BACKOFF.0;
    loop {
        match args.connect.connect(&args.addr).await {
            Ok((stream, _)) => {
                screen.status("[jpc]", format!("connected to {} as {}", args.addr, format_mac(mac)));
                match session(stream, mac, &args.downloads, &mut lines, &screen).await {
                    Ok(End::Quit) => {
                        screen.close().await;
                        return Ok(());
                    }
                    Ok(End::Lost(why)) => screen.status("[jpc]", format!("disconnected: {why}")),
                    Err(e) => screen.status("[jpc]", format!("disconnected: {e:#}")),
                }
                backoff = BACKOFF.0;
            }
            Err(e) => screen.status("[jpc]", format!("cannot connect to {}: {e:#}; again in {backoff:?}", args.addr)),
        }
        if !screen.pause(backoff, &mut lines).await {
            screen.close().await;
            return Ok(());
        }
        backoff = (backoff * 2).min(BACKOFF.1);
    }
}

enum End {
    Quit,
    Lost(&'static str),
}

async fn session(
    stream: Stream,
    mac: u64,
    downloads: &Path,
    lines: &mut mpsc::Receiver<Input>,
    screen: &Screen,
) -> anyhow::Result<End> {
    let (mut read, mut write) = tokio::io::split(stream);
    write.write_all(&Message::Hello { mac }.to_bytes()).await?;
    let (mut codec, mut buf) = (Codec::default(), BytesMut::new());
    let mut beat = tokio::time::interval(BEAT);
    let mut images = 0;
    loop {
        tokio::select! {
            _ = beat.tick() => write.write_all(&Message::Heartbeat { id: mac }.to_bytes()).await?,
            line = lines.recv() => {
                let line = match line {
                    Some(Input::Line(line)) => line,
                    Some(Input::Typing(_)) => continue,
                    None => return Ok(End::Quit),
                };
                if let Some(message) = command(line.trim(), screen) {
                    if message == Message::Close {
                        let _ = write.write_all(&message.to_bytes()).await;
                        return Ok(End::Quit);
                    }
                    write.write_all(&message.to_bytes()).await?;
                }
            }
            read = tokio::time::timeout(SILENCE, read.read_buf(&mut buf)) => {
                match read {
                    Err(_) => {
                        let _ = write.write_all(&Message::Close.to_bytes()).await;
                        return Ok(End::Lost("the server went silent"));
                    }
                    Ok(Ok(0)) => return Ok(End::Lost("the server closed the connection")),
                    Ok(Err(e)) => return Err(e.into()),
                    Ok(Ok(_)) => {}
                }
                while let Some(item) = codec.decode(&mut buf) {
                    match item {
                        Item::Message(Message::Tell { sender, kind: IMAGE, message, .. }) => {
                            images += 1;
                            save_image(downloads, &sender, images, &message, screen);
                        }
                        Item::Message(Message::Tell { sender, message, .. }) => {
                            let plain = format!("[tell] {sender}: {message}");
                            screen.chat(To::Person(sender.clone()), &sender, &message, plain);
                        }
                        Item::Message(Message::Close) => return Ok(End::Lost("the server said CLOSE")),
                        Item::Message(Message::Error { code }) => screen.error(To::Active, error_meaning(code).into()),
                        Item::Message(_) | Item::Dropped(_) | Item::Malformed(_) => {}
                    }
                }
            }
        }
    }
}

/// What a typed line asks to send; `Close` for `/quit`.
fn command(line: &str, screen: &Screen) -> Option<Message> {
    if line == "/quit" {
        return Some(Message::Close);
    }
    if let Some(rest) = line.strip_prefix("/image ") {
        let (to, path) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        return match std::fs::read(path.trim()) {
            Ok(bytes) => {
                let message = base64::engine::general_purpose::STANDARD.encode(bytes);
                Some(Message::Send { recipient: to.into(), kind: IMAGE, message })
            }
            Err(e) => {
                screen.error(To::Active, format!("reading {path:?}: {e} (write /image name FILE)"));
                None
            }
        };
    }
    match line.strip_prefix('@').and_then(|rest| rest.split_once(' ')) {
        Some((to, text)) => Some(Message::Send { recipient: to.into(), kind: TEXT, message: text.trim().into() }),
        None if line.is_empty() => None,
        None => {
            screen.error(To::Active, "write @name text, /image name FILE, or /quit".into());
            None
        }
    }
}

/// Saves a received image, named after its sender and the kind of image its bytes say it is.
fn save_image(downloads: &Path, sender: &str, n: usize, base64_text: &str, screen: &Screen) {
    let to = To::Person(sender.into());
    let bytes = match base64::engine::general_purpose::STANDARD.decode(base64_text.trim()) {
        Ok(bytes) => bytes,
        Err(e) => return screen.error(to, format!("an image from {sender} that is not base64: {e}")),
    };
    let ext = match bytes.as_slice() {
        [0x89, b'P', b'N', b'G', ..] => "png",
        [0xFF, 0xD8, 0xFF, ..] => "jpg",
        [b'G', b'I', b'F', b'8', ..] => "gif",
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => "webp",
        _ => "bin",
    };
    let safe: String = sender.chars().filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_').take(64).collect();
    match crate::clients::chathack_direct::save(downloads, &format!("image-{safe}-{n}.{ext}"), &bytes) {
        Ok(path) => {
            let plain = format!("[image] {sender}: saved as {} ({} bytes)", path.display(), bytes.len());
            screen.image(to, sender, &path, bytes, plain);
        }
        Err(e) => screen.error(to, format!("saving an image from {sender}: {e}")),
    }
}

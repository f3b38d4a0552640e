//! `switchboard chatos`: a ChatOS client for a person at a terminal or a script. Plain lines go
//! to the lobby, `@name text` is private, `/connect`, `/accept`, `/refuse` manage private
//! connections and `/get` fetches a file over one. On a terminal, the full-screen UI (a buffer
//! per person); in line mode, every event prints as one line on stdout.

use crate::clients::chatos_link::{self, LinkCmd, LinkEvent};
use crate::clients::connect::{Connect, Stream};
use crate::ui::{self, Input, Screen, To};
use anyhow::{bail, Context};
use bytes::BytesMut;
use hub::fold;
use proto::chatos::{Codec, ErrorCode, LinkKey, Packet};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::io::WriteHalf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct ChatosArgs {
    /// The hub's (or any ChatOS server's) address.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// The pseudonym to connect as.
    #[arg(long)]
    pseudo: String,
    /// A folder whose files peers may fetch over a private connection (`/get`).
    #[arg(long, value_name = "DIR")]
    share: Option<PathBuf>,
    #[command(flatten)]
    connect: Connect,
    #[command(flatten)]
    ui: ui::UiArgs,
}

const COMMANDS: &[ui::Command] = &[
    ui::Command { name: "/connect", args: "name", what: "ask name for a private connection (to fetch files)" },
    ui::Command { name: "/accept", args: "name", what: "accept name's private connection" },
    ui::Command { name: "/refuse", args: "name", what: "refuse name's private connection" },
    ui::Command { name: "/get", args: "name remote-path [local-path]", what: "fetch a file name shares" },
    ui::Command { name: "/quit", args: "", what: "leave" },
];

const HELP: &str = "text: to everyone | @name text: private | /connect name | /accept name | /refuse name | \
/get name remote-path [local-path] | /quit";

/// Reads packets off a ChatOS stream.
pub(crate) struct PacketReader<R> {
    inner: R,
    buf: BytesMut,
    codec: Codec,
}

impl<R: AsyncReadExt + Unpin> PacketReader<R> {
    pub fn new(inner: R) -> Self {
        PacketReader { inner, buf: BytesMut::new(), codec: Codec::default() }
    }

    /// The next packet, or `None` at the end of the stream.
    pub async fn next(&mut self) -> anyhow::Result<Option<Packet>> {
        loop {
            if let Some(p) = self.codec.decode(&mut self.buf)? {
                return Ok(Some(p));
            }
            if self.inner.read_buf(&mut self.buf).await? == 0 {
                return Ok(None);
            }
        }
    }

    /// The stream and the bytes read past the last packet.
    pub fn into_parts(self) -> (R, BytesMut) {
        (self.inner, self.buf)
    }
}

fn meaning(code: i8) -> String {
    ErrorCode::from_i8(code).map_or_else(|| format!("error code {code}"), |c| c.meaning().to_owned())
}

/// A request from the main loop's point of view: the other party's name and the password.
struct Pending {
    name: String,
    password: i16,
}

struct Client {
    me: String,
    addr: String,
    /// How private connections reach the server: as the chat connection does.
    connect: Connect,
    share: Option<PathBuf>,
    chat: WriteHalf<Stream>,
    /// Requests others made to us, by folded asker.
    asked_by: HashMap<String, Pending>,
    /// Requests we made, by folded recipient.
    asking: HashMap<String, Pending>,
    /// Open private connections, by folded peer.
    links: HashMap<String, mpsc::Sender<LinkCmd>>,
    events: mpsc::Sender<LinkEvent>,
    screen: Screen,
}

pub async fn run(args: ChatosArgs) -> anyhow::Result<()> {
    let cfg = ui::Config::new("chatos", "lobby", args.pseudo.clone(), COMMANDS).at_private();
    let (screen, mut lines) = Screen::start(cfg, &args.ui, ui::Images::Off);
    let (stream, _) = args.connect.connect(&args.addr).await?;
    let (read, mut write) = tokio::io::split(stream);
    let mut reader = PacketReader::new(read);
    write.write_all(&Packet::Cr { pseudo: args.pseudo.clone() }.to_bytes()).await?;
    match reader.next().await? {
        Some(Packet::Error(1)) => screen.status("", format!("connected as {}", args.pseudo)),
        Some(Packet::Error(code)) => {
            screen.error(To::Main, meaning(code));
            screen.linger(&mut lines).await;
            bail!("{}", meaning(code));
        }
        other => bail!("unexpected answer to the connection request: {other:?}"),
    }

    let (packets_tx, mut packets) = mpsc::channel(64);
    let said = screen.clone();
    tokio::spawn(async move {
        loop {
            match reader.next().await {
                Ok(Some(p)) => {
                    if packets_tx.send(p).await.is_err() {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    said.error(To::Main, e.to_string());
                    break;
                }
            }
        }
    });
    let (events, mut link_events) = mpsc::channel(16);
    let mut client = Client {
        me: args.pseudo,
        addr: args.addr,
        connect: args.connect,
        share: args.share,
        chat: write,
        asked_by: HashMap::new(),
        asking: HashMap::new(),
        links: HashMap::new(),
        events,
        screen: screen.clone(),
    };
    loop {
        tokio::select! {
            line = lines.recv() => match line {
                Some(Input::Line(line)) => {
                    if !client.on_line(line.trim()).await? {
                        break;
                    }
                }
                Some(Input::Typing(_)) => {}
                None => break,
            },
            packet = packets.recv() => match packet {
                Some(p) => client.on_packet(p).await?,
                None => {
                    screen.note(To::Main, "", "disconnected by the server".into());
                    screen.linger(&mut lines).await;
                    break;
                }
            },
            Some(event) = link_events.recv() => client.on_link_event(event),
        }
    }
    screen.close().await;
    Ok(())
}

impl Client {
    async fn send(&mut self, packet: Packet) -> anyhow::Result<()> {
        self.chat.write_all(&packet.to_bytes()).await.context("writing to the server")
    }

    /// Acts on one line typed; `false` to quit.
    async fn on_line(&mut self, line: &str) -> anyhow::Result<bool> {
        let me = self.me.clone();
        if line.is_empty() {
            return Ok(true);
        }
        if let Some(rest) = line.strip_prefix('@') {
            let Some((to, text)) = rest.split_once(' ') else {
                self.screen.error(To::Active, "write @name text".into());
                return Ok(true);
            };
            self.send(Packet::Spm { sender: me, recipient: to.into(), message: text.trim().into() }).await?;
            return Ok(true);
        }
        if !line.starts_with('/') {
            self.send(Packet::Sma { sender: me, message: line.into() }).await?;
            return Ok(true);
        }
        let mut words = line.split_whitespace();
        let command = words.next().unwrap_or_default();
        let name = words.next();
        match (command, name) {
            ("/quit", _) => return Ok(false),
            ("/help", _) => self.screen.note(To::Active, "", HELP.into()),
            ("/connect", Some(b)) => {
                let password = rand::random::<i16>();
                self.asking.insert(fold(b), Pending { name: b.into(), password });
                self.send(Packet::TcpAsk(LinkKey { sender: me, recipient: b.into(), password })).await?;
            }
            ("/accept", Some(a)) => match self.asked_by.remove(&fold(a)) {
                Some(p) => {
                    let key = LinkKey { sender: p.name.clone(), recipient: me, password: p.password };
                    self.open_link(Packet::TcpAccept(key), p.name);
                }
                None => self.screen.error(To::Active, format!("{a} has not asked for a private connection")),
            },
            ("/refuse", Some(a)) => match self.asked_by.remove(&fold(a)) {
                Some(p) => {
                    self.send(Packet::TcpAbort(LinkKey { sender: p.name, recipient: me, password: p.password })).await?
                }
                None => self.screen.error(To::Active, format!("{a} has not asked for a private connection")),
            },
            ("/get", Some(peer)) => {
                let Some(remote) = words.next() else {
                    self.screen.error(To::Active, "write /get name remote-path [local-path]".into());
                    return Ok(true);
                };
                let local = words.next().map(PathBuf::from);
                match self.links.get(&fold(peer)) {
                    Some(link) => {
                        let _ = link.send(LinkCmd::Get { remote: remote.into(), local }).await;
                    }
                    None => self
                        .screen
                        .error(To::Active, format!("no private connection with {peer} (/connect {peer} first)")),
                }
            }
            _ => self.screen.error(To::Active, format!("unknown command {line} ({HELP})")),
        }
        Ok(true)
    }

    async fn on_packet(&mut self, packet: Packet) -> anyhow::Result<()> {
        match packet {
            Packet::Sma { sender, message } => {
                let plain = format!("[lobby] {sender}: {message}");
                self.screen.chat(To::Main, &sender, &message, plain);
            }
            Packet::Spm { sender, message, .. } => {
                let plain = format!("[private] {sender}: {message}");
                self.screen.chat(To::Person(sender.clone()), &sender, &message, plain);
            }
            Packet::TcpAsk(k) => {
                let ask = format!("{0} asks for a private connection: /accept {0} or /refuse {0}", k.sender);
                self.screen.note(To::Person(k.sender.clone()), "[link]", ask);
                self.asked_by.insert(fold(&k.sender), Pending { name: k.sender, password: k.password });
            }
            Packet::TcpAccept(k) => {
                let ours = self.asking.get(&fold(&k.recipient)).is_some_and(|p| p.password == k.password);
                if ours {
                    self.asking.remove(&fold(&k.recipient));
                    let peer = k.recipient.clone();
                    self.open_link(Packet::TcpConnect(k), peer);
                }
            }
            Packet::TcpAbort(k) => {
                let other = if fold(&k.sender) == fold(&self.me) { k.recipient } else { k.sender };
                self.asking.remove(&fold(&other));
                self.asked_by.remove(&fold(&other));
                let text = format!("no private connection with {other}: refused or cancelled");
                self.screen.note(To::Person(other), "[link]", text);
            }
            Packet::Error(1) | Packet::Cr { .. } | Packet::TcpConnect(_) => {}
            Packet::Error(code) => self.screen.error(To::Active, meaning(code)),
        }
        Ok(())
    }

    /// Opens the new connection of a private link in the background and sends `first` on it.
    fn open_link(&self, first: Packet, peer: String) {
        let (addr, share, events) = (self.addr.clone(), self.share.clone(), self.events.clone());
        let (connect, screen) = (self.connect.clone(), self.screen.clone());
        tokio::spawn(async move {
            let opened = async {
                let (stream, _) = connect.connect(&addr).await?;
                let mut reader = PacketReader::new(stream);
                reader.inner.write_all(&first.to_bytes()).await?;
                match reader.next().await? {
                    Some(Packet::Error(1)) => Ok(reader.into_parts()),
                    Some(Packet::Error(code)) => bail!("{}", meaning(code)),
                    other => bail!("unexpected answer {other:?}"),
                }
            };
            match opened.await {
                Ok((stream, leftover)) => chatos_link::spawn(stream, leftover, peer, share, events, screen),
                Err(e) => screen.error(To::Person(peer.clone()), format!("private connection with {peer} failed: {e}")),
            }
        });
    }

    fn on_link_event(&mut self, event: LinkEvent) {
        match event {
            LinkEvent::Open { peer, cmds } => {
                // Announced only once registered, so a /get typed after the line finds it.
                self.screen.note(To::Person(peer.clone()), "[link]", format!("private connection with {peer} open"));
                self.links.insert(fold(&peer), cmds);
            }
            LinkEvent::Closed { peer } => {
                self.links.remove(&fold(&peer));
                self.screen.note(To::Person(peer.clone()), "[link]", format!("private connection with {peer} closed"));
            }
        }
    }
}

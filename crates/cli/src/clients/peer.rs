//! `switchboard peer`: a full PeerChat peer, no server. It listens on `--port`; with
//! `--join` it connects to that peer, joins, asks `who`, then connects to and joins every peer
//! listed. It answers `join` with `join-reply` and `who` with the peers it is connected to
//! (less the asker). A line typed goes to every connected peer; `/who` lists the mesh; `/quit`
//! (or the end of input) sends `leave` to all. A peer that leaves, or whose connection breaks,
//! is dropped. On a terminal, the full-screen UI (the mesh's peers listed on the right); in
//! line mode, every event is one line on stdout, for scripts:
//! `[join] NAME IP:PORT`, `[leave] NAME`, `[gone] NAME`, `<NAME> text`, `[who] ...`.

use crate::ui::{self, Input, Screen, To};
use anyhow::Context;
use bytes::BytesMut;
use proto::peerchat::{Codec, Info, Item, Message, PeerAddr, DEFAULT_AGE, DEFAULT_ZIP};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

#[derive(clap::Args)]
pub struct PeerArgs {
    /// The port this peer listens on (and announces).
    #[arg(long)]
    port: u16,
    /// This peer's name.
    #[arg(long)]
    name: String,
    #[arg(long, default_value_t = DEFAULT_AGE)]
    age: u32,
    #[arg(long, default_value = DEFAULT_ZIP)]
    zip: String,
    /// A peer of the mesh to join through.
    #[arg(long, value_name = "HOST:PORT")]
    join: Option<String>,
    /// The address to listen on.
    #[arg(long, value_name = "IP", default_value = "0.0.0.0")]
    bind: IpAddr,
    #[command(flatten)]
    ui: ui::UiArgs,
}

const COMMANDS: &[ui::Command] = &[
    ui::Command { name: "/who", args: "", what: "list the peers of the mesh" },
    ui::Command { name: "/quit", args: "", what: "say leave to every peer and stop" },
];

/// Lines waiting for a slow peer before it is dropped.
const BACKLOG: usize = 1024;

enum Ev {
    /// A connection, accepted or made; `ask_who` for the one made by `--join`.
    Open {
        stream: TcpStream,
        addr: SocketAddr,
        outgoing: bool,
        ask_who: bool,
    },
    Item(u64, Item),
    Closed(u64),
    Typed(Option<String>),
}

struct Peer {
    /// The other end of the socket.
    addr: SocketAddr,
    /// What it said in its join or join-reply.
    info: Option<Info>,
    ask_who: bool,
    tx: mpsc::Sender<Vec<u8>>,
    reader: JoinHandle<()>,
}

impl Peer {
    fn name(&self) -> String {
        self.info.as_ref().map_or_else(|| self.addr.to_string(), |i| i.name.clone())
    }

    /// Where it listens: the socket's address with its announced port.
    fn listens(&self) -> Option<(IpAddr, u16)> {
        Some((self.addr.ip().to_canonical(), self.info.as_ref()?.port))
    }
}

pub async fn run(args: PeerArgs) -> anyhow::Result<()> {
    let listener =
        TcpListener::bind((args.bind, args.port)).await.with_context(|| format!("listening on port {}", args.port))?;
    let me = Info { name: args.name, age: args.age, zip: args.zip, port: args.port };
    let (tx, mut rx) = mpsc::channel::<Ev>(256);
    let accepting = tx.clone();
    tokio::spawn(async move {
        while let Ok((stream, addr)) = listener.accept().await {
            if accepting.send(Ev::Open { stream, addr, outgoing: false, ask_who: false }).await.is_err() {
                break;
            }
        }
    });
    let cfg = ui::Config::new("peer", "mesh", me.name.clone(), COMMANDS);
    let (screen, mut lines) = Screen::start(cfg, &args.ui, ui::Images::Off);
    let typing = tx.clone();
    tokio::spawn(async move {
        while let Some(said) = lines.recv().await {
            if let Input::Line(line) = said {
                if typing.send(Ev::Typed(Some(line))).await.is_err() {
                    return;
                }
            }
        }
        let _ = typing.send(Ev::Typed(None)).await;
    });
    screen.status("[peer]", format!("{} listening on port {}", me.name, me.port));
    if let Some(target) = &args.join {
        let stream = TcpStream::connect(target).await.with_context(|| format!("joining {target}"))?;
        let addr = stream.peer_addr()?;
        tx.send(Ev::Open { stream, addr, outgoing: true, ask_who: true }).await?;
    }
    let mut node = Node { me, peers: HashMap::new(), next: 0, events: tx, screen: screen.clone() };
    while let Some(ev) = rx.recv().await {
        if !node.on(ev).await {
            break;
        }
    }
    screen.close().await;
    Ok(())
}

struct Node {
    me: Info,
    peers: HashMap<u64, Peer>,
    next: u64,
    events: mpsc::Sender<Ev>,
    screen: Screen,
}

impl Node {
    /// Handles one event; `false` to stop.
    async fn on(&mut self, ev: Ev) -> bool {
        match ev {
            Ev::Open { stream, addr, outgoing, ask_who } => self.open(stream, addr, outgoing, ask_who),
            Ev::Item(id, Item::Message(m)) => self.message(id, m),
            Ev::Item(id, Item::Ignored(why)) => {
                tracing::debug!(peer = id, why, "ignored a line");
            }
            Ev::Closed(id) => {
                if let Some(p) = self.peers.remove(&id) {
                    self.gone(&p.name(), "[gone]", p.name());
                }
            }
            Ev::Typed(Some(line)) => return self.typed(line.trim_end()).await,
            Ev::Typed(None) => {
                self.leave().await;
                return false;
            }
        }
        true
    }

    fn open(&mut self, stream: TcpStream, addr: SocketAddr, outgoing: bool, ask_who: bool) {
        let _ = stream.set_nodelay(true);
        self.next += 1;
        let id = self.next;
        let (mut read, mut write) = stream.into_split();
        let (tx, mut lines) = mpsc::channel::<Vec<u8>>(BACKLOG);
        tokio::spawn(async move {
            while let Some(line) = lines.recv().await {
                if write.write_all(&line).await.is_err() {
                    break;
                }
            }
        });
        let events = self.events.clone();
        let reader = tokio::spawn(async move {
            let (mut codec, mut buf) = (Codec::default(), BytesMut::new());
            loop {
                while let Some(item) = codec.decode(&mut buf) {
                    if events.send(Ev::Item(id, item)).await.is_err() {
                        return;
                    }
                }
                match read.read_buf(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
            let _ = events.send(Ev::Closed(id)).await;
        });
        if outgoing {
            let _ = tx.try_send(Message::Join(self.me.clone()).to_line());
        }
        self.peers.insert(id, Peer { addr, info: None, ask_who, tx, reader });
    }

    fn send(&mut self, id: u64, m: &Message) {
        let Some(p) = self.peers.get(&id) else { return };
        if p.tx.try_send(m.to_line()).is_err() {
            self.gone(&p.name(), "[gone]", format!("{} (too slow)", p.name()));
            self.drop_peer(id);
        }
    }

    fn drop_peer(&mut self, id: u64) {
        if let Some(p) = self.peers.remove(&id) {
            p.reader.abort();
        }
    }

    fn message(&mut self, id: u64, m: Message) {
        let Some(peer) = self.peers.get_mut(&id) else { return };
        match m {
            Message::Join(info) => {
                self.screen.joined(&info, peer.addr);
                peer.info = Some(info);
                let reply = Message::JoinReply(self.me.clone());
                self.send(id, &reply);
            }
            Message::JoinReply(info) => {
                self.screen.joined(&info, peer.addr);
                peer.info = Some(info);
                if std::mem::take(&mut peer.ask_who) {
                    self.send(id, &Message::Who);
                }
            }
            Message::Who => {
                let peers = self
                    .peers
                    .iter()
                    .filter(|(&other, _)| other != id)
                    .filter_map(|(_, p)| p.listens())
                    .map(|(ip, port)| PeerAddr { ip: ip.to_string(), port })
                    .collect();
                self.send(id, &Message::WhoReply(peers));
            }
            Message::WhoReply(list) => {
                for PeerAddr { ip, port } in list {
                    let Ok(ip) = ip.parse::<IpAddr>() else { continue };
                    self.connect_to(SocketAddr::new(ip.to_canonical(), port));
                }
            }
            Message::Leave => {
                let name = peer.name();
                self.gone(&name, "[leave]", name.clone());
                self.drop_peer(id);
            }
            Message::Message(text) => {
                let name = peer.name();
                self.screen.chat(To::Main, &name, &text, format!("<{name}> {text}"));
            }
        }
    }

    /// Connects to a peer a who-reply listed, unless it is this peer or one already known.
    fn connect_to(&self, target: SocketAddr) {
        let ip = target.ip();
        let is_me = target.port() == self.me.port && (ip.is_loopback() || ip.is_unspecified());
        let known = self.peers.values().any(|p| p.listens() == Some((ip, target.port())) || p.addr == target);
        if is_me || known {
            return;
        }
        let (events, screen) = (self.events.clone(), self.screen.clone());
        tokio::spawn(async move {
            match TcpStream::connect(target).await {
                Ok(stream) => {
                    let _ = events.send(Ev::Open { stream, addr: target, outgoing: true, ask_who: false }).await;
                }
                Err(e) => screen.note(To::Main, "[error]", format!("cannot reach {target}: {e}")),
            }
        });
    }

    async fn typed(&mut self, line: &str) -> bool {
        match line {
            "" => {}
            "/quit" => {
                self.leave().await;
                return false;
            }
            "/who" => {
                let mut peers: Vec<&Peer> = self.peers.values().filter(|p| p.info.is_some()).collect();
                peers.sort_by_key(|p| p.name());
                for p in &peers {
                    let (ip, port) = p.listens().expect("joined");
                    self.screen.note(To::Active, "[who]", format!("{} {ip}:{port}", p.name()));
                }
                self.screen.note(To::Active, "[who]", format!("{} peers", peers.len()));
            }
            text => {
                let m = Message::Message(text.to_owned());
                let ids: Vec<u64> = self.peers.iter().filter(|(_, p)| p.info.is_some()).map(|(&id, _)| id).collect();
                for id in ids {
                    self.send(id, &m);
                }
            }
        }
        true
    }

    /// Says `leave` to everyone, and waits (briefly) for it to be written.
    async fn leave(&mut self) {
        let line = Message::Leave.to_line();
        for (_, p) in self.peers.drain() {
            let _ = p.tx.send(line.clone()).await;
            p.reader.abort();
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        self.screen.status("[peer]", "left the mesh".into());
    }

    /// `name` left or broke off: `{tag} {text}`.
    fn gone(&self, name: &str, tag: &str, text: String) {
        self.screen.note(To::Main, tag, text);
        self.screen.person(name, false, None);
    }
}

impl Screen {
    /// A peer joined (or answered our join), listening at the socket's address and its port.
    fn joined(&self, info: &Info, addr: SocketAddr) {
        let at = format!("{}:{}", addr.ip().to_canonical(), info.port);
        self.note(To::Main, "[join]", format!("{} {at}", info.name));
        self.person(&info.name, true, Some(at));
    }
}

//! `switchboard chathack`: a ChatHack client for a person at a terminal or a script. Plain
//! lines go to everyone; `/private`, `/accept`, `/deny` set up a DIRECT connection with another
//! client (the server only brokers it), over which `/msg` and `/send` go. Every event prints
//! as one line on stdout.

use crate::chathack_direct::{self, Direct, DirectEvent};
use crate::connect::{Connect, Stream};
use anyhow::{bail, Context};
use bytes::BytesMut;
use hub::fold;
use proto::chathack::{ack_meaning, ClientPacket, Codec, Decoded, ServerPacket};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::io::WriteHalf;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

#[derive(clap::Args)]
pub struct ChathackArgs {
    /// The hub's (or any ChatHack server's) address.
    #[arg(long, value_name = "HOST:PORT")]
    addr: String,
    /// The login to connect as.
    #[arg(long)]
    login: String,
    /// Log in with the password read from the first line of stdin (else as a guest).
    #[arg(long)]
    password_stdin: bool,
    /// Where files received over direct connections are saved.
    #[arg(long, value_name = "DIR", default_value = ".")]
    downloads: PathBuf,
    /// Longest message or file, in bytes (the original's limit is 1024).
    #[arg(long, default_value_t = proto::chathack::DEFAULT_MAX)]
    max: usize,
    #[command(flatten)]
    connect: Connect,
}

const HELP: &str = "text: to everyone | /private name | /accept name | /deny name | /msg name text | \
/send name file | /quit";

struct Client {
    me: String,
    server: WriteHalf<Stream>,
    /// Where peers reach our listener: the address of the interface that reaches the server.
    listen: std::net::SocketAddr,
    max: usize,
    downloads: PathBuf,
    /// Who asked us, by folded login.
    asked_by: HashMap<String, String>,
    /// Ids we gave in our accepts, by folded login of the one who may connect.
    expected: HashMap<String, i64>,
    /// Open direct connections, by folded peer login.
    directs: HashMap<String, Direct>,
    events: mpsc::Sender<DirectEvent>,
}

pub async fn run(args: ChathackArgs) -> anyhow::Result<()> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    let login = match args.password_stdin {
        true => {
            let password = stdin.next_line().await?.context("no password on stdin")?;
            ClientPacket::LoginWithPassword { login: args.login.clone(), password }
        }
        false => ClientPacket::Login { login: args.login.clone() },
    };
    let (stream, local) = args.connect.connect(&args.addr).await?;
    let local_ip = local.ip();
    let (mut read, mut server) = tokio::io::split(stream);
    server.write_all(&login.to_bytes()).await?;
    let (mut codec, mut buf) = (Codec::new(args.max), BytesMut::new());
    let answer = loop {
        if let Some(d) = codec.decode_server(&mut buf)? {
            break d;
        }
        if read.read_buf(&mut buf).await? == 0 {
            bail!("the server closed the connection");
        }
    };
    match answer {
        Decoded::Packet(ServerPacket::Ack(3)) => println!("connected as {}", args.login),
        Decoded::Packet(ServerPacket::Ack(code)) => {
            println!("error: {}", ack_meaning(code));
            bail!("{}", ack_meaning(code));
        }
        other => bail!("unexpected answer to the login: {other:?}"),
    }

    // Peers connect here: on the interface that reaches the server, any free port.
    let listener = TcpListener::bind((local_ip, 0)).await?;
    let listen = listener.local_addr()?;
    let (events, mut direct_events) = mpsc::channel(64);
    tokio::spawn(chathack_direct::accept(listener, args.max, events.clone()));
    let (packets_tx, mut packets) = mpsc::channel(64);
    tokio::spawn(async move {
        loop {
            match codec.decode_server(&mut buf) {
                Ok(Some(d)) => {
                    if packets_tx.send(d).await.is_err() {
                        return;
                    }
                    continue;
                }
                Ok(None) => {}
                Err(e) => {
                    println!("error: the server sent a bad packet: {e}");
                    return;
                }
            }
            match read.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    });
    std::fs::create_dir_all(&args.downloads)?;
    let mut client = Client {
        me: args.login,
        server,
        listen,
        max: args.max,
        downloads: args.downloads,
        asked_by: HashMap::new(),
        expected: HashMap::new(),
        directs: HashMap::new(),
        events,
    };
    let mut server_open = true;
    loop {
        tokio::select! {
            line = stdin.next_line() => match line? {
                Some(line) => {
                    if !client.on_line(line.trim()).await? {
                        break;
                    }
                }
                None => break,
            },
            packet = packets.recv(), if server_open => match packet {
                Some(p) => client.on_packet(p).await,
                None => {
                    // Direct connections live on without the server.
                    println!("disconnected from the server");
                    server_open = false;
                }
            },
            Some(event) = direct_events.recv() => client.on_direct(event).await,
        }
    }
    Ok(())
}

impl Client {
    async fn send(&mut self, packet: ClientPacket) -> anyhow::Result<()> {
        self.server.write_all(&packet.to_bytes()).await.context("writing to the server")
    }

    /// Acts on one line typed; `false` to quit.
    async fn on_line(&mut self, line: &str) -> anyhow::Result<bool> {
        if line.is_empty() {
            return Ok(true);
        }
        let me = self.me.clone();
        if !line.starts_with('/') {
            if line.len() > self.max {
                println!("error: message too long ({} bytes, limit {})", line.len(), self.max);
            } else {
                self.send(ClientPacket::Global { login: me, message: line.into() }).await?;
            }
            return Ok(true);
        }
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (name, rest) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        match (command, name) {
            ("/quit", _) => return Ok(false),
            ("/help", _) => println!("{HELP}"),
            ("/private", b) if !b.is_empty() => self.send(ClientPacket::Ask { sender: me, receiver: b.into() }).await?,
            ("/accept", a) if !a.is_empty() => match self.asked_by.remove(&fold(a)) {
                Some(a) => {
                    let id = rand::random::<i64>();
                    self.expected.insert(fold(&a), id);
                    let (port, address) = (i32::from(self.listen.port()), self.listen.ip());
                    self.send(ClientPacket::Accept { sender: me, receiver: a, port, address, id }).await?;
                }
                None => println!("error: {a} has not asked for a private connection"),
            },
            ("/deny", a) if !a.is_empty() => match self.asked_by.remove(&fold(a)) {
                Some(a) => self.send(ClientPacket::Deny { sender: me, receiver: a }).await?,
                None => println!("error: {a} has not asked for a private connection"),
            },
            ("/msg", peer) if !peer.is_empty() && !rest.is_empty() => {
                if rest.len() > self.max {
                    println!("error: message too long ({} bytes, limit {})", rest.len(), self.max);
                } else {
                    let msg = proto::chathack::DirectPacket::Message { login: me, message: rest.into() };
                    self.send_direct(peer, msg).await;
                }
            }
            ("/send", peer) if !peer.is_empty() && !rest.is_empty() => self.send_file(peer, rest).await,
            _ => println!("error: unknown command {line} ({HELP})"),
        }
        Ok(true)
    }

    async fn send_direct(&mut self, peer: &str, packet: proto::chathack::DirectPacket) {
        match self.directs.get_mut(&fold(peer)) {
            Some(direct) => {
                if let Err(e) = direct.send(&packet).await {
                    println!("error: writing to {peer}: {e}");
                }
            }
            None => println!("error: no private connection with {peer} (/private {peer} first)"),
        }
    }

    async fn send_file(&mut self, peer: &str, path: &str) {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(e) => return println!("error: reading {path}: {e}"),
        };
        if data.len() > self.max {
            return println!("error: {path} is too large ({} bytes, limit {})", data.len(), self.max);
        }
        let name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
        let len = data.len();
        let file =
            proto::chathack::DirectPacket::File { login: self.me.clone(), name: name.clone(), data: data.into() };
        self.send_direct(peer, file).await;
        if self.directs.contains_key(&fold(peer)) {
            println!("[file] sent {name} to {peer} ({len} bytes)");
        }
    }

    async fn on_packet(&mut self, decoded: Decoded<ServerPacket>) {
        let packet = match decoded {
            Decoded::Packet(p) => p,
            Decoded::Oversized { .. } => return println!("error: the server sent a message over the size limit"),
        };
        match packet {
            ServerPacket::Global { login, message } => println!("[all] {login}: {message}"),
            ServerPacket::Asked { login } => {
                println!("[private] {login} asks for a private connection: /accept {login} or /deny {login}");
                self.asked_by.insert(fold(&login), login);
            }
            ServerPacket::Accepted { login, port, address, id } => {
                let Ok(port) = u16::try_from(port) else {
                    return println!("error: {login} accepted with an invalid port {port}");
                };
                let me = self.me.clone();
                let (max, events) = (self.max, self.events.clone());
                tokio::spawn(chathack_direct::connect((address, port).into(), me, login, id, max, events));
            }
            ServerPacket::Denied { login } => println!("[private] {login} denied the private connection"),
            ServerPacket::Ack(code) => println!("error: {}", ack_meaning(code)),
        }
    }

    async fn on_direct(&mut self, event: DirectEvent) {
        match event {
            DirectEvent::Opening { peer, id, direct, verdict } => {
                // Someone connected to our listener: it must be one we accepted, with our id.
                let right = self.expected.get(&fold(&peer)) == Some(&id);
                let _ = verdict.send(right);
                if right {
                    self.expected.remove(&fold(&peer));
                    println!("[private] direct connection with {peer} open");
                    self.directs.insert(fold(&peer), direct);
                } else {
                    println!("error: refused a direct connection claiming to be {peer}: wrong login or id");
                }
            }
            DirectEvent::Open { peer, direct } => {
                println!("[private] direct connection with {peer} open");
                self.directs.insert(fold(&peer), direct);
            }
            DirectEvent::Message { peer, message } => println!("[msg] {peer}: {message}"),
            DirectEvent::File { peer, name, data } => match chathack_direct::save(&self.downloads, &name, &data) {
                Ok(path) => println!("[file] {peer} sent {name}: saved as {} ({} bytes)", path.display(), data.len()),
                Err(e) => println!("error: saving {name} from {peer}: {e}"),
            },
            DirectEvent::Refused { peer, why } => println!("error: direct connection with {peer}: {why}"),
            DirectEvent::Closed { peer } => {
                if self.directs.remove(&fold(&peer)).is_some() {
                    println!("[private] direct connection with {peer} closed");
                }
            }
        }
    }
}

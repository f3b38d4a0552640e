//! `switchboard chathack`: a ChatHack client for a person at a terminal or a script. Plain
//! lines go to everyone; `/private`, `/accept`, `/deny` set up a DIRECT connection with another
//! client (the server only brokers it), over which `/msg` and `/send` go. On a terminal, the
//! full-screen UI (a buffer per person, text typed there goes with `/msg`); in line mode,
//! every event prints as one line on stdout.

use crate::clients::chathack_direct::{self, Direct, DirectEvent};
use crate::clients::connect::{Connect, Stream};
use crate::ui::{self, Input, Meter, Screen, To};
use anyhow::{bail, Context};
use bytes::BytesMut;
use hub::fold;
use proto::chathack::{ack_meaning, ClientPacket, Codec, Decoded, ServerPacket};
use std::collections::HashMap;
use std::path::PathBuf;
use tokio::io::WriteHalf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
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
    #[command(flatten)]
    ui: ui::UiArgs,
}

const COMMANDS: &[ui::Command] = &[
    ui::Command { name: "/private", args: "name", what: "ask name for a direct connection" },
    ui::Command { name: "/accept", args: "name", what: "accept name's direct connection" },
    ui::Command { name: "/deny", args: "name", what: "deny name's direct connection" },
    ui::Command { name: "/msg", args: "name text", what: "send text over the direct connection with name" },
    ui::Command { name: "/send", args: "name file", what: "send a file over the direct connection with name" },
    ui::Command { name: "/quit", args: "", what: "leave" },
];

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
    screen: Screen,
}

pub async fn run(args: ChathackArgs) -> anyhow::Result<()> {
    // On a terminal the password is asked without echo before the full screen starts.
    let asked = match args.password_stdin && !args.ui.plain && std::io::IsTerminal::is_terminal(&std::io::stdin()) {
        true => Some(rpassword::prompt_password("password: ")?),
        false => None,
    };
    // Private text goes over the direct connection; the server echoes the lobby.
    let cfg = ui::Config {
        private: Some(|to, text| format!("/msg {to} {text}")),
        echoed: true,
        ..ui::Config::new("chathack", "lobby", args.login.clone(), COMMANDS)
    };
    let (screen, mut lines) = Screen::start(cfg, &args.ui, ui::Images::Off);
    let login = match (args.password_stdin, asked) {
        (true, Some(password)) => ClientPacket::LoginWithPassword { login: args.login.clone(), password },
        (true, None) => {
            let Some(Input::Line(password)) = lines.recv().await else { bail!("no password on stdin") };
            ClientPacket::LoginWithPassword { login: args.login.clone(), password }
        }
        (false, _) => ClientPacket::Login { login: args.login.clone() },
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
        Decoded::Packet(ServerPacket::Ack(3)) => screen.status("", format!("connected as {}", args.login)),
        Decoded::Packet(ServerPacket::Ack(code)) => {
            screen.error(To::Main, ack_meaning(code).into());
            screen.linger(&mut lines).await;
            bail!("{}", ack_meaning(code));
        }
        other => bail!("unexpected answer to the login: {other:?}"),
    }

    // Peers connect here: on the interface that reaches the server, any free port.
    let listener = TcpListener::bind((local_ip, 0)).await?;
    let listen = listener.local_addr()?;
    let (events, mut direct_events) = mpsc::channel(64);
    tokio::spawn(chathack_direct::accept(listener, args.max, events.clone(), screen.clone()));
    let (packets_tx, mut packets) = mpsc::channel(64);
    let said = screen.clone();
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
                    said.error(To::Main, format!("the server sent a bad packet: {e}"));
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
        screen: screen.clone(),
    };
    let mut server_open = true;
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
            packet = packets.recv(), if server_open => match packet {
                Some(p) => client.on_packet(p).await,
                None => {
                    // Direct connections live on without the server.
                    screen.note(To::Main, "", "disconnected from the server".into());
                    server_open = false;
                }
            },
            Some(event) = direct_events.recv() => client.on_direct(event).await,
        }
    }
    screen.close().await;
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
                self.screen.error(To::Active, format!("message too long ({} bytes, limit {})", line.len(), self.max));
            } else {
                self.send(ClientPacket::Global { login: me, message: line.into() }).await?;
            }
            return Ok(true);
        }
        let (command, rest) = line.split_once(' ').unwrap_or((line, ""));
        let (name, rest) = rest.trim().split_once(' ').unwrap_or((rest.trim(), ""));
        match (command, name) {
            ("/quit", _) => return Ok(false),
            ("/help", _) => self.screen.note(To::Active, "", HELP.into()),
            ("/private", b) if !b.is_empty() => self.send(ClientPacket::Ask { sender: me, receiver: b.into() }).await?,
            ("/accept", a) if !a.is_empty() => match self.asked_by.remove(&fold(a)) {
                Some(a) => {
                    let id = rand::random::<i64>();
                    self.expected.insert(fold(&a), id);
                    let (port, address) = (i32::from(self.listen.port()), self.listen.ip());
                    self.send(ClientPacket::Accept { sender: me, receiver: a, port, address, id }).await?;
                }
                None => self.screen.error(To::Active, format!("{a} has not asked for a private connection")),
            },
            ("/deny", a) if !a.is_empty() => match self.asked_by.remove(&fold(a)) {
                Some(a) => self.send(ClientPacket::Deny { sender: me, receiver: a }).await?,
                None => self.screen.error(To::Active, format!("{a} has not asked for a private connection")),
            },
            ("/msg", peer) if !peer.is_empty() && !rest.is_empty() => {
                if rest.len() > self.max {
                    self.screen
                        .error(To::Active, format!("message too long ({} bytes, limit {})", rest.len(), self.max));
                } else {
                    let msg = proto::chathack::DirectPacket::Message { login: me, message: rest.into() };
                    self.send_direct(peer, msg, None).await;
                }
            }
            ("/send", peer) if !peer.is_empty() && !rest.is_empty() => self.send_file(peer, rest).await,
            _ => self.screen.error(To::Active, format!("unknown command {line} ({HELP})")),
        }
        Ok(true)
    }

    async fn send_direct(&mut self, peer: &str, packet: proto::chathack::DirectPacket, meter: Option<Meter>) {
        match self.directs.get_mut(&fold(peer)) {
            Some(direct) => {
                if let Err(e) = direct.send(&packet, meter).await {
                    self.screen.error(To::Person(peer.into()), format!("writing to {peer}: {e}"));
                }
            }
            None => self.screen.error(To::Active, format!("no private connection with {peer} (/private {peer} first)")),
        }
    }

    async fn send_file(&mut self, peer: &str, path: &str) {
        let data = match std::fs::read(path) {
            Ok(data) => data,
            Err(e) => return self.screen.error(To::Active, format!("reading {path}: {e}")),
        };
        if data.len() > self.max {
            let text = format!("{path} is too large ({} bytes, limit {})", data.len(), self.max);
            return self.screen.error(To::Active, text);
        }
        let name = std::path::Path::new(path).file_name().and_then(|n| n.to_str()).unwrap_or("file").to_owned();
        let len = data.len();
        let file =
            proto::chathack::DirectPacket::File { login: self.me.clone(), name: name.clone(), data: data.into() };
        let meter = (!self.screen.plain() && self.directs.contains_key(&fold(peer)))
            .then(|| Meter::new(&self.screen, To::Person(peer.into()), format!("{name} to {peer}"), len as u64));
        self.send_direct(peer, file, meter).await;
        if self.directs.contains_key(&fold(peer)) {
            self.screen.note(To::Person(peer.into()), "[file]", format!("sent {name} to {peer} ({len} bytes)"));
        }
    }

    async fn on_packet(&mut self, decoded: Decoded<ServerPacket>) {
        let packet = match decoded {
            Decoded::Packet(p) => p,
            Decoded::Oversized { .. } => {
                return self.screen.error(To::Main, "the server sent a message over the size limit".into())
            }
        };
        match packet {
            ServerPacket::Global { login, message } => {
                let plain = format!("[all] {login}: {message}");
                self.screen.chat(To::Main, &login, &message, plain);
            }
            ServerPacket::Asked { login } => {
                let text = format!("{login} asks for a private connection: /accept {login} or /deny {login}");
                self.screen.note(To::Person(login.clone()), "[private]", text);
                self.asked_by.insert(fold(&login), login);
            }
            ServerPacket::Accepted { login, port, address, id } => {
                let Ok(port) = u16::try_from(port) else {
                    return self
                        .screen
                        .error(To::Person(login.clone()), format!("{login} accepted with an invalid port {port}"));
                };
                let me = self.me.clone();
                let (max, events, screen) = (self.max, self.events.clone(), self.screen.clone());
                tokio::spawn(chathack_direct::connect((address, port).into(), me, login, id, max, events, screen));
            }
            ServerPacket::Denied { login } => self.screen.note(
                To::Person(login.clone()),
                "[private]",
                format!("{login} denied the private connection"),
            ),
            ServerPacket::Ack(code) => self.screen.error(To::Active, ack_meaning(code).into()),
        }
    }

    fn opened(&mut self, peer: String, direct: chathack_direct::Direct) {
        self.screen.note(To::Person(peer.clone()), "[private]", format!("direct connection with {peer} open"));
        self.directs.insert(fold(&peer), direct);
    }

    async fn on_direct(&mut self, event: DirectEvent) {
        match event {
            DirectEvent::Opening { peer, id, direct, verdict } => {
                // Someone connected to our listener: it must be one we accepted, with our id.
                let right = self.expected.get(&fold(&peer)) == Some(&id);
                let _ = verdict.send(right);
                if right {
                    self.expected.remove(&fold(&peer));
                    self.opened(peer, direct);
                } else {
                    let text = format!("refused a direct connection claiming to be {peer}: wrong login or id");
                    self.screen.error(To::Main, text);
                }
            }
            DirectEvent::Open { peer, direct } => self.opened(peer, direct),
            DirectEvent::Message { peer, message } => {
                let plain = format!("[msg] {peer}: {message}");
                self.screen.chat(To::Person(peer.clone()), &peer, &message, plain);
            }
            DirectEvent::File { peer, name, data } => match chathack_direct::save(&self.downloads, &name, &data) {
                Ok(path) => {
                    let text = format!("{peer} sent {name}: saved as {} ({} bytes)", path.display(), data.len());
                    self.screen.note(To::Person(peer), "[file]", text);
                }
                Err(e) => self.screen.error(To::Person(peer.clone()), format!("saving {name} from {peer}: {e}")),
            },
            DirectEvent::Refused { peer, why } => {
                self.screen.error(To::Person(peer.clone()), format!("direct connection with {peer}: {why}"))
            }
            DirectEvent::Closed { peer } => {
                if self.directs.remove(&fold(&peer)).is_some() {
                    let text = format!("direct connection with {peer} closed");
                    self.screen.note(To::Person(peer), "[private]", text);
                }
            }
        }
    }
}

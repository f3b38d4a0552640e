//! `switchboard nl`: an NL Chat operator console for the support desk, and
//! `switchboard nl server-key`, which prints the hub's public key for operators.
//!
//! The console makes its own key pair, joins the desk's pool with `key`, shows rings and
//! takes them (`/take ID`), shows who won, chats with the end user it is associated with,
//! sends typing state while the operator types (on a terminal, from the keys themselves;
//! from a script, `/typing` and `/paused`; and around each message it sends),
//! answers probes by itself, and ends a conversation with `/end`. When the server goes silent
//! or away it says so and sends `key` every few seconds until the server answers again.

use crate::clients::connect::{Connect, Stream};
use crate::ui::{self, Input, Screen, To};
use anyhow::Context;
use bytes::BytesMut;
use proto::line::{Line, LineDecoder};
use proto::nlchat::crypto;
use proto::nlchat::{ChatState, Command, Io, RawPacket, RingId, TO_CLIENT, TO_SERVER};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::WriteHalf;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NlArgs {
    #[command(subcommand)]
    command: Option<NlCmd>,
    /// The hub's NL Chat front door.
    #[arg(long, value_name = "HOST:PORT", required = true)]
    addr: Option<String>,
    /// The server's public key, a PEM file (`switchboard nl server-key` prints it).
    #[arg(long, value_name = "PEM", required = true)]
    server_key: Option<PathBuf>,
    /// This operator's UUID [default: a new one].
    #[arg(long)]
    uuid: Option<String>,
    /// Seconds without a word from the server before it is taken as silent.
    #[arg(long, value_name = "SECS", default_value_t = 15)]
    silence_secs: u64,
    #[command(flatten)]
    connect: Connect,
    #[command(flatten)]
    ui: ui::UiArgs,
}

const COMMANDS: &[ui::Command] = &[
    ui::Command { name: "/take", args: "ID", what: "take ring ID (Ctrl-T takes the last one)" },
    ui::Command { name: "/end", args: "", what: "end the conversation with the end user" },
    ui::Command { name: "/typing", args: "", what: "tell the end user you are typing" },
    ui::Command { name: "/paused", args: "", what: "tell the end user you stopped typing" },
    ui::Command { name: "/quit", args: "", what: "leave the desk" },
];

#[derive(clap::Subcommand)]
enum NlCmd {
    /// Print the hub's NL public key (PEM), making the key pair first if there is none yet.
    ServerKey {
        /// The hub's data folder.
        #[arg(long, value_name = "DIR", default_value = "switchboard-data")]
        data_dir: PathBuf,
        /// Or the cluster's key, which every node of it uses.
        #[command(flatten)]
        cluster: crate::admin::cluster::ClusterArgs,
    },
}

/// While the server is silent or away, `key` goes out this often.
const RETRY: Duration = Duration::from_secs(3);
/// A wait with no end to speak of.
const FOREVER: Duration = Duration::from_secs(100 * 365 * 24 * 3600);
/// The longest line read from the server.
const MAX_LINE: usize = 1 << 20;

pub async fn run(args: NlArgs) -> anyhow::Result<()> {
    if let Some(NlCmd::ServerKey { data_dir, cluster }) = args.command {
        let key = match cluster.open().await? {
            Some(durable) => server::nl_cluster_key(&durable).await?,
            None => {
                let mut store =
                    store::Store::open(&data_dir).with_context(|| format!("opening {}", data_dir.display()))?;
                server::nl_server_key(&mut store)?
            }
        };
        print!("{}", crypto::public_key_to_pem(&key.to_public_key()));
        return Ok(());
    }
    let (addr, key_file) = (args.addr.expect("required"), args.server_key.expect("required"));
    let pem = std::fs::read_to_string(&key_file).with_context(|| format!("reading {}", key_file.display()))?;
    let server = crypto::public_key_from_pem(&pem)
        .and_then(|key| crypto::Sealer::new(&key))
        .with_context(|| format!("{} is not an RSA public key", key_file.display()))?;
    let mine = crypto::generate(&mut rand::rngs::OsRng);
    let me = Me {
        uuid: args.uuid.unwrap_or_else(new_uuid),
        public_pem: crypto::public_key_to_pem(&mine.to_public_key()),
        key: crypto::Opener::new(&mine).context("this console's key")?,
        server,
    };
    let cfg = ui::Config { typing: true, ..ui::Config::new("nl", "desk", "support".into(), COMMANDS) };
    let (term, mut lines) = Screen::start(cfg, &args.ui, ui::Images::Off);
    term.note(To::Main, "[nl]", format!("operator {}", me.uuid));
    let silence = Duration::from_secs(args.silence_secs);
    let mut rings = HashMap::new();
    loop {
        match args.connect.connect(&addr).await {
            Ok((stream, _)) => match console(stream, &me, &term, silence, &mut lines, &mut rings).await {
                Ok(true) => {
                    term.close().await;
                    return Ok(());
                }
                Ok(false) => term.status("[server]", format!("gone: trying again every {}s", RETRY.as_secs())),
                Err(e) => term.status("[server]", format!("gone ({e:#}): trying again every {}s", RETRY.as_secs())),
            },
            Err(e) => {
                term.status("[server]", format!("cannot connect to {addr}: {e:#}; again in {}s", RETRY.as_secs()))
            }
        }
        if !term.pause(RETRY, &mut lines).await {
            term.close().await;
            return Ok(());
        }
    }
}

struct Me {
    uuid: String,
    key: crypto::Opener,
    public_pem: String,
    server: crypto::Sealer,
}

impl Me {
    async fn send(&self, write: &mut WriteHalf<Stream>, command: &Command) -> std::io::Result<()> {
        let messages = crypto::encrypt(&command.to_json(), &self.server);
        write.write_all(&RawPacket { messages, uuid: self.uuid.clone(), to: TO_SERVER.into() }.to_line()).await
    }

    fn key_command(&self) -> Command {
        Command::Key { uuid: self.uuid.clone(), key: self.public_pem.clone() }
    }
}

/// A random (version 4) UUID.
fn new_uuid() -> String {
    use rand::RngCore;
    let mut b = [0u8; 16];
    rand::rngs::OsRng.fill_bytes(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

/// One connection: `Ok(true)` when the operator quit, `Ok(false)` when the server went away.
async fn console(
    stream: Stream,
    me: &Me,
    term: &Screen,
    silence: Duration,
    lines: &mut mpsc::Receiver<Input>,
    rings: &mut HashMap<String, RingId>,
) -> anyhow::Result<bool> {
    let (mut read, mut write) = tokio::io::split(stream);
    me.send(&mut write, &me.key_command()).await?;
    let (mut decoder, mut buf) = (LineDecoder::new(MAX_LINE), BytesMut::new());
    let mut silent = false;
    let mut retry = tokio::time::interval(RETRY);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let line = match line {
                    Some(Input::Line(line)) => line,
                    Some(Input::Typing(typing)) => {
                        let state = if typing { ChatState::Composing } else { ChatState::Paused };
                        me.send(&mut write, &Command::ChatState { uuid: me.uuid.clone(), io: Io::Out, state }).await?;
                        continue;
                    }
                    None => {
                        let _ = me.send(&mut write, &Command::Disconnect { uuid: me.uuid.clone() }).await;
                        return Ok(true);
                    }
                };
                match typed(line.trim(), me, term, rings) {
                    Typed::Send(commands) => {
                        for c in &commands {
                            me.send(&mut write, c).await?;
                        }
                    }
                    Typed::Quit => {
                        me.send(&mut write, &Command::Disconnect { uuid: me.uuid.clone() }).await?;
                        return Ok(true);
                    }
                    Typed::Nothing => {}
                }
            }
            // Once silent, the wait is for the server's next word, however long.
            got = tokio::time::timeout(if silent { FOREVER } else { silence }, read.read_buf(&mut buf)) => match got {
                Err(_) => {
                    term.status("[server]", format!("silent: sending key every {}s until it answers", RETRY.as_secs()));
                    silent = true;
                    retry.reset();
                }
                Ok(Ok(0)) => return Ok(false),
                Ok(Err(e)) => return Err(e.into()),
                Ok(Ok(_)) => {
                    if std::mem::take(&mut silent) {
                        term.status("[server]", "back".into());
                    }
                    heard(&mut decoder, &mut buf, me, term, &mut write, rings).await?;
                }
            },
            _ = retry.tick(), if silent => me.send(&mut write, &me.key_command()).await?,
        }
    }
}

enum Typed {
    Send(Vec<Command>),
    Quit,
    Nothing,
}

/// What a line the operator typed asks for.
fn typed(line: &str, me: &Me, term: &Screen, rings: &HashMap<String, RingId>) -> Typed {
    let uuid = me.uuid.clone();
    let state = |state| Command::ChatState { uuid: me.uuid.clone(), io: Io::Out, state };
    let (word, rest) = line.split_once(' ').unwrap_or((line, ""));
    Typed::Send(match word {
        "" => return Typed::Nothing,
        "/take" => {
            let id = rings.get(rest.trim()).cloned().or_else(|| rest.trim().parse::<u64>().ok().map(RingId::number));
            let Some(id) = id else {
                term.error(To::Active, "/take ID, with the ID of a ring".into());
                return Typed::Nothing;
            };
            vec![Command::RingAck { id, uuid }]
        }
        "/end" => vec![Command::Disassociate { uuid }],
        "/typing" => vec![state(ChatState::Composing)],
        "/paused" => vec![state(ChatState::Paused)],
        "/quit" => return Typed::Quit,
        w if w.starts_with('/') => {
            let text = format!("unknown command {w}: /take ID, /end, /typing, /paused, /quit, or text to send");
            term.error(To::Active, text);
            return Typed::Nothing;
        }
        // The user sees support typing while the message goes out.
        _ => vec![
            state(ChatState::Composing),
            Command::Msg { msg: vec![line.to_owned()], io: Io::Out, uuid },
            state(ChatState::Paused),
        ],
    })
}

/// Acts on every whole line the server sent.
async fn heard(
    decoder: &mut LineDecoder,
    buf: &mut BytesMut,
    me: &Me,
    term: &Screen,
    write: &mut WriteHalf<Stream>,
    rings: &mut HashMap<String, RingId>,
) -> anyhow::Result<()> {
    while let Some(line) = decoder.decode(buf) {
        let Line::Text(line) = line else { continue };
        let Ok(raw) = RawPacket::parse(&line) else { continue };
        if raw.to != TO_CLIENT || raw.uuid != me.uuid {
            continue; // not for this operator (the original drops these too)
        }
        let command = match crypto::decrypt(&raw.messages, &me.key).and_then(|json| Command::parse(&json)) {
            Ok(c) => c,
            Err(e) => {
                term.error(To::Main, format!("a packet from the server that does not open: {e}"));
                continue;
            }
        };
        shown(command, me, term, write, rings).await?;
    }
    Ok(())
}

fn id_text(id: &RingId) -> String {
    match &id.0 {
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

async fn shown(
    command: Command,
    me: &Me,
    term: &Screen,
    write: &mut WriteHalf<Stream>,
    rings: &mut HashMap<String, RingId>,
) -> anyhow::Result<()> {
    match command {
        Command::Ring { id, .. } => {
            let text = id_text(&id);
            term.note(To::Main, "", format!("[ring {text}] someone wants support: /take {text}"));
            term.ring(&text, true);
            rings.insert(text, id);
        }
        Command::RingAckAck { id, uuid } => {
            let text = id_text(&id);
            rings.remove(&text);
            term.ring(&text, false);
            let what = match uuid.as_str() {
                "" => "expired: nobody took it".to_owned(),
                u if u == me.uuid => "yours: you are talking with the end user".to_owned(),
                u => format!("taken by {u}"),
            };
            term.note(To::Main, "", format!("[ring {text}] {what}"));
        }
        Command::Msg { msg, .. } => msg.iter().for_each(|m| term.chat(To::Main, "user", m, format!("[msg] {m}"))),
        Command::ChatState { state: ChatState::Composing, .. } => {
            term.typing(Some("the end user is typing".into()), "[typing] the end user is typing")
        }
        Command::ChatState { state: ChatState::Paused, .. } => {
            term.typing(None, "[paused] the end user stopped typing")
        }
        Command::Status { services } => {
            let list: Vec<String> = services.iter().map(|s| format!("{} {}", s.name, s.status)).collect();
            term.note(To::Main, "[status]", list.join(", "));
        }
        Command::Probe { .. } => me.send(write, &Command::ProbeAck { uuid: me.uuid.clone() }).await?,
        Command::ServerOnline => term.status("[server]", "online".into()),
        _ => {}
    }
    Ok(())
}

//! `switchboard nl`: an NL Chat operator console for the support desk, and
//! `switchboard nl server-key`, which prints the hub's public key for operators.
//!
//! The console makes its own key pair, joins the desk's pool with `key`, shows rings and
//! takes them (`/take ID`), shows who won, chats with the end user it is associated with,
//! sends typing state while the operator types (on a terminal, from the keys themselves;
//! from a script, `/typing` and `/paused`; and around each message it sends),
//! answers probes by itself, and ends a conversation with `/end`. When the server goes silent
//! or away it says so and sends `key` every few seconds until the server answers again.
//! It reaches the desk over the hub's NL door (`--addr`) or, as NL Chat's original client
//! did, over an XMPP server (`--xmpp-jid`, to the hub's full JID `--to`).

use crate::clients::connect::Connect;
use crate::clients::nl_link::{Heard, Link};
use crate::ui::{self, Input, Screen, To};
use anyhow::Context;
use proto::nlchat::crypto;
use proto::nlchat::{ChatState, Command, Io, RawPacket, RingId, TO_CLIENT, TO_SERVER};
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct NlArgs {
    #[command(subcommand)]
    command: Option<NlCmd>,
    /// The hub's NL Chat front door.
    #[arg(long, value_name = "HOST:PORT", required_unless_present = "xmpp_jid", conflicts_with = "xmpp_jid")]
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
    xmpp: XmppArgs,
    #[command(flatten)]
    ui: ui::UiArgs,
}

/// Reaching the desk over an XMPP server instead of the NL door.
#[derive(clap::Args)]
struct XmppArgs {
    /// Over XMPP, as this account: a bare JID (the UUID is then the resource, as the original
    /// client has it) or a full one.
    #[arg(long, value_name = "JID", requires_all = ["xmpp_password_file", "to"])]
    xmpp_jid: Option<String>,
    /// A file whose first line is that account's password.
    #[arg(long, value_name = "FILE", requires = "xmpp_jid")]
    xmpp_password_file: Option<PathBuf>,
    /// The hub's full JID, which it serves the desk as (its `--nl-xmpp-jid`).
    #[arg(long, value_name = "JID", requires = "xmpp_jid")]
    to: Option<String>,
    /// The XMPP server [default: the JID's domain, port 5222].
    #[arg(long, value_name = "HOST:PORT", requires = "xmpp_jid")]
    xmpp_server: Option<String>,
    /// Trust only this CA (PEM) for the XMPP server's certificate [default: the Mozilla roots].
    #[arg(long, value_name = "FILE", requires = "xmpp_jid")]
    xmpp_ca: Option<PathBuf>,
    /// Speak to the XMPP server without TLS (a server on loopback only).
    #[arg(long, requires = "xmpp_jid")]
    xmpp_insecure_plain: bool,
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
    let key_file = args.server_key.expect("required");
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
    if let Some(jid) = &args.xmpp.xmpp_jid {
        let x = &args.xmpp;
        let jid = if jid.contains('/') { jid.clone() } else { format!("{jid}/{}", me.uuid) };
        let password = x.xmpp_password_file.as_deref().expect("required with --xmpp-jid");
        let account = server::XmppAccount::new(
            &jid,
            password,
            x.xmpp_server.clone(),
            x.xmpp_ca.as_deref(),
            x.xmpp_insecure_plain,
        )?;
        let hub = x.to.as_deref().expect("required with --xmpp-jid");
        let hub = tokio_xmpp::jid::Jid::new(hub).with_context(|| format!("--to {hub:?}"))?;
        term.note(To::Main, "[xmpp]", format!("{} via {}, to {hub}", account.jid(), account.server()));
        let link = Link::xmpp(account.session(tokio_xmpp::xmlstream::Timeouts::tight()), hub);
        let ended = console(link, &me, &term, silence, &mut lines, &mut rings).await;
        term.close().await;
        return ended.map(drop);
    }
    let addr = args.addr.expect("required without --xmpp-jid");
    loop {
        match args.connect.connect(&addr).await {
            Ok((stream, _)) => match console(Link::tcp(stream), &me, &term, silence, &mut lines, &mut rings).await {
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
    async fn send(&self, link: &mut Link, command: &Command) -> std::io::Result<()> {
        let messages = crypto::encrypt(&command.to_json(), &self.server);
        link.send(&RawPacket { messages, uuid: self.uuid.clone(), to: TO_SERVER.into() }).await
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
    mut link: Link,
    me: &Me,
    term: &Screen,
    silence: Duration,
    lines: &mut mpsc::Receiver<Input>,
    rings: &mut HashMap<String, RingId>,
) -> anyhow::Result<bool> {
    let write = &mut link;
    me.send(write, &me.key_command()).await?;
    let mut silent = false;
    let mut retry = tokio::time::interval(RETRY);
    loop {
        tokio::select! {
            line = lines.recv() => {
                let line = match line {
                    Some(Input::Line(line)) => line,
                    Some(Input::Typing(typing)) => {
                        let state = if typing { ChatState::Composing } else { ChatState::Paused };
                        me.send(write, &Command::ChatState { uuid: me.uuid.clone(), io: Io::Out, state }).await?;
                        continue;
                    }
                    None => {
                        let _ = me.send(write, &Command::Disconnect { uuid: me.uuid.clone() }).await;
                        return Ok(true);
                    }
                };
                match typed(line.trim(), me, term, rings) {
                    Typed::Send(commands) => {
                        for c in &commands {
                            me.send(write, c).await?;
                        }
                    }
                    Typed::Quit => {
                        me.send(write, &Command::Disconnect { uuid: me.uuid.clone() }).await?;
                        return Ok(true);
                    }
                    Typed::Nothing => {}
                }
            }
            // Once silent, the wait is for the server's next word, however long.
            got = tokio::time::timeout(if silent { FOREVER } else { silence }, write.next()) => match got {
                Err(_) => {
                    term.status("[server]", format!("silent: sending key every {}s until it answers", RETRY.as_secs()));
                    silent = true;
                    retry.reset();
                }
                Ok(Ok(None)) => return Ok(false),
                Ok(Err(e)) => return Err(e.into()),
                // The XMPP session came back with its state lost: the desk hears `key` again.
                Ok(Ok(Some(Heard::Back))) => me.send(write, &me.key_command()).await?,
                Ok(Ok(Some(Heard::Packet(line)))) => {
                    if std::mem::take(&mut silent) {
                        term.status("[server]", "back".into());
                    }
                    heard(&line, me, term, write, rings).await?;
                }
            },
            _ = retry.tick(), if silent => me.send(write, &me.key_command()).await?,
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

/// Acts on a raw packet the server sent.
async fn heard(
    line: &[u8],
    me: &Me,
    term: &Screen,
    write: &mut Link,
    rings: &mut HashMap<String, RingId>,
) -> anyhow::Result<()> {
    let Ok(raw) = RawPacket::parse(line) else { return Ok(()) };
    if raw.to != TO_CLIENT || raw.uuid != me.uuid {
        return Ok(()); // not for this operator (the original drops these too)
    }
    let command = match crypto::decrypt(&raw.messages, &me.key).and_then(|json| Command::parse(&json)) {
        Ok(c) => c,
        Err(e) => {
            term.error(To::Main, format!("a packet from the server that does not open: {e}"));
            return Ok(());
        }
    };
    shown(command, me, term, write, rings).await
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
    write: &mut Link,
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

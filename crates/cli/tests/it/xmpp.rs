//! NL Chat over XMPP: a real Prosody (Debian's `prosody`, which `scripts/test` installs) on a
//! loopback port with a virtual host of its own, the hub logged into it as `desk@desk.test`,
//! and operators that are real XMPP clients (tokio-xmpp) speaking NL raw packets as chat
//! bodies, beside operators on the TCP door: one pool.

use crate::nl::{next_desk_event, operator_key, NlRaw};
use crate::support::{start_with, Hub, Proc, Raw, WAIT};
use crate::web::Web;
use futures_util::SinkExt;
use futures_util::StreamExt;
use hub::notice;
use proto::chatos::{ErrorCode, Packet};
use proto::nlchat::crypto;
use proto::nlchat::{ChatState, Command, Io, RawPacket, RingId, TO_SERVER};
use serde_json::json;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command as Process};
use tokio::time::timeout;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_xmpp::connect::DnsConfig;
use tokio_xmpp::jid::{FullJid, Jid};
use tokio_xmpp::parsers::message::{Lang, Message, MessageType};
use tokio_xmpp::parsers::presence::Presence;
use tokio_xmpp::xmlstream::Timeouts;
use tokio_xmpp::{Client, Event, Stanza};

/// The test virtual host.
pub const HOST: &str = "desk.test";
/// The hub's full JID, as the original operators' client knows it.
pub const HUB_JID: &str = "desk@desk.test/switchboard";
const HUB_PASSWORD: &str = "desk-secret";

/// A Prosody of the test's own: its configuration, data and log in a folder of its own.
pub struct Prosody {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
    /// With TLS: the CA that signed its certificate for `desk.test`.
    pub ca: Option<PathBuf>,
}

impl Prosody {
    /// Starts Prosody with the hub's account and `accounts` (`name`, `password`) made.
    pub async fn start(pki: Option<&crate::tls::Pki>, accounts: &[(&str, &str)]) -> Prosody {
        Prosody::start_with(pki, accounts, false).await
    }

    /// With `offline`: messages to a resource that is away are kept for the account, as most
    /// servers do (Prosody's `offline` module), rather than bounced.
    pub async fn start_with(pki: Option<&crate::tls::Pki>, accounts: &[(&str, &str)], offline: bool) -> Prosody {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let d = dir.path().display();
        let ssl = match pki {
            Some(pki) => {
                let (cert, key) = pki.issue("prosody", &[HOST]);
                format!("ssl = {{ certificate = {cert:?}; key = {key:?} }}\n")
            }
            None => String::new(),
        };
        let offline = if offline { "" } else { "\"offline\"" };
        let config = format!(
            r#"run_as_root = true
pidfile = "{d}/prosody.pid"
data_path = "{d}/data"
certificates = "{d}/certs"
plugin_paths = {{ }}
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {port} }}
c2s_direct_tls_ports = {{ }}
s2s_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
modules_enabled = {{ "roster"; "saslauth"; "tls"; "disco"; "ping"; "presence"; "smacks" }}
modules_disabled = {{ "s2s"; {offline} }}
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
authentication = "internal_hashed"
log = {{ info = "*console" }}
VirtualHost "{HOST}"
{ssl}"#
        );
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        std::fs::create_dir_all(dir.path().join("certs")).unwrap();
        std::fs::write(dir.path().join("prosody.cfg.lua"), config).unwrap();
        let mut prosody = Prosody { child: None, port, dir, ca: pki.map(|pki| pki.ca.clone()) };
        prosody.register("desk", HUB_PASSWORD);
        for (name, password) in accounts {
            prosody.register(name, password);
        }
        prosody.spawn().await;
        prosody
    }

    fn config(&self) -> PathBuf {
        self.dir.path().join("prosody.cfg.lua")
    }

    /// Makes an account with `prosodyctl`, as its admin would.
    pub fn register(&self, name: &str, password: &str) {
        let status = std::process::Command::new("prosodyctl")
            .arg("--config")
            .arg(self.config())
            .args(["register", name, HOST, password])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .expect("prosodyctl (Debian's prosody package; scripts/test installs it)");
        assert!(status.success(), "prosodyctl register {name}");
    }

    async fn spawn(&mut self) {
        let mut child = Process::new("prosody")
            .arg("--config")
            .arg(self.config())
            .arg("-F")
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("prosody (Debian's prosody package; scripts/test installs it)");
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Activated service 'c2s'") {
                    return;
                }
            }
            panic!("prosody exited before it listened");
        };
        timeout(WAIT, ready).await.expect("prosody did not listen");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
    }

    /// Stops it (SIGTERM: it closes every stream) and starts it again on the same port.
    pub async fn restart(&mut self) {
        self.stop().await;
        self.spawn().await;
    }

    pub async fn stop(&mut self) {
        let mut child = self.child.take().unwrap();
        let pid = child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
        timeout(WAIT, child.wait()).await.expect("prosody did not stop").unwrap();
    }

    /// Starts it again after [`Prosody::stop`].
    pub async fn start_again(&mut self) {
        self.spawn().await;
    }

    /// The file of the hub's password.
    fn password_file(&self) -> PathBuf {
        let password = self.dir.path().join("desk.password");
        std::fs::write(&password, format!("{HUB_PASSWORD}\n")).unwrap();
        password
    }

    /// `serve`'s flags to log into it as `desk@desk.test/switchboard`, plainly.
    pub fn flags(&self) -> Vec<String> {
        let password = self.password_file().display().to_string();
        let server = format!("127.0.0.1:{}", self.port);
        ["--nl-xmpp-jid", HUB_JID, "--nl-xmpp-password-file", &password, "--nl-xmpp-server", &server]
            .into_iter()
            .chain(["--nl-xmpp-insecure-plain"])
            .map(String::from)
            .collect()
    }

    /// The hub's settings to log into it as `desk@desk.test/switchboard`.
    pub fn configure(&self, config: &mut server::Config) {
        let password = self.password_file();
        let nl = &mut config.doors.nl;
        nl.xmpp_jid = Some(HUB_JID.into());
        nl.xmpp_password_file = Some(password);
        nl.xmpp_server = Some(format!("127.0.0.1:{}", self.port));
        match &self.ca {
            Some(ca) => nl.xmpp_ca = Some(ca.clone()),
            None => nl.xmpp_insecure_plain = true,
        }
    }
}

/// An XMPP client, logged in and online.
pub struct Xmpp {
    client: Client,
}

impl Xmpp {
    pub async fn login(prosody: &Prosody, jid: &str, password: &str) -> Xmpp {
        let jid = FullJid::new(jid).unwrap();
        let dns = DnsConfig::Addr { addr: format!("127.0.0.1:{}", prosody.port) };
        let mut client = Client::new_plaintext(jid.clone(), password, dns, Timeouts::tight());
        let online = async {
            loop {
                match client.next().await.expect("the XMPP stream ended") {
                    Event::Online { .. } => return,
                    Event::Disconnected(e) => panic!("{jid}: {e}"),
                    Event::Stanza(_) => {}
                }
            }
        };
        timeout(WAIT, online).await.expect("not online");
        client.send_stanza(Presence::available().into()).await.unwrap();
        Xmpp { client }
    }

    /// A chat message with `body` to `to`.
    pub async fn send_body(&mut self, to: &str, kind: MessageType, body: &str) {
        let message = Message::new_with_type(kind, Some(Jid::new(to).unwrap())).with_body(Lang::default(), body.into());
        self.client.send_stanza(message.into()).await.unwrap();
    }

    /// The next chat body from `from`, passing over everything else.
    pub async fn next_body_from(&mut self, from: &str) -> String {
        let from = Jid::new(from).unwrap();
        let next = async {
            loop {
                match self.client.next().await.expect("the XMPP stream ended") {
                    Event::Stanza(Stanza::Message(m))
                        if m.from.as_ref() == Some(&from) && m.type_ == MessageType::Chat =>
                    {
                        if let Some((_, body)) = m.get_best_body_cloned(vec![]) {
                            return body;
                        }
                    }
                    _ => {}
                }
            }
        };
        timeout(Duration::from_secs(15), next).await.expect("timed out waiting for a message")
    }

    /// Logs out: its resource goes unavailable.
    pub async fn log_out(self) {
        let _ = self.client.send_end().await;
    }
}

/// An NL operator on XMPP, speaking to the hub's full JID.
pub struct XmppOperator {
    pub xmpp: Xmpp,
    uuid: String,
    server: crypto::Sealer,
}

impl XmppOperator {
    /// Logs in as `jid` and joins the pool, expecting `server_online` and `status`.
    pub async fn join(hub: &Hub, prosody: &Prosody, jid: &str, password: &str, uuid: &str) -> XmppOperator {
        let mut store = store::Store::open(&hub.data_dir()).unwrap();
        let server = crypto::Sealer::new(&server::nl_server_key(&mut store).unwrap().to_public_key()).unwrap();
        let xmpp = Xmpp::login(prosody, jid, password).await;
        let mut op = XmppOperator { xmpp, uuid: uuid.into(), server };
        op.rejoin().await;
        op
    }

    /// `key` until the hub answers (`server_online`, then `status`).
    pub async fn rejoin(&mut self) {
        let op = self;
        // As the original client does: `key` again every second until the hub answers (it
        // may not be logged into the XMPP server yet, and a message to it then bounces).
        let answered = async {
            loop {
                op.key().await;
                if let Ok(body) = timeout(Duration::from_secs(1), op.xmpp.next_body_from(HUB_JID)).await {
                    return op.open(&body);
                }
            }
        };
        assert_eq!(timeout(WAIT, answered).await.expect("the hub never answered"), Command::ServerOnline);
        assert!(matches!(op.next().await, Command::Status { .. }));
    }

    pub async fn key(&mut self) {
        let key = crypto::public_key_to_pem(&operator_key().0.to_public_key());
        self.send(&Command::Key { uuid: self.uuid.clone(), key }).await;
    }

    pub async fn send(&mut self, c: &Command) {
        let messages = crypto::encrypt(&c.to_json(), &self.server);
        let raw = RawPacket { messages, uuid: self.uuid.clone(), to: TO_SERVER.into() };
        let line = String::from_utf8(raw.to_line()).unwrap();
        self.xmpp.send_body(HUB_JID, MessageType::Chat, line.trim_end()).await;
    }

    /// The next command for this operator, from the hub's full JID.
    pub async fn next(&mut self) -> Command {
        let body = self.xmpp.next_body_from(HUB_JID).await;
        self.open(&body)
    }

    fn open(&self, body: &str) -> Command {
        let raw = RawPacket::parse(body.as_bytes()).unwrap();
        assert_eq!((raw.to.as_str(), raw.uuid.as_str()), ("bob", self.uuid.as_str()));
        Command::parse(&crypto::decrypt(&raw.messages, &operator_key().1).unwrap()).unwrap()
    }
}

async fn hub_on(prosody: &Prosody) -> Hub {
    start_with(|c| prosody.configure(c)).await
}

fn spm(to: &str, text: &str) -> Packet {
    Packet::Spm { sender: "support".into(), recipient: to.into(), message: text.into() }
}

/// An operator on its own XMPP account and one on the TCP door are one pool: both are rung,
/// the XMPP one takes the ChatOS user's conversation, and talk and typing flow both ways.
#[tokio::test]
async fn an_xmpp_operator_and_a_tcp_operator_share_one_pool() {
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let mut xo = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let mut tcp = NlRaw::join(&hub, "uuid-tom").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "hello?".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let Command::Ring { id, .. } = xo.next().await else { panic!("the XMPP operator was not rung") };
    assert!(matches!(tcp.next().await, Some(Command::Ring { .. })), "the TCP operator is rung too");
    xo.send(&Command::RingAck { id: id.clone(), uuid: "uuid-olga".into() }).await;
    let won = Command::RingAckAck { id: id.clone(), uuid: "uuid-olga".into() };
    assert_eq!(xo.next().await, won);
    assert_eq!(tcp.next().await, Some(won), "every operator hears who won");
    os.expect(spm("os", notice::JOINED)).await;
    assert_eq!(xo.next().await, Command::Msg { msg: vec!["hello?".into()], io: Io::In, uuid: "uuid-olga".into() });
    xo.send(&Command::ChatState { uuid: "uuid-olga".into(), io: Io::Out, state: ChatState::Composing }).await;
    xo.send(&Command::Msg { msg: vec!["hi os, olga here".into()], io: Io::Out, uuid: "uuid-olga".into() }).await;
    os.expect(spm("os", "hi os, olga here")).await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "thanks".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert_eq!(xo.next().await, Command::Msg { msg: vec!["thanks".into()], io: Io::In, uuid: "uuid-olga".into() });
    hub.stop().await;
}

/// The original system: the operator logs into the hub's own account, its UUID as the
/// resource, and is answered there; a web user reaches it. When its resource goes
/// unavailable it leaves the pool at once (the web sees the desk close), and the hub's other
/// resources' presence and its own echoes change nothing.
#[tokio::test]
async fn an_operator_on_the_hubs_own_account_is_answered_at_its_resource_and_leaves_when_unavailable() {
    let prosody = Prosody::start(None, &[]).await;
    // No probe in the test's time: only the presence can tell the operator left.
    let hub = start_with(|c| {
        prosody.configure(c);
        c.doors.nl.probe_secs = 600;
    })
    .await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut op = XmppOperator::join(&hub, &prosody, "desk@desk.test/uuid-1", HUB_PASSWORD, "uuid-1").await;
    assert_eq!(ann.event().await, json!({ "type": "presence", "name": "support", "protocol": "desk", "online": true }));
    // Another resource of the same account, which is no operator, comes and goes.
    let other = Xmpp::login(&prosody, "desk@desk.test/phone", HUB_PASSWORD).await;
    other.log_out().await;
    ann.say("support", "is anyone there?").await;
    let Command::Ring { id, .. } = op.next().await else { panic!("not rung") };
    op.send(&Command::RingAck { id: id.clone(), uuid: "uuid-1".into() }).await;
    assert_eq!(op.next().await, Command::RingAckAck { id, uuid: "uuid-1".into() });
    assert_eq!(
        op.next().await,
        Command::Msg { msg: vec!["is anyone there?".into()], io: Io::In, uuid: "uuid-1".into() }
    );
    op.send(&Command::Msg { msg: vec!["yes".into()], io: Io::Out, uuid: "uuid-1".into() }).await;
    loop {
        let e = next_desk_event(&mut ann).await;
        if e["type"] == "message" && e["text"] == "yes" {
            assert_eq!(e["from"], "support");
            break;
        }
    }
    op.xmpp.log_out().await;
    loop {
        let e = ann.event().await;
        if e == json!({ "type": "presence", "name": "support", "protocol": "desk", "online": false }) {
            break;
        }
    }
    hub.stop().await;
}

/// Bodies that are not an operator's packets change nothing: garbage, a packet of another
/// message type, one over the line bound, a stranger's packets that are not `key`. The
/// operator there all along is still rung afterwards.
#[tokio::test]
async fn garbage_and_strangers_change_nothing() {
    let prosody = Prosody::start(None, &[("olga", "olga-pw"), ("eve", "eve-pw")]).await;
    let hub = start_with(|c| {
        prosody.configure(c);
        c.doors.nl.max_line = 4096;
    })
    .await;
    let mut op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let mut eve = Xmpp::login(&prosody, "eve@desk.test/x", "eve-pw").await;
    eve.send_body(HUB_JID, MessageType::Chat, "this is no JSON").await;
    eve.send_body(HUB_JID, MessageType::Chat, &"x".repeat(5000)).await;
    eve.send_body(HUB_JID, MessageType::Chat, r#"{"messages": ["AAAA"], "UUID": "e", "to": "alice"}"#).await;
    eve.send_body(HUB_JID, MessageType::Groupchat, r#"{"messages": [], "UUID": "e", "to": "alice"}"#).await;
    // A packet for a client (`"to": "bob"`), from the operator itself: not for the hub, and
    // never decrypted (counted as nothing).
    let sealed = crypto::encrypt(&Command::ProbeAck { uuid: "uuid-olga".into() }.to_json(), &op.server);
    let bounced = RawPacket { messages: sealed, uuid: "uuid-olga".into(), to: "bob".into() };
    op.xmpp.send_body(HUB_JID, MessageType::Chat, String::from_utf8(bounced.to_line()).unwrap().trim_end()).await;
    // The operator's own packet, but sent as a headline: not a chat, ignored.
    let probe_ack = Command::ProbeAck { uuid: "uuid-olga".into() };
    let sealed = crypto::encrypt(&probe_ack.to_json(), &op.server);
    let raw = RawPacket { messages: sealed, uuid: "uuid-olga".into(), to: TO_SERVER.into() };
    op.xmpp.send_body(HUB_JID, MessageType::Headline, String::from_utf8(raw.to_line()).unwrap().trim_end()).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "hi".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert!(matches!(op.next().await, Command::Ring { id: RingId(_), .. }), "the pool is as it was");
    // Each is counted as bad input once it is looked at (a stranger's on a thread of its own).
    let counted = async {
        while hub.metrics().door(hub::Door(4), false).bad_input.get() < 5 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    timeout(WAIT, counted).await.expect("the garbage is counted as bad input");
    hub.stop().await;
}

/// Prosody restarted in the middle of a conversation: the hub logs in again, the operator
/// hears `server_online`, and what the end user wrote while the server was away reaches it.
#[tokio::test]
async fn prosody_restarted_mid_conversation_loses_nothing() {
    let mut prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let mut op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "first".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let Command::Ring { id, .. } = op.next().await else { panic!("not rung") };
    op.send(&Command::RingAck { id: id.clone(), uuid: "uuid-olga".into() }).await;
    assert_eq!(op.next().await, Command::RingAckAck { id, uuid: "uuid-olga".into() });
    assert_eq!(op.next().await, Command::Msg { msg: vec!["first".into()], io: Io::In, uuid: "uuid-olga".into() });
    os.expect(spm("os", notice::JOINED)).await;
    prosody.restart().await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "still there?".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    // The operator's client logs in again by itself (tokio-xmpp reconnects), as the hub does.
    // It hears the message (queued while the hub was away) and that the hub is back, in the
    // order they were queued, and nothing else.
    let msg = Command::Msg { msg: vec!["still there?".into()], io: Io::In, uuid: "uuid-olga".into() };
    let mut heard = vec![op.next().await, op.next().await];
    heard.sort_by_key(|c| matches!(c, Command::Msg { .. }));
    assert_eq!(heard, [Command::ServerOnline, msg]);
    op.send(&Command::Msg { msg: vec!["yes".into()], io: Io::Out, uuid: "uuid-olga".into() }).await;
    os.expect(spm("os", "yes")).await;
    hub.stop().await;
}

/// Over STARTTLS with Prosody's certificate checked against the CA given: the whole way works.
#[tokio::test]
async fn over_starttls_with_the_servers_certificate_checked() {
    let pki = crate::tls::Pki::new("xmpp test CA");
    let prosody = Prosody::start(Some(&pki), &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let mut op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "over TLS".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    assert!(matches!(op.next().await, Command::Ring { .. }));
    hub.stop().await;
}

/// When the hub stops, an XMPP operator hears every service go offline, as a TCP one does,
/// before the hub logs out of the XMPP server.
#[tokio::test]
async fn xmpp_operators_hear_every_service_go_offline_when_the_hub_stops() {
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let mut op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let services = hub.services();
    hub.stop().await;
    let offline: Vec<proto::nlchat::Service> = services
        .iter()
        .map(|name| proto::nlchat::Service { name: name.to_string(), status: "offline".into() })
        .collect();
    assert_eq!(op.next().await, Command::Status { services: offline });
}

/// `switchboard nl` over XMPP: the console logs into an account of its own (its UUID the
/// resource, as the original client has it), writes to the hub's full JID, joins the pool,
/// takes a ChatOS user's ring and talks with them.
#[tokio::test]
async fn the_operator_console_over_xmpp() {
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let pem = crate::nl::server_pem(&hub);
    let password = hub.data_dir().join("olga.password");
    std::fs::write(&password, "olga-pw\n").unwrap();
    let server = format!("127.0.0.1:{}", prosody.port);
    let args = [
        "nl",
        "--xmpp-jid",
        "olga@desk.test",
        "--xmpp-password-file",
        password.to_str().unwrap(),
        "--to",
        HUB_JID,
        "--xmpp-server",
        &server,
        "--xmpp-insecure-plain",
        "--server-key",
        pem.to_str().unwrap(),
        "--uuid",
        "uuid-console",
        "--silence-secs",
        "1",
    ];
    let mut console = Proc::spawn(&args, &hub.data_dir());
    console.expect_line("[xmpp] olga@desk.test/uuid-console via").await;
    console.expect_line("[server] online").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "help me".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    console.expect_line("[ring 1]").await;
    console.type_line("/take 1").await;
    console.expect_line("[msg] help me").await;
    os.expect(spm("os", notice::JOINED)).await;
    console.type_line("hello from XMPP").await;
    os.expect(spm("os", "hello from XMPP")).await;
    hub.stop().await;
}

/// Over XMPP as over TCP: a packet of many blocks each way, `disassociate` ending the
/// conversation (the end user is told), and `disconnect` leaving the pool at once (no probe
/// comes in the test's time: only the `disconnect` can close the desk).
#[tokio::test]
async fn long_packets_disassociate_and_disconnect_over_xmpp() {
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = start_with(|c| {
        prosody.configure(c);
        c.doors.nl.probe_secs = 600;
    })
    .await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut olga = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let long: String = "é and more text ".repeat(60);
    ann.say("support", &long).await;
    let Command::Ring { id, .. } = olga.next().await else { panic!("not rung") };
    olga.send(&Command::RingAck { id: id.clone(), uuid: "uuid-olga".into() }).await;
    assert_eq!(olga.next().await, Command::RingAckAck { id, uuid: "uuid-olga".into() });
    let Command::Msg { msg, .. } = olga.next().await else { panic!("no message") };
    assert_eq!(msg, vec![long.clone()], "many blocks, one packet, to XMPP");
    let reply = "ü".repeat(500);
    olga.send(&Command::Msg { msg: vec![reply.clone()], io: Io::Out, uuid: "uuid-olga".into() }).await;
    loop {
        let e = next_desk_event(&mut ann).await;
        if e["type"] == "message" && e["text"] == reply.as_str() {
            break;
        }
    }
    // Typing both ways: the web user's reaches the XMPP operator, the operator's the web.
    ann.ws.send(WsMessage::Text(r#"{"type":"typing","to":"support","active":true}"#.into())).await.unwrap();
    let typing = Command::ChatState { uuid: "uuid-olga".into(), io: Io::In, state: ChatState::Composing };
    assert_eq!(olga.next().await, typing);
    olga.send(&Command::ChatState { uuid: "uuid-olga".into(), io: Io::Out, state: ChatState::Composing }).await;
    loop {
        let e = next_desk_event(&mut ann).await;
        if e["type"] == "typing" {
            assert_eq!((&e["from"], &e["active"]), (&json!("support"), &json!(true)));
            break;
        }
    }
    olga.send(&Command::Disassociate { uuid: "uuid-olga".into() }).await;
    loop {
        let e = next_desk_event(&mut ann).await;
        if e["type"] == "message" && e["text"] == notice::ENDED {
            break;
        }
    }
    olga.send(&Command::Disconnect { uuid: "uuid-olga".into() }).await;
    loop {
        let e = ann.event().await;
        if e == json!({ "type": "presence", "name": "support", "protocol": "desk", "online": false }) {
            break;
        }
    }
    hub.stop().await;
}

/// A silent XMPP operator is probed after `probe_secs` and removed `probe_grace_secs` later
/// (the desk closes); one that answers stays.
#[tokio::test]
async fn a_silent_xmpp_operator_is_probed_then_removed() {
    let prosody = Prosody::start(None, &[("sam", "sam-pw")]).await;
    let hub = start_with(|c| {
        prosody.configure(c);
        c.doors.nl.probe_secs = 1;
        c.doors.nl.probe_grace_secs = 1;
    })
    .await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut sam = XmppOperator::join(&hub, &prosody, "sam@desk.test/desk", "sam-pw", "uuid-sam").await;
    assert_eq!(ann.event().await, json!({ "type": "presence", "name": "support", "protocol": "desk", "online": true }));
    // Answered once: still there.
    assert_eq!(sam.next().await, Command::Probe { uuid: "uuid-sam".into() });
    sam.send(&Command::ProbeAck { uuid: "uuid-sam".into() }).await;
    assert_eq!(sam.next().await, Command::Probe { uuid: "uuid-sam".into() }, "probed again, so still in the pool");
    // Not answered: removed.
    assert_eq!(
        ann.event().await,
        json!({ "type": "presence", "name": "support", "protocol": "desk", "online": false })
    );
    hub.stop().await;
}

/// In a cluster one node at a time holds the XMPP session, under a lease in JetStream: the
/// second node waits, and when the holder is killed it takes the session over; the operator,
/// sending `key` again as the original client does when the server falls silent, is back in
/// the pool and rung for an end user on the surviving node.
#[tokio::test]
async fn in_a_cluster_one_node_holds_the_session_and_another_takes_it_over() {
    use crate::cluster::{Nats, Node};
    let nats = Nats::start().await;
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let flags = prosody.flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let a = Node::start_with(&nats, "a", &flags).await;
    // The operator needs the cluster's NL key.
    let out = Process::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["nl", "server-key", "--cluster", &nats.url()])
        .output()
        .await
        .unwrap();
    assert!(out.status.success());
    let key = crypto::public_key_from_pem(std::str::from_utf8(&out.stdout).unwrap()).unwrap();
    let xmpp = Xmpp::login(&prosody, "olga@desk.test/laptop", "olga-pw").await;
    let mut op = XmppOperator { xmpp, uuid: "uuid-olga".into(), server: crypto::Sealer::new(&key).unwrap() };
    op.rejoin().await;
    let b = Node::start_with(&nats, "b", &flags).await;
    let mut b_logs = b.logs();
    let online = |text: &str| crate::metrics::parse(text)["switchboard_desk_xmpp_online"];
    assert_eq!(online(&crate::metrics::get(&format!("http://{}/metrics", a.metrics)).await.1), 1.0);
    assert_eq!(online(&crate::metrics::get(&format!("http://{}/metrics", b.metrics)).await.1), 0.0, "one holder");
    a.kill().await;
    crate::cluster::logged(&mut b_logs, "nl: this node holds the XMPP session").await;
    op.rejoin().await;
    let mut os = Raw::login(b.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "anyone?".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    loop {
        match op.next().await {
            Command::Ring { .. } => break,
            Command::Probe { uuid } => op.send(&Command::ProbeAck { uuid }).await,
            _ => {}
        }
    }
}

/// An operator dropped from the pool while the XMPP server was away (it could not answer the
/// hub's probes) is taken back with the key it gave once the hub is logged in again: it hears
/// `server_online` and `status` without sending `key`, and the desk opens again.
#[tokio::test]
async fn an_operator_dropped_while_the_server_was_away_is_taken_back() {
    let mut prosody = Prosody::start_with(None, &[("olga", "olga-pw")], true).await;
    let hub = start_with(|c| {
        prosody.configure(c);
        c.doors.nl.probe_secs = 1;
        c.doors.nl.probe_grace_secs = 1;
    })
    .await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let desk = |online: bool| json!({ "type": "presence", "name": "support", "protocol": "desk", "online": online });
    assert_eq!(ann.event().await, desk(true));
    let XmppOperator { xmpp, uuid, server } = op;
    drop(xmpp);
    prosody.stop().await;
    assert_eq!(ann.event().await, desk(false), "dropped for its unanswered probes");
    prosody.start_again().await;
    // The operator's client logs in again; it sends no `key`.
    let xmpp = Xmpp::login(&prosody, "olga@desk.test/laptop", "olga-pw").await;
    let mut op = XmppOperator { xmpp, uuid, server };
    let first = loop {
        match op.next().await {
            Command::Probe { uuid } => op.send(&Command::ProbeAck { uuid }).await,
            other => break other,
        }
    };
    assert_eq!(first, Command::ServerOnline);
    assert!(matches!(op.next().await, Command::Status { .. }));
    assert_eq!(ann.event().await, desk(true), "back in the pool");
    hub.stop().await;
}

/// The hub is a proper XMPP client: it answers XEP-0199 pings, and any other request with
/// `service-unavailable` (RFC 6120 § 8.4).
#[tokio::test]
async fn the_hub_answers_pings_and_refuses_other_requests() {
    use tokio_xmpp::minidom::Element;
    use tokio_xmpp::parsers::stanza_error::DefinedCondition;
    use tokio_xmpp::{IqRequest, IqResponse};
    let prosody = Prosody::start(None, &[("olga", "olga-pw")]).await;
    let hub = hub_on(&prosody).await;
    let mut op = XmppOperator::join(&hub, &prosody, "olga@desk.test/laptop", "olga-pw", "uuid-olga").await;
    let to = Some(Jid::new(HUB_JID).unwrap());
    let ping = op.xmpp.client.send_iq(to.clone(), IqRequest::Get(Element::builder("ping", "urn:xmpp:ping").build()));
    let answer = timeout(WAIT, ping.await).await.expect("no answer to a ping");
    assert!(matches!(answer, Ok(IqResponse::Result(_))), "{answer:?}");
    let version = Element::builder("query", "jabber:iq:version").build();
    let asked = op.xmpp.client.send_iq(to, IqRequest::Get(version));
    match timeout(WAIT, asked.await).await.expect("no answer to a request") {
        Ok(IqResponse::Error(e)) => assert_eq!(e.defined_condition, DefinedCondition::ServiceUnavailable),
        other => panic!("{other:?}"),
    }
    hub.stop().await;
}

/// STARTTLS checks the server's certificate: signed by a CA other than the one given, it is
/// refused, and the hub says why (and keeps trying, never logging in over it).
#[tokio::test]
async fn a_certificate_the_ca_did_not_sign_is_refused() {
    let pki = crate::tls::Pki::new("prosody's CA");
    let prosody = Prosody::start(Some(&pki), &[]).await;
    let other = crate::tls::Pki::new("another CA");
    let dir = tempfile::tempdir().unwrap();
    let password = prosody.password_file();
    let server = format!("127.0.0.1:{}", prosody.port);
    let mut child = Process::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--loopback", "--nl-xmpp-jid", HUB_JID, "--nl-xmpp-server", &server])
        .arg("--nl-xmpp-password-file")
        .arg(&password)
        .arg("--nl-xmpp-ca")
        .arg(&other.ca)
        .arg("--data-dir")
        .arg(dir.path())
        .env("NO_COLOR", "1")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut logs = BufReader::new(child.stderr.take().unwrap()).lines();
    let refused = async {
        while let Some(line) = logs.next_line().await.unwrap() {
            assert!(!line.contains("online on the XMPP server"), "logged in over a certificate it should refuse");
            if line.contains("Failed to connect") && line.contains("UnknownIssuer") {
                return line;
            }
        }
        panic!("the hub exited");
    };
    let line = timeout(WAIT, refused).await.expect("the hub never said why it cannot connect");
    assert!(line.contains("Retrying"), "{line}");
}

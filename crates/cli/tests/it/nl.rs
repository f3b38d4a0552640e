//! The support desk over loopback: `switchboard nl` operator consoles and raw NL operators
//! against the hub, with end users on the web and ChatOS: rings, the first answer winning,
//! messages and typing both ways, `/end`, probes, expiry, and garbage that changes nothing.

use crate::support::{serve_process, start, start_with, Hub, Proc, Raw};
use crate::web::Web;
use bytes::BytesMut;
use futures_util::SinkExt;
use hub::notice;
use proto::chatos::{ErrorCode, Packet};
use proto::line::{Line, LineDecoder};
use proto::nlchat::crypto::{self, rsa::RsaPrivateKey};
use proto::nlchat::{Command, RawPacket, TO_SERVER};
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message as WsMessage;

/// Writes the hub's NL public key where a console can read it.
pub fn server_pem(hub: &Hub) -> PathBuf {
    let mut store = store::Store::open(&hub.data_dir()).unwrap();
    let key = server::nl_server_key(&mut store).unwrap();
    let path = hub.data_dir().join("server-pub.pem");
    std::fs::write(&path, crypto::public_key_to_pem(&key.to_public_key())).unwrap();
    path
}

async fn console(hub: &Hub, uuid: &str) -> Proc {
    let pem = server_pem(hub);
    let addr = hub.nl.to_string();
    let mut p =
        Proc::spawn(&["nl", "--addr", &addr, "--server-key", pem.to_str().unwrap(), "--uuid", uuid], &hub.data_dir());
    p.expect_line("[server] online").await;
    let services: Vec<String> = hub.services().iter().map(|s| format!("{s} online")).collect();
    p.expect_line(&format!("[status] {}", services.join(", "))).await;
    p
}

/// One key pair for every raw operator (making one is slow), and it ready to open blocks.
pub fn operator_key() -> &'static (RsaPrivateKey, crypto::Opener) {
    static KEY: OnceLock<(RsaPrivateKey, crypto::Opener)> = OnceLock::new();
    KEY.get_or_init(|| {
        let key = crypto::generate(&mut rand::rngs::OsRng);
        let opener = crypto::Opener::new(&key).unwrap();
        (key, opener)
    })
}

/// An NL operator spoken to packet by packet.
pub struct NlRaw {
    stream: TcpStream,
    buf: BytesMut,
    lines: LineDecoder,
    server: crypto::Sealer,
    uuid: String,
}

impl NlRaw {
    pub async fn connect(hub: &Hub, uuid: &str) -> NlRaw {
        let mut store = store::Store::open(&hub.data_dir()).unwrap();
        let server = crypto::Sealer::new(&server::nl_server_key(&mut store).unwrap().to_public_key()).unwrap();
        let stream = TcpStream::connect(hub.nl).await.unwrap();
        NlRaw { stream, buf: BytesMut::new(), lines: LineDecoder::new(1 << 20), server, uuid: uuid.into() }
    }

    /// Connects and joins the pool, expecting `server_online` and `status`.
    pub async fn join(hub: &Hub, uuid: &str) -> NlRaw {
        let mut op = NlRaw::connect(hub, uuid).await;
        let key = crypto::public_key_to_pem(&operator_key().0.to_public_key());
        op.send(&Command::Key { uuid: uuid.into(), key }).await;
        assert_eq!(op.next().await, Some(Command::ServerOnline));
        assert!(matches!(op.next().await, Some(Command::Status { .. })));
        op
    }

    pub async fn send(&mut self, c: &Command) {
        let messages = crypto::encrypt(&c.to_json(), &self.server);
        let raw = RawPacket { messages, uuid: self.uuid.clone(), to: TO_SERVER.into() };
        self.stream.write_all(&raw.to_line()).await.unwrap();
    }

    /// The next command for this operator; `None` once the server closed the connection.
    pub async fn next(&mut self) -> Option<Command> {
        let read = async {
            loop {
                if let Some(line) = self.lines.decode(&mut self.buf) {
                    let Line::Text(line) = line else { panic!("an oversized line from the server") };
                    let raw = RawPacket::parse(&line).unwrap();
                    assert_eq!((raw.to.as_str(), raw.uuid.as_str()), ("bob", self.uuid.as_str()));
                    return Some(Command::parse(&crypto::decrypt(&raw.messages, &operator_key().1).unwrap()).unwrap());
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(15), read).await.expect("timed out waiting for a command")
    }
}

/// Messages and typing notices on a web user's WebSocket, passing over presence.
pub async fn next_desk_event(web: &mut Web) -> Value {
    loop {
        let e = web.event().await;
        if e["type"] != "presence" {
            return e;
        }
    }
}

#[tokio::test]
async fn two_consoles_one_web_user_first_take_wins_and_talk_flows_both_ways() {
    let hub = start().await;
    let mut a = console(&hub, "op-a").await;
    let mut b = console(&hub, "op-b").await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let (_, users) = ann.get("/api/users").await;
    assert_eq!(users["users"][0], json!({ "name": "support", "protocol": "desk", "online": true }));

    ann.say("support", "I need help").await;
    assert_eq!(next_desk_event(&mut ann).await["text"], "I need help", "the web sees what it sent");
    a.expect_line("[ring 1] someone wants support: /take 1").await;
    b.expect_line("[ring 1] someone wants support: /take 1").await;
    a.type_line("/take 1").await;
    a.expect_line("[ring 1] yours: you are talking with the end user").await;
    b.expect_line("[ring 1] taken by op-a").await;
    a.expect_line("[msg] I need help").await;
    let joined = next_desk_event(&mut ann).await;
    assert_eq!((joined["from"].as_str(), joined["text"].as_str()), (Some("support"), Some(notice::JOINED)));

    // The loser cannot reach the end user; the winner can, typing shown around its message.
    b.type_line("not for you").await;
    a.type_line("hello ann, how can I help?").await;
    let mut got = Vec::new();
    for _ in 0..3 {
        let e = next_desk_event(&mut ann).await;
        got.push(if e["type"] == "typing" {
            json!(["typing", e["from"], e["active"]])
        } else {
            json!(["text", e["from"], e["text"]])
        });
    }
    assert_eq!(
        got,
        [
            json!(["typing", "support", true]),
            json!(["text", "support", "hello ann, how can I help?"]),
            json!(["typing", "support", false])
        ]
    );

    // The end user's typing and messages reach the winner only.
    ann.ws.send(WsMessage::Text(r#"{"type":"typing","to":"support","active":true}"#.into())).await.unwrap();
    a.expect_line("[typing] the end user is typing").await;
    ann.say("support", "my printer is on fire").await;
    a.expect_line("[msg] my printer is on fire").await;
    a.type_line("/end").await;
    loop {
        let e = next_desk_event(&mut ann).await;
        assert_ne!(e["text"], "not for you", "the loser reached the end user");
        if e["text"] == notice::ENDED {
            break;
        }
    }
    // Writing again rings again.
    ann.say("support", "one more thing").await;
    b.expect_line("[ring 2] someone wants support").await;
    assert!(!b.seen.iter().any(|l| l.contains("my printer")), "the loser saw the conversation");

    // History keeps the conversation.
    let (_, history) = ann.get("/api/history?with=support").await;
    let texts: Vec<&str> = history["messages"].as_array().unwrap().iter().filter_map(|m| m["text"].as_str()).collect();
    assert!(texts.contains(&"I need help") && texts.contains(&"hello ann, how can I help?"), "{texts:?}");
    hub.stop().await;
}

#[tokio::test]
async fn a_chatos_user_writes_to_support_and_gets_the_answer_as_an_spm() {
    let hub = start().await;
    let mut op = console(&hub, "op").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "hello?".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    op.expect_line("[ring 1]").await;
    op.type_line("/take 1").await;
    op.expect_line("[msg] hello?").await;
    let spm = |text: &str| Packet::Spm { sender: "support".into(), recipient: "os".into(), message: text.into() };
    os.expect(spm(notice::JOINED)).await;
    op.type_line("hi os").await;
    os.expect(spm("hi os")).await;
    // Nobody may take the desk's name.
    let mut fake = Raw::connect(hub.chatos).await;
    fake.send(&Packet::Cr { pseudo: "Support".into() }).await;
    fake.expect_error(ErrorCode::PseudoUnavailable).await;
    hub.stop().await;
}

/// On tokio's paused clock: the probe comes 7 s after the operator was last heard, its
/// removal 3 s later, to the millisecond; one that answers is still in the pool a minute on.
#[tokio::test(start_paused = true)]
async fn a_silent_operator_is_probed_at_7s_and_removed_at_10s_one_that_answers_stays() {
    let hub = start().await;
    let mut awake = NlRaw::join(&hub, "awake").await;
    let mut asleep = NlRaw::join(&hub, "asleep").await;
    let joined = tokio::time::Instant::now();
    // The awake operator answers every probe as it comes, and passes on anything else.
    let (others, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let answering = tokio::spawn(async move {
        while let Some(command) = awake.next().await {
            match command {
                Command::Probe { uuid } => awake.send(&Command::ProbeAck { uuid }).await,
                other => others.send(other).unwrap(),
            }
        }
    });
    assert_eq!(asleep.next().await, Some(Command::Probe { uuid: "asleep".into() }));
    assert_eq!(joined.elapsed(), Duration::from_secs(7), "probed after 7 s of silence");
    assert_eq!(asleep.next().await, None, "removed and closed");
    assert_eq!(joined.elapsed(), Duration::from_secs(10), "removed 3 s after the probe");
    tokio::time::sleep(Duration::from_secs(60)).await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "anyone?".into() }).await;
    assert!(matches!(heard.recv().await, Some(Command::Ring { .. })), "still in the pool, rung");
    answering.abort();
    hub.stop().await;
}

#[tokio::test]
async fn an_unanswered_ring_expires_and_the_end_user_is_told() {
    let hub = start_with(|c| c.ring_timeout_secs = 1).await;
    let mut op = NlRaw::join(&hub, "op").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "help".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let Some(Command::Ring { id, time, .. }) = op.next().await else { panic!("no ring") };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs_f64();
    assert!(time.is_some_and(|t| (now - 1.0..now + 3.0).contains(&t)), "time: when the ring expires");
    assert_eq!(op.next().await, Some(Command::RingAckAck { id, uuid: String::new() }));
    os.expect(Packet::Spm { sender: "support".into(), recipient: "os".into(), message: notice::NOBODY.into() }).await;
    // With nobody in the pool at all, the answer comes at once.
    op.send(&Command::Disconnect { uuid: "op".into() }).await;
    assert_eq!(op.next().await, None);
    os.send(&Packet::Spm { sender: "os".into(), recipient: "support".into(), message: "still?".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    os.expect(Packet::Spm { sender: "support".into(), recipient: "os".into(), message: notice::NOBODY.into() }).await;
    hub.stop().await;
}

#[tokio::test]
async fn plaintext_garbage_and_wrong_keys_change_nothing() {
    let hub = start_with(|c| c.doors.nl.max_line = 4096).await;
    let mut op = NlRaw::connect(&hub, "op").await;
    // A key too small to seal a 214-byte block, so that nothing could be sent to it, is
    // refused (and counted) rather than taken; so is a packet of more than 8 blocks (a good
    // key, padded) before the connection's operator is known.
    let small = RsaPrivateKey::new(&mut rand::rngs::OsRng, 1024).unwrap().to_public_key();
    op.send(&Command::Key { uuid: "op".into(), key: crypto::public_key_to_pem(&small) }).await;
    let padded = crypto::public_key_to_pem(&operator_key().0.to_public_key()) + &" ".repeat(8 * 214);
    op.send(&Command::Key { uuid: "op".into(), key: padded }).await;
    let refused = async {
        while hub.metrics().total(|d| d.bad_input.get()) < 2 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(10), refused).await.expect("the small key is refused");
    let wrong = crypto::Sealer::new(&crypto::generate(&mut rand::rngs::OsRng).to_public_key()).unwrap();
    let sealed_wrong = crypto::encrypt(&Command::ServerOnline.to_json(), &wrong);
    let mut lines: Vec<Vec<u8>> = vec![
        b"hello there\n".to_vec(),
        b"{\"type\":\"key\",\"UUID\":\"op\",\"key\":\"plaintext\"}\n".to_vec(),
        b"{\"messages\":\"nope\",\"UUID\":\"op\",\"to\":\"alice\"}\n".to_vec(),
        b"{\"messages\":[\"!!!\"],\"UUID\":\"op\",\"to\":\"alice\"}\n".to_vec(),
        RawPacket { messages: sealed_wrong, uuid: "op".into(), to: TO_SERVER.into() }.to_line(),
        RawPacket { messages: vec!["AAAA".into(); 300], uuid: "op".into(), to: TO_SERVER.into() }.to_line(),
        vec![0xff, 0xfe, 0x00, b'\n'],
        vec![b'x'; 10_000],
        b"\n\r\n".to_vec(),
    ];
    // A packet bounced back to the server ("to": "bob") is never decrypted.
    let bounced = crypto::encrypt("{\"type\":\"disconnect\",\"UUID\":\"op\"}", &op.server);
    lines.push(RawPacket { messages: bounced, uuid: "op".into(), to: "bob".into() }.to_line());
    for line in &lines {
        op.stream.write_all(line).await.unwrap();
    }
    op.stream.write_all(b"\n").await.unwrap();
    // A command that is valid JSON but not a command, then a key: the operator is in.
    let mut typeless = crypto::encrypt("{\"what\":1}", &op.server);
    typeless.truncate(1);
    op.stream
        .write_all(&RawPacket { messages: typeless, uuid: "op".into(), to: TO_SERVER.into() }.to_line())
        .await
        .unwrap();
    let key = crypto::public_key_to_pem(&operator_key().0.to_public_key());
    op.send(&Command::Key { uuid: "op".into(), key }).await;
    assert_eq!(op.next().await, Some(Command::ServerOnline));
    assert!(matches!(op.next().await, Some(Command::Status { .. })));
    assert!(hub.metrics().total(|d| d.bad_input.get()) >= 10, "garbage is counted");
    hub.stop().await;
}

#[tokio::test]
async fn server_key_prints_the_kept_public_key() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let run = || async {
        let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["nl", "server-key", "--data-dir"])
            .arg(&data)
            .output()
            .await
            .unwrap();
        assert!(out.status.success());
        String::from_utf8(out.stdout).unwrap()
    };
    let first = run().await;
    assert!(first.starts_with("-----BEGIN PUBLIC KEY-----"), "{first}");
    assert_eq!(run().await, first, "made once, then kept");
    crypto::public_key_from_pem(&first).unwrap();
}

#[tokio::test]
async fn a_console_waits_out_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = crate::jpc_client::free_port();
    let nl = format!("127.0.0.1:{port}");
    let flags = ["--nl-addr", nl.as_str()];
    let serve = || serve_process(&data, &flags);
    let (mut hub, _) = serve().await;
    let mut store = store::Store::open(&data).unwrap();
    let key = server::nl_server_key(&mut store).unwrap();
    let pem = dir.path().join("server.pem");
    std::fs::write(&pem, crypto::public_key_to_pem(&key.to_public_key())).unwrap();
    let mut op = Proc::spawn(&["nl", "--addr", &nl, "--server-key", pem.to_str().unwrap()], dir.path());
    op.expect_line("[server] online").await;
    hub.kill().await.unwrap();
    op.expect_line("[server] gone").await;
    let _hub = serve().await;
    op.expect_line("[server] online").await;
    op.expect_line("[status]").await;
}

#[tokio::test]
async fn on_a_terminal_the_console_says_typing_as_the_keys_come() {
    let hub = start().await;
    let pem = server_pem(&hub);
    // `script` gives the console a real terminal; what the test writes arrives as keys. On a
    // terminal `--plain` keeps line mode (the full screen's own test is in `tui.rs`).
    let console = format!(
        "{} nl --plain --addr {} --server-key {} --uuid op",
        env!("CARGO_BIN_EXE_switchboard"),
        hub.nl,
        pem.to_str().unwrap()
    );
    let mut op = Proc::spawn_program("script", &["-qfec", &console, "/dev/null"], &hub.data_dir());
    op.expect_line("[status]").await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    ann.say("support", "hello").await;
    op.expect_line("[ring 1]").await;
    op.type_raw("/take 1\r").await;
    op.expect_line("[msg] hello").await;
    loop {
        if next_desk_event(&mut ann).await["text"] == notice::JOINED {
            break;
        }
    }
    // Keys, no Enter: the end user already sees support typing.
    op.type_raw("Let me").await;
    assert_eq!(
        next_desk_event(&mut ann).await,
        json!({ "type": "typing", "from": "support", "to": "ann", "active": true })
    );
    op.type_raw(" look\r").await;
    let mut seen = Vec::new();
    while seen.last() != Some(&json!(["typing", false])) {
        let e = next_desk_event(&mut ann).await;
        seen.push(if e["type"] == "typing" { json!(["typing", e["active"]]) } else { json!(["text", e["text"]]) });
    }
    assert!(seen.contains(&json!(["text", "Let me look"])), "{seen:?}");
    op.type_raw("\x04").await; // Ctrl-D: the console leaves, and gives the terminal back
    let status = tokio::time::timeout(crate::support::WAIT, op.child.wait()).await.unwrap().unwrap();
    assert!(status.success());
    hub.stop().await;
}

#[tokio::test]
async fn operators_hear_every_service_go_offline_when_the_hub_stops() {
    let hub = start().await;
    let mut op = NlRaw::join(&hub, "op").await;
    let reading = tokio::spawn(async move {
        let mut seen = Vec::new();
        while let Some(c) = op.next().await {
            seen.push(c);
        }
        seen
    });
    let services = hub.services();
    hub.stop().await;
    let seen = reading.await.unwrap();
    let offline: Vec<proto::nlchat::Service> = services
        .iter()
        .map(|name| proto::nlchat::Service { name: name.to_string(), status: "offline".into() })
        .collect();
    assert_eq!(seen, [Command::Status { services: offline }], "then the connection closed");
}

#[tokio::test]
async fn the_web_hears_when_the_desk_opens_and_closes() {
    let hub = start().await;
    let mut ann = Web::sign_in(&hub, "ann").await;
    let mut op = NlRaw::join(&hub, "op").await;
    assert_eq!(ann.event().await, json!({ "type": "presence", "name": "support", "protocol": "desk", "online": true }));
    let _second = NlRaw::join(&hub, "op2").await; // the desk was open already: nothing new
    op.send(&Command::Disconnect { uuid: "op".into() }).await;
    assert_eq!(op.next().await, None);
    drop(_second);
    assert_eq!(
        ann.event().await,
        json!({ "type": "presence", "name": "support", "protocol": "desk", "online": false })
    );
    hub.stop().await;
}

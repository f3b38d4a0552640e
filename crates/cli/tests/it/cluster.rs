//! A cluster: a real `nats-server -js` on a loopback port and `switchboard serve` processes
//! joined to it, spoken to by real clients of every protocol. Users on different nodes meet
//! as on one; a name held on one node is refused on the others in each protocol's words, and
//! freed within 10 s of its node's `kill -9`.

use crate::support::{Hack, Raw, WAIT};
use crate::web::Web;
use proto::chathack::{ClientPacket, ServerPacket};
use proto::chatos::{ErrorCode, Packet};
use serde_json::json;
use std::net::SocketAddr;
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::time::timeout;

/// A `nats-server` with JetStream, on a loopback port, its store in a folder of its own.
pub struct Nats {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl Nats {
    pub async fn start() -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Nats::spawn(&dir, port).await;
        Nats { child, port, _dir: dir }
    }

    async fn spawn(dir: &tempfile::TempDir, port: u16) -> Child {
        let config = dir.path().join("nats.conf");
        let store = dir.path().join("jetstream");
        // Images cross nodes whole: up to 5.6 MB of base64 in one message.
        let text = format!("listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{ store_dir: {store:?} }}\n");
        std::fs::write(&config, text).unwrap();
        let mut child = Command::new("nats-server")
            .arg("-c")
            .arg(&config)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("nats-server (Debian's nats-server package; scripts/test installs it)");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let ready = async {
            while let Some(line) = lines.next_line().await.unwrap() {
                if line.contains("Server is ready") {
                    return;
                }
            }
            panic!("nats-server exited before it was ready");
        };
        timeout(WAIT, ready).await.expect("nats-server is not ready");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        child
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A `switchboard serve` process in the cluster, every front door on a loopback port.
pub struct Node {
    child: Child,
    pub chatos: SocketAddr,
    pub chathack: SocketAddr,
    pub web: SocketAddr,
    _data: tempfile::TempDir,
}

impl Node {
    pub async fn start(nats: &Nats, name: &str) -> Node {
        let data = tempfile::tempdir().unwrap();
        let any = "127.0.0.1:0";
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--cluster", &nats.url(), "--node-name", name])
            .args(["--chatos-addr", any, "--chathack-addr", any, "--jpc-addr", any, "--web-addr", any])
            .args(["--nl-addr", any])
            .arg("--data-dir")
            .arg(data.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut addrs = std::collections::HashMap::new();
        loop {
            let line = timeout(WAIT, lines.next_line()).await.unwrap().unwrap().expect("the node exited");
            if let Some((door, addr)) = line.strip_prefix("listening ").and_then(|rest| rest.split_once(' ')) {
                addrs.insert(door.to_owned(), addr.parse::<SocketAddr>().unwrap());
            }
            if line == "ready" {
                break;
            }
        }
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node { child, chatos: addrs["chatos"], chathack: addrs["chathack"], web: addrs["web"], _data: data }
    }

    /// `kill -9`: the node has no chance to say anything to anyone.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// Waits on `web`'s WebSocket for `name` to come online (or go, `online: false`).
async fn presence(web: &mut Web, name: &str, online: bool) {
    loop {
        let e = web.event().await;
        if e["type"] == "presence" && e["name"] == name && e["online"] == online {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_on_three_nodes_meet_as_on_one() {
    let nats = Nats::start().await;
    let (one, two, three) =
        (Node::start(&nats, "one").await, Node::start(&nats, "two").await, Node::start(&nats, "three").await);
    let mut bob = Web::sign_in_at(two.web, json!({ "name": "bob" })).await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    let mut carol = Hack::guest(three.chathack, "carol").await;
    // Bob's page hears who comes, wherever they are: then everyone knows everyone.
    presence(&mut bob, "alice", true).await;
    presence(&mut bob, "carol", true).await;

    // The lobby, from each node to the others.
    alice.send(&Packet::Sma { sender: "alice".into(), message: "hi from one".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    let m = bob.message().await;
    assert_eq!((m["from"].as_str(), m["to"].is_null(), m["text"].as_str()), (Some("alice"), true, Some("hi from one")));
    carol.expect(ServerPacket::Global { login: "alice".into(), message: "hi from one".into() }).await;
    bob.say("lobby", "hi from two").await;
    alice.expect(Packet::Sma { sender: "bob".into(), message: "hi from two".into() }).await;
    carol.expect(ServerPacket::Global { login: "bob".into(), message: "hi from two".into() }).await;
    assert_eq!(bob.message().await["text"], "hi from two", "a web page sees its own lobby message");
    carol.send(&ClientPacket::Global { login: "carol".into(), message: "hi from three".into() }).await;
    carol.expect(ServerPacket::Global { login: "carol".into(), message: "hi from three".into() }).await;
    alice.expect(Packet::Sma { sender: "carol".into(), message: "hi from three".into() }).await;
    assert_eq!(bob.message().await["text"], "hi from three");

    // Direct messages, one to two and back, answered as on one node.
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "BOB".into(), message: "psst".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    let m = bob.message().await;
    assert_eq!((m["from"].as_str(), m["to"].as_str(), m["text"].as_str()), (Some("alice"), Some("bob"), Some("psst")));
    bob.say("Alice", "back").await;
    alice.expect(Packet::Spm { sender: "bob".into(), recipient: "alice".into(), message: "back".into() }).await;
    assert_eq!(bob.message().await["text"], "back", "a web page sees what it sent");
    // ChatHack carries no direct messages: unreachable from another node too.
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "carol".into(), message: "x".into() }).await;
    alice.expect_error(ErrorCode::UnreachableUser).await;
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "nobody".into(), message: "x".into() }).await;
    alice.expect_error(ErrorCode::UnreachableUser).await;

    // One namespace: a name held on one node is refused on the others, in their words.
    let mut again = Raw::connect(two.chatos).await;
    again.send(&Packet::Cr { pseudo: "ALICE".into() }).await;
    again.expect_error(ErrorCode::PseudoUnavailable).await;
    let mut hack = Hack::connect(one.chathack).await;
    hack.send(&ClientPacket::Login { login: "Carol".into() }).await;
    hack.expect(ServerPacket::Ack(4)).await;
    let http = reqwest::Client::new();
    let taken = http.post(format!("http://{}/api/session", three.web)).json(&json!({ "name": "bob" }));
    let (status, body) = crate::web::answer(taken.send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (409, Some("name_taken")), "{body}");
    // A look-alike too (Cyrillic а).
    again.send(&Packet::Cr { pseudo: "\u{430}lice".into() }).await;
    again.expect_error(ErrorCode::PseudoUnavailable).await;
    // And once its holder leaves, the name is free everywhere.
    drop(alice);
    presence(&mut bob, "alice", false).await;
    again.send(&Packet::Cr { pseudo: "alice".into() }).await;
    again.expect_error(ErrorCode::Ok).await;

    // The bus, as /metrics shows it on node one: connected, two other nodes heard, its
    // lobby message and direct message published, the others' received.
    let (status, text) = crate::metrics::get(&format!("http://{}/metrics", one.web)).await;
    assert_eq!(status, 200);
    let m = crate::metrics::parse(&text);
    assert_eq!(m["switchboard_bus_connected"], 1.0, "{text}");
    // Every node beats once a second and was heard by the time its users were.
    assert_eq!(m["switchboard_bus_nodes"], 2.0, "{text}");
    assert!(m["switchboard_bus_published_total"] >= 2.0, "{text}");
    assert!(m["switchboard_bus_received_total"] >= 3.0, "{text}");
    assert_eq!(m["switchboard_bus_bad_messages_total"], 0.0, "{text}");
    assert!(m["switchboard_bus_lag_seconds_count"] >= 2.0, "two lobby messages came from the others: {text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_node_frees_its_names_within_ten_seconds() {
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut watcher = Web::sign_in_at(two.web, json!({ "name": "watcher" })).await;
    let _alice = Raw::login(one.chatos, "alice").await;
    presence(&mut watcher, "alice", true).await;
    let mut again = Raw::connect(two.chatos).await;
    again.send(&Packet::Cr { pseudo: "alice".into() }).await;
    again.expect_error(ErrorCode::PseudoUnavailable).await;

    let killed = Instant::now();
    one.kill().await;
    // Node two sees node one gone, and alice with it.
    timeout(Duration::from_secs(10), presence(&mut watcher, "alice", false))
        .await
        .expect("alice still held after 10 s");
    again.send(&Packet::Cr { pseudo: "alice".into() }).await;
    again.expect_error(ErrorCode::Ok).await;
    assert!(killed.elapsed() < Duration::from_secs(10), "took {:?}", killed.elapsed());
}

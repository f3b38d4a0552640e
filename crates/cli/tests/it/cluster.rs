//! A cluster: a real `nats-server -js` on a loopback port and `switchboard serve` processes
//! joined to it, spoken to by real clients of every protocol. Users on different nodes meet
//! as on one; a name held on one node is refused on the others in each protocol's words, and
//! freed within 10 s of its node's `kill -9`.

use crate::support::{Hack, Raw, WAIT};
use crate::web::Web;
use proto::chathack::{ClientPacket, ServerPacket};
use proto::chatos::{ErrorCode, Packet};
use serde_json::{json, Value};
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
    dir: tempfile::TempDir,
    /// With TLS: the CA that signed its certificate.
    pub ca: Option<std::path::PathBuf>,
    tls: Option<(std::path::PathBuf, std::path::PathBuf)>,
}

impl Nats {
    pub async fn start() -> Nats {
        Nats::start_with(None).await
    }

    /// With TLS, a certificate for 127.0.0.1 from `pki`.
    pub async fn start_tls(pki: &crate::tls::Pki) -> Nats {
        Nats::start_with(Some(pki)).await
    }

    async fn start_with(pki: Option<&crate::tls::Pki>) -> Nats {
        let dir = tempfile::tempdir().unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let tls = pki.map(|pki| pki.issue("nats", &["127.0.0.1"]));
        let child = Nats::spawn(&dir, port, tls.as_ref()).await;
        Nats { child, port, dir, ca: pki.map(|pki| pki.ca.clone()), tls }
    }

    async fn spawn(
        dir: &tempfile::TempDir,
        port: u16,
        tls: Option<&(std::path::PathBuf, std::path::PathBuf)>,
    ) -> Child {
        let config = dir.path().join("nats.conf");
        let store = dir.path().join("jetstream");
        // Images cross nodes whole: up to 5.6 MB of base64 in one message.
        let mut text = format!("listen: 127.0.0.1:{port}\nmax_payload: 8MB\njetstream {{ store_dir: {store:?} }}\n");
        if let Some((cert, key)) = tls {
            text.push_str(&format!("tls {{ cert_file: {cert:?}, key_file: {key:?} }}\n"));
        }
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

    /// `kill -9`, then the same server again: same port, same JetStream store.
    pub async fn kill(&mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }

    pub async fn restart(&mut self) {
        self.child = Nats::spawn(&self.dir, self.port, self.tls.as_ref()).await;
    }

    pub fn url(&self) -> String {
        let scheme = if self.tls.is_some() { "tls" } else { "nats" };
        format!("{scheme}://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

/// A `switchboard serve` process in the cluster, every front door on a loopback port. Its
/// logs go on to the test's stderr, and to whoever waits for a line.
pub struct Node {
    child: Child,
    logs: tokio::sync::broadcast::Sender<String>,
    pub chatos: SocketAddr,
    pub chathack: SocketAddr,
    pub jpc: SocketAddr,
    pub web: SocketAddr,
    pub nl: SocketAddr,
    pub irc: SocketAddr,
    /// Where its `/metrics` are.
    pub metrics: SocketAddr,
    _data: tempfile::TempDir,
}

impl Node {
    pub async fn start(nats: &Nats, name: &str) -> Node {
        Node::start_with(nats, name, &[]).await
    }

    /// With more flags for `serve`.
    pub async fn start_with(nats: &Nats, name: &str, flags: &[&str]) -> Node {
        Node::start_via(nats, &nats.url(), name, flags).await
    }

    /// Joined to `nats` at `url`: through a [`SlowLink`], say.
    pub async fn start_via(nats: &Nats, url: &str, name: &str, flags: &[&str]) -> Node {
        let data = tempfile::tempdir().unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
            .args(["serve", "--loopback", "--cluster", url, "--node-name", name])
            .args(nats.ca.iter().flat_map(|ca| [std::ffi::OsStr::new("--cluster-ca"), ca.as_os_str()]))
            .args(flags)
            .arg("--data-dir")
            .arg(data.path())
            .env("NO_COLOR", "1")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (logs, _) = tokio::sync::broadcast::channel(1024);
        let mut errors = BufReader::new(child.stderr.take().unwrap()).lines();
        let (tx, label) = (logs.clone(), name.to_owned());
        tokio::spawn(async move {
            while let Ok(Some(line)) = errors.next_line().await {
                eprintln!("[{label}] {line}");
                let _ = tx.send(line);
            }
        });
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addrs =
            timeout(WAIT, server::Addresses::read(&mut lines)).await.unwrap().unwrap().expect("the node exited");
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        Node {
            child,
            logs,
            chatos: addrs.of("chatos"),
            chathack: addrs.of("chathack"),
            jpc: addrs.of("jpc"),
            web: addrs.of("web"),
            nl: addrs.of("nl"),
            irc: addrs.of("irc"),
            metrics: addrs.of("metrics"),
            _data: data,
        }
    }

    /// Its log lines from now on.
    pub fn logs(&self) -> tokio::sync::broadcast::Receiver<String> {
        self.logs.subscribe()
    }

    /// `kill -9`: the node has no chance to say anything to anyone.
    pub async fn kill(mut self) {
        self.child.start_kill().unwrap();
        self.child.wait().await.unwrap();
    }
}

/// A TCP relay to a loopback port whose client-to-server direction can be made late: each
/// chunk a client sends is passed on `delay` after it came (in order), while the server's
/// bytes pass at once. A link where the client's last bytes have left it but have not yet
/// reached the server, as on a loaded machine or a long way.
pub struct SlowLink {
    pub port: u16,
    delay_ms: std::sync::Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl SlowLink {
    pub async fn start(to: u16) -> SlowLink {
        use std::sync::atomic::Ordering;
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let delay_ms = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
        let delay = delay_ms.clone();
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = tokio::net::TcpStream::connect(("127.0.0.1", to)).await else { continue };
                let (mut client_in, mut client_out) = client.into_split();
                let (mut server_in, mut server_out) = server.into_split();
                let (late, mut due) = tokio::sync::mpsc::unbounded_channel::<(tokio::time::Instant, Vec<u8>)>();
                let delay = delay.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0; 64 * 1024];
                    while let Ok(n @ 1..) = client_in.read(&mut buf).await {
                        let at = tokio::time::Instant::now() + Duration::from_millis(delay.load(Ordering::Relaxed));
                        if late.send((at, buf[..n].to_vec())).is_err() {
                            return;
                        }
                    }
                });
                tokio::spawn(async move {
                    while let Some((at, bytes)) = due.recv().await {
                        tokio::time::sleep_until(at).await;
                        if server_out.write_all(&bytes).await.is_err() {
                            return;
                        }
                    }
                    let _ = server_out.shutdown().await;
                });
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut server_in, &mut client_out).await;
                    let _ = client_out.shutdown().await;
                });
            }
        });
        SlowLink { port, delay_ms, task }
    }

    /// What the clients send from now on reaches the server `delay` late.
    pub fn slow_down(&self, delay: Duration) {
        self.delay_ms.store(delay.as_millis() as u64, std::sync::atomic::Ordering::Relaxed);
    }

    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for SlowLink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Waits for a log line that holds `what`.
pub async fn logged(logs: &mut tokio::sync::broadcast::Receiver<String>, what: &str) {
    let wait = async {
        loop {
            match logs.recv().await {
                Ok(line) if line.contains(what) => return,
                Ok(_) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(e) => panic!("the node's log ended: {e}"),
            }
        }
    };
    timeout(WAIT, wait).await.unwrap_or_else(|_| panic!("the node never logged {what:?}"));
}

/// Runs `switchboard ARGS` with `stdin`: its success, stdout and stderr.
async fn switchboard(args: &[&str], stdin: &str) -> (bool, String, String) {
    use tokio::io::AsyncWriteExt;
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).await.unwrap();
    let out = timeout(WAIT, child.wait_with_output()).await.unwrap().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

/// Signs a web user out (its name is free at once, with no lingering).
async fn sign_out(web: Web) {
    let r = web.http.delete(format!("{}/api/session", web.base)).bearer_auth(&web.token).send().await.unwrap();
    assert!(r.status().is_success(), "{}", r.status());
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
    // ChatHack's direct connections, brokered on node three between two of its users.
    let mut dave = Hack::guest(three.chathack, "dave").await;
    carol.send(&ClientPacket::Ask { sender: "carol".into(), receiver: "dave".into() }).await;
    dave.expect(ServerPacket::Asked { login: "carol".into() }).await;
    let address: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    dave.send(&ClientPacket::Accept { sender: "dave".into(), receiver: "carol".into(), port: 40404, address, id: -7 })
        .await;
    carol.expect(ServerPacket::Accepted { login: "dave".into(), port: 40404, address, id: -7 }).await;

    // The desk: its operator on node three, Alice writing to it from node one.
    let dir = tempfile::tempdir().unwrap();
    let (ok, pem, err) = switchboard(&["nl", "server-key", "--cluster", &nats.url()], "").await;
    assert!(ok, "{err}");
    let pem_file = dir.path().join("server.pem");
    std::fs::write(&pem_file, pem).unwrap();
    let addr = three.nl.to_string();
    let mut op = crate::support::Proc::spawn(
        &["nl", "--addr", &addr, "--server-key", pem_file.to_str().unwrap(), "--uuid", "op"],
        dir.path(),
    );
    op.expect_line("[server] online").await;
    presence(&mut bob, "support", true).await; // node two hears node three's desk open
                                               // Alice's node must have heard it too before she writes, or she is told nobody is there;
                                               // its web users see the desk online, in their list as in their events.
    let mut observer = Web::sign_in_at(one.web, json!({ "name": "observer" })).await;
    let desk_online =
        |users: &Value| users["users"][0] == json!({ "name": "support", "protocol": "desk", "online": true });
    if !desk_online(&observer.get("/api/users").await.1) {
        presence(&mut observer, "support", true).await;
    }
    let (_, users) = observer.get("/api/users").await;
    assert!(desk_online(&users), "{users}");
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "support".into(), message: "hello?".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    let ring = op.expect_line("[ring ").await;
    let id = ring.trim_start_matches("[ring ").split(']').next().unwrap().to_owned();
    op.type_line(&format!("/take {id}")).await;
    op.expect_line("[msg] hello?").await;
    let spm = |text: &str| Packet::Spm { sender: "support".into(), recipient: "alice".into(), message: text.into() };
    alice.expect(spm(hub::notice::JOINED)).await;
    op.type_line("hi alice").await;
    alice.expect(spm("hi alice")).await;
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "support".into(), message: "thanks".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    op.expect_line("[msg] thanks").await;
    op.type_line("/end").await;
    alice.expect(spm(hub::notice::ENDED)).await;

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
    let (status, text) = crate::metrics::get(&format!("http://{}/metrics", one.metrics)).await;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_that_joins_later_knows_who_is_already_there() {
    let nats = Nats::start().await;
    let one = Node::start(&nats, "one").await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    let two = Node::start(&nats, "two").await;
    let mut dan = Raw::login(two.chatos, "dan").await;
    dan.send(&Packet::Spm { sender: "dan".into(), recipient: "alice".into(), message: "you were here first".into() })
        .await;
    dan.expect_error(ErrorCode::Ok).await;
    alice
        .expect(Packet::Spm { sender: "dan".into(), recipient: "alice".into(), message: "you were here first".into() })
        .await;
}

/// Logs `login` in over ChatHack with `password` on `addr`; the answer's ACK.
async fn hack_login(addr: SocketAddr, login: &str, password: &str) -> (Hack, Option<ServerPacket>) {
    let mut hack = Hack::connect(addr).await;
    hack.send(&ClientPacket::LoginWithPassword { login: login.into(), password: password.into() }).await;
    let answer = hack.next().await;
    (hack, answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_added_to_the_cluster_signs_in_everywhere_and_its_queue_outlives_the_node_it_came_by() {
    let nats = Nats::start().await;
    let (one, two, three) =
        (Node::start(&nats, "one").await, Node::start(&nats, "two").await, Node::start(&nats, "three").await);
    let mut logs = [one.logs(), two.logs(), three.logs()];
    let url = nats.url();
    let (ok, out, err) = switchboard(&["accounts", "--cluster", &url, "add", "Bob", "--password-stdin"], "pw\n").await;
    assert!(ok, "{err}");
    assert_eq!(out, "added account Bob\n");
    // Checked as on one node: taken, and look-alikes.
    let (ok, _, err) = switchboard(&["accounts", "--cluster", &url, "add", "bob", "--password-stdin"], "x\n").await;
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, _, err) =
        switchboard(&["accounts", "--cluster", &url, "add", "b\u{43e}b", "--password-stdin"], "x\n").await;
    assert!(!ok && err.contains("looks like"), "{err}");
    let (ok, out, _) = switchboard(&["accounts", "--cluster", &url, "list"], "").await;
    assert!(ok && out.starts_with("Bob\t"), "{out}");
    for log in &mut logs {
        logged(log, "accounts or white-list changed in the cluster").await;
    }

    // Bob signs in on every node; a wrong password nowhere; a guest may not take his name.
    let mut watcher = Web::sign_in_at(three.web, json!({ "name": "watcher" })).await;
    for node in [&one, &two] {
        let (_, answer) = hack_login(node.chathack, "bob", "wrong").await;
        assert_eq!(answer, Some(ServerPacket::Ack(2)));
        let (hack, answer) = hack_login(node.chathack, "bob", "pw").await;
        assert_eq!(answer, Some(ServerPacket::Ack(3)));
        presence(&mut watcher, "Bob", true).await;
        drop(hack);
        presence(&mut watcher, "Bob", false).await;
    }
    let mut guest = Raw::connect(two.chatos).await;
    guest.send(&Packet::Cr { pseudo: "bob".into() }).await;
    guest.expect_error(ErrorCode::PseudoUnavailable).await;

    // Queued through node one, answered once JetStream has it; node one dies; Bob signs in
    // on node three and gets them all, in order.
    let mut os = Raw::login(one.chatos, "os").await;
    for i in 0..20 {
        os.send(&Packet::Spm { sender: "os".into(), recipient: "bob".into(), message: format!("q{i}") }).await;
        os.expect_error(ErrorCode::Ok).await;
    }
    one.kill().await;
    let mut bob = Web::sign_in_at(three.web, json!({ "name": "bob", "password": "pw" })).await;
    for i in 0..20 {
        let m = bob.message().await;
        assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("os"), Some(format!("q{i}").as_str())), "{m}");
        assert_eq!(m["replayed"], true, "{m}");
    }
    // And his history on any node holds them, with the same ids.
    let (status, history) = bob.get("/api/history?with=os").await;
    assert_eq!(status, 200, "{history}");
    let texts: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, (0..20).map(|i| format!("q{i}")).collect::<Vec<_>>());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_killed_in_a_burst_of_queued_messages_loses_none_acknowledged_and_repeats_none() {
    let nats = Nats::start().await;
    // An account a round: a message sent as one round's reader signs out would be delivered
    // to its last moments, not queued (as on one node), and would not be the next round's.
    for round in 0..3 {
        let (ok, _, err) = switchboard(
            &["accounts", "--cluster", &nats.url(), "add", &format!("bob{round}"), "--password-stdin"],
            "pw\n",
        )
        .await;
        assert!(ok, "{err}");
    }
    let home = Node::start(&nats, "home").await;
    let mut sentinel = Raw::login(home.chatos, "sentinel").await;
    const BURST: usize = 2000;
    for round in 0..3 {
        // With no message rate: the burst is in the hub at once.
        let sender = Node::start_with(&nats, &format!("sender{round}"), &["--msg-rate", "0"]).await;
        // A name of its own each round: the dead node's claims are freed only 6 s later.
        let os_name = format!("os{round}");
        let bob = format!("bob{round}");
        let mut os = Raw::login(sender.chatos, &os_name).await;
        // The whole burst at once, then the answers: the node dies once a few hundred are in.
        let mut burst = Vec::new();
        for i in 0..BURST {
            let spm =
                Packet::Spm { sender: os_name.clone(), recipient: bob.clone(), message: format!("r{round} m{i}") };
            burst.extend_from_slice(&spm.to_bytes());
        }
        os.send_bytes(&burst).await;
        let mut acknowledged = 0;
        while acknowledged < 300 {
            os.expect_error(ErrorCode::Ok).await;
            acknowledged += 1;
        }
        sender.kill().await;
        // Every answer written before the kill counts: each one OK said that message is kept.
        while let Some(answer) = os.next().await {
            assert_eq!(answer, Packet::error(ErrorCode::Ok));
            acknowledged += 1;
        }
        let mut reader = Web::sign_in_at(home.web, json!({ "name": bob, "password": "pw" })).await;
        sentinel.send(&Packet::Spm { sender: "sentinel".into(), recipient: bob.clone(), message: "end".into() }).await;
        sentinel.expect_error(ErrorCode::Ok).await;
        let mut got = Vec::new();
        loop {
            let m = reader.message().await;
            if m["text"] == "end" {
                break;
            }
            got.push(m["text"].as_str().unwrap().to_owned());
        }
        eprintln!("round {round}: {acknowledged} acknowledged to the sender, {} kept of {BURST}", got.len());
        // In order from the first, none missing, none twice, none of an earlier round.
        assert!(got.len() >= acknowledged, "round {round}: {} of {acknowledged} acknowledged", got.len());
        let want: Vec<String> = (0..got.len()).map(|i| format!("r{round} m{i}")).collect();
        assert_eq!(got, want, "round {round}");
        sign_out(reader).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_single_node_s_data_folder_is_imported_into_a_cluster() {
    // A single node's store: an account, a device, history, and a message still queued.
    let data = tempfile::tempdir().unwrap();
    {
        let mut store = store::Store::open(data.path()).unwrap();
        store.add_account("Ann", "pw").unwrap();
        store.whitelist_add("kettle", 0x0a0b0c0d0e0f).unwrap();
        let record = |body: &str, offline: bool| store::Record {
            at_ms: 1,
            sender: "zed".into(),
            sender_guest: None,
            recipient: Some("Ann".into()),
            recipient_guest: None,
            kind: 0,
            body: body.into(),
            offline,
        };
        store.append(&[record("read long ago", false), record("still waiting", true)]).unwrap();
        let key = concat!(env!("CARGO_MANIFEST_DIR"), "/../proto/src/nlchat/testdata/server-key.pem");
        store.key_or_insert("nl", &std::fs::read_to_string(key).unwrap()).unwrap();
    }
    let nats = Nats::start().await;
    let dir = data.path().to_str().unwrap();
    let (ok, out, err) = switchboard(&["cluster", "import", "--data-dir", dir, "--cluster", &nats.url()], "").await;
    assert!(ok, "{err}");
    assert_eq!(
        out,
        "accounts: 1 imported, 0 skipped\nwhite-list: 1 imported, 0 skipped\n\
         NL key: imported (operators keep the server key they know)\n\
         history: 2 messages imported, 1 of them still queued for their recipients\n"
    );
    // Again: nothing twice, and the cluster's NL key is the one imported.
    let (ok, out, _) = switchboard(&["cluster", "import", "--data-dir", dir, "--cluster", &nats.url()], "").await;
    assert!(ok && out.contains("accounts: 0 imported, 1 skipped") && out.contains("history: not imported"), "{out}");
    assert!(out.contains("NL key: imported"), "{out}");
    let (ok, out, _) = switchboard(&["whitelist", "--cluster", &nats.url(), "list"], "").await;
    assert_eq!((ok, out.as_str()), (true, "kettle\t0a:0b:0c:0d:0e:0f\t11042563100175\n"));

    let node = Node::start(&nats, "one").await;
    let mut ann = Web::sign_in_at(node.web, json!({ "name": "ann", "password": "pw" })).await;
    let m = ann.message().await;
    assert_eq!(
        (m["from"].as_str(), m["text"].as_str(), m["replayed"].as_bool()),
        (Some("zed"), Some("still waiting"), Some(true))
    );
    let (_, history) = ann.get("/api/history?with=zed").await;
    let texts: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["read long ago", "still waiting"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_nats_is_away_nodes_serve_their_own_refuse_durable_work_and_come_back_by_themselves() {
    let mut nats = Nats::start().await;
    let (ok, _, err) =
        switchboard(&["accounts", "--cluster", &nats.url(), "add", "dora", "--password-stdin"], "pw\n").await;
    assert!(ok, "{err}");
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut carol = Web::sign_in_at(two.web, json!({ "name": "carol" })).await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    let mut bob = Raw::login(one.chatos, "bob").await;
    presence(&mut carol, "bob", true).await;
    let (mut logs_one, mut logs_two) = (one.logs(), two.logs());

    nats.kill().await;
    logged(&mut logs_one, "disconnected from the cluster").await;
    logged(&mut logs_two, "disconnected from the cluster").await;
    // Node one's own users: the lobby and direct messages among them go on.
    alice.send(&Packet::Sma { sender: "alice".into(), message: "still here".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    bob.expect(Packet::Sma { sender: "alice".into(), message: "still here".into() }).await;
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "bob".into(), message: "psst".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    bob.expect(Packet::Spm { sender: "alice".into(), recipient: "bob".into(), message: "psst".into() }).await;
    // What needs the cluster is refused, never falsely answered OK: a message to queue for
    // an account, one for another node's user, a new name.
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "dora".into(), message: "later".into() }).await;
    alice.expect_error(ErrorCode::UnreachableUser).await;
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "carol".into(), message: "hi".into() }).await;
    alice.expect_error(ErrorCode::UnreachableUser).await;
    let mut eve = Raw::connect(one.chatos).await;
    eve.send(&Packet::Cr { pseudo: "eve".into() }).await;
    eve.expect_error(ErrorCode::PseudoUnavailable).await;
    let (_, text) = crate::metrics::get(&format!("http://{}/metrics", one.metrics)).await;
    let m = crate::metrics::parse(&text);
    assert_eq!(m["switchboard_bus_connected"], 0.0, "{text}");
    assert!(m["switchboard_bus_dropped_total"] >= 1.0, "{text}");
    assert!(m["switchboard_store_failed_total"] >= 1.0, "{text}");

    // NATS comes back: the nodes reconnect by themselves, and the lobby crosses again.
    nats.restart().await;
    logged(&mut logs_one, "connected to the cluster").await;
    logged(&mut logs_two, "connected to the cluster").await;
    eprintln!("test: NATS is back; alice says \"back\" in the lobby on node one");
    alice.send(&Packet::Sma { sender: "alice".into(), message: "back".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    loop {
        let m = carol.message().await;
        if m["text"] == "back" {
            assert_eq!(m["from"], "alice");
            break;
        }
        // What node one said while NATS was away may come first, late, never after.
        assert_eq!(m["text"], "still here", "{m}");
    }
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "dora".into(), message: "later".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    // The lobby's history, on any node, has what was said while NATS was away: node one
    // wrote it to the log once it could, before the message it just queued.
    let (_, history) = carol.get("/api/history").await;
    let texts: Vec<&str> =
        history["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(texts, ["still here", "back"]);
    eprintln!("test: alice writes to carol on node two");
    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "carol".into(), message: "hi".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    assert_eq!(carol.message().await["text"], "hi");
    eve.send(&Packet::Cr { pseudo: "eve".into() }).await;
    eve.expect_error(ErrorCode::Ok).await;
}

/// An IRC user on one node: `#lobby` names who hears the lobby on every node, and the lobby
/// and direct messages cross both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_irc_user_on_one_node_meets_the_users_of_another() {
    use crate::irc::Irc;
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut pia = Web::sign_in_at(one.web, json!({ "name": "pia" })).await;
    let mut wendy = Web::sign_in_at(two.web, json!({ "name": "wendy" })).await;
    let mut os = Raw::login(two.chatos, "os").await;
    // Node one knows both once its web user has heard of them.
    presence(&mut pia, "wendy", true).await;
    presence(&mut pia, "os", true).await;
    let mut ann = Irc::connect(one.irc).await;
    ann.send("NICK ann\r\nUSER ann 0 * :Ann\r\n").await;
    let burst = ann.until(" 366 ann #lobby ").await;
    let names = burst.iter().find(|l| l.contains(" 353 ")).unwrap();
    assert_eq!(names, ":switchboard 353 ann = #lobby :pia ann os wendy", "{burst:#?}");
    presence(&mut wendy, "ann", true).await;

    ann.send("PRIVMSG #lobby :hello node two\r\n").await;
    os.expect(Packet::Sma { sender: "ann".into(), message: "hello node two".into() }).await;
    let m = wendy.message().await;
    assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("ann"), Some("hello node two")));
    ann.send("PRIVMSG wendy :just you\r\n").await;
    let m = wendy.message().await;
    assert_eq!(
        (m["from"].as_str(), m["to"].as_str(), m["text"].as_str()),
        (Some("ann"), Some("wendy"), Some("just you"))
    );
    wendy.say("lobby", "hi from node two").await;
    assert_eq!(ann.expect("PRIVMSG #lobby").await, ":wendy!wendy@switchboard PRIVMSG #lobby :hi from node two");
    wendy.say("ann", "back to you").await;
    assert_eq!(ann.expect("PRIVMSG ann").await, ":wendy!wendy@switchboard PRIVMSG ann :back to you");
}

/// A node that comes back says it is connected only once NATS has its subscriptions again:
/// what another node says right after is heard, even where the node's renewed
/// subscriptions take a while to reach the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_back_from_an_outage_hears_the_lobby_as_soon_as_it_says_it_is_connected() {
    let mut nats = Nats::start().await;
    let link = SlowLink::start(nats.port).await;
    let one = Node::start(&nats, "one").await;
    let two = Node::start_via(&nats, &link.url(), "two", &[]).await;
    let mut carol = Web::sign_in_at(two.web, json!({ "name": "carol" })).await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    presence(&mut carol, "alice", true).await;
    let (mut logs_one, mut logs_two) = (one.logs(), two.logs());

    nats.kill().await;
    logged(&mut logs_one, "disconnected from the cluster").await;
    logged(&mut logs_two, "disconnected from the cluster").await;
    link.slow_down(Duration::from_millis(500));
    nats.restart().await;
    logged(&mut logs_one, "connected to the cluster").await;
    logged(&mut logs_two, "connected to the cluster").await;
    alice.send(&Packet::Sma { sender: "alice".into(), message: "back".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    let m = carol.message().await;
    assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("alice"), Some("back")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mesh_bridged_by_one_node_and_a_device_on_another_are_reached_from_everywhere() {
    use crate::jpc::Jpc;
    use proto::jpc::{Message, IMAGE, TEXT};
    const LINDSAY: u64 = 0x0a0b0c0d0e0f;
    let nats = Nats::start().await;
    let (ok, _, err) =
        switchboard(&["whitelist", "--cluster", &nats.url(), "add", "lindsay", "0a:0b:0c:0d:0e:0f"], "").await;
    assert!(ok, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let p1 = crate::jpc_client::free_port();
    let mut ann = crate::peer::peer("ann", p1, None, dir.path()).await;
    let join = format!("127.0.0.1:{p1}");
    let bridge = ["--peerchat-addr", "127.0.0.1:0", "--peerchat-join", join.as_str(), "--peerchat-name", "hub"];
    let two = Node::start(&nats, "two").await;
    let mut wendy = Web::sign_in_at(two.web, json!({ "name": "wendy" })).await;
    let one = Node::start_with(&nats, "one", &bridge).await;
    ann.expect_line("[join] hub").await;
    presence(&mut wendy, "ann@peerchat", true).await;

    // The mesh, bridged by node one, and the lobby on node two.
    ann.type_line("hello from the mesh").await;
    let m = wendy.message().await;
    assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("ann@peerchat"), Some("hello from the mesh")));
    wendy.say("lobby", "hi from node two").await;
    ann.expect_line("<hub> wendy: hi from node two").await;

    // A device on node two, white-listed in the cluster: reached from node one by ChatOS
    // and by a web page's image, and answering back.
    let mut lindsay = Jpc::hello_at(two.jpc, LINDSAY, "lindsay").await;
    let mut os = Raw::login(one.chatos, "os").await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "Lindsay".into(), message: "from node one".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let tell =
        Message::Tell { sender: "os".into(), recipient: "lindsay".into(), kind: TEXT, message: "from node one".into() };
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell));
    let pia = Web::sign_in_at(one.web, json!({ "name": "pia" })).await;
    use base64::Engine;
    let png = base64::engine::general_purpose::STANDARD.encode(crate::web::PIXEL_PNG);
    let (status, body) = pia.post("/api/messages", json!({ "to": "lindsay", "image": png })).await;
    assert_eq!(status, 200, "{body}");
    let image = Message::Tell { sender: "pia".into(), recipient: "lindsay".into(), kind: IMAGE, message: png };
    assert_eq!(lindsay.next_not_heartbeat().await, Some(image));
    lindsay.send(&Message::Send { recipient: "os".into(), kind: TEXT, message: "from jpc".into() }).await;
    os.expect(Packet::Spm { sender: "lindsay".into(), recipient: "os".into(), message: "from jpc".into() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_private_link_between_two_nodes_relays_a_megabyte_each_way_and_closes_half_by_half() {
    use proto::chatos::LinkKey;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut watcher = Web::sign_in_at(one.web, json!({ "name": "watcher" })).await;
    let mut b = Raw::login(two.chatos, "b").await;
    presence(&mut watcher, "b", true).await;
    let mut a = Raw::login(one.chatos, "a").await;
    let k = LinkKey { sender: "a".into(), recipient: "b".into(), password: -77 };
    // Refused across nodes in ChatOS's words: nobody called ghost, and B asking itself.
    let ghost = LinkKey { sender: "a".into(), recipient: "ghost".into(), password: 1 };
    a.send(&Packet::TcpAsk(ghost.clone())).await;
    a.expect_error(ErrorCode::UnreachableUser).await;
    a.expect(Packet::TcpAbort(ghost)).await;

    a.send(&Packet::TcpAsk(k.clone())).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(k.clone())).await;
    let mut b_link = Raw::connect(two.chatos).await;
    b_link.send(&Packet::TcpAccept(k.clone())).await;
    b_link.expect_error(ErrorCode::Ok).await;
    a.expect(Packet::TcpAccept(k.clone())).await;
    // B writes at once, before A has even connected: nothing of it may be lost.
    b_link.send_bytes(b"b first ").await;
    let mut a_link = Raw::connect(one.chatos).await;
    let mut first = Packet::TcpConnect(k.clone()).to_bytes().to_vec();
    first.extend_from_slice(b"early ");
    a_link.send_bytes(&first).await;
    a_link.expect_error(ErrorCode::Ok).await;

    // A megabyte each way at once: more than the window, so each side waits for the other's
    // acknowledgements.
    let (mut ar, mut aw, mut br, mut bw) =
        crate::chatos_links::megabyte_each_way(a_link, b_link, b"early ", b"b first ").await;

    // A is done writing: B reads the end of A's way, and may still answer.
    aw.shutdown().await.unwrap();
    let mut rest = Vec::new();
    timeout(WAIT, br.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert!(rest.is_empty());
    bw.write_all(b"last words").await.unwrap();
    bw.shutdown().await.unwrap();
    timeout(WAIT, ar.read_to_end(&mut rest)).await.unwrap().unwrap();
    assert_eq!(rest, b"last words");

    // Both ways over: the pair is free again on both nodes.
    let again = LinkKey { password: 2, ..k };
    let freed = async {
        loop {
            a.send(&Packet::TcpAsk(again.clone())).await;
            if a.recv().await == Packet::error(ErrorCode::Ok) {
                break;
            }
            a.recv().await; // the TCPAbort that came with the refusal
        }
    };
    timeout(WAIT, freed).await.expect("the closed link still blocks the pair");
    b.expect(Packet::TcpAsk(again)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chathack_direct_connections_are_brokered_between_nodes() {
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut watcher = Web::sign_in_at(one.web, json!({ "name": "watcher" })).await;
    let mut b = Hack::guest(two.chathack, "b").await;
    presence(&mut watcher, "b", true).await;
    let mut a = Hack::guest(one.chathack, "a").await;
    a.send(&ClientPacket::Ask { sender: "a".into(), receiver: "B".into() }).await;
    b.expect(ServerPacket::Asked { login: "a".into() }).await;
    let address: std::net::IpAddr = "127.0.0.1".parse().unwrap();
    b.send(&ClientPacket::Accept { sender: "b".into(), receiver: "a".into(), port: 40404, address, id: -7 }).await;
    a.expect(ServerPacket::Accepted { login: "b".into(), port: 40404, address, id: -7 }).await;
    a.send(&ClientPacket::Ask { sender: "a".into(), receiver: "b".into() }).await;
    b.expect(ServerPacket::Asked { login: "a".into() }).await;
    b.send(&ClientPacket::Deny { sender: "b".into(), receiver: "a".into() }).await;
    a.expect(ServerPacket::Denied { login: "b".into() }).await;
    // Asked, then B leaves: A is not left waiting.
    a.send(&ClientPacket::Ask { sender: "a".into(), receiver: "b".into() }).await;
    b.expect(ServerPacket::Asked { login: "a".into() }).await;
    drop(b);
    a.expect(ServerPacket::Denied { login: "b".into() }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_chatos_clients_on_two_nodes_fetch_a_file_over_their_private_link() {
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let dir = tempfile::tempdir().unwrap();
    let (share, downloads) = (dir.path().join("share"), dir.path().join("downloads"));
    std::fs::create_dir_all(&share).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    // Three megabytes: three times the window each way, so back-pressure is exercised.
    let content: Vec<u8> = (0..750_000u32).flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes()).collect();
    std::fs::write(share.join("big.bin"), &content).unwrap();
    let (addr_one, addr_two) = (one.chatos.to_string(), two.chatos.to_string());
    let share_arg = share.to_str().unwrap();
    let mut watcher = Web::sign_in_at(two.web, json!({ "name": "watcher" })).await;
    let mut alice = crate::support::Proc::spawn(
        &["chatos", "--addr", &addr_one, "--pseudo", "alice", "--share", share_arg],
        dir.path(),
    );
    alice.expect_line("connected as alice").await;
    presence(&mut watcher, "alice", true).await;
    let mut bob = crate::support::Proc::spawn(&["chatos", "--addr", &addr_two, "--pseudo", "bob"], &downloads);
    bob.expect_line("connected as bob").await;
    bob.type_line("@alice from node two").await;
    alice.expect_line("[private] bob: from node two").await;
    bob.type_line("/connect alice").await;
    alice.expect_line("[link] bob asks for a private connection").await;
    alice.type_line("/accept bob").await;
    alice.expect_line("[link] private connection with bob open").await;
    bob.expect_line("[link] private connection with alice open").await;
    bob.type_line("/get alice big.bin").await;
    bob.expect_line("[file] alice:big.bin saved as big.bin (3000000 bytes)").await;
    assert!(std::fs::read(downloads.join("big.bin")).unwrap() == content, "the file arrived altered");
    // The link was bridged by both nodes.
    for node in [&one, &two] {
        let (_, text) = crate::metrics::get(&format!("http://{}/metrics", node.metrics)).await;
        assert_eq!(crate::metrics::parse(&text)["switchboard_links_relayed_total"], 1.0, "{text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_cut_off_long_enough_loses_its_names_and_never_takes_them_back() {
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut watcher = Web::sign_in_at(two.web, json!({ "name": "watcher" })).await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    presence(&mut watcher, "alice", true).await;
    // Node one stops dead (as a node whose network is cut): node two judges it gone and
    // frees its names; another alice takes the name on node two.
    let pid = one.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    timeout(Duration::from_secs(10), presence(&mut watcher, "alice", false)).await.expect("alice still held");
    let mut other = Raw::login(two.chatos, "alice").await;
    // Node one comes back: it sees its claim taken, and closes the session that held it. It
    // does not judge node two gone from its own stale view of it either: node two's users
    // stay.
    let mut logs = one.logs();
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());
    alice.expect_closed().await;
    // Its first beat after the break is where it would judge node two by its stale view.
    logged(&mut logs, "this node did not run for a while").await;
    other.send(&Packet::Sma { sender: "alice".into(), message: "still mine".into() }).await;
    other.expect_error(ErrorCode::Ok).await;
    loop {
        let m = watcher.message().await;
        if m["text"] == "still mine" {
            break;
        }
    }
    let mut again = Raw::connect(one.chatos).await;
    again.send(&Packet::Cr { pseudo: "alice".into() }).await;
    again.expect_error(ErrorCode::PseudoUnavailable).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_speak_tls_to_nats_and_refuse_a_certificate_they_cannot_trust() {
    let pki = crate::tls::Pki::new("cluster test CA");
    let nats = Nats::start_tls(&pki).await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut bob = Web::sign_in_at(two.web, json!({ "name": "bob" })).await;
    let mut alice = Raw::login(one.chatos, "alice").await;
    presence(&mut bob, "alice", true).await;
    alice.send(&Packet::Sma { sender: "alice".into(), message: "over TLS".into() }).await;
    alice.expect_error(ErrorCode::Ok).await;
    assert_eq!(bob.message().await["text"], "over TLS");
    // The accounts command too.
    let ca = pki.ca.to_str().unwrap();
    let (ok, _, err) = switchboard(
        &["accounts", "--cluster", &nats.url(), "--cluster-ca", ca, "add", "dora", "--password-stdin"],
        "pw\n",
    )
    .await;
    assert!(ok, "{err}");
    // Without the CA, a node does not trust NATS's certificate, and says so.
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--loopback", "--cluster", &nats.url(), "--data-dir"])
        .arg(data.path())
        .output();
    let out = timeout(WAIT, out).await.unwrap().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && err.contains("certificate"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_starts_on_a_long_log_of_messages_queued_for_many_names() {
    // More names with queued messages than the hub task's queue holds, before any node ran.
    let data = tempfile::tempdir().unwrap();
    {
        let mut store = store::Store::open(data.path()).unwrap();
        let records: Vec<store::Record> = (0..6000)
            .map(|i| store::Record {
                at_ms: 1,
                sender: "zed".into(),
                sender_guest: None,
                recipient: Some(format!("user{i}")),
                recipient_guest: None,
                kind: 0,
                body: "waiting".into(),
                offline: true,
            })
            .collect();
        store.append(&records).unwrap();
    }
    let nats = Nats::start().await;
    let dir = data.path().to_str().unwrap();
    let (ok, out, err) = switchboard(&["cluster", "import", "--data-dir", dir, "--cluster", &nats.url()], "").await;
    assert!(ok && out.contains("6000 messages imported"), "{out}{err}");
    // It copies the whole log, then serves.
    let node = Node::start(&nats, "one").await;
    let mut os = Raw::login(node.chatos, "os").await;
    os.send(&Packet::Sma { sender: "os".into(), message: "up".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
}

/// An IRC channel (a room) whose members are on different nodes: they hear each other, its
/// operator's kick and topic cross, and a node that comes up later learns who is in it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_channel_s_members_on_two_nodes_hear_each_other_and_a_third_node_learns_the_channel() {
    use crate::irc::Irc;
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut ann = Irc::register(one.irc, "ann").await;
    let mut bob = Irc::register(two.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    ann.send("JOIN #x\r\nTOPIC #x :across\r\n").await;
    ann.expect(" TOPIC #x :across").await;
    // Node two knows the channel once LIST shows it there.
    until_listed(&mut bob, "#x 1 ").await;
    bob.send("JOIN #x\r\n").await;
    let joined = bob.until(" 366 bob #x ").await;
    assert_eq!(joined[1], ":switchboard 332 bob #x :across");
    assert!(joined[2].starts_with(":switchboard 333 bob #x ann "), "the topic's setter and time crossed: {joined:#?}");
    assert_eq!(joined[3], ":switchboard 353 bob = #x :bob @ann");
    assert_eq!(ann.expect(" JOIN #x").await, ":bob!bob@switchboard JOIN #x");
    ann.send("PRIVMSG #x :from one\r\n").await;
    assert_eq!(bob.expect("PRIVMSG #x").await, ":ann!ann@switchboard PRIVMSG #x :from one");
    bob.send("PRIVMSG #x :from two\r\n").await;
    assert_eq!(ann.expect("PRIVMSG #x").await, ":bob!bob@switchboard PRIVMSG #x :from two");

    // A third node, started now, is told who is in the channel by the others.
    let three = Node::start(&nats, "three").await;
    let mut cy = Irc::register(three.irc, "cy").await;
    until_listed(&mut cy, "#x 2 ").await;
    cy.send("JOIN #x\r\n").await;
    let joined = cy.until(" 366 cy #x ").await;
    // A node that came up has the topic, who set it and when.
    let at = joined[2].strip_prefix(":switchboard 333 cy #x ann ").unwrap_or_else(|| panic!("{joined:#?}"));
    assert!(at.parse::<u64>().unwrap() > 1_700_000_000, "{joined:#?}");
    let mut names: Vec<&str> = joined[3].rsplit(':').next().unwrap().split(' ').collect();
    names.sort();
    assert_eq!(names, ["@ann", "bob", "cy"], "{joined:#?}");
    ann.expect(":cy!cy@switchboard JOIN #x").await;

    // The operator on node one kicks a member on node two: everyone sees it.
    ann.send("KICK #x bob :bye\r\n").await;
    let kick = ":ann!ann@switchboard KICK #x bob :bye";
    assert_eq!(bob.expect(" KICK ").await, kick);
    assert_eq!(cy.expect(" KICK ").await, kick);
    bob.send("PRIVMSG #x :still here?\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":switchboard 404 bob #x :Cannot send to channel");
}

/// Asks `LIST` until a line of it holds `what` (another node's news takes a moment to come).
async fn until_listed(irc: &mut crate::irc::Irc, what: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        irc.send("LIST\r\n").await;
        if irc.until(" 323 ").await.iter().any(|l| l.contains(what)) {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "LIST never showed {what:?}");
        tokio::task::yield_now().await;
    }
}

/// `AWAY` on one node is known on the others: `away-notify`, `301` to who writes and `WHOIS`
/// there, and a node that comes up later is told who is away.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn who_is_away_on_one_node_is_known_on_the_others() {
    use crate::irc::Irc;
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut ann = Irc::connect(one.irc).await;
    ann.send("CAP LS 302\r\nCAP REQ :away-notify\r\nNICK ann\r\nUSER ann 0 * :Ann\r\nCAP END\r\n").await;
    ann.expect(" 366 ann #lobby ").await;
    let mut bob = Irc::register(two.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    bob.send("AWAY :on node two\r\n").await;
    bob.expect(" 306 bob ").await;
    assert_eq!(ann.expect(" AWAY").await, ":bob!bob@switchboard AWAY :on node two");
    ann.send("PRIVMSG bob :hi\r\nWHOIS bob\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 301 ann bob :on node two");
    let whois = ann.until(" 318 ann bob ").await;
    assert!(whois.contains(&":switchboard 301 ann bob :on node two".to_owned()), "{whois:#?}");
    assert_eq!(bob.expect("PRIVMSG bob").await, ":ann!ann@switchboard PRIVMSG bob :hi");

    // A third node, started now, is told by node two.
    let three = Node::start(&nats, "three").await;
    let mut cy = Irc::register(three.irc, "cy").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        cy.send("USERHOST bob\r\n").await;
        if cy.expect(" 302 cy ").await == ":switchboard 302 cy :bob=-bob@switchboard" {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "node three never heard that bob is away");
        tokio::task::yield_now().await;
    }
    // Back: node one hears it too.
    bob.send("AWAY\r\n").await;
    assert_eq!(ann.expect(" AWAY").await, ":bob!bob@switchboard AWAY");
}

/// `NICK` on one node: the new nick is claimed in the cluster, and the other nodes rename
/// the user in place (one `NICK`, the same rooms and away message); the old nick is free
/// again, and a nick held on another node is refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_nick_changed_on_one_node_is_the_same_user_on_the_others() {
    use crate::irc::Irc;
    let nats = Nats::start().await;
    let (one, two) = (Node::start(&nats, "one").await, Node::start(&nats, "two").await);
    let mut ann = Irc::register(one.irc, "ann").await;
    let mut bob = Irc::register(two.irc, "bob").await;
    ann.expect(":bob!bob@switchboard JOIN #lobby").await;
    ann.send("JOIN #x\r\n").await;
    ann.expect(" 366 ann #x ").await;
    until_listed(&mut bob, "#x 1 ").await;
    bob.send("JOIN #x\r\nAWAY :away on two\r\n").await;
    ann.expect(":bob!bob@switchboard JOIN #x").await;
    bob.expect(" 306 bob ").await;

    bob.send("NICK ann\r\n").await;
    assert_eq!(bob.expect(" 433 ").await, ":switchboard 433 bob ann :Nickname is already in use", "held on node one");
    bob.send("NICK robert\r\n").await;
    assert_eq!(bob.line().await.unwrap(), ":bob!bob@switchboard NICK robert");
    assert_eq!(ann.line().await.unwrap(), ":bob!bob@switchboard NICK robert", "no QUIT and JOIN");
    ann.send("NAMES #x\r\nPRIVMSG robert :hi\r\n").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 353 ann = #x :@ann robert");
    ann.expect(" 366 ann #x ").await;
    assert_eq!(ann.line().await.unwrap(), ":switchboard 301 ann robert :away on two");
    assert_eq!(bob.expect("PRIVMSG robert").await, ":ann!ann@switchboard PRIVMSG robert :hi");
    bob.send("PRIVMSG #x :renamed\r\n").await;
    assert_eq!(ann.expect("PRIVMSG #x").await, ":robert!robert@switchboard PRIVMSG #x :renamed");

    // The old nick is free on every node; the new one is taken on every node.
    let mut cy = Irc::connect(one.irc).await;
    cy.send("NICK robert\r\nUSER cy 0 * :Cy\r\n").await;
    assert_eq!(cy.line().await.unwrap(), ":switchboard 433 * robert :Nickname is already in use");
    cy.send("NICK bob\r\n").await;
    cy.expect(" 366 bob #lobby ").await;
    assert_eq!(bob.expect(" JOIN #lobby").await, ":bob!bob@switchboard JOIN #lobby");
}

//! What every integration test uses: a server started in-process, a raw ChatOS connection
//! with timeouts on every wait, and `switchboard` client processes driven through stdio.

use bytes::BytesMut;
use proto::chatos::{Codec, ErrorCode, Packet};
use server::{Config, Metrics, Running};
use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::Once;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::net::TcpStream;
use tokio::process::{Child, ChildStdin, ChildStdout, Command};
use tokio::time::timeout;

/// How long any single expected thing may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(10);

/// What panicked in this test's process (the server's tasks run in it), where and why.
static PANICKED: std::sync::Mutex<Vec<String>> = std::sync::Mutex::new(Vec::new());

/// A server for one test, with its own data folder.
pub struct Hub {
    pub running: Option<Running>,
    pub chatos: SocketAddr,
    pub chathack: SocketAddr,
    pub jpc: SocketAddr,
    pub web: SocketAddr,
    pub nl: SocketAddr,
    pub peerchat: Option<SocketAddr>,
    pub irc: SocketAddr,
    /// The operators' listener: `/metrics` and `/healthz`.
    pub ops: SocketAddr,
    dir: tempfile::TempDir,
}

pub async fn start() -> Hub {
    start_with(|_| {}).await
}

pub async fn start_with(tweak: impl FnOnce(&mut Config)) -> Hub {
    start_in_dir(tempfile::tempdir().unwrap(), tweak).await
}

/// Starts a server whose store already holds these accounts.
pub async fn start_with_accounts(accounts: &[(&str, &str)]) -> Hub {
    start_with_store(|store| {
        for (name, password) in accounts {
            store.add_account(name, password).unwrap();
        }
    })
    .await
}

/// Starts a server on a store `prepare` filled first (accounts, white-list).
pub async fn start_with_store(prepare: impl FnOnce(&mut store::Store)) -> Hub {
    start_prepared(prepare, |_| {}).await
}

/// Starts a server configured by `tweak` on a store `prepare` filled first.
pub async fn start_prepared(prepare: impl FnOnce(&mut store::Store), tweak: impl FnOnce(&mut Config)) -> Hub {
    let dir = tempfile::tempdir().unwrap();
    let mut store = store::Store::open(&dir.path().join("data")).unwrap();
    prepare(&mut store);
    drop(store);
    start_in_dir(dir, tweak).await
}

/// The configuration of a hub for a test, on the data folder `data` in `dir`.
pub fn config_in(dir: &tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Config {
    let mut config = Config::loopback(dir.path().join("data"));
    tweak(&mut config);
    config
}

/// Starts a server on the data folder `data` in `dir`, configured by `tweak`.
pub async fn start_in_dir(dir: tempfile::TempDir, tweak: impl FnOnce(&mut Config)) -> Hub {
    static HOOK: Once = Once::new();
    HOOK.call_once(|| {
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let thread = std::thread::current().name().unwrap_or("?").to_owned();
            PANICKED.lock().unwrap_or_else(|e| e.into_inner()).push(format!("thread {thread}: {info}"));
            default(info);
        }));
    });
    let running = server::start(config_in(&dir, tweak)).await.unwrap();
    Hub {
        chatos: running.addr("chatos").unwrap(),
        chathack: running.addr("chathack").unwrap(),
        jpc: running.addr("jpc").unwrap(),
        web: running.addr("web").unwrap(),
        nl: running.addr("nl").unwrap(),
        peerchat: running.addr("peerchat"),
        irc: running.addr("irc").unwrap(),
        ops: running.metrics_addr,
        running: Some(running),
        dir,
    }
}

impl Hub {
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("data")
    }

    /// The hub's services, as the desk's `status` lists them: every door that listens.
    pub fn services(&self) -> Vec<&'static str> {
        let mut doors: Vec<&str> = self.running.as_ref().unwrap().listening.iter().map(|l| l.door).collect();
        doors.dedup();
        doors
    }

    pub fn metrics(&self) -> &Metrics {
        &self.running.as_ref().unwrap().metrics
    }

    /// Stops the server and starts a new one on the same data folder (new ports).
    pub async fn restart(self) -> Hub {
        self.restart_with(|_| {}).await
    }

    /// Stops the server and starts a new one on the same data folder, configured by `tweak`.
    pub async fn restart_with(mut self, tweak: impl FnOnce(&mut Config)) -> Hub {
        self.running.take().unwrap().shutdown(Duration::from_secs(2)).await;
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        start_in_dir(dir, tweak).await
    }

    /// Stops the server and checks that nothing in it panicked.
    pub async fn stop(mut self) {
        self.running.take().unwrap().shutdown(Duration::from_secs(2)).await;
        let panicked = PANICKED.lock().unwrap_or_else(|e| e.into_inner()).clone();
        assert!(panicked.is_empty(), "something panicked: {panicked:#?}");
    }
}

/// A figure of the server's that has no labels.
pub fn count(counter: &prometheus_client::metrics::counter::Counter) -> u64 {
    counter.get()
}

/// A ChatOS connection spoken to packet by packet, over plain TCP or anything else.
pub struct Raw<S = TcpStream> {
    pub stream: S,
    buf: BytesMut,
    codec: Codec,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Raw {
        stream.set_nodelay(true).unwrap();
        Raw::from_io(stream)
    }

    /// Connects and takes `name`, expecting ERROR 1.
    pub async fn login(addr: SocketAddr, name: &str) -> Raw {
        let mut raw = Raw::connect(addr).await;
        raw.send(&Packet::Cr { pseudo: name.into() }).await;
        raw.expect(Packet::error(ErrorCode::Ok)).await;
        raw
    }
}

impl<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin> Raw<S> {
    /// Over any stream (a TLS one).
    pub fn from_io(stream: S) -> Raw<S> {
        Raw { stream, buf: BytesMut::new(), codec: Codec::default() }
    }

    pub async fn send(&mut self, p: &Packet) {
        self.stream.write_all(&p.to_bytes()).await.unwrap();
    }

    pub async fn send_bytes(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next packet; `None` if the server closed the connection.
    pub async fn next(&mut self) -> Option<Packet> {
        let read = async {
            loop {
                if let Some(p) = self.codec.decode(&mut self.buf).expect("the server sent a bad packet") {
                    return Some(p);
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        timeout(WAIT, read).await.expect("timed out waiting for a packet")
    }

    pub async fn recv(&mut self) -> Packet {
        self.next().await.expect("connection closed")
    }

    pub async fn expect(&mut self, want: Packet) {
        assert_eq!(self.recv().await, want);
    }

    pub async fn expect_error(&mut self, code: ErrorCode) {
        self.expect(Packet::error(code)).await;
    }

    /// Expects no packet for `quiet`.
    pub async fn expect_silence(&mut self, quiet: Duration) {
        let got = timeout(quiet, async {
            loop {
                if let Some(p) = self.codec.decode(&mut self.buf).unwrap() {
                    return p;
                }
                if self.stream.read_buf(&mut self.buf).await.unwrap_or(0) == 0 {
                    std::future::pending::<()>().await;
                }
            }
        })
        .await;
        assert!(got.is_err(), "expected silence, got {got:?}");
    }

    /// Expects the server to close the connection; returns the packets it sent before.
    pub async fn expect_closed(&mut self) -> Vec<Packet> {
        let mut before = Vec::new();
        let closed = async {
            loop {
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {}
                }
            }
        };
        timeout(WAIT, closed).await.expect("the server did not close the connection");
        while let Ok(Some(p)) = self.codec.decode(&mut self.buf) {
            before.push(p);
        }
        before
    }
}

/// A `switchboard` process driven through its stdin and read line by line from its stdout.
pub struct Proc {
    pub child: Child,
    stdin: ChildStdin,
    lines: Lines<BufReader<ChildStdout>>,
    pub seen: Vec<String>,
}

impl Proc {
    pub fn spawn(args: &[&str], dir: &std::path::Path) -> Proc {
        Proc::spawn_program(env!("CARGO_BIN_EXE_switchboard"), args, dir)
    }

    /// Any program, driven the same way.
    pub fn spawn_program(program: &str, args: &[&str], dir: &std::path::Path) -> Proc {
        let mut child = Command::new(program)
            .args(args)
            .current_dir(dir)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Proc { child, stdin, lines, seen: Vec::new() }
    }

    pub async fn type_line(&mut self, line: &str) {
        self.stdin.write_all(format!("{line}\n").as_bytes()).await.unwrap();
    }

    /// Writes exactly these bytes (keys, for a program on a terminal).
    pub async fn type_raw(&mut self, keys: &str) {
        self.stdin.write_all(keys.as_bytes()).await.unwrap();
        self.stdin.flush().await.unwrap();
    }

    /// Reads lines until one contains `want`, and returns it.
    pub async fn expect_line(&mut self, want: &str) -> String {
        let found = timeout(WAIT, async {
            while let Some(line) = self.lines.next_line().await.unwrap() {
                self.seen.push(line.clone());
                if line.contains(want) {
                    return Some(line);
                }
            }
            None
        })
        .await;
        match found {
            Ok(Some(line)) => line,
            _ => panic!("no line with {want:?}; saw {:?}", self.seen),
        }
    }
}

/// A ChatHack connection spoken to packet by packet.
pub struct Hack {
    pub stream: TcpStream,
    buf: BytesMut,
    codec: proto::chathack::Codec,
}

impl Hack {
    pub async fn connect(addr: SocketAddr) -> Hack {
        Hack::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Hack {
        stream.set_nodelay(true).unwrap();
        Hack { stream, buf: BytesMut::new(), codec: proto::chathack::Codec::default() }
    }

    /// Connects and logs in as a guest, expecting ACK 3.
    pub async fn guest(addr: SocketAddr, login: &str) -> Hack {
        let mut hack = Hack::connect(addr).await;
        hack.send(&proto::chathack::ClientPacket::Login { login: login.into() }).await;
        hack.expect(proto::chathack::ServerPacket::Ack(3)).await;
        hack
    }

    pub async fn send(&mut self, p: &proto::chathack::ClientPacket) {
        self.stream.write_all(&p.to_bytes()).await.unwrap();
    }

    /// The next packet; `None` if the server closed the connection.
    pub async fn next(&mut self) -> Option<proto::chathack::ServerPacket> {
        let read = async {
            loop {
                match self.codec.decode_server(&mut self.buf).expect("the server sent a bad packet") {
                    Some(proto::chathack::Decoded::Packet(p)) => return Some(p),
                    Some(other) => panic!("the server sent {other:?}"),
                    None => {}
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        timeout(WAIT, read).await.expect("timed out waiting for a packet")
    }

    pub async fn expect(&mut self, want: proto::chathack::ServerPacket) {
        assert_eq!(self.next().await, Some(want));
    }
}

/// Starts `switchboard serve --loopback` on `data`, with `flags` after (which win: a door at
/// a fixed address, say); returns once it has said where it listens. Its logs go nowhere,
/// what else it prints is read as a terminal would.
pub async fn serve_process(data: &std::path::Path, flags: &[&str]) -> (Child, server::Addresses) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--loopback"])
        .args(flags)
        .arg("--data-dir")
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addrs = timeout(WAIT, server::Addresses::read(&mut lines)).await.unwrap().unwrap().expect("the hub exited");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, addrs)
}

//! `switchboard bench`: loads a hub with N ChatOS clients and measures lobby fan-out
//! (deliveries per second and per server-CPU-second, latency p50/p99, messages lost) and the
//! memory an idle connection costs the server. Each N gets a fresh `switchboard serve`
//! process, so that its CPU time and RSS are the server's alone. With `--web`, the clients
//! that only listen are web users instead (signed in over the HTTP API, each with a
//! WebSocket), to measure the web's fan-out; with `--irc`, IRC clients (registered, in
//! `#lobby`), to measure the IRC door's. With `--nats`, every N runs twice: against the
//! hub, then the same load against a `nats-server` (N subscribers of one subject, the senders
//! publishing to it), and the two are set side by side. With `--instructions`, the hub runs
//! under callgrind and the instructions it spends (in user space) per delivery are counted: a
//! figure that holds still where times swing.

use crate::clients::connect::{Connect, Stream};
use anyhow::{bail, Context};
use bytes::BytesMut;
use proto::chatos::{Codec, Packet};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::io::{ReadHalf, WriteHalf};
use tokio::net::TcpStream;
use tokio::sync::Notify;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Numbers of clients, one run each.
    #[arg(long, value_delimiter = ',', default_value = "10,100,1000")]
    clients: Vec<usize>,
    /// Lobby messages per run [default: enough for about 2 million deliveries, at least 1000].
    #[arg(long)]
    messages: Option<usize>,
    /// How many of the clients send.
    #[arg(long, default_value_t = 10)]
    senders: usize,
    /// Bytes of text in each message.
    #[arg(long, default_value_t = 64)]
    size: usize,
    /// Messages in flight at most, over all senders.
    #[arg(long, default_value_t = 64)]
    window: usize,
    /// Load this already running ChatOS server instead of starting one per run (its CPU and
    /// memory are read only with --server-pid).
    #[arg(long, value_name = "HOST:PORT")]
    addr: Option<String>,
    /// The process id of the server at --addr.
    #[arg(long, requires = "addr")]
    server_pid: Option<u32>,
    /// The clients that do not send are web users (HTTP API and a WebSocket each).
    #[arg(long, conflicts_with = "addr")]
    web: bool,
    /// The clients that do not send are IRC clients (registered, hearing `#lobby`).
    #[arg(long, conflicts_with_all = ["addr", "web", "tls"])]
    irc: bool,
    /// The ChatOS clients connect with TLS (to a hub with a self-signed certificate).
    #[arg(long, conflicts_with = "addr")]
    tls: bool,
    /// Load a cluster of this many nodes instead of one hub: a `nats-server -js` on a
    /// loopback port and that many `serve --cluster` processes, the clients spread over them
    /// in turn; the CPU and memory counted are every node's and nats-server's.
    #[arg(long, value_name = "K", conflicts_with_all = ["addr", "web", "tls", "irc"])]
    cluster_nodes: Option<usize>,
    /// Also run each N against Debian's `nats-server` (N connections subscribed to one
    /// subject, the senders publishing to it, none hearing itself), and print the ratio of
    /// deliveries per server-CPU-second.
    #[arg(long, conflicts_with_all = ["addr", "web", "tls", "cluster_nodes", "irc"])]
    nats: bool,
    /// Run each server under `valgrind --tool=callgrind` and report the instructions it runs
    /// in user space per delivery, counted from the end of the logins to the end of the load
    /// (times are meaningless under valgrind; use a smaller --messages). Not with --nats:
    /// callgrind 3.19 aborts on the signals of Go's runtime.
    #[arg(long, conflicts_with_all = ["addr", "cluster_nodes", "nats"])]
    instructions: bool,
    /// Start the hub (or the cluster's nodes) from this `switchboard` binary instead of this
    /// one: two builds compared under the same bench, run after run.
    #[arg(long, value_name = "PATH", conflicts_with = "addr")]
    server_bin: Option<std::path::PathBuf>,
}

/// The binary whose `serve` a run starts.
fn server_bin(args: &BenchArgs) -> anyhow::Result<std::path::PathBuf> {
    Ok(match &args.server_bin {
        Some(bin) => bin.clone(),
        None => std::env::current_exe()?,
    })
}

/// Which server a run loads.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Hub,
    /// `nats-server`: clients speak NATS, the lobby is a subject.
    Nats,
}

impl Target {
    fn name(self) -> &'static str {
        match self {
            Target::Hub => "switchboard",
            Target::Nats => "nats-server",
        }
    }
}

/// The subject that is the lobby on NATS.
const SUBJECT: &str = "lobby";

/// The server under load: one this bench started, or one it was pointed at, or a cluster.
struct Server {
    /// The ChatOS door of each node; client `i` connects to node `i % len`.
    addrs: Vec<String>,
    /// How the ChatOS clients connect to `addr`.
    connect: Connect,
    /// The web front door, for `--web`.
    web: Option<String>,
    /// The IRC front door, for `--irc`.
    irc: Option<String>,
    /// Every process whose CPU and memory count (with a cluster, nats-server's too).
    pids: Vec<u32>,
    _children: Vec<tokio::process::Child>,
    data: Option<std::path::PathBuf>,
    /// Under callgrind: the file its counts are dumped to.
    callgrind: Option<std::path::PathBuf>,
}

impl Server {
    async fn start(args: &BenchArgs, target: Target) -> anyhow::Result<Server> {
        if let Some(addr) = &args.addr {
            let connect = Connect::default();
            return Ok(Server {
                addrs: vec![addr.clone()],
                connect,
                web: None,
                irc: None,
                pids: args.server_pid.into_iter().collect(),
                _children: Vec::new(),
                data: None,
                callgrind: None,
            });
        }
        let data = std::env::temp_dir().join(format!("switchboard-bench-{}", std::process::id()));
        if let Some(k) = args.cluster_nodes {
            return Server::cluster(k.max(1), data, server_bin(args)?).await;
        }
        std::fs::create_dir_all(&data)?;
        let callgrind = args.instructions.then(|| data.join("callgrind.out"));
        if target == Target::Nats {
            return Server::nats(data, callgrind).await;
        }
        // With TLS, a self-signed certificate (every TLS door is on a loopback port too).
        let tls: &[&str] = if args.tls { &["--tls-self-signed", "127.0.0.1"] } else { &[] };
        if callgrind.is_some() {
            // The NL key pair is made at the first start: at full speed here, not for many
            // seconds under valgrind (where, on a busy machine, it took most of a run).
            let made = tokio::process::Command::new(server_bin(args)?)
                .args(["nl", "server-key", "--data-dir"])
                .arg(&data)
                .stdout(Stdio::null())
                .status()
                .await
                .context("making the server's NL key")?;
            anyhow::ensure!(made.success(), "making the server's NL key failed");
        }
        let mut child = command(server_bin(args)?, callgrind.as_deref())
            // The bench's clients send as fast as they are let: no message rate for them.
            .args(["serve", "--loopback", "--msg-rate", "0", "--data-dir"])
            .arg(&data)
            .args(tls)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", server_bin(args).unwrap_or_default().display()))?;
        let pid = child.id();
        let mut lines = BufReader::new(child.stdout.take().context("server stdout")?).lines();
        let addrs = server::Addresses::read(&mut lines).await?.context("the server stopped before it was ready")?;
        let chatos = if args.tls { "chatos-tls" } else { "chatos" };
        let addr = addrs.get(chatos).context("the server said nothing of its ChatOS door")?.to_string();
        let web = addrs.get("web").map(|a| a.to_string());
        let irc = addrs.get("irc").map(|a| a.to_string());
        let connect = Connect { tls: args.tls, ca: args.tls.then(|| data.join("tls/self-signed.crt")) };
        tokio::time::sleep(Duration::from_millis(200)).await;
        Ok(Server {
            addrs: vec![addr],
            connect,
            web,
            irc,
            pids: pid.into_iter().collect(),
            _children: vec![child],
            data: Some(data),
            callgrind,
        })
    }

    /// A `nats-server` on a loopback port, without JetStream: what the lobby is compared with.
    async fn nats(data: std::path::PathBuf, callgrind: Option<std::path::PathBuf>) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let mut nats = command("nats-server".into(), callgrind.as_deref())
            .args(["-a", "127.0.0.1", "-p", &port.to_string()])
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting nats-server (Debian's nats-server package)")?;
        ready_on_stderr(&mut nats).await?;
        Ok(Server {
            addrs: vec![format!("127.0.0.1:{port}")],
            connect: Connect::default(),
            web: None,
            irc: None,
            pids: nats.id().into_iter().collect(),
            _children: vec![nats],
            data: Some(data),
            callgrind,
        })
    }

    /// Counts instructions from zero, under callgrind.
    async fn count(&self) -> anyhow::Result<()> {
        match self.callgrind {
            Some(_) => callgrind_control("-z", self.pids[0]).await,
            None => Ok(()),
        }
    }

    /// The instructions counted since [`Server::count`], under callgrind.
    async fn counted(&self) -> anyhow::Result<Option<u64>> {
        let Some(file) = &self.callgrind else { return Ok(None) };
        callgrind_control("-d", self.pids[0]).await?;
        // Each dump is a file of its own, `FILE.N`, its total on a `summary:` line.
        let dir = file.parent().context("callgrind's folder")?;
        let mut total = None;
        for entry in std::fs::read_dir(dir)? {
            let path = entry?.path();
            let dumped = path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("callgrind.out."));
            if dumped {
                let text = std::fs::read_to_string(&path)?;
                let summary =
                    text.lines().find_map(|l| l.strip_prefix("summary:").or_else(|| l.strip_prefix("totals:")));
                total = summary.and_then(|v| v.split_whitespace().next()?.parse().ok());
            }
        }
        total.context("callgrind dumped no summary").map(Some)
    }

    /// A `nats-server -js` on a loopback port and `k` nodes joined to it.
    async fn cluster(k: usize, data: std::path::PathBuf, bin: std::path::PathBuf) -> anyhow::Result<Server> {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        let store = data.join("nats");
        std::fs::create_dir_all(&store)?;
        let mut nats = tokio::process::Command::new("nats-server")
            .args(["-a", "127.0.0.1", "-p", &port.to_string(), "-js", "-sd"])
            .arg(&store)
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting nats-server (Debian's nats-server package)")?;
        ready_on_stderr(&mut nats).await?;
        let url = format!("nats://127.0.0.1:{port}");
        let (mut addrs, mut pids, mut children) = (Vec::new(), nats.id().into_iter().collect::<Vec<_>>(), vec![nats]);
        for node in 0..k {
            let mut child = tokio::process::Command::new(&bin)
                .args(["serve", "--loopback", "--cluster", &url, "--node-name", &format!("bench{node}")])
                .args(["--msg-rate", "0", "--data-dir"])
                .arg(data.join(format!("node{node}")))
                .env("RUST_LOG", "warn")
                .stdout(Stdio::piped())
                .kill_on_drop(true)
                .spawn()?;
            pids.extend(child.id());
            let mut lines = BufReader::new(child.stdout.take().context("node stdout")?).lines();
            let ready = server::Addresses::read(&mut lines).await?.context("a node stopped before it was ready")?;
            addrs.extend(ready.get("chatos").map(|a| a.to_string()));
            children.push(child);
        }
        anyhow::ensure!(addrs.len() == k, "a node said nothing of its ChatOS door");
        tokio::time::sleep(Duration::from_millis(1500)).await; // every node has heard the others
        let (connect, web, irc, data, callgrind) = (Connect::default(), None, None, Some(data), None);
        Ok(Server { addrs, connect, web, irc, pids, _children: children, data, callgrind })
    }

    /// What the server's processes use now, summed (zero if they are unknown), and (with
    /// several: a cluster's nats-server, then its nodes) each one's resident anonymous memory
    /// in KB, read in the same pass.
    fn usage(&self) -> anyhow::Result<(Usage, Vec<u64>)> {
        let mut sum = Usage::default();
        let mut anon = Vec::with_capacity(self.pids.len());
        for &pid in &self.pids {
            let u = usage(pid)?;
            sum.rss += u.rss;
            sum.anon += u.anon;
            sum.cpu += u.cpu;
            anon.push(u.anon);
        }
        if anon.len() < 2 {
            anon.clear(); // one process: the table says it
        }
        Ok((sum, anon))
    }
}

/// `program`, or valgrind's callgrind running it with nothing counted until it is told.
fn command(program: std::path::PathBuf, callgrind: Option<&std::path::Path>) -> tokio::process::Command {
    match callgrind {
        None => tokio::process::Command::new(program),
        Some(out) => {
            let mut c = tokio::process::Command::new("valgrind");
            c.arg("--tool=callgrind").arg(format!("--callgrind-out-file={}", out.display()));
            c.arg(format!("--log-file={}.log", out.display()));
            c.arg(program);
            c
        }
    }
}

async fn callgrind_control(flag: &str, pid: u32) -> anyhow::Result<()> {
    let status = tokio::process::Command::new("callgrind_control")
        .args([flag, &pid.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .await
        .context("running callgrind_control (Debian's valgrind package)")?;
    anyhow::ensure!(status.success(), "callgrind_control {flag} failed");
    Ok(())
}

/// Waits for nats-server's "Server is ready" on its stderr, then drains the rest.
async fn ready_on_stderr(nats: &mut tokio::process::Child) -> anyhow::Result<()> {
    let mut lines = BufReader::new(nats.stderr.take().context("nats-server stderr")?).lines();
    loop {
        match lines.next_line().await? {
            Some(line) if line.contains("Server is ready") => break,
            Some(_) => {}
            None => bail!("nats-server stopped before it was ready"),
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(())
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(data) = &self.data {
            let _ = std::fs::remove_dir_all(data);
        }
    }
}

/// What one run measured.
struct Run {
    clients: usize,
    deliveries: u64,
    lost: u64,
    wall: Duration,
    cpu: f64,
    p50: Duration,
    p99: Duration,
    rss_kb: u64,
    idle_kb: u64,
    /// With a cluster, `idle_kb` by process: nats-server's, then each node's.
    idle_parts: Vec<u64>,
    /// Under callgrind, the server's instructions over the load.
    instructions: Option<u64>,
}

impl Run {
    fn per_cpu_second(&self) -> f64 {
        self.deliveries as f64 / self.cpu.max(0.01)
    }

    fn instructions_per_delivery(&self) -> Option<f64> {
        self.instructions.map(|i| i as f64 / self.deliveries.max(1) as f64)
    }
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    println!("| server | N | messages | deliveries | lost | wall s | deliveries/s | server CPU s | deliveries/server-CPU-s | server CPU µs/message | p50 ms | p99 ms | server RSS / N | idle anon RSS per connection | instructions/delivery |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
    let targets: &[Target] = if args.nats { &[Target::Hub, Target::Nats] } else { &[Target::Hub] };
    let mut compared = Vec::new();
    let mut parts = Vec::new();
    for &n in &args.clients {
        if n < 2 {
            bail!("a lobby needs at least 2 clients");
        }
        let messages = args.messages.unwrap_or((2_000_000 / (n - 1)).max(1000));
        let mut runs = Vec::new();
        for &target in targets {
            let r = one(&args, target, n, messages)
                .await
                .with_context(|| format!("the run of {} with {n} clients", target.name()))?;
            let secs = r.wall.as_secs_f64();
            println!(
                "| {} | {} | {} | {} | {} | {:.2} | {:.0} | {:.2} | {:.0} | {:.1} | {:.2} | {:.2} | {:.2} KB | {:.2} KB | {} |",
                target.name(),
                r.clients,
                messages,
                r.deliveries,
                r.lost,
                secs,
                r.deliveries as f64 / secs,
                r.cpu,
                r.per_cpu_second(),
                r.cpu * 1e6 / messages as f64,
                r.p50.as_secs_f64() * 1e3,
                r.p99.as_secs_f64() * 1e3,
                r.rss_kb as f64 / n as f64,
                r.idle_kb as f64 / n as f64,
                r.instructions_per_delivery().map_or("–".to_owned(), |i| format!("{i:.0}")),
            );
            runs.push(r);
        }
        if let [hub, nats] = &runs[..] {
            compared.push((n, hub.per_cpu_second(), nats.per_cpu_second()));
        }
        parts.extend(runs.iter().filter(|r| !r.idle_parts.is_empty()).map(|r| (n, r.idle_parts.clone())));
    }
    for (n, kb) in parts {
        let per = |kb: u64| format!("{:.2} KB", kb as f64 / n as f64);
        let nodes: Vec<String> = kb[1..].iter().enumerate().map(|(i, &kb)| format!("node {i} {}", per(kb))).collect();
        println!("N={n}: idle anon RSS per connection by process: nats-server {}, {}", per(kb[0]), nodes.join(", "));
    }
    for (n, hub, nats) in compared {
        println!(
            "N={n}: switchboard {:.2}M, nats-server {:.2}M deliveries per server-CPU-second: {:.2} x NATS",
            hub / 1e6,
            nats / 1e6,
            hub / nats.max(1.0)
        );
    }
    Ok(())
}

/// What a server process uses, from /proc.
#[derive(Default)]
struct Usage {
    /// Resident memory in KB, all of it.
    rss: u64,
    /// Resident anonymous memory in KB (heap, stacks): what connections cost. The rest is
    /// the binary's pages (code, Unicode tables), read from its file once and shared.
    anon: u64,
    /// CPU time (user + system) in seconds.
    cpu: f64,
}

fn usage(pid: u32) -> anyhow::Result<Usage> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kb = |field: &str| -> anyhow::Result<u64> {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .with_context(|| field.to_owned())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat.rsplit_once(')').context("stat")?.1.split_whitespace().collect();
    let ticks: u64 = fields[11].parse::<u64>()? + fields[12].parse::<u64>()?;
    // /proc counts in USER_HZ, 100 on Linux.
    Ok(Usage { rss: kb("VmRSS:")?, anon: kb("RssAnon:")?, cpu: ticks as f64 / 100.0 })
}

async fn one(args: &BenchArgs, target: Target, n: usize, messages: usize) -> anyhow::Result<Run> {
    let server = Server::start(args, target).await?;
    let (before, before_parts) = server.usage()?;

    // Log everyone in, a hundred at a time: with --web or --irc, only the senders over ChatOS.
    let senders = args.senders.clamp(1, n);
    let chatos_clients = if args.web || args.irc { senders } else { n };
    let wire = match target {
        Target::Hub => Wire::ChatOs,
        Target::Nats => Wire::Nats,
    };
    let mut conns = Vec::with_capacity(n);
    for chunk in (0..chatos_clients).collect::<Vec<_>>().chunks(100) {
        let logins: Vec<_> = chunk
            .iter()
            .map(|&i| {
                let (connect, addr) = (server.connect.clone(), server.addrs[i % server.addrs.len()].clone());
                tokio::spawn(login(target, connect, addr, i))
            })
            .collect();
        for login in logins {
            let (read, write) = login.await??;
            conns.push((wire, read, write));
        }
    }
    if args.irc {
        let irc = server.irc.clone().context("the server has no IRC front door")?;
        for chunk in (chatos_clients..n).collect::<Vec<_>>().chunks(100) {
            let logins: Vec<_> = chunk.iter().map(|&i| tokio::spawn(irc_login(irc.clone(), i))).collect();
            for login in logins {
                let (read, write) = login.await??;
                conns.push((Wire::Irc, read, write));
            }
        }
    }
    let mut pages = Vec::new();
    if args.web {
        let web = server.web.clone().context("the server has no web front door")?;
        let http = reqwest::Client::new();
        for chunk in (chatos_clients..n).collect::<Vec<_>>().chunks(100) {
            let opens: Vec<_> = chunk.iter().map(|&i| tokio::spawn(web_login(http.clone(), web.clone(), i))).collect();
            for open in opens {
                pages.push(open.await??);
            }
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (idle, idle_parts) = server.usage()?;
    let idle_parts: Vec<u64> =
        idle_parts.iter().zip(&before_parts).map(|(idle, before)| idle.saturating_sub(*before)).collect();
    server.count().await?;

    let expected = (messages * (n - 1)) as u64;
    let delivered = Arc::new(AtomicU64::new(0));
    let progress = Arc::new(Notify::new());
    let start = Instant::now();
    let mut readers = Vec::new();
    let mut writers = Vec::new();
    for (wire, read, write) in conns {
        readers.push(tokio::spawn(reader(wire, read, start, delivered.clone(), progress.clone())));
        writers.push(write);
    }
    for page in pages {
        readers.push(tokio::spawn(web_reader(page, start, delivered.clone(), progress.clone())));
    }
    let sent = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    // The listeners' write halves stay here: dropping one would close its connection.
    let listeners = writers.split_off(senders);
    for (s, write) in writers.into_iter().enumerate() {
        let count = messages / senders + usize::from(s < messages % senders);
        let flight = Flight { sent: sent.clone(), delivered: delivered.clone(), progress: progress.clone() };
        let load = Load { target, size: args.size, window: args.window as u64, fanout: n as u64 - 1, start };
        tasks.push(tokio::spawn(sender(write, s, count, load, flight)));
    }
    // Keep the senders' write halves: dropping one would close its connection.
    let mut keep = Vec::new();
    for t in tasks {
        keep.push(t.await??);
    }
    // Wait for the last deliveries, until nothing moves for 5 s.
    let mut last = (delivered.load(Relaxed), Instant::now());
    while delivered.load(Relaxed) < expected && last.1.elapsed() < Duration::from_secs(5) {
        tokio::time::sleep(Duration::from_millis(10)).await;
        let now = delivered.load(Relaxed);
        if now != last.0 {
            last = (now, Instant::now());
        }
    }
    let wall = start.elapsed();
    let (after, _) = server.usage()?;
    let instructions = server.counted().await?;
    // Closing our side ends each connection, and with it its reader, which hands back its
    // latencies (a TLS stream's halves close only when told to).
    for mut write in keep.into_iter().chain(listeners) {
        let _ = write.shutdown().await;
    }
    drop(server);
    let got = delivered.load(Relaxed);
    let mut latencies = Vec::with_capacity(got as usize);
    // Each reader ends when its connection does (a server under valgrind is slow to close them).
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    for mut r in readers {
        match tokio::time::timeout_at(until, &mut r).await {
            Ok(Ok(mut l)) => latencies.append(&mut l),
            _ => r.abort(),
        }
    }
    latencies.sort_unstable();
    let pct = |p: f64| latencies.get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)));
    let micros = |v: Option<&u32>| Duration::from_micros(v.copied().unwrap_or(0).into());
    Ok(Run {
        clients: n,
        deliveries: got,
        lost: expected.saturating_sub(got),
        wall,
        cpu: after.cpu - idle.cpu,
        p50: micros(pct(0.50)),
        p99: micros(pct(0.99)),
        rss_kb: idle.rss,
        idle_kb: idle.anon.saturating_sub(before.anon),
        idle_parts,
        instructions,
    })
}

async fn login(
    target: Target,
    connect: Connect,
    addr: String,
    i: usize,
) -> anyhow::Result<(ReadHalf<Stream>, WriteHalf<Stream>)> {
    let (mut stream, _) = connect.connect(&addr).await?;
    if target == Target::Nats {
        // Subscribed once the server answers the PING that follows the SUB.
        let hello = format!("CONNECT {{\"verbose\":false,\"echo\":false}}\r\nSUB {SUBJECT} 1\r\nPING\r\n");
        stream.write_all(hello.as_bytes()).await?;
        let mut lines = BufReader::new(stream);
        let mut line = String::new();
        while !line.starts_with("PONG") {
            line.clear();
            if lines.read_line(&mut line).await? == 0 {
                bail!("nats-server closed the connection");
            }
            if line.starts_with("-ERR") {
                bail!("nats-server refused: {}", line.trim());
            }
        }
        return Ok(tokio::io::split(lines.into_inner()));
    }
    stream.write_all(&Packet::Cr { pseudo: format!("b{i}") }.to_bytes()).await?;
    let mut answer = [0u8; 2];
    stream.read_exact(&mut answer).await?;
    if answer != [8, 1] {
        bail!("login refused: {answer:?}");
    }
    Ok(tokio::io::split(stream))
}

/// Registers an IRC client `b{i}` and waits for the end of `#lobby`'s names.
async fn irc_login(addr: String, i: usize) -> anyhow::Result<(ReadHalf<Stream>, WriteHalf<Stream>)> {
    let (mut stream, _) = Connect::default().connect(&addr).await?;
    stream.write_all(format!("NICK b{i}\r\nUSER b{i} 0 * :b{i}\r\n").as_bytes()).await?;
    // Byte by byte, so that nothing after the names is read here and lost.
    let mut line = Vec::new();
    loop {
        let byte = stream.read_u8().await.context("the IRC door closed during registration")?;
        line.push(byte);
        if byte != b'\n' {
            continue;
        }
        let text = String::from_utf8_lossy(&line);
        if text.contains(" 366 ") {
            return Ok(tokio::io::split(stream));
        }
        if text.contains(" 433 ") || text.starts_with("ERROR") {
            bail!("IRC registration refused: {}", text.trim());
        }
        line.clear();
    }
}

type Page = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

/// Signs a web user in and opens its WebSocket.
async fn web_login(http: reqwest::Client, web: String, i: usize) -> anyhow::Result<Page> {
    let session: serde_json::Value = http
        .post(format!("http://{web}/api/session"))
        .json(&serde_json::json!({ "name": format!("w{i}") }))
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let token = session["token"].as_str().context("no token")?;
    Ok(tokio_tungstenite::connect_async(format!("ws://{web}/ws?token={token}")).await?.0)
}

/// Counts a web user's lobby messages and their latency (µs).
async fn web_reader(mut page: Page, start: Instant, delivered: Arc<AtomicU64>, progress: Arc<Notify>) -> Vec<u32> {
    use futures_util::StreamExt;
    let mut latencies = Vec::new();
    while let Some(Ok(m)) = page.next().await {
        let tokio_tungstenite::tungstenite::Message::Text(text) = m else { continue };
        let now = start.elapsed().as_micros() as u64;
        let Ok(event) = serde_json::from_str::<serde_json::Value>(&text) else { continue };
        if event["type"] != "message" {
            continue;
        }
        let sent: u64 = event["text"].as_str().and_then(|t| t.get(..20)?.parse().ok()).unwrap_or(now);
        latencies.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
        delivered.fetch_add(1, Relaxed);
        progress.notify_waiters();
    }
    latencies
}

/// What a reader's connection speaks.
#[derive(Clone, Copy)]
enum Wire {
    ChatOs,
    Nats,
    Irc,
}

/// Counts lobby messages and their latency (µs); ignores the OKs that senders get.
async fn reader(
    wire: Wire,
    mut read: ReadHalf<Stream>,
    start: Instant,
    delivered: Arc<AtomicU64>,
    progress: Arc<Notify>,
) -> Vec<u32> {
    let codec = Codec::default();
    let mut buf = BytesMut::with_capacity(64 * 1024);
    let mut latencies = Vec::new();
    loop {
        match read.read_buf(&mut buf).await {
            Ok(0) | Err(_) => return latencies,
            Ok(_) => {}
        }
        let now = start.elapsed().as_micros() as u64;
        let mut got = 0;
        let mut heard = |text: &[u8]| {
            let sent: u64 = text.get(..20).and_then(|t| std::str::from_utf8(t).ok()?.parse().ok()).unwrap_or(now);
            latencies.push(now.saturating_sub(sent).min(u64::from(u32::MAX)) as u32);
            got += 1;
        };
        match wire {
            Wire::ChatOs => {
                while let Ok(Some(p)) = codec.decode(&mut buf) {
                    if let Packet::Sma { message, .. } = p {
                        heard(message.as_bytes());
                    }
                }
            }
            Wire::Nats => {
                while let Some(msg) = nats_next(&mut buf) {
                    if let Some(payload) = msg {
                        heard(&payload);
                    }
                }
            }
            Wire::Irc => {
                while let Some(end) = buf.iter().position(|&b| b == b'\n') {
                    let line = buf.split_to(end + 1);
                    if let Some(text) = irc_lobby_text(&line) {
                        heard(text);
                    }
                }
            }
        }
        if buf.capacity() < 4096 {
            buf.reserve(64 * 1024);
        }
        delivered.fetch_add(got, Relaxed);
        progress.notify_waiters();
    }
}

/// The text of an IRC line that is a `PRIVMSG` to `#lobby`.
fn irc_lobby_text(line: &[u8]) -> Option<&[u8]> {
    const MARK: &[u8] = b" PRIVMSG #lobby :";
    let at = line.windows(MARK.len()).position(|w| w == MARK)?;
    Some(&line[at + MARK.len()..])
}

/// nats-server's default `max_payload`: no message it sends is longer.
const NATS_MAX_PAYLOAD: usize = 1 << 20;

/// The next whole item of what a NATS server sent: `Some(Some(payload))` a message,
/// `Some(None)` any other line (`PING`, `+OK`, `INFO`, a `MSG` whose length is not one), `None`
/// if the buffer holds no whole one.
fn nats_next(buf: &mut BytesMut) -> Option<Option<bytes::Bytes>> {
    use bytes::Buf;
    let end = buf.iter().position(|&b| b == b'\n')?;
    let Some(args) = buf[..end].strip_prefix(b"MSG ") else {
        buf.advance(end + 1);
        return Some(None);
    };
    // MSG <subject> <sid> [reply-to] <bytes>
    let len = args.rsplit(|&b| b == b' ').next().and_then(|l| std::str::from_utf8(l).ok()?.trim().parse().ok());
    let Some(len) = len.filter(|&len: &usize| len <= NATS_MAX_PAYLOAD) else {
        // Not a MSG this client can read: skipped, never waited on.
        buf.advance(end + 1);
        return Some(None);
    };
    if buf.len() < end + 1 + len + 2 {
        return None;
    }
    buf.advance(end + 1);
    let payload = buf.split_to(len).freeze();
    buf.advance(2);
    Some(Some(payload))
}

/// What every sender of a run sends, and how fast.
#[derive(Clone, Copy)]
struct Load {
    target: Target,
    /// Bytes of text a message.
    size: usize,
    /// Messages in flight at most, over all senders.
    window: u64,
    /// Deliveries a message makes.
    fanout: u64,
    start: Instant,
}

/// The shared count of messages sent and delivered, to keep a bounded number in flight.
struct Flight {
    sent: Arc<AtomicU64>,
    delivered: Arc<AtomicU64>,
    progress: Arc<Notify>,
}

async fn sender(
    mut write: WriteHalf<Stream>,
    s: usize,
    count: usize,
    load: Load,
    f: Flight,
) -> anyhow::Result<WriteHalf<Stream>> {
    let Load { target, size, window, fanout, start } = load;
    let pad = "x".repeat(size.saturating_sub(21));
    let me = format!("b{s}");
    let mut moved = (f.delivered.load(Relaxed), Instant::now());
    for _ in 0..count {
        loop {
            let wait = f.progress.notified();
            tokio::pin!(wait);
            wait.as_mut().enable();
            let delivered = f.delivered.load(Relaxed);
            if f.sent.load(Relaxed) < delivered / fanout + window {
                break;
            }
            // Listeners the server dropped never catch up: stop, and what was not sent
            // counts as lost.
            if delivered != moved.0 {
                moved = (delivered, Instant::now());
            } else if moved.1.elapsed() > Duration::from_secs(5) {
                return Ok(write);
            }
            // Also wake now and then, should a notification slip between check and wait.
            let _ = tokio::time::timeout(Duration::from_millis(5), wait).await;
        }
        f.sent.fetch_add(1, Relaxed);
        let text = format!("{:020} {pad}", start.elapsed().as_micros());
        match target {
            Target::Hub => write.write_all(&Packet::Sma { sender: me.clone(), message: text }.to_bytes()).await?,
            Target::Nats => write.write_all(format!("PUB {SUBJECT} {}\r\n{text}\r\n", text.len()).as_bytes()).await?,
        }
    }
    Ok(write)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Everything `nats_next` makes of `wire`, fed all at once, then one byte at a time.
    fn items(wire: &[u8]) -> Vec<Option<Vec<u8>>> {
        let decode = |buf: &mut BytesMut, out: &mut Vec<Option<Vec<u8>>>| {
            while let Some(item) = nats_next(buf) {
                out.push(item.map(|b| b.to_vec()));
            }
        };
        let (mut whole, mut buf) = (Vec::new(), BytesMut::from(wire));
        decode(&mut buf, &mut whole);
        let (mut bytewise, mut buf) = (Vec::new(), BytesMut::new());
        for &b in wire {
            buf.extend_from_slice(&[b]);
            decode(&mut buf, &mut bytewise);
        }
        assert_eq!(whole, bytewise);
        whole
    }

    #[test]
    fn irc_lobby_lines_and_others() {
        let text = irc_lobby_text(b":b1!b1@switchboard PRIVMSG #lobby :00000000000000000012 x\r\n");
        assert_eq!(text, Some(&b"00000000000000000012 x\r\n"[..]));
        assert_eq!(irc_lobby_text(b":b1!b1@switchboard PRIVMSG b2 :hi\r\n"), None);
        assert_eq!(irc_lobby_text(b":b1!b1@switchboard JOIN #lobby\r\n"), None);
    }

    #[test]
    fn nats_messages_and_other_lines() {
        let wire = b"INFO {}\r\nMSG lobby 1 5\r\nhello\r\nPING\r\nMSG lobby 1 reply.to 0\r\n\r\n";
        assert_eq!(items(wire), [None, Some(b"hello".to_vec()), None, Some(Vec::new())]);
    }

    #[test]
    fn a_nats_length_that_is_not_one_is_skipped_never_waited_on() {
        let wire = b"MSG lobby 1 x\r\nMSG lobby 1 99999999999\r\nMSG lobby 1 2\r\nok\r\n";
        assert_eq!(items(wire), [None, None, Some(b"ok".to_vec())]);
    }
}

//! `switchboard serve`: the configuration from file and flags, then the hub until a signal.

use anyhow::Context;
use server::Config;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Every field of the TOML configuration is also a flag; a flag wins over the file.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// A TOML configuration file (fields as the flags below, with `_` for `-`).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Every listener on 127.0.0.1 with a port the system picks (each front door, its TLS
    /// door with a certificate, the operators' listener); the flags below still win. For
    /// tests and scripts, which read where from the readiness lines.
    #[arg(long)]
    loopback: bool,
    /// Where the ChatOS front door listens [default: 0.0.0.0:7700].
    #[arg(long, value_name = "HOST:PORT")]
    chatos_addr: Option<SocketAddr>,
    /// Where the ChatHack front door listens [default: 0.0.0.0:7701].
    #[arg(long, value_name = "HOST:PORT")]
    chathack_addr: Option<SocketAddr>,
    /// Where the JPC front door listens [default: 0.0.0.0:27272].
    #[arg(long, value_name = "HOST:PORT")]
    jpc_addr: Option<SocketAddr>,
    /// Where the web client and its HTTP API are served [default: 0.0.0.0:8080].
    #[arg(long, value_name = "HOST:PORT")]
    web_addr: Option<SocketAddr>,
    /// Seconds a web session stays signed in with no page open and no request [default: 30].
    #[arg(long, value_name = "SECS")]
    web_linger_secs: Option<u64>,
    /// Largest image the web client may send, in bytes before base64 [default: 4194304].
    #[arg(long, value_name = "BYTES")]
    web_max_image: Option<usize>,
    /// Seconds an HTTP request's body has to arrive whole after its head (which has 10 s)
    /// [default: 20].
    #[arg(long, value_name = "SECS")]
    web_body_timeout_secs: Option<u64>,
    /// Origins whose pages may open the WebSocket besides the hub's own, comma-separated
    /// (`https://chat.example.org`, or `*` for any) [default: none].
    #[arg(long, value_name = "ORIGIN,...", value_delimiter = ',')]
    web_origins: Option<Vec<String>>,
    /// Password sign-ins (web, ChatHack) one address may try per window [default: 5].
    #[arg(long, value_name = "N")]
    login_attempts: Option<u32>,
    /// Wrong passwords for one account, from anywhere, per window before addresses that failed
    /// at it are held back from it (its owner's are not); 0 for no guard [default: 10].
    #[arg(long, value_name = "N")]
    login_account_attempts: Option<u32>,
    /// The length of that window, in seconds [default: 60].
    #[arg(long, value_name = "SECS")]
    login_window_secs: Option<u64>,
    /// Where the NL Chat front door (support desk operators) listens [default: 0.0.0.0:7702].
    #[arg(long, value_name = "HOST:PORT")]
    nl_addr: Option<SocketAddr>,
    /// Longest NL raw packet line accepted, in bytes [default: 32768].
    #[arg(long, value_name = "BYTES")]
    nl_max_line: Option<usize>,
    /// Seconds of silence after which an operator is probed [default: 7].
    #[arg(long, value_name = "SECS")]
    nl_probe_secs: Option<u64>,
    /// Seconds a probed operator has to answer before it leaves the pool [default: 3].
    #[arg(long, value_name = "SECS")]
    nl_probe_grace_secs: Option<u64>,
    /// Seconds a support ring waits for an operator [default: 60].
    #[arg(long, value_name = "SECS")]
    ring_timeout_secs: Option<u64>,
    /// Where the hub listens as a PeerChat peer, bridging a mesh into the lobby [default: none].
    #[arg(long, value_name = "HOST:PORT")]
    peerchat_addr: Option<SocketAddr>,
    /// A peer of a PeerChat mesh to join through (needs --peerchat-addr).
    #[arg(long, value_name = "HOST:PORT")]
    peerchat_join: Option<SocketAddr>,
    /// The hub's name in the PeerChat mesh [default: switchboard].
    #[arg(long, value_name = "NAME")]
    peerchat_name: Option<String>,
    /// Folder of the embedded store, created if missing [default: ./switchboard-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Seconds the integrity check of the store at start may take; a damaged store is not
    /// served; 0 skips the check [default: 10].
    #[arg(long, value_name = "SECS")]
    store_check_secs: Option<u64>,
    /// Longest ChatOS string accepted, in bytes [default: 1024].
    #[arg(long, value_name = "BYTES")]
    max_string: Option<usize>,
    /// Longest ChatHack message, file, login or password accepted, in bytes [default: 1024].
    #[arg(long, value_name = "BYTES")]
    chathack_max: Option<usize>,
    /// Longest JPC frame accepted, in bytes of JSON, an image's included [default: 8388608].
    #[arg(long, value_name = "BYTES")]
    jpc_max_frame: Option<usize>,
    /// Bytes a connection may have queued unsent before it is dropped as too slow [default: 1048576].
    #[arg(long, value_name = "BYTES")]
    outbound_limit: Option<usize>,
    /// Seconds a private-link request waits for its accept, then its connect [default: 30].
    #[arg(long, value_name = "SECS")]
    link_timeout_secs: Option<u64>,
    /// Seconds a connection has to log in, and a partial packet to get its next byte, before
    /// the connection is closed [default: 30].
    #[arg(long, value_name = "SECS")]
    login_timeout_secs: Option<u64>,
    /// A file of words (one a line) censored as **** in lobby messages [default: none].
    #[arg(long, value_name = "FILE")]
    word_filter: Option<PathBuf>,
    /// Chat messages a session may send a second, sustained; 0 for no limit [default: 20].
    #[arg(long, value_name = "N")]
    msg_rate: Option<u32>,
    /// Chat messages a session may send at once, before the rate paces it [default: 100].
    #[arg(long, value_name = "N")]
    msg_burst: Option<u32>,
    /// Connections one address (an IPv6 /64) may have open; 0 for no limit [default: 32].
    #[arg(long, value_name = "N")]
    max_conns_per_ip: Option<u32>,
    /// New connections one address may open a minute; 0 for no limit [default: 60].
    #[arg(long, value_name = "N")]
    max_new_conns_per_ip: Option<u32>,
    /// Networks not limited, as CIDR, comma-separated, or `none`
    /// [default: 127.0.0.0/8,::1/128].
    #[arg(long, value_name = "CIDR,...", value_parser = networks)]
    conn_limit_exempt: Option<Networks>,
    /// The TLS certificate, PEM (a chain is allowed): every front door but PeerChat then also
    /// listens with TLS [default: none].
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// The TLS certificate's key, PEM.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Instead, make a self-signed certificate for these host names (or addresses), kept in
    /// the data folder and reused.
    #[arg(long, value_name = "NAME,...", value_delimiter = ',', conflicts_with = "tls_cert")]
    tls_self_signed: Option<Vec<String>>,
    /// Where the ChatOS TLS front door listens [default with a certificate: 0.0.0.0:7710].
    #[arg(long, value_name = "HOST:PORT")]
    chatos_tls_addr: Option<SocketAddr>,
    /// Where the ChatHack TLS front door listens [default with a certificate: 0.0.0.0:7711].
    #[arg(long, value_name = "HOST:PORT")]
    chathack_tls_addr: Option<SocketAddr>,
    /// Where the JPC TLS front door listens [default with a certificate: 0.0.0.0:27273].
    #[arg(long, value_name = "HOST:PORT")]
    jpc_tls_addr: Option<SocketAddr>,
    /// Where the NL Chat TLS front door listens [default with a certificate: 0.0.0.0:7712].
    #[arg(long, value_name = "HOST:PORT")]
    nl_tls_addr: Option<SocketAddr>,
    /// Where the web client is served over HTTPS (and WSS) [default with a certificate: 0.0.0.0:8443].
    #[arg(long, value_name = "HOST:PORT")]
    web_tls_addr: Option<SocketAddr>,
    /// Networks that may read /metrics and /healthz, as CIDR, comma-separated, or `none`
    /// [default: 127.0.0.0/8,::1/128].
    #[arg(long, value_name = "CIDR,...", value_parser = networks)]
    metrics_allow: Option<Networks>,
    /// Where /metrics (only there) and /healthz (there and on the web door) are served
    /// [default: 127.0.0.1:7790].
    #[arg(long, value_name = "HOST:PORT")]
    metrics_addr: Option<SocketAddr>,
    /// Join a cluster: its NATS servers (with JetStream), `nats://HOST:PORT` or `tls://...`,
    /// comma-separated. Every node given the same is part of one hub [default: none, a
    /// single node].
    #[arg(long, value_name = "URL,...")]
    cluster: Option<String>,
    /// A NATS credentials file for the cluster (a JWT and its NKey seed).
    #[arg(long, value_name = "FILE")]
    cluster_creds: Option<PathBuf>,
    /// The CA (PEM) that signed the cluster's NATS servers' certificates, for `tls://`.
    #[arg(long, value_name = "FILE")]
    cluster_ca: Option<PathBuf>,
    /// This node's name in the cluster [default: the host name and the process id].
    #[arg(long, value_name = "NAME")]
    node_name: Option<String>,
    /// How many NATS servers keep each of the cluster's buckets and its log, when this node
    /// makes them [default: 1; 3 with a three-server NATS cluster].
    #[arg(long, value_name = "N")]
    cluster_replicas: Option<usize>,
}

/// Networks, as `--conn-limit-exempt` and `--metrics-allow` take them.
#[derive(Clone)]
struct Networks(Vec<ipnet::IpNet>);

fn networks(list: &str) -> Result<Networks, String> {
    if list == "none" {
        return Ok(Networks(Vec::new()));
    }
    let nets = list.split(',').map(|n| n.trim().parse().map_err(|e| format!("{n}: {e}")));
    nets.collect::<Result<_, _>>().map(Networks)
}

impl ServeArgs {
    fn config(self) -> anyhow::Result<Config> {
        let mut c = match &self.config {
            Some(path) => Config::load(path).with_context(|| format!("reading {}", path.display()))?,
            None => Config::default(),
        };
        if self.loopback {
            c.on_loopback();
        }
        let ServeArgs {
            config: _,
            loopback: _,
            chatos_addr,
            chathack_addr,
            jpc_addr,
            web_addr,
            web_linger_secs,
            web_max_image,
            web_body_timeout_secs,
            web_origins,
            login_attempts,
            login_account_attempts,
            login_window_secs,
            nl_addr,
            nl_max_line,
            nl_probe_secs,
            nl_probe_grace_secs,
            ring_timeout_secs,
            peerchat_addr,
            peerchat_join,
            peerchat_name,
            data_dir,
            store_check_secs,
            max_string,
            chathack_max,
            jpc_max_frame,
            outbound_limit,
            link_timeout_secs,
            login_timeout_secs,
            word_filter,
            msg_rate,
            msg_burst,
            max_conns_per_ip,
            max_new_conns_per_ip,
            conn_limit_exempt,
            tls_cert,
            tls_key,
            tls_self_signed,
            chatos_tls_addr,
            chathack_tls_addr,
            jpc_tls_addr,
            nl_tls_addr,
            web_tls_addr,
            metrics_allow,
            metrics_addr,
            cluster,
            cluster_creds,
            cluster_ca,
            node_name,
            cluster_replicas,
        } = self;
        c.chatos_addr = chatos_addr.unwrap_or(c.chatos_addr);
        c.chathack_addr = chathack_addr.unwrap_or(c.chathack_addr);
        c.chathack_max = chathack_max.unwrap_or(c.chathack_max);
        c.jpc_addr = jpc_addr.unwrap_or(c.jpc_addr);
        c.jpc_max_frame = jpc_max_frame.unwrap_or(c.jpc_max_frame);
        c.web_addr = web_addr.unwrap_or(c.web_addr);
        c.web_linger_secs = web_linger_secs.unwrap_or(c.web_linger_secs);
        c.web_max_image = web_max_image.unwrap_or(c.web_max_image);
        c.web_body_timeout_secs = web_body_timeout_secs.unwrap_or(c.web_body_timeout_secs);
        c.web_origins = web_origins.unwrap_or(c.web_origins);
        c.login_attempts = login_attempts.unwrap_or(c.login_attempts);
        c.login_account_attempts = login_account_attempts.unwrap_or(c.login_account_attempts);
        c.login_window_secs = login_window_secs.unwrap_or(c.login_window_secs);
        c.nl_addr = nl_addr.unwrap_or(c.nl_addr);
        c.nl_max_line = nl_max_line.unwrap_or(c.nl_max_line);
        c.nl_probe_secs = nl_probe_secs.unwrap_or(c.nl_probe_secs);
        c.nl_probe_grace_secs = nl_probe_grace_secs.unwrap_or(c.nl_probe_grace_secs);
        c.ring_timeout_secs = ring_timeout_secs.unwrap_or(c.ring_timeout_secs);
        c.peerchat_addr = peerchat_addr.or(c.peerchat_addr);
        c.peerchat_join = peerchat_join.or(c.peerchat_join);
        c.peerchat_name = peerchat_name.unwrap_or(c.peerchat_name);
        c.data_dir = data_dir.unwrap_or(c.data_dir);
        c.store_check_secs = store_check_secs.unwrap_or(c.store_check_secs);
        c.max_string = max_string.unwrap_or(c.max_string);
        c.outbound_limit = outbound_limit.unwrap_or(c.outbound_limit);
        c.link_timeout_secs = link_timeout_secs.unwrap_or(c.link_timeout_secs);
        c.login_timeout_secs = login_timeout_secs.unwrap_or(c.login_timeout_secs);
        c.word_filter = word_filter.or(c.word_filter);
        c.msg_rate = msg_rate.unwrap_or(c.msg_rate);
        c.msg_burst = msg_burst.unwrap_or(c.msg_burst);
        c.max_conns_per_ip = max_conns_per_ip.unwrap_or(c.max_conns_per_ip);
        c.max_new_conns_per_ip = max_new_conns_per_ip.unwrap_or(c.max_new_conns_per_ip);
        c.conn_limit_exempt = conn_limit_exempt.map_or(c.conn_limit_exempt, |e| e.0);
        c.tls_cert = tls_cert.or(c.tls_cert);
        c.tls_key = tls_key.or(c.tls_key);
        c.tls_self_signed = tls_self_signed.unwrap_or(c.tls_self_signed);
        c.chatos_tls_addr = chatos_tls_addr.or(c.chatos_tls_addr);
        c.chathack_tls_addr = chathack_tls_addr.or(c.chathack_tls_addr);
        c.jpc_tls_addr = jpc_tls_addr.or(c.jpc_tls_addr);
        c.nl_tls_addr = nl_tls_addr.or(c.nl_tls_addr);
        c.web_tls_addr = web_tls_addr.or(c.web_tls_addr);
        c.metrics_allow = metrics_allow.map_or(c.metrics_allow, |e| e.0);
        c.metrics_addr = metrics_addr.unwrap_or(c.metrics_addr);
        c.cluster = cluster.unwrap_or(c.cluster);
        c.cluster_creds = cluster_creds.or(c.cluster_creds);
        c.cluster_ca = cluster_ca.or(c.cluster_ca);
        c.node_name = node_name.or(c.node_name);
        c.cluster_replicas = cluster_replicas.unwrap_or(c.cluster_replicas);
        Ok(c)
    }
}

pub async fn run(args: ServeArgs) -> anyhow::Result<()> {
    let config = args.config()?;
    let running = server::start(config).await?;
    // The signals are ours before anyone is told the hub is up: a SIGINT sent right after
    // "ready" must stop it cleanly, not kill it.
    let signals = Signals::new()?;
    // One line on stdout per listener, for scripts that start the hub on port 0. Written
    // without println!, which would panic if whoever started the hub closed its stdout.
    running.announce(&mut std::io::stdout().lock());
    run_until_stopped(&running, signals).await;
    tracing::info!("stopping: closing connections");
    running.shutdown(Duration::from_secs(5)).await;
    Ok(())
}

/// The signals the hub answers: stop (SIGTERM, SIGINT) and load TLS again (SIGHUP).
struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    fn new() -> std::io::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate())?,
            int: signal(SignalKind::interrupt())?,
            hup: signal(SignalKind::hangup())?,
        })
    }
}

/// Serves until SIGINT or SIGTERM. SIGHUP loads the TLS certificate and key again: new
/// connections get them, open ones keep theirs; if they cannot be loaded, the ones in use stay.
async fn run_until_stopped(running: &server::Running, signals: Signals) {
    let Signals { mut term, mut int, mut hup } = signals;
    loop {
        tokio::select! {
            _ = term.recv() => {
                tracing::info!("SIGTERM");
                return;
            }
            _ = int.recv() => {
                tracing::info!("SIGINT");
                return;
            }
            _ = hup.recv() => match running.reload_tls() {
                Ok(()) => tracing::info!("SIGHUP: the TLS certificate and key are loaded again"),
                Err(e) => tracing::error!(error = format!("{e:#}"), "SIGHUP: the TLS certificate stays as it was"),
            },
        }
    }
}

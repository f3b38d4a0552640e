//! The hub's configuration: one TOML file, every field documented, every field also a flag of
//! `switchboard serve`, and defaults that work with no file at all.

use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The ChatOS front door's default port.
pub const DEFAULT_CHATOS_PORT: u16 = 7700;
/// The ChatHack front door's default port.
pub const DEFAULT_CHATHACK_PORT: u16 = 7701;
/// The JPC front door's default port, as the original's.
pub const DEFAULT_JPC_PORT: u16 = 27272;
/// The web client's default port.
pub const DEFAULT_WEB_PORT: u16 = 8080;
/// The NL Chat front door's default port.
pub const DEFAULT_NL_PORT: u16 = 7702;
/// The default port of `/metrics` and `/healthz`'s own listener, on loopback.
pub const DEFAULT_METRICS_PORT: u16 = 7790;

#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the ChatOS front door listens.
    pub chatos_addr: SocketAddr,
    /// Where the ChatHack front door listens.
    pub chathack_addr: SocketAddr,
    /// Where the JPC front door listens.
    pub jpc_addr: SocketAddr,
    /// Where the web client and its HTTP API are served.
    pub web_addr: SocketAddr,
    /// Seconds a web session stays signed in with no WebSocket open and no request.
    pub web_linger_secs: u64,
    /// Largest image the web client may send, in bytes (before base64). Keep its base64 within
    /// `jpc_max_frame`, or JPC devices cannot receive the largest ones.
    pub web_max_image: usize,
    /// Seconds an HTTP request's body has to arrive whole once its head has (which has 10 s):
    /// past them it is answered 408 and the connection closed, however steadily it trickles.
    pub web_body_timeout_secs: u64,
    /// Origins whose pages may open the WebSocket besides the hub's own (`https://HOST[:PORT]`,
    /// or `*` for any); none by default.
    pub web_origins: Vec<String>,
    /// Sign-ins with a password (web, ChatHack) one address may try per window; past them,
    /// more are refused unchecked until the window ends. A success starts afresh.
    pub login_attempts: u32,
    /// Wrong passwords for one account (from anywhere) per window before it is guarded: then
    /// addresses that failed at it are refused unchecked for it, for a window, doubling while
    /// the guessing goes on (up to 64 windows). Other addresses (its owner's) still get in. 0:
    /// no guard.
    pub login_account_attempts: u32,
    /// The length of that window, in seconds.
    pub login_window_secs: u64,
    /// Where the NL Chat front door (the support desk's operators) listens.
    pub nl_addr: SocketAddr,
    /// Longest NL raw packet line accepted, in bytes.
    pub nl_max_line: usize,
    /// Seconds of silence after which an operator is probed.
    pub nl_probe_secs: u64,
    /// Seconds a probed operator has to answer before it leaves the pool.
    pub nl_probe_grace_secs: u64,
    /// Seconds a support ring waits for an operator to answer.
    pub ring_timeout_secs: u64,
    /// Where the hub listens as a PeerChat peer; none (no bridge) by default.
    pub peerchat_addr: Option<SocketAddr>,
    /// A peer of a PeerChat mesh to join through (needs `peerchat_addr`).
    pub peerchat_join: Option<SocketAddr>,
    /// The hub's name in the mesh.
    pub peerchat_name: String,
    /// Folder of the embedded store; created if missing.
    pub data_dir: PathBuf,
    /// Seconds the integrity check of the store at start may take (`PRAGMA quick_check`): a
    /// damaged store is refused, one too big to check in time is served unchecked past it.
    /// 0 skips the check.
    pub store_check_secs: u64,
    /// Longest ChatOS string (pseudonym or message) accepted, in bytes. The original: 1024.
    pub max_string: usize,
    /// Longest ChatHack message, file, login or password accepted, in bytes. The original: 1024.
    pub chathack_max: usize,
    /// Longest JPC frame accepted, in bytes of JSON (an image travels base64 inside one).
    pub jpc_max_frame: usize,
    /// Bytes a connection may have queued and unsent before it is dropped as too slow.
    pub outbound_limit: usize,
    /// Seconds a private-link request may wait for its accept, then its connect.
    pub link_timeout_secs: u64,
    /// Seconds a connection may take to log in (an NL operator: to send its `key`), and a
    /// partial packet may wait for its next byte, before the connection is closed.
    pub login_timeout_secs: u64,
    /// A file of words (one a line, `#` for comments) censored as `****` in lobby messages;
    /// none by default.
    pub word_filter: Option<PathBuf>,
    /// Chat messages (lobby and direct, every protocol) a session may send a second, sustained;
    /// over it, its connection is read no further until it may. 0: no limit.
    pub msg_rate: u32,
    /// Chat messages a session may send at once, before `msg_rate` paces it.
    pub msg_burst: u32,
    /// Connections one address (an IPv6 /64) may have open at once; 0: no limit.
    pub max_conns_per_ip: u32,
    /// New connections one address may open a minute; 0: no limit.
    pub max_new_conns_per_ip: u32,
    /// Networks whose connections are not limited (CIDR); loopback by default.
    pub conn_limit_exempt: Vec<ipnet::IpNet>,
    /// The server's TLS certificate (PEM; a chain is allowed, the server's first) and key:
    /// with them, every front door but PeerChat also listens with TLS.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Instead, host names (or addresses) to make a self-signed certificate for, kept in the
    /// data folder (`tls/`) and reused while the names stay the same.
    pub tls_self_signed: Vec<String>,
    /// Where the TLS listeners listen; with a certificate and no address, on all addresses
    /// on ports 7710 (ChatOS), 7711 (ChatHack), 27273 (JPC), 7712 (NL Chat), 8443 (web).
    pub chatos_tls_addr: Option<SocketAddr>,
    pub chathack_tls_addr: Option<SocketAddr>,
    pub jpc_tls_addr: Option<SocketAddr>,
    pub nl_tls_addr: Option<SocketAddr>,
    pub web_tls_addr: Option<SocketAddr>,
    /// Networks that may read `/metrics` and `/healthz` (CIDR); loopback by default.
    pub metrics_allow: Vec<ipnet::IpNet>,
    /// The listener of `/metrics` (only there) and `/healthz` (there and on the web front
    /// door); loopback by default, as NATS's monitoring port is.
    pub metrics_addr: SocketAddr,
    /// The cluster's NATS servers (`nats://HOST:PORT`, or `tls://` for TLS), comma-separated:
    /// every node given the same is part of one hub. Empty (the default): a single node.
    pub cluster: String,
    /// A NATS credentials file (a JWT and its NKey seed) for the cluster, if it wants one.
    pub cluster_creds: Option<PathBuf>,
    /// The CA (PEM) that signed the NATS servers' certificates, if not a well-known one.
    pub cluster_ca: Option<PathBuf>,
    /// This node's name in the cluster (its logs and the others'); the host name and the
    /// process id by default.
    pub node_name: Option<String>,
    /// How many NATS servers keep each of the cluster's buckets and its log, for those a node
    /// makes (the first node to start): 1, or 3 with a three-server NATS cluster.
    pub cluster_replicas: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            chatos_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_CHATOS_PORT)),
            chathack_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_CHATHACK_PORT)),
            jpc_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_JPC_PORT)),
            web_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_WEB_PORT)),
            web_linger_secs: 30,
            web_max_image: 4 << 20,
            web_body_timeout_secs: 20,
            web_origins: Vec::new(),
            login_attempts: 5,
            login_account_attempts: 10,
            login_window_secs: 60,
            nl_addr: SocketAddr::from(([0, 0, 0, 0], DEFAULT_NL_PORT)),
            nl_max_line: proto::nlchat::DEFAULT_MAX_LINE,
            nl_probe_secs: 7,
            nl_probe_grace_secs: 3,
            ring_timeout_secs: 60,
            peerchat_addr: None,
            peerchat_join: None,
            peerchat_name: "switchboard".into(),
            data_dir: PathBuf::from("switchboard-data"),
            store_check_secs: 10,
            max_string: proto::chatos::DEFAULT_MAX_STRING,
            chathack_max: proto::chathack::DEFAULT_MAX,
            jpc_max_frame: proto::jpc::DEFAULT_MAX_FRAME,
            outbound_limit: 1 << 20,
            link_timeout_secs: 30,
            login_timeout_secs: 30,
            word_filter: None,
            msg_rate: 20,
            msg_burst: 100,
            max_conns_per_ip: 32,
            max_new_conns_per_ip: 60,
            conn_limit_exempt: crate::rate::loopback(),
            tls_cert: None,
            tls_key: None,
            tls_self_signed: Vec::new(),
            chatos_tls_addr: None,
            chathack_tls_addr: None,
            jpc_tls_addr: None,
            nl_tls_addr: None,
            web_tls_addr: None,
            metrics_allow: crate::rate::loopback(),
            metrics_addr: SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT)),
            cluster: String::new(),
            cluster_creds: None,
            cluster_ca: None,
            node_name: None,
            cluster_replicas: 1,
        }
    }
}

impl Config {
    /// Reads a TOML file; fields it leaves out keep their defaults.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        let text = std::fs::read_to_string(path)?;
        Ok(toml::from_str(&text)?)
    }

    pub fn link_timeout(&self) -> Duration {
        Duration::from_secs(self.link_timeout_secs)
    }

    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    /// When operators are probed and removed, for the hub.
    pub fn nl_probe(&self) -> hub::Liveness {
        hub::Liveness {
            ping_every: Duration::from_secs(self.nl_probe_secs),
            silence: Duration::from_secs(self.nl_probe_secs + self.nl_probe_grace_secs),
            quiet_first: true,
        }
    }

    pub fn web_body_timeout(&self) -> Duration {
        Duration::from_secs(self.web_body_timeout_secs.max(1))
    }

    pub fn web_linger(&self) -> Duration {
        Duration::from_secs(self.web_linger_secs)
    }

    /// The longest base64 text of an image the web client may send.
    pub fn web_max_image_base64(&self) -> usize {
        self.web_max_image.div_ceil(3) * 4
    }

    /// The largest HTTP request body: an image, and room for the JSON around it.
    pub fn web_max_body(&self) -> usize {
        self.web_max_image_base64() + 64 * 1024
    }

    /// A configuration for tests: every listener on loopback (`on_loopback`), the store in
    /// `data_dir`.
    pub fn loopback(data_dir: PathBuf) -> Config {
        let mut config = Config { data_dir, ..Config::default() };
        config.on_loopback();
        config
    }

    /// Every front door, its TLS one (with a certificate) and the operators' listener on
    /// 127.0.0.1 with a port the system picks (`serve --loopback`: tests, the bench).
    pub fn on_loopback(&mut self) {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        for addr in [&mut self.chatos_addr, &mut self.chathack_addr, &mut self.jpc_addr, &mut self.web_addr] {
            *addr = any;
        }
        self.nl_addr = any;
        for tls in [
            &mut self.chatos_tls_addr,
            &mut self.chathack_tls_addr,
            &mut self.jpc_tls_addr,
            &mut self.nl_tls_addr,
            &mut self.web_tls_addr,
        ] {
            *tls = Some(any);
        }
        self.metrics_addr = any;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_fields_and_defaults() {
        let c: Config = toml::from_str("chatos_addr = \"127.0.0.1:9000\"\nlink_timeout_secs = 5\n").unwrap();
        assert_eq!(c.chatos_addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.link_timeout(), Duration::from_secs(5));
        assert_eq!(c.max_string, 1024);
        assert!(toml::from_str::<Config>("chatos_adr = \"127.0.0.1:9000\"").is_err(), "unknown fields are refused");
        assert_eq!(toml::from_str::<Config>("").unwrap(), Config::default());
        let limits: Config =
            toml::from_str("msg_rate = 0\nconn_limit_exempt = [\"10.0.0.0/8\", \"fd00::/8\"]\n").unwrap();
        assert_eq!(limits.msg_rate, 0);
        assert_eq!(limits.conn_limit_exempt, ["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(toml::from_str::<Config>("conn_limit_exempt = [\"10.0.0.0/33\"]").is_err());
        let hardened: Config = toml::from_str(
            "web_body_timeout_secs = 5\nweb_origins = [\"https://chat.example.org\"]\nlogin_account_attempts = 3\n\
             store_check_secs = 0\nmetrics_addr = \"0.0.0.0:9100\"\n",
        )
        .unwrap();
        assert_eq!(hardened.web_body_timeout(), Duration::from_secs(5));
        assert_eq!(hardened.web_origins, ["https://chat.example.org"]);
        assert_eq!((hardened.login_account_attempts, hardened.store_check_secs), (3, 0));
        assert_eq!(hardened.metrics_addr, "0.0.0.0:9100".parse().unwrap());
        assert_eq!(Config::default().metrics_addr, "127.0.0.1:7790".parse().unwrap(), "loopback by default");
    }
}

//! The hub's configuration, defined once (`settings!`): every setting's doc, default, flag and
//! TOML name in one place. One TOML file, every field optional and documented, unknown ones
//! refused; every field also a flag of `switchboard serve`, which wins over the file; defaults
//! that work with no file at all. Each door's settings are its own (`[doors.NAME]`, declared
//! in its door file); their flat names of before (`chatos_addr = …` at the top) are still
//! taken. `docs/settings.md` is the table of them all, checked against this by a test.

use crate::doors::{Doors, DoorsFlags};
use crate::settings::{settings, Described};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

settings! {
    /// The hub's configuration: the doors' tables, then the hub's own settings.
    pub struct Config, flags ConfigFlags {
        table doors: Doors, flags DoorsFlags;
        /// Folder of the embedded store; created if missing.
        data_dir: PathBuf = PathBuf::from("switchboard-data"), flag "data-dir", value "DIR";
        /// Seconds the integrity check of the store at start may take (`PRAGMA quick_check`):
        /// a damaged store is not served; one too big to check in time is served checked
        /// only so far. 0 skips the check.
        store_check_secs: u64 = 10, flag "store-check-secs", value "SECS";
        /// Seconds a support ring waits for an operator to answer.
        ring_timeout_secs: u64 = 60, flag "ring-timeout-secs", value "SECS";
        /// Sign-ins with a password (web, ChatHack) one address (an IPv6 /64) may try per
        /// window; past them, more are refused unchecked until the window ends. A success
        /// starts afresh.
        login_attempts: u32 = 5, flag "login-attempts", value "N";
        /// Wrong passwords for one account (from anywhere) per window before it is guarded:
        /// addresses that failed at it are then refused unchecked for it, for a window,
        /// doubling while the guessing goes on (up to 64 windows); others (its owner's) still
        /// get in. 0: no guard.
        login_account_attempts: u32 = 10, flag "login-account-attempts", value "N";
        /// The length of those windows, in seconds.
        login_window_secs: u64 = 60, flag "login-window-secs", value "SECS";
        /// Bytes a connection may have queued and unsent before it is dropped as too slow.
        outbound_limit: usize = 1 << 20, flag "outbound-limit", value "BYTES";
        /// Seconds a connection's unsent bytes may wait (judged when more is queued for it)
        /// before it is dropped as too slow: a reader that keeps reading is never slow,
        /// whatever the burst. 0: judged by `outbound_limit` alone.
        write_deadline_secs: u64 = 10, flag "write-deadline-secs", value "SECS";
        /// Seconds a private-link request may wait for its accept, then its connect.
        link_timeout_secs: u64 = 30, flag "link-timeout-secs", value "SECS";
        /// Seconds a connection may take to log in (an NL operator: to send its `key`), and a
        /// partial packet may wait for its next byte, before the connection is closed.
        login_timeout_secs: u64 = 30, flag "login-timeout-secs", value "SECS";
        /// A file of words (one a line, `#` for comments) censored as `****` in lobby
        /// messages.
        word_filter: Option<PathBuf> = None, flag "word-filter", value "FILE";
        /// Chat messages (lobby and direct, every protocol) a session may send a second,
        /// sustained; over it, its connection is read no further until it may. 0: no limit.
        msg_rate: u32 = 20, flag "msg-rate", value "N";
        /// Chat messages a session may send at once, before the rate paces it.
        msg_burst: u32 = 100, flag "msg-burst", value "N";
        /// Connections one address (an IPv6 /64) may have open at once; 0: no limit.
        max_conns_per_ip: u32 = 32, flag "max-conns-per-ip", value "N";
        /// New connections one address may open a minute; 0: no limit.
        max_new_conns_per_ip: u32 = 60, flag "max-new-conns-per-ip", value "N";
        /// Networks whose connections those two do not count (CIDR; `none` on the command
        /// line for none).
        conn_limit_exempt: Vec<ipnet::IpNet> = crate::limits::rate::loopback(), flag "conn-limit-exempt",
            value "CIDR,...";
        /// The server's TLS certificate (PEM; a chain is allowed, the server's first): with it
        /// and its key, every front door but PeerChat also listens with TLS.
        tls_cert: Option<PathBuf> = None, flag "tls-cert", value "FILE";
        /// The TLS certificate's key (PEM).
        tls_key: Option<PathBuf> = None, flag "tls-key", value "FILE";
        /// Instead, host names (or addresses) to make a self-signed certificate for, kept in
        /// the data folder (`tls/`) and reused while the names stay the same.
        tls_self_signed: Vec<String> = Vec::new(), flag "tls-self-signed", value "NAME,...";
        /// Networks that may read `/metrics` and `/healthz` (CIDR; `none` on the command line
        /// for none).
        metrics_allow: Vec<ipnet::IpNet> = crate::limits::rate::loopback(), flag "metrics-allow", value "CIDR,...";
        /// The operators' listener: `/metrics` (only there) and `/healthz` (there and on the
        /// web door); on loopback, as NATS's monitoring port is.
        metrics_addr: SocketAddr = SocketAddr::from(([127, 0, 0, 1], DEFAULT_METRICS_PORT)), flag "metrics-addr",
            value "HOST:PORT";
        /// The cluster's NATS servers (`nats://HOST:PORT`, or `tls://` for TLS),
        /// comma-separated: every node given the same is part of one hub. Empty: a single
        /// node.
        cluster: String = String::new(), flag "cluster", value "URL,...";
        /// A NATS credentials file (a JWT and its NKey seed) for the cluster, if it wants one.
        cluster_creds: Option<PathBuf> = None, flag "cluster-creds", value "FILE";
        /// The CA (PEM) that signed the NATS servers' certificates, if not a well-known one.
        cluster_ca: Option<PathBuf> = None, flag "cluster-ca", value "FILE";
        /// This node's name in the cluster (its logs and the others'); none: the host name
        /// and the process id.
        node_name: Option<String> = None, flag "node-name", value "NAME";
        /// How many NATS servers keep each of the cluster's buckets and its log, for those a
        /// node makes (the first to start): 1, or 3 with a three-server NATS cluster.
        cluster_replicas: usize = 1, flag "cluster-replicas", value "N";
    }
}

/// The default port of `/metrics` and `/healthz`'s own listener, on loopback.
pub const DEFAULT_METRICS_PORT: u16 = 7790;

impl Config {
    /// Reads a TOML file; fields it leaves out keep their defaults. A door's setting under
    /// its flat name of before (`chatos_addr`, `max_string`) is taken as the one in its
    /// table (`[doors.chatos] addr`, `max_string`); both at once is an error.
    pub fn load(path: &Path) -> anyhow::Result<Config> {
        Config::parse(&std::fs::read_to_string(path)?)
    }

    /// [`Config::load`], from the file's text.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        let mut table: toml::Table = toml::from_str(text)?;
        for (door, legacy) in Doors::legacy() {
            for (old, field) in legacy {
                let Some(value) = table.remove(*old) else { continue };
                let doors = table.entry("doors").or_insert_with(|| toml::Table::new().into());
                let toml::Value::Table(doors) = doors else { anyhow::bail!("`doors` is a table of doors") };
                let door_table = doors.entry(door).or_insert_with(|| toml::Table::new().into());
                let toml::Value::Table(door_table) = door_table else { anyhow::bail!("`doors.{door}` is a table") };
                if door_table.insert((*field).to_owned(), value).is_some() {
                    anyhow::bail!("`{old}` and `doors.{door}.{field}` are one setting: give it once");
                }
            }
        }
        Ok(table.try_into()?)
    }

    /// Every setting, as `docs/settings.md` lists them.
    pub fn settings() -> Vec<Described> {
        Config::described("")
    }

    pub fn link_timeout(&self) -> Duration {
        Duration::from_secs(self.link_timeout_secs)
    }

    pub fn login_timeout(&self) -> Duration {
        Duration::from_secs(self.login_timeout_secs)
    }

    /// A configuration for tests: every listener on loopback (`on_loopback`), the store in
    /// `data_dir`.
    pub fn loopback(data_dir: PathBuf) -> Config {
        let mut config = Config { data_dir, ..Config::default() };
        config.on_loopback();
        config
    }

    /// Every front door that listens, its TLS door (bound with a certificate) and the
    /// operators' listener on 127.0.0.1 with a port the system picks (`serve --loopback`:
    /// tests, the bench). A door that is off (the PeerChat bridge) stays off.
    pub fn on_loopback(&mut self) {
        let any = SocketAddr::from(([127, 0, 0, 1], 0));
        for spec in crate::doors::DOORS {
            let listen = self.doors.listen_mut(spec.door);
            let (plain, tls) = listen.addrs();
            if plain.is_some() {
                listen.bound(false, any);
            }
            if tls.is_some() {
                listen.bound(true, any);
            }
        }
        self.metrics_addr = any;
    }
}

/// The table of every setting, in Markdown: what `docs/settings.md` holds.
pub fn settings_table() -> String {
    let mut out = String::from("| TOML (`[doors.NAME]` for a door's) | flag | default | what |\n|---|---|---|---|\n");
    for s in Config::settings() {
        let toml = match s.legacy {
            Some(old) => format!("`{}` (or `{old}`)", s.toml),
            None => format!("`{}`", s.toml),
        };
        out.push_str(&format!("| {toml} | `{}` | `{}` | {} |\n", s.flag, s.default, s.doc.replace('|', "\\|")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_fields_and_defaults() {
        let c = Config::parse("link_timeout_secs = 5\n[doors.chatos]\naddr = \"127.0.0.1:9000\"\n").unwrap();
        assert_eq!(c.doors.chatos.addr, "127.0.0.1:9000".parse().unwrap());
        assert_eq!(c.link_timeout(), Duration::from_secs(5));
        assert_eq!(c.doors.chatos.max_string, 1024);
        assert!(Config::parse("link_timeout_sec = 5").is_err(), "unknown fields are refused");
        assert!(Config::parse("[doors.chatos]\nadr = \"127.0.0.1:9000\"").is_err(), "in a door's table too");
        assert!(Config::parse("[doors.nosuch]\naddr = \"127.0.0.1:9000\"").is_err(), "and unknown doors");
        assert_eq!(Config::parse("").unwrap(), Config::default());
        let limits = Config::parse("msg_rate = 0\nconn_limit_exempt = [\"10.0.0.0/8\", \"fd00::/8\"]\n").unwrap();
        assert_eq!(limits.msg_rate, 0);
        assert_eq!(limits.conn_limit_exempt, ["10.0.0.0/8".parse().unwrap(), "fd00::/8".parse().unwrap()]);
        assert!(Config::parse("conn_limit_exempt = [\"10.0.0.0/33\"]").is_err());
        let hardened = Config::parse(
            "login_account_attempts = 3\nstore_check_secs = 0\nmetrics_addr = \"0.0.0.0:9100\"\n\
             [doors.web]\nbody_timeout_secs = 5\norigins = [\"https://chat.example.org\"]\n",
        )
        .unwrap();
        assert_eq!(hardened.doors.web.body_timeout(), Duration::from_secs(5));
        assert_eq!(hardened.doors.web.origins, ["https://chat.example.org"]);
        assert_eq!((hardened.login_account_attempts, hardened.store_check_secs), (3, 0));
        assert_eq!(hardened.metrics_addr, "0.0.0.0:9100".parse().unwrap());
        assert_eq!(Config::default().metrics_addr, "127.0.0.1:7790".parse().unwrap(), "loopback by default");
    }

    #[test]
    fn the_flat_names_of_before_are_still_taken() {
        let old = "chatos_addr = \"127.0.0.1:9000\"\nmax_string = 16\nweb_linger_secs = 5\nnl_probe_secs = 2\n\
                   peerchat_addr = \"127.0.0.1:9001\"\npeerchat_name = \"hub\"\njpc_tls_addr = \"127.0.0.1:9002\"\n\
                   chathack_max = 64\nlink_timeout_secs = 9\n";
        let c = Config::parse(old).unwrap();
        let new = Config::parse(
            "link_timeout_secs = 9\n[doors.chatos]\naddr = \"127.0.0.1:9000\"\nmax_string = 16\n\
             [doors.web]\nlinger_secs = 5\n[doors.nl]\nprobe_secs = 2\n\
             [doors.peerchat]\naddr = \"127.0.0.1:9001\"\nname = \"hub\"\n\
             [doors.jpc]\ntls_addr = \"127.0.0.1:9002\"\n[doors.chathack]\nmax = 64\n",
        )
        .unwrap();
        assert_eq!(c, new);
        // Every setting of the doors of before the table has its flat name, and each is
        // taken (doors added since have none).
        let before = ["chatos", "chathack", "jpc", "web", "nl", "peerchat"].map(|d| format!("doors.{d}."));
        for s in Config::settings().iter().filter(|s| before.iter().any(|d| s.toml.starts_with(d.as_str()))) {
            assert!(s.legacy.is_some(), "{} has no flat name", s.toml);
        }
        let both = Config::parse("max_string = 16\n[doors.chatos]\nmax_string = 32\n").unwrap_err();
        assert!(both.to_string().contains("give it once"), "{both}");
    }

    #[test]
    fn the_docs_table_of_settings_is_this_one() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/settings.md");
        let doc = std::fs::read_to_string(&path).unwrap();
        // The page's own words, then the table, which is made here.
        let head = doc.find("| TOML").map_or(doc.as_str(), |at| &doc[..at]);
        assert!(head.starts_with("# Settings"), "docs/settings.md begins with its words: {head:?}");
        let want = format!("{head}{}", settings_table());
        if std::env::var_os("SWITCHBOARD_WRITE_DOCS").is_some() {
            std::fs::write(&path, &want).unwrap();
            return;
        }
        assert_eq!(
            doc, want,
            "docs/settings.md is not the table of settings: SWITCHBOARD_WRITE_DOCS=1 cargo test writes it"
        );
    }

    /// README.md and the docs link only to files of the repository, each one there.
    #[test]
    fn every_link_of_the_docs_is_to_a_file_of_the_repository() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap();
        let mut pages = vec![root.join("README.md"), root.join("ARCHITECTURE.md"), root.join("BENCHMARKS.md")];
        pages.extend(std::fs::read_dir(root.join("docs")).unwrap().map(|e| e.unwrap().path()));
        let mut links = 0;
        for page in pages {
            let text = std::fs::read_to_string(&page).unwrap();
            for (at, _) in text.match_indices("](") {
                let target: String = text[at + 2..].chars().take_while(|&c| c != ')').collect();
                if target.starts_with("http://") || target.starts_with("https://") || target.starts_with('#') {
                    continue;
                }
                let file = page.parent().unwrap().join(target.split('#').next().unwrap());
                let file = file.canonicalize().unwrap_or_else(|_| panic!("{}: no such file {target}", page.display()));
                assert!(file.starts_with(&root), "{}: {target} is outside the repository", page.display());
                links += 1;
            }
        }
        assert!(links >= 6, "the links were found");
        let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
        assert!(!readme.contains("../"), "README.md names a path outside the repository");
    }
}

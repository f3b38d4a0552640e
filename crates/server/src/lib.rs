//! Switchboard's I/O: the listeners (front doors), the event loops driving each connection's
//! protocol, the hub task that owns the [`hub::Hub`], the relays of private links, the
//! configuration and the metrics. [`start`] binds everything and returns a [`Running`] server.

pub mod cluster;
pub mod config;
mod doors;
mod http;
mod keeper;
mod limits;
mod lock;
pub mod metrics;
mod msg;
mod net;
mod ops;
mod ready;
mod router;
mod settings;
mod start;

pub use config::{Config, ConfigFlags};
pub use doors::nl::xmpp::Account as XmppAccount;
pub use doors::nl::{cluster_key as nl_cluster_key, server_key as nl_server_key};
pub use lock::DataLock;
pub use metrics::Metrics;
pub use net::tls::client_config as tls_client_config;
pub use ready::Addresses;
pub use start::start;

use hub::SessionId;
use msg::HubMsg;
use net::relay::Relays;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use store::StoreHandle;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Inputs queued for the hub task before connections wait their turn.
pub(crate) const HUB_QUEUE: usize = 4096;

/// What every connection task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub store: StoreHandle,
    pub hub: mpsc::Sender<HubMsg>,
    pub relays: Arc<Relays>,
    pub metrics: Arc<Metrics>,
    /// What each door keeps for itself, by its index (`Spec::state`).
    states: Vec<doors::spec::State>,
    /// Password attempts per address and per account.
    pub logins: limits::throttle::LoginThrottle,
    /// Each session's chat messages, if limited.
    pub msg_rate: Option<limits::rate::Gcra>,
    /// Connections per address.
    pub conn_limits: limits::rate::ConnLimits,
    /// The server's TLS certificate, if it has one.
    pub tls: Option<net::tls::Tls>,
    /// The event loops the front doors' connections run on.
    pub reactors: Vec<Arc<net::reactor::Reactor>>,
    /// The names that only a signed-in user may hold.
    pub accounts: Arc<Accounts>,
    /// Where the server's clock for rates starts.
    epoch: tokio::time::Instant,
    next_session: AtomicU64,
}

/// The reserved names, folded: those of accounts and of white-listed devices. Nobody holds
/// one without having signed in to it (a password, a known MAC), so a user of such a name is
/// signed in as it, and another name never is: what IRC says of users' accounts (`account-tag`,
/// `extended-join`, `WHOIS` 330, `WHOX`). Kept by the hub task as it tells the hub.
#[derive(Debug, Default)]
pub(crate) struct Accounts(std::sync::RwLock<rustc_hash::FxHashSet<String>>);

impl Accounts {
    pub fn set(&self, names: &[String]) {
        let folded = names.iter().map(|n| hub::fold(n)).collect();
        *self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner) = folded;
    }

    /// Whether `name` is an account's (or a device's).
    pub fn holds(&self, name: &str) -> bool {
        self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).contains(&hub::fold(name))
    }
}

impl Shared {
    /// What door `door` keeps for itself, as the type it made it of.
    pub fn state<T: std::any::Any>(&self, door: hub::Door) -> &T {
        self.states[usize::from(door.0)].downcast_ref().expect("a door's state is of its own type")
    }

    /// The event loop of `session`'s connection.
    pub fn reactor(&self, session: SessionId) -> &Arc<net::reactor::Reactor> {
        &self.reactors[(session.0 % self.reactors.len() as u64) as usize]
    }

    pub fn new_session(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }

    /// Microseconds since the server started, on tokio's clock: the time of rate buckets.
    pub fn now_us(&self) -> u64 {
        self.epoch.elapsed().as_micros() as u64
    }

    /// Takes a token from a session's bucket of chat messages (`tat`) for `command`: how long
    /// to wait before it may go, if it must (counted).
    pub fn meter(&self, tat: &mut u64, command: &hub::Command) -> Option<Duration> {
        let wait = self.msg_rate.as_ref().filter(|_| command.is_chat())?.reserve(tat, self.now_us());
        (!wait.is_zero()).then(|| {
            self.metrics.msgs_delayed.inc();
            wait
        })
    }
}

/// Where a front door listens (with the port the system chose, if 0 was asked).
#[derive(Debug, Clone, Copy)]
pub struct Listening {
    pub door: &'static str,
    /// A TLS listener.
    pub tls: bool,
    pub addr: SocketAddr,
}

impl std::fmt::Display for Listening {
    /// `chatos 0.0.0.0:7700`, `chatos-tls 0.0.0.0:7710`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tls = if self.tls { "-tls" } else { "" };
        write!(f, "{}{tls} {}", self.door, self.addr)
    }
}

/// A started server.
pub struct Running {
    /// Where the front doors listen, in the order of the table of doors, each door's plain
    /// listener before its TLS one.
    pub listening: Vec<Listening>,
    /// Where `/metrics` and `/healthz` are served on a listener of their own.
    pub metrics_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
    /// What the doors serve beside their listeners (`Spec::also`): not aborted at shutdown,
    /// they end once the hub's last words are delivered.
    also: Vec<JoinHandle<()>>,
    router: JoinHandle<()>,
    keeper: JoinHandle<()>,
    /// The event loops: stopped once every connection is closed, or the grace is over.
    reactors: Vec<JoinHandle<()>>,
    /// The data folder is this server's while it runs.
    _lock: lock::DataLock,
}

/// A connection admitted under its address's limits, and the key it counts under there
/// (`None`: not counted). Whoever holds it gives it back with [`Shared::release`].
pub(crate) type Ticket = Option<std::num::NonZeroU64>;

impl Shared {
    /// A connection of `door` (TLS or not) admitted with `ticket` closed.
    pub fn release(&self, ticket: Ticket, door: hub::Door, tls: bool) {
        self.metrics.door(door, tls).open.dec();
        if let Some(key) = ticket {
            self.conn_limits.release(key, self.now_us());
        }
    }
}

impl Running {
    /// Where the front door `name` listens, plain, if it does.
    pub fn addr(&self, name: &str) -> Option<SocketAddr> {
        self.listening.iter().find(|l| l.door == name && !l.tls).map(|l| l.addr)
    }

    /// Where the front door `name` listens with TLS, if it does.
    pub fn tls_addr(&self, name: &str) -> Option<SocketAddr> {
        self.listening.iter().find(|l| l.door == name && l.tls).map(|l| l.addr)
    }

    /// The store, as the server uses it.
    pub fn store(&self) -> &StoreHandle {
        &self.shared.store
    }

    /// Loads the TLS certificate and key again (SIGHUP): new connections get the new ones,
    /// open ones keep theirs. On failure the ones in use stay, and the error says why.
    pub fn reload_tls(&self) -> anyhow::Result<()> {
        match &self.shared.tls {
            Some(tls) => tls.reload(),
            None => Ok(()),
        }
    }

    /// The web front door's routes, to call in-process (a request needs a
    /// `ConnectInfo<SocketAddr>` extension), with web sessions of their own: how the HTTP API
    /// is fuzzed.
    pub fn web_app(&self) -> axum::Router {
        doors::web::app(self.shared.clone())
    }

    /// Stops accepting, closes every connection once what is queued for it is written (for at
    /// most `grace`), and logs the metrics.
    pub async fn shutdown(self, grace: Duration) {
        for l in &self.listeners {
            l.abort();
        }
        let _ = self.shared.hub.send(HubMsg::Shutdown).await;
        let _ = self.router.await;
        // The router is gone, and with it the keeper's queue: what it holds is written now.
        let _ = tokio::time::timeout(grace, self.keeper).await;
        let deadline = tokio::time::Instant::now() + grace;
        for task in self.also {
            let _ = tokio::time::timeout_at(deadline, task).await;
        }
        while self.metrics.open() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        for reactor in &self.reactors {
            reactor.abort();
        }
        self.metrics.log_summary();
    }
}

#[cfg(test)]
mod tests {
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::Path;

    /// The modules of `src/` by their path (`doors::chatos`), with their text less their tests.
    fn modules() -> BTreeMap<String, String> {
        fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
                let name = match (prefix, stem.as_str()) {
                    (_, "lib") | (_, "mod") => prefix.to_owned(),
                    ("", stem) => stem.to_owned(),
                    (prefix, stem) => format!("{prefix}::{stem}"),
                };
                if path.is_dir() {
                    walk(&path, &name, out);
                } else if path.extension().is_some_and(|e| e == "rs") {
                    let text = std::fs::read_to_string(&path).unwrap();
                    let code = text.split("#[cfg(test)]\nmod tests").next().unwrap().to_owned();
                    out.insert(name, code);
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), "", &mut out);
        out
    }

    /// ARCHITECTURE.md says so: what a module uses of another (`crate::a::b`, `super::x`)
    /// never uses it back.
    #[test]
    fn no_two_modules_import_each_other() {
        let modules = modules();
        let uses = |name: &str, code: &str| -> BTreeSet<String> {
            let mut found = BTreeSet::new();
            let parent = name.rsplit_once("::").map_or("", |(p, _)| p);
            for (start, base) in [("crate::", String::new()), ("super::", parent.to_owned())] {
                for (at, _) in code.match_indices(start) {
                    let rest = &code[at + start.len()..];
                    let path: String =
                        rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_' || *c == ':').collect();
                    let mut parts: Vec<&str> = path.split("::").filter(|p| !p.is_empty()).collect();
                    while !parts.is_empty() {
                        let joined = parts.join("::");
                        let full = if base.is_empty() { joined } else { format!("{base}::{joined}") };
                        if modules.contains_key(&full) {
                            found.insert(full);
                            break;
                        }
                        parts.pop();
                    }
                }
            }
            found.remove(name);
            found.remove(""); // the crate root: what every task shares
            found
        };
        let graph: BTreeMap<&String, BTreeSet<String>> = modules.iter().map(|(n, c)| (n, uses(n, c))).collect();
        for (a, used) in &graph {
            for b in used {
                assert!(!graph[b].contains(*a), "{a} and {b} import each other");
            }
        }
        assert!(graph.len() > 20, "the modules were found: {:?}", graph.keys());
    }
}

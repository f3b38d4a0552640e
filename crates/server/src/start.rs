//! Start-up: the data folder locked, the store opened and checked (or, in a cluster, the
//! node joined and its copy of the cluster's state caught up), every door's state made and
//! its listeners bound, the hub, the keeper and the tasks started.

use crate::cluster;
use crate::cluster::state::{self, Durable};
use crate::doors::{self, DOORS};
use crate::msg::HubMsg;
use crate::router::Router;
use crate::{keeper, limits, lock, net, ops, router, Config, Listening, Metrics, Running, Shared, HUB_QUEUE};
use anyhow::Context;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use store::{Store, StoreHandle};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// How often the store is asked whether accounts changed.
const ACCOUNTS_POLL: Duration = Duration::from_secs(1);

/// Opens the store, binds every front door, and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    // Before anything in the folder is opened: a second hub on it stops here.
    let data_lock = lock::DataLock::acquire(&config.data_dir)?;
    let metrics = Arc::new(Metrics::new(&DOORS.map(|door| door.name), !config.cluster.is_empty()));
    let (store, version, reserved, first_session, joined) = match config.cluster.is_empty() {
        true => {
            let path = config.data_dir.join(store::FILE);
            let mut store = Store::open(&config.data_dir)
                .map_err(|e| damaged(&path, &e, false))
                .with_context(|| format!("opening the store in {}", config.data_dir.display()))?;
            check(&mut store, &path, config.store_check_secs, false)?;
            // The version first: a change committed after it, even before the names are
            // read, shows as a new version to the watcher, which then reads the names again.
            let version = store.data_version()?;
            let reserved = store.reserved_names()?;
            let mut store = store;
            // Session ids never repeat, not even across restarts: a guest's history is its
            // session's.
            let first_session = u64::from(store.next_boot().context("counting the server's starts")?) << 32;
            (StoreHandle::spawn(store), Some(version), reserved, first_session, None)
        }
        // In a cluster, its state is the one in JetStream: this node reads a copy of it.
        false => {
            let (link, me) = cluster::connect_node(&config).await?;
            metrics.bus.connected.set(1);
            let max_payload = link.client.server_info().max_payload;
            if max_payload < proto::bus::MAX_MESSAGE {
                tracing::warn!(
                    max_payload,
                    "NATS takes messages of at most {max_payload} bytes: images larger than that will not cross \
                     nodes (set max_payload: 8MB in nats-server's configuration)"
                );
            }
            let copy_path = config.data_dir.join(store::CLUSTER_FILE);
            let mut copy = Store::open_file(&config.data_dir, store::CLUSTER_FILE)
                .map_err(|e| damaged(&copy_path, &e, true))
                .with_context(|| format!("opening this node's copy in {}", config.data_dir.display()))?;
            check(&mut copy, &copy_path, config.store_check_secs, true)?;
            // Nodes that start together make the buckets together, and a NATS cluster elects
            // their leaders meanwhile: what times out is tried again, for a while.
            let mut attempt = 0;
            let (durable, from, first_session) = loop {
                let opened = async {
                    let durable = Durable::open(link.client.clone(), config.cluster_replicas)
                        .await
                        .context("opening the cluster's state")?;
                    let from = state::open_copy(&durable, &mut copy).await.context("copying the cluster's accounts")?;
                    let boot = durable.next_boot().await.context("counting the cluster's starts")?;
                    anyhow::Ok((durable, from, u64::from(boot) << 32))
                };
                match opened.await {
                    Ok(opened) => break opened,
                    Err(e) if attempt < 30 => {
                        attempt += 1;
                        tracing::warn!(error = %format!("{e:#}"), attempt, "the cluster's state is not ready: trying again");
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                    Err(e) => return Err(e),
                }
            };
            let (reserved, applied) = (copy.reserved_names()?, copy.log_applied()?);
            let joined = Joined { link, me, durable, from, applied };
            (StoreHandle::spawn(copy), None, reserved, first_session, Some(joined))
        }
    };
    if config.doors.peerchat.join.is_some() && config.doors.peerchat.addr.is_none() {
        anyhow::bail!("joining a PeerChat mesh (peerchat_join) needs a port to listen on (peerchat_addr)");
    }
    // Every door the configuration gives an address, bound; the configuration then holds
    // the addresses bound (the port the system chose for port 0: what the PeerChat peer
    // announces, what the desk lists).
    let mut config = config;
    let tls = net::tls::Tls::from_config(&config).context("the TLS certificate")?;
    let mut bound = Vec::new();
    for door in DOORS {
        let (plain, tls_at) = config.doors.listen(door.door).addrs();
        let tls_at = tls_at.filter(|_| tls.is_some());
        for (at, secure) in [(plain, false), (tls_at, true)] {
            let Some(addr) = at else { continue };
            let what = if secure { "TLS front door" } else { "front door" };
            let listener =
                TcpListener::bind(addr).await.with_context(|| format!("binding the {} {what} to {addr}", door.name))?;
            config.doors.listen_mut(door.door).bound(secure, listener.local_addr()?);
            bound.push((door, secure, listener));
        }
    }

    let (tx, rx) = mpsc::channel(HUB_QUEUE);
    let word_filter = match &config.word_filter {
        Some(path) => hub::WordFilter::from_lines(
            &std::fs::read_to_string(path).with_context(|| format!("reading the word filter {}", path.display()))?,
        ),
        None => hub::WordFilter::default(),
    };
    // What each door keeps for itself (in a cluster, from its state, which answered above).
    let mut states = Vec::new();
    for door in DOORS {
        let startup =
            doors::spec::Startup { config: &config, store: &store, cluster: joined.as_ref().map(|j| &j.durable) };
        states.push((door.state)(startup).await.with_context(|| format!("the {} door", door.name))?);
    }
    let mut hub = hub::Hub::new(
        hub::Config {
            link_timeout: config.link_timeout(),
            login_timeout: config.login_timeout(),
            word_filter,
            ring_timeout: Duration::from_secs(config.ring_timeout_secs),
            door_names: DOORS.iter().map(|door| door.name).collect(),
            cluster: !config.cluster.is_empty(),
            // Rings are numbered from 1 on a single node, from this start's ids in a cluster.
            first_id: if config.cluster.is_empty() { 0 } else { first_session },
            ..hub::Config::default()
        },
        router::now(),
    );
    let accounts = Arc::new(crate::Accounts::default());
    accounts.set(&reserved);
    hub.handle(router::now(), hub::Input::Reserved { names: reserved });
    let window = Duration::from_secs(config.login_window_secs);
    let logins = limits::throttle::LoginThrottle::new(config.login_attempts, config.login_account_attempts, window);
    let msg_rate = limits::rate::Gcra::new(config.msg_rate, Duration::from_secs(1), config.msg_burst);
    let exempt = config.conn_limit_exempt.clone();
    let conn_limits = limits::rate::ConnLimits::new(config.max_conns_per_ip, config.max_new_conns_per_ip, exempt);
    // One event loop a core, as tokio has one worker a core.
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    let mut reactors = Vec::with_capacity(cores);
    let mut reactor_tasks = Vec::with_capacity(cores);
    for _ in 0..cores {
        let (reactor, task) = crate::net::reactor::Reactor::start().context("starting an event loop")?;
        reactors.push(reactor);
        reactor_tasks.push(task);
    }
    let shared = Arc::new(Shared {
        config,
        store: store.clone(),
        hub: tx,
        relays: Arc::default(),
        metrics,
        states,
        logins,
        msg_rate,
        conn_limits,
        tls,
        reactors,
        accounts,
        epoch: tokio::time::Instant::now(),
        next_session: AtomicU64::new(first_session),
    });
    let mut listeners = Vec::new();
    if let Some(version) = version {
        listeners.push(tokio::spawn(watch_accounts(
            store.clone(),
            version,
            shared.hub.clone(),
            shared.metrics.clone(),
        )));
    }
    let (durable, bus, loaded) = match joined {
        None => (None, None, None),
        Some(Joined { link, me, durable, from, applied }) => {
            let client = link.client.clone();
            // The copy holds the log as it stands before this node serves anyone.
            let last = durable.last().await.context("reading the cluster's log")?;
            let (mut applied, tasks) =
                state::copier(durable.clone(), client, store.clone(), applied, last, from, shared.hub.clone());
            listeners.extend(tasks);
            tracing::info!(from = *applied.borrow(), to = last, "copying the cluster's log");
            applied.wait_for(|&a| a >= last).await.context("copying the cluster's log")?;
            let started = cluster::start(link, me, &shared.config, shared.hub.clone(), shared.metrics.clone()).await?;
            listeners.extend(started.tasks);
            (Some((durable, applied)), Some(started.bus), Some(started.loaded))
        }
    };
    let (keep, keeper) = keeper::spawn(shared.store.clone(), durable, shared.hub.clone(), shared.metrics.clone());
    let router = tokio::spawn(Router::new(hub, &shared, keep, bus).run(rx));
    if let Some(loaded) = loaded {
        // Every name claimed before this node joined is known to its hub before anyone asks.
        let _ = loaded.await;
    }
    let mut listening = Vec::new();
    let addr = shared.config.metrics_addr;
    let listener = TcpListener::bind(addr).await.with_context(|| format!("binding the metrics listener to {addr}"))?;
    let metrics_addr = listener.local_addr()?;
    tracing::info!(addr = %metrics_addr, "serving /metrics and /healthz");
    listeners.push(tokio::spawn(ops::serve(listener, shared.clone())));
    for (door, tls, listener) in bound {
        let addr = listener.local_addr()?;
        tracing::info!(door = door.name, tls, %addr, "listening");
        listening.push(Listening { door: door.name, tls, addr });
        listeners.push(tokio::spawn((door.serve)(listener, shared.clone(), tls)));
    }
    let also = DOORS.iter().flat_map(|door| (door.also)(&shared)).map(tokio::spawn).collect();
    tracing::info!(data_dir = %shared.config.data_dir.display(), "switchboard is up");
    Ok(Running {
        listening,
        metrics_addr,
        metrics: shared.metrics.clone(),
        shared,
        listeners,
        also,
        router,
        keeper,
        reactors: reactor_tasks,
        _lock: data_lock,
    })
}

/// Checks the store's file (`path`) for damage, for at most `secs` (0: not at all), and
/// refuses a damaged one. `copy`: a cluster node's copy, made anew from the cluster if removed.
fn check(store: &mut Store, path: &std::path::Path, secs: u64, copy: bool) -> anyhow::Result<()> {
    if secs == 0 {
        tracing::warn!(store = %path.display(), "the store is not checked (store_check_secs = 0)");
        return Ok(());
    }
    let started = std::time::Instant::now();
    match store.check(Duration::from_secs(secs)).with_context(|| format!("checking {}", path.display()))? {
        store::Check::Ok => {
            tracing::info!(store = %path.display(), took_ms = started.elapsed().as_millis() as u64, "the store is sound");
            Ok(())
        }
        store::Check::Unfinished => {
            tracing::warn!(
                store = %path.display(),
                secs,
                "the store's check did not finish in store_check_secs (a big store): served checked only so far"
            );
            Ok(())
        }
        store::Check::Damaged(problems) => Err(recovery(path, &problems.join("; "), copy)),
    }
}

/// `error` opening the store at `path`, with how to recover if it says the file is damaged.
fn damaged(path: &std::path::Path, error: &store::StoreError, copy: bool) -> anyhow::Error {
    match error.is_damage() {
        true => recovery(path, &error.to_string(), copy),
        false => anyhow::anyhow!("{error}"),
    }
}

/// Why a damaged store is not served, and how to get it back.
fn recovery(path: &std::path::Path, problems: &str, copy: bool) -> anyhow::Error {
    let p = path.display();
    let how = match copy {
        true => format!(
            "it is only this node's copy of the cluster's state: remove {p} (and {p}-wal, {p}-shm) and start the \
             node again; it is copied anew from the cluster"
        ),
        false => format!(
            "to recover what can be read into a new store (the damaged file is kept beside it):\n  \
             switchboard store recover --data-dir {}\n\
             or put a backup in its place. To serve it as it is anyway (what is damaged is lost, or answered as \
             an error): --store-check-secs 0",
            path.parent().unwrap_or(path).display()
        ),
    };
    anyhow::anyhow!("the store {p} is damaged (SQLite's check: {problems}): it is not served.\n{how}")
}

/// A node that joined a cluster, before it serves.
struct Joined {
    link: cluster::Link,
    me: cluster::Me,
    durable: Durable,
    /// The revisions to watch the accounts and the white-list from.
    from: (u64, u64),
    /// How far this node's copy holds the log.
    applied: u64,
}

/// Tells the hub when the reserved names (accounts and white-listed devices) change:
/// `switchboard accounts` and `switchboard whitelist` may change them while the hub runs,
/// from another process.
async fn watch_accounts(store: StoreHandle, version: i64, hub: mpsc::Sender<HubMsg>, metrics: Arc<Metrics>) {
    let mut last = Some(version);
    loop {
        tokio::time::sleep(ACCOUNTS_POLL).await;
        let changed = store
            .call(move |s| {
                let now = s.data_version()?;
                Ok::<_, store::StoreError>(if Some(now) == last { None } else { Some((now, s.reserved_names()?)) })
            })
            .await;
        match changed {
            Ok(Ok(Some((version, names)))) => {
                last = Some(version);
                tracing::info!(reserved = names.len(), "accounts or white-list changed");
                if hub.send(HubMsg::Reserved { names }).await.is_err() {
                    return;
                }
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %e, "reading the accounts");
                metrics.store_read_failed("reading the accounts", &e);
            }
            Err(_) => return, // the store is gone: the server is stopping
        }
    }
}

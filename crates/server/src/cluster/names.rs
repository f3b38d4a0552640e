//! Names across the cluster: a login's claim, the directory of who holds what, and who is
//! alive. One task owns all three, so that they never disagree.
//!
//! A claim is the key of the name's skeleton in the `switchboard_names` bucket, made with an
//! atomic create: two nodes can never both get it, nor get two names that look alike. It is
//! deleted (if still this node's revision) when the session ends. A claim held by a node that
//! is gone may be taken over, again atomically: an update that names the revision seen.
//!
//! Who is alive: every node publishes a heartbeat every second. A node not heard from for
//! [`LEASE`] is gone, judged only by a node that has itself been connected at least that long
//! (after a NATS outage everyone is given a new lease); its claims are deleted and the hubs
//! forget its names. The directory comes from watching the bucket: another node's claim is
//! `Joined`, its deletion `Left`. And if the bucket shows one of this node's own names taken
//! over or deleted by another (this node was cut off long enough to be judged gone), the
//! session holding it is `Lost`: a node that comes back never keeps a claim it lost.

use super::{Known, Me, Naming, ALIVE, ROUND_TRIP};
use crate::metrics::Metrics;
use crate::msg::HubMsg;
use async_nats::jetstream::kv::{self, CreateErrorKind, Operation, UpdateErrorKind};
use futures_util::StreamExt;
use hub::{HubError, Input, Node, SessionId};
use proto::bus::{self, BusMsg};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// A node not heard from for this long is gone, and its names free.
pub(crate) const LEASE: Duration = Duration::from_secs(6);
/// How often a node says it is alive, and looks for nodes that are not.
const BEAT: Duration = Duration::from_secs(1);

/// Another node's claim, as the bucket shows it. Every node has one for every name held
/// elsewhere, so it is kept small: the node by its number, the name on the heap once.
#[derive(Debug)]
struct Entry {
    node: Node,
    name: Box<str>,
    revision: u64,
}

pub(crate) struct Names {
    kv: kv::Store,
    client: async_nats::Client,
    me: Me,
    nodes: Known,
    hub: mpsc::Sender<HubMsg>,
    metrics: Arc<Metrics>,
    /// This node's claims: key → the session and the claim's revision.
    mine: HashMap<Box<str>, (SessionId, u64)>,
    /// Claims whose release failed (NATS away): key → revision, released once it is back.
    unreleased: HashMap<Box<str>, u64>,
    /// The other nodes' claims.
    directory: HashMap<Box<str>, Entry>,
    /// When each other node was last heard.
    heard: HashMap<String, Instant>,
    /// Since when this node has been connected (`None`: it is not).
    connected: Option<Instant>,
    /// The last revision of the bucket seen, to watch on from after a break.
    seen: u64,
    /// Told once the directory holds every claim made before this node started.
    loaded: Option<oneshot::Sender<()>>,
    /// When this node last beat.
    last_beat: Instant,
}

impl Names {
    pub(crate) fn new(
        kv: kv::Store,
        client: async_nats::Client,
        me: Me,
        nodes: Known,
        hub: mpsc::Sender<HubMsg>,
        metrics: Arc<Metrics>,
    ) -> Names {
        Names {
            kv,
            client,
            me,
            nodes,
            hub,
            metrics,
            mine: HashMap::new(),
            unreleased: HashMap::new(),
            directory: HashMap::new(),
            heard: HashMap::new(),
            connected: Some(Instant::now()),
            seen: 0,
            loaded: None,
            last_beat: Instant::now(),
        }
    }

    pub(crate) async fn run(
        mut self,
        mut claims: mpsc::Receiver<Naming>,
        mut alive: mpsc::UnboundedReceiver<(String, String)>,
        mut events: mpsc::UnboundedReceiver<async_nats::Event>,
        loaded: oneshot::Sender<()>,
    ) {
        // The first watch reads every claim there is, then what changes: loaded once it has
        // read the last (at once if there is none).
        match self.kv.status().await {
            Ok(status) if status.values() > 0 => self.loaded = Some(loaded),
            _ => drop(loaded.send(())),
        }
        let mut beat = tokio::time::interval(BEAT);
        beat.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut watch = None;
        loop {
            if watch.is_none() && self.connected.is_some() {
                watch = self.watch().await;
            }
            tokio::select! {
                claim = claims.recv() => match claim {
                    Some(claim) => self.on_claim(claim).await,
                    None => return,
                },
                entry = next(&mut watch), if watch.is_some() => match entry {
                    Some(entry) => self.on_entry(entry).await,
                    None => watch = None,
                },
                Some((node, name)) = alive.recv() => {
                    if self.heard.insert(node.clone(), Instant::now()).is_none() {
                        tracing::info!(%node, %name, "a node of the cluster is up");
                        self.count_nodes(Instant::now());
                        let up = self.nodes.lock().expect("nodes lock").node(&node);
                        self.tell(Input::NodeUp { node: up }).await;
                    }
                }
                Some(event) = events.recv() => self.on_event(event, &mut watch).await,
                _ = beat.tick() => self.on_beat().await,
            }
        }
    }

    /// Watches the bucket from after the last revision seen (all of it, the first time).
    async fn watch(&mut self) -> Option<kv::Watch> {
        let watch = match self.seen {
            0 => self.kv.watch_all_from_revision(1).await,
            seen => self.kv.watch_all_from_revision(seen + 1).await,
        };
        watch.inspect_err(|e| tracing::warn!(error = %e, "watching the cluster's names")).ok()
    }

    async fn on_event(&mut self, event: async_nats::Event, watch: &mut Option<kv::Watch>) {
        match event {
            async_nats::Event::Connected => {
                // The client subscribes again to what it listened to before anything else it
                // sends: once NATS has read what it sends next, this node hears the others.
                self.heard().await;
                tracing::info!("connected to the cluster");
                self.metrics.bus.connected.set(1);
                // Everyone gets a new lease: nobody was heard while this node was away.
                self.connected = Some(Instant::now());
                *watch = None;
            }
            async_nats::Event::Disconnected => {
                tracing::warn!("disconnected from the cluster: serving this node's users meanwhile");
                self.metrics.bus.connected.set(0);
                self.connected = None;
            }
            event => tracing::debug!(%event, "cluster connection"),
        }
    }

    /// Waits (2 s at most) until NATS has read everything this node's client sent so far.
    /// A flush says only that the bytes left this process: on a loaded machine NATS may
    /// read a renewed subscription after another node's message that it would have heard.
    /// A request that nobody answers comes back "no responders" from the server itself.
    async fn heard(&self) {
        let asked = self.client.request(ROUND_TRIP, bytes::Bytes::new());
        match tokio::time::timeout(Duration::from_secs(2), asked).await {
            Err(_) => tracing::warn!("NATS did not answer within 2 s"),
            Ok(Err(e)) if e.kind() != async_nats::RequestErrorKind::NoResponders => {
                tracing::warn!(error = %e, "asking NATS for a round trip")
            }
            Ok(_) => {}
        }
    }

    async fn on_claim(&mut self, claim: Naming) {
        match claim {
            Naming::Claim { session, name, door, caps, was } => {
                let key: Box<str> = bus::claim_key(&hub::skeleton(&name)).into();
                let value = bus::Holding { node: self.me.id.clone(), name, door: door.0, caps: caps.bits(), was };
                let result = match self.connected {
                    Some(_) => self.claim(&key, value).await,
                    None => Err(HubError::Unavailable),
                };
                match result {
                    Ok(revision) => {
                        self.unreleased.remove(&key);
                        self.mine.insert(key, (session, revision));
                    }
                    Err(HubError::Unavailable) => {
                        self.metrics.bus.dropped.inc();
                    }
                    Err(_) => {}
                }
                let _ = self.hub.send(HubMsg::Cluster(Input::Claimed { session, result: result.map(drop) })).await;
            }
            Naming::Release { session, name } => {
                let key: Box<str> = bus::claim_key(&hub::skeleton(&name)).into();
                if self.mine.get(&key).is_some_and(|&(s, _)| s == session) {
                    let (_, revision) = self.mine.remove(&key).expect("just seen");
                    self.release(key, revision).await;
                }
            }
        }
    }

    /// Creates the claim `key`, or takes it over from a node that is gone (or from this node,
    /// whose release failed): the claim's revision.
    async fn claim(&mut self, key: &str, value: bus::Holding) -> Result<u64, HubError> {
        let bytes = bytes::Bytes::from(value.to_bytes());
        let exists = match self.kv.create(key, bytes.clone()).await {
            Ok(revision) => return Ok(revision),
            Err(e) if e.kind() == CreateErrorKind::AlreadyExists => e,
            Err(e) => {
                tracing::warn!(error = %e, "claiming a name in the cluster");
                return Err(HubError::Unavailable);
            }
        };
        let entry = match self.kv.entry(key).await {
            Ok(Some(entry)) if entry.operation == Operation::Put => entry,
            // Released meanwhile: it is somebody else's turn first.
            Ok(_) => return Err(HubError::NameTaken),
            Err(e) => {
                tracing::warn!(error = %e, after = %exists, "reading a claim in the cluster");
                return Err(HubError::Unavailable);
            }
        };
        let holder = bus::Holding::decode(&entry.value).map(|c| c.node).unwrap_or_default();
        if holder != self.me.id && self.alive(&holder) {
            return Err(HubError::NameTaken);
        }
        match self.kv.update(key, bytes, entry.revision).await {
            Ok(revision) => {
                tracing::info!(%holder, "took a name over from a node that is gone");
                Ok(revision)
            }
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => Err(HubError::NameTaken),
            Err(e) => {
                tracing::warn!(error = %e, "taking a name over in the cluster");
                Err(HubError::Unavailable)
            }
        }
    }

    /// Deletes this node's claim `key` if it is still at `revision`; kept to retry if NATS
    /// cannot be reached.
    async fn release(&mut self, key: Box<str>, revision: u64) {
        match self.kv.delete_expect_revision(&key, Some(revision)).await {
            Ok(()) => {}
            Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {} // not ours any more
            Err(e) => {
                tracing::debug!(error = %e, "releasing a name in the cluster: later");
                self.unreleased.insert(key, revision);
            }
        }
    }

    /// Whether `node` may hold claims: heard from lately, or this node has not been connected
    /// long enough to judge.
    fn alive(&self, node: &str) -> bool {
        let now = Instant::now();
        match self.connected {
            Some(since) if now - since >= LEASE => self.heard.get(node).is_some_and(|&t| now - t < LEASE),
            _ => true,
        }
    }

    async fn on_entry(&mut self, entry: Result<kv::Entry, kv::WatcherError>) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(e) => {
                tracing::warn!(error = %e, "watching the cluster's names");
                return;
            }
        };
        self.seen = self.seen.max(entry.revision);
        let last = entry.delta == 0;
        self.apply(entry).await;
        // What the hub was told of it is in its queue before anything a user says after.
        if last {
            if let Some(loaded) = self.loaded.take() {
                let _ = loaded.send(());
            }
        }
    }

    async fn apply(&mut self, entry: kv::Entry) {
        let key = entry.key.into_boxed_str();
        // Another node wrote over one of this node's claims: this node was judged gone.
        if let Some(&(session, revision)) = self.mine.get(&key) {
            let others = match entry.operation {
                Operation::Put => bus::Holding::decode(&entry.value).map_or(true, |c| c.node != self.me.id),
                Operation::Delete | Operation::Purge => true,
            };
            if others && entry.revision > revision {
                tracing::warn!(session = session.0, "a name of this node's was taken by the cluster meanwhile");
                self.mine.remove(&key);
                self.tell(Input::Lost { session }).await;
            }
        }
        let put = match entry.operation {
            Operation::Put => Some(bus::Holding::decode(&entry.value)),
            Operation::Delete | Operation::Purge => None,
        };
        let node = match &put {
            Some(Ok(claim)) if claim.node != self.me.id => {
                Some(self.nodes.lock().expect("nodes lock").node(&claim.node))
            }
            _ => None,
        };
        let old = self.directory.remove(&key);
        if let Some(old) = old {
            // A session renamed to a name that looks like its old one renews its claim: it is
            // renamed, not gone.
            let renamed = matches!(&put, Some(Ok(claim)) if Some(old.node) == node
                && claim.was.as_deref().is_some_and(|was| hub::same_name(was, &old.name)));
            if !renamed {
                self.tell(Input::Left { node: old.node, name: old.name.into() }).await;
            }
        }
        let (claim, node) = match (put, node) {
            (Some(Ok(claim)), Some(node)) => (claim, node),
            (Some(Err(e)), _) => {
                self.metrics.bus.bad.inc();
                tracing::warn!(error = %e, "a claim in the cluster that is none");
                return;
            }
            _ => return,
        };
        self.directory.insert(key, Entry { node, name: claim.name.as_str().into(), revision: entry.revision });
        let (door, caps) = (hub::Door(claim.door), hub::Caps::from_bits(claim.caps));
        self.tell(Input::Joined { node, name: claim.name, door, caps, was: claim.was }).await;
    }

    /// The other nodes heard from lately, for the metrics.
    fn count_nodes(&self, now: Instant) {
        self.metrics.bus.nodes.set(self.heard.values().filter(|&&t| now - t < LEASE).count() as i64);
    }

    /// Every second: this node is alive; nodes not heard from are gone; releases that failed
    /// are tried again.
    async fn on_beat(&mut self) {
        if self.connected.is_none() {
            return;
        }
        let beat = BusMsg::Alive { node: self.me.id.clone(), name: self.me.name.clone() };
        if self.client.publish(ALIVE, beat.to_bytes().into()).await.is_err() {
            return;
        }
        let now = Instant::now();
        // A node that did not run for a while (stopped, a stalled VM) saw nobody meanwhile:
        // its view of the others is stale, not theirs of being alive. Everyone gets a new
        // lease, as after a reconnection; if it was away long enough, the others judged it
        // gone, and the watch tells it which of its names it lost.
        let stalled = now - self.last_beat;
        self.last_beat = now;
        if stalled > 3 * BEAT {
            tracing::warn!(?stalled, "this node did not run for a while: the others get a new lease");
            self.connected = Some(now);
            return;
        }
        self.count_nodes(now);
        let holding: HashSet<Node> = self.directory.values().map(|e| e.node).collect();
        let gone: Vec<(Node, String)> = {
            let nodes = self.nodes.lock().expect("nodes lock");
            let named = holding.into_iter().filter_map(|node| Some((node, nodes.id(node)?.to_owned())));
            named.filter(|(_, id)| !self.alive(id)).collect()
        };
        for (node, id) in gone {
            tracing::warn!(node = %id, "a node of the cluster is gone: its names are free");
            self.heard.remove(&id);
            let keys: Vec<(Box<str>, u64)> =
                self.directory.iter().filter(|(_, e)| e.node == node).map(|(k, e)| (k.clone(), e.revision)).collect();
            for (key, revision) in keys {
                self.directory.remove(&key);
                // Another node may be quicker: then this fails, and that is as good.
                let _ = self.kv.delete_expect_revision(&key, Some(revision)).await;
            }
            self.tell(Input::NodeGone { node }).await;
        }
        // Nodes silent for a lease are judged: forgetting them changes nothing but memory.
        self.heard.retain(|_, &mut t| now - t < LEASE);
        for (key, revision) in std::mem::take(&mut self.unreleased) {
            self.release(key, revision).await;
        }
    }

    async fn tell(&self, input: Input) {
        let _ = self.hub.send(HubMsg::Cluster(input)).await;
    }
}

/// The next entry of the watch (there is one: the caller checked).
async fn next(watch: &mut Option<kv::Watch>) -> Option<Result<kv::Entry, kv::WatcherError>> {
    watch.as_mut()?.next().await
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_claim_held_elsewhere_costs_the_directory_few_bytes() {
        // Every node has one for every name held on any other: its node by number, its name
        // on the heap once (and its key).
        let size = std::mem::size_of::<super::Entry>();
        assert!(size <= 32, "a directory entry is {size} bytes");
    }
}

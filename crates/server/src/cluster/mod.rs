//! The cluster: this node's link to the others over NATS, when `cluster` is configured. The
//! hub task hands it what crosses nodes and never waits on it (`Bus`); three tasks do the
//! I/O: the publisher (lobby messages, commands for other nodes' sessions, answers), the
//! receiver (the same from the other nodes, to the hub task), and the names task (claims of
//! names in a JetStream key-value bucket, the directory of who holds what, and who is alive:
//! `names.rs`). Nothing of it exists on a single node.
//!
//! Subjects: `switchboard.lobby` (every node), `switchboard.node.ID` (one node's inbox),
//! `switchboard.alive` (every node's heartbeat), `switchboard.desk` (the desks' news),
//! `switchboard.rooms` (every change to a room). Bucket: `switchboard_names` (a name's claim,
//! keyed by its skeleton).

pub(crate) mod bridge;
mod names;
mod rooms;
pub mod state;

use crate::metrics::Metrics;
use crate::msg::HubMsg;
use crate::Config;
use anyhow::Context;
use futures_util::StreamExt;
use hub::{Caps, Door, HubError, Input, Kept, Node, Remote, SessionId};
use proto::bus::{self, BusMsg, Refusal};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

const LOBBY: &str = "switchboard.lobby";
const ALIVE: &str = "switchboard.alive";
const DESK: &str = "switchboard.desk";
/// Every change to a room, in the order its node decided them.
const ROOMS: &str = "switchboard.rooms";
/// Who is away, or back.
const AWAY: &str = "switchboard.away";
/// Nobody listens here: a request to it comes back "no responders" once NATS has read it,
/// and so everything this client sent before it (see `names::Names::heard`).
const ROUND_TRIP: &str = "switchboard.round-trip";
const NAMES: &str = "switchboard_names";

/// A node's inbox.
fn inbox(node: &str) -> String {
    format!("switchboard.node.{node}")
}

/// Publications the hub task may hand over before the bus refuses more (NATS away, say).
const QUEUE: usize = 16 * 1024;
/// Claims and releases likewise.
const CLAIMS: usize = 16 * 1024;

/// The other nodes, numbered for the hub by their ids on the bus.
#[derive(Debug, Default)]
pub(crate) struct Nodes {
    ids: Vec<String>,
    by_id: HashMap<String, Node>,
}

impl Nodes {
    pub(crate) fn node(&mut self, id: &str) -> Node {
        if let Some(&node) = self.by_id.get(id) {
            return node;
        }
        let node = Node(self.ids.len() as u32);
        self.ids.push(id.to_owned());
        self.by_id.insert(id.to_owned(), node);
        node
    }

    fn id(&self, node: Node) -> Option<&str> {
        self.ids.get(node.0 as usize).map(String::as_str)
    }
}

type Known = Arc<Mutex<Nodes>>;

/// What the hub task hands the bus to publish.
#[derive(Debug)]
pub(crate) enum Publish {
    Lobby { from: String, text: String, mesh: bool },
    Forward { node: Node, id: u64, command: Remote },
    Answer { node: Node, id: u64, result: Result<(), HubError> },
    Desk(hub::DeskNews),
    Room(hub::RoomNews),
    Away { name: String, message: Option<String> },
}

/// What the hub task hands the names task.
#[derive(Debug)]
pub(crate) enum Naming {
    /// `was`: the session's name until now (a rename).
    Claim {
        session: SessionId,
        name: String,
        door: Door,
        caps: Caps,
        was: Option<String>,
    },
    Release {
        session: SessionId,
        name: String,
    },
}

/// The hub task's end of the bus: nothing here waits.
pub(crate) struct Bus {
    publish: mpsc::Sender<Publish>,
    claims: mpsc::Sender<Naming>,
    metrics: Arc<Metrics>,
    client: async_nats::Client,
    me: Me,
    nodes: Known,
}

impl Bus {
    /// Hands `p` to the publisher; `false` (counted) if it has too much to publish already.
    pub(crate) fn publish(&self, p: Publish) -> bool {
        let taken = self.publish.try_send(p).is_ok();
        if taken {
            self.metrics.bus.pending.inc();
        } else {
            self.metrics.bus.dropped.inc();
        }
        taken
    }

    /// Where the end of a private link parked here relays to the other node's end: `node`,
    /// the link numbered `tag` on A's node (`home`: this is A's node). `None` if that node
    /// is not known.
    pub(crate) fn bridge(&self, node: Node, home: bool, tag: u64, timeout: Duration) -> Option<bridge::Bridge> {
        let other = self.nodes.lock().expect("nodes lock").id(node)?.to_owned();
        let a_node = if home { self.me.id.clone() } else { other };
        let subject = |way: &str| format!("switchboard.link.{a_node}.{tag}.{way}");
        let (out, inbound) = if home { (subject("a"), subject("b")) } else { (subject("b"), subject("a")) };
        Some(bridge::Bridge { client: self.client.clone(), out, inbound, timeout })
    }

    /// Hands a claim or a release to the names task; `false` (counted) if it cannot take it.
    pub(crate) fn claim(&self, c: Naming) -> bool {
        let taken = self.claims.try_send(c).is_ok();
        if !taken {
            self.metrics.bus.dropped.inc();
        }
        taken
    }
}

fn refusal(e: HubError) -> Refusal {
    match e {
        HubError::NameTaken => Refusal::NameTaken,
        HubError::InvalidName => Refusal::InvalidName,
        HubError::NotYourName => Refusal::NotYourName,
        HubError::NotLoggedIn => Refusal::NotLoggedIn,
        HubError::Unreachable => Refusal::Unreachable,
        HubError::LinkInProgress => Refusal::LinkInProgress,
        HubError::NoSuchLink => Refusal::NoSuchLink,
        HubError::Unavailable => Refusal::Unavailable,
        // Never forwarded: a room command, a rename, is decided on its sender's node.
        HubError::Room(_) | HubError::NameFixed => Refusal::Unreachable,
    }
}

fn hub_error(r: Refusal) -> HubError {
    match r {
        Refusal::NameTaken => HubError::NameTaken,
        Refusal::InvalidName => HubError::InvalidName,
        Refusal::NotYourName => HubError::NotYourName,
        Refusal::NotLoggedIn => HubError::NotLoggedIn,
        Refusal::Unreachable => HubError::Unreachable,
        Refusal::LinkInProgress => HubError::LinkInProgress,
        Refusal::NoSuchLink => HubError::NoSuchLink,
        Refusal::Unavailable => HubError::Unavailable,
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64)
}

/// This node: its id on the bus (new at every start, so that nothing of a node that died is
/// ever taken for this one's), and its name for people.
#[derive(Debug, Clone)]
pub(crate) struct Me {
    pub id: String,
    pub name: String,
}

/// A connection to the cluster's NATS, and what it says of itself (connected, disconnected).
pub struct Link {
    pub client: async_nats::Client,
    events: mpsc::UnboundedReceiver<async_nats::Event>,
}

/// Connects to the cluster's NATS at `urls` (comma-separated `nats://` or `tls://`), with
/// a credentials file and a CA if given; reconnects by itself for as long as it lives. Fails
/// if NATS cannot be reached now.
pub async fn connect(urls: &str, creds: Option<&Path>, ca: Option<&Path>, name: &str) -> anyhow::Result<Link> {
    let list: Vec<String> = urls.split(',').map(|u| u.trim().to_owned()).filter(|u| !u.is_empty()).collect();
    let (events_tx, events) = mpsc::unbounded_channel();
    let mut options = async_nats::ConnectOptions::new()
        .name(name)
        .no_echo()
        .max_reconnects(None)
        .connection_timeout(Duration::from_secs(5))
        .reconnect_delay_callback(|attempts| Duration::from_millis((100 * attempts as u64).min(2000)))
        .event_callback(move |event| {
            let events_tx = events_tx.clone();
            async move {
                let _ = events_tx.send(event);
            }
        });
    if let Some(creds) = creds {
        options = options
            .credentials_file(creds)
            .await
            .with_context(|| format!("reading the cluster's credentials {}", creds.display()))?;
    }
    if let Some(ca) = ca {
        options = options.add_root_certificates(ca.to_owned());
    }
    let client =
        options.connect(list.as_slice()).await.with_context(|| format!("connecting to the cluster at {urls}"))?;
    Ok(Link { client, events })
}

/// This node's connection to the cluster, from its configuration.
pub(crate) async fn connect_node(config: &Config) -> anyhow::Result<(Link, Me)> {
    let me = Me {
        id: format!("{:016x}", rand::random::<u64>()),
        name: config.node_name.clone().unwrap_or_else(default_node_name),
    };
    let link = connect(
        &config.cluster,
        config.cluster_creds.as_deref(),
        config.cluster_ca.as_deref(),
        &format!("switchboard {}", me.name),
    )
    .await?;
    Ok((link, me))
}

/// The bus of a node that joined, its tasks, and when the directory holds every name
/// claimed before it joined.
pub(crate) struct Started {
    pub bus: Bus,
    pub tasks: Vec<JoinHandle<()>>,
    pub loaded: oneshot::Receiver<()>,
}

/// Makes sure the bucket of names exists, and starts the bus's tasks.
pub(crate) async fn start(
    link: Link,
    me: Me,
    config: &Config,
    hub: mpsc::Sender<HubMsg>,
    metrics: Arc<Metrics>,
) -> anyhow::Result<Started> {
    let Link { client, events } = link;
    metrics.bus.connected.set(1);
    let js = async_nats::jetstream::new(client.clone());
    let kv = bucket(&js, NAMES, "switchboard: who holds each name (keyed by its skeleton)", config.cluster_replicas)
        .await
        .context("making the cluster's bucket of names")?;
    tracing::info!(node = %me.name, id = %me.id, cluster = %config.cluster, "joined the cluster");
    let nodes: Known = Arc::default();
    let (bus_client, bus_me, bus_nodes) = (client.clone(), me.clone(), nodes.clone());
    let (publish, publish_rx) = mpsc::channel(QUEUE);
    let (claims, claims_rx) = mpsc::channel(CLAIMS);
    let (alive_tx, alive_rx) = mpsc::unbounded_channel();
    let (loaded_tx, loaded) = oneshot::channel();
    let mut inbox_sub = client.subscribe(inbox(&me.id)).await?;
    let mut lobby_sub = client.subscribe(LOBBY).await?;
    let mut alive_sub = client.subscribe(ALIVE).await?;
    let mut desk_sub = client.subscribe(DESK).await?;
    let mut rooms_sub = client.subscribe(ROOMS).await?;
    let mut away_sub = client.subscribe(AWAY).await?;
    let receiving = {
        let (nodes, hub, metrics) = (nodes.clone(), hub.clone(), metrics.clone());
        async move {
            loop {
                let message = tokio::select! {
                    Some(m) = inbox_sub.next() => m,
                    Some(m) = lobby_sub.next() => m,
                    Some(m) = alive_sub.next() => m,
                    Some(m) = desk_sub.next() => m,
                    Some(m) = rooms_sub.next() => m,
                    Some(m) = away_sub.next() => m,
                    else => return,
                };
                let msg = match BusMsg::decode(&message.payload) {
                    Ok(msg) => msg,
                    Err(e) => {
                        metrics.bus.bad.inc();
                        tracing::warn!(subject = %message.subject, error = %e, "a message from the bus that is none");
                        continue;
                    }
                };
                if let BusMsg::Alive { node, name } = msg {
                    let _ = alive_tx.send((node, name));
                    continue;
                }
                metrics.bus.received.inc();
                let Some(input) = received(msg, &nodes, &metrics) else { continue };
                if hub.send(HubMsg::Cluster(input)).await.is_err() {
                    return;
                }
            }
        }
    };
    let tasks = vec![
        tokio::spawn(receiving),
        tokio::spawn(publisher(client.clone(), me.clone(), nodes.clone(), publish_rx, hub.clone(), metrics.clone())),
        tokio::spawn(
            names::Names::new(kv, client, me, nodes, hub, metrics.clone()).run(claims_rx, alive_rx, events, loaded_tx),
        ),
    ];
    Ok(Started {
        bus: Bus { publish, claims, metrics, client: bus_client, me: bus_me, nodes: bus_nodes },
        tasks,
        loaded,
    })
}

/// The key-value bucket `name`, made if it does not exist yet. Made as a stream with the
/// key-value conventions, as `create_key_value` does, without its query of the account,
/// whose answer NATS 2.9 words differently.
async fn bucket(
    js: &async_nats::jetstream::Context,
    name: &str,
    description: &str,
    replicas: usize,
) -> anyhow::Result<async_nats::jetstream::kv::Store> {
    bucket_of(js, name, description, replicas, None).await
}

/// [`bucket`], or with `age`, one kept in memory whose entries age out unless written again
/// within `age` (leases).
pub(crate) async fn bucket_of(
    js: &async_nats::jetstream::Context,
    name: &str,
    description: &str,
    replicas: usize,
    age: Option<Duration>,
) -> anyhow::Result<async_nats::jetstream::kv::Store> {
    use async_nats::jetstream::stream;
    if let Ok(kv) = js.get_key_value(name).await {
        return Ok(kv);
    }
    let made = js
        .create_stream(stream::Config {
            name: format!("KV_{name}"),
            description: Some(description.into()),
            subjects: vec![format!("$KV.{name}.>")],
            max_messages_per_subject: 1,
            storage: if age.is_some() { stream::StorageType::Memory } else { stream::StorageType::File },
            max_age: age.unwrap_or_default(),
            allow_rollup: true,
            deny_delete: true,
            allow_direct: true,
            discard: stream::DiscardPolicy::New,
            num_replicas: replicas,
            ..Default::default()
        })
        .await;
    // Another node may have made it meanwhile.
    if let Err(e) = made {
        tracing::debug!(error = %e, "making a bucket");
    }
    Ok(js.get_key_value(name).await?)
}

/// The host name and the process id: `chat1-4711`.
fn default_node_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_else(|_| "node".into());
    format!("{}-{}", host.trim(), std::process::id())
}

fn link_key(key: hub::LinkKey) -> bus::LinkKey {
    bus::LinkKey { a: key.a, b: key.b, password: key.password }
}

fn hub_link_key(key: bus::LinkKey) -> hub::LinkKey {
    hub::LinkKey { a: key.a, b: key.b, password: key.password }
}

/// A message from another node, as the hub's input.
fn received(msg: BusMsg, nodes: &Known, metrics: &Metrics) -> Option<Input> {
    let numbered = |node: &str| nodes.lock().expect("nodes lock").node(node);
    // A command for a session here, from `node`, answered if `id` is not 0.
    let (node, id, command) = match msg {
        BusMsg::Lobby { from, text, mesh, at, .. } => {
            let lag = now_ms() - at;
            if lag >= 0 {
                metrics.bus.lag.observe(lag as f64 / 1000.0);
            }
            return Some(Input::Lobby { from, text, mesh });
        }
        BusMsg::Answer { id, error } => {
            return Some(Input::Answer { id, result: error.map_or(Ok(()), |e| Err(hub_error(e))) });
        }
        BusMsg::Alive { .. } => return None,
        BusMsg::Desk { node, operators, ring, expires_ms, winner } => {
            let news = match (operators, ring, expires_ms, winner) {
                (Some(count), None, None, None) => hub::DeskNews::Operators { count },
                (None, Some(id), Some(ms), None) => {
                    hub::DeskNews::Ring { id, expires_in: std::time::Duration::from_millis(ms) }
                }
                (None, Some(id), None, Some(winner)) => hub::DeskNews::RingOver { id, winner },
                _ => {
                    metrics.bus.bad.inc();
                    tracing::warn!("news of a desk that is none");
                    return None;
                }
            };
            return Some(Input::DeskNews { node: numbered(&node), news });
        }
        BusMsg::Away { node, name, message } => {
            return Some(Input::Away { node: numbered(&node), name, message });
        }
        BusMsg::Room { node, news } => {
            let Some(news) = rooms::from_bus(news) else {
                metrics.bus.bad.inc();
                tracing::warn!("news of a room that is none");
                return None;
            };
            return Some(Input::RoomNews { node: numbered(&node), news });
        }
        BusMsg::Direct { node, id, msg } => {
            let kept = Kept {
                sender: msg.sender,
                sender_guest: msg.sender_guest.map(SessionId),
                recipient: Some(msg.recipient),
                recipient_guest: None,
                image: msg.image,
                room: false,
                body: msg.body,
            };
            (node, id, Remote::Direct(kept))
        }
        BusMsg::Typing { node, from, to, active } => (node, 0, Remote::Typing { from, to, active }),
        BusMsg::LinkAsk { node, id, key, tag } => (node, id, Remote::LinkAsk { key: hub_link_key(key), tag }),
        BusMsg::LinkAccepted { node, key } => (node, 0, Remote::LinkAccepted { key: hub_link_key(key) }),
        BusMsg::LinkAborted { node, key } => (node, 0, Remote::LinkAborted { key: hub_link_key(key) }),
        BusMsg::RingAck { node, id, ring, op, uuid, echo } => (node, id, Remote::RingAck { id: ring, op, uuid, echo }),
        BusMsg::DeskJoined { node, op, user, texts, ring, echo } => {
            (node, 0, Remote::DeskJoined { op, user, texts, id: ring, echo })
        }
        BusMsg::DeskWrote { node, op, texts } => (node, 0, Remote::DeskWrote { op, texts }),
        BusMsg::DeskTyping { node, op, composing } => (node, 0, Remote::DeskTyping { op, composing }),
        BusMsg::DeskEnd { node, user, notice } => (node, 0, Remote::DeskEnd { user, notice }),
        BusMsg::DeskUserLeft { node, op, user } => (node, 0, Remote::DeskUserLeft { op, user }),
        BusMsg::DirectAsk { node, from, to } => (node, 0, Remote::DirectAsk { from, to }),
        BusMsg::DirectAnswer { node, from, to, accept } => {
            let answer = match accept {
                Some(a) => hub::DirectAnswer::Accept { port: a.port, address: a.address, id: a.id },
                None => hub::DirectAnswer::Deny,
            };
            (node, 0, Remote::DirectAnswer { from, to, answer })
        }
    };
    Some(Input::Remote { node: numbered(&node), id, command })
}

/// Publishes what the hub task hands over, in order. A command for another node's session
/// is refused at once (`Unavailable`) while NATS is away: its sender must not wait for an
/// answer that may never come, nor get one late. Lobby messages and answers wait in the
/// client meanwhile, and go out once it is back.
async fn publisher(
    client: async_nats::Client,
    me: Me,
    nodes: Known,
    mut rx: mpsc::Receiver<Publish>,
    hub: mpsc::Sender<HubMsg>,
    metrics: Arc<Metrics>,
) {
    while let Some(p) = rx.recv().await {
        metrics.bus.pending.dec();
        let (subject, msg, waiting) = match p {
            Publish::Lobby { from, text, mesh } => {
                (LOBBY.to_owned(), BusMsg::Lobby { node: me.id.clone(), from, text, mesh, at: now_ms() }, None)
            }
            Publish::Forward { node, id, command } => {
                let to = nodes.lock().expect("nodes lock").id(node).map(inbox);
                let connected = client.connection_state() == async_nats::connection::State::Connected;
                let waiting = (id != 0).then_some(id);
                let (Some(to), true) = (to, connected) else {
                    metrics.bus.dropped.inc();
                    if let Some(id) = waiting {
                        let _ =
                            hub.send(HubMsg::Cluster(Input::Answer { id, result: Err(HubError::Unavailable) })).await;
                    }
                    continue;
                };
                let msg = match command {
                    Remote::Direct(kept) => BusMsg::Direct {
                        node: me.id.clone(),
                        id,
                        msg: bus::Kept {
                            sender: kept.sender,
                            sender_guest: kept.sender_guest.map(|s| s.0),
                            recipient: kept.recipient.unwrap_or_default(),
                            image: kept.image,
                            body: kept.body,
                        },
                    },
                    Remote::Typing { from, to, active } => BusMsg::Typing { node: me.id.clone(), from, to, active },
                    Remote::LinkAsk { key, tag } => {
                        BusMsg::LinkAsk { node: me.id.clone(), id, key: link_key(key), tag }
                    }
                    Remote::LinkAccepted { key } => BusMsg::LinkAccepted { node: me.id.clone(), key: link_key(key) },
                    Remote::LinkAborted { key } => BusMsg::LinkAborted { node: me.id.clone(), key: link_key(key) },
                    Remote::RingAck { id: ring, op, uuid, echo } => {
                        BusMsg::RingAck { node: me.id.clone(), id, ring, op, uuid, echo }
                    }
                    Remote::DeskJoined { op, user, texts, id: ring, echo } => {
                        BusMsg::DeskJoined { node: me.id.clone(), op, user, texts, ring, echo }
                    }
                    Remote::DeskWrote { op, texts } => BusMsg::DeskWrote { node: me.id.clone(), op, texts },
                    Remote::DeskTyping { op, composing } => BusMsg::DeskTyping { node: me.id.clone(), op, composing },
                    Remote::DeskEnd { user, notice } => BusMsg::DeskEnd { node: me.id.clone(), user, notice },
                    Remote::DeskUserLeft { op, user } => BusMsg::DeskUserLeft { node: me.id.clone(), op, user },
                    Remote::DirectAsk { from, to } => BusMsg::DirectAsk { node: me.id.clone(), from, to },
                    Remote::DirectAnswer { from, to, answer } => {
                        let accept = match answer {
                            hub::DirectAnswer::Accept { port, address, id } => {
                                Some(bus::DirectAccept { port, address, id })
                            }
                            hub::DirectAnswer::Deny => None,
                        };
                        BusMsg::DirectAnswer { node: me.id.clone(), from, to, accept }
                    }
                };
                (to, msg, waiting)
            }
            Publish::Answer { node, id, result } => {
                let Some(to) = nodes.lock().expect("nodes lock").id(node).map(inbox) else { continue };
                (to, BusMsg::Answer { id, error: result.err().map(refusal) }, None)
            }
            Publish::Desk(news) => {
                let node = me.id.clone();
                let msg = match news {
                    hub::DeskNews::Operators { count } => {
                        BusMsg::Desk { node, operators: Some(count), ring: None, expires_ms: None, winner: None }
                    }
                    hub::DeskNews::Ring { id, expires_in } => BusMsg::Desk {
                        node,
                        operators: None,
                        ring: Some(id),
                        expires_ms: Some(expires_in.as_millis() as u64),
                        winner: None,
                    },
                    hub::DeskNews::RingOver { id, winner } => {
                        BusMsg::Desk { node, operators: None, ring: Some(id), expires_ms: None, winner: Some(winner) }
                    }
                };
                (DESK.to_owned(), msg, None)
            }
            Publish::Room(news) => {
                (ROOMS.to_owned(), BusMsg::Room { node: me.id.clone(), news: rooms::to_bus(news) }, None)
            }
            Publish::Away { name, message } => {
                (AWAY.to_owned(), BusMsg::Away { node: me.id.clone(), name, message }, None)
            }
        };
        match client.publish(subject, msg.to_bytes().into()).await {
            Ok(()) => {
                metrics.bus.published.inc();
            }
            Err(e) => {
                metrics.bus.dropped.inc();
                tracing::warn!(error = %e, "publishing to the cluster");
                if let Some(id) = waiting {
                    let _ = hub.send(HubMsg::Cluster(Input::Answer { id, result: Err(HubError::Unavailable) })).await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_cross_as_bits_and_back() {
        for caps in [
            Caps::NONE,
            Caps { lobby: true, direct: true, relay_links: true, ..Caps::NONE },
            Caps { operator: true, ..Caps::NONE },
            Caps { mesh: true, lobby: true, typing: true, presence: true, ..Caps::NONE },
        ] {
            assert_eq!(Caps::from_bits(caps.bits()), caps);
        }
        assert_eq!(Caps { lobby: true, ..Caps::NONE }.bits(), 1);
    }

    #[test]
    fn nodes_are_numbered_once_each() {
        let mut nodes = Nodes::default();
        let (a, b) = (nodes.node("aa"), nodes.node("bb"));
        assert_ne!(a, b);
        assert_eq!(nodes.node("aa"), a);
        assert_eq!(nodes.id(b), Some("bb"));
        assert_eq!(nodes.id(Node(9)), None);
    }
}

//! What the server counts while it runs, for operators: exposed in the Prometheus text format
//! (`/metrics`, through `prometheus-client`) and logged when it stops. Connection figures are
//! labelled by protocol (the door's name) and by `tls`; each door's counters are made once at
//! start and reached by index, so counting is an atomic add, never a lookup.

use hub::Door;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Labels {
    protocol: &'static str,
    tls: bool,
}

/// The figures of one door's plain, or TLS, connections.
#[derive(Debug, Default)]
pub struct DoorMetrics {
    /// Connections accepted (refused ones too).
    pub accepted: Counter,
    /// Connections open now.
    pub open: Gauge,
    /// Logins that went through.
    pub logins: Counter,
    /// Chat messages received (lobby, direct, images, operators' replies).
    pub messages_in: Counter,
    /// Messages queued to connections (one per recipient).
    pub deliveries: Counter,
    /// Bytes read from the sockets (TLS records and HTTP included).
    pub bytes_in: Counter,
    /// Bytes of the protocol queued to connections by the hub: counted by the router, once
    /// per batch, as a per-write count on a shared counter costs fan-out dearly.
    pub bytes_out: Counter,
    /// Connections dropped because their outbound queue overflowed.
    pub slow_consumers: Counter,
    /// Connections closed for breaking their protocol.
    pub bad_input: Counter,
    /// Frames dropped (bad CRC, too long, cut), the connection kept (JPC).
    pub dropped_frames: Counter,
    /// TLS handshakes that failed (garbage, a plain client on a TLS port, a timeout).
    pub tls_handshake_failures: Counter,
}

/// A family of per-door counters: its name, its help, and which field of [`DoorMetrics`] it is.
type PerDoor = (&'static str, &'static str, fn(&mut DoorMetrics) -> &mut Counter);

const PER_DOOR: [PerDoor; 10] = [
    ("connections_accepted", "Connections accepted", |d| &mut d.accepted),
    ("logins", "Logins that went through", |d| &mut d.logins),
    ("messages_in", "Chat messages received: lobby, direct, images, operators' replies", |d| &mut d.messages_in),
    ("deliveries", "Messages queued to connections, one per recipient", |d| &mut d.deliveries),
    ("bytes_in", "Bytes read from the sockets, TLS records and HTTP included", |d| &mut d.bytes_in),
    ("bytes_out", "Bytes of the protocol queued to connections, before TLS", |d| &mut d.bytes_out),
    ("slow_consumers", "Connections dropped for not reading what was sent to them", |d| &mut d.slow_consumers),
    ("bad_input", "Connections closed for breaking their protocol", |d| &mut d.bad_input),
    ("dropped_frames", "Frames dropped (bad CRC, too long, cut), the connection kept", |d| &mut d.dropped_frames),
    ("tls_handshake_failures", "TLS handshakes that failed: garbage, a plain client, a timeout", |d| {
        &mut d.tls_handshake_failures
    }),
];

#[derive(Debug)]
pub struct Metrics {
    /// By door, in the order of the table of doors, plain then TLS.
    doors: Vec<DoorMetrics>,
    /// Connections closed because a partial frame got no new byte in time.
    pub timed_out: Counter,
    /// Connections refused at once: too many open, or new, from their address.
    pub conns_refused: Counter,
    /// Chat messages held back until their session's rate allowed them.
    pub msgs_delayed: Counter,
    /// Private links whose bytes were relayed.
    pub links_relayed: Counter,
    /// Inputs waiting for the hub task (read when scraped).
    pub hub_backlog: Gauge,
    /// Messages handed to the keeper and not yet committed to the store.
    pub store_pending: Gauge,
    /// How long the store takes to commit a batch, in seconds.
    pub store_commit: Histogram,
    /// Messages the store (in a cluster, its log) could not keep: a queued one's sender was
    /// refused.
    pub store_failed: Counter,
    /// Reads of the store that failed (a queue's page, history, a password, a device).
    pub store_read_failed: Counter,
    /// The store's last failure, a read or a write, and when: `/healthz` reports it.
    store_fault: std::sync::Mutex<Option<(tokio::time::Instant, String)>>,
    /// The support desk's operators, and the rings nobody has taken yet.
    pub desk_operators: Gauge,
    pub desk_rings: Gauge,
    /// 1 while the desk is logged into its XMPP server (`doors.nl.xmpp_jid`).
    pub desk_xmpp: Gauge,
    /// The bus between the nodes of a cluster (listed only in a cluster).
    pub bus: BusMetrics,
    registry: Registry,
}

/// The bus between the nodes of a cluster, as this node sees it.
#[derive(Debug)]
pub struct BusMetrics {
    /// 1 while connected to NATS.
    pub connected: Gauge,
    /// Messages published, and received (this node's own lobby messages not counted).
    pub published: Counter,
    pub received: Counter,
    /// What the bus would not take (NATS away too long, or its queue full): lobby messages
    /// not published, commands refused, claims refused.
    pub dropped: Counter,
    /// Messages from the bus that were no message (logged, dropped).
    pub bad: Counter,
    /// Messages waiting to be published.
    pub pending: Gauge,
    /// From a lobby message's publication (by its node's clock) to its receipt here.
    pub lag: Histogram,
    /// Other nodes heard from lately.
    pub nodes: Gauge,
}

impl Metrics {
    /// The figures of a server whose doors are called `doors`, by index.
    pub fn new(doors: &[&'static str], cluster: bool) -> Metrics {
        let mut registry = Registry::with_prefix("switchboard");
        let families: Vec<Family<Labels, Counter>> = PER_DOOR.iter().map(|_| Family::default()).collect();
        let open: Family<Labels, Gauge> = Family::default();
        for ((name, help, _), family) in PER_DOOR.iter().zip(&families) {
            registry.register(*name, *help, family.clone());
        }
        registry.register("connections_open", "Connections open now", open.clone());
        let doors = doors
            .iter()
            .flat_map(|&protocol| [false, true].map(|tls| Labels { protocol, tls }))
            .map(|labels| {
                let mut door = DoorMetrics { open: open.get_or_create(&labels).clone(), ..DoorMetrics::default() };
                for ((_, _, field), family) in PER_DOOR.iter().zip(&families) {
                    *field(&mut door) = family.get_or_create(&labels).clone();
                }
                door
            })
            .collect();
        let metrics = Metrics {
            doors,
            timed_out: Counter::default(),
            conns_refused: Counter::default(),
            msgs_delayed: Counter::default(),
            links_relayed: Counter::default(),
            hub_backlog: Gauge::default(),
            store_pending: Gauge::default(),
            store_commit: Histogram::new(exponential_buckets(0.000_25, 2.0, 14)),
            store_failed: Counter::default(),
            store_read_failed: Counter::default(),
            store_fault: std::sync::Mutex::default(),
            desk_operators: Gauge::default(),
            desk_rings: Gauge::default(),
            desk_xmpp: Gauge::default(),
            bus: BusMetrics {
                connected: Gauge::default(),
                published: Counter::default(),
                received: Counter::default(),
                dropped: Counter::default(),
                bad: Counter::default(),
                pending: Gauge::default(),
                lag: Histogram::new(exponential_buckets(0.000_1, 2.0, 16)),
                nodes: Gauge::default(),
            },
            registry,
        };
        let metrics = metrics.register_the_rest();
        match cluster {
            true => metrics.register_the_bus(),
            false => metrics,
        }
    }

    fn register_the_bus(mut self) -> Metrics {
        let (r, b) = (&mut self.registry, &self.bus);
        r.register("bus_connected", "1 while this node is connected to the cluster's NATS", b.connected.clone());
        r.register("bus_published", "Messages this node published to the cluster", b.published.clone());
        r.register("bus_received", "Messages this node received from the other nodes", b.received.clone());
        r.register(
            "bus_dropped",
            "What the bus would not take: lobby messages not published, commands and claims refused",
            b.dropped.clone(),
        );
        r.register("bus_bad_messages", "Messages from the bus that were no message", b.bad.clone());
        r.register("bus_pending", "Messages waiting to be published", b.pending.clone());
        r.register("bus_lag_seconds", "From a lobby message's publication to its receipt here", b.lag.clone());
        r.register("bus_nodes", "Other nodes heard from lately", b.nodes.clone());
        self
    }

    fn register_the_rest(mut self) -> Metrics {
        let r = &mut self.registry;
        r.register(
            "timeouts",
            "Connections closed because a partial packet got no new byte in time",
            self.timed_out.clone(),
        );
        r.register(
            "connections_refused",
            "Connections refused at once: too many from their address",
            self.conns_refused.clone(),
        );
        r.register(
            "messages_delayed",
            "Chat messages held back until their session's rate allowed them",
            self.msgs_delayed.clone(),
        );
        r.register("links_relayed", "Private links whose bytes were relayed", self.links_relayed.clone());
        r.register("hub_backlog", "Inputs waiting for the hub task", self.hub_backlog.clone());
        r.register(
            "store_pending_writes",
            "Messages handed to the store and not yet committed",
            self.store_pending.clone(),
        );
        r.register("store_commit_seconds", "How long the store takes to commit a batch", self.store_commit.clone());
        r.register(
            "store_failed",
            "Messages the store (in a cluster, its log) could not keep",
            self.store_failed.clone(),
        );
        r.register(
            "store_read_failed",
            "Reads of the store that failed (a queue's page, history, a password, a device)",
            self.store_read_failed.clone(),
        );
        r.register("desk_operators", "Operators in the support desk's pool", self.desk_operators.clone());
        r.register("desk_rings", "Support rings nobody has taken yet", self.desk_rings.clone());
        r.register(
            "desk_xmpp_online",
            "1 while the desk is logged into its XMPP server (on a cluster's node: while it holds the session)",
            self.desk_xmpp.clone(),
        );
        self
    }

    /// The store failed (`why`: what it was doing and the error), reading or writing: for
    /// `/healthz`. The caller logs it and counts it.
    pub fn store_fault(&self, why: String) {
        *self.store_fault.lock().expect("store fault lock") = Some((tokio::time::Instant::now(), why));
    }

    /// A read of the store failed: counted, and kept for `/healthz`.
    pub fn store_read_failed(&self, what: &str, error: &dyn std::fmt::Display) {
        self.store_read_failed.inc();
        self.store_fault(format!("{what}: {error}"));
    }

    /// The store's last failure, if it was within `within`: how long ago, and why.
    pub fn store_fault_within(&self, within: std::time::Duration) -> Option<(std::time::Duration, String)> {
        let fault = self.store_fault.lock().expect("store fault lock");
        let (at, why) = fault.as_ref()?;
        let ago = at.elapsed();
        (ago < within).then(|| (ago, why.clone()))
    }

    /// The figures of `door`'s plain or TLS connections.
    pub fn door(&self, door: Door, tls: bool) -> &DoorMetrics {
        &self.doors[usize::from(door.0) * 2 + usize::from(tls)]
    }

    /// A figure summed over every door, plain and TLS.
    pub fn total(&self, figure: impl Fn(&DoorMetrics) -> u64) -> u64 {
        self.doors.iter().map(figure).sum()
    }

    /// Connections open now, over every door.
    pub fn open(&self) -> u64 {
        self.total(|d| d.open.get().max(0) as u64)
    }

    /// Everything, in the Prometheus (OpenMetrics) text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry).expect("writing to a String");
        text
    }

    pub fn log_summary(&self) {
        tracing::info!(
            accepted = self.total(|d| d.accepted.get()),
            open = self.open(),
            logins = self.total(|d| d.logins.get()),
            messages_in = self.total(|d| d.messages_in.get()),
            deliveries = self.total(|d| d.deliveries.get()),
            slow_consumers = self.total(|d| d.slow_consumers.get()),
            bad_input = self.total(|d| d.bad_input.get()),
            dropped_frames = self.total(|d| d.dropped_frames.get()),
            tls_handshake_failures = self.total(|d| d.tls_handshake_failures.get()),
            timed_out = self.timed_out.get(),
            conns_refused = self.conns_refused.get(),
            msgs_delayed = self.msgs_delayed.get(),
            links_relayed = self.links_relayed.get(),
            "metrics"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn figures_by_door_and_tls_come_out_as_prometheus_text() {
        let m = Metrics::new(&["chatos", "web"], false);
        m.door(Door(0), false).accepted.inc();
        m.door(Door(1), true).deliveries.inc_by(3);
        m.store_commit.observe(0.002);
        let text = m.encode();
        assert!(text.contains("switchboard_connections_accepted_total{protocol=\"chatos\",tls=\"false\"} 1"), "{text}");
        assert!(text.contains("switchboard_deliveries_total{protocol=\"web\",tls=\"true\"} 3"), "{text}");
        assert!(text.contains("switchboard_store_commit_seconds_count 1"), "{text}");
        assert!(text.ends_with("# EOF\n"));
        assert_eq!(m.total(|d| d.deliveries.get()), 3);
    }
}

//! Relayed private links: the two new connections of a link are parked here until both have
//! arrived, then one task copies raw bytes between them, both ways, until either closes.
//! Neither peer learns the other's address. In a cluster, a link whose other end is parked on
//! another node is bridged to it over the bus instead (`cluster/bridge.rs`).

use crate::cluster::bridge::Bridge;
use crate::metrics::Metrics;
use crate::msg::HubMsg;
use crate::net::transport::Transport;
use bytes::BytesMut;
use hub::LinkId;
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// A parked end: its socket and the bytes already read from it but not yet relayed.
type End = (Transport, BytesMut);

/// A link the hub has parked an end of: the end that has arrived, if one has, and where to
/// bridge it if its other end is on another node.
#[derive(Default)]
struct Slot {
    end: Option<End>,
    bridge: Option<Bridge>,
}

#[derive(Default)]
pub(crate) struct Relays {
    slots: Mutex<FxHashMap<LinkId, Slot>>,
    /// Bridges running, to stop if the hub gives their link up (its other node is gone).
    bridges: Mutex<FxHashMap<LinkId, tokio::task::AbortHandle>>,
}

impl Relays {
    /// The hub parked an end of `link`: make room for it (the hub task calls this before the
    /// connection task can see its `Park`).
    pub fn open(&self, link: LinkId) {
        self.slots.lock().expect("relay lock").entry(link).or_default();
    }

    /// The hub gave `link` up: drop its parked end, if any, or stop its bridge.
    pub fn close(&self, link: LinkId) {
        self.slots.lock().expect("relay lock").remove(&link);
        if let Some(bridge) = self.bridges.lock().expect("relay lock").remove(&link) {
            bridge.abort();
        }
    }

    /// The other end of `link` is on another node: the end parked here goes to it over the
    /// bus (at once if it has arrived already).
    pub fn bridge(self: &Arc<Self>, link: LinkId, bridge: Bridge, hub: mpsc::Sender<HubMsg>, metrics: Arc<Metrics>) {
        let mut slots = self.slots.lock().expect("relay lock");
        let Some(slot) = slots.get_mut(&link) else { return };
        slot.bridge = Some(bridge);
        if slot.end.is_some() {
            let slot = slots.remove(&link).expect("just seen");
            drop(slots);
            self.start_bridge(link, slot, hub, metrics);
        }
    }

    fn start_bridge(self: &Arc<Self>, link: LinkId, slot: Slot, hub: mpsc::Sender<HubMsg>, metrics: Arc<Metrics>) {
        let (Some(end), Some(bridge)) = (slot.end, slot.bridge) else { return };
        metrics.links_relayed.inc();
        let relays = self.clone();
        let task = tokio::spawn(async move {
            crate::cluster::bridge::run(link, end, bridge, hub).await;
            relays.bridges.lock().expect("relay lock").remove(&link);
        });
        self.bridges.lock().expect("relay lock").insert(link, task.abort_handle());
    }

    /// A connection task hands its socket over. The second end to arrive starts the relay.
    pub fn deposit(self: &Arc<Self>, link: LinkId, end: End, hub: mpsc::Sender<HubMsg>, metrics: Arc<Metrics>) {
        let mut slots = self.slots.lock().expect("relay lock");
        let Some(slot) = slots.get_mut(&link) else {
            return; // the link expired meanwhile: dropping the socket closes it
        };
        if slot.bridge.is_some() {
            slot.end = Some(end);
            let slot = slots.remove(&link).expect("just seen");
            drop(slots);
            self.start_bridge(link, slot, hub, metrics);
            return;
        }
        match slot.end.take() {
            None => slot.end = Some(end),
            Some(first) => {
                slots.remove(&link);
                drop(slots);
                metrics.links_relayed.inc();
                tokio::spawn(relay(link, first, end, hub));
            }
        }
    }
}

async fn relay(link: LinkId, (mut a, a_left): End, (mut b, b_left): End, hub: mpsc::Sender<HubMsg>) {
    let result = async {
        b.write_all(&a_left).await?;
        a.write_all(&b_left).await?;
        b.flush().await?;
        a.flush().await?;
        tokio::io::copy_bidirectional(&mut a, &mut b).await
    }
    .await;
    match result {
        Ok((ab, ba)) => tracing::debug!(link = link.0, a_to_b = ab, b_to_a = ba, "private link closed"),
        Err(e) => tracing::debug!(link = link.0, error = %e, "private link ended"),
    }
    let _ = hub.send(HubMsg::LinkClosed { link }).await;
}

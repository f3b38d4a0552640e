//! Relayed private links: the two new connections of a link are parked here until both have
//! arrived, then one task copies raw bytes between them, both ways, until either closes.
//! Neither peer learns the other's address.

use crate::metrics::Metrics;
use crate::msg::HubMsg;
use crate::transport::Transport;
use bytes::BytesMut;
use hub::LinkId;
use rustc_hash::FxHashMap;
use std::sync::{Arc, Mutex};
use tokio::io::AsyncWriteExt;
use tokio::sync::mpsc;

/// A parked end: its socket and the bytes already read from it but not yet relayed.
type End = (Transport, BytesMut);

#[derive(Default)]
pub(crate) struct Relays {
    /// A link the hub has parked an end of, and the end that has arrived, if one has.
    slots: Mutex<FxHashMap<LinkId, Option<End>>>,
}

impl Relays {
    /// The hub parked an end of `link`: make room for it (the hub task calls this before the
    /// connection task can see its `Park`).
    pub fn open(&self, link: LinkId) {
        self.slots.lock().expect("relay lock").entry(link).or_insert(None);
    }

    /// The hub gave `link` up: drop its parked end, if any.
    pub fn close(&self, link: LinkId) {
        self.slots.lock().expect("relay lock").remove(&link);
    }

    /// A connection task hands its socket over. The second end to arrive starts the relay.
    pub fn deposit(&self, link: LinkId, end: End, hub: mpsc::Sender<HubMsg>, metrics: Arc<Metrics>) {
        let mut slots = self.slots.lock().expect("relay lock");
        let Some(slot) = slots.get_mut(&link) else {
            return; // the link expired meanwhile: dropping the socket closes it
        };
        match slot.take() {
            None => *slot = Some(end),
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

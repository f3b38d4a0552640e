//! The keeper writes what the hub keeps (history, and messages queued for offline names) to
//! the store. Whatever piles up while the store commits one batch goes into the next, in one
//! transaction: many messages, one sync to disk (group commit). The sender of a queued
//! message is answered only once its batch has committed, so an acknowledged offline message
//! survives a crash, a power cut or a SIGKILL. History is written the same way but nobody
//! waits for it: a crash loses at most the messages of the batch being written.

use crate::router::HubMsg;
use hub::{HubError, Kept, Kind, SessionId};
use std::time::{SystemTime, UNIX_EPOCH};
use store::{Record, StoreHandle};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The most messages in one transaction.
const MAX_BATCH: usize = 1024;

/// Who waits for a queued message to be stored, and which command it answers.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ack {
    pub session: SessionId,
    pub kind: Kind,
}

pub(crate) enum Keep {
    History(Kept),
    Queued(Kept, Ack),
}

pub(crate) fn spawn(store: StoreHandle, hub: mpsc::Sender<HubMsg>) -> (mpsc::UnboundedSender<Keep>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, tokio::spawn(run(store, rx, hub)))
}

fn record(kept: &Kept, offline: bool, at_ms: i64) -> Record {
    Record {
        at_ms,
        sender: kept.sender.clone(),
        recipient: kept.recipient.clone(),
        kind: u8::from(kept.image),
        body: kept.body.clone(),
        offline,
    }
}

async fn run(store: StoreHandle, mut rx: mpsc::UnboundedReceiver<Keep>, hub: mpsc::Sender<HubMsg>) {
    while let Some(first) = rx.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(keep) => batch.push(keep),
                Err(_) => break,
            }
        }
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let records: Vec<Record> = batch
            .iter()
            .map(|k| match k {
                Keep::History(kept) => record(kept, false, at_ms),
                Keep::Queued(kept, _) => record(kept, true, at_ms),
            })
            .collect();
        let n = records.len();
        let stored = match store.call(move |s| s.append(&records)).await {
            Ok(Ok(_)) => true,
            Ok(Err(e)) => {
                tracing::error!(error = %e, messages = n, "writing messages to the store");
                false
            }
            Err(_) => false, // the store is gone: the server is stopping
        };
        for keep in batch {
            if let Keep::Queued(_, ack) = keep {
                let result = if stored { Ok(()) } else { Err(HubError::Unreachable) };
                if hub.send(HubMsg::Stored { session: ack.session, kind: ack.kind, result }).await.is_err() {
                    return;
                }
            }
        }
    }
}

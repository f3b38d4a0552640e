//! The keeper writes what the hub keeps (history, and messages queued for offline names) to
//! the store. Whatever piles up while the store commits one batch goes into the next, in one
//! transaction: many messages, one sync to disk (group commit). The sender of a queued
//! message is answered only once its batch has committed, so an acknowledged offline message
//! survives a crash, a power cut or a SIGKILL. History is written the same way but nobody
//! waits for it: a crash loses at most the messages of the batch being written.
//!
//! In a cluster the batch goes to the cluster's log in JetStream instead, every entry sent
//! before any acknowledgement is awaited, and each queued message is answered once its own
//! entry is acknowledged. A page of a queue is read from this node's copy of the log, once
//! the copy holds the log as it stood when the page was asked for.

use crate::cluster::state::{self, Durable};
use crate::metrics::Metrics;
use crate::msg::HubMsg;
use hub::{HubError, Kept, ReplyTo, SessionId};
use proto::bus::LogMsg;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};
use store::{Record, StoreHandle};
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;

/// The most messages in one transaction.
const MAX_BATCH: usize = 1024;
/// A page of queued messages handed to a session at once: at most this many, and no more
/// bytes than `PAGE_BYTES` (but always one). Fewer than a web session's ring of events, so
/// that a page never makes a WebSocket fall a ring behind.
pub(crate) const PAGE_MESSAGES: usize = 128;
pub(crate) const PAGE_BYTES: usize = 256 * 1024;
/// In a cluster, the most history kept waiting while the log cannot be written.
const BACKLOG: usize = 16 * 1024;

pub(crate) enum Keep {
    History(Kept),
    /// A message for its recipient's queue; its sender waits for the answer, if `Some`.
    Queued(Kept, Option<ReplyTo>),
    /// Take the messages up to `delivered` out of `name`'s queue, then hand the next page of
    /// it to the hub for `session`. It goes through the keeper, after the writes sent before
    /// it, so that a message queued just before the fetch was asked for is in the store when
    /// the fetch looks.
    Fetch(Wanted),
    /// Answer once what was sent before this is written (or could not be).
    Written(oneshot::Sender<()>),
}

/// A page of `name`'s queue for `session` (images only if `images`), once the messages up to
/// `delivered` are out of it.
pub(crate) struct Wanted {
    pub session: SessionId,
    pub name: String,
    pub images: bool,
    pub delivered: Option<i64>,
}

/// The cluster's state, and how far this node's copy of its log has got.
pub(crate) type Cluster = (Durable, watch::Receiver<u64>);

pub(crate) fn spawn(
    store: StoreHandle,
    cluster: Option<Cluster>,
    hub: mpsc::Sender<HubMsg>,
    metrics: Arc<Metrics>,
) -> (mpsc::UnboundedSender<Keep>, JoinHandle<()>) {
    let (tx, rx) = mpsc::unbounded_channel();
    (tx, tokio::spawn(run(store, cluster, rx, hub, metrics)))
}

fn record(kept: &Kept, offline: bool, at_ms: i64) -> Record {
    Record {
        at_ms,
        sender: kept.sender.clone(),
        sender_guest: kept.sender_guest.map(|s| s.0 as i64),
        recipient: kept.recipient.clone(),
        recipient_guest: kept.recipient_guest.map(|s| s.0 as i64),
        kind: if kept.room { 2 } else { u8::from(kept.image) },
        body: kept.body.clone(),
        offline,
    }
}

async fn run(
    store: StoreHandle,
    mut cluster: Option<Cluster>,
    mut rx: mpsc::UnboundedReceiver<Keep>,
    hub: mpsc::Sender<HubMsg>,
    metrics: Arc<Metrics>,
) {
    let mut carried = None;
    // In a cluster: history the log could not take (NATS away), written with the next batch.
    let mut backlog: std::collections::VecDeque<LogMsg> = std::collections::VecDeque::new();
    loop {
        let first = match carried.take() {
            Some(keep) => keep,
            None => match rx.recv().await {
                Some(keep) => keep,
                None => return,
            },
        };
        let first = match first {
            Keep::Fetch(wanted) => {
                if !fetch(&store, cluster.as_mut(), &hub, &metrics, wanted).await {
                    return;
                }
                continue;
            }
            Keep::Written(reply) => {
                // In a cluster, once this node's copy holds the log as it stands, too.
                if let Some((durable, applied)) = cluster.as_mut() {
                    let caught_up = async { state::caught_up(applied, durable.last().await?).await };
                    if let Err(e) = caught_up.await {
                        tracing::warn!(error = %e, "reading history from this node's copy before it caught up");
                    }
                }
                let _ = reply.send(());
                continue;
            }
            write => write,
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                // A fetch, or a wait for what is written, waits for this batch.
                Ok(after @ (Keep::Fetch(_) | Keep::Written(_))) => {
                    carried = Some(after);
                    break;
                }
                Ok(keep) => batch.push(keep),
                Err(_) => break,
            }
        }
        let at_ms = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as i64);
        let records: Vec<Record> = batch
            .iter()
            .filter_map(|k| match k {
                Keep::History(kept) => Some(record(kept, false, at_ms)),
                Keep::Queued(kept, _) => Some(record(kept, true, at_ms)),
                Keep::Fetch(_) | Keep::Written(_) => None,
            })
            .collect();
        let n = records.len();
        let started = std::time::Instant::now();
        // Whether each record is kept.
        let stored: Vec<bool> = match &cluster {
            None => {
                let appended = store.call(move |s| s.append(&records)).await;
                let stored = match appended {
                    Ok(Ok(_)) => true,
                    Ok(Err(e)) => {
                        tracing::error!(error = %e, messages = n, "writing messages to the store");
                        metrics.store_failed.inc_by(n as u64);
                        metrics.store_fault(format!("writing messages: {e}"));
                        false
                    }
                    Err(_) => false, // the store is gone: the server is stopping
                };
                vec![stored; n]
            }
            Some((durable, _)) => {
                // History the log could not take before goes first: nobody waits for it.
                let late = backlog.len();
                let entries: Vec<LogMsg> = backlog.drain(..).chain(records.iter().map(state::log_msg)).collect();
                let acked = durable.append(&entries).await;
                let mut kept = Vec::with_capacity(n);
                for (i, (entry, ack)) in entries.into_iter().zip(acked).enumerate() {
                    let queued = i >= late && records[i - late].offline;
                    if let Err(e) = &ack {
                        if queued {
                            // Its sender is refused: counted, and never written later.
                            tracing::error!(error = %e, "writing a queued message to the cluster's log");
                            metrics.store_failed.inc();
                            metrics.store_fault(format!("writing a queued message to the cluster's log: {e}"));
                        } else {
                            // History waits until NATS is back; past a bound, the oldest goes.
                            if backlog.len() == BACKLOG {
                                backlog.pop_front();
                                metrics.store_failed.inc();
                            }
                            backlog.push_back(entry);
                        }
                    }
                    if i >= late {
                        kept.push(ack.is_ok());
                    }
                }
                if late == 0 && !backlog.is_empty() {
                    tracing::warn!(waiting = backlog.len(), "history waits for the cluster's log");
                }
                kept
            }
        };
        metrics.store_commit.observe(started.elapsed().as_secs_f64());
        metrics.store_pending.dec_by(n as i64);
        let mut stored = stored.into_iter();
        for keep in batch {
            let kept = match keep {
                Keep::History(_) | Keep::Queued(..) => stored.next().unwrap_or(false),
                Keep::Fetch(_) | Keep::Written(_) => continue,
            };
            if let Keep::Queued(_, Some(reply)) = keep {
                let result = if kept { Ok(()) } else { Err(HubError::Unavailable) };
                if hub.send(HubMsg::Stored { reply, result }).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Takes what was delivered out of `name`'s queue and hands the next page to the hub, always
/// (if only with nothing: the hub queues the session's new messages behind the old until then).
/// `false` if the hub is gone.
async fn fetch(
    store: &StoreHandle,
    cluster: Option<&mut Cluster>,
    hub: &mpsc::Sender<HubMsg>,
    metrics: &Metrics,
    wanted: Wanted,
) -> bool {
    let Wanted { session, name, images, mut delivered } = wanted;
    if let Some((durable, applied)) = cluster {
        // What was delivered leaves the queue in the log, for every node's copy; then this
        // node's copy catches up with the log as it stands, and the page is read from it.
        let caught_up = async {
            let mut last = durable.last().await?;
            if let Some(upto) = delivered.take() {
                let entry = LogMsg::Delivered { name: name.clone(), upto, images };
                last = last.max(durable.append(&[entry]).await.remove(0)?);
            }
            state::caught_up(applied, last).await
        };
        if let Err(e) = caught_up.await {
            // Nothing leaves the queue: the hub asks again later.
            tracing::error!(error = %e, %name, "reading a queue from the cluster");
            metrics.store_read_failed("reading a queue from the cluster", &e);
            return hub.send(HubMsg::Offline { session, queued: None }).await.is_ok();
        }
    }
    let who = name.clone();
    let page = move |s: &mut store::Store| s.offline_page(&name, images, delivered, PAGE_MESSAGES, PAGE_BYTES);
    let queued = match store.call(page).await {
        Ok(Ok(stored)) => Some(stored.into_iter().map(queued).collect()),
        Ok(Err(e)) => {
            // Not an empty page: the queue is there, unread. Nothing left it; the hub asks
            // again later, and tells its owner.
            tracing::error!(error = %e, name = who, "reading a page of a queue");
            metrics.store_read_failed("reading a page of a queue", &e);
            None
        }
        Err(_) => return false, // the store is gone: the server is stopping
    };
    hub.send(HubMsg::Offline { session, queued }).await.is_ok()
}

fn queued(s: store::Stored) -> hub::Queued {
    let kept =
        hub::Kept { sender: s.sender, recipient: s.recipient, image: s.kind == 1, body: s.body, ..Kept::default() };
    hub::Queued { id: s.id, at_ms: s.at_ms, kept }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_fetch_sees_what_was_queued_just_before_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreHandle::spawn(store::Store::open(dir.path()).unwrap());
        let (hub, mut from_keeper) = mpsc::channel(16);
        let (keep, task) = spawn(store, None, hub, Arc::new(Metrics::new(&[], false)));
        let kept =
            Kept { sender: "os".into(), recipient: Some("lindsay".into()), body: "hi".into(), ..Kept::default() };
        // Sent in the same instant: the fetch must not overtake the write.
        for _ in 0..3 {
            keep.send(Keep::History(Kept { recipient: None, ..kept.clone() })).unwrap();
        }
        keep.send(Keep::Queued(kept.clone(), Some(ReplyTo::Session(SessionId(1), hub::Kind::Direct)))).unwrap();
        keep.send(Keep::Fetch(Wanted {
            session: SessionId(2),
            name: "Lindsay".into(),
            images: false,
            delivered: None,
        }))
        .unwrap();
        let Some(HubMsg::Stored { reply: ReplyTo::Session(SessionId(1), _), result: Ok(()) }) =
            from_keeper.recv().await
        else {
            panic!("no answer for the queued message")
        };
        let Some(HubMsg::Offline { session: SessionId(2), queued: Some(queued) }) = from_keeper.recv().await else {
            panic!("no answer for the fetch")
        };
        assert_eq!(queued.into_iter().map(|q| q.kept).collect::<Vec<_>>(), [kept]);
        drop(keep);
        task.await.unwrap();
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn written_is_answered_once_what_came_before_it_is_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = StoreHandle::spawn(store::Store::open(dir.path()).unwrap());
        let (hub, _from_keeper) = mpsc::channel(16);
        let (keep, task) = spawn(store.clone(), None, hub, Arc::new(Metrics::new(&[], false)));
        for n in 0..50 {
            let kept = Kept { sender: "os".into(), body: format!("m{n}"), ..Kept::default() };
            keep.send(Keep::History(kept)).unwrap();
            if n == 24 {
                let (reply, written) = oneshot::channel();
                keep.send(Keep::Written(reply)).unwrap();
                written.await.unwrap();
                let lobby = store.call(|s| s.lobby_history(100, None)).await.unwrap().unwrap();
                assert_eq!(lobby.len(), 25, "the first 25 are in the store");
            }
        }
        let (reply, written) = oneshot::channel();
        keep.send(Keep::Written(reply)).unwrap();
        written.await.unwrap();
        assert_eq!(store.call(|s| s.lobby_history(100, None)).await.unwrap().unwrap().len(), 50);
        drop(keep);
        task.await.unwrap();
    }
}

//! The cluster's durable state, in JetStream. Accounts, the white-list and the server's keys
//! are key-value buckets (`switchboard_accounts` and `switchboard_whitelist` keyed by the name
//! as folded, in hex; `switchboard_keys`); history and the offline queue are one log, the
//! stream `switchboard_log`, whose sequence numbers are the messages' ids. A message counts as
//! kept once JetStream acknowledged its entry: only then is its sender answered.
//!
//! Each node keeps a copy of it all in a store of its own (`cluster.db` in its data folder),
//! applied in the log's order by the copier, and reads from it as a single node reads its own
//! store: passwords, devices, history, a queue's pages. Before it reads a queue, a node waits
//! for its copy to hold the whole log as it stands (`caught_up`), so a message queued through
//! any node is in it. When NATS cannot be reached, the copy still answers what it holds.

use super::bucket;
use crate::msg::HubMsg;
use anyhow::{bail, Context};
use async_nats::jetstream::{self, consumer, kv, stream};
use futures_util::StreamExt;
use proto::bus::{self, AccountValue, DeviceValue, LogMsg};
use std::collections::HashSet;
use std::time::Duration;
use store::{AccountRow, DeviceRow, LogEntry, Record, Store, StoreHandle};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

pub const ACCOUNTS: &str = "switchboard_accounts";
pub const WHITELIST: &str = "switchboard_whitelist";
pub const KEYS: &str = "switchboard_keys";
pub const LOG: &str = "switchboard_log";
/// Leases: what one node at a time may hold (NL Chat's XMPP session), each an entry that ages
/// out unless its holder renews it.
pub const LEASES: &str = "switchboard_leases";
const KEPT: &str = "switchboard.log.kept";
const DELIVERED: &str = "switchboard.log.delivered";
/// The NL Chat key pair's key in the keys bucket, and the counter of starts.
const NL_KEY: &str = "nl";
const BOOTS: &str = "boots";
/// How long a node waits for its copy to catch up with the log before it reads a queue.
const CATCH_UP: Duration = Duration::from_secs(5);
/// Entries of the log applied to the copy in one transaction, at most.
const APPLY_BATCH: usize = 512;

/// The cluster's durable state: its buckets and its log.
#[derive(Clone)]
pub struct Durable {
    js: jetstream::Context,
    log: stream::Stream,
    accounts: kv::Store,
    whitelist: kv::Store,
    keys: kv::Store,
    replicas: usize,
}

impl Durable {
    /// Opens the cluster's buckets and log, making those that do not exist yet.
    /// `replicas`: how many NATS servers keep each (for those it makes).
    pub async fn open(client: async_nats::Client, replicas: usize) -> anyhow::Result<Durable> {
        let js = jetstream::new(client);
        let log = match js.get_stream(LOG).await {
            Ok(log) => log,
            Err(_) => js
                .get_or_create_stream(stream::Config {
                    name: LOG.into(),
                    description: Some("switchboard: history and offline queues; a message's id is its sequence".into()),
                    subjects: vec!["switchboard.log.>".into()],
                    storage: stream::StorageType::File,
                    max_message_size: bus::MAX_MESSAGE as i32,
                    deny_delete: true,
                    allow_direct: true,
                    num_replicas: replicas,
                    ..Default::default()
                })
                .await
                .context("making the cluster's log")?,
        };
        Ok(Durable {
            log,
            accounts: bucket(&js, ACCOUNTS, "switchboard: accounts, by name", replicas).await?,
            whitelist: bucket(&js, WHITELIST, "switchboard: the JPC white-list, by name", replicas).await?,
            keys: bucket(&js, KEYS, "switchboard: the server's keys, and the count of starts", replicas).await?,
            js,
            replicas,
        })
    }

    /// The bucket of leases, made if there is none yet: an entry not renewed for `age` is
    /// gone, and another node may take it.
    pub(crate) async fn leases(&self, age: Duration) -> anyhow::Result<kv::Store> {
        let what = "switchboard: what one node at a time holds (NL Chat's XMPP session)";
        super::bucket_of(&self.js, LEASES, what, self.replicas, Some(age)).await.context("opening the cluster's leases")
    }

    /// Writes `entries` to the log; each one's sequence (its message's id) once JetStream
    /// acknowledged it, in order. All are sent before any acknowledgement is awaited.
    pub async fn append(&self, entries: &[LogMsg]) -> Vec<anyhow::Result<u64>> {
        // Refused at once while NATS is away: the senders must not wait for the
        // acknowledgements' timeout, nor have their messages written later, once refused.
        if self.js.client().connection_state() != async_nats::connection::State::Connected {
            return entries.iter().map(|_| Err(anyhow::anyhow!("the cluster cannot be reached"))).collect();
        }
        let mut sent = Vec::with_capacity(entries.len());
        for entry in entries {
            let subject = match entry {
                LogMsg::Kept { .. } => KEPT,
                LogMsg::Delivered { .. } => DELIVERED,
            };
            sent.push(self.js.publish(subject, entry.to_bytes().into()).await);
        }
        let mut acked = Vec::with_capacity(sent.len());
        for ack in sent {
            acked.push(match ack {
                Ok(ack) => ack.await.map(|a| a.sequence).map_err(anyhow::Error::from),
                Err(e) => Err(e.into()),
            });
        }
        acked
    }

    /// The log's last sequence now.
    pub(crate) async fn last(&self) -> anyhow::Result<u64> {
        if self.js.client().connection_state() != async_nats::connection::State::Connected {
            bail!("the cluster cannot be reached");
        }
        Ok(self.log.get_info().await?.state.last_sequence)
    }

    /// The server's NL Chat key pair (PEM): the one kept, or `make()` kept if there is none
    /// yet; when two nodes make one at once, the first kept wins and both use it.
    pub async fn nl_key(&self, make: impl FnOnce() -> String) -> anyhow::Result<String> {
        if let Some(pem) = self.keys.get(NL_KEY).await? {
            return Ok(String::from_utf8(pem.to_vec())?);
        }
        if self.keys.create(NL_KEY, make().into()).await.is_err() {
            tracing::debug!("another node kept an NL key first");
        }
        match self.keys.get(NL_KEY).await? {
            Some(pem) => Ok(String::from_utf8(pem.to_vec())?),
            None => bail!("the cluster keeps no NL key, and would not keep this one"),
        }
    }

    /// Counts one more start of a node: unique across the cluster, as session ids must be.
    pub async fn next_boot(&self) -> anyhow::Result<u32> {
        let revision = self.keys.put(BOOTS, "".into()).await?;
        u32::try_from(revision).context("over 4 billion starts")
    }

    /// Copies the accounts and the white-list as the cluster has them into `store`, which
    /// then holds those and no others; returns the revisions to watch each bucket from.
    pub async fn copy_names(&self, store: &mut Store) -> anyhow::Result<(u64, u64)> {
        let from_accounts = copy_bucket(&self.accounts, store, Table::Accounts).await?;
        let from_whitelist = copy_bucket(&self.whitelist, store, Table::Whitelist).await?;
        Ok((from_accounts, from_whitelist))
    }

    /// Adds an account (its password already hashed); refused if the name has one.
    pub async fn add_account(&self, row: &AccountRow) -> anyhow::Result<()> {
        let value = AccountValue { name: row.name.clone(), phc: row.phc.clone(), created_at: row.created_at };
        let key = bus::name_key(&hub::fold(&row.name));
        match self.accounts.create(key, value.to_bytes().into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                bail!("an account named {} already exists", row.name)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Changes an account (its password).
    pub async fn put_account(&self, row: &AccountRow) -> anyhow::Result<()> {
        let value = AccountValue { name: row.name.clone(), phc: row.phc.clone(), created_at: row.created_at };
        self.accounts.put(bus::name_key(&hub::fold(&row.name)), value.to_bytes().into()).await?;
        Ok(())
    }

    pub async fn remove_account(&self, name: &str) -> anyhow::Result<()> {
        self.accounts.delete(bus::name_key(&hub::fold(name))).await?;
        Ok(())
    }

    /// White-lists a device; refused if the name is on the list.
    pub async fn add_device(&self, row: &DeviceRow) -> anyhow::Result<()> {
        let value = DeviceValue { name: row.name.clone(), mac: row.mac, created_at: row.created_at };
        match self.whitelist.create(bus::name_key(&hub::fold(&row.name)), value.to_bytes().into()).await {
            Ok(_) => Ok(()),
            Err(e) if e.kind() == kv::CreateErrorKind::AlreadyExists => {
                bail!("{} is already on the white-list", row.name)
            }
            Err(e) => Err(e.into()),
        }
    }

    pub async fn remove_device(&self, name: &str) -> anyhow::Result<()> {
        self.whitelist.delete(bus::name_key(&hub::fold(name))).await?;
        Ok(())
    }

    /// How many entries the log holds.
    pub async fn log_len(&self) -> anyhow::Result<u64> {
        Ok(self.log.get_info().await?.state.messages)
    }

    /// When the log was made: a copy of another log (made anew since) is started again.
    fn log_made(&self) -> i64 {
        self.log.cached_info().created.unix_timestamp_nanos() as i64
    }
}

/// A message to keep, as the log has it.
pub fn log_msg(r: &Record) -> LogMsg {
    LogMsg::Kept {
        at: r.at_ms,
        sender: r.sender.clone(),
        sender_guest: r.sender_guest,
        recipient: r.recipient.clone(),
        recipient_guest: r.recipient_guest,
        image: r.kind == 1,
        room: r.kind == 2,
        body: r.body.clone(),
        offline: r.offline,
    }
}

fn log_entry(msg: LogMsg) -> LogEntry {
    match msg {
        LogMsg::Kept { at, sender, sender_guest, recipient, recipient_guest, image, room, body, offline } => {
            LogEntry::Kept(Record {
                at_ms: at,
                sender,
                sender_guest,
                recipient,
                recipient_guest,
                kind: if room { 2 } else { u8::from(image) },
                body,
                offline,
            })
        }
        LogMsg::Delivered { name, upto, images } => LogEntry::Delivered { name, upto, images },
    }
}

#[derive(Debug, Clone, Copy)]
enum Table {
    Accounts,
    Whitelist,
}

/// Applies one entry of a bucket to `store`.
fn apply_name(store: &mut Store, table: Table, entry: &kv::Entry) -> anyhow::Result<()> {
    let folded = bus::key_name(&entry.key).with_context(|| format!("a key that is no name: {:?}", entry.key))?;
    match (table, entry.operation) {
        (Table::Accounts, kv::Operation::Put) => {
            let v = AccountValue::decode(&entry.value)?;
            store.put_account_row(&AccountRow { name: v.name, phc: v.phc, created_at: v.created_at })?;
        }
        (Table::Whitelist, kv::Operation::Put) => {
            let v = DeviceValue::decode(&entry.value)?;
            store.put_device_row(&DeviceRow { name: v.name, mac: v.mac, created_at: v.created_at })?;
        }
        (Table::Accounts, _) => store.forget_account(&folded)?,
        (Table::Whitelist, _) => store.forget_device(&folded)?,
    }
    Ok(())
}

/// Copies every entry of `kv` into `store`'s `table`, then forgets the rows it does not
/// hold; returns the revision to watch from for what changes next.
async fn copy_bucket(kv: &kv::Store, store: &mut Store, table: Table) -> anyhow::Result<u64> {
    let status = kv.status().await?;
    let last = status.info.state.last_sequence;
    let mut held = HashSet::new();
    if status.values() > 0 {
        let mut watch = kv.watch_all_from_revision(1).await?;
        while let Some(entry) = watch.next().await {
            let entry = entry?;
            if entry.operation == kv::Operation::Put {
                held.insert(entry.key.clone());
            } else {
                held.remove(&entry.key);
            }
            if let Err(e) = apply_name(store, table, &entry) {
                tracing::warn!(bucket = %entry.bucket, key = %entry.key, error = %e, "an entry that is none");
            }
            if entry.delta == 0 || entry.revision >= last {
                break;
            }
        }
    }
    let rows: Vec<String> = match table {
        Table::Accounts => store.account_rows()?.into_iter().map(|r| hub::fold(&r.name)).collect(),
        Table::Whitelist => store.device_rows()?.into_iter().map(|r| hub::fold(&r.name)).collect(),
    };
    for folded in rows.into_iter().filter(|f| !held.contains(&bus::name_key(f))) {
        match table {
            Table::Accounts => store.forget_account(&folded)?,
            Table::Whitelist => store.forget_device(&folded)?,
        }
    }
    Ok(last + 1)
}

/// Makes `store` a copy of this cluster's state: if it held another log's (the cluster was
/// made anew), it is emptied; then the accounts and white-list are copied. The log is
/// copied by [`copier`] from where the copy stands.
pub async fn open_copy(durable: &Durable, store: &mut Store) -> anyhow::Result<(u64, u64)> {
    let made = durable.log_made();
    if store.meta("log_made")? != Some(made) {
        if store.log_applied()? > 0 {
            tracing::warn!("this node's copy was of a cluster made anew since: copying it again");
        }
        store.clear_copy()?;
        store.set_meta("log_made", made)?;
    }
    durable.copy_names(store).await
}

/// Starts the copier: the log into the copy, in order, and what changes in the buckets
/// (after which the hub learns the names now reserved). The receiver tells how far the copy
/// has applied the log. Past `started` (the log's end when this node started, before it
/// served anyone), the hub hears of each name whose queue grew.
pub(crate) fn copier(
    durable: Durable,
    client: async_nats::Client,
    copy: StoreHandle,
    applied: u64,
    started: u64,
    from: (u64, u64),
    hub: mpsc::Sender<HubMsg>,
) -> (watch::Receiver<u64>, Vec<JoinHandle<()>>) {
    let (tx, rx) = watch::channel(applied);
    let tasks = vec![
        tokio::spawn(copy_log(durable.clone(), client.clone(), copy.clone(), tx, started, hub.clone())),
        tokio::spawn(copy_names(
            durable.accounts.clone(),
            client.clone(),
            Table::Accounts,
            from.0,
            copy.clone(),
            hub.clone(),
        )),
        tokio::spawn(copy_names(durable.whitelist, client, Table::Whitelist, from.1, copy, hub)),
    ];
    (rx, tasks)
}

/// Waits until the copy has applied the log up to `last` (for at most [`CATCH_UP`]).
pub(crate) async fn caught_up(applied: &mut watch::Receiver<u64>, last: u64) -> anyhow::Result<()> {
    match tokio::time::timeout(CATCH_UP, applied.wait_for(|&a| a >= last)).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(_)) => bail!("the copier stopped"),
        Err(_) => bail!("this node's copy did not reach the log's entry {last} in {CATCH_UP:?}"),
    }
}

async fn copy_log(
    durable: Durable,
    client: async_nats::Client,
    copy: StoreHandle,
    applied: watch::Sender<u64>,
    started: u64,
    hub: mpsc::Sender<HubMsg>,
) {
    let mut pause = Duration::from_millis(100);
    loop {
        let from = *applied.borrow() + 1;
        let consumer = durable
            .log
            .create_consumer(consumer::push::OrderedConfig {
                deliver_subject: client.new_inbox(),
                description: Some("switchboard: a node's copy of the log".into()),
                deliver_policy: consumer::DeliverPolicy::ByStartSequence { start_sequence: from },
                replay_policy: consumer::ReplayPolicy::Instant,
                ..Default::default()
            })
            .await;
        let messages = match consumer {
            Ok(consumer) => consumer.messages().await,
            Err(e) => {
                tracing::debug!(error = %e, "copying the cluster's log: later");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                continue;
            }
        };
        let Ok(messages) = messages else { continue };
        pause = Duration::from_millis(100);
        let mut chunks = messages.ready_chunks(APPLY_BATCH);
        // A NATS server that restarted lost this consumer: read on from where the copy stands
        // at once, rather than when the consumer misses its heartbeats.
        let back = reconnected(&client);
        tokio::pin!(back);
        loop {
            let chunk = tokio::select! {
                chunk = chunks.next() => match chunk {
                    Some(chunk) => chunk,
                    None => break,
                },
                () = &mut back => break,
            };
            let mut entries = Vec::with_capacity(chunk.len());
            let mut last = *applied.borrow();
            for message in chunk {
                let message = match message {
                    Ok(m) => m,
                    Err(e) => {
                        tracing::debug!(error = %e, "copying the cluster's log");
                        continue;
                    }
                };
                let Ok(seq) = message.info().map(|i| i.stream_sequence) else { continue };
                last = last.max(seq);
                match LogMsg::decode(&message.payload) {
                    Ok(msg) => entries.push((seq, log_entry(msg))),
                    Err(e) => tracing::warn!(seq, error = %e, "an entry of the cluster's log that is none"),
                }
            }
            if last == *applied.borrow() {
                continue;
            }
            // Names whose queues grew: a session here may hold one since before the message
            // was queued (by a node that did not know yet), and is handed it.
            // (Not while catching up at start: the hub task is not reading yet, and nobody here
            // has a name.)
            let mut queued: Vec<String> = entries
                .iter()
                .filter(|(seq, _)| *seq > started)
                .filter_map(|(_, e)| match e {
                    LogEntry::Kept(Record { offline: true, recipient: Some(to), .. }) => Some(hub::fold(to)),
                    _ => None,
                })
                .collect();
            queued.sort();
            queued.dedup();
            match copy.call(move |s| s.apply_log(&entries, last)).await {
                Ok(Ok(())) => {
                    applied.send_replace(last);
                    for name in queued {
                        let _ = hub.send(HubMsg::Cluster(hub::Input::Queued { name })).await;
                    }
                }
                Ok(Err(e)) => {
                    // Read again from where the copy stands.
                    tracing::error!(error = %e, "applying the cluster's log to this node's copy");
                    tokio::time::sleep(pause).await;
                    break;
                }
                Err(_) => return, // the store is gone: the server is stopping
            }
        }
    }
}

/// Resolves once `client` has been away from NATS and is back.
async fn reconnected(client: &async_nats::Client) {
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut away = false;
    loop {
        tick.tick().await;
        match client.connection_state() {
            async_nats::connection::State::Connected if away => return,
            async_nats::connection::State::Connected => {}
            _ => away = true,
        }
    }
}

async fn copy_names(
    kv: kv::Store,
    client: async_nats::Client,
    table: Table,
    mut from: u64,
    copy: StoreHandle,
    hub: mpsc::Sender<HubMsg>,
) {
    loop {
        let mut watch = match kv.watch_all_from_revision(from).await {
            Ok(watch) => watch.ready_chunks(APPLY_BATCH),
            Err(e) => {
                tracing::debug!(error = %e, "watching the cluster's accounts: later");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let back = reconnected(&client);
        tokio::pin!(back);
        loop {
            let chunk = tokio::select! {
                chunk = watch.next() => match chunk {
                    Some(chunk) => chunk,
                    None => break,
                },
                () = &mut back => break,
            };
            let entries: Vec<kv::Entry> = chunk.into_iter().filter_map(Result::ok).collect();
            let Some(last) = entries.iter().map(|e| e.revision).max() else { continue };
            from = last + 1;
            let changed = copy
                .call(move |s| {
                    for entry in &entries {
                        if let Err(e) = apply_name(s, table, entry) {
                            tracing::warn!(bucket = %entry.bucket, key = %entry.key, error = %e, "an entry that is none");
                        }
                    }
                    s.reserved_names()
                })
                .await;
            match changed {
                Ok(Ok(names)) => {
                    tracing::info!(reserved = names.len(), "accounts or white-list changed in the cluster");
                    if hub.send(HubMsg::Reserved { names }).await.is_err() {
                        return;
                    }
                }
                Ok(Err(e)) => tracing::error!(error = %e, "reading the accounts"),
                Err(_) => return,
            }
        }
    }
}

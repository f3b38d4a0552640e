//! The store as a node's copy of a cluster's state. In a cluster the state is the one in
//! JetStream: accounts, the white-list and keys in key-value buckets, history and the offline
//! queue in one log (a stream) whose sequence numbers are the messages' ids. Each node keeps a
//! copy in a store of its own (`cluster.db` in its data folder), applied in the log's order,
//! and reads from it as a single node reads its own: history, queues, passwords, devices.
//! These are the writes that copy makes; they take what the cluster decided, they decide
//! nothing (no name is refused here: the cluster's writer checked it).

use crate::{Result, Store};
use hub::fold;
use rusqlite::{params, OptionalExtension};

/// An entry of the cluster's log, as applied to the copy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogEntry {
    /// A message kept (and queued for its recipient if `offline`), its id the log's sequence.
    Kept(crate::Record),
    /// `name`'s queue delivered up to message `upto` (only texts unless `images`).
    Delivered { name: String, upto: i64, images: bool },
}

/// An account as the cluster keeps it: its password only as an argon2id PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRow {
    pub name: String,
    pub phc: String,
    pub created_at: i64,
}

/// A white-listed device as the cluster keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRow {
    pub name: String,
    pub mac: u64,
    pub created_at: i64,
}

impl Store {
    /// Applies `entries` (each with its sequence in the log, in order) in one transaction,
    /// and records the log as applied up to `upto` (which may be past the last entry: the
    /// log's entries that are none are passed over). An entry applied already (a sequence at
    /// or below the last applied) is passed over, so the log may be read again from any point.
    pub fn apply_log(&mut self, entries: &[(u64, LogEntry)], upto: u64) -> Result<()> {
        let applied = self.meta("log_seq")?.unwrap_or(0);
        let tx = self.conn.transaction()?;
        let mut last = applied;
        {
            let mut delivered = tx.prepare_cached(
                "DELETE FROM offline WHERE key = ?1 AND message <= ?2
                   AND message IN (SELECT id FROM messages WHERE kind <= ?3)",
            )?;
            for (seq, entry) in entries {
                let seq = *seq as i64;
                if seq <= last {
                    continue;
                }
                last = seq;
                match entry {
                    LogEntry::Kept(r) => {
                        crate::history::insert(&tx, Some(seq), r)?;
                    }
                    LogEntry::Delivered { name, upto, images } => {
                        delivered.execute(params![fold(name), upto, i64::from(*images)])?;
                    }
                }
            }
        }
        tx.execute(
            "INSERT INTO meta (key, value) VALUES ('log_seq', ?1) ON CONFLICT (key) DO UPDATE SET value = ?1",
            [last.max(upto as i64)],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The last sequence of the log applied (0: none).
    pub fn log_applied(&self) -> Result<u64> {
        Ok(self.meta("log_seq")?.unwrap_or(0) as u64)
    }

    /// A number kept under `key`, if any.
    pub fn meta(&self, key: &str) -> Result<Option<i64>> {
        let mut stmt = self.conn.prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(stmt.query_row([key], |r| r.get(0)).optional()?)
    }

    /// Keeps `value` under `key`.
    pub fn set_meta(&mut self, key: &str, value: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2",
            params![key, value],
        )?;
        Ok(())
    }

    /// Forgets everything copied: the copy was of another cluster's state (its log was made
    /// anew), and is copied again from the start.
    pub fn clear_copy(&mut self) -> Result<()> {
        self.conn.execute_batch(
            "BEGIN;
             DELETE FROM offline; DELETE FROM messages; DELETE FROM accounts; DELETE FROM whitelist;
             DELETE FROM keys; DELETE FROM meta;
             COMMIT;",
        )?;
        Ok(())
    }

    /// An account as kept, hash included (what a cluster's bucket holds).
    pub fn account_row(&self, name: &str) -> Result<Option<AccountRow>> {
        Ok(self
            .conn
            .query_row("SELECT name, phc, created_at FROM accounts WHERE folded = ?1", [fold(name)], |r| {
                Ok(AccountRow { name: r.get(0)?, phc: r.get(1)?, created_at: r.get(2)? })
            })
            .optional()?)
    }

    /// Every account as kept, hashes included.
    pub fn account_rows(&self) -> Result<Vec<AccountRow>> {
        let mut stmt = self.conn.prepare("SELECT name, phc, created_at FROM accounts ORDER BY folded")?;
        let rows = stmt.query_map([], |r| Ok(AccountRow { name: r.get(0)?, phc: r.get(1)?, created_at: r.get(2)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps `row` as it is (made or changed).
    pub fn put_account_row(&mut self, row: &AccountRow) -> Result<()> {
        self.conn.execute(
            "INSERT INTO accounts (folded, name, phc, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (folded) DO UPDATE SET name = ?2, phc = ?3, created_at = ?4",
            params![fold(&row.name), row.name, row.phc, row.created_at],
        )?;
        Ok(())
    }

    /// Forgets the account `folded` (a name as folded), if there is one.
    pub fn forget_account(&mut self, folded: &str) -> Result<()> {
        self.conn.execute("DELETE FROM accounts WHERE folded = ?1", [folded])?;
        Ok(())
    }

    /// A white-listed device as kept.
    pub fn device_row(&self, name: &str) -> Result<Option<DeviceRow>> {
        Ok(self
            .conn
            .query_row("SELECT name, mac, created_at FROM whitelist WHERE folded = ?1", [fold(name)], |r| {
                Ok(DeviceRow { name: r.get(0)?, mac: r.get::<_, i64>(1)? as u64, created_at: r.get(2)? })
            })
            .optional()?)
    }

    /// Every white-listed device as kept.
    pub fn device_rows(&self) -> Result<Vec<DeviceRow>> {
        let mut stmt = self.conn.prepare("SELECT name, mac, created_at FROM whitelist ORDER BY folded")?;
        let rows = stmt.query_map([], |r| {
            Ok(DeviceRow { name: r.get(0)?, mac: r.get::<_, i64>(1)? as u64, created_at: r.get(2)? })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Keeps `row` as it is; a device that had its MAC address before gives it up.
    pub fn put_device_row(&mut self, row: &DeviceRow) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM whitelist WHERE mac = ?1 AND folded <> ?2", params![row.mac as i64, fold(&row.name)])?;
        tx.execute(
            "INSERT INTO whitelist (folded, name, mac, created_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (folded) DO UPDATE SET name = ?2, mac = ?3, created_at = ?4",
            params![fold(&row.name), row.name, row.mac as i64, row.created_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Forgets the device `folded`, if there is one.
    pub fn forget_device(&mut self, folded: &str) -> Result<()> {
        self.conn.execute("DELETE FROM whitelist WHERE folded = ?1", [folded])?;
        Ok(())
    }

    /// Every message kept, in order, with whether it still waits in its recipient's queue:
    /// what an import into a cluster copies, `limit` at a time after message `after`.
    pub fn messages_after(&self, after: i64, limit: usize) -> Result<Vec<(i64, crate::Record)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, at_ms, sender, sender_guest, recipient, recipient_guest, kind, body,
                    EXISTS (SELECT 1 FROM offline WHERE offline.message = messages.id)
             FROM messages WHERE id > ?1 ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![after, limit as i64], |r| {
            Ok((
                r.get(0)?,
                crate::Record {
                    at_ms: r.get(1)?,
                    sender: r.get(2)?,
                    sender_guest: r.get(3)?,
                    recipient: r.get(4)?,
                    recipient_guest: r.get(5)?,
                    kind: r.get::<_, i64>(6)? as u8,
                    body: r.get(7)?,
                    offline: r.get(8)?,
                },
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

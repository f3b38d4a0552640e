//! Switchboard's embedded store: one SQLite file in the data folder, created on first start,
//! brought up to date by versioned migrations, in WAL mode. It holds accounts now; the
//! white-list, history, the offline queue and keys get tables of their own as they come.
//!
//! [`Store`] is the synchronous store; [`StoreHandle`] runs one on a thread of its own, fed by
//! a channel, so that async code (the hub task above all) never waits on SQL.

mod accounts;
mod history;
mod keys;
mod migrations;
mod recover;
mod replica;
mod whitelist;

pub use accounts::{Account, ImportReport, Verdict};
pub use history::{Identity, Mark, Record, Scope, Stored, Window};
pub use recover::{recover, Recovered, TableCopy};
pub use replica::{AccountRow, DeviceRow, LogEntry};
pub use whitelist::{format_mac, parse_mac, Device};

use rusqlite::Connection;
use std::path::{Path, PathBuf};
use thiserror::Error;
use tokio::sync::oneshot;

/// The database's file name inside the data folder.
pub const FILE: &str = "switchboard.db";
/// A cluster node's copy of the cluster's state, inside its data folder.
pub const CLUSTER_FILE: &str = "cluster.db";

#[derive(Debug, Error)]
pub enum StoreError {
    #[error("no such account: {0}")]
    NoSuchAccount(String),
    #[error("an account named {0} already exists")]
    AccountExists(String),
    #[error("{0:?} is not a valid name (1 to 64 bytes of letters, digits and ASCII punctuation: no spaces, no invisible or control characters, no @)")]
    InvalidName(String),
    #[error("{name} looks like {existing}, a name already reserved")]
    LooksLike { name: String, existing: String },
    #[error("the password is empty")]
    EmptyPassword,
    #[error("the store's database: {0}")]
    Sql(#[from] rusqlite::Error),
    #[error("the store's folder {path}: {source}")]
    Io { path: PathBuf, source: std::io::Error },
    #[error("hashing a password: {0}")]
    Hash(String),
    #[error("the database was written by a newer Switchboard (schema {found}, this one knows up to {known})")]
    TooNew { found: i64, known: i64 },
    #[error("{0} is already on the white-list")]
    DeviceNameExists(String),
    #[error("the MAC address {0} is already on the white-list")]
    MacExists(String),
    #[error("{0} is not on the white-list")]
    NoSuchDevice(String),
    #[error("the store has stopped")]
    Gone,
    #[error("cannot recover the store: {0}")]
    Recover(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

impl StoreError {
    /// The database file is damaged (or not a database at all).
    pub fn is_damage(&self) -> bool {
        matches!(self, StoreError::Sql(e) if matches!(
            e.sqlite_error_code(),
            Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase)
        ))
    }

    /// A fault of the store itself (its file, its disk), not a refusal of what was asked
    /// (no such account, a name taken): what makes a server unhealthy.
    pub fn is_fault(&self) -> bool {
        matches!(self, StoreError::Sql(_) | StoreError::Io { .. } | StoreError::Gone)
    }
}

/// What the integrity check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Check {
    Ok,
    /// The problems SQLite reports (the first few).
    Damaged(Vec<String>),
    /// It did not finish in the time it had.
    Unfinished,
}

pub struct Store {
    conn: Connection,
}

impl Store {
    /// Opens (creating if needed) the store in `dir` and migrates it to the current schema.
    pub fn open(dir: &Path) -> Result<Store> {
        Store::open_file(dir, FILE)
    }

    /// Opens (creating if needed) the store in the file `file` of `dir`.
    pub fn open_file(dir: &Path, file: &str) -> Result<Store> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io { path: dir.to_owned(), source })?;
        let conn = Connection::open(dir.join(file))?;
        // WAL lets readers work while one writes; FULL makes every commit durable (an
        // acknowledged write survives a crash or a power cut).
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        migrations::register_fold(&conn)?;
        let mut store = Store { conn };
        migrations::run(&mut store.conn)?;
        Ok(store)
    }

    /// The schema version the database is at.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    /// A number that changes when another connection (another process, such as `switchboard
    /// accounts`) has committed to the database since this one last asked.
    pub fn data_version(&self) -> Result<i64> {
        Ok(self.conn.pragma_query_value(None, "data_version", |r| r.get(0))?)
    }

    /// The reserved name (account or device) that `name` looks like, if another one does:
    /// such a name would impersonate it.
    pub(crate) fn look_alike(&self, name: &str) -> Result<Option<String>> {
        let (folded, look) = (hub::fold(name), hub::skeleton(name));
        let mut stmt = self.conn.prepare("SELECT name FROM accounts UNION ALL SELECT name FROM whitelist")?;
        let names = stmt.query_map([], |r| r.get::<_, String>(0))?;
        for existing in names {
            let existing = existing?;
            if hub::fold(&existing) != folded && hub::skeleton(&existing) == look {
                return Ok(Some(existing));
            }
        }
        Ok(None)
    }

    /// Refuses `name` if it looks like another reserved name.
    pub(crate) fn refuse_look_alike(&self, name: &str) -> Result<()> {
        match self.look_alike(name)? {
            Some(existing) => Err(StoreError::LooksLike { name: name.to_owned(), existing }),
            None => Ok(()),
        }
    }

    /// Counts one more start of the server and returns the count (from 1): it makes session
    /// ids unique across restarts, so that a guest's history stays its session's.
    pub fn next_boot(&mut self) -> Result<u32> {
        let boots: i64 = self.conn.query_row(
            "INSERT INTO meta (key, value) VALUES ('boots', 1)
             ON CONFLICT (key) DO UPDATE SET value = value + 1 RETURNING value",
            [],
            |r| r.get(0),
        )?;
        Ok(u32::try_from(boots).unwrap_or(u32::MAX))
    }

    /// Checks the database file's pages and indexes (`PRAGMA quick_check`: every b-tree page
    /// read and checked, indexes against their tables' rows counted; not the slower
    /// `integrity_check`), for at most `budget`: a store too big to check in that time is
    /// checked no further (`Unfinished`).
    pub fn check(&mut self, budget: std::time::Duration) -> Result<Check> {
        // No deadline at all for a budget past the clock's end.
        let deadline = std::time::Instant::now().checked_add(budget);
        self.conn.progress_handler(10_000, Some(move || deadline.is_some_and(|d| std::time::Instant::now() > d)))?;
        let found = (|| {
            let mut stmt = self.conn.prepare("PRAGMA quick_check(8)")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        })();
        self.conn.progress_handler(0, None::<fn() -> bool>)?;
        match found {
            Ok(rows) if rows == ["ok"] => Ok(Check::Ok),
            Ok(rows) => Ok(Check::Damaged(rows)),
            Err(e) if e.sqlite_error_code() == Some(rusqlite::ErrorCode::OperationInterrupted) => Ok(Check::Unfinished),
            Err(e) => {
                let e = StoreError::from(e);
                match e.is_damage() {
                    true => Ok(Check::Damaged(vec![e.to_string()])),
                    false => Err(e),
                }
            }
        }
    }

    /// Caps the database file at the pages it has now: past them, writes fail as on a full
    /// disk (`SQLITE_FULL`, "database or disk is full"). How a full disk is tested.
    pub fn cap_at_current_size(&self) -> Result<()> {
        let pages: i64 = self.conn.pragma_query_value(None, "page_count", |r| r.get(0))?;
        self.conn.pragma_update(None, "max_page_count", pages)?;
        Ok(())
    }

    /// The journal mode in force (`wal`).
    pub fn journal_mode(&self) -> Result<String> {
        Ok(self.conn.pragma_query_value(None, "journal_mode", |r| r.get(0))?)
    }
}

type Job = Box<dyn FnOnce(&mut Store) + Send>;

/// A store running on a thread of its own. Cheap to clone; the thread ends when the last
/// handle is dropped.
#[derive(Clone)]
pub struct StoreHandle {
    jobs: std::sync::mpsc::Sender<Job>,
}

impl StoreHandle {
    /// Moves `store` onto its own thread.
    pub fn spawn(mut store: Store) -> StoreHandle {
        let (jobs, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("store".into())
            .spawn(move || {
                for job in rx {
                    job(&mut store);
                }
            })
            .expect("spawning the store thread");
        StoreHandle { jobs }
    }

    /// Runs `f` on the store's thread and waits for its answer without blocking the caller's.
    pub async fn call<R: Send + 'static>(&self, f: impl FnOnce(&mut Store) -> R + Send + 'static) -> Result<R> {
        let (tx, rx) = oneshot::channel();
        self.jobs
            .send(Box::new(move |store| {
                let _ = tx.send(f(store));
            }))
            .map_err(|_| StoreError::Gone)?;
        #[cfg(feature = "paused-clock")]
        {
            // A blocking task holds a paused clock still until the store has answered.
            let answer = tokio::task::spawn_blocking(move || rx.blocking_recv()).await;
            answer.map_err(|_| StoreError::Gone)?.map_err(|_| StoreError::Gone)
        }
        #[cfg(not(feature = "paused-clock"))]
        rx.await.map_err(|_| StoreError::Gone)
    }
}

#[cfg(test)]
mod tests;

//! Recovery of a damaged store: every row that can still be read is copied into a new
//! database made at the current schema, table by table in rowid order; a part of the file that
//! cannot be read is stepped over (its rows are lost, and counted), and the indexes are built
//! anew. Queued messages whose message was lost leave the queue. SQLite's own `.recover` is not
//! in every `sqlite3` shell (Debian 12's fails), and `.dump` stops at the first damaged page and
//! drops the schema version: this knows the schema and needs no other program.

use crate::{Result, Store, StoreError};
use rusqlite::{Connection, OpenFlags};
use std::path::Path;

/// Rows read per query.
const BATCH: i64 = 512;

/// What a recovery copied, per table: rows copied, and stretches of rowids passed over.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Recovered {
    pub tables: Vec<TableCopy>,
    /// Queued messages whose message was lost, taken out of the queue.
    pub orphans: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableCopy {
    pub table: String,
    pub rows: usize,
    /// Unreadable stretches passed over (each lost its rows).
    pub skipped: usize,
}

type Row = Vec<rusqlite::types::Value>;

/// Copies what can be read of the store file `damaged` into a new store file `into` (which
/// must not exist). `damaged` is only read.
pub fn recover(damaged: &Path, into: &Path) -> Result<Recovered> {
    let from = Connection::open_with_flags(damaged, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let version: i64 = from.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version != crate::migrations::CURRENT {
        return Err(StoreError::Recover(format!(
            "its schema is version {version}, this Switchboard's {}: recover it with the Switchboard that wrote it",
            crate::migrations::CURRENT
        )));
    }
    if into.exists() {
        return Err(StoreError::Recover(format!("{} is in the way", into.display())));
    }
    let file = into.file_name().and_then(|f| f.to_str()).ok_or_else(|| StoreError::Recover("no file name".into()))?;
    let mut store = Store::open_file(into.parent().unwrap_or(Path::new(".")), file)?;
    let to = &mut store.conn;
    // A queued message whose message was lost must not stop the copy: it is dropped after.
    to.pragma_update(None, "foreign_keys", "OFF")?;
    // The tables as the schema made them, in that order (a message before its place in a
    // queue).
    let tables: Vec<String> = {
        let mut stmt = to.prepare(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY rowid",
        )?;
        let names = stmt.query_map([], |r| r.get(0))?;
        names.collect::<rusqlite::Result<_>>()?
    };
    let mut recovered = Recovered::default();
    let tx = to.transaction()?;
    for table in tables {
        let columns: Vec<String> = {
            let mut stmt = tx.prepare("SELECT name FROM pragma_table_info(?1)")?;
            let names = stmt.query_map([&table], |r| r.get(0))?;
            names.collect::<rusqlite::Result<_>>()?
        };
        let list = columns.join(", ");
        let marks = (1..=columns.len() + 1).map(|i| format!("?{i}")).collect::<Vec<_>>().join(", ");
        // What a new store starts with gives way to what was kept.
        tx.execute(&format!("DELETE FROM {table}"), [])?;
        let mut insert = tx.prepare(&format!("INSERT INTO {table} (rowid, {list}) VALUES ({marks})"))?;
        let read = format!("SELECT rowid, {list} FROM {table} WHERE rowid > ?1 ORDER BY rowid LIMIT ?2");
        let rows = |after: i64, limit: i64| -> rusqlite::Result<Vec<Row>> {
            let mut stmt = from.prepare_cached(&read)?;
            let rows = stmt.query_map([after, limit], |r| (0..=columns.len()).map(|i| r.get(i)).collect())?;
            rows.collect()
        };
        let mut copy = TableCopy { table: table.clone(), rows: 0, skipped: 0 };
        // Rowids of every table here start at 1.
        let mut after = 0;
        let mut limit = BATCH;
        loop {
            match rows(after, limit) {
                Ok(batch) if batch.is_empty() => break,
                Ok(batch) => {
                    for row in &batch {
                        insert.execute(rusqlite::params_from_iter(row))?;
                    }
                    copy.rows += batch.len();
                    after = match batch.last().and_then(|r| r.first()) {
                        Some(rusqlite::types::Value::Integer(rowid)) => *rowid,
                        _ => break,
                    };
                }
                // A batch that meets the damage: row by row up to it, then past it.
                Err(e) if is_damage(&e) && limit > 1 => limit = 1,
                Err(e) if is_damage(&e) => {
                    copy.skipped += 1;
                    limit = BATCH;
                    match past_damage(after, |start| rows(start, 1).map(drop)) {
                        Some(start) => after = start,
                        None => break, // nothing readable past it
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        recovered.tables.push(copy);
    }
    recovered.orphans =
        tx.execute("DELETE FROM offline WHERE NOT EXISTS (SELECT 1 FROM messages WHERE id = offline.message)", [])?;
    tx.commit()?;
    to.pragma_update(None, "foreign_keys", "ON")?;
    Ok(recovered)
}

fn is_damage(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(rusqlite::ErrorCode::DatabaseCorrupt | rusqlite::ErrorCode::NotADatabase))
}

/// The smallest rowid past `failed` from which a read works, if any: a damaged page holds a
/// stretch of rowids, so reads fail from `failed` up to some point and work after it. Found by
/// doubling steps, then halving back.
fn past_damage(failed: i64, works: impl Fn(i64) -> rusqlite::Result<()>) -> Option<i64> {
    let ok = |start: i64| match works(start) {
        Ok(()) => Some(true),
        Err(e) if is_damage(&e) => Some(false),
        Err(_) => None,
    };
    let (mut bad, mut step) = (failed, 1i64);
    let good = loop {
        let probe = failed.checked_add(step)?;
        match ok(probe)? {
            true => break probe,
            false => bad = probe,
        }
        step = step.checked_mul(2)?;
    };
    let (mut bad, mut good) = (bad, good);
    while good - bad > 1 {
        let mid = bad + (good - bad) / 2;
        match ok(mid)? {
            true => good = mid,
            false => bad = mid,
        }
    }
    Some(good)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_damage_is_found_where_reads_start_to_work_again() {
        let works = |start: i64| match start {
            1000..=1199 => {
                Err(rusqlite::Error::SqliteFailure(rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT), None))
            }
            _ => Ok(()),
        };
        assert_eq!(super::past_damage(1000, works), Some(1200));
        assert_eq!(super::past_damage(1150, works), Some(1200));
        assert_eq!(super::past_damage(i64::MIN, |_| Ok(())), Some(i64::MIN + 1));
    }
}

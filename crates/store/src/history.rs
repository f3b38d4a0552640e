//! History and the offline queue. Every lobby and direct message is kept; a direct message to
//! a reserved name that is offline is also queued for it, and taken, in order, when it next
//! logs in. Writes come in batches, one transaction each: one sync to disk for many messages
//! (group commit), and a message counts as stored only once its batch committed.

use crate::{Result, Store};
use hub::fold;
use rusqlite::types::Value;
use rusqlite::{params, Row, ToSql};

/// A message to keep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
    pub sender: String,
    /// The sender's session, if a guest's: only that session reads it as its own.
    pub sender_guest: Option<i64>,
    /// `None`: the lobby.
    pub recipient: Option<String>,
    /// The recipient's session, if a guest's.
    pub recipient_guest: Option<i64>,
    /// 0 text, 1 image (base64 in `body`), 2 text said in a room (`recipient`).
    pub kind: u8,
    pub body: String,
    /// Also queue it for `recipient`, who is offline.
    pub offline: bool,
}

/// Whose history is read: a name, and if it is a guest's, its session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity<'a> {
    pub name: &'a str,
    /// The guest's session; `None` for an account or a device.
    pub guest: Option<i64>,
}

impl<'a> Identity<'a> {
    /// An account's or a device's: the name's, for good.
    pub fn owner(name: &'a str) -> Self {
        Identity { name, guest: None }
    }
}

/// Whose messages a read of the history is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope<'a> {
    Lobby,
    /// What was said in a room (who may read it is the caller's to say: its members).
    Room(&'a str),
    /// The direct messages of a name with another, either way, as that name may read them.
    Conversation(Identity<'a>, &'a str),
}

impl Scope<'_> {
    /// Its condition in SQL, and the values it names.
    fn clause(&self) -> (String, Vec<(&'static str, Value)>) {
        match *self {
            Scope::Lobby => ("recipient_key IS NULL".into(), Vec::new()),
            Scope::Room(room) => {
                ("recipient_key = :room AND kind = 2".into(), vec![(":room", Value::Text(fold(room)))])
            }
            Scope::Conversation(me, other) => (
                "((sender_key = :me AND sender_guest IS :guest AND recipient_key = :other)
                   OR (sender_key = :other AND recipient_key = :me AND recipient_guest IS :guest)) AND kind < 2"
                    .into(),
                vec![
                    (":me", Value::Text(fold(me.name))),
                    (":other", Value::Text(fold(other))),
                    (":guest", me.guest.map_or(Value::Null, Value::Integer)),
                ],
            ),
        }
    }
}

/// A point in the history: a kept message, or a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mark {
    /// The message of this id.
    Id(i64),
    /// Milliseconds since the Unix epoch.
    At(i64),
}

impl Mark {
    fn column(self) -> (&'static str, i64) {
        match self {
            Mark::Id(id) => ("id", id),
            Mark::At(ms) => ("at_ms", ms),
        }
    }
}

/// Which messages of a scope a read wants; each read returns at most its limit, oldest first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    /// The newest, all after the mark if one is given.
    Latest(Option<Mark>),
    /// The newest before the mark.
    Before(Mark),
    /// The oldest after the mark.
    After(Mark),
    /// Strictly between the two, the nearest to the first.
    Between(Mark, Mark),
    /// Half the limit before the mark, the rest from it on.
    Around(Mark),
}

impl Window {
    fn last_before(before: Option<i64>) -> Window {
        before.map_or(Window::Latest(None), |id| Window::Before(Mark::Id(id)))
    }
}

/// A kept message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stored {
    pub id: i64,
    pub at_ms: i64,
    pub sender: String,
    pub recipient: Option<String>,
    pub kind: u8,
    pub body: String,
}

fn stored(r: &Row<'_>) -> rusqlite::Result<Stored> {
    Ok(Stored {
        id: r.get(0)?,
        at_ms: r.get(1)?,
        sender: r.get(2)?,
        recipient: r.get(3)?,
        kind: r.get::<_, i64>(4)? as u8,
        body: r.get(5)?,
    })
}

const COLUMNS: &str = "id, at_ms, sender, recipient, kind, body";

/// Keeps `r` (as message `id`, or the next id), and queues it for its recipient if it is to
/// be; returns its id. A message kept already under `id` is passed over.
pub(crate) fn insert(tx: &rusqlite::Transaction<'_>, id: Option<i64>, r: &Record) -> Result<i64> {
    let mut message = tx.prepare_cached(
        "INSERT OR IGNORE INTO messages
             (id, at_ms, sender, sender_key, sender_guest, recipient, recipient_key, recipient_guest, kind, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let recipient_key = r.recipient.as_deref().map(fold);
    let inserted = message.execute(params![
        id,
        r.at_ms,
        r.sender,
        fold(&r.sender),
        r.sender_guest,
        r.recipient,
        recipient_key,
        r.recipient_guest,
        i64::from(r.kind),
        r.body
    ])?;
    let id = id.unwrap_or_else(|| tx.last_insert_rowid());
    if let (1, true, Some(key)) = (inserted, r.offline, &recipient_key) {
        tx.prepare_cached("INSERT INTO offline (key, message) VALUES (?1, ?2)")?.execute(params![key, id])?;
    }
    Ok(id)
}

impl Store {
    /// Writes `batch` in one transaction and returns the messages' ids, in order.
    pub fn append(&mut self, batch: &[Record]) -> Result<Vec<i64>> {
        let tx = self.conn.transaction()?;
        let mut ids = Vec::with_capacity(batch.len());
        for r in batch {
            ids.push(insert(&tx, None, r)?);
        }
        tx.commit()?;
        Ok(ids)
    }

    /// The lobby's last `limit` messages before message `before` (if given), oldest first.
    pub fn lobby_history(&self, limit: usize, before: Option<i64>) -> Result<Vec<Stored>> {
        self.history(Scope::Lobby, Window::last_before(before), limit)
    }

    /// The last `limit` messages said in `room` before message `before` (if given), oldest
    /// first. (Who may read them is the caller's to say: the room's members.)
    pub fn room_history(&self, room: &str, limit: usize, before: Option<i64>) -> Result<Vec<Stored>> {
        self.history(Scope::Room(room), Window::last_before(before), limit)
    }

    /// The last `limit` direct messages of `me` with `other`, either way, before message
    /// `before` (if given), oldest first. `me` reads only its own side: as an account (or
    /// device) what its name sent and got, as a guest what its session did.
    pub fn conversation(
        &self,
        me: Identity<'_>,
        other: &str,
        limit: usize,
        before: Option<i64>,
    ) -> Result<Vec<Stored>> {
        self.history(Scope::Conversation(me, other), Window::last_before(before), limit)
    }

    /// At most `limit` messages of `scope` in `window`, oldest first.
    pub fn history(&self, scope: Scope<'_>, window: Window, limit: usize) -> Result<Vec<Stored>> {
        let (mut sql, mut binds) = scope.clause();
        sql.insert_str(0, &format!("SELECT {COLUMNS} FROM messages WHERE "));
        let limit = limit as i64;
        let mark = |sql: &mut String, binds: &mut Vec<(&'static str, Value)>, name, op, m: Mark| {
            let (column, value) = m.column();
            sql.push_str(&format!(" AND {column} {op} {name}"));
            binds.push((name, Value::Integer(value)));
        };
        // The newest first (then turned), or the oldest first.
        let newest_first = match window {
            Window::Latest(after) => {
                if let Some(m) = after {
                    mark(&mut sql, &mut binds, ":a", ">", m);
                }
                true
            }
            Window::Before(m) => {
                mark(&mut sql, &mut binds, ":a", "<", m);
                true
            }
            Window::After(m) => {
                mark(&mut sql, &mut binds, ":a", ">", m);
                false
            }
            Window::Between(from, to) => {
                let (low, high, newest_first) = match (from.column(), to.column()) {
                    ((c, f), (d, t)) if c == d && f > t => (to, from, true),
                    _ => (from, to, false),
                };
                mark(&mut sql, &mut binds, ":a", ">", low);
                mark(&mut sql, &mut binds, ":b", "<", high);
                newest_first
            }
            Window::Around(m) => {
                let before = self.history(scope, Window::Before(m), limit as usize / 2)?;
                let (column, value) = m.column();
                let mut rest = self.conn.prepare_cached(&format!("{sql} AND {column} >= :a ORDER BY id LIMIT :n"))?;
                binds.push((":a", Value::Integer(value)));
                binds.push((":n", Value::Integer(limit - before.len() as i64)));
                let named: Vec<(&str, &dyn ToSql)> = binds.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
                let after: Vec<Stored> = rest.query_map(named.as_slice(), stored)?.collect::<Result<_, _>>()?;
                return Ok(before.into_iter().chain(after).collect());
            }
        };
        sql.push_str(if newest_first { " ORDER BY id DESC LIMIT :n" } else { " ORDER BY id LIMIT :n" });
        binds.push((":n", Value::Integer(limit)));
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let named: Vec<(&str, &dyn ToSql)> = binds.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
        let mut out: Vec<Stored> = stmt.query_map(named.as_slice(), stored)?.collect::<Result<_, _>>()?;
        if newest_first {
            out.reverse();
        }
        Ok(out)
    }

    /// When `scope` last had a message between `from_ms` and `to_ms` (exclusive), if it did.
    pub fn last_said(&self, scope: Scope<'_>, from_ms: i64, to_ms: i64) -> Result<Option<i64>> {
        let (clause, mut binds) = scope.clause();
        let sql = format!("SELECT MAX(at_ms) FROM messages WHERE {clause} AND at_ms > :a AND at_ms < :b");
        binds.push((":a", Value::Integer(from_ms)));
        binds.push((":b", Value::Integer(to_ms)));
        let named: Vec<(&str, &dyn ToSql)> = binds.iter().map(|(k, v)| (*k, v as &dyn ToSql)).collect();
        Ok(self.conn.prepare_cached(&sql)?.query_row(named.as_slice(), |r| r.get(0))?)
    }

    /// The names `me` has exchanged direct messages with, the most recent first.
    pub fn partners(&self, me: Identity<'_>, limit: usize) -> Result<Vec<String>> {
        Ok(self.partners_between(me, i64::MIN, i64::MAX, limit)?.into_iter().map(|(name, _)| name).collect())
    }

    /// The names `me` exchanged direct messages with between `from_ms` and `to_ms`
    /// (exclusive), each with the time of its last one then, the most recent first. (With one
    /// `MAX`, SQLite takes the other columns from the row that has it: the last message.)
    pub fn partners_between(
        &self,
        me: Identity<'_>,
        from_ms: i64,
        to_ms: i64,
        limit: usize,
    ) -> Result<Vec<(String, i64)>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT CASE WHEN sender_key = ?1 AND sender_guest IS ?3 THEN recipient ELSE sender END,
                    MAX(id) AS last, at_ms
             FROM messages
             WHERE recipient_key IS NOT NULL AND kind < 2 AND at_ms > ?4 AND at_ms < ?5
               AND ((sender_key = ?1 AND sender_guest IS ?3) OR (recipient_key = ?1 AND recipient_guest IS ?3))
             GROUP BY CASE WHEN sender_key = ?1 AND sender_guest IS ?3 THEN recipient_key ELSE sender_key END
             ORDER BY last DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![fold(me.name), limit as i64, me.guest, from_ms, to_ms], |r| {
            Ok((r.get(0)?, r.get(2)?))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The next page of the messages queued for `name` while it was offline, oldest first:
    /// at most `max_messages`, and no more than `max_bytes` of bodies (but always one, however
    /// large); images only if `images`. First, committed on its own, the messages up to
    /// `delivered` (the last id of the page its connection wrote) leave the queue; they stay
    /// in the history. Nothing leaves the queue unless it was written to its recipient.
    pub fn offline_page(
        &mut self,
        name: &str,
        images: bool,
        delivered: Option<i64>,
        max_messages: usize,
        max_bytes: usize,
    ) -> Result<Vec<Stored>> {
        let (key, max_kind) = (fold(name), i64::from(images));
        if let Some(last) = delivered {
            // Committed on its own, before the next page is read: what was written to its
            // recipient leaves the queue even if that page cannot be read (a damaged part of
            // the file). Each candidate's kind is looked up by its id: only the messages just
            // delivered are read, never the whole history.
            self.conn
                .prepare_cached(
                    "DELETE FROM offline WHERE key = ?1 AND message <= ?2
                   AND (SELECT kind FROM messages WHERE id = offline.message) <= ?3",
                )?
                .execute(params![key, last, max_kind])?;
        }
        let mut page = Vec::new();
        let mut stmt = self.conn.prepare_cached(
            "SELECT m.id, m.at_ms, m.sender, m.recipient, m.kind, m.body
             FROM offline JOIN messages m ON m.id = offline.message
             WHERE offline.key = ?1 AND m.kind <= ?2 ORDER BY offline.message LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![key, max_kind, max_messages.max(1) as i64], stored)?;
        let mut bytes = 0;
        for row in rows {
            let row = row?;
            bytes += row.body.len();
            if bytes > max_bytes && !page.is_empty() {
                break;
            }
            page.push(row);
        }
        Ok(page)
    }

    /// How many messages wait in `name`'s queue.
    pub fn queued_count(&self, name: &str) -> Result<usize> {
        let n: i64 = self.conn.query_row("SELECT COUNT(*) FROM offline WHERE key = ?1", [fold(name)], |r| r.get(0))?;
        Ok(n as usize)
    }
}

//! Versioned migrations: migration N takes the schema from version N to N + 1, recorded in
//! SQLite's `user_version`. Each runs in its own transaction; never edit one that has shipped,
//! add the next.

use crate::{Result, StoreError};
use rusqlite::Connection;

const MIGRATIONS: &[&str] = &[
    // 0 -> 1: accounts. `folded` is the name as the hub compares names (lower case), so that
    // one account holds a name whatever its case; `phc` is an argon2id PHC string.
    "CREATE TABLE accounts (
        folded     TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        phc        TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;",
    // 1 -> 2: the JPC white-list, name <-> the device's 48-bit MAC address.
    "CREATE TABLE whitelist (
        folded     TEXT PRIMARY KEY,
        name       TEXT NOT NULL,
        mac        INTEGER NOT NULL UNIQUE,
        created_at INTEGER NOT NULL
    ) STRICT;",
    // 2 -> 3: history (lobby and direct messages) and the offline queue. Names are kept as
    // shown and folded (`*_key`), the latter for lookups.
    "CREATE TABLE messages (
        id            INTEGER PRIMARY KEY,
        at_ms         INTEGER NOT NULL,
        sender        TEXT NOT NULL,
        sender_key    TEXT NOT NULL,
        recipient     TEXT,
        recipient_key TEXT,
        kind          INTEGER NOT NULL,
        body          TEXT NOT NULL
    ) STRICT;
    CREATE INDEX messages_by_recipient ON messages (recipient_key, id);
    CREATE TABLE offline (
        id      INTEGER PRIMARY KEY,
        key     TEXT NOT NULL,
        message INTEGER NOT NULL REFERENCES messages (id)
    ) STRICT;
    CREATE INDEX offline_by_key ON offline (key, id);",
    // 3 -> 4: the server's own keys (the NL Chat key pair), by name, as PEM.
    "CREATE TABLE keys (
        name       TEXT PRIMARY KEY,
        pem        TEXT NOT NULL,
        created_at INTEGER NOT NULL
    ) STRICT;",
    // 4 -> 5: names are folded by PRECIS (UsernameCaseMapped), no longer only lower-cased:
    // every key is folded again (`fold` is the hub's folding, registered on the connection).
    "UPDATE accounts SET folded = fold(name);
    UPDATE whitelist SET folded = fold(name);
    UPDATE messages SET sender_key = fold(sender), recipient_key = fold(recipient);
    UPDATE offline SET key = (SELECT recipient_key FROM messages WHERE messages.id = offline.message);",
    // 5 -> 6: history belongs to an identity. A guest's side of a message names its session
    // (`*_guest`); NULL is an account's, a device's or the desk's, the name's for good. What
    // guests said before this is nobody's now (session 0 never exists). `meta` counts the
    // server's starts, which make session ids unique across restarts.
    "ALTER TABLE messages ADD COLUMN sender_guest INTEGER;
    ALTER TABLE messages ADD COLUMN recipient_guest INTEGER;
    CREATE TEMP TABLE owned AS SELECT folded FROM accounts UNION SELECT folded FROM whitelist UNION SELECT 'support';
    UPDATE messages SET sender_guest = 0 WHERE sender_key NOT IN (SELECT folded FROM owned);
    UPDATE messages SET recipient_guest = 0
        WHERE recipient_key IS NOT NULL AND recipient_key NOT IN (SELECT folded FROM owned);
    DROP TABLE owned;
    CREATE TABLE meta (
        key   TEXT PRIMARY KEY,
        value INTEGER NOT NULL
    ) STRICT;",
    // 6 -> 7: a queue is read a page at a time in message order, and emptied up to a message:
    // index it so.
    "DROP INDEX offline_by_key;
    CREATE INDEX offline_by_key ON offline (key, message);",
];

/// The schema version this build knows.
pub(crate) const CURRENT: i64 = MIGRATIONS.len() as i64;

/// Makes the hub's folding of names callable from SQL as `fold(name)` (NULL stays NULL).
pub(crate) fn register_fold(conn: &Connection) -> Result<()> {
    use rusqlite::functions::FunctionFlags;
    conn.create_scalar_function("fold", 1, FunctionFlags::SQLITE_UTF8 | FunctionFlags::SQLITE_DETERMINISTIC, |ctx| {
        Ok(ctx.get::<Option<String>>(0)?.map(|name| hub::fold(&name)))
    })?;
    Ok(())
}

pub(crate) fn run(conn: &mut Connection) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > CURRENT {
        return Err(StoreError::TooNew { found, known: CURRENT });
    }
    for (version, sql) in MIGRATIONS.iter().enumerate().skip(found as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", version as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

//! The server's own keys, kept across restarts: a name (`nl` for the NL Chat key pair) and a
//! PEM text. The store only keeps them; making one is the caller's business.

use crate::{Result, Store};
use rusqlite::{params, OptionalExtension};

impl Store {
    /// The key kept under `name`, if any.
    pub fn key(&self, name: &str) -> Result<Option<String>> {
        let mut stmt = self.conn.prepare_cached("SELECT pem FROM keys WHERE name = ?1")?;
        Ok(stmt.query_row(params![name], |r| r.get(0)).optional()?)
    }

    /// Keeps `pem` under `name` unless a key is kept there already; returns the key kept, so
    /// that two processes making a key at once agree on one.
    pub fn key_or_insert(&mut self, name: &str, pem: &str) -> Result<String> {
        let now = crate::accounts::now();
        self.conn.execute(
            "INSERT INTO keys (name, pem, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING",
            params![name, pem, now],
        )?;
        Ok(self.key(name)?.expect("just kept"))
    }
}

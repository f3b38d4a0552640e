//! Accounts: names that need a password, reserved across every protocol. Passwords are kept
//! only as argon2id PHC strings, never in clear, and never logged.

use crate::{Result, Store, StoreError};
use argon2::password_hash::{PasswordHasher, PasswordVerifier};
use argon2::Argon2;
use hub::{fold, valid_name};
use rusqlite::{params, OptionalExtension};
use std::time::{SystemTime, UNIX_EPOCH};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    /// As registered (its case kept).
    pub name: String,
    /// Seconds since the Unix epoch.
    pub created_at: i64,
}

/// What checking a password found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Right: the account's name as registered.
    Ok(String),
    WrongPassword,
    NoAccount,
}

/// What an import did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportReport {
    pub added: usize,
    /// Lines passed over: their number (from 1) and why.
    pub skipped: Vec<(usize, String)>,
}

/// The argon2id PHC string of `password` (never empty).
pub fn hash(password: &str) -> Result<String> {
    if password.is_empty() {
        return Err(StoreError::EmptyPassword);
    }
    let phc = Argon2::default().hash_password(password.as_bytes()).map_err(|e| StoreError::Hash(e.to_string()))?;
    Ok(phc.to_string())
}

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64)
}

impl Store {
    pub fn add_account(&mut self, name: &str, password: &str) -> Result<()> {
        if !valid_name(name) {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        self.refuse_look_alike(name)?;
        let phc = hash(password)?;
        let added = self.conn.execute(
            "INSERT INTO accounts (folded, name, phc, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![fold(name), name, phc, now()],
        )?;
        if added == 0 {
            return Err(StoreError::AccountExists(name.to_owned()));
        }
        Ok(())
    }

    pub fn has_account(&self, name: &str) -> Result<bool> {
        let found =
            self.conn.query_row("SELECT 1 FROM accounts WHERE folded = ?1", [fold(name)], |_| Ok(())).optional()?;
        Ok(found.is_some())
    }

    /// Every account's name, as registered.
    pub fn account_names(&self) -> Result<Vec<String>> {
        Ok(self.accounts()?.into_iter().map(|a| a.name).collect())
    }

    /// Every account, by name.
    pub fn accounts(&self) -> Result<Vec<Account>> {
        let mut stmt = self.conn.prepare("SELECT name, created_at FROM accounts ORDER BY folded")?;
        let rows = stmt.query_map([], |r| Ok(Account { name: r.get(0)?, created_at: r.get(1)? }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn remove_account(&mut self, name: &str) -> Result<()> {
        match self.conn.execute("DELETE FROM accounts WHERE folded = ?1", [fold(name)])? {
            0 => Err(StoreError::NoSuchAccount(name.to_owned())),
            _ => Ok(()),
        }
    }

    pub fn set_password(&mut self, name: &str, password: &str) -> Result<()> {
        let phc = hash(password)?;
        match self.conn.execute("UPDATE accounts SET phc = ?1 WHERE folded = ?2", params![phc, fold(name)])? {
            0 => Err(StoreError::NoSuchAccount(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Checks `password` for `name`. An unknown name costs as much time as a known one, so
    /// that timing does not tell which names have accounts.
    pub fn verify(&self, name: &str, password: &str) -> Result<Verdict> {
        let row: Option<(String, String)> = self
            .conn
            .query_row("SELECT name, phc FROM accounts WHERE folded = ?1", [fold(name)], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let Some((registered, phc)) = row else {
            let _ = hash("a password nobody has");
            return Ok(Verdict::NoAccount);
        };
        match Argon2::default().verify_password(password.as_bytes(), phc.as_str()) {
            Ok(()) => Ok(Verdict::Ok(registered)),
            Err(_) => Ok(Verdict::WrongPassword),
        }
    }

    /// Imports `login$password` lines, as the original ChatHack password server kept them.
    /// Blank lines and lines starting with `#` are passed over quietly; a malformed line, an
    /// invalid name or a name that already has an account is reported and passed over.
    pub fn import(&mut self, text: &str) -> Result<ImportReport> {
        let mut report = ImportReport::default();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim_end_matches('\r');
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((name, password)) = line.split_once('$') else {
                report.skipped.push((i + 1, "no $ between login and password".into()));
                continue;
            };
            match self.add_account(name, password) {
                Ok(()) => report.added += 1,
                Err(
                    e @ (StoreError::InvalidName(_)
                    | StoreError::AccountExists(_)
                    | StoreError::LooksLike { .. }
                    | StoreError::EmptyPassword),
                ) => report.skipped.push((i + 1, e.to_string())),
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}

//! The JPC white-list: which device (by its 48-bit MAC address) is which name. White-listed
//! names are reserved across protocols, as account names are.

use crate::accounts::now;
use crate::{Result, Store, StoreError};
use hub::{fold, valid_name};
use rusqlite::{params, OptionalExtension};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    pub name: String,
    pub mac: u64,
}

/// The largest 48-bit MAC address.
const MAC_MAX: u64 = (1 << 48) - 1;

/// Reads a MAC address written `aa:bb:cc:dd:ee:ff` (or with `-`), or as the integer JPC
/// clients send (Python's `uuid.getnode()`).
pub fn parse_mac(text: &str) -> Option<u64> {
    let text = text.trim();
    let mac = if text.contains([':', '-']) {
        let parts: Vec<&str> = text.split([':', '-']).collect();
        if parts.len() != 6 || parts.iter().any(|p| p.len() != 2) {
            return None;
        }
        parts.iter().try_fold(0u64, |acc, p| u8::from_str_radix(p, 16).ok().map(|b| acc << 8 | u64::from(b)))?
    } else {
        text.parse().ok()?
    };
    (mac <= MAC_MAX).then_some(mac)
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn format_mac(mac: u64) -> String {
    let b = mac.to_be_bytes();
    format!("{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}", b[2], b[3], b[4], b[5], b[6], b[7])
}

impl Store {
    pub fn whitelist_add(&mut self, name: &str, mac: u64) -> Result<()> {
        if !valid_name(name) {
            return Err(StoreError::InvalidName(name.to_owned()));
        }
        self.refuse_look_alike(name)?;
        if self.device_by_mac(mac)?.is_some() {
            return Err(StoreError::MacExists(format_mac(mac)));
        }
        let added = self.conn.execute(
            "INSERT INTO whitelist (folded, name, mac, created_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING",
            params![fold(name), name, mac as i64, now()],
        )?;
        if added == 0 {
            return Err(StoreError::DeviceNameExists(name.to_owned()));
        }
        Ok(())
    }

    pub fn whitelist_remove(&mut self, name: &str) -> Result<()> {
        match self.conn.execute("DELETE FROM whitelist WHERE folded = ?1", [fold(name)])? {
            0 => Err(StoreError::NoSuchDevice(name.to_owned())),
            _ => Ok(()),
        }
    }

    /// Every white-listed device, by name.
    pub fn whitelist(&self) -> Result<Vec<Device>> {
        let mut stmt = self.conn.prepare("SELECT name, mac FROM whitelist ORDER BY folded")?;
        let rows = stmt.query_map([], |r| Ok(Device { name: r.get(0)?, mac: r.get::<_, i64>(1)? as u64 }))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// The name white-listed for `mac`, if any.
    pub fn device_by_mac(&self, mac: u64) -> Result<Option<String>> {
        let name =
            self.conn.query_row("SELECT name FROM whitelist WHERE mac = ?1", [mac as i64], |r| r.get(0)).optional()?;
        Ok(name)
    }

    /// Every name only a verified login may take: accounts and white-listed devices.
    pub fn reserved_names(&self) -> Result<Vec<String>> {
        let mut names = self.account_names()?;
        names.extend(self.whitelist()?.into_iter().map(|d| d.name));
        Ok(names)
    }
}

//! Rates and limits that keep one client from hogging the hub: each session's chat messages
//! (a token bucket: `msg_rate` a second sustained, `msg_burst` at once; over it, the
//! connection is read no further until a token returns, so the flooder is slowed and its
//! messages are neither dropped nor reordered), and connections per address (at most
//! `max_conns_per_ip` open at once and `max_new_conns_per_ip` new ones a minute, IPv6 counted
//! by /64; networks in `conn_limit_exempt`, loopback by default, are not counted).
//!
//! Both buckets are GCRA: a bucket is one number, the theoretical arrival time of the next
//! message in microseconds of the server's clock (`Shared::now_us`).

use ipnet::IpNet;
use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::num::NonZeroU64;
use std::sync::Mutex;
use std::time::Duration;

/// A token bucket's shape: one token every `interval` µs, `tolerance` µs of them at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Gcra {
    interval: u64,
    tolerance: u64,
}

impl Gcra {
    /// `per` a `period` sustained, `burst` at once (at least one); `None` if `per` is 0: no
    /// limit.
    pub fn new(per: u32, period: Duration, burst: u32) -> Option<Gcra> {
        if per == 0 {
            return None;
        }
        let interval = (period.as_micros() as u64 / u64::from(per)).max(1);
        Some(Gcra { interval, tolerance: interval * u64::from(burst.max(1) - 1) })
    }

    /// Takes a token from the bucket `tat` at `now` µs, waiting for it if none is left: how
    /// long to wait (zero: go now). The token is taken either way, so those that wait go in
    /// the order they asked.
    pub fn reserve(&self, tat: &mut u64, now: u64) -> Duration {
        let due = (*tat).max(now);
        *tat = due + self.interval;
        Duration::from_micros(due.saturating_sub(now + self.tolerance))
    }

    /// Takes a token only if one is left now.
    pub fn try_take(&self, tat: &mut u64, now: u64) -> bool {
        let due = (*tat).max(now);
        if due > now + self.tolerance {
            return false;
        }
        *tat = due + self.interval;
        true
    }
}

/// Why a connection was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    TooManyOpen,
    TooManyNew,
}

/// Connections per address.
pub(crate) struct ConnLimits {
    max_open: u32,
    new: Option<Gcra>,
    exempt: Vec<IpNet>,
    table: Mutex<FxHashMap<NonZeroU64, Entry>>,
}

#[derive(Default)]
struct Entry {
    open: u32,
    /// The bucket of new connections.
    tat: u64,
}

/// Addresses tracked before idle ones are swept out.
const SWEEP_ABOVE: usize = 4096;

impl ConnLimits {
    pub fn new(max_open: u32, new_per_minute: u32, exempt: Vec<IpNet>) -> Self {
        let new = Gcra::new(new_per_minute, Duration::from_secs(60), new_per_minute);
        ConnLimits { max_open, new, exempt, table: Mutex::default() }
    }

    /// Whether a connection from `ip` may come in at `now` µs. `Ok(Some(key))`: it is counted
    /// under `key` until [`ConnLimits::release`]; `Ok(None)`: it is not counted (exempt, or
    /// no limits).
    pub fn admit(&self, ip: IpAddr, now: u64) -> Result<Option<NonZeroU64>, Refused> {
        let ip = ip.to_canonical();
        if (self.max_open == 0 && self.new.is_none()) || self.exempt.iter().any(|net| net.contains(&ip)) {
            return Ok(None);
        }
        let key = key(ip);
        let mut table = self.table.lock().expect("limits lock");
        if table.len() > SWEEP_ABOVE {
            table.retain(|_, e| e.open > 0 || e.tat > now);
        }
        let entry = table.entry(key).or_default();
        if self.max_open > 0 && entry.open >= self.max_open {
            return Err(Refused::TooManyOpen);
        }
        if let Some(new) = &self.new {
            if !new.try_take(&mut entry.tat, now) {
                return Err(Refused::TooManyNew);
            }
        }
        entry.open += 1;
        Ok(Some(key))
    }

    /// A connection admitted under `key` closed.
    pub fn release(&self, key: NonZeroU64, now: u64) {
        let mut table = self.table.lock().expect("limits lock");
        if let Some(entry) = table.get_mut(&key) {
            entry.open = entry.open.saturating_sub(1);
            if entry.open == 0 && entry.tat <= now {
                table.remove(&key);
            }
        }
    }

    #[cfg(test)]
    fn tracked(&self) -> usize {
        self.table.lock().unwrap().len()
    }
}

/// The address a connection counts under: an IPv4 address, or an IPv6 /64 (one host's
/// share of a network).
pub(crate) fn key(ip: IpAddr) -> NonZeroU64 {
    let k = match ip {
        IpAddr::V4(v4) => 0xffff_ffff_0000_0000 | u64::from(u32::from(v4)),
        IpAddr::V6(v6) => (u128::from(v6) >> 64) as u64,
    };
    NonZeroU64::new(k).unwrap_or(NonZeroU64::MIN)
}

/// The networks exempt by default: loopback.
pub fn loopback() -> Vec<IpNet> {
    vec!["127.0.0.0/8".parse().expect("a network"), "::1/128".parse().expect("a network")]
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000;

    #[test]
    fn a_burst_goes_at_once_then_one_per_interval_in_order() {
        let g = Gcra::new(20, Duration::from_secs(1), 100).unwrap();
        let mut tat = 0;
        let waits: Vec<Duration> = (0..102).map(|_| g.reserve(&mut tat, 10 * S)).collect();
        assert!(waits[..100].iter().all(Duration::is_zero));
        assert_eq!(waits[100..], [Duration::from_millis(50), Duration::from_millis(100)]);
        // A second later, 20 tokens came back: after the two reserved, 18 go at once.
        let later: Vec<Duration> = (0..19).map(|_| g.reserve(&mut tat, 11 * S)).collect();
        assert!(later[..18].iter().all(Duration::is_zero), "{later:?}");
        assert_eq!(later[18], Duration::from_millis(50));
        assert!(Gcra::new(0, Duration::from_secs(1), 100).is_none(), "0: no limit");
    }

    #[test]
    fn connections_per_address_open_and_new_with_loopback_exempt() {
        let limits = ConnLimits::new(2, 3, loopback());
        let ip: IpAddr = "192.0.2.7".parse().unwrap();
        let a = limits.admit(ip, S).unwrap().unwrap();
        let b = limits.admit(ip, S).unwrap().unwrap();
        assert_eq!(limits.admit(ip, S), Err(Refused::TooManyOpen));
        limits.release(a, S);
        limits.admit(ip, S).unwrap();
        // Three new ones a minute: the fourth within it is refused, though one closed.
        limits.release(b, S);
        assert_eq!(limits.admit(ip, 2 * S), Err(Refused::TooManyNew));
        assert!(limits.admit(ip, 21 * S).unwrap().is_some(), "one came back after 20 s");
        // Another address, and one in the same IPv6 /64.
        assert!(limits.admit("192.0.2.8".parse().unwrap(), S).unwrap().is_some());
        let v6 = |s: &str| limits.admit(s.parse().unwrap(), 100 * S);
        v6("2001:db8::1").unwrap();
        v6("2001:db8::2").unwrap();
        assert_eq!(v6("2001:db8::ffff:1"), Err(Refused::TooManyOpen), "same /64");
        assert!(v6("2001:db8:0:1::1").unwrap().is_some(), "another /64");
        // Loopback is not counted at all.
        for _ in 0..10 {
            assert_eq!(limits.admit("127.0.0.1".parse().unwrap(), S), Ok(None));
            assert_eq!(limits.admit("::ffff:127.0.0.1".parse().unwrap(), S), Ok(None));
        }
    }

    #[test]
    fn addresses_with_nothing_open_and_a_full_bucket_are_forgotten() {
        let limits = ConnLimits::new(0, 60, vec![]);
        let open = limits.admit("192.0.2.1".parse().unwrap(), S).unwrap().unwrap();
        for i in 0..=SWEEP_ABOVE as u32 {
            let key = limits.admit(IpAddr::V4((i + 100).into()), S).unwrap().unwrap();
            limits.release(key, S);
        }
        assert_eq!(limits.tracked(), SWEEP_ABOVE + 2, "their buckets are not full yet");
        // Once they are, the next newcomer sweeps them out; an open one stays.
        limits.admit("192.0.2.2".parse().unwrap(), 10 * S).unwrap();
        assert_eq!(limits.tracked(), 2);
        limits.release(open, 10 * S);
        assert_eq!(limits.tracked(), 1, "nothing open, bucket full: forgotten at once");
    }
}

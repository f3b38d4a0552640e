//! Password attempts per client address: after `login_attempts` in `login_window_secs`
//! without a success, more are refused unchecked until the window ends. This keeps anyone
//! from guessing an account's password quickly, and from keeping the CPU busy with argon2.
//! An attempt counts when it starts, so attempts sent at once cannot all slip through while
//! the first is checked; a success forgets the address.

use rustc_hash::FxHashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Addresses remembered at most; past this, those whose window ended are forgotten.
const MAX_ADDRESSES: usize = 65_536;

pub(crate) struct LoginThrottle {
    limit: u32,
    window: Duration,
    /// Attempts since the window's start, per address.
    seen: Mutex<FxHashMap<IpAddr, (u32, Instant)>>,
}

impl LoginThrottle {
    pub fn new(limit: u32, window: Duration) -> Self {
        LoginThrottle { limit, window, seen: Mutex::default() }
    }

    /// Counts an attempt from `ip`; `Err` with the time left until it may try again if it has
    /// had its share.
    pub fn attempt(&self, ip: IpAddr, now: Instant) -> Result<(), Duration> {
        let mut seen = self.seen.lock().expect("throttle lock");
        if seen.len() >= MAX_ADDRESSES {
            seen.retain(|_, (_, since)| now.saturating_duration_since(*since) < self.window);
        }
        let (count, since) = seen.entry(ip).or_insert((0, now));
        if now.saturating_duration_since(*since) >= self.window {
            (*count, *since) = (0, now);
        }
        if *count >= self.limit {
            return Err(self.window.saturating_sub(now.saturating_duration_since(*since)));
        }
        *count += 1;
        Ok(())
    }

    /// The password was right: `ip` starts afresh.
    pub fn succeeded(&self, ip: IpAddr) {
        self.seen.lock().expect("throttle lock").remove(&ip);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attempts_past_the_limit_wait_for_the_window() {
        let t = LoginThrottle::new(3, Duration::from_secs(60));
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "10.0.0.2".parse().unwrap());
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.attempt(a, start), Ok(()));
        }
        assert_eq!(t.attempt(a, start + Duration::from_secs(20)), Err(Duration::from_secs(40)));
        assert_eq!(t.attempt(b, start), Ok(()), "another address is not held back");
        assert_eq!(t.attempt(a, start + Duration::from_secs(60)), Ok(()), "a new window");
    }

    #[test]
    fn a_success_starts_afresh() {
        let t = LoginThrottle::new(2, Duration::from_secs(60));
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let now = Instant::now();
        t.attempt(a, now).unwrap();
        t.attempt(a, now).unwrap();
        t.succeeded(a);
        assert_eq!(t.attempt(a, now), Ok(()));
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new(1, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            t.attempt(IpAddr::from(i.to_be_bytes()), start).unwrap();
        }
        let later = start + Duration::from_secs(2);
        t.attempt("10.0.0.1".parse().unwrap(), later).unwrap();
        assert!(t.seen.lock().unwrap().len() <= MAX_ADDRESSES, "old windows are forgotten");
    }
}

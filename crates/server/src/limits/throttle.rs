//! Password attempts, limited per client address and per account, on every door that takes a
//! password (web, ChatHack). This keeps anyone from guessing an account's password quickly,
//! from one address or from many, and from keeping the CPU busy with argon2.
//!
//! - **Per address** (an IPv4 address, an IPv6 /64): after `login_attempts` in
//!   `login_window_secs` without a success, more are refused unchecked until the window ends.
//!   An attempt counts when it starts, so attempts sent at once cannot all slip through while
//!   the first is checked; a success forgets the address.
//! - **Per account**: after `login_account_attempts` wrong passwords for one account in a
//!   window, from anywhere, the account is *guarded*: until the guard ends, an address that
//!   gave it a wrong password (before or during the guard) is refused unchecked for it. The
//!   guard lasts a window, and twice as long each time it is raised again right after the
//!   last (up to [`MAX_GUARD_WINDOWS`] windows). So guesses from many addresses come down to
//!   one per address per guard, while the owner is never locked out by them: the right
//!   password from an address that has not failed at the account (or from one it signed in
//!   from lately) is still checked, as ergo and Prosody keep an owner's way in.
//!
//! Memory is bounded: at most [`MAX_ADDRESSES`] addresses, [`MAX_ACCOUNTS`] accounts, and
//! [`MAX_FAILED`] failed addresses an account; past them the oldest are forgotten.

use rustc_hash::FxHashMap;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Duration;
use tokio::time::Instant;

/// Addresses remembered at most; past this, those whose window ended are forgotten.
const MAX_ADDRESSES: usize = 65_536;
/// Accounts remembered at most (only accounts that exist: a wrong password for no account
/// is no account's).
const MAX_ACCOUNTS: usize = 4096;
/// The addresses that failed at one account, remembered at most.
const MAX_FAILED: usize = 256;
/// The addresses an account signed in from lately, remembered: its guard never holds them.
const TRUSTED: usize = 8;
/// The longest guard, in windows.
pub(crate) const MAX_GUARD_WINDOWS: u32 = 64;

/// Why an attempt was refused unchecked, and how long until it may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refused {
    /// This address had its share of attempts.
    Address(Duration),
    /// The account is guarded, and this address gave it a wrong password.
    Account(Duration),
}

impl Refused {
    pub fn retry_in(self) -> Duration {
        match self {
            Refused::Address(left) | Refused::Account(left) => left,
        }
    }
}

pub(crate) struct LoginThrottle {
    limit: u32,
    account_limit: u32,
    window: Duration,
    state: Mutex<State>,
}

impl State {
    /// The record of `account`, made if need be (if there is room, once idle ones are
    /// forgotten), its window rolled on.
    fn account(&mut self, account: &str, now: Instant, window: Duration) -> Option<&mut Account> {
        if !self.accounts.contains_key(account) && self.accounts.len() >= MAX_ACCOUNTS {
            self.accounts.retain(|_, a| !a.idle(now, window));
            if self.accounts.len() >= MAX_ACCOUNTS {
                return None;
            }
        }
        let a = self.accounts.entry(account.to_owned()).or_insert_with(|| Account::new(now));
        a.roll(now, window);
        Some(a)
    }
}

#[derive(Default)]
struct State {
    /// Attempts since the window's start, per address.
    addresses: FxHashMap<u64, (u32, Instant)>,
    /// Per account (its folded name).
    accounts: FxHashMap<String, Account>,
}

struct Account {
    /// Wrong passwords since `since`.
    failures: u32,
    since: Instant,
    /// When its guard ends, if it is or was guarded.
    guard_until: Option<Instant>,
    /// Guards raised one right after another: the next lasts `2^strikes` windows.
    strikes: u32,
    /// Addresses that gave a wrong password since its window (or guard) began, oldest first.
    failed: VecDeque<u64>,
    /// Addresses it signed in from lately, newest first.
    trusted: VecDeque<u64>,
}

impl Account {
    fn new(now: Instant) -> Self {
        Account {
            failures: 0,
            since: now,
            guard_until: None,
            strikes: 0,
            failed: VecDeque::new(),
            trusted: VecDeque::new(),
        }
    }

    fn guarded(&self, now: Instant) -> bool {
        self.guard_until.is_some_and(|until| now < until)
    }

    /// Starts afresh once its guard is over (from the guard's end), or its window.
    fn roll(&mut self, now: Instant, window: Duration) {
        if self.guarded(now) {
            return;
        }
        if let Some(until) = self.guard_until.filter(|&until| self.since < until) {
            self.afresh(until);
        }
        if now.saturating_duration_since(self.since) >= window {
            self.afresh(now);
        }
    }

    fn afresh(&mut self, since: Instant) {
        self.failures = 0;
        self.since = since;
        self.failed.clear();
    }

    /// Whether it may be forgotten when room is short: nothing but the addresses it trusts
    /// (which are then forgotten too) is left of it.
    fn idle(&self, now: Instant, window: Duration) -> bool {
        !self.guarded(now) && now.saturating_duration_since(self.since) >= window
    }
}

impl LoginThrottle {
    pub fn new(limit: u32, account_limit: u32, window: Duration) -> Self {
        LoginThrottle { limit, account_limit, window, state: Mutex::default() }
    }

    /// Counts an attempt from `ip` at the account `account` (folded), or refuses it unchecked.
    pub fn attempt(&self, ip: IpAddr, account: &str, now: Instant) -> Result<(), Refused> {
        let key = crate::limits::rate::key(ip).get();
        let mut state = self.state.lock().expect("throttle lock");
        let window = self.window;
        if let Some(a) = state.accounts.get_mut(account) {
            a.roll(now, window);
            if a.guarded(now) && a.failed.contains(&key) && !a.trusted.contains(&key) {
                let until = a.guard_until.expect("guarded");
                return Err(Refused::Account(until.saturating_duration_since(now)));
            }
        }
        if state.addresses.len() >= MAX_ADDRESSES {
            state.addresses.retain(|_, (_, since)| now.saturating_duration_since(*since) < window);
        }
        let (count, since) = state.addresses.entry(key).or_insert((0, now));
        if now.saturating_duration_since(*since) >= window {
            (*count, *since) = (0, now);
        }
        if *count >= self.limit {
            return Err(Refused::Address(window.saturating_sub(now.saturating_duration_since(*since))));
        }
        *count += 1;
        Ok(())
    }

    /// The password `ip` gave for the existing account `account` was wrong.
    pub fn failed(&self, ip: IpAddr, account: &str, now: Instant) {
        let key = crate::limits::rate::key(ip).get();
        let mut state = self.state.lock().expect("throttle lock");
        let (window, limit) = (self.window, self.account_limit);
        let Some(a) = state.account(account, now, window) else {
            tracing::warn!(
                accounts = MAX_ACCOUNTS,
                "the login throttle holds its most accounts: one more is not guarded"
            );
            return;
        };
        a.failures = a.failures.saturating_add(1);
        if !a.failed.contains(&key) {
            if a.failed.len() == MAX_FAILED {
                a.failed.pop_front();
            }
            a.failed.push_back(key);
        }
        if limit > 0 && a.failures >= limit && !a.guarded(now) {
            // Raised again right after the last guard: twice as long.
            let right_after = a.guard_until.is_some_and(|until| now.saturating_duration_since(until) < window);
            a.strikes = if right_after { (a.strikes + 1).min(MAX_GUARD_WINDOWS.ilog2()) } else { 0 };
            let until = now + window * (1 << a.strikes);
            a.guard_until = Some(until);
            tracing::warn!(
                account,
                failures = a.failures,
                addresses = a.failed.len(),
                guard_secs = (until - now).as_secs(),
                "many wrong passwords for one account: addresses that failed are held back from it"
            );
        }
    }

    /// The password was right: `ip` starts afresh, and is trusted by the account.
    pub fn succeeded(&self, ip: IpAddr, account: &str, now: Instant) {
        let key = crate::limits::rate::key(ip).get();
        let mut state = self.state.lock().expect("throttle lock");
        state.addresses.remove(&key);
        if let Some(a) = state.account(account, now, self.window) {
            a.failed.retain(|&k| k != key);
            a.trusted.retain(|&k| k != key);
            a.trusted.push_front(key);
            a.trusted.truncate(TRUSTED);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(n: u32) -> IpAddr {
        IpAddr::from((0x0a00_0000 + n).to_be_bytes())
    }

    const MINUTE: Duration = Duration::from_secs(60);

    #[test]
    fn attempts_past_the_limit_wait_for_the_window() {
        let t = LoginThrottle::new(3, 0, MINUTE);
        let start = Instant::now();
        for _ in 0..3 {
            assert_eq!(t.attempt(ip(1), "ann", start), Ok(()));
        }
        let later = start + Duration::from_secs(20);
        assert_eq!(t.attempt(ip(1), "ann", later), Err(Refused::Address(Duration::from_secs(40))));
        assert_eq!(t.attempt(ip(2), "ann", start), Ok(()), "another address is not held back");
        assert_eq!(t.attempt(ip(1), "ann", start + MINUTE), Ok(()), "a new window");
    }

    #[test]
    fn a_success_starts_afresh() {
        let t = LoginThrottle::new(2, 0, MINUTE);
        let now = Instant::now();
        t.attempt(ip(1), "ann", now).unwrap();
        t.attempt(ip(1), "ann", now).unwrap();
        t.succeeded(ip(1), "ann", now);
        assert_eq!(t.attempt(ip(1), "ann", now), Ok(()));
    }

    #[test]
    fn an_ipv6_network_counts_as_one_address() {
        let t = LoginThrottle::new(1, 0, MINUTE);
        let now = Instant::now();
        t.attempt("2001:db8::1".parse().unwrap(), "ann", now).unwrap();
        let same = t.attempt("2001:db8::ffff:2".parse().unwrap(), "ann", now);
        assert!(matches!(same, Err(Refused::Address(_))), "the same /64");
        assert_eq!(t.attempt("2001:db8:0:1::1".parse().unwrap(), "ann", now), Ok(()));
    }

    /// Tries a wrong password for `account` from `ip`: whether it was checked.
    fn guess(t: &LoginThrottle, ip: IpAddr, account: &str, now: Instant) -> bool {
        match t.attempt(ip, account, now) {
            Ok(()) => {
                t.failed(ip, account, now);
                true
            }
            Err(_) => false,
        }
    }

    #[test]
    fn guesses_from_many_addresses_come_down_to_one_an_address_once_the_account_is_guarded() {
        let t = LoginThrottle::new(5, 10, MINUTE);
        let now = Instant::now();
        let checked: usize = (1..=12).map(|a| (0..5).filter(|_| guess(&t, ip(a), "ann", now)).count()).sum();
        assert_eq!(checked, 10 + 10, "two addresses raise the guard; ten more get one each");
        // The owner, from an address that never failed, is let through; from one that failed,
        // not until the guard ends.
        assert_eq!(t.attempt(ip(100), "ann", now), Ok(()));
        assert!(matches!(t.attempt(ip(3), "ann", now), Err(Refused::Account(left)) if left == MINUTE));
        assert_eq!(t.attempt(ip(12), "bob", now), Ok(()), "another account is not guarded");
        // The guard ends: the failed addresses may try again.
        assert_eq!(t.attempt(ip(3), "ann", now + MINUTE), Ok(()));
    }

    #[test]
    fn an_address_the_owner_signed_in_from_is_never_held_by_the_guard() {
        let t = LoginThrottle::new(100, 3, MINUTE);
        let now = Instant::now();
        t.attempt(ip(1), "ann", now).unwrap();
        t.succeeded(ip(1), "ann", now);
        assert!(guess(&t, ip(1), "ann", now), "the owner mistypes");
        for a in 2..4 {
            assert!(guess(&t, ip(a), "ann", now));
        }
        assert!(!guess(&t, ip(2), "ann", now), "guarded: a failed address is held");
        assert_eq!(t.attempt(ip(1), "ann", now), Ok(()), "the owner's address is not");
    }

    #[test]
    fn a_guard_raised_again_right_away_lasts_twice_as_long_up_to_a_bound() {
        let t = LoginThrottle::new(1000, 2, MINUTE);
        let mut now = Instant::now();
        let mut lengths = Vec::new();
        for round in 0..9u32 {
            let a = round * 10;
            assert!(guess(&t, ip(a + 1), "ann", now) && guess(&t, ip(a + 2), "ann", now), "round {round}");
            let Err(Refused::Account(left)) = t.attempt(ip(a + 1), "ann", now) else { panic!("not guarded") };
            lengths.push(left.as_secs() / 60);
            now += left; // the guard ends, and the guessing goes on at once
        }
        assert_eq!(lengths, [1, 2, 4, 8, 16, 32, 64, 64, 64]);
        // A quiet window after a guard: the next one is short again.
        now += MINUTE * 2;
        assert!(guess(&t, ip(500), "ann", now) && guess(&t, ip(501), "ann", now));
        assert_eq!(t.attempt(ip(500), "ann", now), Err(Refused::Account(MINUTE)));
    }

    #[test]
    fn memory_stays_bounded() {
        let t = LoginThrottle::new(1, 1, Duration::from_secs(1));
        let start = Instant::now();
        for i in 0..(MAX_ADDRESSES as u32 + 10) {
            t.attempt(IpAddr::from(i.to_be_bytes()), "ann", start).unwrap();
        }
        for i in 0..(MAX_FAILED as u32 + 10) {
            t.failed(IpAddr::from(i.to_be_bytes()), "ann", start);
        }
        for i in 0..(MAX_ACCOUNTS + 10) {
            t.failed(ip(1), &format!("user{i}"), start);
        }
        let later = start + Duration::from_secs(2);
        t.attempt(ip(1), "ann", later).unwrap();
        t.failed(ip(1), "late", later);
        let state = t.state.lock().unwrap();
        assert!(state.addresses.len() <= MAX_ADDRESSES, "old windows are forgotten");
        assert!(state.accounts.len() <= MAX_ACCOUNTS);
        assert!(state.accounts.contains_key("late"), "idle accounts make room");
        assert!(state.accounts.values().all(|a| a.failed.len() <= MAX_FAILED));
    }
}

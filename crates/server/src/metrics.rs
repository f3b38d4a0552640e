//! Counters the server keeps, readable while it runs and logged when it stops.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Connections accepted, over all front doors.
    pub accepted: AtomicU64,
    /// Connections open now.
    pub open: AtomicU64,
    /// Connections dropped because their outbound queue overflowed.
    pub slow_consumers: AtomicU64,
    /// Connections closed for breaking their protocol.
    pub bad_input: AtomicU64,
    /// Connections closed because a partial frame got no new byte in time.
    pub timed_out: AtomicU64,
    /// Connections refused at once: too many open, or new, from their address.
    pub conns_refused: AtomicU64,
    /// Chat messages held back until their session's rate allowed them.
    pub msgs_delayed: AtomicU64,
    /// TLS handshakes that failed (garbage, a plain client on a TLS port, a timeout).
    pub tls_handshake_failures: AtomicU64,
    /// JPC frames dropped (bad CRC, too long, cut), the connection kept.
    pub dropped_frames: AtomicU64,
    /// Messages queued to connections (one per recipient).
    pub deliveries: AtomicU64,
    /// Private links whose bytes were relayed.
    pub links_relayed: AtomicU64,
}

impl Metrics {
    pub fn get(counter: &AtomicU64) -> u64 {
        counter.load(Relaxed)
    }

    pub(crate) fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn dec(counter: &AtomicU64) {
        counter.fetch_sub(1, Relaxed);
    }

    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub fn log_summary(&self) {
        tracing::info!(
            accepted = Self::get(&self.accepted),
            open = Self::get(&self.open),
            slow_consumers = Self::get(&self.slow_consumers),
            bad_input = Self::get(&self.bad_input),
            timed_out = Self::get(&self.timed_out),
            conns_refused = Self::get(&self.conns_refused),
            msgs_delayed = Self::get(&self.msgs_delayed),
            tls_handshake_failures = Self::get(&self.tls_handshake_failures),
            dropped_frames = Self::get(&self.dropped_frames),
            deliveries = Self::get(&self.deliveries),
            links_relayed = Self::get(&self.links_relayed),
            "metrics"
        );
    }
}

//! What keeps one client from hurting the others: each session's message rate and each
//! address's connections ([`rate`]), and password attempts per address and per account
//! ([`throttle`]).

pub(crate) mod rate;
pub(crate) mod throttle;

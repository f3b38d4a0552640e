//! Switchboard's wire formats, sans-IO: bytes in, typed messages out, and back.
//!
//! Nothing here does I/O, reads a clock or spawns anything. Every decoder works on a byte
//! buffer that may hold a partial frame (`Ok(None)` means "need more bytes"), bounds every
//! length it reads before trusting it, and never panics on any input (each has a fuzz target
//! in `fuzz/`).

pub mod bus;
pub mod chathack;
pub mod chatos;
mod cursor;
pub mod irc;
pub mod jpc;
pub mod line;
pub mod nlchat;
pub mod peerchat;
pub mod web;

pub use cursor::DecodeError;

//! A connection's bytes: the socket, plain or TLS ([`transport`], [`tls`]), the event loops
//! the front doors' connections run on ([`reactor`]), the driver of each ([`conn`]), its reads and vectored writes ([`io`]), its bounded
//! queue of what the hub task sends it ([`outbox`]), and the relay of a private link's two
//! ends ([`relay`]).

pub(crate) mod conn;
pub(crate) mod io;
pub(crate) mod listen;
pub(crate) mod outbox;
pub(crate) mod reactor;
pub(crate) mod relay;
pub(crate) mod tls;
pub(crate) mod transport;

//! The clients, one per protocol, for a person at a terminal (the full screen of `ui`) or a
//! script on stdin and stdout (line mode): `chatos` (and its private links, `chatos_link`),
//! `chathack` (and its direct connections, `chathack_direct`), `jpc`, `nl` (the operator
//! console, over the NL door or an XMPP server: `nl_link`) and `peer` (a serverless PeerChat node); `connect` is their TCP or TLS
//! connection to a server.

pub(crate) mod chathack;
pub(crate) mod chathack_direct;
pub(crate) mod chatos;
pub(crate) mod chatos_link;
pub(crate) mod connect;
pub(crate) mod jpc;
pub(crate) mod nl;
pub(crate) mod nl_link;
pub(crate) mod peer;

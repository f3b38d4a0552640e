//! The integration tests: the real server on 127.0.0.1 with a port the system picks, spoken to
//! over loopback by raw sockets and by real `switchboard` client processes.

mod accounts;
mod bench;
mod browser;
mod chathack;
mod chathack_clients;
mod chatos;
mod chatos_bad_input;
mod chatos_clients;
mod chatos_links;
mod cluster;
mod damaged;
mod history;
mod http_limits;
mod irc;
mod irc_accounts;
mod irc_channels;
mod jpc;
mod jpc_client;
mod limits;
mod metrics;
mod nl;
mod offline;
mod peer;
mod reserved;
mod serve;
mod shutdown;
mod support;
mod tls;
mod tui;
mod web;
mod web_rooms;
mod xmpp;

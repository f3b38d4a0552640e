//! What the hub task is told: by connections (a connection came, a command, it left), by
//! the keeper (a message stored, a page of a queue), by the web (who is online), and by the
//! server (stop). One bounded channel carries them all; the hub task is its one reader.

use crate::net::outbox::Outbox;
use bytes::Bytes;
use hub::{Command, Door, HubError, LinkId, ReplyTo, SessionId};
use std::net::IpAddr;
use std::sync::Arc;

/// Who is online (by which door), who of them is away (with the message), and whether the
/// desk is open, here and on the other nodes.
#[derive(Debug, Default)]
pub(crate) struct Roster {
    pub online: Vec<(String, &'static str)>,
    pub away: Vec<(String, String)>,
    pub desk_open: bool,
}

impl Roster {
    /// The away message of `name`, if it is away.
    pub(crate) fn away_of(&self, name: &str) -> Option<&str> {
        self.away.iter().find(|(n, _)| hub::same_name(n, name)).map(|(_, m)| m.as_str())
    }
}

/// What a connection tells the hub task.
pub(crate) enum HubMsg {
    Connected {
        session: SessionId,
        door: Door,
        origin: IpAddr,
        outbox: Arc<Outbox>,
        /// The bytes its outbox may hold untaken before it overflows.
        limit: usize,
        /// It came in over TLS (for the figures).
        tls: bool,
    },
    Command {
        session: SessionId,
        command: Command,
    },
    /// The connection broke its protocol: write `last_words`, if any, after what is queued for
    /// it, then close it.
    Hangup {
        session: SessionId,
        last_words: Option<Bytes>,
    },
    /// A front door's own answer, written after what is queued for the connection.
    Write {
        session: SessionId,
        bytes: Bytes,
    },
    Disconnected {
        session: SessionId,
    },
    LinkClosed {
        link: LinkId,
    },
    /// The names with an account now.
    Reserved {
        names: Vec<String>,
    },
    /// A queued message was stored (or could not be): answer its sender now.
    Stored {
        reply: ReplyTo,
        result: Result<(), HubError>,
    },
    /// From the cluster: what the other nodes hold and send, and the answers to this node's
    /// claims and commands.
    Cluster(hub::Input),
    /// The next page of what the store had queued for `session`'s name; `None`: it could
    /// not be read (nothing left the queue).
    Offline {
        session: SessionId,
        queued: Option<Vec<hub::Queued>>,
    },
    /// The connection of `session` wrote the page of queued messages up to `last`.
    PageDelivered {
        session: SessionId,
        last: i64,
    },
    /// Who is online and who of them is away, and whether the desk is open (on any node).
    Roster {
        reply: tokio::sync::oneshot::Sender<Roster>,
    },
    /// The last `count` departures of `name`, newest first: its name, its door's, and when.
    WhoWas {
        name: String,
        count: usize,
        reply: tokio::sync::oneshot::Sender<Vec<(String, &'static str, std::time::SystemTime)>>,
    },
    /// The rooms `session` may see: those named, with their members, or all of them without;
    /// and the rooms `session` is in.
    Rooms {
        session: SessionId,
        rooms: Option<Vec<String>>,
        reply: tokio::sync::oneshot::Sender<(Vec<hub::RoomView>, Vec<String>)>,
    },
    /// The rooms `name` is in that `session` may see, and its standing in each.
    RoomsWith {
        session: SessionId,
        name: String,
        reply: tokio::sync::oneshot::Sender<Vec<(String, hub::Member)>>,
    },
    /// Answer once every message the hub kept before this one is in the store: a read of
    /// the store that follows sees them (the web's history after sending).
    Written {
        reply: tokio::sync::oneshot::Sender<()>,
    },
    /// Close every connection (after flushing) and stop.
    Shutdown,
}

//! What the rest of the server knows of a protocol: a door's [`Spec`], declared in its door
//! file and listed in the table of doors (`doors.rs`), beside its settings (where it listens
//! is there, `doors::Listen`).

use crate::cluster::state::Durable;
use crate::{Config, Shared};
use bytes::Bytes;
use hub::{Caps, Door, Event, HubError, Kind, Liveness, Queued};
use std::any::Any;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use store::StoreHandle;
use tokio::net::TcpListener;

/// A door's accept loop, running until the server stops.
pub(crate) type Serving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What a door keeps for itself while the server runs (NL Chat's key pair, the PeerChat
/// mesh), made at start by its `state` and reached with `Shared::state`.
pub(crate) type State = Arc<dyn Any + Send + Sync>;

/// What a door's state is made from at start: the store, and in a cluster the cluster's
/// durable state.
pub(crate) struct Startup<'a> {
    pub config: &'a Config,
    pub store: &'a StoreHandle,
    pub cluster: Option<&'a Durable>,
}

/// A door's state in the making.
pub(crate) type Making<'a> = Pin<Box<dyn Future<Output = anyhow::Result<State>> + Send + 'a>>;

/// What the rest of the server knows of a protocol.
pub(crate) struct Spec {
    /// Its index in [`DOORS`].
    pub door: Door,
    /// For logs, the desk's `status`, the web's list of users (and metrics labels).
    pub name: &'static str,
    /// What its sessions can carry.
    pub caps: Caps,
    /// How its sessions must prove they are there, if they must.
    pub liveness: fn(&Config) -> Option<Liveness>,
    /// A hub event in its protocol; `None`: it has no words for it (the hub never sends it).
    pub encode_event: fn(&Event) -> Option<Bytes>,
    /// The answer to a command of this kind; `None`: it answers nothing of the kind.
    pub encode_reply: fn(Kind, Result<(), HubError>) -> Option<Bytes>,
    /// A message that waited for its recipient.
    pub encode_queued: fn(&Queued) -> Option<Bytes>,
    /// What a connection hears when the hub stops, before it is closed.
    pub goodbye: fn() -> Option<Bytes>,
    /// Serves the connections of a listener of its until the server stops (`true`: a TLS
    /// listener, whose connections go through the handshake first).
    pub serve: fn(TcpListener, Arc<Shared>, bool) -> Serving,
    /// Makes what it keeps for itself while the server runs.
    pub state: for<'a> fn(Startup<'a>) -> Making<'a>,
    /// What else it serves while the server runs, beside its listeners (NL Chat's operators
    /// over an XMPP server): tasks started once the hub runs, which end by themselves once
    /// the hub has stopped and what it said last is delivered.
    pub also: fn(&Arc<Shared>) -> Vec<Serving>,
}

/// For a door that serves only its listeners.
pub(crate) fn nothing_else(_: &Arc<Shared>) -> Vec<Serving> {
    Vec::new()
}

/// For a door that keeps nothing of its own.
pub(crate) fn no_state(_: Startup<'_>) -> Making<'_> {
    Box::pin(async { Ok(Arc::new(()) as State) })
}

/// For a protocol that answers nothing.
pub(crate) fn no_reply(_: Kind, _: Result<(), HubError>) -> Option<Bytes> {
    None
}

/// For a protocol with no goodbye.
pub(crate) fn no_goodbye() -> Option<Bytes> {
    None
}

/// For a protocol whose sessions need not prove they are there.
pub(crate) fn no_liveness(_: &Config) -> Option<Liveness> {
    None
}

/// Where a door listens: its plain listener, and its TLS one (bound only when the server has
/// a certificate); each written back once bound, with the port the system chose for port 0.
pub(crate) trait Listen {
    fn addrs(&self) -> (Option<SocketAddr>, Option<SocketAddr>);
    fn bound(&mut self, tls: bool, at: SocketAddr);
}

/// A door's address setting: always there, or optional (a door that is off by default).
pub(crate) trait Addr {
    fn addr(&self) -> Option<SocketAddr>;
    fn set(&mut self, at: SocketAddr);
}

impl Addr for SocketAddr {
    fn addr(&self) -> Option<SocketAddr> {
        Some(*self)
    }
    fn set(&mut self, at: SocketAddr) {
        *self = at;
    }
}

impl Addr for Option<SocketAddr> {
    fn addr(&self) -> Option<SocketAddr> {
        *self
    }
    fn set(&mut self, at: SocketAddr) {
        *self = Some(at);
    }
}

/// `Listen` for a door's settings, from its address fields (and its TLS one, if it has TLS).
macro_rules! listen {
    ($config:ty: $addr:ident $(, $tls:ident)?) => {
        impl $crate::doors::spec::Listen for $config {
            fn addrs(&self) -> (Option<std::net::SocketAddr>, Option<std::net::SocketAddr>) {
                let tls: Option<std::net::SocketAddr> = None $( .or($crate::doors::spec::Addr::addr(&self.$tls)) )?;
                ($crate::doors::spec::Addr::addr(&self.$addr), tls)
            }
            fn bound(&mut self, tls: bool, at: std::net::SocketAddr) {
                match tls {
                    false => $crate::doors::spec::Addr::set(&mut self.$addr, at),
                    true => { $( $crate::doors::spec::Addr::set(&mut self.$tls, at); )? }
                }
            }
        }
    };
}
pub(crate) use listen;

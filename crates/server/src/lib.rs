//! Switchboard's I/O: the listeners (front doors), one task per connection driving its
//! protocol, the hub task that owns the [`hub::Hub`], the relays of private links, the
//! configuration and the metrics. [`start`] binds everything and returns a [`Running`] server.

mod chatos;
pub mod config;
mod io;
pub mod metrics;
mod outbox;
mod relay;
mod router;

pub use config::Config;
pub use metrics::Metrics;

use anyhow::Context;
use hub::SessionId;
use relay::Relays;
use router::{HubMsg, Router};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Inputs queued for the hub task before connections wait their turn.
const HUB_QUEUE: usize = 4096;

/// What every connection task shares.
pub(crate) struct Shared {
    pub config: Config,
    pub hub: mpsc::Sender<HubMsg>,
    pub relays: Arc<Relays>,
    pub metrics: Arc<Metrics>,
    next_session: AtomicU64,
}

impl Shared {
    pub fn new_session(&self) -> SessionId {
        SessionId(self.next_session.fetch_add(1, Ordering::Relaxed) + 1)
    }
}

/// A started server.
pub struct Running {
    /// Where the ChatOS front door listens (with the port the system chose, if 0 was asked).
    pub chatos_addr: SocketAddr,
    pub metrics: Arc<Metrics>,
    shared: Arc<Shared>,
    listeners: Vec<JoinHandle<()>>,
    router: JoinHandle<()>,
}

/// Binds every front door, creates the data folder, and starts serving.
pub async fn start(config: Config) -> anyhow::Result<Running> {
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data folder {}", config.data_dir.display()))?;
    let chatos = TcpListener::bind(config.chatos_addr)
        .await
        .with_context(|| format!("binding the ChatOS front door to {}", config.chatos_addr))?;
    let chatos_addr = chatos.local_addr()?;

    let (tx, rx) = mpsc::channel(HUB_QUEUE);
    let hub = hub::Hub::new(hub::Config { link_timeout: config.link_timeout() });
    let shared = Arc::new(Shared {
        config,
        hub: tx,
        relays: Arc::default(),
        metrics: Arc::default(),
        next_session: AtomicU64::new(0),
    });
    let router = tokio::spawn(Router::new(hub, &shared).run(rx));
    let listeners = vec![tokio::spawn(accept_loop(chatos, shared.clone(), "chatos", chatos::serve))];
    tracing::info!(%chatos_addr, data_dir = %shared.config.data_dir.display(), "switchboard is up: chatos front door open");
    Ok(Running { chatos_addr, metrics: shared.metrics.clone(), shared, listeners, router })
}

async fn accept_loop<F, Fut>(listener: TcpListener, shared: Arc<Shared>, door: &'static str, serve: F)
where
    F: Fn(TcpStream, SocketAddr, Arc<Shared>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let _ = stream.set_nodelay(true);
                Metrics::inc(&shared.metrics.accepted);
                Metrics::inc(&shared.metrics.open); // the connection's task counts itself out
                tokio::spawn(serve(stream, peer, shared.clone()));
            }
            Err(e) => {
                // Out of file descriptors, most likely: back off rather than spin.
                tracing::warn!(door, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

impl Running {
    /// Stops accepting, closes every connection once what is queued for it is written (for at
    /// most `grace`), and logs the metrics.
    pub async fn shutdown(self, grace: Duration) {
        for l in &self.listeners {
            l.abort();
        }
        let _ = self.shared.hub.send(HubMsg::Shutdown).await;
        let _ = self.router.await;
        let deadline = tokio::time::Instant::now() + grace;
        while Metrics::get(&self.metrics.open) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.metrics.log_summary();
    }
}

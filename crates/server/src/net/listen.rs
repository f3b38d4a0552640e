//! A door's listener: each connection admitted under its address's limits, taken through the
//! TLS handshake on a TLS listener, then served: on an event loop, or (the web) a task.

use crate::doors::spec::Spec;
use crate::net::transport::Transport;
use crate::{Shared, Ticket};
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// Accepts connections on `listener` until the server stops: each one admitted under its
/// address's limits, taken through the TLS handshake if the listener is one (`tls`), then
/// served by `serve`: on a task of its own if it returns one (the web), else as `serve` saw to
/// (the event loop, for every door on the driver).
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    shared: Arc<Shared>,
    spec: &'static Spec,
    tls: bool,
    serve: F,
) where
    F: Fn(Transport, SocketAddr, Arc<Shared>, Ticket) -> Option<Fut> + Send + Sync + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let serve = Arc::new(serve);
    let (door, name) = (spec.door, spec.name);
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                shared.metrics.door(door, tls).accepted.inc();
                let ticket = match shared.conn_limits.admit(peer.ip(), shared.now_us()) {
                    Ok(ticket) => ticket,
                    Err(why) => {
                        shared.metrics.conns_refused.inc();
                        tracing::debug!(door = name, %peer, ?why, "connection refused: too many from its address");
                        continue; // dropped: closed at once
                    }
                };
                let _ = stream.set_nodelay(true);
                shared.metrics.door(door, tls).open.inc(); // the connection counts itself out: `release`
                match (tls, shared.tls.as_ref()) {
                    (true, Some(_)) => {
                        let (shared, serve) = (shared.clone(), serve.clone());
                        tokio::spawn(async move {
                            let tls = shared.tls.as_ref().expect("a TLS listener has TLS");
                            match tls.handshake(stream, shared.metrics.door(door, true)).await {
                                Some((tcp, session)) => {
                                    if let Some(task) = serve(Transport::tls(tcp, session), peer, shared, ticket) {
                                        task.await;
                                    }
                                }
                                None => shared.release(ticket, door, true),
                            }
                        });
                    }
                    _ => {
                        if let Some(task) = serve(Transport::Plain(stream), peer, shared.clone(), ticket) {
                            tokio::spawn(task);
                        }
                    }
                }
            }
            Err(e) => {
                // Out of file descriptors, most likely: back off rather than spin.
                tracing::warn!(door = name, error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

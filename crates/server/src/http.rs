//! HTTP/1.1 by hyper for the server's two routers, the web door's and the operators': one
//! connection served with a timeout on each request's head (slowloris), each request told who
//! sent it and whether it came over TLS, WebSocket upgrades let through.

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};

/// How long a client has to send a request's head (its request line and headers), counted
/// from when the connection is ready for one: a connection that sends none, or only part of
/// one, is closed.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether a request came over TLS (a request extension).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tls(pub bool);

/// Serves one HTTP connection from `peer` with `app` until it closes or upgrades (a
/// WebSocket then lives on on its own, holding the socket).
pub(crate) async fn serve<IO>(io: IO, peer: SocketAddr, tls: bool, app: axum::Router) -> Result<(), hyper::Error>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut request: hyper::Request<hyper::body::Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        request.extensions_mut().insert(Tls(tls));
        let mut app = app.clone();
        async move { tower_service::Service::call(&mut app, request.map(axum::body::Body::new)).await }
    });
    hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades()
        .await
}

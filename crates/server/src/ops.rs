//! What operators ask of a running hub: `GET /metrics`, every figure in the Prometheus
//! (OpenMetrics) text format, and `GET /healthz`, 200 while the store answers and has not
//! failed (a read or a write) in the last minute (every front door is bound before either is
//! served), 503 with why when it does not or has. Both are answered only to
//! the networks in `metrics_allow` (loopback by default), as Prosody's mod_http_openmetrics
//! does. `/metrics` is served only on a listener of its own (`metrics_addr`, on loopback by
//! default, as NATS's monitoring port), never on the public web port; `/healthz` there and
//! on the web front door, where orchestrators look for it.

use crate::Shared;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;

/// How long the store has to answer a health check.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a failure of the store (a read, or a write: a damaged file, a full disk) keeps
/// the hub unhealthy.
pub(crate) const FAULT_WINDOW: Duration = Duration::from_secs(60);

/// `/metrics` and `/healthz`: the operators' own listener.
fn routes(shared: Arc<Shared>) -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(healthz)).with_state(shared)
}

/// `/healthz` alone, for the web front door, where orchestrators expect it.
pub(crate) fn health(shared: Arc<Shared>) -> Router {
    Router::new().route("/healthz", get(healthz)).with_state(shared)
}

/// Whether `peer` may see the figures.
fn allowed(shared: &Shared, peer: SocketAddr) -> bool {
    let ip = peer.ip().to_canonical();
    shared.config.metrics_allow.iter().any(|net| net.contains(&ip))
}

fn forbidden(peer: SocketAddr) -> Response {
    tracing::debug!(%peer, "refused the figures to an address not in metrics_allow");
    let body = serde_json::json!({ "code": "forbidden", "error": "not from this address (metrics_allow)" });
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

async fn metrics(State(shared): State<Arc<Shared>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !allowed(&shared, peer) {
        return forbidden(peer);
    }
    let backlog = crate::HUB_QUEUE.saturating_sub(shared.hub.capacity());
    shared.metrics.hub_backlog.set(backlog as i64);
    let content_type = "application/openmetrics-text; version=1.0.0; charset=utf-8";
    ([(header::CONTENT_TYPE, content_type)], shared.metrics.encode()).into_response()
}

async fn healthz(State(shared): State<Arc<Shared>>, ConnectInfo(peer): ConnectInfo<SocketAddr>) -> Response {
    if !allowed(&shared, peer) {
        return forbidden(peer);
    }
    let store = shared.store.call(|s| s.data_version());
    let failure = match tokio::time::timeout(HEALTH_TIMEOUT, store).await {
        Ok(Ok(Ok(_))) => match shared.metrics.store_fault_within(FAULT_WINDOW) {
            None => return (StatusCode::OK, axum::Json(serde_json::json!({ "status": "ok" }))).into_response(),
            Some((ago, why)) => format!("the store failed {} s ago: {why}", ago.as_secs()),
        },
        Ok(Ok(Err(e))) => e.to_string(),
        Ok(Err(e)) => e.to_string(),
        Err(_) => "the store does not answer".to_owned(),
    };
    tracing::warn!(error = %failure, "health check failed");
    let body = serde_json::json!({ "status": "unavailable", "error": failure });
    (StatusCode::SERVICE_UNAVAILABLE, axum::Json(body)).into_response()
}

/// Serves `/metrics` and `/healthz` on a listener of their own until the server stops.
pub(crate) async fn serve(listener: TcpListener, shared: Arc<Shared>) {
    let app = routes(shared);
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        let app = app.clone();
        tokio::spawn(async move {
            let _ = crate::http::serve(stream, peer, false, app).await;
        });
    }
}

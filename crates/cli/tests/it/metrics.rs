//! What operators read: `/metrics` in the Prometheus text format, with figures by protocol and
//! TLS that match a known exchange, and `/healthz`, 200 while the store answers and 503 while
//! it does not; both only to the networks allowed, `/metrics` only on a listener of its own.

use crate::support::{start_with, Raw, WAIT};
use crate::web::answer;
use proto::chatos::{ErrorCode, Packet};
use std::collections::HashMap;

/// The figures, parsed line by line as the text format has them: every sample is
/// `name{labels} value` under a `# TYPE` of its family, and the text ends with `# EOF`.
pub fn parse(text: &str) -> HashMap<String, f64> {
    assert!(text.ends_with("# EOF\n"), "the text ends with # EOF");
    let mut samples = HashMap::new();
    let mut family: Option<String> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, kind) = rest.split_once(' ').expect("# TYPE name kind");
            assert!(["counter", "gauge", "histogram"].contains(&kind), "{line}");
            family = Some(name.to_owned());
            continue;
        }
        if line.starts_with("# HELP ") || line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let (series, value) = line.rsplit_once(' ').unwrap_or_else(|| panic!("a sample: {line}"));
        let value: f64 = value.parse().unwrap_or_else(|_| panic!("a number: {line}"));
        let name = series.split('{').next().unwrap();
        let family = family.as_deref().unwrap_or_else(|| panic!("a sample before any # TYPE: {line}"));
        assert!(name.starts_with(family), "{name} outside its family {family}");
        if let Some(labels) = series.strip_prefix(name) {
            assert!(labels.is_empty() || (labels.starts_with('{') && labels.ends_with('}')), "{line}");
        }
        samples.insert(series.to_owned(), value);
    }
    samples
}

pub async fn get(url: &str) -> (u16, String) {
    let response = tokio::time::timeout(WAIT, reqwest::get(url)).await.unwrap().unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_by_protocol_and_tls_match_what_was_sent() {
    let hub = start_with(|c| c.tls_self_signed = vec!["127.0.0.1".into()]).await;
    let tls = hub.running.as_ref().unwrap().tls_addr("chatos").unwrap();
    let cert = hub.data_dir().join("tls/self-signed.crt");
    let (stream, _) = crate::tls::tls_connect(&tls.to_string(), &cert).await;
    let mut secure = Raw::from_io(stream);
    secure.send(&Packet::Cr { pseudo: "secure".into() }).await;
    secure.expect_error(ErrorCode::Ok).await;
    let mut plain = Raw::login(hub.chatos, "plain").await;
    for text in ["one", "two", "three"] {
        plain.send(&Packet::Sma { sender: "plain".into(), message: text.into() }).await;
        plain.expect_error(ErrorCode::Ok).await;
        secure.expect(Packet::Sma { sender: "plain".into(), message: text.into() }).await;
    }
    secure.send(&Packet::Sma { sender: "secure".into(), message: "back".into() }).await;
    secure.expect_error(ErrorCode::Ok).await;
    plain.expect(Packet::Sma { sender: "secure".into(), message: "back".into() }).await;
    // History is written behind the lobby: a read of it waits until what came before is in
    // the store (and touches no ChatOS figure).
    let reader = crate::web::Web::sign_in(&hub, "reader").await;
    assert_eq!(reader.get("/api/history").await.0, 200);

    let (status, text) = get(&format!("http://{}/metrics", hub.ops)).await;
    assert_eq!(status, 200);
    let m = parse(&text);
    let figure = |name: &str, tls: bool| {
        let series = format!("switchboard_{name}{{protocol=\"chatos\",tls=\"{tls}\"}}");
        *m.get(&series).unwrap_or_else(|| panic!("no {series} in\n{text}"))
    };
    assert_eq!((figure("logins_total", false), figure("logins_total", true)), (1.0, 1.0));
    assert_eq!((figure("messages_in_total", false), figure("messages_in_total", true)), (3.0, 1.0));
    assert_eq!((figure("deliveries_total", false), figure("deliveries_total", true)), (1.0, 3.0));
    assert_eq!((figure("connections_open", false), figure("connections_open", true)), (1.0, 1.0));
    assert_eq!((figure("connections_accepted_total", false), figure("connections_accepted_total", true)), (1.0, 1.0));
    assert!(figure("bytes_in_total", true) > figure("bytes_in_total", false), "TLS records weigh more");
    // Out, the protocol's bytes before TLS: exactly the packets each end read.
    let len = |p: Packet| p.to_bytes().len() as f64;
    let ok = || len(Packet::error(ErrorCode::Ok));
    let sma = |sender: &str, text: &str| len(Packet::Sma { sender: sender.into(), message: text.into() });
    let to_plain = 4.0 * ok() + sma("secure", "back");
    let to_secure = 2.0 * ok() + sma("plain", "one") + sma("plain", "two") + sma("plain", "three");
    assert_eq!((figure("bytes_out_total", false), figure("bytes_out_total", true)), (to_plain, to_secure));
    assert_eq!(figure("tls_handshake_failures_total", true), 0.0);
    assert!(m["switchboard_store_commit_seconds_count"] >= 1.0, "the lobby's history was written");
    assert_eq!(m["switchboard_desk_operators"], 0.0);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_says_whether_the_store_answers() {
    let hub = start_with(|_| {}).await;
    let url = format!("http://{}/healthz", hub.web);
    assert_eq!(get(&url).await, (200, "{\"status\":\"ok\"}".into()));
    // The store's thread is held up (a disk that hangs): the hub is unhealthy meanwhile.
    let (held, release) = std::sync::mpsc::channel::<()>();
    let store = hub.running.as_ref().unwrap().store().clone();
    let busy = tokio::spawn(async move {
        store
            .call(move |_| {
                let _ = release.recv();
            })
            .await
    });
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the store does not answer"), "{body}");
    held.send(()).unwrap();
    busy.await.unwrap().unwrap();
    assert_eq!(get(&url).await.0, 200);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_figures_have_a_listener_of_their_own_and_only_allowed_networks_read_them() {
    let hub = start_with(|_| {}).await;
    let (status, text) = get(&format!("http://{}/metrics", hub.ops)).await;
    assert_eq!(status, 200);
    parse(&text);
    assert_eq!(get(&format!("http://{}/healthz", hub.ops)).await.0, 200);
    // Never on the public web port; health is there too, where orchestrators look for it.
    let (status, body) = answer(reqwest::get(format!("http://{}/metrics", hub.web)).await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (404, Some("not_found")));
    assert_eq!(get(&format!("http://{}/healthz", hub.web)).await.0, 200);
    hub.stop().await;

    let hub = start_with(|c| c.metrics_allow = vec!["10.0.0.0/8".parse().unwrap()]).await;
    let (status, body) = get(&format!("http://{}/metrics", hub.ops)).await;
    assert_eq!(status, 403, "{body}");
    assert_eq!(get(&format!("http://{}/healthz", hub.ops)).await.0, 403);
    assert_eq!(get(&format!("http://{}/healthz", hub.web)).await.0, 403);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn healthz_is_503_while_the_store_cannot_write() {
    let hub = crate::support::start_with_accounts(&[("ann", "secret")]).await;
    let url = format!("http://{}/healthz", hub.web);
    assert_eq!(get(&url).await.0, 200);
    // The disk is full: a message for ann, who is away, cannot be kept, and its sender is told.
    let store = hub.running.as_ref().unwrap().store().clone();
    store.call(|s| s.cap_at_current_size()).await.unwrap().unwrap();
    let bob = crate::web::Web::sign_in(&hub, "bob").await;
    let long = "x".repeat(1000);
    let mut refused = false;
    for _ in 0..50 {
        let (status, body) = bob.post("/api/messages", serde_json::json!({ "to": "ann", "text": long })).await;
        if status == 503 {
            assert_eq!(body["code"], "unavailable", "{body}");
            refused = true;
            break;
        }
        assert_eq!(status, 200, "{body}");
    }
    assert!(refused, "the store never filled up");
    let (status, body) = get(&url).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the store failed") && body.contains("full"), "{body}");
    assert!(hub.metrics().store_failed.get() >= 1);
    hub.stop().await;
}

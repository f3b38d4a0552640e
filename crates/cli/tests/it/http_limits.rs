//! The web door against hostile HTTP, over raw sockets: a body larger than its route takes, a
//! body that trickles in, a stranger's body, a WebSocket opened from another origin.

use crate::support::{start_with, WAIT};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Everything the server writes on `stream` until it closes it.
async fn read_to_close(stream: &mut TcpStream) -> String {
    let mut answer = Vec::new();
    tokio::time::timeout(WAIT, stream.read_to_end(&mut answer))
        .await
        .expect("the server neither answered nor closed")
        .unwrap();
    String::from_utf8_lossy(&answer).into_owned()
}

/// A request head announcing a body of `length` bytes, and its first `body` bytes.
async fn post(addr: std::net::SocketAddr, path: &str, length: usize, body: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).await.unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {length}\r\n\r\n{body}"
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_larger_than_its_route_takes_is_refused_unread_and_a_stranger_s_is_never_read() {
    let hub = start_with(|_| {}).await;
    // A sign-in needs a few hundred bytes, not the image limit: 413 at its head, the body
    // never awaited.
    let mut stream = post(hub.web, "/api/session", 5_000_000, "").await;
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    assert!(answer.contains("\"code\":\"too_large\""), "the API's JSON error: {answer}");
    assert!(answer.to_ascii_lowercase().contains("connection: close"), "{answer}");
    // A body sent in chunks, with no length to judge by, is cut off where it passes the bound.
    let mut stream = TcpStream::connect(hub.web).await.unwrap();
    let chunk = format!("{{\"name\":\"{}", "x".repeat(3000));
    let head = format!(
        "POST /api/session HTTP/1.1\r\nHost: {}\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{chunk}\r\n{:x}\r\n{chunk}\r\n",
        hub.web,
        chunk.len(),
        chunk.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 413"), "{answer}");
    // A message's body is read only once its bearer is known: a stranger's 5 MB is not.
    let mut stream = post(hub.web, "/api/messages", 5_000_000, "{").await;
    let answer = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 401"), "{answer}");
    assert!(answer.contains("\"code\":\"unauthorized\""), "{answer}");
    hub.stop().await;
}

/// On tokio's paused clock: the 20 s of a body pass in no time, and its answer comes when
/// they are up, to the second.
#[tokio::test(start_paused = true)]
async fn a_body_that_trickles_in_is_cut_off_at_its_deadline() {
    let hub = start_with(|_| {}).await;
    let stream = post(hub.web, "/api/session", 4000, "{").await;
    let sent = tokio::time::Instant::now();
    let (mut reader, mut writer) = stream.into_split();
    // One byte every 100 ms, steadily: never silent long enough for a timeout between reads.
    let trickle = tokio::spawn(async move {
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if writer.write_all(b" ").await.is_err() {
                return;
            }
        }
    });
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(60), reader.read_to_end(&mut answer)).await;
    trickle.abort();
    assert_eq!(sent.elapsed().as_secs(), 20, "answered once the body's 20 s were up");
    // (What came before a reset still counts: the answer is read as it arrives.)
    let _ = read.expect("the server kept reading a body that trickled in");
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains("\"code\":\"timeout\""), "{answer}");
    // The door still serves whoever sends a whole request.
    crate::web::Web::sign_in(&hub, "ann").await;
    hub.stop().await;
}

/// Opens the WebSocket of `token` as a page of `origin` would; its HTTP status.
async fn ws_status(hub: &crate::support::Hub, token: &str, origin: Option<&str>) -> u16 {
    use tokio_tungstenite::tungstenite::client::IntoClientRequest;
    let mut request = format!("ws://{}/ws?token={token}", hub.web).into_client_request().unwrap();
    if let Some(origin) = origin {
        request.headers_mut().insert("origin", origin.parse().unwrap());
    }
    match tokio::time::timeout(WAIT, tokio_tungstenite::connect_async(request)).await.unwrap() {
        Ok((_, response)) => response.status().as_u16(),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => response.status().as_u16(),
        Err(e) => panic!("opening the WebSocket: {e}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_opens_from_the_hub_s_own_pages_and_the_origins_allowed_only() {
    let hub = start_with(|c| c.doors.web.origins = vec!["https://chat.example.org".into()]).await;
    let ann = crate::web::Web::sign_in(&hub, "ann").await;
    let own = format!("http://{}", hub.web);
    assert_eq!(ws_status(&hub, &ann.token, Some(&own)).await, 101, "the hub's own page");
    assert_eq!(ws_status(&hub, &ann.token, Some(&format!("https://{}", hub.web))).await, 101, "behind TLS");
    assert_eq!(ws_status(&hub, &ann.token, Some("https://chat.example.org")).await, 101, "an origin allowed");
    assert_eq!(ws_status(&hub, &ann.token, None).await, 101, "not a browser");
    assert_eq!(ws_status(&hub, &ann.token, Some("https://evil.example")).await, 403);
    assert_eq!(ws_status(&hub, &ann.token, Some("null")).await, 403, "a sandboxed or file page");
    let lookalike = format!("http://{}.evil.example", hub.web.ip());
    assert_eq!(ws_status(&hub, &ann.token, Some(&lookalike)).await, 403);
    // The refusal is the API's JSON error.
    let upgrade = reqwest::Client::new()
        .get(format!("http://{}/ws?token={}", hub.web, ann.token))
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")
        .header("origin", "https://evil.example");
    let (status, body) = crate::web::answer(upgrade.send().await.unwrap()).await;
    assert_eq!((status, body["code"].as_str()), (403, Some("forbidden")), "{body}");
    hub.stop().await;
}

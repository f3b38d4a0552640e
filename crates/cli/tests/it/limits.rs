//! Limits and timeouts over loopback: a client that does not read is dropped once its unsent
//! bytes pass the bound, on every front door, the web's WebSockets too.

use crate::support::{count, start, Hub, Raw, WAIT};
use crate::web::Web;
use futures_util::StreamExt;
use proto::chatos::Packet;

/// Sends `n` lobby messages of `size` bytes from a new ChatOS client, pipelined, and reads
/// their answers.
async fn flood_lobby(hub: &Hub, n: usize, size: usize) {
    let mut os = Raw::login(hub.chatos, "flood").await;
    let mut bytes = bytes::BytesMut::new();
    for i in 0..n {
        let mut text = format!("{i} ");
        text.extend(std::iter::repeat_n('x', size - text.len()));
        Packet::Sma { sender: "flood".into(), message: text }.encode(&mut bytes);
    }
    let (mut read, mut write) = os.stream.split();
    let (written, ()) = tokio::join!(tokio::io::AsyncWriteExt::write_all(&mut write, &bytes), async {
        let mut oks = vec![0u8; 2 * n];
        tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read_exact(&mut read, &mut oks)).await.unwrap().unwrap();
    });
    written.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_reads_is_closed_once_its_unsent_bytes_pass_the_bound() {
    let hub = start().await;
    let mut page = Web::sign_in(&hub, "sleepy").await;
    let slow_before = count(&hub.metrics().slow_consumers);
    // 30,000 lobby messages of 1 KB: far more than the bound, the socket buffers and the
    // session's ring of events; the page reads none of it meanwhile.
    flood_lobby(&hub, 30_000, 1024).await;
    let dropped = async {
        while count(&hub.metrics().slow_consumers) == slow_before {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, dropped).await.expect("the WebSocket that does not read was never dropped");
    // Its socket ends: what was written before is there, then nothing more.
    let ended = async { while let Some(Ok(_)) = page.ws.next().await {} };
    tokio::time::timeout(WAIT, ended).await.expect("the WebSocket was not closed");
    // The session itself lingers, as when a page closes: a new page picks it up.
    let (status, _) = page.get("/api/users").await;
    assert_eq!(status, 200);
    hub.stop().await;
}

/// Waits, on tokio's clock (paused in these tests: it jumps ahead whenever every task waits),
/// until the server closes `stream`; returns how long after `start` that was, in whole seconds.
async fn closed_at(stream: &mut tokio::net::TcpStream, start: tokio::time::Instant) -> u64 {
    use tokio::io::AsyncReadExt;
    let closed = async {
        let mut buf = [0u8; 256];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::time::timeout(std::time::Duration::from_secs(600), closed).await.expect("never closed");
    start.elapsed().as_secs()
}

#[tokio::test(start_paused = true)]
async fn connections_that_never_log_in_or_stall_in_a_packet_are_closed_after_the_login_timeout() {
    use tokio::io::AsyncWriteExt;
    let hub = start().await;
    let start = tokio::time::Instant::now();
    // A ChatOS connection that says nothing, and one that sends half a CR.
    let mut silent = tokio::net::TcpStream::connect(hub.chatos).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(hub.chatos).await.unwrap();
    half.write_all(b"\x01\x00\x05ab").await.unwrap();
    // Half a ChatHack login (opcode 0, then the length of a login that never comes).
    let mut hack = tokio::net::TcpStream::connect(hub.chathack).await.unwrap();
    hack.write_all(b"\x00\x00\x00\x00\x08al").await.unwrap();
    // A logged-in ChatOS user who then sends half a packet, and one who stays idle.
    let mut stalled = Raw::login(hub.chatos, "stalled").await;
    let mut idle = Raw::login(hub.chatos, "idle").await;
    stalled.send_bytes(b"\x03\x00\x07stalled\x00\x10only half").await;
    for stream in [&mut silent, &mut half, &mut hack, &mut stalled.stream] {
        assert_eq!(closed_at(stream, start).await, 30);
    }
    // Counted: the logged-in user's stalled packet at least (the half CR and the half login
    // stalled too, at the moment they would have been closed for not logging in).
    assert!(count(&hub.metrics().timed_out) >= 1);
    // Logged in and idle: still there, long after (ChatOS has no heartbeat).
    tokio::time::sleep(std::time::Duration::from_secs(300)).await;
    idle.send(&Packet::Sma { sender: "idle".into(), message: "still here".into() }).await;
    idle.expect_error(proto::chatos::ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_http_request_whose_headers_do_not_arrive_within_ten_seconds_is_closed() {
    use tokio::io::AsyncWriteExt;
    let hub = start().await;
    let mut cut = tokio::net::TcpStream::connect(hub.web).await.unwrap();
    cut.write_all(b"GET /api/users HTTP/1.1\r\nHost: x\r\nAuthor").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(hub.web).await.unwrap();
    assert_eq!(closed_at(&mut cut, start).await, 10);
    assert_eq!(closed_at(&mut silent, start).await, 10);
    assert_eq!(count(&hub.metrics().timed_out), 2);
    hub.stop().await;
}

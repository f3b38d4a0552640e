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

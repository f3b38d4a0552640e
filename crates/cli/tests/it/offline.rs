//! Nothing accepted is lost: a direct message to a white-listed device that is offline is
//! stored before its sender gets OK, and delivered, in order, on the device's next HELLO,
//! also after a restart, and also after the server was killed right after the OK. A queue of
//! any length is handed over a page at a time, as fast as the connection takes it, and what
//! was not handed over when the session leaves waits for the next.

use crate::jpc::Jpc;
use crate::jpc_client::{free_port, serve};
use crate::support::{start_prepared, start_with_accounts, Raw, WAIT};
use crate::web::Web;
use proto::chatos::{ErrorCode, Packet};
use proto::jpc::{Message, TEXT};
use std::net::SocketAddr;

const LINDSAY: u64 = 0x0242_ac11_0002;

/// Sends lindsay each text from `os`, expecting OK for each (each OK means: stored).
async fn write_to_lindsay(os: &mut Raw, texts: &[&str]) {
    for text in texts {
        os.send(&Packet::Spm { sender: "os".into(), recipient: "lindsay".into(), message: (*text).into() }).await;
        os.expect_error(ErrorCode::Ok).await;
    }
}

/// Connects lindsay's device and returns the texts it is told before anything else.
async fn lindsay_reads(jpc: SocketAddr, n: usize) -> Vec<String> {
    let mut device = Jpc::connect(jpc).await;
    device.send(&Message::Hello { mac: LINDSAY }).await;
    let mut got = Vec::new();
    while got.len() < n {
        match device.next_not_heartbeat().await {
            Some(Message::Tell { sender, recipient, kind: TEXT, message }) => {
                assert_eq!((sender.as_str(), recipient.as_str()), ("os", "lindsay"));
                got.push(message);
            }
            other => panic!("expected a TELL, got {other:?}"),
        }
    }
    got
}

fn whitelist(data: &std::path::Path) {
    store::Store::open(data).unwrap().whitelist_add("lindsay", LINDSAY).unwrap();
}

#[tokio::test]
async fn delivered_in_order_at_the_next_hello_also_after_a_restart() {
    let hub = start_with_accounts(&[]).await;
    whitelist(&hub.data_dir());
    // The hub learns the white-list within a second; until then lindsay is nobody.
    let mut os = Raw::login(hub.chatos, "os").await;
    let first = Packet::Spm { sender: "os".into(), recipient: "lindsay".into(), message: "one".into() };
    let queued = async {
        loop {
            os.send(&first).await;
            if os.recv().await == Packet::error(ErrorCode::Ok) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(crate::support::WAIT, queued).await.expect("lindsay was never reserved");
    write_to_lindsay(&mut os, &["two", "three"]).await;
    assert_eq!(lindsay_reads(hub.jpc, 3).await, ["one", "two", "three"]);

    // Lindsay's device has left (lindsay_reads dropped it); once the hub has seen it go (only
    // the ChatOS connection is left), more is queued, and the hub restarts before she is back.
    let gone = async {
        while hub.metrics().open() > 1 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(crate::support::WAIT, gone).await.expect("the device's connection never closed");
    write_to_lindsay(&mut os, &["four", "five"]).await;
    drop(os);
    let hub = hub.restart().await;
    assert_eq!(lindsay_reads(hub.jpc, 2).await, ["four", "five"]);
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_acknowledged_message_survives_a_sigkill() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    whitelist(&data);
    let chatos: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let jpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = serve(&data, chatos, jpc).await;
    let mut os = Raw::login(chatos, "os").await;
    write_to_lindsay(&mut os, &["kept", "through", "the kill"]).await;
    // Killed at once, with no chance to flush anything.
    server.kill().await.unwrap();
    let _server = serve(&data, chatos, jpc).await;
    assert_eq!(lindsay_reads(jpc, 3).await, ["kept", "through", "the kill"]);
}

/// More queued messages than any outbound limit holds at once (about 20 bytes each on JPC,
/// 100 on the web: 400 KB to 2 MB, against a limit of 1 MB).
const MANY: usize = 20_000;

/// A hub whose clients may send as fast as they like: the queues here are filled in a rush.
fn unlimited(config: &mut server::Config) {
    config.msg_rate = 0;
}

/// Queues `m0`, `m1`… for `to`, pipelined from one ChatOS client, each answered OK (stored).
async fn queue_many(hub: &crate::support::Hub, to: &str) {
    let mut os = Raw::login(hub.chatos, "os").await;
    let mut bytes = bytes::BytesMut::new();
    for i in 0..MANY {
        Packet::Spm { sender: "os".into(), recipient: to.into(), message: format!("m{i}") }.encode(&mut bytes);
    }
    let (mut read, mut write) = os.stream.split();
    let (written, ()) = tokio::join!(tokio::io::AsyncWriteExt::write_all(&mut write, &bytes), async {
        let mut oks = vec![0u8; 2 * MANY];
        tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read_exact(&mut read, &mut oks)).await.unwrap().unwrap();
        assert!(oks.chunks(2).all(|ok| ok == [8, 1]), "every message answered OK");
    });
    written.unwrap();
}

/// Reads `m{from}`, `m{from + 1}`… up to `m{to - 1}` from lindsay's device, beating its heart
/// as it goes, and returns it.
async fn device_reads(mut device: Jpc, from: usize, to: usize) -> Jpc {
    for i in from..to {
        if i % 500 == 0 {
            device.send(&Message::Heartbeat { id: LINDSAY }).await;
        }
        match device.next_not_heartbeat().await {
            Some(Message::Tell { message, .. }) => assert_eq!(message, format!("m{i}")),
            other => panic!("expected m{i}, got {other:?}"),
        }
    }
    device
}

/// Waits until lindsay's queue is empty: it empties as the device writes pages.
async fn queue_empties(data: &std::path::Path, name: &str) {
    let store = store::Store::open(data).unwrap();
    let empty = async {
        while store.queued_count(name).unwrap() > 0 {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, empty).await.expect("the queue never emptied");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_gets_a_queue_of_twenty_thousand_in_order_and_the_rest_after_a_break() {
    let hub = start_prepared(|s| s.whitelist_add("lindsay", LINDSAY).unwrap(), unlimited).await;
    queue_many(&hub, "lindsay").await;
    // A device with a small receive buffer, so that little more than it read is on its way.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut device = Jpc::from_stream(socket.connect(hub.jpc).await.unwrap());
    device.send(&Message::Hello { mac: LINDSAY }).await;
    // Half, then the device goes away in the middle of the queue.
    drop(device_reads(device, 0, MANY / 2).await);
    // Back: what it had not got is still queued, in order. What the hub wrote to its socket
    // counts as delivered (JPC has no receipts): the next message is at most what the
    // socket buffers held past m9999 (about 25 bytes a message), and at most a page before
    // it (a page whose writing was not finished comes again whole).
    let mut device = Jpc::connect(hub.jpc).await;
    device.send(&Message::Hello { mac: LINDSAY }).await;
    device.send(&Message::Heartbeat { id: LINDSAY }).await;
    let first = match device.next_not_heartbeat().await {
        Some(Message::Tell { message, .. }) => message[1..].parse::<usize>().unwrap(),
        other => panic!("expected a TELL, got {other:?}"),
    };
    assert!(first + 128 >= MANY / 2 && first <= MANY / 2 + 4000, "resumed at m{first}");
    let mut device = device_reads(device, first + 1, MANY).await;
    queue_empties(&hub.data_dir(), "lindsay").await;
    // Then, straight through.
    let mut os = Raw::login(hub.chatos, "os2").await;
    os.send(&Packet::Spm { sender: "os2".into(), recipient: "lindsay".into(), message: "live".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let live = Message::Tell { sender: "os2".into(), recipient: "lindsay".into(), kind: TEXT, message: "live".into() };
    assert_eq!(device.next_not_heartbeat().await, Some(live));
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_web_account_gets_a_queue_of_twenty_thousand_in_order() {
    let hub = start_prepared(|s| s.add_account("bob", "pw").unwrap(), unlimited).await;
    queue_many(&hub, "bob").await;
    let mut bob = Web::sign_in_with(&hub, serde_json::json!({ "name": "bob", "password": "pw" })).await;
    for i in 0..MANY {
        let m = bob.message().await;
        assert_eq!((m["text"].as_str(), m["from"].as_str()), (Some(format!("m{i}").as_str()), Some("os")), "{m}");
        assert!(m["id"].is_i64() && m["replayed"] == true, "a queued message, as in the history: {m}");
    }
    queue_empties(&hub.data_dir(), "bob").await;
    hub.stop().await;
}

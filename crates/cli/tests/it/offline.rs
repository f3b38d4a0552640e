//! Nothing accepted is lost: a direct message to a white-listed device that is offline is
//! stored before its sender gets OK, and delivered, in order, on the device's next HELLO,
//! also after a restart, and also after the server was killed right after the OK.

use crate::jpc::Jpc;
use crate::jpc_client::{free_port, serve};
use crate::support::{count, start_with_accounts, Raw};
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
        while count(&hub.metrics().open) > 1 {
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

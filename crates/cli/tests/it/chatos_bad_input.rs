//! Bad ChatOS input: the offender is disconnected, what it sent before stays accepted, the
//! server keeps serving everyone else, and nothing panics.

use crate::support::{start, Hub, Raw};
use proto::chatos::{ErrorCode, Packet};
use rand::RngCore;
use tokio::io::AsyncWriteExt;

/// Sends `bad` after a good lobby message on one connection and checks: the good message is
/// answered and relayed, the connection is closed, and two bystanders still chat.
async fn check(hub: &Hub, bad: &[u8]) {
    let mut bystander = Raw::login(hub.chatos, "bystander").await;
    let mut friend = Raw::login(hub.chatos, "friend").await;
    let mut offender = Raw::login(hub.chatos, "offender").await;
    let before = hub.metrics().total(|d| d.bad_input.get());

    let good = Packet::Sma { sender: "offender".into(), message: "still accepted".into() };
    let mut bytes = good.to_bytes().to_vec();
    bytes.extend_from_slice(bad);
    offender.send_bytes(&bytes).await;
    assert_eq!(offender.expect_closed().await, vec![Packet::error(ErrorCode::Ok)], "for {bad:?}");
    bystander.expect(good.clone()).await;
    friend.expect(good).await;
    assert_eq!(hub.metrics().total(|d| d.bad_input.get()), before + 1);

    let sma = Packet::Sma { sender: "bystander".into(), message: "still here".into() };
    bystander.send(&sma).await;
    bystander.expect_error(ErrorCode::Ok).await;
    friend.expect(sma).await;
    // The offender's name is free again.
    let _again = Raw::login(hub.chatos, "offender").await;
}

#[tokio::test]
async fn negative_over_limit_zero_lengths_and_unknown_opcodes() {
    let hub = start().await;
    for bad in [
        &b"\x01\xff\xff"[..],                    // CR with a negative length
        b"\x03\x00\x08offender\x80\x00",         // SMA with the most negative length
        b"\x03\x00\x08offender\x04\x01",         // SMA with 1025 bytes announced (limit 1024)
        b"\x02\x00\x08offender\x00\x00",         // SPM with an empty recipient
        b"\x63",                                 // no such opcode
        b"\x00",                                 // no such opcode
        b"\x03\x00\x08offender\x00\x02\xff\xfe", // a message that is not UTF-8
    ] {
        check(&hub, bad).await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn a_frame_cut_off_by_a_close() {
    let hub = start().await;
    let mut friend = Raw::login(hub.chatos, "friend").await;
    let mut cut = Raw::login(hub.chatos, "cut").await;
    cut.send_bytes(b"\x03\x00\x03cut\x00\x10only half").await;
    cut.stream.shutdown().await.unwrap();
    assert_eq!(cut.expect_closed().await, vec![]);
    friend.expect_silence(std::time::Duration::from_millis(200)).await;
    // The name was released, and the server still serves.
    let mut again = Raw::login(hub.chatos, "cut").await;
    again.send(&Packet::Sma { sender: "cut".into(), message: "whole".into() }).await;
    again.expect_error(ErrorCode::Ok).await;
    friend.expect(Packet::Sma { sender: "cut".into(), message: "whole".into() }).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_of_random_bytes() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    for _ in 0..4 {
        let mut noise = vec![0u8; 1 << 20];
        rand::thread_rng().fill_bytes(&mut noise);
        let mut raw = Raw::connect(hub.chatos).await;
        // The server may close before it all went out: a failed write is fine here.
        let _ = raw.stream.write_all(&noise).await;
        raw.expect_closed().await;
    }
    let sma = Packet::Sma { sender: "a".into(), message: "after the noise".into() };
    a.send(&sma).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(sma).await;
    hub.stop().await;
}

//! ChatOS private connections over loopback: ask, refuse, accept, connect, 1 MB each way
//! through the relay, a request while one is pending, an accept nobody asked for, a timeout.

use crate::support::{count, start, start_with, Raw, WAIT};
use proto::chatos::{ErrorCode, LinkKey, Packet};
use rand::RngCore;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Sends a megabyte of random bytes each way at once between the two ends of an open link
/// (more than any window: each side also waits for the other to read), and checks that each
/// end read the other's whole, after `at_b_head` and `at_a_head`: bytes that were on their
/// way first. Gives back both ends' halves, still open.
pub async fn megabyte_each_way(
    a_link: Raw,
    b_link: Raw,
    at_b_head: &[u8],
    at_a_head: &[u8],
) -> (OwnedReadHalf, OwnedWriteHalf, OwnedReadHalf, OwnedWriteHalf) {
    let mut a_data = vec![0u8; 1 << 20];
    let mut b_data = vec![0u8; 1 << 20];
    rand::thread_rng().fill_bytes(&mut a_data);
    rand::thread_rng().fill_bytes(&mut b_data);
    let (mut ar, mut aw) = a_link.stream.into_split();
    let (mut br, mut bw) = b_link.stream.into_split();
    let (a_sent, b_sent) = (a_data.clone(), b_data.clone());
    // The writers hand their halves back: dropping one would close that way of the link.
    let wa = tokio::spawn(async move {
        aw.write_all(&a_sent).await.unwrap();
        aw
    });
    let wb = tokio::spawn(async move {
        bw.write_all(&b_sent).await.unwrap();
        bw
    });
    let mut at_b = vec![0u8; at_b_head.len() + a_data.len()];
    let mut at_a = vec![0u8; at_a_head.len() + b_data.len()];
    let (rb, ra) = tokio::join!(
        tokio::time::timeout(WAIT, br.read_exact(&mut at_b)),
        tokio::time::timeout(WAIT, ar.read_exact(&mut at_a))
    );
    rb.unwrap().unwrap();
    ra.unwrap().unwrap();
    let (aw, bw) = (wa.await.unwrap(), wb.await.unwrap());
    assert_eq!(&at_b[..at_b_head.len()], at_b_head);
    assert!(at_b[at_b_head.len()..] == a_data[..], "A's megabyte arrived altered");
    assert_eq!(&at_a[..at_a_head.len()], at_a_head);
    assert!(at_a[at_a_head.len()..] == b_data[..], "B's megabyte arrived altered");
    (ar, aw, br, bw)
}

fn key(a: &str, b: &str, password: i16) -> LinkKey {
    LinkKey { sender: a.into(), recipient: b.into(), password }
}

#[tokio::test]
async fn ask_then_refuse() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    let k = key("a", "b", 4242);
    a.send(&Packet::TcpAsk(k.clone())).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(k.clone())).await;
    b.send(&Packet::TcpAbort(k.clone())).await;
    a.expect(Packet::TcpAbort(k.clone())).await;
    // As the original does: the refusal is echoed to B with an OK.
    let mut echoed = vec![b.recv().await, b.recv().await];
    echoed.sort_by_key(|p| p.opcode());
    assert_eq!(echoed, vec![Packet::TcpAbort(k.clone()), Packet::error(ErrorCode::Ok)]);
    // Refused means gone: accepting it now finds nothing.
    let mut late = Raw::connect(hub.chatos).await;
    late.send(&Packet::TcpAccept(k)).await;
    late.expect_error(ErrorCode::TcpNotInProtocol).await;
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_connect_and_relay_a_megabyte_each_way() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    let k = key("a", "b", -77);
    a.send(&Packet::TcpAsk(k.clone())).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(k.clone())).await;

    let mut b_link = Raw::connect(hub.chatos).await;
    b_link.send(&Packet::TcpAccept(k.clone())).await;
    b_link.expect_error(ErrorCode::Ok).await;
    a.expect(Packet::TcpAccept(k.clone())).await;

    // A's first bytes ride in the same segment as its TCPConnect: they must not be lost.
    let mut a_link = Raw::connect(hub.chatos).await;
    let mut first = Packet::TcpConnect(k.clone()).to_bytes().to_vec();
    first.extend_from_slice(b"early ");
    a_link.send_bytes(&first).await;
    a_link.expect_error(ErrorCode::Ok).await;

    let (ar, aw, br, bw) = megabyte_each_way(a_link, b_link, b"early ", b"").await;

    // While the link is open, a second one between a and b is refused.
    a.send(&Packet::TcpAsk(key("a", "b", 1))).await;
    a.expect_error(ErrorCode::TcpInProtocol).await;
    a.expect(Packet::TcpAbort(key("a", "b", 1))).await;
    // Once one end closes, the pair is free again.
    drop((ar, aw, br, bw));
    let freed = async {
        loop {
            a.send(&Packet::TcpAsk(key("a", "b", 2))).await;
            if a.recv().await == Packet::error(ErrorCode::Ok) {
                break;
            }
            a.recv().await; // the TCPAbort that came with the refusal
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, freed).await.expect("the closed link still blocks the pair");
    assert_eq!(count(&hub.metrics().links_relayed), 1);
    hub.stop().await;
}

#[tokio::test]
async fn ask_while_pending_and_refusals() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    a.send(&Packet::TcpAsk(key("a", "b", 10))).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(key("a", "b", 10))).await;
    // Pending between a and b, whichever asks.
    a.send(&Packet::TcpAsk(key("a", "b", 11))).await;
    a.expect_error(ErrorCode::TcpInProtocol).await;
    a.expect(Packet::TcpAbort(key("a", "b", 11))).await;
    b.send(&Packet::TcpAsk(key("b", "a", 12))).await;
    b.expect_error(ErrorCode::TcpInProtocol).await;
    b.expect(Packet::TcpAbort(key("b", "a", 12))).await;
    // Unknown recipient, forged sender: the error, then a TCPAbort.
    a.send(&Packet::TcpAsk(key("a", "ghost", 1))).await;
    a.expect_error(ErrorCode::UnreachableUser).await;
    a.expect(Packet::TcpAbort(key("a", "ghost", 1))).await;
    a.send(&Packet::TcpAsk(key("b", "a", 1))).await;
    a.expect_error(ErrorCode::InvalidPseudonym).await;
    a.expect(Packet::TcpAbort(key("b", "a", 1))).await;
    hub.stop().await;
}

#[tokio::test]
async fn accept_or_connect_with_no_such_request() {
    let hub = start().await;
    let _a = Raw::login(hub.chatos, "a").await;
    let _b = Raw::login(hub.chatos, "b").await;
    let mut stray = Raw::connect(hub.chatos).await;
    stray.send(&Packet::TcpAccept(key("a", "b", 5))).await;
    stray.expect_error(ErrorCode::TcpNotInProtocol).await;
    stray.send(&Packet::TcpConnect(key("a", "b", 5))).await;
    stray.expect_error(ErrorCode::TcpNotInProtocol).await;
    // Refused, the connection is an ordinary one again and may log in.
    stray.send(&Packet::Cr { pseudo: "c".into() }).await;
    stray.expect_error(ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_pending_request_times_out() {
    let hub = start_with(|c| c.link_timeout_secs = 1).await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    let k = key("a", "b", 3);
    a.send(&Packet::TcpAsk(k.clone())).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(k.clone())).await;
    let started = std::time::Instant::now();
    a.expect(Packet::TcpAbort(k.clone())).await;
    b.expect(Packet::TcpAbort(k.clone())).await;
    assert!(started.elapsed() >= Duration::from_millis(700), "aborted too early");
    let mut late = Raw::connect(hub.chatos).await;
    late.send(&Packet::TcpAccept(k)).await;
    late.expect_error(ErrorCode::TcpNotInProtocol).await;
    hub.stop().await;
}

/// The password is an i16: a stranger could guess it. A link's new connection must come from
/// the address of the chat session it claims to be (here 127.0.0.2 against 127.0.0.1, both
/// loopback).
#[tokio::test]
async fn a_stranger_with_the_password_cannot_take_a_link() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    let k = key("a", "b", 31337);
    a.send(&Packet::TcpAsk(k.clone())).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(Packet::TcpAsk(k.clone())).await;

    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.2:0".parse().unwrap()).unwrap();
    let stream = socket.connect(hub.chatos).await.unwrap();
    let mut stranger = Raw::from_stream(stream);
    stranger.send(&Packet::TcpAccept(k.clone())).await;
    stranger.expect_error(ErrorCode::TcpNotInProtocol).await;
    a.expect_silence(Duration::from_millis(200)).await;

    let mut b_link = Raw::connect(hub.chatos).await;
    b_link.send(&Packet::TcpAccept(k.clone())).await;
    b_link.expect_error(ErrorCode::Ok).await;
    a.expect(Packet::TcpAccept(k)).await;
    hub.stop().await;
}

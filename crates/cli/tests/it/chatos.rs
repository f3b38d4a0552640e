//! ChatOS over loopback: connection requests, private and lobby messages, and a reader that
//! never reads among busy clients.

use crate::support::{start, start_with, Raw};
use proto::chatos::{Codec, ErrorCode, Packet};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const QUIET: Duration = Duration::from_millis(300);

#[tokio::test]
async fn cr_ok_taken_and_second_ignored() {
    let hub = start().await;
    let _alice = Raw::login(hub.chatos, "alice").await;

    let mut other = Raw::connect(hub.chatos).await;
    other.send(&Packet::Cr { pseudo: "alice".into() }).await;
    other.expect_error(ErrorCode::PseudoUnavailable).await;
    // Names are one namespace whatever their case.
    other.send(&Packet::Cr { pseudo: "ALICE".into() }).await;
    other.expect_error(ErrorCode::PseudoUnavailable).await;
    // After a refusal the connection may try another name.
    other.send(&Packet::Cr { pseudo: "bob".into() }).await;
    other.expect_error(ErrorCode::Ok).await;
    // A second CR on a named connection is ignored: no answer, and the name stays free.
    other.send(&Packet::Cr { pseudo: "zed".into() }).await;
    other.expect_silence(QUIET).await;
    let _zed = Raw::login(hub.chatos, "zed").await;
    hub.stop().await;
}

#[tokio::test]
async fn spm_relayed_verbatim_and_refused() {
    let hub = start().await;
    let mut alice = Raw::login(hub.chatos, "alice").await;
    let mut bob = Raw::login(hub.chatos, "bob").await;

    let spm = Packet::Spm { sender: "alice".into(), recipient: "bob".into(), message: "hi bob, ça va ?".into() };
    alice.send(&spm).await;
    alice.expect_error(ErrorCode::Ok).await;
    // Verbatim: the very bytes alice sent.
    let mut relayed = vec![0; spm.to_bytes().len()];
    tokio::time::timeout(crate::support::WAIT, bob.stream.read_exact(&mut relayed)).await.unwrap().unwrap();
    assert_eq!(relayed, spm.to_bytes());

    alice.send(&Packet::Spm { sender: "alice".into(), recipient: "nobody".into(), message: "x".into() }).await;
    alice.expect_error(ErrorCode::UnreachableUser).await;
    alice.send(&Packet::Spm { sender: "bob".into(), recipient: "bob".into(), message: "forged".into() }).await;
    alice.expect_error(ErrorCode::InvalidPseudonym).await;
    bob.expect_silence(QUIET).await;

    // Before a CR, a message is refused with the original's "not connected".
    let mut anon = Raw::connect(hub.chatos).await;
    anon.send(&Packet::Spm { sender: "x".into(), recipient: "bob".into(), message: "x".into() }).await;
    anon.expect_error(ErrorCode::NotConnected).await;
    hub.stop().await;
}

#[tokio::test]
async fn sma_reaches_every_other_user_never_the_sender() {
    let hub = start().await;
    let mut a = Raw::login(hub.chatos, "a").await;
    let mut b = Raw::login(hub.chatos, "b").await;
    let mut c = Raw::login(hub.chatos, "c").await;
    let mut unnamed = Raw::connect(hub.chatos).await;

    let sma = Packet::Sma { sender: "a".into(), message: "hello all".into() };
    a.send(&sma).await;
    a.expect_error(ErrorCode::Ok).await;
    b.expect(sma.clone()).await;
    c.expect(sma).await;
    a.expect_silence(QUIET).await;
    unnamed.expect_silence(Duration::from_millis(1)).await;

    a.send(&Packet::Sma { sender: "c".into(), message: "forged".into() }).await;
    a.expect_error(ErrorCode::InvalidPseudonym).await;
    b.expect_silence(QUIET).await;
    hub.stop().await;
}

/// 50 busy clients, one of which never reads: it is dropped when its outbound queue overflows,
/// and the 49 others get every message, in order per sender. Each busy client keeps at most
/// `WINDOW` messages ahead of the slowest sender it hears, as people in a lively room do.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_that_never_reads_is_dropped_and_others_get_everything() {
    const BUSY: usize = 49;
    const EACH: usize = 200;
    const WINDOW: usize = 4;
    let hub = start_with(|c| c.outbound_limit = 256 * 1024).await;
    let addr = hub.chatos;

    // The one that never reads, with a small receive window so that the server's queue fills.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = socket.connect(addr).await.unwrap();
    stuck.write_all(&Packet::Cr { pseudo: "stuck".into() }.to_bytes()).await.unwrap();

    let mut clients = Vec::new();
    for i in 0..BUSY {
        clients.push(Raw::login(addr, &format!("busy{i}")).await);
    }
    let padding = "x".repeat(900);
    let mut tasks = Vec::new();
    for (i, client) in clients.into_iter().enumerate() {
        let padding = padding.clone();
        tasks.push(tokio::spawn(async move {
            let mut stream = client.stream;
            let me = format!("busy{i}");
            // Per sender, the next sequence number expected from it.
            let mut next_seq = vec![0usize; BUSY];
            let (mut sent, mut oks, codec, mut buf) = (0, 0, Codec::default(), bytes::BytesMut::new());
            loop {
                let slowest = (0..BUSY).filter(|&j| j != i).map(|j| next_seq[j]).min().unwrap();
                while sent < EACH && sent <= slowest + WINDOW {
                    let sma = Packet::Sma { sender: me.clone(), message: format!("{sent} {padding}") };
                    stream.write_all(&sma.to_bytes()).await.unwrap();
                    sent += 1;
                }
                if slowest == EACH && oks == EACH {
                    break;
                }
                let n =
                    tokio::time::timeout(Duration::from_secs(30), stream.read_buf(&mut buf)).await.unwrap().unwrap();
                assert!(n > 0, "a busy client was disconnected");
                while let Some(p) = codec.decode(&mut buf).unwrap() {
                    match p {
                        Packet::Sma { sender, message } => {
                            let from: usize = sender.trim_start_matches("busy").parse().unwrap();
                            let seq: usize = message.split(' ').next().unwrap().parse().unwrap();
                            assert_eq!(seq, next_seq[from], "out of order from {sender}");
                            next_seq[from] += 1;
                        }
                        Packet::Error(1) => oks += 1,
                        other => panic!("unexpected {other:?}"),
                    }
                }
            }
            assert_eq!(next_seq[i], 0, "a sender got its own message back");
            stream
        }));
    }
    let mut streams = Vec::new();
    for t in tasks {
        streams.push(t.await.unwrap());
    }
    assert_eq!(hub.metrics().total(|d| d.slow_consumers.get()), 1);
    // The stuck reader finds its connection closed once it reads at last.
    let drained = tokio::time::timeout(crate::support::WAIT, async {
        let mut sink = vec![0; 1 << 16];
        loop {
            match stuck.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    })
    .await;
    assert!(drained.is_ok(), "the reader that never read is still connected");
    drop(streams);
    hub.stop().await;
}

//! Two `switchboard chathack` processes and a `switchboard serve` process: the server brokers
//! a direct connection, is killed, and the two clients still exchange messages and a file
//! over it. A peer that opens with the wrong id is refused.

use crate::support::{serve_process, Hack, Proc, WAIT};
use proto::chathack::{ClientPacket as C, Decoded, DirectPacket as D, ServerPacket as S};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A `switchboard serve` process on loopback ports; its ChatHack address.
async fn serve(data: &std::path::Path) -> (tokio::process::Child, SocketAddr) {
    let (child, addrs) = serve_process(data, &[]).await;
    (child, addrs.of("chathack"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_and_a_file_go_direct_even_with_the_server_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, addr) = serve(&dir.path().join("data")).await;
    let addr = addr.to_string();
    let (a_dir, b_dir) = (dir.path().join("alice"), dir.path().join("bob"));
    std::fs::create_dir_all(&a_dir).unwrap();
    std::fs::write(a_dir.join("notes.txt"), "twelve bytes").unwrap();
    std::fs::write(a_dir.join("big.bin"), vec![1u8; 2000]).unwrap();

    let downloads = |d: &std::path::Path| d.join("downloads").to_str().unwrap().to_owned();
    let mut alice =
        Proc::spawn(&["chathack", "--addr", &addr, "--login", "alice", "--downloads", &downloads(&a_dir)], &a_dir);
    alice.expect_line("connected as alice").await;
    let mut bob =
        Proc::spawn(&["chathack", "--addr", &addr, "--login", "bob", "--downloads", &downloads(&b_dir)], dir.path());
    bob.expect_line("connected as bob").await;

    alice.type_line("hello all").await;
    bob.expect_line("[all] alice: hello all").await;
    alice.expect_line("[all] alice: hello all").await;

    bob.type_line("/private alice").await;
    alice.expect_line("[private] bob asks for a private connection").await;
    alice.type_line("/deny bob").await;
    bob.expect_line("[private] alice denied the private connection").await;
    bob.type_line("/private alice").await;
    alice.expect_line("[private] bob asks for a private connection").await;
    alice.type_line("/accept bob").await;
    bob.expect_line("[private] direct connection with alice open").await;
    alice.expect_line("[private] direct connection with bob open").await;

    // The server goes away for good: what follows can only go direct.
    server.kill().await.unwrap();
    bob.expect_line("disconnected from the server").await;
    alice.expect_line("disconnected from the server").await;

    bob.type_line("/msg alice hi, direct").await;
    alice.expect_line("[msg] bob: hi, direct").await;
    alice.type_line("/send bob notes.txt").await;
    alice.expect_line("[file] sent notes.txt to bob (12 bytes)").await;
    bob.expect_line("[file] alice sent notes.txt: saved as").await;
    assert_eq!(std::fs::read_to_string(b_dir.join("downloads/notes.txt")).unwrap(), "twelve bytes");
    alice.type_line("/send bob big.bin").await;
    alice.expect_line("error: big.bin is too large (2000 bytes, limit 1024)").await;
    alice.type_line("/msg bob still fine").await;
    bob.expect_line("[msg] alice: still fine").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_peer_with_the_wrong_id_is_refused_and_oversized_files_too() {
    let dir = tempfile::tempdir().unwrap();
    let (_server, addr) = serve(&dir.path().join("data")).await;
    let mut bob = Proc::spawn(&["chathack", "--addr", &addr.to_string(), "--login", "bob"], dir.path());
    bob.expect_line("connected as bob").await;
    let mut mallory = Hack::guest(addr, "mallory").await;

    let accepted = |p: Option<S>| match p {
        Some(S::Accepted { port, address, id, .. }) => (SocketAddr::from((address, port as u16)), id),
        other => panic!("expected an accept, got {other:?}"),
    };
    mallory.send(&C::Ask { sender: "mallory".into(), receiver: "bob".into() }).await;
    bob.expect_line("[private] mallory asks").await;
    bob.type_line("/accept mallory").await;
    let (at, id) = accepted(mallory.next().await);

    // The wrong id: refused and closed.
    let mut wrong = TcpStream::connect(at).await.unwrap();
    wrong.write_all(&D::Open { login: "mallory".into(), id: id.wrapping_add(1) }.to_bytes()).await.unwrap();
    bob.expect_line("error: refused a direct connection claiming to be mallory").await;
    let mut sink = Vec::new();
    let ended = tokio::time::timeout(WAIT, wrong.read_to_end(&mut sink)).await;
    assert!(ended.is_ok(), "the refused connection is still open");
    assert!(sink.is_empty(), "bob sent something to a refused peer");

    // Asked again and accepted again: a new id, and the right one gets in.
    mallory.send(&C::Ask { sender: "mallory".into(), receiver: "bob".into() }).await;
    bob.expect_line("[private] mallory asks").await;
    bob.type_line("/accept mallory").await;
    let (at, id) = accepted(mallory.next().await);
    let mut right = TcpStream::connect(at).await.unwrap();
    right.write_all(&D::Open { login: "mallory".into(), id }.to_bytes()).await.unwrap();
    bob.expect_line("[private] direct connection with mallory open").await;

    // Over the limit: refused, and the connection carries on.
    let file = D::File { login: "mallory".into(), name: "big.bin".into(), data: vec![0u8; 5000].into() };
    right.write_all(&file.to_bytes()).await.unwrap();
    bob.expect_line("error: direct connection with mallory: sent more than 1024 bytes at once: refused").await;
    right.write_all(&D::Message { login: "mallory".into(), message: "small".into() }.to_bytes()).await.unwrap();
    bob.expect_line("[msg] mallory: small").await;
    bob.type_line("/msg mallory back at you").await;
    let mut codec = proto::chathack::Codec::default();
    let mut buf = bytes::BytesMut::new();
    let got = tokio::time::timeout(WAIT, async {
        loop {
            if let Some(Decoded::Packet(p)) = codec.decode_direct(&mut buf).unwrap() {
                return p;
            }
            right.read_buf(&mut buf).await.unwrap();
        }
    })
    .await
    .unwrap();
    assert_eq!(got, D::Message { login: "bob".into(), message: "back at you".into() });
}

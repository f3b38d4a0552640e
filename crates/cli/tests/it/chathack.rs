//! ChatHack over loopback: logins with and without password, global messages shared with
//! ChatOS, the brokering of direct connections, and bad input.

use crate::support::{start, start_with_accounts, Hack, Raw};
use proto::chathack::{ClientPacket as C, ServerPacket as S};
use proto::chatos::{ErrorCode, Packet};
use std::net::IpAddr;
use tokio::io::AsyncWriteExt;

fn with_password(login: &str, password: &str) -> C {
    C::LoginWithPassword { login: login.into(), password: password.into() }
}

async fn answer(addr: std::net::SocketAddr, login: C) -> Option<S> {
    let mut hack = Hack::connect(addr).await;
    hack.send(&login).await;
    hack.next().await
}

#[tokio::test]
async fn logins_with_and_without_password() {
    let hub = start_with_accounts(&[("Alice", "s3cret")]).await;
    let addr = hub.chathack;
    assert_eq!(answer(addr, with_password("alice", "wrong")).await, Some(S::Ack(2)));
    assert_eq!(answer(addr, with_password("nobody", "s3cret")).await, Some(S::Ack(2)));
    // A guest cannot take an account's name, on ChatHack or ChatOS.
    assert_eq!(answer(addr, C::Login { login: "alice".into() }).await, Some(S::Ack(4)));
    let mut alice = Hack::connect(addr).await;
    alice.send(&with_password("alice", "s3cret")).await;
    alice.expect(S::Ack(3)).await;
    // Connected: taken for everyone, with or without the password.
    assert_eq!(answer(addr, with_password("alice", "s3cret")).await, Some(S::Ack(4)));
    assert_eq!(answer(addr, C::Login { login: "guest".into() }).await, Some(S::Ack(3)));
    let _guest = Hack::guest(addr, "bob").await;
    assert_eq!(answer(addr, C::Login { login: "BOB".into() }).await, Some(S::Ack(4)));
    let mut os = Raw::connect(hub.chatos).await;
    os.send(&Packet::Cr { pseudo: "bob".into() }).await;
    os.expect_error(ErrorCode::PseudoUnavailable).await;
    assert_eq!(answer(addr, C::Login { login: "no spaces".into() }).await, Some(S::Ack(2)));
    hub.stop().await;
}

#[tokio::test]
async fn global_messages_reach_chathack_and_chatos_alike() {
    let hub = start().await;
    let mut ann = Hack::guest(hub.chathack, "ann").await;
    let mut ben = Hack::guest(hub.chathack, "ben").await;
    let mut os = Raw::login(hub.chatos, "os").await;

    ann.send(&C::Global { login: "ann".into(), message: "hello all".into() }).await;
    let global = S::Global { login: "ann".into(), message: "hello all".into() };
    ann.expect(global.clone()).await; // the sender too, as the original does
    ben.expect(global).await;
    os.expect(Packet::Sma { sender: "ann".into(), message: "hello all".into() }).await;

    os.send(&Packet::Sma { sender: "os".into(), message: "from chatos".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    ann.expect(S::Global { login: "os".into(), message: "from chatos".into() }).await;
    ben.expect(S::Global { login: "os".into(), message: "from chatos".into() }).await;

    // A login field that is not the connection's own is a packet error.
    ann.send(&C::Global { login: "ben".into(), message: "forged".into() }).await;
    ann.expect(S::Ack(1)).await;
    // Before login, too.
    let mut anon = Hack::connect(hub.chathack).await;
    anon.send(&C::Global { login: "x".into(), message: "y".into() }).await;
    anon.expect(S::Ack(1)).await;
    hub.stop().await;
}

#[tokio::test]
async fn direct_connections_are_brokered() {
    let hub = start().await;
    let mut a = Hack::guest(hub.chathack, "a").await;
    let mut b = Hack::guest(hub.chathack, "b").await;
    a.send(&C::Ask { sender: "a".into(), receiver: "b".into() }).await;
    b.expect(S::Asked { login: "a".into() }).await;
    let address: IpAddr = "127.0.0.1".parse().unwrap();
    b.send(&C::Accept { sender: "b".into(), receiver: "a".into(), port: 40404, address, id: -7 }).await;
    a.expect(S::Accepted { login: "b".into(), port: 40404, address, id: -7 }).await;

    a.send(&C::Ask { sender: "a".into(), receiver: "b".into() }).await;
    b.expect(S::Asked { login: "a".into() }).await;
    b.send(&C::Deny { sender: "b".into(), receiver: "a".into() }).await;
    a.expect(S::Denied { login: "b".into() }).await;

    // Nobody asked: a packet error. Unknown or ChatOS recipients: denied at once.
    b.send(&C::Deny { sender: "b".into(), receiver: "a".into() }).await;
    b.expect(S::Ack(1)).await;
    let _os = Raw::login(hub.chatos, "os").await;
    for to in ["ghost", "os"] {
        a.send(&C::Ask { sender: "a".into(), receiver: to.into() }).await;
        a.expect(S::Denied { login: to.into() }).await;
    }
    hub.stop().await;
}

#[tokio::test]
async fn oversized_messages_are_refused_and_the_connection_goes_on() {
    let hub = start().await;
    let mut a = Hack::guest(hub.chathack, "a").await;
    let mut b = Hack::guest(hub.chathack, "b").await;
    a.send(&C::Global { login: "a".into(), message: "x".repeat(1025) }).await;
    a.expect(S::Ack(1)).await;
    a.send(&C::Global { login: "a".into(), message: "x".repeat(1024) }).await;
    let ok = S::Global { login: "a".into(), message: "x".repeat(1024) };
    a.expect(ok.clone()).await;
    b.expect(ok).await;

    // Broken framing: ACK 1, then closed; everyone else carries on.
    let mut bad = Hack::guest(hub.chathack, "bad").await;
    bad.stream.write_all(b"\x03\xff\xff\xff\xff").await.unwrap();
    bad.expect(S::Ack(1)).await;
    assert_eq!(bad.next().await, None);
    let mut noise = Hack::connect(hub.chathack).await;
    let _ = noise.stream.write_all(&[0x42; 4096]).await;
    noise.expect(S::Ack(1)).await;
    let mut cut = Hack::connect(hub.chathack).await;
    cut.stream.write_all(b"\x02\x00\x00\x00\x09half").await.unwrap();
    cut.stream.shutdown().await.unwrap();
    assert_eq!(cut.next().await, None);

    b.send(&C::Global { login: "b".into(), message: "still here".into() }).await;
    b.expect(S::Global { login: "b".into(), message: "still here".into() }).await;
    a.expect(S::Global { login: "b".into(), message: "still here".into() }).await;
    hub.stop().await;
}

#[tokio::test]
async fn accounts_survive_a_restart() {
    let hub = start_with_accounts(&[]).await;
    let mut admin = store::Store::open(&hub.data_dir()).unwrap();
    admin.add_account("carol", "pw").unwrap();
    drop(admin);
    let hub = hub.restart().await;
    assert_eq!(answer(hub.chathack, with_password("carol", "pw")).await, Some(S::Ack(3)));
    assert_eq!(answer(hub.chathack, with_password("carol", "nope")).await, Some(S::Ack(2)));
    hub.stop().await;
}

#[tokio::test]
async fn the_optional_word_filter_censors_the_lobby() {
    let words = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(words.path(), "# banned\ndarn\n").unwrap();
    let path = words.path().to_owned();
    let hub = crate::support::start_with(|c| c.word_filter = Some(path)).await;
    let mut hack = Hack::guest(hub.chathack, "ann").await;
    let mut os = Raw::login(hub.chatos, "os").await;
    hack.send(&C::Global { login: "ann".into(), message: "Darn, darned!".into() }).await;
    hack.expect(S::Global { login: "ann".into(), message: "****, darned!".into() }).await;
    os.expect(Packet::Sma { sender: "ann".into(), message: "****, darned!".into() }).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_megabyte_of_random_bytes_never_hurts() {
    use rand::RngCore;
    let hub = start().await;
    let mut a = Hack::guest(hub.chathack, "a").await;
    for _ in 0..4 {
        let mut noise = vec![0u8; 1 << 20];
        rand::thread_rng().fill_bytes(&mut noise);
        let mut raw = Hack::connect(hub.chathack).await;
        let _ = raw.stream.write_all(&noise).await;
        // Whatever it answered (ACK 1, perhaps after refusing an oversized message), it closes.
        while raw.next().await.is_some() {}
    }
    a.send(&C::Global { login: "a".into(), message: "after the noise".into() }).await;
    a.expect(S::Global { login: "a".into(), message: "after the noise".into() }).await;
    hub.stop().await;
}

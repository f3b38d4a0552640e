//! Names with an account are reserved on every protocol: a ChatOS guest cannot take one,
//! whether the account existed when the hub started or was added while it runs.

use crate::support::{start_with_accounts, Raw, WAIT};
use proto::chatos::{ErrorCode, Packet};
use std::time::Duration;

/// A guest's CR for `name` on a fresh connection: the answer.
async fn guest_cr(addr: std::net::SocketAddr, name: &str) -> Packet {
    let mut raw = Raw::connect(addr).await;
    raw.send(&Packet::Cr { pseudo: name.into() }).await;
    raw.recv().await
}

/// Retries a guest's CR for `name` until it gets `want` (the hub notices account changes
/// within a second or so).
async fn eventually(addr: std::net::SocketAddr, name: &str, want: ErrorCode) {
    let tries = async {
        while guest_cr(addr, name).await != Packet::error(want) {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    tokio::time::timeout(WAIT, tries).await.unwrap_or_else(|_| panic!("{name}: never {want:?}"));
}

#[tokio::test]
async fn a_chatos_guest_cannot_take_an_accounts_name() {
    let hub = start_with_accounts(&[("Alice", "pw")]).await;
    assert_eq!(guest_cr(hub.chatos, "alice").await, Packet::error(ErrorCode::PseudoUnavailable));
    assert_eq!(guest_cr(hub.chatos, "ALICE").await, Packet::error(ErrorCode::PseudoUnavailable));
    assert_eq!(guest_cr(hub.chatos, "bob").await, Packet::error(ErrorCode::Ok));

    // Accounts added and removed while the hub runs, from another connection to the store (as
    // `switchboard accounts` does), take effect without a restart.
    let mut admin = store::Store::open(&hub.data_dir()).unwrap();
    admin.add_account("carol", "pw").unwrap();
    eventually(hub.chatos, "carol", ErrorCode::PseudoUnavailable).await;
    admin.remove_account("alice").unwrap();
    eventually(hub.chatos, "alice", ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test]
async fn white_listed_names_are_reserved_too() {
    let hub = start_with_accounts(&[]).await;
    let mut admin = store::Store::open(&hub.data_dir()).unwrap();
    admin.whitelist_add("lindsay", 0x0242_ac11_0002).unwrap();
    eventually(hub.chatos, "Lindsay", ErrorCode::PseudoUnavailable).await;
    admin.whitelist_remove("lindsay").unwrap();
    eventually(hub.chatos, "lindsay", ErrorCode::Ok).await;
    hub.stop().await;
}

/// Look-alikes of the account `alice`: Cyrillic letters, fullwidth forms, a dotted capital I;
/// then names with invisible, soft-hyphen and bidi-control characters.
const LOOK_ALIKES: [&str; 4] = ["\u{430}lice", "ali\u{441}e", "ａｌｉｃｅ", "ALİCE"];
const INVISIBLE: [&str; 3] = ["alice\u{200B}", "al\u{AD}ice", "\u{202E}ecila"];

#[tokio::test]
async fn look_alike_and_invisible_names_are_refused_on_chatos_chathack_and_the_web() {
    use crate::support::Hack;
    use crate::web::answer;
    use proto::chathack::{ClientPacket, ServerPacket};
    let hub = start_with_accounts(&[("alice", "pw")]).await;
    let http = reqwest::Client::new();
    let sign_in = |name: &str| {
        let request = http.post(format!("http://{}/api/session", hub.web)).json(&serde_json::json!({ "name": name }));
        async move { answer(request.send().await.unwrap()).await }
    };
    for (names, chatos, chathack, web) in [
        (&LOOK_ALIKES[..], ErrorCode::PseudoUnavailable, 4, (409, "name_taken")),
        (&INVISIBLE[..], ErrorCode::InvalidPseudonym, 2, (400, "invalid_name")),
    ] {
        for &name in names {
            assert_eq!(guest_cr(hub.chatos, name).await, Packet::error(chatos), "chatos {name:?}");
            let mut hack = Hack::connect(hub.chathack).await;
            hack.send(&ClientPacket::Login { login: name.into() }).await;
            hack.expect(ServerPacket::Ack(chathack)).await;
            let (status, body) = sign_in(name).await;
            assert_eq!((status, body["code"].as_str().unwrap()), web, "web {name:?}");
        }
    }
    // A look-alike of someone connected is refused too, and free again once they leave.
    let bob = Raw::login(hub.chatos, "bob").await;
    assert_eq!(guest_cr(hub.chatos, "b\u{43E}b").await, Packet::error(ErrorCode::PseudoUnavailable));
    assert_eq!(sign_in("ＢＯＢ").await.0, 409);
    drop(bob);
    eventually(hub.chatos, "b\u{43E}b", ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test]
async fn a_chatos_pseudonym_that_is_not_utf8_gets_error_3_and_the_connection_goes_on() {
    let hub = start_with_accounts(&[]).await;
    let mut raw = Raw::connect(hub.chatos).await;
    raw.send_bytes(b"\x01\x00\x02\xc3\x28").await;
    raw.expect_error(ErrorCode::InvalidPseudonym).await;
    raw.send(&Packet::Cr { pseudo: "ann".into() }).await;
    raw.expect_error(ErrorCode::Ok).await;
    hub.stop().await;
}

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

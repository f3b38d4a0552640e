//! Two `switchboard chatos` processes against the real server: a private message, a lobby
//! message, a refused and an accepted private connection, and a file fetched over it.

use crate::support::{count, start, Proc, Raw};
use proto::chatos::{ErrorCode, Packet};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_clients_message_and_fetch_a_file() {
    let hub = start().await;
    let addr = hub.chatos.to_string();
    let dir = tempfile::tempdir().unwrap();
    let (share, downloads) = (dir.path().join("share"), dir.path().join("downloads"));
    std::fs::create_dir_all(share.join("docs")).unwrap();
    std::fs::create_dir_all(&downloads).unwrap();
    let content: Vec<u8> = (0..300_000u32).flat_map(|i| i.to_le_bytes()).collect();
    std::fs::write(share.join("docs/big.bin"), &content).unwrap();
    std::fs::write(dir.path().join("secret.txt"), "outside the share").unwrap();

    let share_arg = share.to_str().unwrap();
    let mut alice = Proc::spawn(&["chatos", "--addr", &addr, "--pseudo", "alice", "--share", share_arg], dir.path());
    alice.expect_line("connected as alice").await;
    let mut bob = Proc::spawn(&["chatos", "--addr", &addr, "--pseudo", "bob"], &downloads);
    bob.expect_line("connected as bob").await;

    // A raw watcher sees what goes to the lobby.
    let mut watcher = Raw::login(hub.chatos, "watcher").await;
    bob.type_line("hello everyone").await;
    alice.expect_line("[lobby] bob: hello everyone").await;
    watcher.expect(Packet::Sma { sender: "bob".into(), message: "hello everyone".into() }).await;
    bob.type_line("@alice just for you").await;
    alice.expect_line("[private] bob: just for you").await;
    bob.type_line("@nobody hello?").await;
    bob.expect_line("error: unreachable user").await;

    // Refused, then accepted.
    bob.type_line("/connect alice").await;
    alice.expect_line("[link] bob asks for a private connection").await;
    alice.type_line("/refuse bob").await;
    bob.expect_line("[link] no private connection with alice").await;
    bob.type_line("/connect alice").await;
    alice.expect_line("[link] bob asks for a private connection").await;
    alice.type_line("/accept bob").await;
    alice.expect_line("[link] private connection with bob open").await;
    bob.expect_line("[link] private connection with alice open").await;

    bob.type_line("/get alice docs/big.bin").await;
    bob.expect_line("[file] alice:docs/big.bin saved as big.bin (1200000 bytes)").await;
    assert_eq!(std::fs::read(downloads.join("big.bin")).unwrap(), content);
    bob.type_line("/get alice ../secret.txt stolen.txt").await;
    bob.expect_line("[file] alice has no file ../secret.txt (404)").await;
    assert!(!downloads.join("stolen.txt").exists());

    // The private connection went through the hub's relay.
    assert_eq!(count(&hub.metrics().links_relayed), 1);

    // A taken pseudonym is refused with its meaning.
    let mut twin = Proc::spawn(&["chatos", "--addr", &addr, "--pseudo", "alice"], dir.path());
    twin.expect_line("error: pseudonym unavailable").await;
    assert!(!twin.child.wait().await.unwrap().success());

    alice.type_line("/quit").await;
    assert!(alice.child.wait().await.unwrap().success());
    // Her name is released once the hub sees her connection close.
    let spm = Packet::Spm { sender: "watcher".into(), recipient: "alice".into(), message: "x".into() };
    let gone = async {
        loop {
            watcher.send(&spm).await;
            if watcher.recv().await == Packet::error(ErrorCode::UnreachableUser) {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(crate::support::WAIT, gone).await.expect("alice is still online after /quit");
    hub.stop().await;
}

//! A damaged store: refused at start with how to recover it, and, served anyway when told
//! to, never taken for an empty one: a queue whose page cannot be read stays queued, its
//! owner is told, and `/healthz` says the store is failing.

use crate::support::{config_in, start_in_dir, WAIT};
use crate::web::Web;
use rand::{RngCore, SeedableRng};
use serde_json::json;

/// Messages queued for ann, each about a page of the database long.
const QUEUED: usize = 1000;

/// A data folder whose store has the account ann (password `secret`) and `QUEUED` messages
/// waiting for her, then 8 KiB of random bytes written over the middle of its file.
fn damaged_store() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut store = store::Store::open(&data).unwrap();
    store.add_account("ann", "secret").unwrap();
    let records: Vec<store::Record> = (0..QUEUED)
        .map(|n| store::Record {
            at_ms: 1_700_000_000_000 + n as i64,
            sender: "bob".into(),
            sender_guest: None,
            recipient: Some("ann".into()),
            recipient_guest: None,
            kind: 0,
            body: format!("{n:04} {}", "x".repeat(3000)),
            offline: true,
        })
        .collect();
    store.append(&records).unwrap();
    drop(store); // the last connection checkpoints the WAL into the file
    let file = data.join(store::FILE);
    let mut bytes = std::fs::read(&file).unwrap();
    let middle = bytes.len() / 2 / 4096 * 4096;
    rand::rngs::StdRng::seed_from_u64(18).fill_bytes(&mut bytes[middle..middle + 8192]);
    std::fs::write(&file, bytes).unwrap();
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_store_is_not_served_and_the_error_says_how_to_recover_it() {
    let dir = damaged_store();
    let refused = server::start(config_in(&dir, |_| {})).await.err().expect("a damaged store was served");
    let said = format!("{refused:#}");
    let file = dir.path().join("data").join(store::FILE);
    assert!(said.contains(&format!("the store {} is damaged", file.display())), "{said}");
    let recover = format!("switchboard store recover --data-dir {}", dir.path().join("data").display());
    assert!(said.contains(&recover), "how to recover: {said}");
    assert!(said.contains("--store-check-secs 0"), "how to serve it anyway: {said}");

    // Done as it says: what can be read is served again, the damaged file kept beside it.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["store", "recover", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}{}", String::from_utf8_lossy(&out.stderr));
    assert!(said.contains("accounts: 1 rows"), "{said}");
    assert!(said.contains("the damaged file is kept as"), "{said}");
    let kept = std::fs::read_dir(dir.path().join("data"))
        .unwrap()
        .filter_map(|e| e.ok())
        .any(|e| e.file_name().to_string_lossy().starts_with("switchboard.db.damaged-"));
    assert!(kept, "the damaged file is kept");
    let check = std::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["store", "check", "--data-dir"])
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(check.status.success(), "{}", String::from_utf8_lossy(&check.stderr));
    let hub = start_in_dir(dir, |_| {}).await;
    let mut ann = Web::sign_in_with(&hub, json!({ "name": "ann", "password": "secret" })).await;
    let first = ann.message().await;
    assert_eq!(first["text"].as_str().unwrap()[..4], *"0000", "her queue, from its start: {first}");
    hub.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queue_whose_page_cannot_be_read_stays_queued_and_its_owner_is_told() {
    let hub = start_in_dir(damaged_store(), |c| c.store_check_secs = 0).await;
    let health = format!("http://{}/healthz", hub.web);
    assert_eq!(crate::metrics::get(&health).await.0, 200, "nothing failed yet");
    let mut ann = Web::sign_in_with(&hub, json!({ "name": "ann", "password": "secret" })).await;
    // Her queue comes in order up to the damage; then she is told, by support, that the rest
    // cannot be read now.
    let mut got = 0;
    loop {
        let m = ann.message().await;
        if m["from"] == "support" {
            assert_eq!(m["text"], hub::QUEUE_UNREADABLE);
            break;
        }
        assert_eq!(m["text"].as_str().unwrap()[..4], format!("{got:04}"), "in order");
        got += 1;
    }
    assert!(got < QUEUED, "the damage is in the middle of her queue");
    // The hub says its store is failing.
    let (status, body) = crate::metrics::get(&health).await;
    assert_eq!(status, 503, "{body}");
    assert!(body.contains("the store failed") && body.contains("reading a page of a queue"), "{body}");
    assert_eq!(hub.metrics().store_read_failed.get(), 1);
    // What is sent to her meanwhile joins her queue (answered once stored), behind the rest:
    // the drain did not end.
    let bob = Web::sign_in(&hub, "bob").await;
    let sent = std::time::Instant::now();
    bob.say("ann", "meanwhile").await;
    assert!(sent.elapsed() < WAIT / 2, "answered at once: {:?}", sent.elapsed());
    let store = hub.running.as_ref().unwrap().store().clone();
    let queued = store.call(|s| s.queued_count("ann")).await.unwrap().unwrap();
    assert_eq!(queued, QUEUED - got + 1, "what was not handed over stays queued");
    hub.stop().await;
}

//! `switchboard accounts` as a process, against a store in a temporary folder.

use std::process::{Command, Stdio};

/// Runs `switchboard accounts --data-dir DIR ARGS` with `stdin`; its success, stdout, stderr.
fn accounts(dir: &std::path::Path, args: &[&str], stdin: &str) -> (bool, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("accounts")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(stdin.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn add_list_passwd_remove_import() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(accounts(&data, &["add", "Alice", "--password-stdin"], "s3cret\n").1, "added account Alice\n");
    let (ok, _, err) = accounts(&data, &["add", "alice", "--password-stdin"], "other\n");
    assert!(!ok);
    assert_eq!(err, "error: an account named alice already exists\n");
    // Without a terminal and without --password-stdin, it says what to do.
    let (ok, _, err) = accounts(&data, &["add", "bob"], "");
    assert!(!ok && err.contains("--password-stdin"), "{err}");

    std::fs::write(dir.path().join("users.txt"), "bob$pw\ncarol$pw2\nbroken\n").unwrap();
    let users = dir.path().join("users.txt");
    let (ok, out, err) = accounts(&data, &["import", users.to_str().unwrap()], "");
    assert!(ok);
    assert_eq!(out, "imported 2 accounts, skipped 1 lines\n");
    assert!(err.contains(":3: skipped: no $ between login and password"), "{err}");

    let names: Vec<String> =
        accounts(&data, &["list"], "").1.lines().map(|l| l.split('\t').next().unwrap().to_owned()).collect();
    assert_eq!(names, ["Alice", "bob", "carol"]);

    assert!(accounts(&data, &["passwd", "ALICE", "--password-stdin"], "n3w\n").0);
    assert!(!accounts(&data, &["passwd", "zed", "--password-stdin"], "x\n").0);
    assert!(accounts(&data, &["remove", "bob"], "").0);
    assert!(!accounts(&data, &["remove", "bob"], "").0);

    // What the commands did is in the store, hashed.
    let store = store::Store::open(&data).unwrap();
    assert_eq!(store.verify("alice", "n3w").unwrap(), store::Verdict::Ok("Alice".into()));
    assert_eq!(store.verify("alice", "s3cret").unwrap(), store::Verdict::WrongPassword);
    assert_eq!(store.verify("bob", "pw").unwrap(), store::Verdict::NoAccount);
    assert_eq!(store.verify("carol", "pw2").unwrap(), store::Verdict::Ok("carol".into()));
}

/// Runs `switchboard whitelist --data-dir DIR ARGS`; its success, stdout, stderr.
fn whitelist(dir: &std::path::Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("whitelist")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .output()
        .unwrap();
    (out.status.success(), String::from_utf8(out.stdout).unwrap(), String::from_utf8(out.stderr).unwrap())
}

#[test]
fn whitelist_add_list_remove() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    assert_eq!(
        whitelist(&data, &["add", "Lindsay", "02:42:AC:11:00:02"]).1,
        "white-listed Lindsay (02:42:ac:11:00:02)\n"
    );
    assert!(whitelist(&data, &["add", "pc", "1"]).0);
    let (ok, _, err) = whitelist(&data, &["add", "again", "2485377892354"]);
    assert!(!ok);
    assert_eq!(err, "error: the MAC address 02:42:ac:11:00:02 is already on the white-list\n");
    let (ok, _, err) = whitelist(&data, &["add", "x", "not-a-mac"]);
    assert!(!ok && err.contains("is not a MAC address"), "{err}");
    assert_eq!(whitelist(&data, &["list"]).1, "Lindsay\t02:42:ac:11:00:02\t2485377892354\npc\t00:00:00:00:00:01\t1\n");
    assert!(whitelist(&data, &["remove", "PC"]).0);
    assert!(!whitelist(&data, &["remove", "pc"]).0);
    let store = store::Store::open(&data).unwrap();
    assert_eq!(store.device_by_mac(0x0242_ac11_0002).unwrap().as_deref(), Some("Lindsay"));
}

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

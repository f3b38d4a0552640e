//! `switchboard serve` as a process: configured from a TOML file and flags, announcing where
//! it listens, and stopping cleanly on SIGTERM and SIGINT.

use crate::support::{Raw, WAIT};
use proto::chatos::{ErrorCode, Packet};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

async fn stops_cleanly_on(signal: &str) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("switchboard.toml");
    let data = dir.path().join("data");
    let toml = format!("chatos_addr = \"127.0.0.1:0\"\nchathack_addr = \"127.0.0.1:0\"\njpc_addr = \"127.0.0.1:0\"\nweb_addr = \"127.0.0.1:0\"\nnl_addr = \"127.0.0.1:0\"\nmetrics_addr = \"127.0.0.1:0\"\ndata_dir = {data:?}\n");
    std::fs::write(&config, toml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--config", config.to_str().unwrap(), "--max-string", "16"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = tokio::time::timeout(WAIT, stdout.next_line()).await.unwrap().unwrap().unwrap();
    let addr = line.strip_prefix("listening chatos ").expect("a readiness line").parse().unwrap();
    assert!(data.is_dir(), "the data folder is created on start");

    let mut a = Raw::login(addr, "a").await;
    // The flag won over the default: 17 bytes is over the limit, and the connection is closed.
    let mut b = Raw::login(addr, "b").await;
    b.send(&Packet::Sma { sender: "b".into(), message: "x".repeat(17) }).await;
    b.expect_closed().await;
    a.send(&Packet::Sma { sender: "a".into(), message: "still up".into() }).await;
    a.expect_error(ErrorCode::Ok).await;

    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args([signal, &pid]).status().unwrap().success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("the server did not stop").unwrap();
    assert!(status.success(), "exit status {status:?}");
    a.expect_closed().await;
    let mut logs = String::new();
    tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut logs).await.unwrap();
    assert!(logs.contains("metrics"), "the metrics are logged on the way out: {logs}");
    assert!(!logs.contains("panicked"), "{logs}");
}

#[tokio::test]
async fn configured_by_file_and_flags_and_stops_on_sigterm() {
    stops_cleanly_on("-TERM").await;
}

#[tokio::test]
async fn stops_on_sigint() {
    stops_cleanly_on("-INT").await;
}

/// Whoever started the hub may close its stdout: the hub must not die of it. Here its stdout
/// is a pipe whose reading end is closed before it starts, so its every write fails.
#[tokio::test]
async fn a_closed_stdout_does_not_kill_the_hub() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let addr: std::net::SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--loopback", "--chatos-addr"])
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .stdout(Stdio::from(writer))
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let up = async {
        loop {
            if let Ok(stream) = tokio::net::TcpStream::connect(addr).await {
                return stream;
            }
            assert!(child.try_wait().unwrap().is_none(), "the hub died when its stdout was closed");
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    drop(tokio::time::timeout(WAIT, up).await.expect("the hub never listened"));
    let mut a = Raw::login(addr, "still-serving").await;
    // The hub answers SIGTERM only once it has written its readiness lines: a clean exit on
    // it shows that those writes failed without killing it (a panic would exit with 101).
    let pid = child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = tokio::time::timeout(WAIT, child.wait()).await.expect("the server did not stop").unwrap();
    assert!(status.success(), "the hub died when its stdout was closed: {status:?}");
    a.expect_closed().await;
}

/// A hub holds its data folder: a second `serve` on it stops at once, saying which folder and
/// which process holds it, while `accounts` still works beside the running hub.
#[tokio::test]
async fn a_second_hub_on_one_data_folder_stops_at_once_and_admin_commands_still_work() {
    let hub = crate::support::start().await;
    let data = hub.data_dir();
    let second = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["serve", "--loopback", "--data-dir"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(WAIT, second).await.expect("the second hub kept running").unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(!out.status.success(), "the second hub started: {stdout}");
    assert!(!stdout.contains("ready"), "{stdout}");
    assert!(stderr.contains(&data.display().to_string()), "the error names the folder: {stderr}");
    assert!(stderr.contains(&format!("process {}", std::process::id())), "and the holder: {stderr}");

    let add = Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .args(["accounts", "add", "carol", "--password-stdin", "--data-dir"])
        .arg(&data)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut add = add;
    tokio::io::AsyncWriteExt::write_all(add.stdin.as_mut().unwrap(), b"pw\n").await.unwrap();
    drop(add.stdin.take());
    let added = tokio::time::timeout(WAIT, add.wait_with_output()).await.unwrap().unwrap();
    assert!(added.status.success(), "{}", String::from_utf8_lossy(&added.stderr));
    // The running hub signs the new account in.
    let web = crate::web::Web::sign_in_with(&hub, serde_json::json!({ "name": "carol", "password": "pw" })).await;
    assert_eq!(web.name, "carol");
    hub.stop().await;
}

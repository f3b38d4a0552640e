//! `switchboard bench` itself, run as a user would, on small loads: side by side with Debian's
//! `nats-server`, under callgrind (Debian's valgrind), and with another build's server
//! (`scripts/test` installs both programs).

use std::process::Stdio;
use std::time::Duration;

/// Runs `switchboard bench ARGS`; returns its standard output, once it succeeded.
async fn bench(args: &[&str]) -> String {
    let run = tokio::process::Command::new(env!("CARGO_BIN_EXE_switchboard"))
        .arg("bench")
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run).await.expect("the bench never ended").unwrap();
    let (stdout, stderr) = (String::from_utf8(out.stdout).unwrap(), String::from_utf8_lossy(&out.stderr).into_owned());
    assert!(out.status.success(), "bench {args:?} failed: {stdout}\n{stderr}");
    stdout
}

/// The table's rows of results, each split into its cells.
fn rows(out: &str) -> Vec<Vec<String>> {
    out.lines()
        .filter(|l| l.starts_with("| switchboard |") || l.starts_with("| nats-server |"))
        .map(|l| l.trim_matches('|').split('|').map(|c| c.trim().to_owned()).collect())
        .collect()
}

#[tokio::test]
async fn bench_runs_the_same_load_against_nats_server_and_prints_the_ratio() {
    let out = bench(&["--nats", "--clients", "10", "--messages", "200", "--size", "50"]).await;
    let rows = rows(&out);
    assert_eq!(rows.len(), 2, "{out}");
    for (row, server) in rows.iter().zip(["switchboard", "nats-server"]) {
        // server, N, messages, deliveries (9 receivers each), lost.
        assert_eq!(row[..5], [server, "10", "200", "1800", "0"], "{out}");
    }
    let ratio = out.lines().find(|l| l.starts_with("N=10: switchboard ")).expect("no ratio line");
    let times: f64 = ratio.strip_suffix(" x NATS").and_then(|r| r.rsplit(' ').next()).unwrap().parse().unwrap();
    assert!(times > 0.0, "{ratio}");
}

/// With `--irc`, those who only listen are IRC clients in `#lobby`: every message reaches them.
#[tokio::test]
async fn bench_loads_irc_listeners() {
    let out = bench(&["--irc", "--clients", "12", "--senders", "2", "--messages", "100", "--size", "50"]).await;
    let rows = rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    // 100 messages to 11 receivers each (10 of them on IRC), none lost.
    assert_eq!(rows[0][..5], ["switchboard", "12", "100", "1100", "0"], "{out}");
}

#[tokio::test]
async fn bench_counts_the_hub_s_instructions_per_delivery_under_callgrind() {
    let out = bench(&["--instructions", "--clients", "5", "--messages", "50", "--size", "50"]).await;
    let rows = rows(&out);
    assert_eq!(rows.len(), 1, "{out}");
    assert_eq!(rows[0][3..5], ["200", "0"], "{out}");
    let per_delivery: f64 = rows[0].last().unwrap().parse().unwrap_or_else(|_| panic!("no count: {out}"));
    assert!(per_delivery > 0.0, "{out}");
}

#[tokio::test]
async fn bench_starts_the_server_of_server_bin() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    // Another build, as far as the bench knows: a script that notes its run, then serves.
    let (script, ran) = (dir.path().join("other-build"), dir.path().join("ran"));
    let text =
        format!("#!/bin/sh\necho \"$@\" > '{}'\nexec '{}' \"$@\"\n", ran.display(), env!("CARGO_BIN_EXE_switchboard"));
    std::fs::write(&script, text).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let out = bench(&["--server-bin", script.to_str().unwrap(), "--clients", "5", "--messages", "20"]).await;
    assert_eq!(rows(&out)[0][3..5], ["80", "0"], "{out}");
    assert!(std::fs::read_to_string(&ran).unwrap().starts_with("serve --loopback"));
}

#[tokio::test]
async fn bench_of_a_cluster_says_what_each_process_holds_for_the_idle_connections() {
    let out = bench(&["--cluster-nodes", "2", "--clients", "6", "--messages", "20", "--size", "50"]).await;
    assert_eq!(rows(&out)[0][3..5], ["100", "0"], "{out}");
    let line = out.lines().find(|l| l.starts_with("N=6: idle anon RSS per connection by process: ")).expect("no line");
    let parts: Vec<&str> = line.split(": ").nth(2).unwrap().split(", ").collect();
    assert_eq!(parts.len(), 3, "{line}");
    for (part, who) in parts.iter().zip(["nats-server ", "node 0 ", "node 1 "]) {
        let kb: f64 = part.strip_prefix(who).and_then(|p| p.strip_suffix(" KB")).unwrap().parse().unwrap();
        assert!(kb >= 0.0, "{line}");
    }
}

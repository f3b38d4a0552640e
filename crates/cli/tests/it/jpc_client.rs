//! `switchboard jpc` against a `switchboard serve` process: it prints messages, saves images,
//! answers into ChatOS, and comes back by itself after the server is killed and restarted.

use crate::support::{serve_process, Proc, Raw, WAIT};
use proto::chatos::{ErrorCode, Packet};
use std::net::SocketAddr;
use std::time::Duration;

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A `switchboard serve` process whose ChatOS and JPC doors are at these fixed addresses, so
/// that a restart finds them again.
pub async fn serve(data: &std::path::Path, chatos: SocketAddr, jpc: SocketAddr) -> tokio::process::Child {
    serve_process(data, &["--chatos-addr", &chatos.to_string(), "--jpc-addr", &jpc.to_string()]).await.0
}

/// Logs `os` in on ChatOS and sends `text` to lindsay, retrying until the hub knows her.
async fn tell_lindsay(chatos: SocketAddr, text: &str) -> Raw {
    let mut os = Raw::login(chatos, "os").await;
    let spm = Packet::Spm { sender: "os".into(), recipient: "lindsay".into(), message: text.into() };
    let sent = async {
        loop {
            os.send(&spm).await;
            if os.recv().await == Packet::error(ErrorCode::Ok) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    };
    tokio::time::timeout(WAIT, sent).await.expect("lindsay never came online");
    os
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_prints_saves_answers_and_reconnects_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    store::Store::open(&data).unwrap().whitelist_add("lindsay", 0x0242_ac11_0002).unwrap();
    let chatos: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let jpc: SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
    let mut server = serve(&data, chatos, jpc).await;

    let picture: Vec<u8> = [&[0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A][..], &[7u8; 3000]].concat();
    std::fs::write(dir.path().join("pic.png"), &picture).unwrap();
    let downloads = dir.path().join("downloads");
    let args =
        ["jpc", "--addr", &jpc.to_string(), "--mac", "02:42:ac:11:00:02", "--downloads", downloads.to_str().unwrap()];
    let mut device = Proc::spawn(&args, dir.path());
    device.expect_line("[jpc] connected").await;

    let mut os = tell_lindsay(chatos, "hello device").await;
    device.expect_line("[tell] os: hello device").await;
    device.type_line("@os hello hub").await;
    os.expect(Packet::Spm { sender: "lindsay".into(), recipient: "os".into(), message: "hello hub".into() }).await;
    device.type_line("/image lindsay pic.png").await;
    let saved = device.expect_line("[image] lindsay: saved as").await;
    assert!(saved.ends_with("(3008 bytes)"), "{saved}");
    assert_eq!(std::fs::read(downloads.join("image-lindsay-1.png")).unwrap(), picture);

    // The server dies; the client waits and comes back when it does.
    server.kill().await.unwrap();
    drop(os);
    device.expect_line("[jpc] disconnected").await;
    let _server = serve(&data, chatos, jpc).await;
    device.expect_line("[jpc] connected").await;
    let _os = tell_lindsay(chatos, "after the restart").await;
    device.expect_line("[tell] os: after the restart").await;
}

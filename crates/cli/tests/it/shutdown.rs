//! What connections hear when the hub stops: each protocol's goodbye, before the end of the
//! stream. (NL operators hearing every service go offline is in `nl.rs`.)

use crate::jpc::{Jpc, LINDSAY};
use crate::jpc_client::free_port;
use crate::peer::peer;
use crate::support::start_prepared;
use proto::jpc::Message;

#[tokio::test]
async fn a_jpc_device_gets_close_before_the_end_of_the_stream() {
    let hub = start_prepared(|s| s.whitelist_add("lindsay", LINDSAY).unwrap(), |_| {}).await;
    let mut device = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    hub.stop().await;
    // The original client reconnects only after a CLOSE; on a bare end of stream it spins.
    assert_eq!(device.next_not_heartbeat().await, Some(Message::Close));
    assert_eq!(device.next_not_heartbeat().await, None);
}

#[tokio::test]
async fn peerchat_neighbours_hear_the_hub_leave() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut ann = peer("ann", port, None, dir.path()).await;
    let hub = crate::support::start_with(|c| {
        c.doors.peerchat.addr = Some("127.0.0.1:0".parse().unwrap());
        c.doors.peerchat.join = Some(format!("127.0.0.1:{port}").parse().unwrap());
        c.doors.peerchat.name = "hub".into();
    })
    .await;
    ann.expect_line("[join] hub").await;
    hub.stop().await;
    // `leave`, not a broken connection: the mesh stops listing the hub.
    let line = ann.expect_line(" hub").await;
    assert_eq!(line, "[leave] hub");
    ann.type_line("/who").await;
    ann.expect_line("[who] 0 peers").await;
}

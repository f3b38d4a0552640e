//! PeerChat with no server: `switchboard peer` processes forming a mesh over loopback, and a
//! raw peer that speaks the protocol's loose dialects.

use crate::jpc_client::free_port;
use crate::support::{Proc, WAIT};
use bytes::BytesMut;
use proto::peerchat::{Codec, Info, Item, Message, PeerAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub async fn peer(name: &str, port: u16, join: Option<u16>, dir: &std::path::Path) -> Proc {
    let port_text = port.to_string();
    let mut args = vec!["peer", "--bind", "127.0.0.1", "--port", &port_text, "--name", name];
    let target = join.map(|p| format!("127.0.0.1:{p}"));
    if let Some(t) = &target {
        args.extend(["--join", t.as_str()]);
    }
    let mut p = Proc::spawn(&args, dir);
    p.expect_line("listening on port").await;
    p
}

/// A peer spoken to message by message.
pub struct RawPeer {
    pub stream: TcpStream,
    buf: BytesMut,
    codec: Codec,
}

impl RawPeer {
    pub async fn connect(port: u16) -> RawPeer {
        RawPeer {
            stream: TcpStream::connect(("127.0.0.1", port)).await.unwrap(),
            buf: BytesMut::new(),
            codec: Codec::default(),
        }
    }

    pub async fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.to_line()).await.unwrap();
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).await.unwrap();
    }

    /// The next message; `None` once the other side closed.
    pub async fn next(&mut self) -> Option<Message> {
        let read = async {
            loop {
                if let Some(item) = self.codec.decode(&mut self.buf) {
                    match item {
                        Item::Message(m) => return Some(m),
                        Item::Ignored(why) => panic!("the peer sent something odd: {why}"),
                    }
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(WAIT, read).await.expect("timed out waiting for a message")
    }
}

fn info(name: &str, port: u16) -> Info {
    Info { name: name.into(), age: 30, zip: "14623".into(), port }
}

#[tokio::test]
async fn three_peers_form_a_mesh_and_everyone_hears_everyone() {
    let dir = tempfile::tempdir().unwrap();
    let (pa, pb, pc) = (free_port(), free_port(), free_port());
    let mut a = peer("ann", pa, None, dir.path()).await;
    let mut b = peer("bob", pb, Some(pa), dir.path()).await;
    b.expect_line(&format!("[join] ann 127.0.0.1:{pa}")).await;
    a.expect_line(&format!("[join] bob 127.0.0.1:{pb}")).await;
    // Cy joins through Bob only, learns of Ann from Bob's who-reply, and joins her too.
    let mut c = peer("cy", pc, Some(pb), dir.path()).await;
    c.expect_line("[join] bob").await;
    c.expect_line("[join] ann").await;
    a.expect_line(&format!("[join] cy 127.0.0.1:{pc}")).await;
    b.expect_line("[join] cy").await;

    for (from, text) in [("ann", "hi from ann"), ("bob", "hi from bob"), ("cy", "hi from cy")] {
        let sender = match from {
            "ann" => &mut a,
            "bob" => &mut b,
            _ => &mut c,
        };
        sender.type_line(text).await;
        for (name, p) in [("ann", &mut a), ("bob", &mut b), ("cy", &mut c)] {
            if name != from {
                p.expect_line(&format!("<{from}> {text}")).await;
            }
        }
    }

    // A raw newcomer asks Ann who is there: exactly the two others, with the ports they
    // announced.
    let mut raw = RawPeer::connect(pa).await;
    raw.send(&Message::Join(info("raw", 1))).await;
    assert_eq!(
        raw.next().await,
        Some(Message::JoinReply(Info { name: "ann".into(), age: 0, zip: "00000".into(), port: pa }))
    );
    raw.send(&Message::Who).await;
    let Some(Message::WhoReply(mut peers)) = raw.next().await else { panic!("no who-reply") };
    peers.sort_by_key(|p| p.port);
    let mut want = vec![PeerAddr { ip: "127.0.0.1".into(), port: pb }, PeerAddr { ip: "127.0.0.1".into(), port: pc }];
    want.sort_by_key(|p| p.port);
    assert_eq!(peers, want);
    raw.send(&Message::Leave).await;
    a.expect_line("[leave] raw").await;

    // Cy leaves politely; Bob is killed. Both vanish from Ann's mesh.
    c.type_line("/quit").await;
    a.expect_line("[leave] cy").await;
    b.expect_line("[leave] cy").await;
    b.child.kill().await.unwrap();
    a.expect_line("[gone] bob").await;
    a.type_line("/who").await;
    a.expect_line("[who] 0 peers").await;
}

#[tokio::test]
async fn a_raw_peer_with_numbers_crlf_and_garbage_is_served() {
    let dir = tempfile::tempdir().unwrap();
    let pa = free_port();
    let mut a = peer("ann", pa, None, dir.path()).await;
    let mut raw = RawPeer::connect(pa).await;
    raw.send_raw(b"this is not json\r\n{\"no\": \"type\"}\r\n{\"type\": \"dance\"}\r\n").await;
    raw.send_raw(b"{\"type\": \"join\", \"name\": \"num\", \"age\": 41, \"zip\": 14623, \"port\": 5555}\r\n").await;
    assert!(matches!(raw.next().await, Some(Message::JoinReply(i)) if i.name == "ann"));
    a.expect_line("[join] num 127.0.0.1:5555").await;
    raw.send_raw(b"{\"type\":\"message\",\"message\":\"crlf works\"}\r\n{broken\n").await;
    a.expect_line("<num> crlf works").await;
    raw.send_raw(b"{\"type\": \"who\"}\r\n").await;
    assert_eq!(raw.next().await, Some(Message::WhoReply(vec![])));
    a.type_line("back to you").await;
    assert_eq!(raw.next().await, Some(Message::Message("back to you".into())));
}

#[tokio::test]
async fn the_hub_bridges_a_mesh_into_its_lobby_both_ways_and_never_echoes_it_back() {
    let dir = tempfile::tempdir().unwrap();
    let (p1, p2) = (free_port(), free_port());
    let mut ann = peer("ann", p1, None, dir.path()).await;
    let mut bob = peer("bob", p2, Some(p1), dir.path()).await;
    bob.expect_line("[join] ann").await;
    ann.expect_line("[join] bob").await;
    let hub = crate::support::start_with(|c| {
        c.doors.peerchat.addr = Some("127.0.0.1:0".parse().unwrap());
        c.doors.peerchat.join = Some(format!("127.0.0.1:{p1}").parse().unwrap());
        c.doors.peerchat.name = "hub".into();
    })
    .await;
    let hub_port = hub.peerchat.unwrap().port();
    // The hub joined Ann, asked who, and joined Bob.
    ann.expect_line(&format!("[join] hub 127.0.0.1:{hub_port}")).await;
    bob.expect_line(&format!("[join] hub 127.0.0.1:{hub_port}")).await;

    let mut os = crate::support::Raw::login(hub.chatos, "os").await;
    let mut web = crate::web::Web::sign_in(&hub, "wendy").await;
    // Bob printed his join as soon as the hub's reached him; the hub takes him in when his
    // join-reply reaches it, a moment later.
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, users) = web.get("/api/users").await;
        let mut mesh: Vec<String> = users["users"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|u| u["protocol"] == "peerchat")
            .map(|u| u["name"].as_str().unwrap().to_owned())
            .collect();
        mesh.sort();
        if mesh == ["ann@peerchat", "bob@peerchat"] {
            break; // mesh peers are online, one name each
        }
        assert!(tokio::time::Instant::now() < deadline, "the mesh in the hub: {mesh:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Mesh to lobby.
    ann.type_line("hello from the mesh").await;
    bob.expect_line("<ann> hello from the mesh").await;
    os.expect(proto::chatos::Packet::Sma { sender: "ann@peerchat".into(), message: "hello from the mesh".into() })
        .await;
    let m = web.message().await;
    assert_eq!((m["from"].as_str(), m["text"].as_str()), (Some("ann@peerchat"), Some("hello from the mesh")));

    // Lobby to mesh, with the author.
    os.send(&proto::chatos::Packet::Sma { sender: "os".into(), message: "hi from ChatOS".into() }).await;
    ann.expect_line("<hub> os: hi from ChatOS").await;
    bob.expect_line("<hub> os: hi from ChatOS").await;
    web.say("lobby", "hi from the web").await;
    ann.expect_line("<hub> wendy: hi from the web").await;
    bob.expect_line("<hub> wendy: hi from the web").await;

    // Nothing the mesh said came back into it: read everything up to a marker, then look.
    ann.type_line("/who").await;
    ann.expect_line("[who] 2 peers").await;
    bob.type_line("/who").await;
    bob.expect_line("[who] 2 peers").await;
    for p in [&ann, &bob] {
        assert!(!p.seen.iter().any(|l| l.contains("ann@peerchat")), "echoed into the mesh: {:?}", p.seen);
        assert_eq!(p.seen.iter().filter(|l| l.contains("hi from ChatOS")).count(), 1, "once: {:?}", p.seen);
    }

    // A mesh peer that leaves leaves the hub too.
    bob.type_line("/quit").await;
    ann.expect_line("[leave] bob").await;
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let (_, users) = web.get("/api/users").await;
        if !users["users"].as_array().unwrap().iter().any(|u| u["name"] == "bob@peerchat") {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "bob@peerchat stayed online");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    hub.stop().await;
}

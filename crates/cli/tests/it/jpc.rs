//! JPC over loopback: the white-list at HELLO, heartbeats both ways, silence, direct messages
//! and images with ChatOS and between devices, dropped frames, and a device that reconnects.

use crate::support::{start, Hub, Raw, WAIT};
use bytes::BytesMut;
use proto::chatos::{ErrorCode, Packet};
use proto::jpc::{encode_frame, error_code, Codec, Item, Message, IMAGE, TEXT};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub const LINDSAY: u64 = 0x0242_ac11_0002;
const PC: u64 = 0x0242_ac11_0003;

/// A JPC connection spoken to message by message.
pub struct Jpc {
    stream: TcpStream,
    buf: BytesMut,
    codec: Codec,
}

impl Jpc {
    pub async fn connect(addr: std::net::SocketAddr) -> Jpc {
        Jpc::from_stream(TcpStream::connect(addr).await.unwrap())
    }

    pub fn from_stream(stream: TcpStream) -> Jpc {
        Jpc { stream, buf: BytesMut::new(), codec: Codec::default() }
    }

    /// Connects, says HELLO, and proves it is in by a message to itself.
    pub async fn hello(hub: &Hub, mac: u64, name: &str) -> Jpc {
        Jpc::hello_at(hub.jpc, mac, name).await
    }

    /// Connects to `addr`, says HELLO, and proves it is in by a message to itself.
    pub async fn hello_at(addr: std::net::SocketAddr, mac: u64, name: &str) -> Jpc {
        let mut jpc = Jpc::connect(addr).await;
        jpc.send(&Message::Hello { mac }).await;
        jpc.send(&Message::Send { recipient: name.into(), kind: TEXT, message: "me?".into() }).await;
        let me = Message::Tell { sender: name.into(), recipient: name.into(), kind: TEXT, message: "me?".into() };
        assert_eq!(jpc.next_not_heartbeat().await, Some(me));
        jpc
    }

    pub async fn send(&mut self, m: &Message) {
        self.stream.write_all(&m.to_bytes()).await.unwrap();
    }

    /// The next message within `wait`; `None` at the end of the stream.
    async fn next_within(&mut self, wait: Duration) -> Option<Message> {
        let read = async {
            loop {
                match self.codec.decode(&mut self.buf) {
                    Some(Item::Message(m)) => return Some(m),
                    Some(other) => panic!("the server sent {other:?}"),
                    None => {}
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(wait, read).await.expect("timed out waiting for a message")
    }

    pub async fn next_not_heartbeat(&mut self) -> Option<Message> {
        loop {
            match self.next_within(WAIT).await {
                Some(Message::Heartbeat { .. }) => continue,
                other => return other,
            }
        }
    }
}

async fn hub_with_devices() -> Hub {
    let hub = start().await;
    let mut admin = store::Store::open(&hub.data_dir()).unwrap();
    admin.whitelist_add("lindsay", LINDSAY).unwrap();
    admin.whitelist_add("pc", PC).unwrap();
    hub
}

#[tokio::test]
async fn unknown_devices_and_anything_before_hello_are_refused() {
    let hub = hub_with_devices().await;
    for first in
        [Message::Hello { mac: 0x1234 }, Message::Send { recipient: "pc".into(), kind: TEXT, message: "x".into() }]
    {
        let mut jpc = Jpc::connect(hub.jpc).await;
        jpc.send(&first).await;
        assert_eq!(jpc.next_within(WAIT).await, Some(Message::Error { code: error_code::NOT_WHITELISTED }));
        assert_eq!(jpc.next_within(WAIT).await, Some(Message::Close));
        assert_eq!(jpc.next_within(WAIT).await, None, "closed after {first:?}");
    }
    hub.stop().await;
}

/// On tokio's paused clock: a minute of heartbeats in no time, the server's counted exactly.
#[tokio::test(start_paused = true)]
async fn a_white_listed_device_stays_up_on_heartbeats() {
    let hub = hub_with_devices().await;
    let mut jpc = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let (start, mut server_beats) = (tokio::time::Instant::now(), 0);
    // The device beats every 4 s, inside the 5 s the server waits for it; the server every 2 s.
    let mut beat = tokio::time::interval(Duration::from_secs(4));
    while start.elapsed() < Duration::from_secs(60) {
        tokio::select! {
            _ = beat.tick() => jpc.send(&Message::Heartbeat { id: LINDSAY }).await,
            m = jpc.next_within(Duration::from_secs(60)) => match m {
                Some(Message::Heartbeat { .. }) => server_beats += 1,
                other => panic!("unexpected {other:?} after {:?}", start.elapsed()),
            },
        }
    }
    assert_eq!(server_beats, 29, "the server beats every 2 s: at 2, 4 … 58 s");
    jpc.send(&Message::Send { recipient: "lindsay".into(), kind: TEXT, message: "still here".into() }).await;
    let tell = Message::Tell {
        sender: "lindsay".into(),
        recipient: "lindsay".into(),
        kind: TEXT,
        message: "still here".into(),
    };
    assert_eq!(jpc.next_not_heartbeat().await, Some(tell));
    hub.stop().await;
}

/// On tokio's paused clock: closed 5 s after the device was last heard, to the millisecond
/// the hub's deadline says.
#[tokio::test(start_paused = true)]
async fn a_silent_device_is_closed_five_seconds_after_it_was_last_heard() {
    let hub = hub_with_devices().await;
    let mut jpc = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let heard = tokio::time::Instant::now();
    let mut last = None;
    while let Some(m) = jpc.next_within(Duration::from_secs(60)).await {
        last = Some(m);
    }
    assert_eq!(last, Some(Message::Close), "CLOSE before the connection ends");
    assert_eq!(heard.elapsed(), Duration::from_secs(5), "closed once 5 s of silence passed");
    hub.stop().await;
}

#[tokio::test]
async fn direct_messages_and_images_with_chatos_and_between_devices() {
    let hub = hub_with_devices().await;
    let mut lindsay = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let mut pc = Jpc::hello(&hub, PC, "pc").await;
    let mut os = Raw::login(hub.chatos, "os").await;

    lindsay.send(&Message::Send { recipient: "os".into(), kind: TEXT, message: "from jpc".into() }).await;
    os.expect(Packet::Spm { sender: "lindsay".into(), recipient: "os".into(), message: "from jpc".into() }).await;
    os.send(&Packet::Spm { sender: "os".into(), recipient: "Lindsay".into(), message: "from chatos".into() }).await;
    os.expect_error(ErrorCode::Ok).await;
    let tell =
        Message::Tell { sender: "os".into(), recipient: "lindsay".into(), kind: TEXT, message: "from chatos".into() };
    assert_eq!(lindsay.next_not_heartbeat().await, Some(tell));

    lindsay.send(&Message::Send { recipient: "pc".into(), kind: IMAGE, message: "iVBORw0KGgo=".into() }).await;
    let image =
        Message::Tell { sender: "lindsay".into(), recipient: "pc".into(), kind: IMAGE, message: "iVBORw0KGgo=".into() };
    assert_eq!(pc.next_not_heartbeat().await, Some(image));
    // ChatOS cannot show an image; nobody is called ghost.
    for (to, kind) in [("os", IMAGE), ("ghost", TEXT)] {
        lindsay.send(&Message::Send { recipient: to.into(), kind, message: "x".into() }).await;
        assert_eq!(lindsay.next_not_heartbeat().await, Some(Message::Error { code: error_code::UNKNOWN_RECIPIENT }));
    }
    hub.stop().await;
}

#[tokio::test]
async fn bad_frames_are_dropped_counted_and_the_device_stays() {
    let hub = hub_with_devices().await;
    let mut jpc = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let mut bad = BytesMut::new();
    encode_frame(br#"{"opcode":4,"payload":{"recipient":"lindsay","type":0,"message":"x"}}"#, &mut bad);
    let n = bad.len();
    bad[n - 2] ^= 0x55; // the CRC
    jpc.stream.write_all(&bad).await.unwrap();
    jpc.stream.write_all(&[0x7E, 0x7E, 0x7E]).await.unwrap(); // empty frames: nothing
    jpc.send(&Message::Send { recipient: "lindsay".into(), kind: TEXT, message: "after".into() }).await;
    let tell =
        Message::Tell { sender: "lindsay".into(), recipient: "lindsay".into(), kind: TEXT, message: "after".into() };
    assert_eq!(jpc.next_not_heartbeat().await, Some(tell));
    assert_eq!(hub.metrics().total(|d| d.dropped_frames.get()), 1);
    hub.stop().await;
}

#[tokio::test]
async fn a_reconnecting_device_replaces_its_stale_session() {
    let hub = hub_with_devices().await;
    let mut old = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    let _new = Jpc::hello(&hub, LINDSAY, "lindsay").await;
    assert_eq!(old.next_not_heartbeat().await, Some(Message::Close));
    assert_eq!(old.next_not_heartbeat().await, None);
    hub.stop().await;
}

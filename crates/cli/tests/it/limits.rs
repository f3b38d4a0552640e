//! Limits and timeouts over loopback: a client that does not read is dropped once its unsent
//! bytes pass the bound (or, on a socket, have waited past the write deadline), on every front
//! door, the web's WebSockets too.

use crate::support::{count, start, start_with, Hub, Raw, WAIT};
use crate::web::Web;
use futures_util::StreamExt;
use proto::chatos::Packet;

/// Sends `n` lobby messages of `size` bytes from a new ChatOS client, pipelined, and reads
/// their answers.
async fn flood_lobby(hub: &Hub, n: usize, size: usize) {
    let mut os = Raw::login(hub.chatos, "flood").await;
    let mut bytes = bytes::BytesMut::new();
    for i in 0..n {
        let mut text = format!("{i} ");
        text.extend(std::iter::repeat_n('x', size - text.len()));
        Packet::Sma { sender: "flood".into(), message: text }.encode(&mut bytes);
    }
    let (mut read, mut write) = os.stream.split();
    let (written, ()) = tokio::join!(tokio::io::AsyncWriteExt::write_all(&mut write, &bytes), async {
        let mut oks = vec![0u8; 2 * n];
        tokio::time::timeout(WAIT, tokio::io::AsyncReadExt::read_exact(&mut read, &mut oks)).await.unwrap().unwrap();
    });
    written.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_that_never_reads_is_closed_once_its_unsent_bytes_pass_the_bound() {
    let hub = start_with(|c| c.msg_rate = 0).await;
    let mut page = Web::sign_in(&hub, "sleepy").await;
    let slow_before = hub.metrics().total(|d| d.slow_consumers.get());
    // 30,000 lobby messages of 1 KB: far more than the bound, the socket buffers and the
    // session's ring of events; the page reads none of it meanwhile.
    flood_lobby(&hub, 30_000, 1024).await;
    let dropped = async {
        while hub.metrics().total(|d| d.slow_consumers.get()) == slow_before {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, dropped).await.expect("the WebSocket that does not read was never dropped");
    // Its socket ends: what was written before is there, then nothing more.
    let ended = async { while let Some(Ok(_)) = page.ws.next().await {} };
    tokio::time::timeout(WAIT, ended).await.expect("the WebSocket was not closed");
    // The session itself lingers, as when a page closes: a new page picks it up.
    let (status, _) = page.get("/api/users").await;
    assert_eq!(status, 200);
    hub.stop().await;
}

/// Slow consumers are judged by how long their bytes wait: with a byte bound far above all
/// that is sent, a ChatOS reader that stops reading is dropped once what waits for it has
/// waited past the write deadline (judged when more comes for it), while a reader that keeps
/// reading gets everything, however long the burst. On tokio's paused clock.
#[tokio::test(start_paused = true)]
async fn a_reader_whose_bytes_wait_past_the_write_deadline_is_dropped_and_one_that_reads_is_not() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    const BURST: usize = 10_000;
    let hub = start_with(|c| {
        c.msg_rate = 0;
        c.outbound_limit = 1 << 30;
        c.write_deadline_secs = 10;
    })
    .await;
    // The one that stops reading, with a small receive window so that the server's queue fills.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let mut stuck = Raw::from_stream(socket.connect(hub.chatos).await.unwrap());
    stuck.send(&Packet::Cr { pseudo: "stuck".into() }).await;
    stuck.expect(Packet::error(proto::chatos::ErrorCode::Ok)).await;
    // The one that keeps reading: every lobby message, to the last.
    let mut reader = Raw::login(hub.chatos, "reader").await;
    let read_all = tokio::spawn(async move {
        for i in 0..BURST {
            match reader.recv().await {
                Packet::Sma { sender, message } if sender == "loud" => {
                    assert_eq!(message.split(' ').next().unwrap(), i.to_string());
                }
                other => panic!("unexpected {other:?}"),
            }
        }
        reader
    });
    let mut loud = Raw::login(hub.chatos, "loud").await;
    let slow_before = hub.metrics().total(|d| d.slow_consumers.get());
    let send = |range: std::ops::Range<usize>| {
        let mut bytes = bytes::BytesMut::new();
        for i in range {
            let mut text = format!("{i} ");
            text.extend(std::iter::repeat_n('x', 1024 - text.len()));
            Packet::Sma { sender: "loud".into(), message: text }.encode(&mut bytes);
        }
        bytes
    };
    // 10 MB at once: far more than the socket buffers, all of it queued for `stuck` at once.
    let (mut read, mut write) = loud.stream.split();
    let burst = send(0..BURST);
    let (written, ()) = tokio::join!(write.write_all(&burst), async {
        let mut oks = vec![0u8; 2 * BURST];
        read.read_exact(&mut oks).await.unwrap();
    });
    written.unwrap();
    let mut reader = tokio::time::timeout(WAIT, read_all).await.expect("the reader did not get everything").unwrap();
    assert_eq!(hub.metrics().total(|d| d.slow_consumers.get()), slow_before, "dropped before its deadline");
    // Past the deadline, one more message: `stuck` is judged, and dropped.
    tokio::time::sleep(std::time::Duration::from_secs(11)).await;
    loud.stream.write_all(&send(BURST..BURST + 1)).await.unwrap();
    let dropped = async {
        while hub.metrics().total(|d| d.slow_consumers.get()) == slow_before {
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(WAIT, dropped).await.expect("a reader whose bytes waited past the deadline was kept");
    assert_eq!(hub.metrics().total(|d| d.slow_consumers.get()), slow_before + 1);
    // The reader is still there: it hears the next messages too.
    assert!(matches!(reader.recv().await, Packet::Sma { message, .. } if message.starts_with(&format!("{BURST} "))));
    loud.send(&Packet::Sma { sender: "loud".into(), message: "still here?".into() }).await;
    assert_eq!(reader.recv().await, Packet::Sma { sender: "loud".into(), message: "still here?".into() });
    hub.stop().await;
}

/// Waits, on tokio's clock (paused in these tests: it jumps ahead whenever every task waits),
/// until the server closes `stream`; returns how long after `start` that was, in whole seconds.
async fn closed_at(stream: &mut tokio::net::TcpStream, start: tokio::time::Instant) -> u64 {
    use tokio::io::AsyncReadExt;
    let closed = async {
        let mut buf = [0u8; 256];
        while matches!(stream.read(&mut buf).await, Ok(n) if n > 0) {}
    };
    tokio::time::timeout(std::time::Duration::from_secs(600), closed).await.expect("never closed");
    start.elapsed().as_secs()
}

#[tokio::test(start_paused = true)]
async fn connections_that_never_log_in_or_stall_in_a_packet_are_closed_after_the_login_timeout() {
    use tokio::io::AsyncWriteExt;
    let hub = start().await;
    let start = tokio::time::Instant::now();
    // A ChatOS connection that says nothing, and one that sends half a CR.
    let mut silent = tokio::net::TcpStream::connect(hub.chatos).await.unwrap();
    let mut half = tokio::net::TcpStream::connect(hub.chatos).await.unwrap();
    half.write_all(b"\x01\x00\x05ab").await.unwrap();
    // Half a ChatHack login (opcode 0, then the length of a login that never comes).
    let mut hack = tokio::net::TcpStream::connect(hub.chathack).await.unwrap();
    hack.write_all(b"\x00\x00\x00\x00\x08al").await.unwrap();
    // A logged-in ChatOS user who then sends half a packet, and one who stays idle.
    let mut stalled = Raw::login(hub.chatos, "stalled").await;
    let mut idle = Raw::login(hub.chatos, "idle").await;
    stalled.send_bytes(b"\x03\x00\x07stalled\x00\x10only half").await;
    for stream in [&mut silent, &mut half, &mut hack, &mut stalled.stream] {
        assert_eq!(closed_at(stream, start).await, 30);
    }
    // Counted: the logged-in user's stalled packet at least (the half CR and the half login
    // stalled too, at the moment they would have been closed for not logging in).
    assert!(count(&hub.metrics().timed_out) >= 1);
    // Logged in and idle: still there, long after (ChatOS has no heartbeat).
    tokio::time::sleep(std::time::Duration::from_secs(300)).await;
    idle.send(&Packet::Sma { sender: "idle".into(), message: "still here".into() }).await;
    idle.expect_error(proto::chatos::ErrorCode::Ok).await;
    hub.stop().await;
}

#[tokio::test(start_paused = true)]
async fn an_http_request_whose_headers_do_not_arrive_within_ten_seconds_is_closed() {
    use tokio::io::AsyncWriteExt;
    let hub = start().await;
    let mut cut = tokio::net::TcpStream::connect(hub.web).await.unwrap();
    cut.write_all(b"GET /api/users HTTP/1.1\r\nHost: x\r\nAuthor").await.unwrap();
    let start = tokio::time::Instant::now();
    let mut silent = tokio::net::TcpStream::connect(hub.web).await.unwrap();
    assert_eq!(closed_at(&mut cut, start).await, 10);
    assert_eq!(closed_at(&mut silent, start).await, 10);
    assert_eq!(count(&hub.metrics().timed_out), 2);
    hub.stop().await;
}

/// How many lobby messages a flooder sends at once in the rate tests.
const FLOOD: usize = 150;

#[tokio::test(start_paused = true)]
async fn a_flooder_is_slowed_to_its_message_rate_in_order_and_nobody_else_notices() {
    let hub = start().await; // 20 a second, 100 at once
    let mut reader = Raw::login(hub.chatos, "reader").await;
    let mut friend = Raw::login(hub.chatos, "friend").await;
    let mut flooder = Raw::login(hub.chatos, "flooder").await;
    let start = tokio::time::Instant::now();
    let mut bytes = bytes::BytesMut::new();
    for i in 0..FLOOD {
        Packet::Sma { sender: "flooder".into(), message: format!("flood {i}") }.encode(&mut bytes);
    }
    flooder.send_bytes(&bytes).await;
    // The burst goes through at once; then the flooder's connection is read no further.
    for i in 0..100 {
        assert_eq!(reader.recv().await, Packet::Sma { sender: "flooder".into(), message: format!("flood {i}") });
    }
    assert_eq!(start.elapsed().as_millis(), 0);
    // Someone else speaks: heard at once, ahead of the flooder's held-back messages.
    friend.send(&Packet::Sma { sender: "friend".into(), message: "hello".into() }).await;
    assert_eq!(reader.recv().await, Packet::Sma { sender: "friend".into(), message: "hello".into() });
    assert_eq!(start.elapsed().as_millis(), 0);
    // The flooder, read no further, still hears at once what is sent to it: the answers to
    // its burst and its friend's message (a flooder held for long is no slow consumer).
    let (mut oks, mut heard) = (0, false);
    while oks < 100 || !heard {
        match flooder.recv().await {
            Packet::Sma { sender, .. } if sender == "friend" => heard = true,
            p => {
                assert_eq!(p, Packet::error(proto::chatos::ErrorCode::Ok));
                oks += 1;
            }
        }
    }
    assert_eq!(start.elapsed().as_millis(), 0);
    // The rest at 20 a second, in order, none dropped.
    for i in 100..FLOOD {
        assert_eq!(reader.recv().await, Packet::Sma { sender: "flooder".into(), message: format!("flood {i}") });
        assert_eq!(start.elapsed().as_millis(), (i as u128 - 99) * 50, "flood {i}");
    }
    // Every one answered OK.
    while oks < FLOOD {
        assert_eq!(flooder.recv().await, Packet::error(proto::chatos::ErrorCode::Ok));
        oks += 1;
    }
    assert_eq!(count(&hub.metrics().msgs_delayed), (FLOOD - 100) as u64);
    // With no limit, the same flood goes at once.
    hub.stop().await;
    let hub = start_with(|c| c.msg_rate = 0).await;
    let mut reader = Raw::login(hub.chatos, "reader").await;
    let mut flooder = Raw::login(hub.chatos, "flooder").await;
    let start = tokio::time::Instant::now();
    flooder.send_bytes(&bytes).await;
    for i in 0..FLOOD {
        assert_eq!(reader.recv().await, Packet::Sma { sender: "flooder".into(), message: format!("flood {i}") });
    }
    assert_eq!(start.elapsed().as_millis(), 0);
    hub.stop().await;
}

/// IRC flood control is ergo's fakelag: a client over its rate is read no further until it
/// may go on, never disconnected for a burst; what it sent goes in order, at the rate.
#[tokio::test(start_paused = true)]
async fn an_irc_flooder_is_read_no_further_until_it_may_go_and_is_never_dropped() {
    let hub = start().await; // 20 a second, 100 at once
    let mut reader = Raw::login(hub.chatos, "reader").await;
    let mut flooder = crate::irc::Irc::register(hub.irc, "flooder").await;
    let start = tokio::time::Instant::now();
    let flood: String = (0..FLOOD).map(|i| format!("PRIVMSG #lobby :flood {i}\r\n")).collect();
    flooder.send(&format!("{flood}PING :after\r\n")).await;
    for i in 0..FLOOD {
        assert_eq!(reader.recv().await, Packet::Sma { sender: "flooder".into(), message: format!("flood {i}") });
        let at = start.elapsed().as_millis();
        assert_eq!(at, (i as u128).saturating_sub(99) * 50, "flood {i}");
    }
    // Then it is read again: its PING, held behind the flood, is answered; it was never dropped.
    assert_eq!(flooder.expect("PONG").await, ":switchboard PONG switchboard :after");
    assert_eq!(count(&hub.metrics().msgs_delayed), (FLOOD - 100) as u64);
    hub.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_web_user_over_the_message_rate_waits_for_its_answers() {
    let hub = start_with(|c| c.msg_burst = 3).await;
    let web = Web::sign_in(&hub, "ann").await;
    let mut reader = Raw::login(hub.chatos, "reader").await;
    let start = tokio::time::Instant::now();
    for i in 0..5u128 {
        web.say("lobby", &format!("web {i}")).await;
        let at = start.elapsed().as_millis();
        assert_eq!(at, i.saturating_sub(2) * 50, "web {i}");
        assert_eq!(reader.recv().await, Packet::Sma { sender: "ann".into(), message: format!("web {i}") });
    }
    hub.stop().await;
}

#[tokio::test(start_paused = true)]
async fn connections_per_address_are_limited_open_and_new_unless_exempt() {
    let hub = start_with(|c| {
        c.max_conns_per_ip = 3;
        c.max_new_conns_per_ip = 5;
        c.conn_limit_exempt = vec![];
    })
    .await;
    let connect = || tokio::net::TcpStream::connect(hub.chatos);
    let refused_now = |mut s: tokio::net::TcpStream| async move {
        let start = tokio::time::Instant::now();
        assert_eq!(closed_at(&mut s, start).await, 0, "closed at once");
    };
    let mut open = vec![Raw::login(hub.chatos, "a").await, Raw::login(hub.chatos, "b").await];
    open.push(Raw::login(hub.chatos, "c").await);
    // A fourth at once: refused, and counted.
    refused_now(connect().await.unwrap()).await;
    assert_eq!(count(&hub.metrics().conns_refused), 1);
    // One closes: room for another (the fourth new one this minute), then a fifth.
    for name in ["d", "e"] {
        drop(open.pop());
        let gone = async {
            while hub.metrics().open() > 2 {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(WAIT, gone).await.unwrap();
        open.push(Raw::login(hub.chatos, name).await);
    }
    // A sixth new one within the minute: refused, though there is room.
    drop(open.pop());
    let gone = async {
        while hub.metrics().open() > 2 {
            tokio::task::yield_now().await;
        }
    };
    tokio::time::timeout(WAIT, gone).await.unwrap();
    refused_now(connect().await.unwrap()).await;
    // The web door counts the same way.
    let http = tokio::net::TcpStream::connect(hub.web).await.unwrap();
    refused_now(http).await;
    assert_eq!(count(&hub.metrics().conns_refused), 3);
    // A new connection is allowed every 12 s (5 a minute).
    tokio::time::sleep(std::time::Duration::from_secs(12)).await;
    open.push(Raw::login(hub.chatos, "f").await);
    hub.stop().await;
}

#[tokio::test]
async fn loopback_is_exempt_by_default() {
    let hub = start_with(|c| {
        c.max_conns_per_ip = 2;
        c.max_new_conns_per_ip = 2;
    })
    .await;
    let mut all = Vec::new();
    for i in 0..10 {
        all.push(Raw::login(hub.chatos, &format!("u{i}")).await);
    }
    assert_eq!(count(&hub.metrics().conns_refused), 0);
    hub.stop().await;
}

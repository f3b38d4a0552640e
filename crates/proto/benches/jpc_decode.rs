//! `cargo bench -p switchboard-proto --bench jpc_decode`: JPC decode throughput in MB/s of
//! wire bytes, for the framing alone (CRC and unstuffing) and for whole messages (with JSON),
//! over a stream of short text TELLs and some 48 KB images, fed in 16 KB reads as a socket
//! would deliver them.

use bytes::BytesMut;
use proto::jpc::{Codec, FrameDecoder, FrameItem, Item, Message, IMAGE, TEXT};
use std::hint::black_box;
use std::time::{Duration, Instant};

fn stream() -> Vec<u8> {
    let mut wire = BytesMut::new();
    let image: String = (0..48 * 1024).map(|i| (b'A' + (i % 26) as u8) as char).collect();
    for i in 0..4000 {
        let (kind, message) = match i % 100 {
            0 => (IMAGE, image.clone()),
            _ => (TEXT, format!("message {i}: hello there {{with braces}} and ~tildes~, ça va ?")),
        };
        Message::Tell { sender: "alice".into(), recipient: "lindsay".into(), kind, message }.encode(&mut wire);
    }
    wire.to_vec()
}

/// Runs `decode_all` over the stream for at least `min`, returning MB/s.
fn measure(wire: &[u8], min: Duration, mut decode_all: impl FnMut(&[u8]) -> usize) -> f64 {
    let (start, mut bytes, mut items) = (Instant::now(), 0usize, 0usize);
    while start.elapsed() < min {
        items += decode_all(wire);
        bytes += wire.len();
    }
    black_box(items);
    bytes as f64 / start.elapsed().as_secs_f64() / 1e6
}

fn main() {
    let wire = stream();
    let min = Duration::from_secs(3);
    let frames = measure(&wire, min, |wire| {
        let (mut decoder, mut n) = (FrameDecoder::default(), 0);
        for chunk in wire.chunks(16 * 1024) {
            let mut buf = BytesMut::from(chunk);
            while let Some(item) = decoder.decode(&mut buf) {
                n += matches!(black_box(item), FrameItem::Frame(_)) as usize;
            }
        }
        assert_eq!(n, 4000);
        n
    });
    let messages = measure(&wire, min, |wire| {
        let (mut codec, mut n) = (Codec::default(), 0);
        for chunk in wire.chunks(16 * 1024) {
            let mut buf = BytesMut::from(chunk);
            while let Some(item) = codec.decode(&mut buf) {
                n += matches!(black_box(item), Item::Message(_)) as usize;
            }
        }
        assert_eq!(n, 4000);
        n
    });
    println!("jpc decode, {} KB stream in 16 KB reads:", wire.len() / 1024);
    println!("  framing (CRC-16 + unstuffing): {frames:.0} MB/s");
    println!("  messages (framing + JSON):     {messages:.0} MB/s");
}

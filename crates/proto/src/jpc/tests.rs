//! JPC tests: CRC vectors, exact frames, streaming (whole, one byte at a time, split, several
//! per read), dropped frames and resynchronisation, messages, and round-trip properties.

use super::*;
use proptest::prelude::*;

/// Decodes `wire` whole and one byte at a time: both must give exactly `want`.
fn check(wire: &[u8], want: &[FrameItem]) {
    let (mut d, mut buf, mut got) = (FrameDecoder::new(64), BytesMut::from(wire), Vec::new());
    while let Some(item) = d.decode(&mut buf) {
        got.push(item);
    }
    assert_eq!(got, want, "whole");
    let (mut d, mut got) = (FrameDecoder::new(64), Vec::new());
    for b in wire {
        let mut one = BytesMut::from(&[*b][..]);
        while let Some(item) = d.decode(&mut one) {
            got.push(item);
        }
    }
    assert_eq!(got, want, "one byte at a time");
}

fn frame(json: &[u8]) -> Vec<u8> {
    let mut dst = BytesMut::new();
    encode_frame(json, &mut dst);
    dst.to_vec()
}

fn ok(json: &[u8]) -> FrameItem {
    FrameItem::Frame(Bytes::copy_from_slice(json))
}

#[test]
fn crc_16_xmodem_check_value() {
    assert_eq!(crc16(b"123456789"), 0x31C3);
    assert_eq!(crc16(b""), 0);
}

#[test]
fn an_exact_frame_with_every_closing_brace_escaped() {
    let json = br#"{"opcode":0,"payload":1}"#;
    let crc = crc16(json).to_le_bytes();
    let mut want = vec![0x7E];
    want.extend_from_slice(br#"{"opcode":0,"payload":1"#);
    want.extend_from_slice(&[0x7D, 0x5D]); // the final }
    for b in crc {
        if b == 0x7E || b == 0x7D {
            want.extend_from_slice(&[0x7D, b ^ 0x20]);
        } else {
            want.push(b);
        }
    }
    want.push(0x7E);
    assert_eq!(frame(json), want);
    assert_eq!(Message::Hello { mac: 1 }.to_bytes().to_vec(), want);
    // A ~ (0x7E) inside is escaped too.
    assert_eq!(&frame(b"a~b")[..5], &[0x7E, b'a', 0x7D, 0x5E, b'b']);
    check(&frame(b"a~b}"), &[ok(b"a~b}")]);
}

#[test]
fn streaming() {
    let (a, b) = (frame(b"{\"x\":1}"), frame(b"{\"y\":2}"));
    // Two frames in one read, back to back (their flags make an empty frame between them).
    check(&[a.clone(), b.clone()].concat(), &[ok(b"{\"x\":1}"), ok(b"{\"y\":2}")]);
    // Sharing one flag.
    check(&[&a[..], &b[1..]].concat(), &[ok(b"{\"x\":1}"), ok(b"{\"y\":2}")]);
    // Split anywhere across reads.
    let both = [a, b].concat();
    for cut in 0..=both.len() {
        let (mut d, mut got) = (FrameDecoder::new(64), Vec::new());
        for part in [&both[..cut], &both[cut..]] {
            let mut buf = BytesMut::from(part);
            while let Some(item) = d.decode(&mut buf) {
                got.push(item);
            }
        }
        assert_eq!(got, [ok(b"{\"x\":1}"), ok(b"{\"y\":2}")], "cut at {cut}");
    }
    // Empty frames and bytes before the first flag are nothing.
    check(&[&b"noise"[..], &[0x7E; 5], &frame(b"z")].concat(), &[ok(b"z")]);
}

#[test]
fn dropped_frames_and_resynchronisation() {
    let good = frame(b"{\"ok\":true}");
    let mut bad_crc = frame(b"{\"ok\":false}");
    let n = bad_crc.len();
    bad_crc[n - 2] ^= 0x01;
    check(&[bad_crc, good.clone()].concat(), &[FrameItem::Dropped(Dropped::BadCrc), ok(b"{\"ok\":true}")]);
    check(&[&[0x7E, b'x', 0x7E][..], &good].concat(), &[FrameItem::Dropped(Dropped::TooShort), ok(b"{\"ok\":true}")]);
    check(
        &[&[0x7E, b'x', b'y', 0x7D, 0x7E][..], &good].concat(),
        &[FrameItem::Dropped(Dropped::EndsInEscape), ok(b"{\"ok\":true}")],
    );
    // Over the bound (64 here): dropped whole, and the next frame decodes.
    let long = frame(&[b'a'; 100]);
    check(&[long, good.clone()].concat(), &[FrameItem::Dropped(Dropped::TooLong), ok(b"{\"ok\":true}")]);
    // At the bound: kept.
    check(&frame(&[b'a'; 64]), &[ok(&[b'a'; 64])]);
    let mut d = FrameDecoder::new(64);
    let mut half = BytesMut::from(&good[..4]);
    assert_eq!(d.decode(&mut half), None);
    assert!(d.is_mid_frame());
}

#[test]
fn messages_and_their_variants() {
    let all = [
        Message::Hello { mac: 0x0242_ac11_0002 },
        Message::Close,
        Message::Heartbeat { id: 7 },
        Message::Error { code: error_code::NOT_WHITELISTED },
        Message::Send { recipient: "lindsay".into(), kind: TEXT, message: "hi".into() },
        Message::Tell { sender: "ann".into(), recipient: "lindsay".into(), kind: IMAGE, message: "aGk=".into() },
    ];
    for m in all {
        assert_eq!(Message::from_json(&m.to_json()), Ok(m));
    }
    // TELL carries the superset; the original's TELL (message_type only, no sender) is read.
    let tell: serde_json::Value = serde_json::from_slice(
        &Message::Tell { sender: "a".into(), recipient: "b".into(), kind: 1, message: "m".into() }.to_json(),
    )
    .unwrap();
    assert_eq!(
        tell["payload"],
        serde_json::json!({"type": 1, "message_type": 1, "recipient": "b", "sender": "a", "message": "m"})
    );
    let original = br#"{"opcode": 5, "payload": {"message_type": 0, "recipient": "b", "message": "hey"}}"#;
    assert_eq!(
        Message::from_json(original),
        Ok(Message::Tell { sender: "".into(), recipient: "b".into(), kind: 0, message: "hey".into() })
    );
    assert_eq!(Message::from_json(br#"{"opcode":1}"#), Ok(Message::Close));
    for bad in [
        &b"not json"[..],
        b"[1]",
        br#"{"payload":1}"#,
        br#"{"opcode":0,"payload":-1}"#,
        br#"{"opcode":4,"payload":{"recipient":"b","type":2,"message":"m"}}"#,
    ] {
        assert!(matches!(Message::from_json(bad), Err(DecodeError::Malformed(_))), "{}", String::from_utf8_lossy(bad));
    }
    assert_eq!(Message::from_json(br#"{"opcode":9,"payload":null}"#), Err(DecodeError::UnknownOpcode(9)));
    assert_eq!(error_meaning(error_code::TIMED_OUT), "timed out");
}

#[test]
fn the_codec_reports_what_it_drops() {
    let mut wire = BytesMut::new();
    encode_frame(b"garbage", &mut wire);
    Message::Close.encode(&mut wire);
    let mut codec = Codec::new(1024);
    assert!(matches!(codec.decode(&mut wire), Some(Item::Malformed(_))));
    assert_eq!(codec.decode(&mut wire), Some(Item::Message(Message::Close)));
    assert_eq!(codec.decode(&mut wire), None);
}

fn message() -> impl Strategy<Value = Message> {
    let s = "\\PC{0,30}";
    prop_oneof![
        any::<u64>().prop_map(|mac| Message::Hello { mac }),
        Just(Message::Close),
        any::<u64>().prop_map(|id| Message::Heartbeat { id }),
        any::<i64>().prop_map(|code| Message::Error { code }),
        (s, 0u8..=1, s).prop_map(|(recipient, kind, message)| Message::Send { recipient, kind, message }),
        (s, s, 0u8..=1, s).prop_map(|(sender, recipient, kind, message)| Message::Tell {
            sender,
            recipient,
            kind,
            message
        }),
    ]
}

proptest! {
    #[test]
    fn any_payload_survives_framing(payloads in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 2..200), 1..6), cut in any::<prop::sample::Index>()) {
        let wire: Vec<u8> = payloads.iter().flat_map(|p| frame(p)).collect();
        let cut = cut.index(wire.len() + 1);
        let (mut d, mut got) = (FrameDecoder::new(1024), Vec::new());
        for part in [&wire[..cut], &wire[cut..]] {
            let mut buf = BytesMut::from(part);
            while let Some(item) = d.decode(&mut buf) {
                got.push(item);
            }
        }
        prop_assert_eq!(got, payloads.iter().map(|p| ok(p)).collect::<Vec<_>>());
    }

    #[test]
    fn messages_round_trip(messages in proptest::collection::vec(message(), 1..6)) {
        let mut wire = BytesMut::new();
        messages.iter().for_each(|m| m.encode(&mut wire));
        let mut codec = Codec::default();
        let mut got = Vec::new();
        while let Some(item) = codec.decode(&mut wire) {
            got.push(item);
        }
        prop_assert_eq!(got, messages.into_iter().map(Item::Message).collect::<Vec<_>>());
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let mut codec = Codec::new(32);
        let mut buf = BytesMut::from(&bytes[..]);
        while codec.decode(&mut buf).is_some() {}
        prop_assert!(buf.is_empty());
    }
}

//! ChatOS codec tests: byte literals fed whole and one byte at a time, violations, and
//! round-trip properties.

use super::*;
use proptest::prelude::*;

/// Decodes `bytes` whole and one byte at a time, expecting `want` exactly at the last byte,
/// and checks that `want` encodes back to `bytes`.
fn check(bytes: &[u8], want: Packet) {
    let codec = Codec::default();
    let mut whole = BytesMut::from(bytes);
    assert_eq!(codec.decode(&mut whole), Ok(Some(want.clone())));
    assert!(whole.is_empty(), "a packet must consume exactly its bytes");

    let mut buf = BytesMut::new();
    for (i, b) in bytes.iter().enumerate() {
        buf.put_u8(*b);
        let got = codec.decode(&mut buf).unwrap();
        if i + 1 < bytes.len() {
            assert_eq!(got, None, "decoded early at byte {i}");
        } else {
            assert_eq!(got, Some(want.clone()));
        }
    }
    assert_eq!(&want.to_bytes()[..], bytes);
}

/// Expects `bytes` to be a violation `want`, both whole and as soon as the offending byte
/// arrives when fed one byte at a time (never before it: a prefix is only incomplete).
fn check_err(bytes: &[u8], want: DecodeError) {
    let codec = Codec::default();
    assert_eq!(codec.decode(&mut BytesMut::from(bytes)), Err(want.clone()));
    let mut buf = BytesMut::new();
    for (i, b) in bytes.iter().enumerate() {
        buf.put_u8(*b);
        match codec.decode(&mut buf) {
            Ok(None) => assert!(i + 1 < bytes.len(), "no error after the last byte"),
            Err(e) => {
                assert_eq!(e, want);
                assert_eq!(i + 1, bytes.len(), "error before the offending byte");
            }
            Ok(Some(p)) => panic!("decoded {p:?}"),
        }
    }
}

fn key(sender: &str, recipient: &str, password: i16) -> LinkKey {
    LinkKey { sender: sender.into(), recipient: recipient.into(), password }
}

#[test]
fn packets_from_byte_literals() {
    check(b"\x01\x00\x05alice", Packet::Cr { pseudo: "alice".into() });
    check(
        b"\x02\x00\x01a\x00\x01b\x00\x02hi",
        Packet::Spm { sender: "a".into(), recipient: "b".into(), message: "hi".into() },
    );
    check(b"\x03\x00\x03bob\x00\x05hello", Packet::Sma { sender: "bob".into(), message: "hello".into() });
    check(b"\x04\x00\x01a\x00\x01b\x30\x39", Packet::TcpAsk(key("a", "b", 12345)));
    check(b"\x05\x00\x01a\x00\x01b\xff\xff", Packet::TcpAccept(key("a", "b", -1)));
    check(b"\x06\x00\x01a\x00\x01b\x80\x00", Packet::TcpAbort(key("a", "b", i16::MIN)));
    check(b"\x07\x00\x01a\x00\x01b\x00\x00", Packet::TcpConnect(key("a", "b", 0)));
    check(b"\x08\x01", Packet::error(ErrorCode::Ok));
    check(b"\x08\x04", Packet::error(ErrorCode::UnreachableUser));
    check(b"\x08\xf6", Packet::Error(-10));
    // UTF-8 lengths are in bytes, not characters.
    check("\x03\x00\x01z\x00\x05h\u{e9}\u{e9}".as_bytes(), Packet::Sma { sender: "z".into(), message: "héé".into() });
}

#[test]
fn a_pseudonym_that_is_not_utf8_is_carried_with_replacement_characters_for_the_server_to_refuse() {
    let mut buf = BytesMut::from(&b"\x01\x00\x02\xc3\x28\x01\x00\x01a"[..]);
    let codec = Codec::default();
    assert_eq!(codec.decode(&mut buf), Ok(Some(Packet::Cr { pseudo: "\u{FFFD}(".into() })));
    assert_eq!(codec.decode(&mut buf), Ok(Some(Packet::Cr { pseudo: "a".into() })), "the stream goes on");
}

#[test]
fn violations() {
    check_err(b"\x00", DecodeError::UnknownOpcode(0));
    check_err(b"\x09", DecodeError::UnknownOpcode(9));
    check_err(b"\x7f", DecodeError::UnknownOpcode(127));
    check_err(b"\x01\xff\xff", DecodeError::BadLength { len: -1, max: 1024 });
    check_err(b"\x01\x80\x00", DecodeError::BadLength { len: -32768, max: 1024 });
    check_err(b"\x01\x00\x00", DecodeError::BadLength { len: 0, max: 1024 });
    // Over the limit: refused on the length alone, without waiting for the 1025 bytes.
    check_err(b"\x01\x04\x01", DecodeError::BadLength { len: 1025, max: 1024 });
    check_err(b"\x03\x00\x01a\x7f\xff", DecodeError::BadLength { len: 32767, max: 1024 });
    check_err(b"\x03\x00\x01a\x00\x02\xc3\x28", DecodeError::BadUtf8);
}

#[test]
fn limit_is_configurable() {
    let codec = Codec::new(3);
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"\x01\x00\x04abcd"[..])),
        Err(DecodeError::BadLength { len: 4, max: 3 })
    );
    assert_eq!(
        codec.decode(&mut BytesMut::from(&b"\x01\x00\x03abc"[..])),
        Ok(Some(Packet::Cr { pseudo: "abc".into() }))
    );
    assert_eq!(Codec::new(usize::MAX).max_string(), i16::MAX as usize);
}

#[test]
fn two_packets_in_one_buffer() {
    let mut buf = BytesMut::from(&b"\x08\x01\x01\x00\x01x\x08"[..]);
    let codec = Codec::default();
    assert_eq!(codec.decode(&mut buf), Ok(Some(Packet::error(ErrorCode::Ok))));
    assert_eq!(codec.decode(&mut buf), Ok(Some(Packet::Cr { pseudo: "x".into() })));
    assert_eq!(codec.decode(&mut buf), Ok(None));
    assert_eq!(&buf[..], b"\x08");
}

#[test]
fn encode_cuts_overlong_strings_at_a_char_boundary() {
    let long = "é".repeat(20_000); // 40000 bytes
    let bytes = Packet::Cr { pseudo: long }.to_bytes();
    let len = i16::from_be_bytes([bytes[1], bytes[2]]) as usize;
    assert_eq!(len, 32766);
    assert!(std::str::from_utf8(&bytes[3..]).is_ok());
}

#[test]
fn error_codes_have_meanings() {
    for code in 1..=8 {
        let known = ErrorCode::from_i8(code).expect("known code");
        assert_eq!(known as i8, code);
        assert!(!known.meaning().is_empty());
    }
    assert_eq!(ErrorCode::from_i8(9), None);
    assert_eq!(ErrorCode::PseudoUnavailable.meaning(), "pseudonym unavailable");
}

#[test]
fn fetch_request_and_response() {
    let mut buf = BytesMut::new();
    FetchRequest { path: "notes/a.txt".into() }.encode(&mut buf);
    assert_eq!(&buf[..], b"\x00\x0bnotes/a.txt");
    assert_eq!(FetchRequest::parse(&buf), Ok(Some((FetchRequest { path: "notes/a.txt".into() }, 13))));
    assert_eq!(FetchRequest::parse(&buf[..5]), Ok(None));
    assert_eq!(FetchRequest::starts_response(&buf), Some(false));
    assert!(FetchRequest::parse(b"\x04\x01").is_err());

    let head = FetchResponse::Found { text: true, len: 5 }.head();
    assert_eq!(head, b"HTTP/1.0 200 OK\r\nContent-Type: text\r\nContent-Length: 5\r\n");
    assert_eq!(FetchRequest::starts_response(&head), Some(true));
    let mut stream = head.clone();
    stream.extend_from_slice(b"hello");
    let (parsed, used) = ResponseHead::parse(&stream).unwrap().unwrap();
    assert_eq!(parsed, ResponseHead { status: 200, content_type: "text".into(), len: 5 });
    assert_eq!(&stream[used..], b"hello");
    for cut in 0..head.len() {
        assert_eq!(ResponseHead::parse(&head[..cut]), Ok(None), "cut at {cut}");
    }

    let missing = FetchResponse::NotFound.head();
    assert_eq!(missing, b"HTTP/1.0 404 NotFound\r\nContent-Type: unknown\r\nContent-Length: 0\r\n");
    assert_eq!(ResponseHead::parse(&missing).unwrap().unwrap().0.status, 404);
    // Bare \n line ends are accepted too.
    let lf = b"HTTP/1.0 200 OK\nContent-Type: unknown\nContent-Length: 2\nab";
    assert_eq!(ResponseHead::parse(lf).unwrap().unwrap().0.len, 2);
    assert!(ResponseHead::parse(&[b'H'; 600]).is_err());
    assert!(ResponseHead::parse(b"SPDY 200\r\n").is_err());
}

fn name() -> impl Strategy<Value = String> + Clone {
    "[a-zA-Z0-9_é]{1,20}"
}

fn packet() -> impl Strategy<Value = Packet> {
    let text = "\\PC{1,200}";
    let link = || (name(), name(), any::<i16>()).prop_map(|(s, r, p)| key(&s, &r, p));
    prop_oneof![
        name().prop_map(|pseudo| Packet::Cr { pseudo }),
        (name(), name(), text).prop_map(|(sender, recipient, message)| Packet::Spm { sender, recipient, message }),
        (name(), text).prop_map(|(sender, message)| Packet::Sma { sender, message }),
        link().prop_map(Packet::TcpAsk),
        link().prop_map(Packet::TcpAccept),
        link().prop_map(Packet::TcpAbort),
        link().prop_map(Packet::TcpConnect),
        any::<i8>().prop_map(Packet::Error),
    ]
}

proptest! {
    #[test]
    fn round_trip(packets in proptest::collection::vec(packet(), 1..8), split in any::<prop::sample::Index>()) {
        let mut wire = BytesMut::new();
        for p in &packets {
            p.encode(&mut wire);
        }
        // Deliver the stream in two reads cut anywhere.
        let cut = split.index(wire.len() + 1);
        let mut buf = BytesMut::from(&wire[..cut]);
        let codec = Codec::default();
        let mut got = Vec::new();
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            got.push(p);
        }
        buf.extend_from_slice(&wire[cut..]);
        while let Some(p) = codec.decode(&mut buf).unwrap() {
            got.push(p);
        }
        prop_assert!(buf.is_empty());
        prop_assert_eq!(got, packets);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let codec = Codec::new(16);
        let mut buf = BytesMut::from(&bytes[..]);
        while let Ok(Some(_)) = codec.decode(&mut buf) {}
        let _ = ResponseHead::parse(&bytes);
        let _ = FetchRequest::parse(&bytes);
    }
}

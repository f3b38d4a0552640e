//! ChatHack codec tests: byte literals fed whole and one byte at a time, violations, oversized
//! packets skipped without losing the next one, and round-trip properties.

use super::*;
use proptest::prelude::*;

type Decode<T> = fn(&mut Codec, &mut BytesMut) -> Result<Option<Decoded<T>>, DecodeError>;

/// Decodes `bytes` whole and one byte at a time, expecting `want` exactly at the last byte.
fn check<T: PartialEq + std::fmt::Debug + Clone>(decode: Decode<T>, bytes: &[u8], want: Decoded<T>) {
    let mut whole = BytesMut::from(bytes);
    assert_eq!(decode(&mut Codec::default(), &mut whole), Ok(Some(want.clone())));
    assert!(whole.is_empty(), "a packet must consume exactly its bytes");
    let (mut codec, mut buf) = (Codec::default(), BytesMut::new());
    for (i, b) in bytes.iter().enumerate() {
        buf.put_u8(*b);
        let got = decode(&mut codec, &mut buf).unwrap();
        if i + 1 < bytes.len() {
            assert_eq!(got, None, "decoded early at byte {i}");
        } else {
            assert_eq!(got, Some(want.clone()));
        }
    }
}

fn client(bytes: &[u8], want: ClientPacket) {
    check(Codec::decode_client, bytes, Decoded::Packet(want.clone()));
    assert_eq!(&want.to_bytes()[..], bytes);
}

fn server(bytes: &[u8], want: ServerPacket) {
    check(Codec::decode_server, bytes, Decoded::Packet(want.clone()));
    assert_eq!(&want.to_bytes()[..], bytes);
}

fn direct(bytes: &[u8], want: DirectPacket) {
    check(Codec::decode_direct, bytes, Decoded::Packet(want.clone()));
    assert_eq!(&want.to_bytes()[..], bytes);
}

const LOCAL4: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1));

#[test]
fn client_packets() {
    client(
        b"\x01\x00\x00\x00\x03bob\x00\x00\x00\x02pw",
        ClientPacket::LoginWithPassword { login: "bob".into(), password: "pw".into() },
    );
    client(b"\x02\x00\x00\x00\x03ann", ClientPacket::Login { login: "ann".into() });
    client(
        b"\x03\x00\x00\x00\x03ann\x00\x00\x00\x02hi",
        ClientPacket::Global { login: "ann".into(), message: "hi".into() },
    );
    client(
        b"\x03\x00\x00\x00\x03ann\x00\x00\x00\x00",
        ClientPacket::Global { login: "ann".into(), message: "".into() },
    );
    client(b"\x04\x00\x00\x00\x01a\x00\x00\x00\x01b", ClientPacket::Ask { sender: "a".into(), receiver: "b".into() });
    client(
        b"\x05\x00\x00\x00\x01b\x00\x00\x00\x01a\x00\x00\x1f\x90\x01\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a",
        ClientPacket::Accept { sender: "b".into(), receiver: "a".into(), port: 8080, address: LOCAL4, id: 42 },
    );
    let mut v6 = b"\x05\x00\x00\x00\x01b\x00\x00\x00\x01a\x00\x00\x00\x50\x02".to_vec();
    v6.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
    v6.extend_from_slice(&(-1i64).to_be_bytes());
    client(
        &v6,
        ClientPacket::Accept {
            sender: "b".into(),
            receiver: "a".into(),
            port: 80,
            address: IpAddr::V6(Ipv6Addr::LOCALHOST),
            id: -1,
        },
    );
    client(b"\x06\x00\x00\x00\x01b\x00\x00\x00\x01a", ClientPacket::Deny { sender: "b".into(), receiver: "a".into() });
}

#[test]
fn server_packets() {
    for code in 1..=4 {
        server(&[code as u8], ServerPacket::Ack(code));
    }
    server(
        b"\x05\x00\x00\x00\x03ann\x00\x00\x00\x02hi",
        ServerPacket::Global { login: "ann".into(), message: "hi".into() },
    );
    server(b"\x06\x00\x00\x00\x01a", ServerPacket::Asked { login: "a".into() });
    server(
        b"\x07\x00\x00\x00\x01b\x00\x00\x1f\x90\x01\x7f\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x2a",
        ServerPacket::Accepted { login: "b".into(), port: 8080, address: LOCAL4, id: 42 },
    );
    server(b"\x08\x00\x00\x00\x01b", ServerPacket::Denied { login: "b".into() });
    assert_eq!(ack_meaning(ack::LOGIN_EXISTS), "login already exists");
}

#[test]
fn direct_packets() {
    direct(b"\x09\x00\x00\x00\x01a\x00\x00\x00\x00\x00\x00\x01\x00", DirectPacket::Open { login: "a".into(), id: 256 });
    direct(
        b"\x07\x00\x00\x00\x01a\x00\x00\x00\x03yo!",
        DirectPacket::Message { login: "a".into(), message: "yo!".into() },
    );
    direct(
        b"\x08\x00\x00\x00\x01a\x00\x00\x00\x05f.bin\x00\x00\x00\x03\x00\xff\x01",
        DirectPacket::File { login: "a".into(), name: "f.bin".into(), data: Bytes::from_static(b"\x00\xff\x01") },
    );
}

#[test]
fn violations() {
    let bad = |bytes: &[u8], want: DecodeError| {
        assert_eq!(Codec::default().decode_client(&mut BytesMut::from(bytes)), Err(want));
    };
    bad(b"\x00", DecodeError::UnknownOpcode(0));
    bad(b"\x07", DecodeError::UnknownOpcode(7));
    bad(b"\x02\xff\xff\xff\xff", DecodeError::BadLength { len: -1, max: 1024 });
    // A login is not a last field: over the bound, the framing is not trusted.
    bad(b"\x02\x00\x00\x04\x01", DecodeError::BadLength { len: 1025, max: 1024 });
    bad(b"\x03\x00\x00\x00\x01a\x80\x00\x00\x00", DecodeError::BadLength { len: i64::from(i32::MIN), max: 1024 });
    bad(b"\x02\x00\x00\x00\x02\xc3\x28", DecodeError::BadUtf8);
    bad(b"\x05\x00\x00\x00\x01b\x00\x00\x00\x01a\x00\x00\x00\x50\x03", DecodeError::Malformed("address type"));
    assert_eq!(Codec::default().decode_server(&mut BytesMut::from(&b"\x09"[..])), Err(DecodeError::UnknownOpcode(9)));
    assert_eq!(Codec::default().decode_direct(&mut BytesMut::from(&b"\x01"[..])), Err(DecodeError::UnknownOpcode(1)));
}

/// An oversized global message is reported and skipped, and the next packet decodes: whole,
/// and one byte at a time.
#[test]
fn oversized_message_is_skipped_and_the_stream_goes_on() {
    let mut wire = BytesMut::new();
    ClientPacket::Global { login: "a".into(), message: "x".repeat(2000) }.encode(&mut wire);
    ClientPacket::Global { login: "a".into(), message: "ok".into() }.encode(&mut wire);
    let want = vec![
        Decoded::Oversized { opcode: 3 },
        Decoded::Packet(ClientPacket::Global { login: "a".into(), message: "ok".into() }),
    ];

    let (mut codec, mut buf) = (Codec::default(), wire.clone());
    let mut got = Vec::new();
    while let Some(d) = codec.decode_client(&mut buf).unwrap() {
        got.push(d);
    }
    assert_eq!(got, want);
    assert!(buf.is_empty());

    let (mut codec, mut buf, mut got) = (Codec::default(), BytesMut::new(), Vec::new());
    for b in &wire[..] {
        buf.put_u8(*b);
        while let Some(d) = codec.decode_client(&mut buf).unwrap() {
            got.push(d);
        }
    }
    assert_eq!(got, want);
    // The skipped bytes are never buffered: at most one byte waits at a time here.
    assert!(buf.is_empty());
}

#[test]
fn oversized_file_with_a_configured_bound() {
    let mut codec = Codec::new(4);
    let mut wire = BytesMut::new();
    DirectPacket::File { login: "a".into(), name: "n".into(), data: Bytes::from_static(b"12345") }.encode(&mut wire);
    DirectPacket::File { login: "a".into(), name: "n".into(), data: Bytes::from_static(b"1234") }.encode(&mut wire);
    assert_eq!(codec.decode_direct(&mut wire), Ok(Some(Decoded::Oversized { opcode: 8 })));
    assert!(matches!(codec.decode_direct(&mut wire), Ok(Some(Decoded::Packet(DirectPacket::File { .. })))));
    assert_eq!(codec.max(), 4);
}

fn text() -> impl Strategy<Value = String> + Clone {
    "\\PC{0,40}"
}

#[test]
fn a_file_coming_is_told_from_its_head_until_its_last_byte() {
    let file = DirectPacket::File { login: "ann".into(), name: "a.txt".into(), data: Bytes::from_static(b"12345") };
    let bytes = file.to_bytes();
    let head = bytes.len() - 5;
    for end in 0..=bytes.len() {
        let want = (head..bytes.len()).contains(&end).then(|| ("a.txt".to_owned(), 5, end - head));
        assert_eq!(DirectPacket::file_coming(&bytes[..end], 1024), want, "after {end} bytes");
    }
    // Over the bound, or another packet: nothing to show.
    assert_eq!(DirectPacket::file_coming(&bytes[..head], 4), None);
    let message = DirectPacket::Message { login: "ann".into(), message: "hi".into() }.to_bytes();
    assert_eq!(DirectPacket::file_coming(&message, 1024), None);
}

fn addr() -> impl Strategy<Value = IpAddr> {
    prop_oneof![any::<[u8; 4]>().prop_map(IpAddr::from), any::<[u8; 16]>().prop_map(IpAddr::from)]
}

fn client_packet() -> impl Strategy<Value = ClientPacket> {
    prop_oneof![
        (text(), text()).prop_map(|(login, password)| ClientPacket::LoginWithPassword { login, password }),
        text().prop_map(|login| ClientPacket::Login { login }),
        (text(), text()).prop_map(|(login, message)| ClientPacket::Global { login, message }),
        (text(), text()).prop_map(|(sender, receiver)| ClientPacket::Ask { sender, receiver }),
        (text(), text(), any::<i32>(), addr(), any::<i64>()).prop_map(|(sender, receiver, port, address, id)| {
            ClientPacket::Accept { sender, receiver, port, address, id }
        }),
        (text(), text()).prop_map(|(sender, receiver)| ClientPacket::Deny { sender, receiver }),
    ]
}

fn server_packet() -> impl Strategy<Value = ServerPacket> {
    prop_oneof![
        (1i8..=4).prop_map(ServerPacket::Ack),
        (text(), text()).prop_map(|(login, message)| ServerPacket::Global { login, message }),
        text().prop_map(|login| ServerPacket::Asked { login }),
        (text(), any::<i32>(), addr(), any::<i64>()).prop_map(|(login, port, address, id)| ServerPacket::Accepted {
            login,
            port,
            address,
            id
        }),
        text().prop_map(|login| ServerPacket::Denied { login }),
    ]
}

fn direct_packet() -> impl Strategy<Value = DirectPacket> {
    prop_oneof![
        (text(), any::<i64>()).prop_map(|(login, id)| DirectPacket::Open { login, id }),
        (text(), text()).prop_map(|(login, message)| DirectPacket::Message { login, message }),
        (text(), text(), proptest::collection::vec(any::<u8>(), 0..64))
            .prop_map(|(login, name, data)| DirectPacket::File { login, name, data: data.into() }),
    ]
}

/// Encodes `packets`, delivers them in two reads cut at `cut`, and decodes them back.
fn round_trip<T: PartialEq + std::fmt::Debug>(
    packets: Vec<T>,
    cut: prop::sample::Index,
    encode: fn(&T, &mut BytesMut),
    decode: Decode<T>,
) {
    let mut wire = BytesMut::new();
    packets.iter().for_each(|p| encode(p, &mut wire));
    let cut = cut.index(wire.len() + 1);
    let (mut codec, mut buf, mut got) = (Codec::default(), BytesMut::from(&wire[..cut]), Vec::new());
    for more in [&wire[cut..], &[][..]] {
        while let Some(Decoded::Packet(p)) = decode(&mut codec, &mut buf).unwrap() {
            got.push(p);
        }
        buf.extend_from_slice(more);
    }
    while let Some(Decoded::Packet(p)) = decode(&mut codec, &mut buf).unwrap() {
        got.push(p);
    }
    assert!(buf.is_empty());
    assert_eq!(got, packets);
}

proptest! {
    #[test]
    fn client_round_trip(p in proptest::collection::vec(client_packet(), 1..6), cut in any::<prop::sample::Index>()) {
        round_trip(p, cut, ClientPacket::encode, Codec::decode_client);
    }

    #[test]
    fn server_round_trip(p in proptest::collection::vec(server_packet(), 1..6), cut in any::<prop::sample::Index>()) {
        round_trip(p, cut, ServerPacket::encode, Codec::decode_server);
    }

    #[test]
    fn direct_round_trip(p in proptest::collection::vec(direct_packet(), 1..6), cut in any::<prop::sample::Index>()) {
        round_trip(p, cut, DirectPacket::encode, Codec::decode_direct);
    }

    #[test]
    fn garbage_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        for decode in [
            |c: &mut Codec, b: &mut BytesMut| c.decode_client(b).map(|d| d.is_some()),
            |c: &mut Codec, b: &mut BytesMut| c.decode_server(b).map(|d| d.is_some()),
            |c: &mut Codec, b: &mut BytesMut| c.decode_direct(b).map(|d| d.is_some()),
        ] {
            let (mut codec, mut buf) = (Codec::new(16), BytesMut::from(&bytes[..]));
            while let Ok(true) = decode(&mut codec, &mut buf) {}
        }
    }
}

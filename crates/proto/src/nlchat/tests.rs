//! NL Chat: commands with their exact fields and the original's variants, blocks at and
//! around 214 bytes, and a packet made with Python's `cryptography` (testdata/: a fixed key
//! pair and one raw packet it encrypted, cut by bytes inside a two-byte character).

use super::crypto::{self, blocks, decrypt, encrypt, BLOCK};
use super::*;
use proptest::prelude::*;
use std::sync::OnceLock;

const SERVER_KEY: &str = include_str!("testdata/server-key.pem");
const SERVER_PUB: &str = include_str!("testdata/server-pub.pem");
const PYTHON_PACKET: &str = include_str!("testdata/python-packet.json");
const PYTHON_COMMAND: &str = include_str!("testdata/python-command.json");

fn server_key() -> &'static crypto::Opener {
    static KEY: OnceLock<crypto::Opener> = OnceLock::new();
    KEY.get_or_init(|| crypto::Opener::new(&crypto::private_key_from_pem(SERVER_KEY).unwrap()).unwrap())
}

fn rng() -> rand::rngs::OsRng {
    rand::rngs::OsRng
}

fn round_trip(json: &str) -> Vec<String> {
    let public = crypto::public_key_from_pem(SERVER_PUB).unwrap();
    let sealed = encrypt(json, &crypto::Sealer::new(&public).unwrap());
    assert_eq!(decrypt(&sealed, server_key()).unwrap(), json);
    sealed
}

#[test]
fn a_packet_made_by_python_cryptography_decrypts() {
    let raw = RawPacket::parse(PYTHON_PACKET.trim_end().as_bytes()).unwrap();
    assert_eq!((raw.to.as_str(), raw.messages.len()), (TO_SERVER, 4));
    let json = decrypt(&raw.messages, server_key()).unwrap();
    assert_eq!(json, PYTHON_COMMAND);
    match Command::parse(&json).unwrap() {
        Command::Msg { msg, io: Io::Out, uuid } => {
            assert_eq!(uuid, raw.uuid);
            assert!(msg[0].contains("grüße, 你好"));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn blocks_of_214_bytes_at_character_boundaries() {
    assert_eq!(round_trip(&"a".repeat(BLOCK)).len(), 1, "214 bytes: one block");
    assert_eq!(round_trip(&"a".repeat(BLOCK + 1)).len(), 2, "215 bytes: two");
    assert_eq!(round_trip(&"b".repeat(BLOCK * 3 + 7)).len(), 4);
    // A two-byte character across the boundary moves whole into the next block.
    let text = format!("{}é{}", "x".repeat(BLOCK - 1), "y".repeat(10));
    let cut = blocks(&text);
    assert_eq!(cut.iter().map(|b| b.len()).collect::<Vec<_>>(), [BLOCK - 1, 12]);
    assert_eq!(round_trip(&text).len(), 2);
    // Four-byte characters everywhere: no block passes 214 bytes, and all join back.
    let emoji = "😀".repeat(200);
    assert!(blocks(&emoji).iter().all(|b| b.len() <= BLOCK && b.len() % 4 == 0));
    round_trip(&emoji);
}

#[test]
fn blocks_cut_inside_a_character_are_joined_before_decoding() {
    let public = crypto::public_key_from_pem(SERVER_PUB).unwrap();
    let text = "ab€cd".as_bytes(); // € is three bytes: cut after its first
    let pieces = [&text[..3], &text[3..]];
    let sealed: Vec<String> = pieces
        .iter()
        .map(|p| {
            use base64::Engine;
            let oaep = rsa::Oaep::new::<sha1::Sha1>();
            base64::engine::general_purpose::STANDARD.encode(public.encrypt(&mut rng(), oaep, p).unwrap())
        })
        .collect();
    assert_eq!(decrypt(&sealed, server_key()).unwrap(), "ab€cd");
}

#[test]
fn wrong_keys_and_garbage_blocks_are_refused() {
    let other = crypto::generate(&mut rng());
    let sealed = encrypt("{\"type\":\"server_online\"}", &crypto::Sealer::new(&other.to_public_key()).unwrap());
    assert_eq!(decrypt(&sealed, server_key()), Err(NlError::Decrypt));
    assert_eq!(decrypt(&["not base64!".into()], server_key()), Err(NlError::Base64));
    assert_eq!(decrypt(&["AAAA".into()], server_key()), Err(NlError::Decrypt));
    let many = vec!["AAAA".to_owned(); crypto::MAX_BLOCKS + 1];
    assert_eq!(decrypt(&many, server_key()), Err(NlError::TooManyBlocks(crypto::MAX_BLOCKS)));
    assert_eq!(
        crypto::public_key_from_pem("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").err(),
        Some(NlError::Key)
    );
    assert!(RawPacket::parse(b"{\"type\":\"ring\"}").is_err());
    assert!(RawPacket::parse(b"plain text").is_err());
}

#[test]
fn a_key_too_small_for_a_block_is_refused() {
    let small = crypto::rsa::RsaPrivateKey::new(&mut rng(), 1024).unwrap().to_public_key();
    assert_eq!(crypto::public_key_from_pem(&crypto::public_key_to_pem(&small)).err(), Some(NlError::Key));
}

#[test]
fn keys_in_both_pem_spellings() {
    let key = crypto::public_key_from_pem(SERVER_PUB).unwrap();
    let pem = crypto::public_key_to_pem(&key);
    assert!(pem.starts_with("-----BEGIN PUBLIC KEY-----"));
    use rsa::pkcs1::EncodeRsaPublicKey;
    let pkcs1 = key.to_pkcs1_pem(rsa::pkcs8::LineEnding::LF).unwrap();
    assert_eq!(crypto::public_key_from_pem(&pkcs1).unwrap(), key);
    let server = crypto::private_key_from_pem(SERVER_KEY).unwrap();
    let private = crypto::private_key_to_pem(&server);
    assert_eq!(crypto::private_key_from_pem(&private).unwrap(), server);
}

#[test]
fn commands_with_exact_fields() {
    let cases = [
        (
            Command::Ring { group: "".into(), id: RingId::number(7), time: Some(1_700_000_000.0) },
            r#"{"ID":7,"group":"","time":1700000000.0,"type":"ring"}"#,
        ),
        (Command::RingAckAck { id: RingId::number(7), uuid: "".into() }, r#"{"ID":7,"UUID":"","type":"ringACKACK"}"#),
        (
            Command::Msg { msg: vec!["hi".into()], io: Io::In, uuid: "u".into() },
            r#"{"I/O":"in","UUID":"u","msg":["hi"],"type":"msg"}"#,
        ),
        (
            Command::Status { services: vec![Service { name: "chatos".into(), status: "online".into() }] },
            r#"{"services":[{"name":"chatos","status":"online"}],"type":"status"}"#,
        ),
        (
            Command::ChatState { uuid: "u".into(), io: Io::In, state: ChatState::Composing },
            r#"{"I/O":"in","UUID":"u","state":"composing","type":"chat_state"}"#,
        ),
        (Command::Probe { uuid: "u".into() }, r#"{"UUID":"u","type":"probe"}"#),
        (Command::ServerOnline, r#"{"type":"server_online"}"#),
    ];
    for (command, json) in cases {
        assert_eq!(command.to_json(), json);
        assert_eq!(Command::parse(json).unwrap(), command);
    }
}

#[test]
fn the_originals_variants_are_accepted() {
    let ack = Command::parse(r#"{"type":"ringACK","ID":"12","UUID":"u"}"#).unwrap();
    let Command::RingAck { id, .. } = &ack else { panic!() };
    assert_eq!((id.as_u64(), &id.0), (Some(12), &serde_json::json!("12")), "kept as it came");
    let Command::Ring { time, .. } = Command::parse(r#"{"type":"ring","group":"","ID":3,"time":"17.5"}"#).unwrap()
    else {
        panic!()
    };
    assert_eq!(time, Some(17.5));
    let msg = Command::parse(r#"{"type":"msg","msg":"one","I/O":"out","UUID":"u"}"#).unwrap();
    assert_eq!(msg, Command::Msg { msg: vec!["one".into()], io: Io::Out, uuid: "u".into() });
    for (state, want) in
        [("typing", ChatState::Composing), ("idle", ChatState::Paused), ("no_state", ChatState::Paused)]
    {
        let json = format!(r#"{{"type":"chat_state","UUID":"u","I/O":"out","state":"{state}"}}"#);
        assert_eq!(Command::parse(&json).unwrap(), Command::ChatState { uuid: "u".into(), io: Io::Out, state: want });
    }
    assert_eq!(Command::parse(r#"{"type":"dance"}"#), Err(NlError::UnknownType("dance".into())));
    assert_eq!(Command::parse(r#"{"type":"probe"}"#), Err(NlError::Field("UUID")));
    assert_eq!(Command::parse(r#"{"type":"ringACK","ID":[1],"UUID":"u"}"#), Err(NlError::Field("ID")));
    assert!(Command::parse("[]").is_err() && Command::parse("").is_err());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_text_is_cut_within_bounds_and_joins_back(text in "\\PC{0,700}") {
        let cut = blocks(&text);
        prop_assert!(cut.iter().all(|b| !b.is_empty() && b.len() <= BLOCK));
        prop_assert_eq!(cut.concat(), text.clone());
        let m = Command::Msg { msg: vec![text], io: Io::In, uuid: "u".into() };
        prop_assert_eq!(Command::parse(&m.to_json()).unwrap(), m);
    }
}

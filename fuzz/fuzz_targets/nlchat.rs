//! Fuzzes NL Chat's parsing: the line decoder (whole and cut in two give the same lines, none
//! over the bound), raw packets, the decryption of their blocks with a fixed key (it must
//! refuse garbage, never panic) and the commands a decrypted packet holds, which must print
//! and parse back to themselves.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::line::{Line, LineDecoder};
use proto::nlchat::{crypto, Command, RawPacket};
use std::sync::OnceLock;

const KEY: &str = include_str!("../../crates/proto/src/nlchat/testdata/server-key.pem");

fn key() -> &'static crypto::Opener {
    static K: OnceLock<crypto::Opener> = OnceLock::new();
    K.get_or_init(|| crypto::Opener::new(&crypto::private_key_from_pem(KEY).unwrap()).unwrap())
}

fn lines(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
    let (mut d, mut out) = (LineDecoder::new(max), Vec::new());
    let mut buf = BytesMut::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(l) = d.decode(&mut buf) {
            out.push(l);
        }
        assert!(buf.len() <= max + 2);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let max = usize::from(first % 64) + 1;
    let cut = usize::from(first) % (rest.len() + 1);
    let whole = lines(max, &[rest]);
    assert_eq!(whole, lines(max, &[&rest[..cut], &rest[cut..]]));
    for line in whole {
        if let Line::Text(t) = line {
            assert!(t.len() <= max);
        }
    }
    if let Ok(raw) = RawPacket::parse(rest) {
        // Only a few blocks: decryption is slow, and the count bound is tested apart.
        if raw.messages.len() <= 4 {
            let _ = crypto::decrypt(&raw.messages, key());
        }
    }
    if let Ok(text) = std::str::from_utf8(rest) {
        if let Ok(command) = Command::parse(text) {
            let again = Command::parse(&command.to_json()).unwrap();
            assert_eq!(again.to_json(), command.to_json());
        }
    }
});

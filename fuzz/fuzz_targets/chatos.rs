//! Fuzzes the ChatOS decoder and the file-fetch parsers with arbitrary bytes: no input may
//! panic, a packet may never claim more bytes than it was given, every decoded packet must
//! encode back to the bytes it came from (but a pseudonym that was not UTF-8), and feeding the
//! same bytes in two reads must give the same packets as feeding them whole.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::chatos::{Codec, FetchRequest, Packet, ResponseHead};

fn decode_all(codec: &Codec, chunks: &[&[u8]]) -> (Vec<Packet>, bool) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            let before = buf.len();
            match codec.decode(&mut buf) {
                Ok(Some(p)) => {
                    let used = before - buf.len();
                    assert!(used > 0 && used <= before);
                    out.push(p);
                }
                Ok(None) => break,
                Err(_) => return (out, true),
            }
        }
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    // The first byte picks the string limit and where the stream is cut in two.
    let codec = Codec::new(usize::from(first % 64) + 1);
    let cut = usize::from(first) % (rest.len() + 1);
    let (whole, whole_err) = decode_all(&codec, &[rest]);
    let (split, split_err) = decode_all(&codec, &[&rest[..cut], &rest[cut..]]);
    assert_eq!(whole, split);
    assert_eq!(whole_err, split_err);
    // Every packet encodes back to its bytes, but a CR whose pseudonym was not UTF-8: it was
    // read with U+FFFD in place of the bad bytes (for the server to refuse), so only its
    // length in the stream is checked.
    let mut at = 0;
    for p in &whole {
        let bytes = p.to_bytes();
        match p {
            Packet::Cr { pseudo } if pseudo.contains('\u{FFFD}') => {
                let Some((Packet::Cr { pseudo: again }, used)) = codec.parse(&rest[at..]).unwrap() else {
                    unreachable!()
                };
                assert_eq!(&again, pseudo);
                at += used;
            }
            _ => {
                assert_eq!(&rest[at..at + bytes.len()], &bytes[..]);
                at += bytes.len();
            }
        }
    }

    if let Ok(Some((_, used))) = FetchRequest::parse(rest) {
        assert!(used <= rest.len());
    }
    if let Ok(Some((_, used))) = ResponseHead::parse(rest) {
        assert!(used <= rest.len());
    }
});

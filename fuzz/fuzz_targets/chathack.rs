//! Fuzzes the three ChatHack decoders with arbitrary bytes: no input may panic, and the same
//! bytes fed whole or in two reads must decode to the same items (packets and oversized skips)
//! and end in the same error, if any. A file seen coming (for a progress bar) is never bigger
//! than the bound, and never says more of it arrived than there is.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::chathack::{Codec, Decoded, DirectPacket};
use proto::DecodeError;

type Decode<T> = fn(&mut Codec, &mut BytesMut) -> Result<Option<Decoded<T>>, DecodeError>;

fn decode_all<T>(max: usize, chunks: &[&[u8]], decode: Decode<T>) -> (Vec<Decoded<T>>, Option<DecodeError>) {
    let (mut codec, mut buf, mut out) = (Codec::new(max), BytesMut::new(), Vec::new());
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        loop {
            match decode(&mut codec, &mut buf) {
                Ok(Some(d)) => out.push(d),
                Ok(None) => break,
                Err(e) => return (out, Some(e)),
            }
        }
    }
    (out, None)
}

fn check<T: PartialEq + std::fmt::Debug>(max: usize, data: &[u8], cut: usize, decode: Decode<T>) {
    let whole = decode_all(max, &[data], decode);
    let split = decode_all(max, &[&data[..cut], &data[cut..]], decode);
    assert_eq!(whole, split);
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let max = usize::from(first % 32);
    let cut = usize::from(first) % (rest.len() + 1);
    check(max, rest, cut, Codec::decode_client);
    check(max, rest, cut, Codec::decode_server);
    check(max, rest, cut, Codec::decode_direct);
    if let Some((_, size, arrived)) = DirectPacket::file_coming(rest, max) {
        assert!(size <= max && arrived < size && arrived < rest.len());
    }
});

//! Fuzzes the PeerChat decoder: no input may panic; the same bytes fed whole or in two reads
//! give the same items; every message it reads prints as a line that reads back to itself.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::peerchat::{Codec, Item};

fn items(max: usize, chunks: &[&[u8]]) -> Vec<Item> {
    let (mut codec, mut out, mut buf) = (Codec::new(max), Vec::new(), BytesMut::new());
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf) {
            out.push(item);
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let max = usize::from(first) * 4 + 1;
    let cut = usize::from(first) % (rest.len() + 1);
    let whole = items(max, &[rest]);
    assert_eq!(whole, items(max, &[&rest[..cut], &rest[cut..]]));
    for item in whole {
        if let Item::Message(m) = item {
            let line = m.to_line();
            assert_eq!(items(usize::MAX / 4, &[&line]), vec![Item::Message(m)]);
        }
    }
});

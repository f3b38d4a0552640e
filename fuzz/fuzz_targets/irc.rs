//! Fuzzes the IRC decoder: no input may panic or hold more than a line's bound; the same
//! bytes fed whole or in two reads give the same items; every message it reads prints as a
//! line that reads back to itself.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::irc::{parse_line, Codec, Item, MAX_LINE, MAX_TAGS};

fn items(chunks: &[&[u8]]) -> Vec<Item> {
    let (mut codec, mut out, mut buf) = (Codec::default(), Vec::new(), BytesMut::new());
    for chunk in chunks {
        buf.extend_from_slice(chunk);
        while let Some(item) = codec.decode(&mut buf) {
            out.push(item);
        }
        assert!(buf.len() <= MAX_TAGS + MAX_LINE);
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let cut = data.first().map_or(0, |&b| usize::from(b) % (data.len() + 1));
    let whole = items(&[data]);
    assert_eq!(whole, items(&[&data[..cut], &data[cut..]]));
    for item in whole {
        if let Item::Message(m) = item {
            let line = m.to_line();
            assert_eq!(parse_line(&line[..line.len() - 2]), Item::Message(m));
        }
    }
});

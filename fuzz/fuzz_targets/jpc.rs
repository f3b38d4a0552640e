//! Fuzzes the JPC decoder with arbitrary bytes: no input may panic; the same bytes fed whole
//! or in two reads give the same items; every frame it yields is within the bound and, framed
//! again, decodes to itself.

#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use proto::jpc::{encode_frame, Codec, FrameDecoder, FrameItem, Item};

fn items(max: usize, chunks: &[&[u8]]) -> Vec<FrameItem> {
    let (mut d, mut out) = (FrameDecoder::new(max), Vec::new());
    for chunk in chunks {
        let mut buf = BytesMut::from(*chunk);
        while let Some(item) = d.decode(&mut buf) {
            out.push(item);
        }
        assert!(buf.is_empty());
    }
    out
}

fuzz_target!(|data: &[u8]| {
    let Some((&first, rest)) = data.split_first() else { return };
    let max = usize::from(first % 64) + 1;
    let cut = usize::from(first) % (rest.len() + 1);
    let whole = items(max, &[rest]);
    assert_eq!(whole, items(max, &[&rest[..cut], &rest[cut..]]));
    for item in &whole {
        if let FrameItem::Frame(json) = item {
            assert!(json.len() <= max);
            let mut again = BytesMut::new();
            encode_frame(json, &mut again);
            assert_eq!(items(max, &[&again]), vec![item.clone()]);
        }
    }
    let mut codec = Codec::new(max);
    let mut buf = BytesMut::from(rest);
    while let Some(item) = codec.decode(&mut buf) {
        if let Item::Message(m) = item {
            let _ = m.to_json();
        }
    }
});

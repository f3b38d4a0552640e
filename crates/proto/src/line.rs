//! Bounded lines, for the protocols that send one message a line (NL Chat's raw packets,
//! PeerChat's JSON). A line ends at `\n`; a `\r` before it is dropped. A line longer than the
//! bound is never buffered: its bytes are discarded as they come, up to its end, and it is
//! reported once as [`Line::Oversized`], after which decoding goes on with the next line.

use bytes::{Buf, Bytes, BytesMut};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Line {
    /// One line, without its `\n` or `\r\n`.
    Text(Bytes),
    /// A line over the bound was skipped.
    Oversized,
}

#[derive(Debug, Clone)]
pub struct LineDecoder {
    max: usize,
    /// Inside an oversized line: drop bytes up to its end.
    skipping: bool,
}

impl LineDecoder {
    /// Lines of at most `max` bytes (not counting the line end).
    pub fn new(max: usize) -> Self {
        LineDecoder { max, skipping: false }
    }

    /// The next line in `buf`, taken off its front; `None` until one is whole. Bytes of an
    /// oversized line are taken off as they come, so `buf` never holds more than `max + 2`
    /// bytes on its account.
    pub fn decode(&mut self, buf: &mut BytesMut) -> Option<Line> {
        loop {
            let window = buf.len().min(self.max + 2);
            let end = buf[..window].iter().position(|&b| b == b'\n');
            if self.skipping {
                match buf.iter().position(|&b| b == b'\n') {
                    Some(i) => {
                        buf.advance(i + 1);
                        self.skipping = false;
                        continue;
                    }
                    None => {
                        buf.clear();
                        return None;
                    }
                }
            }
            return match end {
                Some(i) => {
                    let mut line = buf.split_to(i + 1).freeze();
                    line.truncate(i);
                    if line.last() == Some(&b'\r') {
                        line.truncate(i - 1);
                    }
                    if line.len() > self.max {
                        Some(Line::Oversized)
                    } else {
                        Some(Line::Text(line))
                    }
                }
                None if buf.len() > self.max + 1 => {
                    // No end within the bound (a lone `\r` may still come before `\n`):
                    // drop the line, up to its end if that is here already.
                    match buf.iter().position(|&b| b == b'\n') {
                        Some(i) => buf.advance(i + 1),
                        None => {
                            buf.clear();
                            self.skipping = true;
                        }
                    }
                    Some(Line::Oversized)
                }
                None => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(max: usize, chunks: &[&[u8]]) -> Vec<Line> {
        let mut d = LineDecoder::new(max);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for c in chunks {
            buf.extend_from_slice(c);
            while let Some(l) = d.decode(&mut buf) {
                out.push(l);
            }
            assert!(buf.len() <= max + 2);
        }
        out
    }

    fn text(s: &str) -> Line {
        Line::Text(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn lines_crlf_split_and_oversized() {
        assert_eq!(all(8, &[b"ab\ncd\r\n\n"]), [text("ab"), text("cd"), text("")]);
        assert_eq!(all(8, &[b"a", b"b\r", b"\nc"]), [text("ab")]);
        // Exactly the bound passes, with either line end; one more is skipped, and the next
        // line is read as usual, even when the long one came a byte at a time.
        assert_eq!(all(4, &[b"abcd\nabcd\r\nabcde\nok\n"]), [text("abcd"), text("abcd"), Line::Oversized, text("ok")]);
        let long: Vec<&[u8]> = b"0123456789abcdef\nok\n".chunks(1).collect();
        assert_eq!(all(4, &long), [Line::Oversized, text("ok")]);
    }

    #[test]
    fn byte_at_a_time_is_the_same_as_whole() {
        let input = b"one\r\ntwo\n\nthree-is-long\nfour\n";
        let whole = all(5, &[input]);
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(all(5, &bytes), whole);
        assert_eq!(whole, [text("one"), text("two"), text(""), Line::Oversized, text("four")]);
    }
}

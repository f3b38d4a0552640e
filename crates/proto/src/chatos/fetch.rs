//! The file fetch the original ChatOS client runs over a private connection (WIRE.md):
//! request = i16 length + path; response = `HTTP/1.0 200 OK\r\nContent-Type: text|unknown\r\n
//! Content-Length: N\r\n` and then N bytes (no blank line); a missing file is `404 NotFound`
//! with length 0. Either end of a link may ask: a response starts with `HT`, which as a request
//! length would be 18516, beyond [`MAX_PATH`].

use crate::cursor::{Cursor, Short};
use crate::DecodeError;
use bytes::{BufMut, BytesMut};

/// Bound on a requested path, in bytes.
pub const MAX_PATH: usize = 1024;
/// Bound on a response head, in bytes.
pub const MAX_HEAD: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FetchRequest {
    pub path: String,
}

impl FetchRequest {
    pub fn encode(&self, dst: &mut BytesMut) {
        let path = &self.path.as_bytes()[..self.path.len().min(MAX_PATH)];
        dst.put_i16(path.len() as i16);
        dst.put_slice(path);
    }

    /// One request at the front of `src` and its size, `None` if incomplete.
    pub fn parse(src: &[u8]) -> Result<Option<(FetchRequest, usize)>, DecodeError> {
        let mut c = Cursor::new(src);
        match c.str16(MAX_PATH) {
            Ok(path) => Ok(Some((FetchRequest { path }, c.position()))),
            Err(Short::Incomplete) => Ok(None),
            Err(Short::Invalid(e)) => Err(e),
            Err(Short::Oversized { .. }) => Err(DecodeError::Malformed("oversized field")),
        }
    }

    /// Whether the bytes at the front of a link start a response rather than a request;
    /// `None` until two bytes have arrived.
    pub fn starts_response(src: &[u8]) -> Option<bool> {
        src.get(..2).map(|p| p == b"HT")
    }
}

/// What a sharing peer answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FetchResponse {
    /// The file follows: `len` bytes, `text` if it is UTF-8 text.
    Found {
        text: bool,
        len: u64,
    },
    NotFound,
}

impl FetchResponse {
    /// The response head, to be followed by the body's bytes.
    pub fn head(&self) -> Vec<u8> {
        let (status, kind, len) = match *self {
            FetchResponse::Found { text, len } => ("200 OK", if text { "text" } else { "unknown" }, len),
            FetchResponse::NotFound => ("404 NotFound", "unknown", 0),
        };
        format!("HTTP/1.0 {status}\r\nContent-Type: {kind}\r\nContent-Length: {len}\r\n").into_bytes()
    }
}

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    pub status: u16,
    pub content_type: String,
    pub len: u64,
}

impl ResponseHead {
    /// Parses the head at the front of `src` up to and including its `Content-Length` line,
    /// and its size in bytes; `None` if incomplete. Lines may end in `\r\n` or `\n`.
    pub fn parse(src: &[u8]) -> Result<Option<(ResponseHead, usize)>, DecodeError> {
        let mut head = ResponseHead { status: 0, content_type: String::new(), len: 0 };
        let mut pos = 0;
        loop {
            let Some(nl) = src[pos..].iter().position(|&b| b == b'\n') else {
                return if src.len() > MAX_HEAD {
                    Err(DecodeError::TooLong { len: src.len(), max: MAX_HEAD })
                } else {
                    Ok(None)
                };
            };
            let line = &src[pos..pos + nl];
            pos += nl + 1;
            if pos > MAX_HEAD {
                return Err(DecodeError::TooLong { len: pos, max: MAX_HEAD });
            }
            let line = std::str::from_utf8(line).map_err(|_| DecodeError::BadUtf8)?;
            let line = line.strip_suffix('\r').unwrap_or(line);
            if head.status == 0 {
                let rest = line.strip_prefix("HTTP/1.").ok_or(DecodeError::Malformed("status line"))?;
                let code = rest.get(2..5).ok_or(DecodeError::Malformed("status code"))?;
                head.status = code.parse().map_err(|_| DecodeError::Malformed("status code"))?;
                continue;
            }
            let (name, value) = line.split_once(':').ok_or(DecodeError::Malformed("header line"))?;
            let value = value.trim();
            if name.eq_ignore_ascii_case("content-type") {
                head.content_type = value.to_owned();
            } else if name.eq_ignore_ascii_case("content-length") {
                head.len = value.parse().map_err(|_| DecodeError::Malformed("content length"))?;
                return Ok(Some((head, pos)));
            }
        }
    }
}

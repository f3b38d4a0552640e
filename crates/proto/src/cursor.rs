//! A checked reader over untrusted bytes, shared by the binary codecs.
//!
//! Every read either returns a value, says the buffer ends too early ([`Short::Incomplete`]),
//! or reports a protocol violation ([`Short::Invalid`]). Lengths are checked against their
//! bound before any byte they announce is awaited or allocated.

use thiserror::Error;

/// Why a frame could not be decoded. Every variant is the peer's fault.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DecodeError {
    #[error("unknown opcode {0}")]
    UnknownOpcode(i8),
    #[error("string length {len} outside 1..={max}")]
    BadLength { len: i64, max: usize },
    #[error("string is not valid UTF-8")]
    BadUtf8,
    #[error("frame of {len} bytes exceeds the limit of {max}")]
    TooLong { len: usize, max: usize },
    #[error("malformed frame: {0}")]
    Malformed(&'static str),
}

/// The outcome of a read that could not produce a value.
#[derive(Debug)]
pub(crate) enum Short {
    /// The buffer ends before the value does: wait for more bytes.
    Incomplete,
    /// The bytes break the protocol.
    Invalid(DecodeError),
    /// A packet's last field announces `len` bytes, more than its bound: the packet can be
    /// skipped whole (those bytes after the cursor's position) and the stream goes on.
    Oversized { len: u64 },
}

impl From<DecodeError> for Short {
    fn from(e: DecodeError) -> Self {
        Short::Invalid(e)
    }
}

pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn position(&self) -> usize {
        self.pos
    }

    pub(crate) fn bytes(&mut self, n: usize) -> Result<&'a [u8], Short> {
        let end = self.pos.checked_add(n).ok_or(Short::Incomplete)?;
        let out = self.buf.get(self.pos..end).ok_or(Short::Incomplete)?;
        self.pos = end;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], Short> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    pub(crate) fn i8(&mut self) -> Result<i8, Short> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    pub(crate) fn i16(&mut self) -> Result<i16, Short> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    pub(crate) fn i32(&mut self) -> Result<i32, Short> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    pub(crate) fn i64(&mut self) -> Result<i64, Short> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// A string preceded by its length in bytes as a big-endian i32, bounded to `0..=max`.
    pub(crate) fn str32(&mut self, max: usize) -> Result<String, Short> {
        let len = self.len32(max)?;
        let raw = self.bytes(len)?;
        Ok(std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?.to_owned())
    }

    /// Like [`Cursor::str32`] for the last field of a packet: over `max`, the packet is
    /// [`Short::Oversized`] rather than invalid.
    pub(crate) fn last_str32(&mut self, max: usize) -> Result<String, Short> {
        let len = self.last_len32(max)?;
        let raw = self.bytes(len)?;
        Ok(std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?.to_owned())
    }

    /// Bytes preceded by their count as a big-endian i32, the last field of a packet.
    pub(crate) fn last_bytes32(&mut self, max: usize) -> Result<&'a [u8], Short> {
        let len = self.last_len32(max)?;
        self.bytes(len)
    }

    fn len32(&mut self, max: usize) -> Result<usize, Short> {
        let len = self.i32()?;
        usize::try_from(len)
            .ok()
            .filter(|&n| n <= max)
            .ok_or(Short::Invalid(DecodeError::BadLength { len: i64::from(len), max }))
    }

    fn last_len32(&mut self, max: usize) -> Result<usize, Short> {
        let len = self.i32()?;
        let n = usize::try_from(len).map_err(|_| DecodeError::BadLength { len: i64::from(len), max })?;
        if n > max {
            return Err(Short::Oversized { len: n as u64 });
        }
        Ok(n)
    }

    /// A string preceded by its length in bytes as a big-endian i16, bounded to `1..=max`.
    pub(crate) fn str16(&mut self, max: usize) -> Result<String, Short> {
        let len = self.i16()?;
        self.string(i64::from(len), max)
    }

    /// Like [`Cursor::str16`], with bytes that are not UTF-8 read as U+FFFD: for a field a
    /// server answers with an error of its own rather than by closing (a ChatOS pseudonym).
    pub(crate) fn str16_lossy(&mut self, max: usize) -> Result<String, Short> {
        let len = self.i16()?;
        Ok(String::from_utf8_lossy(self.raw16(i64::from(len), max)?).into_owned())
    }

    fn string(&mut self, len: i64, max: usize) -> Result<String, Short> {
        let raw = self.raw16(len, max)?;
        let s = std::str::from_utf8(raw).map_err(|_| DecodeError::BadUtf8)?;
        Ok(s.to_owned())
    }

    fn raw16(&mut self, len: i64, max: usize) -> Result<&'a [u8], Short> {
        let n =
            usize::try_from(len).ok().filter(|n| (1..=max).contains(n)).ok_or(DecodeError::BadLength { len, max })?;
        self.bytes(n)
    }
}

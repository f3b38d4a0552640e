//! JPC framing (WIRE.md, "JPC"): `0x7E`, stuff(JSON ‖ CRC), `0x7E`, where the CRC is
//! CRC-16/XMODEM of the JSON, little-endian, and stuffing turns `0x7E` into `0x7D 0x5E` and
//! `0x7D` into `0x7D 0x5D`.
//!
//! [`FrameDecoder`] is a streaming decoder: it keeps its state between reads, so a frame may
//! arrive in any number of pieces; every `0x7E` ends one frame and opens the next, so empty
//! frames (back-to-back flags) are skipped. A frame whose CRC fails, that is too short to hold
//! one, that ends right after an escape, or that grows past the bound is dropped and reported
//! as an ignorable [`FrameItem::Dropped`]; decoding goes on at the next flag. Bytes before the
//! first flag are not part of any frame.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use crc::{Crc, Table, CRC_16_XMODEM};

pub const FLAG: u8 = 0x7E;
pub const ESCAPE: u8 = 0x7D;

/// CRC-16/XMODEM: poly 0x1021, init 0, not reflected; `crc16(b"123456789") == 0x31C3`.
pub const CRC16: Crc<u16, Table<16>> = Crc::<u16, Table<16>>::new(&CRC_16_XMODEM);

pub fn crc16(bytes: &[u8]) -> u16 {
    CRC16.checksum(bytes)
}

/// Large enough for an image sent base64-encoded inside the JSON.
pub const DEFAULT_MAX_FRAME: usize = 8 << 20;

/// Why a frame was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dropped {
    BadCrc,
    /// Fewer than the two bytes of a CRC.
    TooShort,
    /// The frame ended right after an escape byte.
    EndsInEscape,
    /// Longer than the bound: discarded up to the next flag.
    TooLong,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameItem {
    /// A frame's JSON, its CRC checked.
    Frame(Bytes),
    Dropped(Dropped),
}

/// Appends one frame carrying `json` to `dst`.
pub fn encode_frame(json: &[u8], dst: &mut BytesMut) {
    let crc = crc16(json).to_le_bytes();
    dst.reserve(json.len() + json.len() / 16 + 8);
    dst.put_u8(FLAG);
    for &b in json.iter().chain(&crc) {
        if b == FLAG || b == ESCAPE {
            dst.put_u8(ESCAPE);
            dst.put_u8(b ^ 0x20);
        } else {
            dst.put_u8(b);
        }
    }
    dst.put_u8(FLAG);
}

#[derive(Debug)]
pub struct FrameDecoder {
    max: usize,
    /// The current frame, unstuffed (JSON and CRC).
    frame: BytesMut,
    /// A flag has been seen: bytes now belong to a frame.
    in_frame: bool,
    escaped: bool,
    /// The current frame passed the bound: drop bytes up to the next flag.
    discarding: bool,
}

impl Default for FrameDecoder {
    fn default() -> Self {
        FrameDecoder::new(DEFAULT_MAX_FRAME)
    }
}

impl FrameDecoder {
    /// `max` bounds a frame's JSON, in bytes (after unstuffing).
    pub fn new(max: usize) -> Self {
        FrameDecoder { max, frame: BytesMut::new(), in_frame: false, escaped: false, discarding: false }
    }

    /// Whether the decoder holds part of a frame (a close now would cut it off).
    pub fn is_mid_frame(&self) -> bool {
        !self.frame.is_empty() || self.escaped || self.discarding
    }

    /// Takes the next item off `src`, consuming the bytes it looked at; `None` when `src` is
    /// used up without completing one (what it held is kept for the next call).
    pub fn decode(&mut self, src: &mut BytesMut) -> Option<FrameItem> {
        while !src.is_empty() {
            if !self.in_frame || self.discarding {
                // Outside a frame, or discarding: skip to the next flag.
                match src.iter().position(|&b| b == FLAG) {
                    Some(at) => {
                        src.advance(at + 1);
                        let item = self.end_frame();
                        self.in_frame = true;
                        if item.is_some() {
                            return item;
                        }
                    }
                    None => src.clear(),
                }
                continue;
            }
            if self.escaped {
                let b = src.get_u8();
                if b == FLAG {
                    let item = self.end_frame();
                    if item.is_some() {
                        return item;
                    }
                    continue;
                }
                self.escaped = false;
                self.push(&[b ^ 0x20]);
                continue;
            }
            // Copy the run of ordinary bytes in one go, then look at the special byte.
            let run = src.iter().position(|&b| b == FLAG || b == ESCAPE).unwrap_or(src.len());
            if run > 0 {
                let chunk = src.split_to(run);
                self.push(&chunk);
                continue;
            }
            match src.get_u8() {
                FLAG => {
                    if let Some(item) = self.end_frame() {
                        return Some(item);
                    }
                }
                _ => self.escaped = true,
            }
        }
        None
    }

    fn push(&mut self, bytes: &[u8]) {
        if self.frame.len() + bytes.len() > self.max + 2 {
            self.discarding = true;
            self.frame = BytesMut::new();
            return;
        }
        self.frame.extend_from_slice(bytes);
    }

    /// A flag ends the current frame: what it amounts to, `None` for an empty one.
    fn end_frame(&mut self) -> Option<FrameItem> {
        let (discarding, escaped) = (std::mem::take(&mut self.discarding), std::mem::take(&mut self.escaped));
        let mut frame = self.frame.split();
        if self.frame.capacity() > 64 * 1024 {
            self.frame = BytesMut::new(); // an image's worth of memory is not kept once used
        }
        if discarding {
            return Some(FrameItem::Dropped(Dropped::TooLong));
        }
        if escaped {
            return Some(FrameItem::Dropped(Dropped::EndsInEscape));
        }
        match frame.len() {
            0 => None,
            1 => Some(FrameItem::Dropped(Dropped::TooShort)),
            n => {
                let crc = frame.split_off(n - 2);
                let crc = u16::from_le_bytes([crc[0], crc[1]]);
                if crc16(&frame) == crc {
                    Some(FrameItem::Frame(frame.freeze()))
                } else {
                    Some(FrameItem::Dropped(Dropped::BadCrc))
                }
            }
        }
    }
}

//! The remote data path: frames between an importing process and the exporting node's agent.
//!
//! Every frame starts with a fixed 16-byte header: `op: u8, flags: u8, code: u16 (LE),
//! len: u32 (LE), offset: u64 (LE)`, followed by `len` payload bytes for the ops that carry
//! data. The header is decoded without allocation and checked against limits before any
//! payload is read.

/// Header length.
pub const HEADER_LEN: usize = 16;
/// Largest payload of one frame (bigger transfers are split).
pub const MAX_PAYLOAD: u32 = 4 << 20;
/// Ticket length.
pub const TICKET_LEN: usize = 16;

/// Frame kinds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Op {
    /// Client: `offset` = import reference, payload = ticket. Answered by `Status`
    /// (`offset` = segment size on success).
    Hello = 1,
    /// Client: write the payload at `offset`. `flags`: [`FLAG_ACK`] asks for a `Status`;
    /// [`FLAG_WIDTH_MASK`] gives the access width.
    Put = 2,
    /// Client: read `len` bytes at `offset`. Answered by `Data` or `Status`.
    Get = 3,
    /// Client: close the window. Answered by `Status` with the first error since the
    /// previous barrier (0: every earlier put is in the exporter's memory).
    Barrier = 4,
    /// Client: post one event to the exporter ([`FLAG_NO_ACCUMULATE`]). No answer.
    Post = 5,
    /// Agent: result, `code` = 0 or RSMERR.
    Status = 0x81,
    /// Agent: the bytes of a `Get`.
    Data = 0x83,
    /// Agent: the segment was revoked; the connection ends.
    Revoked = 0x8f,
}

impl Op {
    fn from_u8(v: u8) -> Option<Op> {
        Some(match v {
            1 => Op::Hello,
            2 => Op::Put,
            3 => Op::Get,
            4 => Op::Barrier,
            5 => Op::Post,
            0x81 => Op::Status,
            0x83 => Op::Data,
            0x8f => Op::Revoked,
            _ => return None,
        })
    }

    /// Whether the frame carries `len` payload bytes.
    pub fn has_payload(self) -> bool {
        matches!(self, Op::Hello | Op::Put | Op::Data)
    }
}

/// `Put`: answer with a `Status` (implicit barrier mode).
pub const FLAG_ACK: u8 = 0x01;
/// `Post`: `RSM_SIGPOST_NO_ACCUMULATE`.
pub const FLAG_NO_ACCUMULATE: u8 = 0x02;
/// `Put`/`Get`: access width, log2 of bytes in bits 2..4 (0: plain byte copy, 1: 16-bit
/// items, 2: 32-bit, 3: 64-bit).
pub const FLAG_WIDTH_MASK: u8 = 0x0c;
/// Shift of the width field.
pub const FLAG_WIDTH_SHIFT: u8 = 2;

/// A decoded header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Kind.
    pub op: Op,
    /// Flags.
    pub flags: u8,
    /// Status code.
    pub code: u16,
    /// Payload length (or requested length for `Get`).
    pub len: u32,
    /// Offset in the segment (or import reference / size).
    pub offset: u64,
}

/// Why a header is invalid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Unknown op.
    #[error("unknown op {0:#x}")]
    Op(u8),
    /// Length over [`MAX_PAYLOAD`].
    #[error("length {0} over the limit")]
    Length(u32),
}

impl Header {
    /// A header.
    pub fn new(op: Op, flags: u8, code: u16, len: u32, offset: u64) -> Header {
        Header { op, flags, code, len, offset }
    }

    /// Encodes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[0] = self.op as u8;
        b[1] = self.flags;
        b[2..4].copy_from_slice(&self.code.to_le_bytes());
        b[4..8].copy_from_slice(&self.len.to_le_bytes());
        b[8..16].copy_from_slice(&self.offset.to_le_bytes());
        b
    }

    /// Decodes and checks limits.
    ///
    /// # Errors
    ///
    /// [`HeaderError`].
    pub fn decode(b: &[u8; HEADER_LEN]) -> Result<Header, HeaderError> {
        let op = Op::from_u8(b[0]).ok_or(HeaderError::Op(b[0]))?;
        let len = u32::from_le_bytes([b[4], b[5], b[6], b[7]]);
        if len > MAX_PAYLOAD {
            return Err(HeaderError::Length(len));
        }
        Ok(Header {
            op,
            flags: b[1],
            code: u16::from_le_bytes([b[2], b[3]]),
            len,
            offset: u64::from_le_bytes([b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]]),
        })
    }

    /// Access width in bytes from the flags (1, 2, 4 or 8).
    pub fn width(&self) -> usize {
        1 << ((self.flags & FLAG_WIDTH_MASK) >> FLAG_WIDTH_SHIFT)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn roundtrip(op in prop::sample::select(vec![Op::Hello, Op::Put, Op::Get, Op::Barrier, Op::Post, Op::Status, Op::Data, Op::Revoked]),
                     flags in any::<u8>(), code in any::<u16>(), len in 0..=MAX_PAYLOAD, offset in any::<u64>()) {
            let h = Header::new(op, flags, code, len, offset);
            prop_assert_eq!(Header::decode(&h.encode()), Ok(h));
        }

        #[test]
        fn any_bytes_decode_or_error(b in any::<[u8; HEADER_LEN]>()) {
            if let Ok(h) = Header::decode(&b) {
                prop_assert!(h.len <= MAX_PAYLOAD);
                prop_assert_eq!(h.encode(), b);
            }
        }
    }

    #[test]
    fn widths() {
        assert_eq!(Header::new(Op::Put, 0, 0, 0, 0).width(), 1);
        assert_eq!(Header::new(Op::Put, 3 << FLAG_WIDTH_SHIFT, 0, 0, 0).width(), 8);
        assert_eq!(Header::decode(&[0x77; HEADER_LEN]), Err(HeaderError::Op(0x77)));
    }
}

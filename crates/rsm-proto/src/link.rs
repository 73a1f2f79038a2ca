//! Agent-to-agent messages on a controller's link (TCP), and the stream framing they use:
//! a little-endian `u32` length, then a frame as in [`crate::encode`].

use serde::{Deserialize, Serialize};

/// Largest link frame.
pub const MAX_LINK_FRAME: usize = 1 << 20;

/// Length of handshake nonces and MACs.
pub const NONCE_LEN: usize = 32;

/// A message between two node agents.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LinkMsg {
    /// Dialer → acceptor: who I am, whom I want, and a fresh nonce.
    Hello {
        /// Dialing node.
        from: u32,
        /// Node the dialer believes it reached.
        to: u32,
        /// Controller name (e.g. `tcp0`).
        controller: String,
        /// Dialer's nonce.
        nonce: Vec<u8>,
    },
    /// Acceptor → dialer: the acceptor's nonce and its proof of the cluster key.
    Challenge {
        /// Acceptor's nonce.
        nonce: Vec<u8>,
        /// HMAC over both nonces and the node ids, acceptor label.
        mac: Vec<u8>,
    },
    /// Dialer → acceptor: the dialer's proof of the key.
    Proof {
        /// HMAC over both nonces and the node ids, dialer label.
        mac: Vec<u8>,
    },
    /// Liveness probe.
    Ping {
        /// Sequence number.
        seq: u64,
    },
    /// Answer to a ping.
    Pong {
        /// Sequence number of the ping.
        seq: u64,
    },
    /// Importer node → exporter node: connect request for a local process.
    Connect {
        /// Request id (echoed in the reply).
        req: u64,
        /// Import id on the importing node.
        import: u64,
        /// Segment id.
        segment_id: u32,
        /// Requested `RSM_PERM_*`.
        perm: u32,
        /// Importing process's uid.
        uid: u32,
        /// Its gid.
        gid: u32,
        /// Its supplementary groups.
        groups: Vec<u32>,
    },
    /// Exporter node → importer node: connect granted.
    Granted {
        /// Request id.
        req: u64,
        /// Reference of the import on the exporting node.
        remote: u64,
        /// Data-connection ticket (random, never guessable).
        ticket: Vec<u8>,
        /// Segment size.
        size: u64,
        /// Rights granted.
        rights: u32,
    },
    /// Exporter node → importer node: connect refused.
    Refused {
        /// Request id.
        req: u64,
        /// RSMERR code.
        code: u16,
    },
    /// Importer node → exporter node: an import ended.
    Disconnect {
        /// Reference on the exporting node.
        remote: u64,
    },
    /// Exporter node → importer node: these imports (ids on the importing node) are revoked.
    Revoke {
        /// Import ids on the importing node.
        imports: Vec<u64>,
    },
    /// Exporter node → importer node: post one event to each of these imports.
    Signal {
        /// Import ids on the importing node.
        imports: Vec<u64>,
        /// `RSM_SIGPOST_NO_ACCUMULATE`.
        no_accumulate: bool,
    },
}

/// Appends the stream framing of one link message.
pub fn frame_link(msg: &LinkMsg) -> Vec<u8> {
    let body = crate::encode(msg);
    let mut out = Vec::with_capacity(4 + body.len());
    out.extend_from_slice(&(body.len() as u32).to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The body length announced by a link frame's 4-byte prefix, checked against
/// [`MAX_LINK_FRAME`] before anything is allocated.
///
/// # Errors
///
/// [`crate::DecodeError::Malformed`] for a length over the limit.
pub fn frame_len(prefix: [u8; 4]) -> Result<usize, crate::DecodeError> {
    let len = u32::from_le_bytes(prefix) as usize;
    if len > MAX_LINK_FRAME {
        return Err(crate::DecodeError::Malformed(format!("link frame of {len} bytes")));
    }
    Ok(len)
}

/// Splits one link message off the front of a byte stream: `Ok(None)` when more bytes are
/// needed, else the message and how many bytes it used.
///
/// # Errors
///
/// [`crate::DecodeError`] for a frame that is too long or does not decode; the connection is
/// then dropped.
pub fn split_link_frame(buf: &[u8]) -> Result<Option<(LinkMsg, usize)>, crate::DecodeError> {
    let Some(prefix) = buf.get(..4) else { return Ok(None) };
    let len = frame_len([prefix[0], prefix[1], prefix[2], prefix[3]])?;
    let Some(body) = buf.get(4..4 + len) else { return Ok(None) };
    Ok(Some((crate::decode(body)?, 4 + len)))
}

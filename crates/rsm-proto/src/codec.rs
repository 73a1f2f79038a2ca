use serde::{Serialize, de::DeserializeOwned};

/// Version byte at the start of every frame.
pub const VERSION: u8 = 2;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame is empty.
    #[error("empty frame")]
    Empty,
    /// The frame speaks another protocol version.
    #[error("protocol version {0}, expected {VERSION}")]
    Version(u8),
    /// The body is not a valid message.
    #[error("malformed message: {0}")]
    Malformed(String),
    /// Bytes were left over after the message.
    #[error("{0} trailing bytes after the message")]
    Trailing(usize),
}

/// Encodes one message into a frame.
pub fn encode<T: Serialize>(msg: &T) -> Vec<u8> {
    let out = vec![VERSION];
    // postcard only fails for types serde cannot express (maps with unknown length etc.),
    // which our message types never contain.
    match postcard::to_extend(msg, out) {
        Ok(v) => v,
        Err(e) => unreachable!("message types are always encodable: {e}"),
    }
}

/// Decodes one frame.
pub fn decode<T: DeserializeOwned>(frame: &[u8]) -> Result<T, DecodeError> {
    let (&v, body) = frame.split_first().ok_or(DecodeError::Empty)?;
    if v != VERSION {
        return Err(DecodeError::Version(v));
    }
    let (msg, rest) = postcard::take_from_bytes(body).map_err(|e| DecodeError::Malformed(e.to_string()))?;
    if !rest.is_empty() {
        return Err(DecodeError::Trailing(rest.len()));
    }
    Ok(msg)
}

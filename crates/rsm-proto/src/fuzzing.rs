//! Bodies of the fuzz targets (`fuzz/`), shared with the stable replay tests so that every
//! corpus entry also runs in the normal test suite. Each body panics only on a real bug:
//! a decoded message that does not re-encode to an equal message, or a decoder panic.

use crate::data::{HEADER_LEN, Header};
use crate::{LinkMsg, Request, Response, decode, encode, link};

/// Client → agent requests.
pub fn decode_request(data: &[u8]) {
    if let Ok(r) = decode::<Request>(data) {
        assert_eq!(decode::<Request>(&encode(&r)).ok(), Some(r));
    }
}

/// Agent → client answers.
pub fn decode_response(data: &[u8]) {
    if let Ok(r) = decode::<Response>(data) {
        assert_eq!(decode::<Response>(&encode(&r)).ok(), Some(r));
    }
}

/// Agent ↔ agent link stream: frames split off a byte stream one after another.
pub fn link_stream(data: &[u8]) {
    let mut rest = data;
    while let Ok(Some((msg, used))) = link::split_link_frame(rest) {
        assert!(used >= 4 && used <= rest.len());
        let again = link::frame_link(&msg);
        assert_eq!(link::split_link_frame(&again).ok().flatten().map(|(m, _)| m), Some::<LinkMsg>(msg));
        rest = &rest[used..];
    }
}

/// Process ↔ agent data-connection headers.
pub fn data_headers(data: &[u8]) {
    for chunk in data.chunks_exact(HEADER_LEN) {
        let mut b = [0u8; HEADER_LEN];
        b.copy_from_slice(chunk);
        if let Ok(h) = Header::decode(&b) {
            assert_eq!(Header::decode(&h.encode()), Ok(h));
            assert!(matches!(h.width(), 1 | 2 | 4 | 8));
        }
    }
}

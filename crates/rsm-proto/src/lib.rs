//! The wire protocol of rsm, without any I/O.
//!
//! Every message is one frame: a one-byte protocol version followed by the
//! [postcard](https://docs.rs/postcard) encoding of a [`Request`] or [`Response`].
//! Between a client and its node agent, frames travel as `SOCK_SEQPACKET` messages and
//! descriptors ride along with `SCM_RIGHTS`; the message documents which descriptors it
//! carries, in order.
//!
//! Decoding never panics and never allocates more than the frame's own length allows: a
//! malformed frame is a [`DecodeError`], and the receiver drops that connection.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod codec;
pub mod data;
pub mod fuzzing;
pub mod link;
mod msg;

pub use codec::{DecodeError, VERSION, decode, encode};
pub use link::{LinkMsg, MAX_LINK_FRAME, NONCE_LEN, frame_link};
pub use msg::*;

//! Administrative queries of a node agent (what `rsmctl` shows).

use crate::error::{Error, Result};
use crate::node::Node;
use rsm_proto::{Request, Response};
use std::path::Path;

pub use rsm_proto::{AgentStatus, SegmentInfo};

/// Status and counters of the agent listening on `socket`.
///
/// # Errors
///
/// [`Error::CtlrNotPresent`] when no agent answers.
pub fn status(socket: &Path) -> Result<AgentStatus> {
    match Node::open(socket)?.call(&Request::Status, &[])? {
        (Response::Status(s), _) => Ok(s),
        _ => Err(Error::InternalError),
    }
}

/// Every export segment of the agent listening on `socket`.
///
/// # Errors
///
/// [`Error::CtlrNotPresent`] when no agent answers.
pub fn segments(socket: &Path) -> Result<Vec<SegmentInfo>> {
    match Node::open(socket)?.call(&Request::Segments, &[])? {
        (Response::Segments(s), _) => Ok(s),
        _ => Err(Error::InternalError),
    }
}

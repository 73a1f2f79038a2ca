//! Cluster topology.

use crate::error::{Error, Result};
use crate::node::{Node, default_socket};
use rsm_proto::{Request, Response};
use std::path::Path;

pub use rsm_proto::{LocalController, RemoteController, Topology};

/// `RSM_CONNECTION_ACTIVE`: the only path state in which a remote controller may be used.
pub const CONNECTION_ACTIVE: u32 = 3;

/// A snapshot of the topology of the node agent named by `RSM_SOCKET`: this node's id and
/// each local controller (loopback is not listed) with the remote controllers it reaches.
///
/// # Errors
///
/// [`Error::CtlrNotPresent`] when no agent answers.
#[doc(alias = "rsm_get_interconnect_topology")]
pub fn topology() -> Result<Topology> {
    topology_at(&default_socket())
}

/// As [`topology`], from the agent listening on `socket`.
///
/// # Errors
///
/// As for [`topology`].
pub fn topology_at(socket: &Path) -> Result<Topology> {
    let node = Node::open(socket)?;
    match node.call(&Request::Topology, &[])? {
        (Response::Topology(t), _) => Ok(t),
        _ => Err(Error::InternalError),
    }
}

//! # rsm: Remote Shared Memory for Linux
//!
//! The Solaris Remote Shared Memory API (RSMAPI) as a safe Rust API: processes on one
//! machine and across a cluster share named, access-controlled memory segments, with
//! one-sided get/put, direct mapping, barriers that catch every transfer error, and signals.
//!
//! Each node runs one agent, `rsmd`; this crate talks to it over a Unix socket
//! (`RSM_SOCKET`, default `/run/rsm/rsmd.sock`) for the control path (create, publish,
//! connect...). The data path on the same node is plain memory access.
//!
//! ## Quick start
//!
//! ```no_run
//! use rsm::{perm, AccessEntry, BarrierType, Controller, ExportFlags, ExportSegment, ImportSegment};
//!
//! # fn main() -> rsm::Result<()> {
//! let ctl = Controller::get("loopback")?;
//! // Exporter: offer 64 KiB, readable and writable by the owner on this node.
//! let seg = ExportSegment::allocate(&ctl, 64 * 1024, ExportFlags::empty())?;
//! let id = seg.publish(0, &[AccessEntry { node: ctl.local_node(), perm: 0o600 }])?;
//!
//! // Importer (usually another process): connect, put, get.
//! let imp = ImportSegment::connect(&ctl, ctl.local_node(), id, perm::RDWR)?;
//! let bar = imp.init_barrier(BarrierType::Node)?;
//! imp.put(0, b"hello")?;
//! let mut buf = [0u32; 1];
//! imp.get32(0, &mut buf)?;
//! # drop(bar);
//! # Ok(()) }
//! ```
//!
//! ## Thread safety
//!
//! Every type is `Send + Sync` and every operation may be called from many threads at once.
//! Put and get on the loopback controller make no system call and take no process-wide lock
//! (one reader lock of the import segment itself).
//!
//! ## Resource cleanup
//!
//! Dropping the last clone of a segment destroys (export) or disconnects (import) it; the
//! explicit `destroy`/`disconnect` calls report errors instead. When a process exits or is
//! killed, its agent unpublishes and destroys its exports and drops its imports; importers
//! of a revoked segment get [`Error::ConnAborted`] at their next barrier close or
//! implicit-mode access, and can no longer reach the exporter's memory.
//!
//! ## Safety model
//!
//! Memory that another process can change is never exposed as `&[u8]`: use
//! [`ImportSegment::get`]/[`ImportSegment::put`] (copies), or the raw pointer of a mapping.
//! The only `unsafe` functions are the ones that take memory from the caller
//! ([`ExportSegment::create`], [`ExportSegment::rebind`], [`LocalMemory::register`],
//! [`ImportSegment::map_fixed`]).
#![warn(missing_docs)]
#![doc(test(attr(deny(warnings))))]

pub mod admin;
mod controller;
mod error;
mod export;
mod import;
mod node;
mod remote;
mod segmentid;
mod sg;
mod signal;
mod topology;

pub use controller::{Controller, ControllerAttr, DAS8, DAS16, DAS32, DAS64, canonical_name};
pub use error::{Error, Result};
pub use export::{AccessEntry, DLPI_ID_END, ExportFlags, ExportSegment, MAX_ACL, MAX_NODE, USER_APP_ID_BASE};
pub use import::{Barrier, BarrierMode, BarrierType, ImportSegment, MapAt};
pub use node::{DEFAULT_SOCKET, default_socket};
pub use remote::{set_wait_spin, wait_spin};
pub use rsm_os::mem::Elem;
pub use segmentid::{
    DEFAULT_PATH as SEGMENTID_DEFAULT_PATH, default_path as segmentid_default_path, segmentid_range, segmentid_range_in,
};
pub use sg::{IoVec, Local, LocalMemory, MAX_SGIOREQS, RawBuf, SgError};
pub use signal::{POLLRDNORM, PollFd, PostFlags, timeout_ms, wait_pollfd};
pub use topology::{CONNECTION_ACTIVE, LocalController, RemoteController, Topology, topology, topology_at};

/// Access rights (`RSM_PERM_*`).
pub mod perm {
    /// `RSM_PERM_NONE`.
    pub const NONE: u32 = 0;
    /// `RSM_PERM_READ` (0400).
    pub const READ: u32 = 0o400;
    /// `RSM_PERM_WRITE` (0200).
    pub const WRITE: u32 = 0o200;
    /// `RSM_PERM_RDWR` (0600).
    pub const RDWR: u32 = 0o600;
    /// Largest mode an access list entry may carry (0666).
    pub const ALL_RW: u32 = 0o666;
}

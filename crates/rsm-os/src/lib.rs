//! The operating-system layer of rsm.
//!
//! Everything in rsm that needs `unsafe` lives in this crate, in the few modules that say so
//! with a `//! # Safety` header: [`mem`] (mappings, re-backing, copies into shared memory),
//! [`creds`] (`SO_PEERGROUPS`) and [`event`] (keeping `SIGPIPE` off a post). The rest is safe
//! code on top of [`rustix`].
//!
//! Shared memory that other processes (or a remote put served by an agent) may change at any
//! time is never handed out as `&[u8]`: it is reached through raw pointers ([`mem::Mapping`])
//! and copied in and out with [`mem::Mapping::write_at`] / [`mem::Mapping::read_at`].

pub mod creds;
pub mod event;
pub mod gentable;
pub mod mem;
pub mod memfd;
pub mod net;
pub mod poll;
pub mod uds;

pub use rustix::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
pub use rustix::io::Errno;

/// The system page size (`sysconf(_SC_PAGESIZE)`).
pub fn page_size() -> usize {
    rustix::param::page_size()
}

/// Rounds `len` up to a multiple of the page size, or `None` on overflow.
pub fn page_round_up(len: usize) -> Option<usize> {
    let ps = page_size();
    len.checked_add(ps - 1).map(|v| v & !(ps - 1))
}

/// Whether `v` is a multiple of the page size.
pub fn is_page_aligned(v: usize) -> bool {
    v & (page_size() - 1) == 0
}

/// Physical memory of this machine in bytes.
pub fn phys_mem() -> u64 {
    let info = rustix::system::sysinfo();
    (info.totalram as u64).saturating_mul(u64::from(info.mem_unit))
}

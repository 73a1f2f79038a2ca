//! `poll(2)` over descriptors the caller names by number (ordinary descriptors of a C
//! program mixed with rsm's own), as `rsm_intr_signal_wait_pollfd` needs.
//!
//! # Safety
//!
//! `poll(2)` only reads the `fd`/`events` fields and writes `revents` of the array we pass,
//! with its exact length; an invalid descriptor is reported as `POLLNVAL`, never accessed.
#![allow(unsafe_code)]

use rustix::io::Errno;
use std::time::Duration;

/// Laid out exactly as `struct pollfd`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RawPollFd {
    /// Descriptor number.
    pub fd: i32,
    /// Requested events.
    pub events: i16,
    /// Returned events.
    pub revents: i16,
}

/// Polls; `None` waits forever. Returns the number of entries with events.
pub fn poll(fds: &mut [RawPollFd], timeout: Option<Duration>) -> Result<usize, Errno> {
    let ms: libc::c_int = match timeout {
        None => -1,
        Some(t) => t.as_millis().min(i32::MAX as u128) as libc::c_int,
    };
    // SAFETY: RawPollFd has the layout of libc::pollfd; the pointer and length describe
    // our exclusive slice (module invariant).
    let r = unsafe { libc::poll(fds.as_mut_ptr().cast::<libc::pollfd>(), fds.len() as libc::nfds_t, ms) };
    if r < 0 {
        Err(Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL)))
    } else {
        Ok(r as usize)
    }
}

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
    if r < 0 { Err(last_errno()) } else { Ok(r as usize) }
}

/// The `errno` of the system call that just failed.
fn last_errno() -> Errno {
    Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EINVAL))
}

/// Checks, without waiting, that `poll(2)` accepts `n` entries at `fds`: the kernel reads
/// them and writes their `revents` through its user-copy routines, so an array that is not
/// readable and writable fails with `EFAULT` and too many entries (more than
/// `RLIMIT_NOFILE`) with `EINVAL`, where building a slice over them would crash this
/// process. `rsm_intr_signal_wait_pollfd` runs it on a C caller's array before it reads it.
///
/// # Safety
///
/// `fds` must not be memory that this process uses as anything other than `struct pollfd`
/// entries while the call runs (the kernel writes `revents` into every entry).
pub unsafe fn probe(fds: *mut RawPollFd, n: usize) -> Result<(), Errno> {
    // The kernel's own rule (EINVAL above RLIMIT_NOFILE), also for counts that its 32-bit
    // parameter would truncate.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile).current.unwrap_or(u64::MAX);
    if n as u64 > limit || u32::try_from(n).is_err() {
        return Err(Errno::INVAL);
    }
    let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // The system call itself, not libc's poll(): sanitizers intercept that one and read the
    // array in this process first, which is what the probe must not do.
    // SAFETY: the kernel validates the whole range itself (EFAULT, never a fault here) and
    // writes only the revents fields; the caller vouches that nothing else lives there.
    // `zero` lives across the call; no signal mask is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ppoll,
            fds.cast::<libc::pollfd>(),
            n as libc::c_uint,
            &zero as *const libc::timespec,
            std::ptr::null::<libc::sigset_t>(),
            0usize,
        )
    };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

//! Events and poll descriptors (RSMAPI 3.10). The `void *memseg` of these functions is an
//! export or an import handle: the handle's tag says which.
//!
//! # Safety
//!
//! The exported functions write the caller's `struct pollfd` entries and counters; each
//! pointer is NULL-checked first and otherwise trusted to be valid, as in C. A
//! `struct pollfd` array is the caller's own memory, laid out exactly as [`rsm::PollFd`]
//! (asserted below). Handles are never dereferenced (see [`crate::handle`]).
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::export::export;
use crate::handle::{TAG_EXPORT, TAG_IMPORT, tag_of};
use crate::import::import;
use crate::types::{nfds_t, pollfd, uint_t};
use core::ffi::{c_int, c_void};
use rsm::{Error, ExportSegment, ImportSegment, PollFd, PostFlags};

const _: () = {
    assert!(size_of::<PollFd>() == size_of::<pollfd>());
    assert!(align_of::<PollFd>() == align_of::<pollfd>());
    assert!(core::mem::offset_of!(PollFd, fd) == core::mem::offset_of!(pollfd, fd));
    assert!(core::mem::offset_of!(PollFd, events) == core::mem::offset_of!(pollfd, events));
    assert!(core::mem::offset_of!(PollFd, revents) == core::mem::offset_of!(pollfd, revents));
};

/// The segment behind a `void *memseg`.
enum Segment {
    Export(ExportSegment),
    Import(ImportSegment),
}

fn segment(h: *const c_void) -> rsm::Result<Segment> {
    match tag_of(h) {
        TAG_EXPORT => export(h).map(Segment::Export),
        TAG_IMPORT => import(h).map(Segment::Import),
        _ => Err(Error::BadSegHndl),
    }
}

/// Posts one event: from an import handle to the exporter, from an export handle to every
/// importer. `flags`: 0 or `RSM_SIGPOST_NO_ACCUMULATE`.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_intr_signal_post(memseg: *mut c_void, flags: uint_t) -> c_int {
    boundary::call(|| {
        // Unknown bits are ignored, as on Solaris.
        let flags = PostFlags::from_bits_truncate(flags);
        match segment(memseg)? {
            Segment::Export(s) => s.signal_post(flags),
            Segment::Import(s) => s.signal_post(flags),
        }
    })
}

/// Waits until an event is pending on the segment and consumes it; `timeout` in
/// milliseconds, negative waits forever.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_intr_signal_wait(memseg: *mut c_void, timeout: c_int) -> c_int {
    boundary::call(|| {
        let timeout = rsm::timeout_ms(timeout);
        match segment(memseg)? {
            Segment::Export(s) => s.signal_wait(timeout),
            Segment::Import(s) => s.signal_wait(timeout),
        }
    })
}

/// Fills `*fd` with the segment's poll descriptor (`events = POLLRDNORM`) and holds a
/// reference to it until [`rsm_memseg_release_pollfd`].
///
/// # Safety
///
/// `fd` is NULL or valid for writing a `struct pollfd`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_get_pollfd(memseg: *mut c_void, fd: *mut pollfd) -> c_int {
    boundary::call(|| {
        let seg = segment(memseg)?;
        non_null(fd, Error::BadAddr)?;
        let p = match seg {
            Segment::Export(s) => s.get_pollfd()?,
            Segment::Import(s) => s.get_pollfd()?,
        };
        let out = pollfd { fd: p.fd, events: p.events, revents: 0 };
        // SAFETY: fd is valid for writing (caller contract), not NULL (checked).
        unsafe { fd.write_unaligned(out) };
        Ok(())
    })
}

/// Releases one reference taken by [`rsm_memseg_get_pollfd`].
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_release_pollfd(memseg: *mut c_void) -> c_int {
    boundary::call(|| match segment(memseg)? {
        Segment::Export(s) => s.release_pollfd(),
        Segment::Import(s) => s.release_pollfd(),
    })
}

/// `poll(2)` over ordinary and RSM descriptors, consuming one event per ready RSM
/// descriptor. `*numfdsp` (may be NULL) receives the number of entries with events. Returns
/// 0 (not a count) on success, `RSMERR_TIMEOUT` when nothing happened.
///
/// # Safety
///
/// `fds` is NULL (with `nfds` 0) or valid for reading and writing `nfds` entries; `numfdsp`
/// is NULL or valid for writing an `int`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_intr_signal_wait_pollfd(
    fds: *mut pollfd,
    nfds: nfds_t,
    timeout: c_int,
    numfdsp: *mut c_int,
) -> c_int {
    boundary::call(|| {
        if !numfdsp.is_null() {
            // SAFETY: numfdsp is valid for writing (caller contract), not NULL (checked).
            unsafe { numfdsp.write_unaligned(0) };
        }
        let n = usize::try_from(nfds).map_err(|_| Error::BadArgsErrors)?;
        if n > isize::MAX as usize / size_of::<pollfd>() {
            return Err(Error::BadArgsErrors);
        }
        let entries: &mut [PollFd] = if n == 0 {
            &mut []
        } else {
            non_null(fds, Error::BadAddr)?;
            if (fds as usize) % align_of::<pollfd>() != 0 {
                return Err(Error::BadAddr);
            }
            // Let the kernel check the array first, as illumos did by calling poll() before
            // it read fds[]: an unreadable array is RSMERR_BAD_ADDR and too many entries
            // RSMERR_BAD_ARGS_ERRORS, not a crash.
            // SAFETY: fds holds struct pollfd entries (caller contract; PollFd has that
            // layout, asserted above).
            unsafe { rsm_os::poll::probe(fds.cast::<PollFd>(), n) }.map_err(|e| match e {
                rsm_os::Errno::FAULT => Error::BadAddr,
                rsm_os::Errno::INTR => Error::Interrupted,
                rsm_os::Errno::AGAIN | rsm_os::Errno::NOMEM => Error::InsufficientResources,
                _ => Error::BadArgsErrors,
            })?;
            // SAFETY: fds is aligned (checked), not NULL (checked), readable and writable for
            // n entries (the kernel just read and wrote them all), and nothing else uses them
            // during the call (caller contract); PollFd has the layout of struct pollfd.
            unsafe { std::slice::from_raw_parts_mut(fds.cast::<PollFd>(), n) }
        };
        let ready = rsm::wait_pollfd(entries, rsm::timeout_ms(timeout))?;
        if !numfdsp.is_null() {
            // SAFETY: as above.
            unsafe { numfdsp.write_unaligned(c_int::try_from(ready).unwrap_or(c_int::MAX)) };
        }
        Ok(())
    })
}

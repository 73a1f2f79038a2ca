//! Events ("signals") and poll descriptors.
//!
//! Every segment, export or import, has an event counter (a pipe, `rsm_os::event`): a post
//! adds one event, a successful wait consumes exactly one, so N posts allow N waits. Posters
//! get only the writing end.

use crate::error::{Error, Result};
use crate::node::lock;
use rsm_os::{AsFd, AsRawFd, Errno, OwnedFd, RawFd};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

bitflags::bitflags! {
    /// Flags of a signal post (and of `rsm_scat_gath_t.flags`).
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
    pub struct PostFlags: u32 {
        /// `RSM_IMPLICIT_SIGPOST` (scatter/gather only): post once after the vector succeeded.
        const IMPLICIT_SIGPOST = 0x01;
        /// `RSM_SIGPOST_NO_ACCUMULATE`: drop this event if one is already pending.
        const NO_ACCUMULATE = 0x02;
    }
}

/// `POLLRDNORM`, the event an rsm poll descriptor reports.
pub const POLLRDNORM: i16 = 0x040;

/// `POLLIN`: how the counter's reading end reports a pending event.
const POLLIN: i16 = 0x001;

/// The event counter of one segment: the reading end of its pipe (waits, poll descriptor)
/// and the writing end, which the agent gets (and gives to loopback importers of an export).
/// Keeping the writing end open here too means the reading end never sees end of file.
#[derive(Debug)]
pub(crate) struct Counter {
    pub(crate) fd: Arc<OwnedFd>,
    pub(crate) post_end: OwnedFd,
    refs: AtomicU32,
}

/// Registered poll descriptors: the descriptor and its number of references.
type PollfdRegistry = Mutex<HashMap<RawFd, (Arc<OwnedFd>, u32)>>;

fn pollfds() -> &'static PollfdRegistry {
    static R: OnceLock<PollfdRegistry> = OnceLock::new();
    R.get_or_init(Default::default)
}

pub(crate) fn errno_to_error(e: Errno) -> Error {
    match e {
        Errno::INTR => Error::Interrupted,
        Errno::AGAIN | Errno::NOMEM => Error::InsufficientResources,
        Errno::FAULT => Error::BadAddr,
        _ => Error::BadArgsErrors,
    }
}

/// Converts a C-style timeout in milliseconds (negative: forever).
pub fn timeout_ms(ms: i32) -> Option<Duration> {
    u64::try_from(ms).ok().map(Duration::from_millis)
}

impl Counter {
    pub(crate) fn new() -> Result<Counter> {
        let (fd, post_end) = rsm_os::event::create().map_err(|_| Error::InsufficientResources)?;
        Ok(Counter { fd: Arc::new(fd), post_end, refs: AtomicU32::new(0) })
    }

    pub(crate) fn wait(&self, timeout: Option<Duration>) -> Result<()> {
        match rsm_os::event::wait(&*self.fd, timeout) {
            Ok(true) => Ok(()),
            Ok(false) => Err(Error::Timeout),
            Err(e) => Err(errno_to_error(e)),
        }
    }

    pub(crate) fn pollfd_in_use(&self) -> bool {
        self.refs.load(Ordering::SeqCst) > 0
    }

    pub(crate) fn get_pollfd(&self) -> PollFd {
        let raw = self.fd.as_fd().as_raw_fd();
        let mut reg = lock(pollfds());
        reg.entry(raw).or_insert_with(|| (self.fd.clone(), 0)).1 += 1;
        self.refs.fetch_add(1, Ordering::SeqCst);
        PollFd { fd: raw, events: POLLRDNORM, revents: 0 }
    }

    pub(crate) fn release_pollfd(&self) {
        let raw = self.fd.as_fd().as_raw_fd();
        let mut reg = lock(pollfds());
        if self.refs.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |r| r.checked_sub(1)).is_ok() {
            if let Some(e) = reg.get_mut(&raw) {
                e.1 -= 1;
                if e.1 == 0 {
                    reg.remove(&raw);
                }
            }
        }
    }
}

/// One entry of [`wait_pollfd`], laid out as `struct pollfd`.
pub use rsm_os::poll::RawPollFd as PollFd;

/// `poll(2)` over a mix of rsm poll descriptors and ordinary ones. For each rsm descriptor
/// that is ready, one event is consumed (its `revents` stays `POLLRDNORM`, or becomes 0 if
/// another thread took the event first). Returns the number of entries with events.
///
/// # Errors
///
/// [`Error::Timeout`] if nothing happened (or only rsm events that others consumed),
/// [`Error::Interrupted`], [`Error::InsufficientResources`], [`Error::BadArgsErrors`].
#[doc(alias = "rsm_intr_signal_wait_pollfd")]
pub fn wait_pollfd(fds: &mut [PollFd], timeout: Option<Duration>) -> Result<usize> {
    use rsm_os::BorrowedFd;
    // A timeout too long to have a representable deadline is as good as none.
    let deadline = timeout.and_then(|t| std::time::Instant::now().checked_add(t));
    // Hold the descriptors of registered entries so they stay open while we poll.
    let held: Vec<Option<Arc<OwnedFd>>> = {
        let reg = lock(pollfds());
        fds.iter().map(|p| reg.get(&p.fd).map(|e| e.0.clone())).collect()
    };
    loop {
        let remaining = deadline.map(|d| d.saturating_duration_since(std::time::Instant::now()));
        // A counter reports a pending event as POLLIN (and POLLRDNORM): ask rsm
        // descriptors for POLLIN and report it back as the POLLRDNORM of RSMAPI.
        let asked: Vec<i16> = fds.iter().map(|p| p.events).collect();
        for (p, h) in fds.iter_mut().zip(&held) {
            if h.is_some() && p.events & POLLRDNORM != 0 {
                p.events |= POLLIN;
            }
        }
        let polled = rsm_os::poll::poll(fds, remaining);
        for ((p, h), &ev) in fds.iter_mut().zip(&held).zip(&asked) {
            if h.is_some() && ev & POLLRDNORM != 0 {
                p.events = ev;
                if p.revents & POLLIN != 0 {
                    p.revents = (p.revents & !POLLIN) | POLLRDNORM | (ev & POLLIN);
                }
            }
        }
        let n = polled.map_err(errno_to_error)?;
        if n == 0 {
            return Err(Error::Timeout);
        }
        let mut count = 0;
        for (p, h) in fds.iter_mut().zip(&held) {
            if p.revents == 0 {
                continue;
            }
            if let Some(fd) = h {
                if p.revents == POLLRDNORM {
                    let fd: BorrowedFd<'_> = fd.as_fd();
                    match rsm_os::event::try_consume(fd) {
                        Ok(true) => {}
                        Ok(false) => {
                            p.revents = 0;
                            continue;
                        }
                        Err(e) => return Err(errno_to_error(e)),
                    }
                }
            }
            count += 1;
        }
        if count > 0 {
            return Ok(count);
        }
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            return Err(Error::Timeout);
        }
    }
}

//! Event counters: an `eventfd` in semaphore mode per segment. A post adds one, a successful
//! wait consumes exactly one, and the descriptor is pollable.

use rustix::event::{EventfdFlags, PollFd, PollFlags};
use rustix::fd::{AsFd, OwnedFd};
use rustix::io::Errno;
use std::time::{Duration, Instant};

/// Creates a non-blocking semaphore eventfd with a count of zero.
pub fn create() -> Result<OwnedFd, Errno> {
    rustix::event::eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK | EventfdFlags::SEMAPHORE)
}

/// Adds one event.
pub fn post<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    match rustix::io::write(fd, &1u64.to_ne_bytes()) {
        Ok(_) => Ok(()),
        // The counter is at its maximum: events are already pending; nothing is lost that a
        // waiter could tell apart.
        Err(Errno::AGAIN) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether at least one event is pending (without consuming it).
pub fn pending<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    let mut fds = [PollFd::new(&fd, PollFlags::IN)];
    let n = rustix::event::poll(&mut fds, Some(&rustix::time::Timespec { tv_sec: 0, tv_nsec: 0 }))?;
    Ok(n > 0 && fds[0].revents().contains(PollFlags::IN))
}

/// Posts one event only if none is pending. Correct when the caller is the only one posting
/// this way (consumers only ever decrease the count).
pub fn post_no_accumulate<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    if pending(&fd)? { Ok(()) } else { post(fd) }
}

/// Consumes one event if one is pending. `Ok(false)` when none was.
pub fn try_consume<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    let mut buf = [0u8; 8];
    match rustix::io::read(fd, &mut buf) {
        Ok(_) => Ok(true),
        Err(Errno::AGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until an event can be consumed, then consumes it. `timeout` `None` waits forever.
/// Returns `Ok(false)` on timeout; `Err(Errno::INTR)` when interrupted by a signal.
pub fn wait<Fd: AsFd>(fd: Fd, timeout: Option<Duration>) -> Result<bool, Errno> {
    // A timeout too long to have a representable deadline is as good as none.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        if try_consume(&fd)? {
            return Ok(true);
        }
        let remaining = match deadline {
            None => None,
            Some(d) => {
                let now = Instant::now();
                if now >= d {
                    return Ok(false);
                }
                Some(d - now)
            }
        };
        let ts = remaining
            .map(|r| rustix::time::Timespec { tv_sec: r.as_secs() as i64, tv_nsec: i64::from(r.subsec_nanos()) });
        let mut fds = [PollFd::new(&fd, PollFlags::IN)];
        rustix::event::poll(&mut fds, ts.as_ref())?;
    }
}

//! Event counters: a pipe per segment. A post writes one byte into the writing end, a
//! successful wait reads exactly one from the reading end, which is pollable: N posts allow N
//! waits.
//!
//! The segment's owner keeps the reading end; the agent and the importers that post get only
//! the writing end, which cannot read, so nobody but the owner can consume its events. (An
//! eventfd, used before, can only be shared whole: an importer given it to post could also
//! read, i.e. steal, the exporter's events.) A pipe holds up to 64 KiB of pending events (4 KiB
//! once the user has used up `/proc/sys/fs/pipe-user-pages-soft`); posts beyond that are
//! dropped, since events are already pending and a waiter cannot tell them apart.
//!
//! # Safety
//!
//! A write into a pipe whose reading end is closed (its owner is gone) raises `SIGPIPE`, whose
//! default action would kill a C program that merely posted to a segment of a process that
//! has just died. [`post`] blocks `SIGPIPE` in the calling thread around its write and takes
//! back a `SIGPIPE` that the write raised: `pthread_sigmask`, `sigpending` and `sigtimedwait`
//! on signal sets that live on the stack, the only `unsafe` code here.
#![allow(unsafe_code)]

use rustix::event::{PollFd, PollFlags};
use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::pipe::PipeFlags;
use std::time::{Duration, Instant};

/// A new counter with no event: `(reading end, writing end)`, both non-blocking and
/// close-on-exec.
pub fn create() -> Result<(OwnedFd, OwnedFd), Errno> {
    rustix::pipe::pipe_with(PipeFlags::CLOEXEC | PipeFlags::NONBLOCK)
}

/// The signal set holding `SIGPIPE` alone.
fn sigpipe_set() -> libc::sigset_t {
    let mut set = std::mem::MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initializes the whole set it is given, a valid pointer to our own
    // stack slot.
    unsafe { libc::sigemptyset(set.as_mut_ptr()) };
    // SAFETY: initialized just above.
    let mut set = unsafe { set.assume_init() };
    // SAFETY: `set` is an initialized sigset_t of ours; SIGPIPE is a valid signal number.
    unsafe { libc::sigaddset(&mut set, libc::SIGPIPE) };
    set
}

/// Writes `buf` without letting a `SIGPIPE` reach the process (see the module's Safety).
fn write_no_sigpipe(fd: BorrowedFd<'_>, buf: &[u8]) -> Result<usize, Errno> {
    let pipe = sigpipe_set();
    // Any initialized value: pthread_sigmask overwrites it with the old mask.
    let mut old = sigpipe_set();
    // SAFETY: both pointers point to initialized sigset_t values on this stack frame; the
    // mask changes for this thread only and is restored below before returning.
    if unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &pipe, &mut old) } != 0 {
        return Err(Errno::INVAL);
    }
    let mut pending = sigpipe_set();
    // SAFETY: `pending` is an initialized sigset_t of ours, filled in by the call.
    let listed = unsafe { libc::sigpending(&mut pending) } == 0;
    // SAFETY: `pending` is initialized (by sigpipe_set, then by sigpending when it succeeded).
    let already = listed && unsafe { libc::sigismember(&pending, libc::SIGPIPE) } == 1;
    let r = rustix::io::write(fd, buf);
    if r == Err(Errno::PIPE) && !already {
        let zero = libc::timespec { tv_sec: 0, tv_nsec: 0 };
        // SAFETY: valid pointers to our set and timespec; a null siginfo pointer is allowed.
        // With a zero timeout it only dequeues the SIGPIPE pending for this thread (the one
        // our write raised: a pipe write signals the writing thread) and never blocks.
        unsafe { libc::sigtimedwait(&pipe, std::ptr::null_mut(), &zero) };
    }
    // SAFETY: `old` holds the mask returned above; a null old-set pointer is allowed.
    unsafe { libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut()) };
    r
}

/// Adds one event (`fd`: the writing end), in any process: a `SIGPIPE` the write raises
/// (the owner is gone) is kept from the process.
pub fn post<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    outcome(write_no_sigpipe(fd.as_fd(), &[1]))
}

/// As [`post`], for a process that ignores `SIGPIPE` (as every Rust program does unless it
/// changed that: the runtime sets it before `main`), without the three system calls that keep
/// the signal away: how the agent posts.
pub fn post_sigpipe_ignored<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    outcome(rustix::io::write(fd, &[1]))
}

fn outcome(r: Result<usize, Errno>) -> Result<(), Errno> {
    match r {
        Ok(_) => Ok(()),
        // Full: events are already pending; nothing is lost that a waiter could tell apart.
        Err(Errno::AGAIN) => Ok(()),
        // Nobody can read it any more (the owner is gone): the event goes nowhere, as a post
        // to a destroyed segment does.
        Err(Errno::PIPE) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Whether at least one event is pending, without consuming it (either end).
pub fn pending<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    Ok(rustix::io::ioctl_fionread(fd)? > 0)
}

/// Posts one event only if none is pending. Correct when the caller is the only one posting
/// this way (consumers only ever decrease the count). For a process that ignores `SIGPIPE`
/// (see [`post_sigpipe_ignored`]): the agent is that one poster.
pub fn post_no_accumulate_sigpipe_ignored<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    if pending(&fd)? { Ok(()) } else { post_sigpipe_ignored(fd) }
}

/// Consumes one event if one is pending (`fd`: the reading end). `Ok(false)` when none was.
pub fn try_consume<Fd: AsFd>(fd: Fd) -> Result<bool, Errno> {
    let mut b = [0u8; 1];
    match rustix::io::read(fd, &mut b) {
        Ok(1) => Ok(true),
        // End of file: no writing end is left, so no event can ever come (the owner keeps one
        // open for as long as it waits, so this is a misuse).
        Ok(_) => Err(Errno::PIPE),
        Err(Errno::AGAIN) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Waits until an event can be consumed, then consumes it (`fd`: the reading end). `timeout`
/// `None` waits forever. Returns `Ok(false)` on timeout; `Err(Errno::INTR)` when interrupted
/// by a signal.
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_posts_and_only_the_reading_end_consumes() {
        let (r, w) = create().unwrap();
        assert!(!pending(&w).unwrap());
        for _ in 0..3 {
            post(&w).unwrap();
        }
        assert!(pending(&w).unwrap() && pending(&r).unwrap());
        // The writing end cannot take an event.
        assert_eq!(try_consume(&w), Err(Errno::BADF));
        post_no_accumulate_sigpipe_ignored(&w).unwrap();
        for _ in 0..3 {
            assert_eq!(wait(&r, Some(Duration::from_secs(1))), Ok(true));
        }
        assert_eq!(wait(&r, Some(Duration::from_millis(10))), Ok(false));
        post_no_accumulate_sigpipe_ignored(&w).unwrap();
        post_no_accumulate_sigpipe_ignored(&w).unwrap();
        assert_eq!(try_consume(&r), Ok(true));
        assert_eq!(try_consume(&r), Ok(false));
    }

    #[test]
    fn a_post_after_the_owner_is_gone_is_dropped_without_sigpipe() {
        // The default action: the process would die if the guard did not work.
        // SAFETY: restores the default disposition of SIGPIPE for this test process (Rust's
        // runtime ignores it); no handler is installed.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
        let (r, w) = create().unwrap();
        drop(r);
        assert_eq!(post(&w), Ok(()));
        assert_eq!(post(&w), Ok(()));
    }

    #[test]
    fn a_full_counter_drops_further_posts() {
        let (r, w) = create().unwrap();
        let mut n = 0usize;
        while rustix::io::write(&w, &[1]).is_ok() {
            n += 1;
        }
        assert!(n >= 4096, "capacity {n}");
        assert_eq!(post(&w), Ok(()));
        let mut taken = 0;
        while try_consume(&r).unwrap() {
            taken += 1;
        }
        assert_eq!(taken, n);
    }
}

//! Bounded busy-polling on sockets: a wake-up from a blocking wait costs tens of
//! microseconds on idle machines, a non-blocking `recv` loop costs nothing but CPU. Latency
//! paths spin for a bounded time, then block.

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::net::{RecvFlags, SendAncillaryBuffer, SendFlags};
use std::io::IoSlice;
use std::time::{Duration, Instant};

/// What a bounded spin found.
#[derive(Debug, PartialEq, Eq)]
pub enum Spin {
    /// This many bytes arrived (at least one).
    Data(usize),
    /// The peer closed the connection.
    Closed,
    /// Nothing arrived within the budget.
    Nothing,
}

/// Tries before a spin starts yielding the CPU between tries.
const PURE_TRIES: u32 = 2;

/// Tries non-blocking receives into `buf` for up to `budget`. A zero budget tries once.
///
/// The first few tries are a pure busy loop (an answer within a microsecond or so is caught
/// at once); after that the spinner yields the CPU between tries, so that on a machine with
/// more busy threads than CPUs it does not keep the thread it is waiting for (or any other)
/// off the CPU: with nothing else runnable `sched_yield` returns at once and the loop is
/// still a spin.
pub fn recv_spin<Fd: AsFd>(fd: Fd, buf: &mut [u8], budget: Duration) -> Result<Spin, Errno> {
    if buf.is_empty() {
        return Ok(Spin::Data(0));
    }
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        match rustix::net::recv(&fd, &mut *buf, RecvFlags::DONTWAIT) {
            Ok((0, _)) => return Ok(Spin::Closed),
            Ok((k, _)) => return Ok(Spin::Data(k)),
            Err(Errno::AGAIN) | Err(Errno::INTR) => {}
            Err(e) => return Err(e),
        }
        n = n.wrapping_add(1);
        // Reading the clock every few tries keeps the loop tight.
        if n % 16 == 0 && start.elapsed() >= budget {
            return Ok(Spin::Nothing);
        }
        if budget.is_zero() {
            return Ok(Spin::Nothing);
        }
        if n > PURE_TRIES {
            std::thread::yield_now();
        } else {
            std::hint::spin_loop();
        }
    }
}

/// The spin budget from an environment variable in microseconds, else `default_us`.
pub fn spin_budget(var: &str, default_us: u64) -> Duration {
    Duration::from_micros(std::env::var(var).ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default_us))
}

/// Sends `bufs` on a stream socket with one `sendmsg`, never raising `SIGPIPE`: a C program
/// using the library keeps the default action, which would kill it on a reset connection
/// (`writev`, what `Write::write_vectored` uses, has no way to say so). Returns the bytes
/// sent.
///
/// No `MSG_MORE` for pipelined frames: a put in explicit mode must still leave at once (a
/// peer may be polling for it before the window closes); held back, it waited ~200 ms.
pub fn send_vectored<Fd: AsFd>(fd: Fd, bufs: &[IoSlice<'_>]) -> Result<usize, Errno> {
    rustix::net::sendmsg(fd, bufs, &mut SendAncillaryBuffer::default(), SendFlags::NOSIGNAL)
}

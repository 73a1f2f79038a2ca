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
    let r = spin(budget, || match rustix::net::recv(&fd, &mut *buf, RecvFlags::DONTWAIT) {
        Ok((0, _)) => Ok(Some(Spin::Closed)),
        Ok((k, _)) => Ok(Some(Spin::Data(k))),
        Err(Errno::AGAIN) | Err(Errno::INTR) => Ok(None),
        Err(e) => Err(e),
    })?;
    Ok(r.unwrap_or(Spin::Nothing))
}

/// The loop of [`recv_spin`] around any non-blocking attempt: calls `attempt` until it gives
/// `Some` (or an error), for up to `budget`, the first tries back to back, then yielding the
/// CPU between tries. `Ok(None)`: nothing within the budget (a zero budget tries once).
pub fn spin<T>(budget: Duration, mut attempt: impl FnMut() -> Result<Option<T>, Errno>) -> Result<Option<T>, Errno> {
    let start = Instant::now();
    let mut n = 0u32;
    loop {
        if let Some(v) = attempt()? {
            return Ok(Some(v));
        }
        n = n.wrapping_add(1);
        // Reading the clock every few tries keeps the loop tight.
        if budget.is_zero() || (n % 16 == 0 && start.elapsed() >= budget) {
            return Ok(None);
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

//! The remote data path: a TCP connection from this process straight to the agent of the
//! exporting node, which reads and writes the exporter's memory itself.
//!
//! Every wait on the socket is cut into short slices; between slices the connection's
//! generation cell is checked, so a revoked import or a dead path (the local agent bumps the
//! cell within its heartbeat timeout) ends the wait with [`Error::ConnAborted`] instead of
//! hanging. A connection that fails without a revocation reports
//! [`Error::BarrierFailure`] for the window and is re-established on next use.

use crate::error::{Error, Result};
use crate::node::lock;
use rsm_proto::data::{self, Header, Op};
use std::io::{ErrorKind, IoSlice, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Slice of every wait on the socket.
const SLICE: Duration = Duration::from_millis(20);
/// A connection that makes no progress for this long is broken.
const STALL: Duration = Duration::from_secs(5);

struct State {
    stream: Option<TcpStream>,
    /// The exporter said the import is revoked; nothing will work again.
    revoked: bool,
    /// First failure of the current window that the agent cannot know about (the
    /// connection broke).
    window_err: Option<Error>,
    /// Frames went out that no answer has followed yet (posts, pipelined puts): the agent
    /// may not have applied them.
    unconfirmed: bool,
}

pub(crate) struct RemoteConn {
    addr: String,
    import_ref: u64,
    ticket: Vec<u8>,
    state: Mutex<State>,
}

impl std::fmt::Debug for RemoteConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RemoteConn").field("addr", &self.addr).field("import_ref", &self.import_ref).finish()
    }
}

/// What an exchange on the socket ended with.
enum Fail {
    /// The import is revoked (frame from the agent, or the generation cell moved).
    Revoked,
    /// The connection broke or stalled.
    Broken,
}

/// How long a connection that broke (end of stream, reset) waits for a revocation to show
/// before it counts as a transfer failure: an exporting agent that dies closes its connections
/// at once, but the local agent bumps the generation cell only when it marks the path down,
/// a heartbeat or so later. Without the wait, the close after an agent's death would report
/// `RSMERR_BARRIER_FAILURE` (retry) instead of `RSMERR_CONN_ABORTED` (reconnect).
const SETTLE: Duration = Duration::from_secs(1);

fn io_fail(revoked: &dyn Fn() -> bool) -> Fail {
    let t0 = Instant::now();
    loop {
        if revoked() {
            return Fail::Revoked;
        }
        if t0.elapsed() >= SETTLE {
            return Fail::Broken;
        }
        std::thread::sleep(SLICE);
    }
}

/// One more wait slice passed without progress: fails if the import was revoked meanwhile
/// or the connection has made no progress for [`STALL`].
fn idle(last: Instant, revoked: &dyn Fn() -> bool) -> std::result::Result<(), Fail> {
    if revoked() {
        Err(Fail::Revoked)
    } else if last.elapsed() > STALL {
        Err(Fail::Broken)
    } else {
        Ok(())
    }
}

fn is_wait(e: &std::io::Error) -> bool {
    matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted)
}

fn write_all(s: &mut TcpStream, buf: &[u8], revoked: &dyn Fn() -> bool) -> std::result::Result<(), Fail> {
    write_all_vectored(s, &mut [IoSlice::new(buf)], revoked)
}

/// Writes every byte of `bufs` (a frame header and its payload, say: no copy into one buffer),
/// without `SIGPIPE` on a reset connection.
fn write_all_vectored(
    s: &mut TcpStream,
    mut bufs: &mut [IoSlice<'_>],
    revoked: &dyn Fn() -> bool,
) -> std::result::Result<(), Fail> {
    IoSlice::advance_slices(&mut bufs, 0);
    let mut last = Instant::now();
    while !bufs.is_empty() {
        match rsm_os::net::send_vectored(&*s, bufs) {
            Ok(0) => return Err(io_fail(revoked)),
            Ok(n) => {
                IoSlice::advance_slices(&mut bufs, n);
                last = Instant::now();
            }
            Err(e) if is_wait(&std::io::Error::from(e)) => idle(last, revoked)?,
            Err(_) => return Err(io_fail(revoked)),
        }
    }
    Ok(())
}

/// Microseconds a wait for an answer spins; `u64::MAX`: not read from the environment yet.
static SPIN_US: AtomicU64 = AtomicU64::new(u64::MAX);

/// How long a wait for an answer spins before it blocks: [`set_wait_spin`], else
/// `RSM_SPIN_US` microseconds (default 50; 0 blocks at once).
fn spin() -> Duration {
    let us = SPIN_US.load(Ordering::Relaxed);
    if us != u64::MAX {
        return Duration::from_micros(us);
    }
    let d = rsm_os::net::spin_budget("RSM_SPIN_US", 50);
    let _ = SPIN_US.compare_exchange(
        u64::MAX,
        d.as_micros().min(u128::from(u64::MAX - 1)) as u64,
        Ordering::Relaxed,
        Ordering::Relaxed,
    );
    Duration::from_micros(SPIN_US.load(Ordering::Relaxed))
}

/// Sets, for this process, how long a remote operation waiting for the exporting node's
/// answer (an implicit-mode put's status, a get's data, a barrier close) busy-polls before
/// it blocks in the kernel. The default is 50 µs, or `RSM_SPIN_US` from the environment.
///
/// Spinning saves the wake-up of a blocked thread (5–20 µs on a virtual machine) when the
/// answer comes soon; it costs CPU time that other threads of a busy machine could use
/// (the spin yields the CPU between tries, so it never keeps a runnable thread waiting).
/// `Duration::ZERO` blocks at once. Durations are kept in whole microseconds.
pub fn set_wait_spin(d: Duration) {
    SPIN_US.store(d.as_micros().min(u128::from(u64::MAX - 1)) as u64, Ordering::Relaxed);
}

/// The current spin budget of remote waits (see [`set_wait_spin`]).
pub fn wait_spin() -> Duration {
    spin()
}

fn read_exact(s: &mut TcpStream, buf: &mut [u8], revoked: &dyn Fn() -> bool) -> std::result::Result<(), Fail> {
    let len = buf.len();
    read_at_least(s, buf, len, revoked).map(|_| ())
}

/// Reads into `buf` until at least `min` bytes are in (at most `buf.len()`); returns how many.
fn read_at_least(
    s: &mut TcpStream,
    buf: &mut [u8],
    min: usize,
    revoked: &dyn Fn() -> bool,
) -> std::result::Result<usize, Fail> {
    let mut got = 0;
    let mut last = Instant::now();
    while got < min {
        match rsm_os::net::recv_spin(&*s, &mut buf[got..], spin()) {
            Ok(rsm_os::net::Spin::Data(n)) => {
                got += n;
                last = Instant::now();
                continue;
            }
            Ok(rsm_os::net::Spin::Closed) => return Err(io_fail(revoked)),
            Ok(rsm_os::net::Spin::Nothing) => {}
            Err(_) => return Err(io_fail(revoked)),
        }
        match s.read(&mut buf[got..]) {
            Ok(0) => return Err(io_fail(revoked)),
            Ok(n) => {
                got += n;
                last = Instant::now();
            }
            Err(e) if is_wait(&e) => idle(last, revoked)?,
            Err(_) => return Err(io_fail(revoked)),
        }
    }
    Ok(got)
}

/// Gets up to this many bytes are answered into one buffer with their header: one receive
/// instead of two.
const SMALL_GET: usize = 1024;

/// Reads one answer header; a `Revoked` frame becomes [`Fail::Revoked`].
fn read_header(s: &mut TcpStream, revoked: &dyn Fn() -> bool) -> std::result::Result<Header, Fail> {
    let mut hb = [0u8; data::HEADER_LEN];
    read_exact(s, &mut hb, revoked)?;
    let h = Header::decode(&hb).map_err(|_| Fail::Broken)?;
    if h.op == Op::Revoked {
        return Err(Fail::Revoked);
    }
    Ok(h)
}

fn status(code: u16) -> Result<()> {
    if code == 0 { Ok(()) } else { Err(Error::from_wire(code)) }
}

fn width_flag(width: usize) -> u8 {
    (width.trailing_zeros() as u8) << data::FLAG_WIDTH_SHIFT
}

impl RemoteConn {
    /// Opens the data connection (so that a connect fails early when the exporting node
    /// cannot be reached).
    pub(crate) fn open(
        addr: String,
        import_ref: u64,
        ticket: Vec<u8>,
        revoked: &dyn Fn() -> bool,
    ) -> Result<RemoteConn> {
        let c = RemoteConn {
            addr,
            import_ref,
            ticket,
            state: Mutex::new(State { stream: None, revoked: false, window_err: None, unconfirmed: false }),
        };
        {
            let mut st = lock(&c.state);
            c.ensure(&mut st, revoked, Error::RemoteNodeUnreachable)?;
        }
        Ok(c)
    }

    fn dial(&self, revoked: &dyn Fn() -> bool) -> std::result::Result<TcpStream, Fail> {
        let addr: SocketAddr = self.addr.parse().map_err(|_| Fail::Broken)?;
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(2))
            .map_err(|_| if revoked() { Fail::Revoked } else { Fail::Broken })?;
        let _ = s.set_nodelay(true);
        let _ = s.set_read_timeout(Some(SLICE));
        let _ = s.set_write_timeout(Some(SLICE));
        let mut hello = Vec::with_capacity(4 + data::HEADER_LEN + self.ticket.len());
        hello.extend_from_slice(b"RSMD");
        hello.extend_from_slice(&Header::new(Op::Hello, 0, 0, self.ticket.len() as u32, self.import_ref).encode());
        hello.extend_from_slice(&self.ticket);
        write_all(&mut s, &hello, revoked)?;
        // A wrong or withdrawn ticket ends the connection without an answer.
        let h = read_header(&mut s, revoked).map_err(|f| match f {
            Fail::Broken => Fail::Revoked,
            f => f,
        })?;
        if h.op != Op::Status || h.code != 0 {
            return Err(Fail::Revoked);
        }
        Ok(s)
    }

    /// The data connection, dialled again if it broke. A dial that fails without a
    /// revocation reports `unreachable`: `RSMERR_REMOTE_NODE_UNREACHABLE` at connect, but a
    /// transfer error (`RSMERR_BARRIER_FAILURE`) for a put, get or close, whose contract
    /// allows no other.
    fn ensure<'a>(
        &self,
        st: &'a mut State,
        revoked: &dyn Fn() -> bool,
        unreachable: Error,
    ) -> Result<&'a mut TcpStream> {
        if st.revoked || revoked() {
            st.revoked = true;
            return Err(Error::ConnAborted);
        }
        if st.stream.is_none() {
            match self.dial(revoked) {
                Ok(s) => st.stream = Some(s),
                Err(Fail::Revoked) => {
                    st.revoked = true;
                    return Err(Error::ConnAborted);
                }
                Err(Fail::Broken) => return Err(unreachable),
            }
        }
        st.stream.as_mut().ok_or(Error::InternalError)
    }

    /// The agent's status answer as a result. `RSMERR_CONN_ABORTED` from the exporting agent
    /// means the import is revoked: remembered, so that every later call says so too, even
    /// before the `Revoked` frame or this node's generation cell shows it (the agent answers
    /// so from the moment it marks the import, and ends the connection a little later).
    fn answer(st: &mut State, code: u16) -> Result<()> {
        let r = status(code);
        if r == Err(Error::ConnAborted) {
            st.revoked = true;
        }
        r
    }

    /// In explicit mode a failure belongs to the window: the close reports it (the first
    /// one), and the call itself succeeds.
    fn to_window(st: &mut State, e: Error) -> Result<()> {
        st.window_err.get_or_insert(e);
        Ok(())
    }

    fn fail(st: &mut State, f: Fail) -> Error {
        st.stream = None;
        st.unconfirmed = false;
        match f {
            Fail::Revoked => {
                st.revoked = true;
                Error::ConnAborted
            }
            Fail::Broken => {
                st.window_err.get_or_insert(Error::BarrierFailure);
                Error::BarrierFailure
            }
        }
    }

    /// Writes `src` at `offset` with access width `width`. With `ack` (implicit barrier
    /// mode) waits for the agent's status; without, the put is pipelined and its outcome is
    /// reported by the next [`RemoteConn::barrier`].
    pub(crate) fn put(
        &self,
        offset: usize,
        src: &[u8],
        width: usize,
        ack: bool,
        revoked: &dyn Fn() -> bool,
    ) -> Result<()> {
        let mut st = lock(&self.state);
        let r = (|| -> std::result::Result<Result<()>, Fail> {
            let s = match self.ensure(&mut st, revoked, Error::BarrierFailure) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let chunk = (data::MAX_PAYLOAD as usize / width) * width;
            let mut done = 0;
            loop {
                let n = (src.len() - done).min(chunk);
                let last = done + n == src.len();
                let flags = width_flag(width) | if ack && last { data::FLAG_ACK } else { 0 };
                let h = Header::new(Op::Put, flags, 0, n as u32, (offset + done) as u64).encode();
                // Header and payload leave in one system call, the payload without a copy.
                write_all_vectored(s, &mut [IoSlice::new(&h), IoSlice::new(&src[done..done + n])], revoked)?;
                done += n;
                if last {
                    break;
                }
            }
            if ack {
                let h = read_header(s, revoked)?;
                st.unconfirmed = false;
                return Ok(Self::answer(&mut st, h.code));
            }
            st.unconfirmed = true;
            Ok(Ok(()))
        })();
        let r = r.unwrap_or_else(|f| Err(Self::fail(&mut st, f)));
        match r {
            Err(e) if !ack => Self::to_window(&mut st, e),
            r => r,
        }
    }

    /// Reads into `dst` from `offset` with access width `width` (one round trip per 4 MiB).
    /// With `window` (explicit barrier mode) a failed transfer is not reported here but by the
    /// window's close, as for puts (RSMAPI 3.7, 3.9), and `dst` is zeroed (what a get reads
    /// is junk then, as from a loopback mapping moved to scratch pages).
    pub(crate) fn get(
        &self,
        offset: usize,
        dst: &mut [u8],
        width: usize,
        window: bool,
        revoked: &dyn Fn() -> bool,
    ) -> Result<()> {
        let mut st = lock(&self.state);
        let r = (|| -> std::result::Result<Result<()>, Fail> {
            let s = match self.ensure(&mut st, revoked, Error::BarrierFailure) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            let chunk = (data::MAX_PAYLOAD as usize / width) * width;
            let mut done = 0;
            while done < dst.len() {
                let n = (dst.len() - done).min(chunk);
                let h = Header::new(Op::Get, width_flag(width), 0, n as u32, (offset + done) as u64);
                write_all(s, &h.encode(), revoked)?;
                if n <= SMALL_GET {
                    // Header and data usually arrive together: take both in one receive. A
                    // status answer is a lone header (nothing else is in flight), so asking
                    // for more than 16 bytes cannot swallow the start of another frame.
                    let mut b = [0u8; data::HEADER_LEN + SMALL_GET];
                    let want = data::HEADER_LEN + n;
                    let got = read_at_least(s, &mut b[..want], data::HEADER_LEN, revoked)?;
                    let mut hb = [0u8; data::HEADER_LEN];
                    hb.copy_from_slice(&b[..data::HEADER_LEN]);
                    let a = Header::decode(&hb).map_err(|_| Fail::Broken)?;
                    match a.op {
                        Op::Revoked => return Err(Fail::Revoked),
                        Op::Data if a.len as usize == n => {
                            read_exact(s, &mut b[got..want], revoked)?;
                            dst[done..done + n].copy_from_slice(&b[data::HEADER_LEN..want]);
                        }
                        Op::Status if got == data::HEADER_LEN => return Ok(Self::answer(&mut st, a.code)),
                        Op::Status => {
                            // Nothing follows a status unasked but the agent's Revoked frame,
                            // sent right after a CONN_ABORTED answer and taken here in the same
                            // receive: the import is revoked, and the stream is past a frame
                            // boundary, so the connection is over either way.
                            let mut nb = [0u8; data::HEADER_LEN];
                            let whole = got >= 2 * data::HEADER_LEN;
                            if whole {
                                nb.copy_from_slice(&b[data::HEADER_LEN..2 * data::HEADER_LEN]);
                            }
                            let next_revoked = whole && Header::decode(&nb).is_ok_and(|h| h.op == Op::Revoked);
                            if !next_revoked && status(a.code) != Err(Error::ConnAborted) {
                                return Err(Fail::Broken);
                            }
                            return Err(Fail::Revoked);
                        }
                        _ => return Err(Fail::Broken),
                    }
                    done += n;
                    continue;
                }
                let a = read_header(s, revoked)?;
                match a.op {
                    Op::Data if a.len as usize == n => read_exact(s, &mut dst[done..done + n], revoked)?,
                    Op::Status => return Ok(Self::answer(&mut st, a.code)),
                    _ => return Err(Fail::Broken),
                }
                done += n;
            }
            st.unconfirmed = false;
            Ok(Ok(()))
        })();
        match r.unwrap_or_else(|f| Err(Self::fail(&mut st, f))) {
            Err(e) if window => {
                dst.fill(0);
                Self::to_window(&mut st, e)
            }
            r => r,
        }
    }

    /// Closes the window: one round trip; `Ok` means every put since the previous barrier is
    /// in the exporter's memory.
    pub(crate) fn barrier(&self, revoked: &dyn Fn() -> bool) -> Result<()> {
        let mut st = lock(&self.state);
        if let Some(e) = st.window_err.take() {
            if st.revoked || revoked() {
                st.revoked = true;
                return Err(Error::ConnAborted);
            }
            return Err(e);
        }
        let r = (|| -> std::result::Result<Result<()>, Fail> {
            let s = match self.ensure(&mut st, revoked, Error::BarrierFailure) {
                Ok(s) => s,
                Err(e) => return Ok(Err(e)),
            };
            write_all(s, &Header::new(Op::Barrier, 0, 0, 0, 0).encode(), revoked)?;
            let h = read_header(s, revoked)?;
            st.unconfirmed = false;
            Ok(Self::answer(&mut st, h.code))
        })();
        match r {
            Ok(r) => r,
            Err(f) => {
                let e = Self::fail(&mut st, f);
                st.window_err = None;
                Err(e)
            }
        }
    }

    /// Whether the exporting agent said (on this connection) that the import is revoked.
    pub(crate) fn revoked(&self) -> bool {
        lock(&self.state).revoked
    }

    /// Starts a window: forgets failures of the previous one.
    pub(crate) fn open_window(&self) {
        lock(&self.state).window_err = None;
    }

    /// Waits until the exporting agent has applied every frame sent on this connection
    /// (posts, pipelined puts): one round trip, only if something went out unanswered since
    /// the last one. A disconnect travels another way (this node's agent, then the link
    /// between the agents) and could otherwise overtake them: a post made just before a
    /// disconnect would be dropped as a post to a revoked import. Failures are ignored (the
    /// connection is ending anyway); the wait ends after [`SETTLE`] at most.
    pub(crate) fn settle(&self, revoked: &dyn Fn() -> bool) {
        let mut st = lock(&self.state);
        if !st.unconfirmed || st.revoked {
            return;
        }
        let Some(s) = st.stream.as_mut() else { return };
        // A disconnect must not hang on a connection that has gone silent: at most this long.
        let deadline = Instant::now() + SETTLE;
        let over = || revoked() || Instant::now() >= deadline;
        let r =
            write_all(s, &Header::new(Op::Barrier, 0, 0, 0, 0).encode(), &over).and_then(|()| read_header(s, &over));
        match r {
            Ok(_) => st.unconfirmed = false,
            Err(f) => {
                Self::fail(&mut st, f);
            }
        }
    }

    /// Posts one event to the exporter (asynchronous, unacknowledged).
    pub(crate) fn post(&self, no_accumulate: bool, revoked: &dyn Fn() -> bool) -> Result<()> {
        let mut st = lock(&self.state);
        let s = match self.ensure(&mut st, revoked, Error::RemoteNodeUnreachable) {
            Ok(s) => s,
            // The segment is gone: the event is dropped, as the contract says.
            Err(Error::ConnAborted) => return Ok(()),
            Err(e) => return Err(e),
        };
        let flags = if no_accumulate { data::FLAG_NO_ACCUMULATE } else { 0 };
        match write_all(s, &Header::new(Op::Post, flags, 0, 0, 0).encode(), revoked) {
            Ok(()) => {
                st.unconfirmed = true;
                Ok(())
            }
            Err(f) => match Self::fail(&mut st, f) {
                Error::ConnAborted => Ok(()),
                _ => Err(Error::RemoteNodeUnreachable),
            },
        }
    }
}

//! Who is on the other end of a Unix socket: `SO_PEERCRED`, `SO_PEERGROUPS` and
//! `SO_PEERPIDFD`, and taking a descriptor from that process (`pidfd_getfd`).
//!
//! # Safety
//!
//! `getsockopt(SO_PEERGROUPS)` writes at most the buffer length we pass, into a buffer we own;
//! `getsockopt(SO_PEERPIDFD)` writes one `int` that is a new descriptor we then own.
#![allow(unsafe_code)]

use rustix::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use rustix::io::Errno;

/// Credentials of a connected peer, as the kernel recorded them at `connect`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: u32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
    /// Supplementary groups.
    pub groups: Vec<u32>,
}

/// Reads the peer's pid, uid, gid and supplementary groups.
pub fn peer<Fd: AsFd>(sock: Fd) -> Result<PeerCred, Errno> {
    let c = rustix::net::sockopt::socket_peercred(&sock)?;
    let groups = peer_groups(&sock)?;
    Ok(PeerCred { pid: c.pid.as_raw_nonzero().get() as u32, uid: c.uid.as_raw(), gid: c.gid.as_raw(), groups })
}

fn peer_groups<Fd: AsFd>(sock: Fd) -> Result<Vec<u32>, Errno> {
    let mut groups: Vec<libc::gid_t> = vec![0; 64];
    loop {
        let mut len = (groups.len() * std::mem::size_of::<libc::gid_t>()) as libc::socklen_t;
        // SAFETY: groups has room for `len` bytes; the kernel writes at most that and reports
        // the needed size with ERANGE.
        let r = unsafe {
            libc::getsockopt(
                sock.as_fd().as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_PEERGROUPS,
                groups.as_mut_ptr().cast(),
                &mut len,
            )
        };
        let n = len as usize / std::mem::size_of::<libc::gid_t>();
        if r == 0 {
            groups.truncate(n);
            return Ok(groups);
        }
        let e = Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0));
        if e == Errno::RANGE && n > groups.len() && n <= 65536 {
            groups.resize(n, 0);
            continue;
        }
        return Err(e);
    }
}

/// A pidfd of the process that connected `sock` (`SO_PEERPIDFD`, Linux 6.5). Unlike a pid
/// from [`peer`], it cannot come to mean another process: once that process is gone,
/// [`take_fd`] through it fails with `ESRCH`.
pub fn peer_pidfd<Fd: AsFd>(sock: Fd) -> Result<OwnedFd, Errno> {
    let mut fd: libc::c_int = -1;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: fd and len are ours and sized for the one int the kernel writes.
    let r = unsafe {
        libc::getsockopt(sock.as_fd().as_raw_fd(), libc::SOL_SOCKET, libc::SO_PEERPIDFD, (&raw mut fd).cast(), &mut len)
    };
    if r != 0 {
        return Err(Errno::from_raw_os_error(std::io::Error::last_os_error().raw_os_error().unwrap_or(0)));
    }
    if fd < 0 || len as usize != std::mem::size_of::<libc::c_int>() {
        return Err(Errno::INVAL);
    }
    // SAFETY: on success the kernel installed a new descriptor in our table and hands its
    // ownership to us; nothing else refers to it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// A duplicate of descriptor `slot` of the process behind `pidfd` (`pidfd_getfd(2)`),
/// close-on-exec. Needs ptrace rights over it (same user, or `CAP_SYS_PTRACE`): `EPERM`
/// otherwise, `ESRCH` once it has exited, `EBADF` when it has no such descriptor.
pub fn take_fd<Fd: AsFd>(pidfd: Fd, slot: i32) -> Result<OwnedFd, Errno> {
    if slot < 0 {
        return Err(Errno::BADF);
    }
    rustix::process::pidfd_getfd(pidfd, slot, rustix::process::PidfdGetfdFlags::empty())
}

/// The calling process's file-creation mask, from `/proc/self/status` (reading it with
/// `umask(2)` would have to change it, which races with other threads).
pub fn umask() -> u32 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines().find_map(|l| l.strip_prefix("Umask:")).and_then(|v| u32::from_str_radix(v.trim(), 8).ok())
        })
        .unwrap_or(0o022)
}

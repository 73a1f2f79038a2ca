//! Unix `SOCK_SEQPACKET` sockets between clients and their node agent: message boundaries are
//! kept by the kernel and descriptors travel with `SCM_RIGHTS`.

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::path::Path;

/// Largest message either side sends.
pub const MAX_MSG: usize = 64 * 1024;
/// Most descriptors one message carries.
pub const MAX_FDS: usize = 4;

fn socket() -> Result<OwnedFd, Errno> {
    rustix::net::socket_with(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
}

/// Binds and listens on `path` (which must not exist).
pub fn listen(path: &Path) -> Result<OwnedFd, Errno> {
    let fd = socket()?;
    rustix::net::bind(&fd, &SocketAddrUnix::new(path)?)?;
    rustix::net::listen(&fd, 512)?;
    Ok(fd)
}

/// Accepts one client.
pub fn accept<Fd: AsFd>(listener: Fd) -> Result<OwnedFd, Errno> {
    rustix::net::accept_with(listener, SocketFlags::CLOEXEC)
}

/// Connects to the agent listening on `path`.
pub fn connect(path: &Path) -> Result<OwnedFd, Errno> {
    let fd = socket()?;
    rustix::net::connect(&fd, &SocketAddrUnix::new(path)?)?;
    Ok(fd)
}

/// A connected pair (for tests and in-process use).
pub fn pair() -> Result<(OwnedFd, OwnedFd), Errno> {
    rustix::net::socketpair(AddressFamily::UNIX, SocketType::SEQPACKET, SocketFlags::CLOEXEC, None)
}

/// Sends one message with up to [`MAX_FDS`] descriptors.
pub fn send<Fd: AsFd>(sock: Fd, data: &[u8], fds: &[BorrowedFd<'_>]) -> Result<(), Errno> {
    if fds.len() > MAX_FDS || data.len() > MAX_MSG {
        return Err(Errno::INVAL);
    }
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    if !fds.is_empty() && !anc.push(SendAncillaryMessage::ScmRights(fds)) {
        return Err(Errno::INVAL);
    }
    loop {
        match rustix::net::sendmsg(&sock, &[IoSlice::new(data)], &mut anc, SendFlags::NOSIGNAL) {
            Ok(_) => return Ok(()),
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// Receives one message into `buf` (resized to the message). Returns the descriptors that
/// came with it, or `None` when the peer has closed the connection. A message larger than
/// [`MAX_MSG`] is an error (`EMSGSIZE`). `EMFILE`: the message came whole (it is in `buf`) but
/// not all of its descriptors did, because this process is out of descriptors (or the peer
/// sent more than [`MAX_FDS`]); those that came are closed. The connection stays usable.
pub fn recv<Fd: AsFd>(sock: Fd, buf: &mut Vec<u8>) -> Result<Option<Vec<OwnedFd>>, Errno> {
    buf.resize(MAX_MSG, 0);
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let msg = loop {
        match rustix::net::recvmsg(&sock, &mut [IoSliceMut::new(buf)], &mut anc, RecvFlags::CMSG_CLOEXEC) {
            Ok(m) => break m,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    };
    let mut fds = Vec::new();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(it) = m {
            fds.extend(it);
        }
    }
    if msg.bytes == 0 && fds.is_empty() {
        return Ok(None);
    }
    if msg.flags.contains(ReturnFlags::TRUNC) {
        return Err(Errno::MSGSIZE);
    }
    buf.truncate(msg.bytes);
    if msg.flags.contains(ReturnFlags::CTRUNC) {
        return Err(Errno::MFILE);
    }
    Ok(Some(fds))
}

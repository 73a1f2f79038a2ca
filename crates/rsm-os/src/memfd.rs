//! memfd: the shareable backing of every export segment.

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;

/// Creates a memfd of `len` bytes, close-on-exec, sealable, mode 0600.
///
/// The file mode matters: a process holding a read-only descriptor could otherwise re-open
/// `/proc/self/fd/N` for writing. With 0600 only the owner (who can already write) and
/// privileged processes can.
pub fn create(name: &str, len: u64) -> Result<OwnedFd, Errno> {
    let fd = rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::fchmod(&fd, Mode::from_raw_mode(0o600))?;
    rustix::fs::ftruncate(&fd, len)?;
    Ok(fd)
}

/// Seals the size: nobody (not even a peer holding the fd) can shrink or grow it, so a
/// mapping of it can never SIGBUS.
pub fn seal_size<Fd: AsFd>(fd: Fd) -> Result<(), Errno> {
    rustix::fs::fcntl_add_seals(fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
}

/// Opens a second, read-only file description of the same memfd. A writable shared mapping
/// of the returned descriptor is refused by the kernel (`EACCES`).
pub fn reopen_readonly<Fd: AsFd>(fd: Fd) -> Result<OwnedFd, Errno> {
    let path = format!("/proc/self/fd/{}", rustix::fd::AsRawFd::as_raw_fd(&fd.as_fd()));
    rustix::fs::open(path.as_str(), OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
}

/// Which file `fd` refers to (device and inode): two descriptors with the same identity are
/// the same memfd.
pub fn identity<Fd: AsFd>(fd: Fd) -> Result<(u64, u64), Errno> {
    let st = rustix::fs::fstat(fd)?;
    Ok((st.st_dev, st.st_ino))
}

/// Size of the file behind `fd`.
pub fn size<Fd: AsFd>(fd: Fd) -> Result<u64, Errno> {
    Ok(rustix::fs::fstat(fd)?.st_size as u64)
}

/// Whether the size of the memfd is sealed (shrink and grow).
pub fn is_size_sealed<Fd: AsFd>(fd: Fd) -> bool {
    rustix::fs::fcntl_get_seals(fd).is_ok_and(|s| s.contains(SealFlags::SHRINK | SealFlags::GROW))
}

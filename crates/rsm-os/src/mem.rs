//! Memory mappings of segments, re-backing of caller memory, and copies into and out of
//! memory that other processes may change concurrently.
//!
//! # Safety
//!
//! This module is one of the two places in rsm with `unsafe` code. Its invariants:
//!
//! * A [`Mapping`] describes `len` bytes at `ptr` that stay mapped (readable, and writable if
//!   `writable`) for the whole life of the value. Owned mappings are only unmapped in `Drop`;
//!   [`Mapping::redirect_to_scratch`] replaces the pages in place, so the range stays valid.
//!   Borrowed mappings ([`Mapping::borrowed`]) get this promise from their `unsafe` creator.
//! * Every access through a `Mapping` is bounds-checked against `len` first.
//! * Bytes in a mapping may be changed by another process at any time, so no `&[u8]` is ever
//!   formed over them: data moves with raw-pointer copies (`copy_nonoverlapping`, volatile
//!   element accesses), which is what such memory allows.
#![allow(unsafe_code)]

use rustix::fd::AsFd;
use rustix::io::Errno;
use rustix::mm::{MapFlags, MremapFlags, ProtFlags};
use std::ffi::c_void;
use std::ptr::NonNull;

/// Access rights of a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Prot {
    /// No access at all (`PROT_NONE`).
    None,
    /// Loads only.
    Read,
    /// Loads and stores.
    ReadWrite,
}

impl Prot {
    fn flags(self) -> ProtFlags {
        match self {
            Prot::None => ProtFlags::empty(),
            Prot::Read => ProtFlags::READ,
            Prot::ReadWrite => ProtFlags::READ | ProtFlags::WRITE,
        }
    }
}

/// An access fell outside a mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOfBounds;

/// A range of memory reached through raw pointers only (like memmap2's `MmapRaw`).
#[derive(Debug)]
pub struct Mapping {
    ptr: NonNull<u8>,
    len: usize,
    prot: Prot,
    owned: bool,
}

// SAFETY: a Mapping is a plain address range; every access is a raw copy that is valid from
// any thread (the memory is shared with other processes anyway).
unsafe impl Send for Mapping {}
// SAFETY: as for Send: no method hands out references into the range.
unsafe impl Sync for Mapping {}

fn map_err(e: Errno) -> Errno {
    e
}

impl Mapping {
    /// Maps `len` bytes of `fd` from offset 0, shared, at an address the system picks.
    pub fn map_shared<Fd: AsFd>(fd: Fd, len: usize, prot: Prot) -> Result<Mapping, Errno> {
        Self::map_shared_at(fd, 0, len, prot)
    }

    /// Maps `len` bytes of `fd` from `offset` (page aligned), shared.
    pub fn map_shared_at<Fd: AsFd>(fd: Fd, offset: u64, len: usize, prot: Prot) -> Result<Mapping, Errno> {
        if len == 0 {
            return Err(Errno::INVAL);
        }
        // SAFETY: a null hint without MAP_FIXED lets the kernel choose an unused range, so no
        // existing memory is affected.
        let ptr = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot.flags(), MapFlags::SHARED, fd, offset) }
            .map_err(map_err)?;
        Ok(Mapping { ptr: nonnull(ptr), len, prot, owned: true })
    }

    /// Maps `len` bytes of `fd` from `offset` at exactly `addr`, replacing whatever was there.
    ///
    /// # Safety
    ///
    /// `[addr, addr+len)` must be page aligned and must not hold memory that Rust code still
    /// references (it is replaced); the caller gives it up to the returned mapping.
    pub unsafe fn map_shared_fixed<Fd: AsFd>(
        fd: Fd,
        offset: u64,
        addr: *mut u8,
        len: usize,
        prot: Prot,
    ) -> Result<Mapping, Errno> {
        if len == 0 || addr.is_null() {
            return Err(Errno::INVAL);
        }
        // SAFETY: the caller gives up the range (function contract); MAP_FIXED replaces it.
        let ptr = unsafe {
            rustix::mm::mmap(addr.cast(), len, prot.flags(), MapFlags::SHARED | MapFlags::FIXED, fd, offset)
        }?;
        Ok(Mapping { ptr: nonnull(ptr), len, prot, owned: true })
    }

    /// A private, zero-filled, read-write mapping.
    pub fn anonymous(len: usize) -> Result<Mapping, Errno> {
        if len == 0 {
            return Err(Errno::INVAL);
        }
        // SAFETY: a null hint without MAP_FIXED affects no existing memory.
        let ptr = unsafe {
            rustix::mm::mmap_anonymous(std::ptr::null_mut(), len, ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE)
        }?;
        Ok(Mapping { ptr: nonnull(ptr), len, prot: Prot::ReadWrite, owned: true })
    }

    /// Describes memory the caller owns (it is never unmapped by this value).
    ///
    /// # Safety
    ///
    /// `[ptr, ptr+len)` must stay mapped with at least `prot` access for as long as the
    /// returned value and anything derived from it is used.
    pub unsafe fn borrowed(ptr: NonNull<u8>, len: usize, prot: Prot) -> Mapping {
        Mapping { ptr, len, prot, owned: false }
    }

    /// First byte of the range.
    pub fn as_ptr(&self) -> *mut u8 {
        self.ptr.as_ptr()
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the mapping is empty (never true: mappings have at least one byte).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Access rights.
    pub fn prot(&self) -> Prot {
        self.prot
    }

    /// Gives up ownership: the range stays mapped and is now the caller's.
    pub fn leak(mut self) -> (NonNull<u8>, usize) {
        self.owned = false;
        (self.ptr, self.len)
    }

    fn check(&self, offset: usize, len: usize) -> Result<*mut u8, OutOfBounds> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => Ok(self.ptr.as_ptr().wrapping_add(offset)),
            _ => Err(OutOfBounds),
        }
    }

    /// Copies `src` into the range at `offset`.
    pub fn write_at(&self, offset: usize, src: &[u8]) -> Result<(), OutOfBounds> {
        let dst = self.check(offset, src.len())?;
        if self.prot != Prot::ReadWrite {
            return Err(OutOfBounds);
        }
        // SAFETY: dst..dst+len is inside the mapping (checked above), which is mapped
        // writable (checked above) for the life of self; src is a distinct Rust slice, so
        // the ranges cannot overlap.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), dst, src.len()) };
        Ok(())
    }

    /// Copies bytes of the range at `offset` into `dst`.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<(), OutOfBounds> {
        let src = self.check(offset, dst.len())?;
        if self.prot == Prot::None {
            return Err(OutOfBounds);
        }
        // SAFETY: src..src+len is inside the readable mapping (checked above); dst is an
        // exclusive Rust slice that cannot overlap memory we only reach by pointer.
        unsafe { std::ptr::copy_nonoverlapping(src, dst.as_mut_ptr(), dst.len()) };
        Ok(())
    }

    /// Stores each element of `src` with one access of its width at `offset + i*size`.
    /// `offset` must be aligned to the element size.
    pub fn write_elems<T: Elem>(&self, offset: usize, src: &[T]) -> Result<(), OutOfBounds> {
        let bytes = std::mem::size_of_val(src);
        let dst = self.check(offset, bytes)?;
        if self.prot != Prot::ReadWrite || (dst as usize) % std::mem::align_of::<T>() != 0 {
            return Err(OutOfBounds);
        }
        let dst = dst.cast::<T>();
        for (i, v) in src.iter().enumerate() {
            // SAFETY: element i lies inside the writable mapping (whole span checked above)
            // and dst is aligned for T (checked above).
            unsafe { dst.wrapping_add(i).write_volatile(*v) };
        }
        Ok(())
    }

    /// Loads elements with one access of their width each from `offset + i*size`.
    pub fn read_elems<T: Elem>(&self, offset: usize, dst: &mut [T]) -> Result<(), OutOfBounds> {
        let bytes = std::mem::size_of_val(dst);
        let src = self.check(offset, bytes)?;
        if self.prot == Prot::None || (src as usize) % std::mem::align_of::<T>() != 0 {
            return Err(OutOfBounds);
        }
        let src = src.cast::<T>();
        for (i, v) in dst.iter_mut().enumerate() {
            // SAFETY: element i lies inside the readable mapping and src is aligned for T
            // (both checked above).
            *v = unsafe { src.wrapping_add(i).read_volatile() };
        }
        Ok(())
    }

    /// Stores `count` items read from `src` at `offset`, for a caller whose memory must stay
    /// behind a raw pointer (a C program's buffer, which may itself be a shared mapping).
    /// Bytes (`T = u8`) are moved with one `memmove`; wider items with one volatile access
    /// each, as [`Mapping::write_elems`]. `offset` must be aligned to the item size.
    ///
    /// # Safety
    ///
    /// `src` must be aligned for `T` and valid for reading `count` items for the duration of
    /// the call. It may overlap this mapping.
    pub unsafe fn write_from_raw<T: Elem>(
        &self,
        offset: usize,
        src: *const T,
        count: usize,
    ) -> Result<(), OutOfBounds> {
        let bytes = count.checked_mul(std::mem::size_of::<T>()).ok_or(OutOfBounds)?;
        let dst = self.check(offset, bytes)?;
        if self.prot != Prot::ReadWrite || (dst as usize) % std::mem::align_of::<T>() != 0 {
            return Err(OutOfBounds);
        }
        if std::mem::size_of::<T>() == 1 {
            // SAFETY: dst..dst+bytes is inside the writable mapping (checked above); src is
            // readable for `bytes` bytes (caller contract); `copy` tolerates overlap.
            unsafe { std::ptr::copy(src.cast::<u8>(), dst, bytes) };
            return Ok(());
        }
        let dst = dst.cast::<T>();
        for i in 0..count {
            // SAFETY: item i of src is readable and aligned for T (caller contract).
            let v = unsafe { src.wrapping_add(i).read_volatile() };
            // SAFETY: item i of dst lies inside the writable mapping and is aligned for T
            // (both checked above).
            unsafe { dst.wrapping_add(i).write_volatile(v) };
        }
        Ok(())
    }

    /// Loads `count` items at `offset` into `dst` (the counterpart of
    /// [`Mapping::write_from_raw`]).
    ///
    /// # Safety
    ///
    /// `dst` must be aligned for `T` and valid for writing `count` items for the duration of
    /// the call, and not reached through Rust references meanwhile. It may overlap this
    /// mapping.
    pub unsafe fn read_into_raw<T: Elem>(&self, offset: usize, dst: *mut T, count: usize) -> Result<(), OutOfBounds> {
        let bytes = count.checked_mul(std::mem::size_of::<T>()).ok_or(OutOfBounds)?;
        let src = self.check(offset, bytes)?;
        if self.prot == Prot::None || (src as usize) % std::mem::align_of::<T>() != 0 {
            return Err(OutOfBounds);
        }
        if std::mem::size_of::<T>() == 1 {
            // SAFETY: src..src+bytes is inside the readable mapping (checked above); dst is
            // writable for `bytes` bytes (caller contract); `copy` tolerates overlap.
            unsafe { std::ptr::copy(src, dst.cast::<u8>(), bytes) };
            return Ok(());
        }
        let src = src.cast::<T>();
        for i in 0..count {
            // SAFETY: item i of src lies inside the readable mapping and is aligned for T
            // (both checked above).
            let v = unsafe { src.wrapping_add(i).read_volatile() };
            // SAFETY: item i of dst is writable and aligned for T (caller contract).
            unsafe { dst.wrapping_add(i).write_volatile(v) };
        }
        Ok(())
    }

    /// Copies `len` bytes between two mappings (e.g. a segment and a registered local buffer).
    pub fn copy_between(
        src: &Mapping,
        src_off: usize,
        dst: &Mapping,
        dst_off: usize,
        len: usize,
    ) -> Result<(), OutOfBounds> {
        let s = src.check(src_off, len)?;
        let d = dst.check(dst_off, len)?;
        if dst.prot != Prot::ReadWrite || src.prot == Prot::None {
            return Err(OutOfBounds);
        }
        // SAFETY: both spans are inside their mappings with the needed rights (checked
        // above). They may alias (same memfd mapped twice), so use the overlap-safe copy.
        unsafe { std::ptr::copy(s, d, len) };
        Ok(())
    }

    /// Receives at most `len` bytes from the socket `fd` (one blocking `recv`) straight into
    /// the range at `offset`, without a bounce buffer: how an agent lands a large remote put
    /// in the exporter's memory. Returns the bytes received (0: the peer closed).
    /// `Errno::FAULT` if the span is outside the mapping or the mapping is not writable.
    pub fn recv_at<Fd: AsFd>(&self, fd: Fd, offset: usize, len: usize) -> Result<usize, Errno> {
        self.recv_at_with(fd, offset, len, rustix::net::RecvFlags::empty())
    }

    /// As [`Mapping::recv_at`], without waiting: `Errno::AGAIN` when nothing is there.
    pub fn try_recv_at<Fd: AsFd>(&self, fd: Fd, offset: usize, len: usize) -> Result<usize, Errno> {
        self.recv_at_with(fd, offset, len, rustix::net::RecvFlags::DONTWAIT)
    }

    fn recv_at_with<Fd: AsFd>(
        &self,
        fd: Fd,
        offset: usize,
        len: usize,
        flags: rustix::net::RecvFlags,
    ) -> Result<usize, Errno> {
        let dst = self.check(offset, len).map_err(|_| Errno::FAULT)?;
        if self.prot != Prot::ReadWrite {
            return Err(Errno::FAULT);
        }
        if len == 0 {
            return Ok(0);
        }
        // SAFETY: dst..dst+len is inside the writable mapping for the life of self (checked
        // above). The slice exists only to hand the kernel a pointer and a length for this
        // one call: no Rust code reads or writes through it (rustix's view of the received
        // prefix is dropped unread), and it does not outlive the call, so another process
        // changing these bytes meanwhile cannot be observed through it.
        let span = unsafe { std::slice::from_raw_parts_mut(dst.cast::<std::mem::MaybeUninit<u8>>(), len) };
        let (_, n) = rustix::net::recv(fd, span, flags)?;
        Ok(n)
    }

    /// Replaces the pages of this mapping, in place, with private zero-filled pages: stray
    /// loads and stores through old pointers keep working but reach nothing shared.
    pub fn redirect_to_scratch(&self) -> Result<(), Errno> {
        // SAFETY: the range belongs to this mapping (type invariant); MAP_FIXED over it keeps
        // the range valid (now anonymous memory) so later accesses stay sound.
        unsafe {
            rustix::mm::mmap_anonymous(
                self.ptr.as_ptr().cast(),
                self.len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::PRIVATE | MapFlags::FIXED,
            )
        }?;
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        if self.owned {
            // SAFETY: an owned mapping was created by mmap with exactly this range and is
            // unmapped only here.
            let _ = unsafe { rustix::mm::munmap(self.ptr.as_ptr().cast(), self.len) };
        }
    }
}

fn nonnull(p: *mut c_void) -> NonNull<u8> {
    NonNull::new(p.cast::<u8>()).unwrap_or(NonNull::dangling())
}

/// Plain integer types that may be loaded and stored in shared memory with a single access.
pub trait Elem: Copy + Default + sealed::Sealed {
    /// Appends the native-endian bytes.
    fn put_ne(&self, out: &mut Vec<u8>);
    /// Reads from native-endian bytes (`b` has exactly the item's size).
    fn get_ne(b: &[u8]) -> Self;
}
macro_rules! elem {
    ($($t:ty),*) => {$(
        impl Elem for $t {
            fn put_ne(&self, out: &mut Vec<u8>) {
                out.extend_from_slice(&self.to_ne_bytes());
            }
            fn get_ne(b: &[u8]) -> Self {
                let mut a = [0u8; std::mem::size_of::<$t>()];
                a.copy_from_slice(&b[..std::mem::size_of::<$t>()]);
                <$t>::from_ne_bytes(a)
            }
        }
    )*};
}
elem!(u8, u16, u32, u64);
mod sealed {
    pub trait Sealed {}
    impl Sealed for u8 {}
    impl Sealed for u16 {}
    impl Sealed for u32 {}
    impl Sealed for u64 {}
}

/// Copies the contents of `[addr, addr+len)` into `fd` (from offset 0) and maps `fd` shared
/// over the same addresses: the caller's pointer keeps working and now reaches shareable
/// pages.
///
/// # Safety
///
/// `[addr, addr+len)` must be page aligned, mapped read-write, owned by the caller (no other
/// thread may access it during the call), and `fd` must be at least `len` bytes long.
pub unsafe fn reback_shared<Fd: AsFd>(fd: Fd, addr: NonNull<u8>, len: usize) -> Result<(), Errno> {
    let tmp = Mapping::map_shared(&fd, len, Prot::ReadWrite)?;
    // SAFETY: the caller promises the source range is mapped and readable; tmp is a fresh
    // mapping of len bytes, so the two ranges are distinct.
    unsafe { std::ptr::copy_nonoverlapping(addr.as_ptr(), tmp.as_ptr(), len) };
    drop(tmp);
    // SAFETY: the caller gives the range up to this call; MAP_FIXED replaces its pages.
    let m = unsafe { Mapping::map_shared_fixed(&fd, 0, addr.as_ptr(), len, Prot::ReadWrite) }?;
    m.leak();
    Ok(())
}

/// Replaces the pages of `[addr, addr+len)` with a private copy of their current contents:
/// the caller's memory becomes ordinary private memory again and nothing that still maps
/// the old shared pages can reach it.
///
/// # Safety
///
/// As for [`reback_shared`].
pub unsafe fn reback_private(addr: NonNull<u8>, len: usize) -> Result<(), Errno> {
    let copy = Mapping::anonymous(len)?;
    // SAFETY: the caller promises the source range is mapped and readable; `copy` is a fresh
    // private mapping of the same length.
    unsafe { std::ptr::copy_nonoverlapping(addr.as_ptr(), copy.as_ptr(), len) };
    let (cptr, _) = copy.leak();
    // SAFETY: cptr..cptr+len is our fresh mapping; the destination range is given up by the
    // caller. mremap moves the pages atomically, so the range is never unmapped.
    let r =
        unsafe { rustix::mm::mremap_fixed(cptr.as_ptr().cast(), len, len, MremapFlags::MAYMOVE, addr.as_ptr().cast()) };
    if let Err(e) = r {
        // SAFETY: the move failed, so cptr..cptr+len is still our own mapping.
        let _ = unsafe { rustix::mm::munmap(cptr.as_ptr().cast(), len) };
        return Err(e);
    }
    Ok(())
}

/// Copies `len` bytes from `src` (caller memory) to `dst` (caller memory).
///
/// # Safety
///
/// Both ranges must be mapped with the needed access for `len` bytes.
pub unsafe fn copy_raw(src: *const u8, dst: *mut u8, len: usize) {
    // SAFETY: forwarded to the caller; `copy` tolerates overlap.
    unsafe { std::ptr::copy(src, dst, len) }
}

/// Whether `[addr, addr+len)` is entirely mapped in this process (checked with `mincore`
/// semantics through `msync`-free probing of `/proc/self/maps` would be slow; `madvise`
/// with `MADV_NORMAL` fails with `ENOMEM` on any unmapped page).
pub fn is_mapped(addr: NonNull<u8>, len: usize) -> bool {
    // SAFETY: MADV_NORMAL only resets the paging advice (the default); it changes no memory
    // and fails with ENOMEM if any page of the range is unmapped.
    unsafe { rustix::mm::madvise(addr.as_ptr().cast(), len, rustix::mm::Advice::Normal) }.is_ok()
}

/// The native-endian bytes of `src`.
pub fn elems_to_bytes<T: Elem>(src: &[T]) -> Vec<u8> {
    let mut out = Vec::with_capacity(std::mem::size_of_val(src));
    for v in src {
        v.put_ne(&mut out);
    }
    out
}

/// Fills `dst` from native-endian bytes (as many items as both hold).
pub fn bytes_to_elems<T: Elem>(bytes: &[u8], dst: &mut [T]) {
    for (d, c) in dst.iter_mut().zip(bytes.chunks_exact(std::mem::size_of::<T>())) {
        *d = T::get_ne(c);
    }
}

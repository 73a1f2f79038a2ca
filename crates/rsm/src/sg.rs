//! Scatter/gather transfers and registered local memory.
//!
//! # Safety
//!
//! The `unsafe` here is [`LocalMemory::register`], which records a caller's buffer, and
//! [`RawBuf::new`], which describes one for a single vector; the caller promises the memory
//! stays mapped and is reached only by pointer while rsm uses it.
#![allow(unsafe_code)]

use crate::controller::Controller;
use crate::error::{Error, Result};
use crate::import::{Caller, ImportSegment};
use crate::signal::PostFlags;
use rsm_os::mem::{Mapping, Prot};
use std::ptr::NonNull;

/// Most entries in one vector (`RSM_MAX_SGIOREQS`).
pub const MAX_SGIOREQS: usize = 16;

/// A registered local buffer (`rsm_localmemory_handle_t`) for use in vectors.
#[derive(Debug)]
pub struct LocalMemory {
    ctl: Controller,
    region: Mapping,
}

impl LocalMemory {
    /// Registers `[addr, addr+len)` for repeated use in [`ImportSegment::putv`] /
    /// [`ImportSegment::getv`].
    ///
    /// # Safety
    ///
    /// The range must stay mapped read-write while the handle exists, and must not be
    /// accessed through Rust references while a vector uses it.
    ///
    /// # Errors
    ///
    /// [`Error::BadAddr`] (not page aligned, or not mapped), [`Error::BadLength`] (0).
    #[doc(alias = "rsm_create_localmemory_handle")]
    pub unsafe fn register(ctl: &Controller, addr: NonNull<u8>, len: usize) -> Result<LocalMemory> {
        if !rsm_os::is_page_aligned(addr.as_ptr() as usize) {
            return Err(Error::BadAddr);
        }
        if len == 0 {
            return Err(Error::BadLength);
        }
        if !rsm_os::mem::is_mapped(addr, len) {
            return Err(Error::BadAddr);
        }
        // SAFETY: forwarded from this function's contract.
        let region = unsafe { Mapping::borrowed(addr, len, Prot::ReadWrite) };
        Ok(LocalMemory { ctl: ctl.clone(), region })
    }

    /// Allocates and registers `len` bytes of zeroed memory.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] (0), [`Error::InsufficientMem`].
    pub fn allocate(ctl: &Controller, len: usize) -> Result<LocalMemory> {
        if len == 0 {
            return Err(Error::BadLength);
        }
        let region = Mapping::anonymous(len).map_err(|_| Error::InsufficientMem)?;
        Ok(LocalMemory { ctl: ctl.clone(), region })
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.region.len()
    }

    /// Whether the buffer is empty (never).
    pub fn is_empty(&self) -> bool {
        self.region.is_empty()
    }

    /// First byte.
    pub fn as_ptr(&self) -> *mut u8 {
        self.region.as_ptr()
    }

    /// Copies `src` into the buffer at `offset`.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] past the end.
    pub fn write_at(&self, offset: usize, src: &[u8]) -> Result<()> {
        self.region.write_at(offset, src).map_err(|_| Error::BadLength)
    }

    /// Copies from the buffer at `offset` into `dst`.
    ///
    /// # Errors
    ///
    /// [`Error::BadLength`] past the end.
    pub fn read_at(&self, offset: usize, dst: &mut [u8]) -> Result<()> {
        self.region.read_at(offset, dst).map_err(|_| Error::BadLength)
    }

    /// The controller it was registered with.
    pub fn controller(&self) -> &Controller {
        &self.ctl
    }
}

/// The local side of one vector entry.
#[derive(Debug)]
pub enum Local<'a> {
    /// A registered buffer and an offset in it (`RSM_HANDLE_TYPE`).
    Handle(&'a LocalMemory, usize),
    /// Plain memory (`RSM_VA_TYPE`): the source of a put.
    Src(&'a [u8]),
    /// Plain memory: the destination of a get.
    Dst(&'a mut [u8]),
    /// Memory behind a raw pointer (`RSM_VA_TYPE` entries of the C ABI): the source of a
    /// put or the destination of a get.
    Raw(RawBuf),
}

/// A buffer reached only through a raw pointer: a C caller's memory, which may itself be a
/// mapped segment that other processes change, so it is never seen as a Rust slice.
#[derive(Clone, Copy, Debug)]
pub struct RawBuf {
    ptr: *mut u8,
    len: usize,
}

impl RawBuf {
    /// Describes `len` bytes at `ptr`.
    ///
    /// # Safety
    ///
    /// While the value (or a copy) is used in a vector, `[ptr, ptr+len)` must be valid for
    /// reads, and for writes when it is the destination of a get, and must not be reached
    /// through Rust references.
    pub unsafe fn new(ptr: *mut u8, len: usize) -> RawBuf {
        RawBuf { ptr, len }
    }

    /// Length in bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the buffer is empty.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

/// One entry of a scatter/gather vector (`rsm_iovec_t`).
#[derive(Debug)]
pub struct IoVec<'a> {
    /// Local memory.
    pub local: Local<'a>,
    /// Offset in the segment.
    pub remote_offset: usize,
    /// Bytes to move (for `Src`/`Dst`, at most the slice's length).
    pub len: usize,
}

/// A vector stopped early.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{error} ({residual} entries not done)")]
pub struct SgError {
    /// Why.
    pub error: Error,
    /// Entries not completed or not started (`io_residual_count`).
    pub residual: usize,
}

impl From<SgError> for Error {
    fn from(e: SgError) -> Error {
        e.error
    }
}

impl ImportSegment {
    fn vector(&self, iov: &mut [IoVec<'_>], flags: PostFlags, put: bool) -> std::result::Result<(), SgError> {
        let n = iov.len();
        if n == 0 || n > MAX_SGIOREQS {
            return Err(SgError { error: Error::BadSgio, residual: n });
        }
        if self.is_disconnected() {
            return Err(SgError { error: Error::BadSgio, residual: n });
        }
        for (i, e) in iov.iter_mut().enumerate() {
            let fail = |error| SgError { error, residual: n - i };
            let r = match &mut e.local {
                Local::Handle(h, off) => {
                    if !h.ctl.same(self.controller()) && h.ctl.agent_socket() != self.controller().agent_socket() {
                        return Err(fail(Error::BadSgio));
                    }
                    self.copy_local(e.remote_offset, &h.region, *off, e.len, put)
                }
                Local::Src(s) => {
                    if !put || e.len > s.len() {
                        return Err(fail(if put { Error::BadLength } else { Error::BadSgio }));
                    }
                    self.put_as(Caller::Vector, e.remote_offset, &s[..e.len])
                }
                Local::Dst(d) => {
                    if put || e.len > d.len() {
                        return Err(fail(if put { Error::BadSgio } else { Error::BadLength }));
                    }
                    self.get_as(Caller::Vector, e.remote_offset, &mut d[..e.len])
                }
                Local::Raw(b) => {
                    if e.len > b.len {
                        return Err(fail(Error::BadLength));
                    }
                    if put {
                        // SAFETY: b is readable for b.len >= e.len bytes (RawBuf::new's contract).
                        unsafe { self.put_raw_as::<u8>(Caller::Vector, e.remote_offset, b.ptr, e.len) }
                    } else {
                        // SAFETY: b is writable for b.len >= e.len bytes when it is the
                        // destination of a get (RawBuf::new's contract).
                        unsafe { self.get_raw_as::<u8>(Caller::Vector, e.remote_offset, b.ptr, e.len) }
                    }
                }
            };
            r.map_err(fail)?;
        }
        if flags.contains(PostFlags::IMPLICIT_SIGPOST) {
            self.signal_post(flags & PostFlags::NO_ACCUMULATE).map_err(|error| SgError { error, residual: 0 })?;
        }
        Ok(())
    }

    /// Gathers local pieces into the segment, in order, stopping at the first error. With
    /// [`PostFlags::IMPLICIT_SIGPOST`], posts one event to the exporter after full success.
    ///
    /// # Errors
    ///
    /// [`SgError`] with the error and the number of entries not done:
    /// [`Error::BadSgio`] (0 or more than 16 entries, disconnected, a `Dst` entry), else the
    /// errors of [`ImportSegment::put`] except [`Error::BarrierUninitialized`]: in implicit
    /// mode each entry is checked on its own, with or without a barrier initialised (RSMAPI
    /// 3.8).
    #[doc(alias = "rsm_memseg_import_putv")]
    pub fn putv(&self, iov: &mut [IoVec<'_>], flags: PostFlags) -> std::result::Result<(), SgError> {
        self.vector(iov, flags, true)
    }

    /// Scatters segment pieces into local memory, in order, stopping at the first error.
    /// With [`PostFlags::IMPLICIT_SIGPOST`], posts one event to the exporter after full
    /// success (for instance: "I have read what you wrote, you may write again").
    ///
    /// # Errors
    ///
    /// As for [`ImportSegment::putv`] (a `Src` entry is [`Error::BadSgio`]), with the errors
    /// of [`ImportSegment::get`].
    #[doc(alias = "rsm_memseg_import_getv")]
    pub fn getv(&self, iov: &mut [IoVec<'_>], flags: PostFlags) -> std::result::Result<(), SgError> {
        self.vector(iov, flags, false)
    }
}

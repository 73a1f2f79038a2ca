//! Scatter/gather and local memory handles (RSMAPI 3.8): `rsm_memseg_import_putv`,
//! `rsm_memseg_import_getv`, `rsm_create_localmemory_handle`, `rsm_free_localmemory_handle`.
//!
//! # Safety
//!
//! The caller's `rsm_scat_gath_t` and its `rsm_iovec_t` array are read with raw reads and
//! `io_residual_count` is written back through the pointer; `RSM_VA_TYPE` buffers stay raw
//! pointers ([`rsm::RawBuf`]), since a C buffer may itself be a mapped segment. A registered
//! buffer is handed to [`rsm::LocalMemory::register`] under the RSMAPI contract (the caller
//! keeps it mapped until the handle is freed). Handles are never dereferenced (see
//! [`crate::handle`]).
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::controller::controller;
use crate::handle::{TAG_LOCALMEM, Table};
use crate::import::import;
use crate::types::{
    RSM_HANDLE_TYPE, RSM_VA_TYPE, caddr_t, rsm_localmemory_handle_t, rsm_scat_gath_t, rsmapi_controller_handle_t,
    ulong_t,
};
use core::ffi::c_int;
use rsm::{Error, IoVec, Local, LocalMemory, PostFlags, RawBuf};
use std::mem::offset_of;
use std::ptr::NonNull;
use std::sync::Arc;

pub(crate) static LOCALMEM: Table<Arc<LocalMemory>> = Table::new(TAG_LOCALMEM);

/// Registers the caller's page-aligned buffer `[local_vaddr, local_vaddr+length)` for
/// `RSM_HANDLE_TYPE` entries of scatter/gather vectors.
///
/// # Safety
///
/// `l_handle` is NULL or valid for writing a handle; the buffer stays mapped, read-write,
/// until the handle is freed.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_create_localmemory_handle(
    handle: rsmapi_controller_handle_t,
    l_handle: *mut rsm_localmemory_handle_t,
    local_vaddr: caddr_t,
    length: usize,
) -> c_int {
    boundary::call(|| {
        // The address is checked before the controller (RSMAPI order).
        if local_vaddr.is_null() || !rsm_os::is_page_aligned(local_vaddr as usize) {
            return Err(Error::BadAddr);
        }
        let ctl = controller(handle)?;
        non_null(l_handle, Error::BadLocalmemHndl)?;
        let addr = NonNull::new(local_vaddr.cast::<u8>()).ok_or(Error::BadAddr)?;
        // SAFETY: the RSMAPI contract of this function: the buffer is the caller's, stays
        // mapped read-write until freed, and is used by the library only through pointers.
        let lm = unsafe { LocalMemory::register(&ctl, addr, length) }?;
        let h = LOCALMEM.insert(Arc::new(lm)).ok_or(Error::InsufficientResources)?;
        // SAFETY: l_handle is valid for writing (caller contract), not NULL (checked).
        unsafe { l_handle.write(h.cast()) };
        Ok(())
    })
}

/// Releases a local memory handle.
///
/// # Safety
///
/// None beyond the C prototype: any handle values are accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_free_localmemory_handle(
    handle: rsmapi_controller_handle_t,
    l_handle: rsm_localmemory_handle_t,
) -> c_int {
    boundary::call(|| {
        controller(handle)?;
        LOCALMEM.remove(l_handle.cast_const().cast()).ok_or(Error::BadLocalmemHndl)?;
        Ok(())
    })
}

/// One C vector entry, converted.
struct Entry {
    local: EntryLocal,
    remote_offset: usize,
    len: usize,
}

/// The local side of one C vector entry.
enum EntryLocal {
    Handle(Arc<LocalMemory>, usize),
    Raw(RawBuf),
}

/// Reads and converts the `count` entries of a C vector. A count out of range is rsm's to
/// refuse, with its own check order: then the caller's entries are never read and an
/// over-long list of empty entries stands in for them.
///
/// # Safety
///
/// As for [`vector`].
unsafe fn read_entries(d: &rsm_scat_gath_t, count: usize) -> rsm::Result<Vec<Entry>> {
    if count == 0 {
        return Ok(Vec::new());
    }
    if count > rsm::MAX_SGIOREQS {
        let empty = || Entry {
            // SAFETY: a zero-length buffer is never read or written.
            local: EntryLocal::Raw(unsafe { RawBuf::new(std::ptr::null_mut(), 0) }),
            remote_offset: 0,
            len: 0,
        };
        return Ok((0..=rsm::MAX_SGIOREQS).map(|_| empty()).collect());
    }
    non_null(d.iovec, Error::BadAddr)?;
    (0..count)
        .map(|i| {
            // SAFETY: iovec holds count readable entries (caller contract).
            let e = unsafe { d.iovec.wrapping_add(i).read_unaligned() };
            let local = match e.io_type {
                RSM_HANDLE_TYPE => {
                    // SAFETY: io_type RSM_HANDLE_TYPE says `handle` is the valid member.
                    let h = unsafe { e.local.handle };
                    EntryLocal::Handle(LOCALMEM.get(h.cast_const().cast(), Error::BadSgio)?, e.local_offset)
                }
                RSM_VA_TYPE => {
                    // SAFETY: io_type RSM_VA_TYPE says `vaddr` is the valid member.
                    let va = unsafe { e.local.vaddr };
                    non_null(va, Error::BadAddr)?;
                    let start = va.cast::<u8>().wrapping_add(e.local_offset);
                    // SAFETY: the entry's memory is readable (putv) or writable (getv) for
                    // transfer_length bytes from vaddr + local_offset (caller contract) and
                    // is used only during this call.
                    EntryLocal::Raw(unsafe { RawBuf::new(start, e.transfer_length) })
                }
                _ => return Err(Error::BadSgio),
            };
            Ok(Entry { local, remote_offset: e.remote_offset, len: e.transfer_length })
        })
        .collect()
}

/// Runs a C vector: putv when `put`, else getv. Writes `io_residual_count`; leaves `flags`
/// as the caller set them.
///
/// # Safety
///
/// `sg` is NULL or valid for reading and writing an `rsm_scat_gath_t` whose `iovec` holds
/// `io_request_count` readable entries; each `RSM_VA_TYPE` entry describes memory readable
/// (putv) or writable (getv) for its transfer.
unsafe fn vector(sg: *mut rsm_scat_gath_t, put: bool) -> rsm::Result<()> {
    non_null(sg, Error::BadSgio)?;
    // SAFETY: sg is readable (caller contract), not NULL (checked).
    let d = unsafe { sg.read_unaligned() };
    let seg = import(d.remote_handle.cast_const().cast())?;
    let count = usize::try_from(d.io_request_count).unwrap_or(usize::MAX);
    let set_residual = |n: usize| {
        let field = sg.cast::<u8>().wrapping_add(offset_of!(rsm_scat_gath_t, io_residual_count));
        // SAFETY: sg is writable (caller contract), not NULL (checked); only this field is
        // written, so the caller's flags stay as they were.
        unsafe { field.cast::<ulong_t>().write_unaligned(n as ulong_t) };
    };
    // SAFETY: forwarded from this function's contract.
    let entries = match unsafe { read_entries(&d, count) } {
        Ok(e) => e,
        Err(err) => {
            // Nothing was started.
            set_residual(count);
            return Err(err);
        }
    };
    let mut iov: Vec<IoVec<'_>> = entries
        .iter()
        .map(|e| IoVec {
            local: match &e.local {
                EntryLocal::Handle(lm, off) => Local::Handle(lm, *off),
                EntryLocal::Raw(b) => Local::Raw(*b),
            },
            remote_offset: e.remote_offset,
            len: e.len,
        })
        .collect();
    let flags = PostFlags::from_bits_truncate(d.flags);
    let r = if put { seg.putv(&mut iov, flags) } else { seg.getv(&mut iov, flags) };
    match r {
        Ok(()) => {
            set_residual(0);
            Ok(())
        }
        Err(e) => {
            set_residual(if count > rsm::MAX_SGIOREQS { count } else { e.residual });
            Err(e.error)
        }
    }
}

/// Gathers the local pieces described by `sg_io` into the imported segment, in order,
/// stopping at the first error; `sg_io->io_residual_count` returns the entries not done.
/// With `RSM_IMPLICIT_SIGPOST` in `flags`, one event is posted to the exporter after a
/// complete vector.
///
/// # Safety
///
/// `sg_io` is NULL or valid for reading and writing, with `io_request_count` readable
/// `iovec` entries whose local memory is readable for each transfer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_putv(sg_io: *mut rsm_scat_gath_t) -> c_int {
    // SAFETY: forwarded from this function's contract.
    boundary::call(|| unsafe { vector(sg_io, true) })
}

/// Scatters pieces of the imported segment into local memory as described by `sg_io` (see
/// [`rsm_memseg_import_putv`]).
///
/// # Safety
///
/// As for [`rsm_memseg_import_putv`], with local memory writable for each transfer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_getv(sg_io: *mut rsm_scat_gath_t) -> c_int {
    // SAFETY: forwarded from this function's contract.
    boundary::call(|| unsafe { vector(sg_io, false) })
}

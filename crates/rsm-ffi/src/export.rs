//! Export side (RSMAPI 3.4): create, destroy, rebind, publish, unpublish, republish.
//!
//! # Safety
//!
//! The exported functions read the caller's access lists and write its out-parameters; each
//! pointer is NULL-checked first and otherwise trusted to be valid, as in C. The memory given
//! to `rsm_memseg_export_create` / `rsm_memseg_export_rebind` is handed to
//! [`rsm::ExportSegment::create`] / [`rsm::ExportSegment::rebind`] under the RSMAPI contract:
//! the caller gives the pages to the segment until it is destroyed. Handles are never
//! dereferenced (see [`crate::handle`]).
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::controller::controller;
use crate::handle::{TAG_EXPORT, Table};
use crate::types::{
    offset_t, rsm_memseg_export_handle_t, rsm_memseg_id_t, rsmapi_access_entry_t, rsmapi_controller_handle_t, uint_t,
};
use core::ffi::{c_int, c_void};
use rsm::{AccessEntry, Error, ExportFlags, ExportSegment};
use std::ptr::NonNull;

pub(crate) static EXPORTS: Table<ExportSegment> = Table::new(TAG_EXPORT);

/// The export segment of a live handle, or [`Error::BadSegHndl`].
pub(crate) fn export(h: *const c_void) -> rsm::Result<ExportSegment> {
    EXPORTS.get(h, Error::BadSegHndl)
}

/// An access list that rsm rejects as malformed (one entry too many): what an unreadable or
/// oversized C list is handed over as, so that rsm's own check order decides when the
/// caller learns [`Error::BadAcl`], and no entry past the documented maximum is read.
fn malformed_acl() -> Vec<AccessEntry> {
    vec![AccessEntry { node: 0, perm: 0 }; rsm::MAX_ACL + 1]
}

/// Reads a C access list (NULL with a length: [`malformed_acl`]).
///
/// # Safety
///
/// `list` is NULL or valid for reading `len` entries (up to `MAX_ACL` are read).
unsafe fn read_acl(list: *const rsmapi_access_entry_t, len: uint_t) -> Vec<AccessEntry> {
    let len = len as usize;
    if len == 0 {
        return Vec::new();
    }
    if list.is_null() || len > rsm::MAX_ACL {
        return malformed_acl();
    }
    (0..len)
        .map(|i| {
            // SAFETY: entry i < len is readable (caller contract); read_unaligned tolerates
            // a misaligned list.
            let e = unsafe { list.wrapping_add(i).read_unaligned() };
            AccessEntry { node: e.ae_node, perm: e.ae_permission }
        })
        .collect()
}

/// Creates an export segment over the caller's page-aligned memory `[vaddr, vaddr+size)`.
/// The memory stays valid at the same address and from now on is what importers see.
///
/// # Safety
///
/// `memseg` is NULL or valid for writing a handle; `[vaddr, vaddr+size)` is memory of the
/// caller that it gives to the segment until destroy (it keeps using it by pointer).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_create(
    controller_h: rsmapi_controller_handle_t,
    memseg: *mut rsm_memseg_export_handle_t,
    vaddr: *mut c_void,
    size: usize,
    flags: uint_t,
) -> c_int {
    boundary::call(|| {
        let ctl = controller(controller_h)?;
        non_null(memseg, Error::BadSegHndl)?;
        // SAFETY: memseg is valid for writing (caller contract), not NULL (checked).
        unsafe { memseg.write(std::ptr::null_mut()) };
        let addr = NonNull::new(vaddr.cast::<u8>()).ok_or(Error::BadAddr)?;
        // Unknown flag bits are ignored, as on Solaris.
        let flags = ExportFlags::from_bits_truncate(flags);
        // SAFETY: the RSMAPI contract of this function: the range is the caller's memory,
        // reached by the caller through pointers only, and stays mapped until destroy.
        let seg = unsafe { ExportSegment::create(&ctl, addr, size, flags) }?;
        let h = EXPORTS.insert(seg).ok_or(Error::InsufficientResources)?;
        // SAFETY: as above.
        unsafe { memseg.write(h.cast()) };
        Ok(())
    })
}

/// Destroys an export segment (unpublishing it first if needed); the handle is then dead.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_destroy(memseg: rsm_memseg_export_handle_t) -> c_int {
    boundary::call(|| {
        let h = memseg.cast_const().cast();
        export(h)?.destroy()?;
        drop(EXPORTS.remove(h));
        Ok(())
    })
}

/// Moves the segment onto `[vaddr, vaddr+size)` (same size; `off` is ignored).
///
/// # Safety
///
/// As for [`rsm_memseg_export_create`], for the new range.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_rebind(
    memseg: rsm_memseg_export_handle_t,
    vaddr: *mut c_void,
    off: offset_t,
    size: usize,
) -> c_int {
    let _ = off;
    boundary::call(|| {
        let seg = export(memseg.cast_const().cast())?;
        let addr = NonNull::new(vaddr.cast::<u8>()).ok_or(Error::BadAddr)?;
        // SAFETY: as in rsm_memseg_export_create.
        unsafe { seg.rebind(addr, size) }
    })
}

/// Publishes the segment under `*segment_id` (0: the system picks one and writes it back)
/// for the nodes of `access_list` (NULL, 0: every node).
///
/// # Safety
///
/// `segment_id` is NULL or valid for reading and writing; `access_list` is NULL or valid for
/// reading `access_list_length` entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_publish(
    memseg: rsm_memseg_export_handle_t,
    segment_id: *mut rsm_memseg_id_t,
    access_list: *mut rsmapi_access_entry_t,
    access_list_length: uint_t,
) -> c_int {
    boundary::call(|| {
        non_null(segment_id, Error::BadSegid)?;
        let seg = export(memseg.cast_const().cast())?;
        if access_list_length > 0 && access_list.is_null() {
            return Err(Error::BadAcl);
        }
        // SAFETY: access_list is NULL or readable for its length (caller contract).
        let acl = unsafe { read_acl(access_list, access_list_length) };
        // SAFETY: segment_id is valid for reading (caller contract), not NULL (checked).
        let wanted = unsafe { segment_id.read_unaligned() };
        let id = seg.publish(wanted, &acl)?;
        // SAFETY: as above, for writing.
        unsafe { segment_id.write_unaligned(id) };
        Ok(())
    })
}

/// Withdraws the segment id; every importer is cut off.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_unpublish(memseg: rsm_memseg_export_handle_t) -> c_int {
    boundary::call(|| export(memseg.cast_const().cast())?.unpublish())
}

/// Replaces the access list of a published segment.
///
/// # Safety
///
/// `access_list` is NULL or valid for reading `access_list_length` entries.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_export_republish(
    memseg: rsm_memseg_export_handle_t,
    access_list: *mut rsmapi_access_entry_t,
    access_list_length: uint_t,
) -> c_int {
    boundary::call(|| {
        let seg = export(memseg.cast_const().cast())?;
        // SAFETY: access_list is NULL or readable for its length (caller contract).
        let acl = unsafe { read_acl(access_list, access_list_length) };
        seg.republish(&acl)
    })
}

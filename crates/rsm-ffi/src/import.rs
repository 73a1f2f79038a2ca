//! Import side (RSMAPI 3.5-3.7, 3.9): connect, disconnect, map, unmap, get/put, barrier mode,
//! and the barriers.
//!
//! # Safety
//!
//! The exported functions move data between a segment and the caller's buffers, which stay
//! raw pointers throughout (a C buffer may itself be a mapped segment that other processes
//! change): they are passed to [`rsm::ImportSegment::put_raw`] / `get_raw` after the NULL and
//! alignment checks. Out-parameters and the caller's `rsmapi_barrier_t` storage are
//! NULL-checked and otherwise trusted to be valid, as in C. Handles are never dereferenced
//! (see [`crate::handle`]).
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::controller::controller;
use crate::handle::{Lookup, TAG_BARRIER, TAG_IMPORT, Table};
use crate::types::{
    RSM_MAP_FIXED, RSM_MAP_NONE, RSM_MAP_RESERVED, off_t, rsm_attribute_t, rsm_barrier_mode_t, rsm_barrier_type_t,
    rsm_memseg_id_t, rsm_memseg_import_handle_t, rsm_node_id_t, rsm_permission_t, rsmapi_barrier_t,
    rsmapi_controller_handle_t, ulong_t,
};
use core::ffi::{c_int, c_void};
use rsm::{Barrier, BarrierMode, BarrierType, Elem, Error, ImportSegment};
use std::ptr::NonNull;
use std::sync::Arc;

pub(crate) static IMPORTS: Table<ImportSegment> = Table::new(TAG_IMPORT);

/// A barrier: the Rust barrier and the import handle it was initialised for (what
/// `rsmapi_barrier_t.seg` must still hold).
#[derive(Clone)]
pub(crate) struct BarEntry {
    bar: Arc<Barrier>,
    seg: usize,
}

pub(crate) static BARRIERS: Table<BarEntry> = Table::new(TAG_BARRIER);

/// The import segment of a live handle, or [`Error::BadSegHndl`].
pub(crate) fn import(h: *const c_void) -> rsm::Result<ImportSegment> {
    IMPORTS.get(h, Error::BadSegHndl)
}

/// A C `off_t` as a segment offset. A negative offset becomes a huge one (as the C cast
/// does), which the bounds checks then refuse; its low bits still decide alignment.
fn offset(off: off_t) -> usize {
    off as usize
}

/// Connects to segment `segment_id` published on node `node_id`.
///
/// # Safety
///
/// `im_memseg` is NULL or valid for writing a handle.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_connect(
    controller_h: rsmapi_controller_handle_t,
    node_id: rsm_node_id_t,
    segment_id: rsm_memseg_id_t,
    perm: rsm_permission_t,
    im_memseg: *mut rsm_memseg_import_handle_t,
) -> c_int {
    boundary::call(|| {
        let ctl = controller(controller_h)?;
        non_null(im_memseg, Error::BadSegHndl)?;
        // SAFETY: im_memseg is valid for writing (caller contract), not NULL (checked).
        unsafe { im_memseg.write(std::ptr::null_mut()) };
        let seg = ImportSegment::connect(&ctl, node_id, segment_id, perm)?;
        let h = IMPORTS.insert(seg).ok_or(Error::InsufficientResources)?;
        // SAFETY: as above.
        unsafe { im_memseg.write(h.cast()) };
        Ok(())
    })
}

/// Disconnects and frees an import handle.
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_disconnect(im_memseg: rsm_memseg_import_handle_t) -> c_int {
    boundary::call(|| {
        let h = im_memseg.cast_const().cast();
        import(h)?.disconnect()?;
        drop(IMPORTS.remove(h));
        Ok(())
    })
}

/// Maps `[offset, offset+length)` of the segment; the address is returned in
/// (`RSM_MAP_NONE`) or taken from (`RSM_MAP_FIXED`) `*address`.
///
/// # Safety
///
/// `address` is NULL or valid for reading and writing a pointer. With `RSM_MAP_FIXED`, the
/// pages at `*address` are given up to the mapping (as with `mmap(MAP_FIXED)`).
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_map(
    im_memseg: rsm_memseg_import_handle_t,
    address: *mut *mut c_void,
    attr: rsm_attribute_t,
    perm: rsm_permission_t,
    off: off_t,
    length: usize,
) -> c_int {
    boundary::call(|| {
        let seg = import(im_memseg.cast_const().cast())?;
        non_null(address, Error::BadAddr)?;
        let p = match attr {
            // RSM_MAP_RESERVED has no defined behaviour: it maps as RSM_MAP_NONE.
            RSM_MAP_NONE | RSM_MAP_RESERVED => seg.map(perm, offset(off), length)?,
            RSM_MAP_FIXED => {
                // SAFETY: address is readable (caller contract), not NULL (checked).
                let at = unsafe { address.read() };
                let at = NonNull::new(at.cast::<u8>()).ok_or(Error::BadAddr)?;
                // SAFETY: RSM_MAP_FIXED is the caller giving up the pages at `at` (RSMAPI
                // contract, as for mmap(MAP_FIXED)).
                unsafe { seg.map_fixed(at, perm, offset(off), length) }?
            }
            _ => return Err(Error::MapFailed),
        };
        // SAFETY: address is valid for writing (caller contract), not NULL (checked).
        unsafe { address.write(p.as_ptr().cast()) };
        Ok(())
    })
}

/// Removes the mapping (explicit or implicit).
///
/// # Safety
///
/// None beyond the C prototype: any handle value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_unmap(im_memseg: rsm_memseg_import_handle_t) -> c_int {
    boundary::call(|| import(im_memseg.cast_const().cast())?.unmap())
}

/// Writes `count` items from `src`; the checks of the C side first (handle, NULL, alignment).
///
/// # Safety
///
/// `src` is NULL or valid for reading `count` items of `T`.
unsafe fn put<T: Elem>(im: rsm_memseg_import_handle_t, off: off_t, src: *const T, count: usize) -> rsm::Result<()> {
    let seg = import(im.cast_const().cast())?;
    non_null(src, Error::BadAddr)?;
    if (src as usize) % align_of::<T>() != 0 {
        return Err(Error::BadMemAlignment);
    }
    // SAFETY: src is aligned (checked) and readable for count items (caller contract).
    unsafe { seg.put_raw(offset(off), src, count) }
}

/// Reads `count` items into `dst`; the counterpart of [`put`].
///
/// # Safety
///
/// `dst` is NULL or valid for writing `count` items of `T`.
unsafe fn get<T: Elem>(im: rsm_memseg_import_handle_t, off: off_t, dst: *mut T, count: usize) -> rsm::Result<()> {
    let seg = import(im.cast_const().cast())?;
    non_null(dst, Error::BadAddr)?;
    if (dst as usize) % align_of::<T>() != 0 {
        return Err(Error::BadMemAlignment);
    }
    // SAFETY: dst is aligned (checked) and writable for count items (caller contract).
    unsafe { seg.get_raw(offset(off), dst, count) }
}

macro_rules! get_put {
    ($($(#[$doc:meta])* $name:ident: $dir:ident, $t:ty, $ptr:ty, $count:ty;)*) => {$(
        $(#[$doc])*
        ///
        /// # Safety
        ///
        /// The data pointer is NULL or valid for the whole transfer.
        #[unsafe(no_mangle)]
        pub unsafe extern "C" fn $name(im_memseg: rsm_memseg_import_handle_t, offset: off_t, datap: $ptr, count: $count) -> c_int {
            // SAFETY: forwarded from this function's contract.
            boundary::call(|| unsafe { $dir::<$t>(im_memseg, offset, datap.cast(), count as usize) })
        }
    )*};
}

get_put! {
    /// Reads `rep_cnt` bytes from the segment at `offset` into `datap`.
    rsm_memseg_import_get8: get, u8, *mut u8, ulong_t;
    /// Reads `rep_cnt` 16-bit items (each one access); `offset` and `datap` 2-byte aligned.
    rsm_memseg_import_get16: get, u16, *mut u16, ulong_t;
    /// Reads `rep_cnt` 32-bit items (each one access); `offset` and `datap` 4-byte aligned.
    rsm_memseg_import_get32: get, u32, *mut u32, ulong_t;
    /// Reads `rep_cnt` 64-bit items (each one access); `offset` and `datap` 8-byte aligned.
    rsm_memseg_import_get64: get, u64, *mut u64, ulong_t;
    /// Reads `length` bytes from the segment at `offset` into `dst_addr`.
    rsm_memseg_import_get: get, u8, *mut c_void, usize;
    /// Writes `rep_cnt` bytes from `datap` into the segment at `offset`.
    rsm_memseg_import_put8: put, u8, *mut u8, ulong_t;
    /// Writes `rep_cnt` 16-bit items (each one access); `offset` and `datap` 2-byte aligned.
    rsm_memseg_import_put16: put, u16, *mut u16, ulong_t;
    /// Writes `rep_cnt` 32-bit items (each one access); `offset` and `datap` 4-byte aligned.
    rsm_memseg_import_put32: put, u32, *mut u32, ulong_t;
    /// Writes `rep_cnt` 64-bit items (each one access); `offset` and `datap` 8-byte aligned.
    rsm_memseg_import_put64: put, u64, *mut u64, ulong_t;
    /// Writes `length` bytes from `src_addr` into the segment at `offset`.
    rsm_memseg_import_put: put, u8, *mut c_void, usize;
}

/// Selects the barrier mode of put/get (`RSM_BARRIER_MODE_EXPLICIT` 0 or `_IMPLICIT` 1).
///
/// # Safety
///
/// None beyond the C prototype: any handle and mode value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_set_mode(
    im_memseg: rsm_memseg_import_handle_t,
    mode: rsm_barrier_mode_t,
) -> c_int {
    boundary::call(|| {
        let seg = import(im_memseg.cast_const().cast())?;
        seg.set_mode(BarrierMode::try_from(mode)?)
    })
}

/// Returns the barrier mode in `*mode`.
///
/// # Safety
///
/// `mode` is NULL or valid for writing an `rsm_barrier_mode_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_get_mode(
    im_memseg: rsm_memseg_import_handle_t,
    mode: *mut rsm_barrier_mode_t,
) -> c_int {
    boundary::call(|| {
        let seg = import(im_memseg.cast_const().cast())?;
        non_null(mode, Error::BadAddr)?;
        let m = seg.mode()? as rsm_barrier_mode_t;
        // SAFETY: mode is valid for writing (caller contract), not NULL (checked).
        unsafe { mode.write_unaligned(m) };
        Ok(())
    })
}

/// Initialises the caller's `*barrier` for the import segment and makes it the one
/// implicit-mode put/get use. `barrier->seg` receives the import handle and
/// `barrier->privdata` the barrier's own handle.
///
/// # Safety
///
/// `barrier` is NULL or valid for writing an `rsmapi_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_init_barrier(
    im_memseg: rsm_memseg_import_handle_t,
    ty: rsm_barrier_type_t,
    barrier: *mut rsmapi_barrier_t,
) -> c_int {
    boundary::call(|| {
        let seg = import(im_memseg.cast_const().cast())?;
        non_null(barrier, Error::BadBarrierPtr)?;
        // RSMAPI 3.9: the type is accepted and ignored (every type gives the same
        // guarantees); a value outside the enum is no error (e.g. 0 for the documented but
        // never defined RSM_BAR_DEFAULT).
        let bar = seg.init_barrier(BarrierType::try_from(ty).unwrap_or(BarrierType::Segment))?;
        let entry = BarEntry { bar: Arc::new(bar), seg: im_memseg as usize };
        let h = BARRIERS.insert(entry).ok_or(Error::InsufficientMem)?;
        let out = rsmapi_barrier_t { seg: im_memseg.cast(), gnum: ((h as usize) >> 32) as u16, privdata: h };
        // SAFETY: barrier is valid for writing (caller contract), not NULL (checked).
        unsafe { barrier.write_unaligned(out) };
        Ok(())
    })
}

/// The barrier the caller's storage names: [`Error::BadBarrierPtr`] for NULL,
/// [`Error::BarrierUninitialized`] for storage that holds no live barrier (zeroed, destroyed,
/// or not what `rsm_memseg_import_init_barrier` wrote).
///
/// # Safety
///
/// `barrier` is NULL or valid for reading an `rsmapi_barrier_t`.
unsafe fn barrier_of(barrier: *const rsmapi_barrier_t) -> rsm::Result<(BarEntry, *const c_void)> {
    non_null(barrier, Error::BadBarrierPtr)?;
    // SAFETY: barrier is readable (caller contract), not NULL (checked).
    let b = unsafe { barrier.read_unaligned() };
    match BARRIERS.lookup(b.privdata) {
        Lookup::Live(e) if e.seg == b.seg as usize => Ok((e, b.privdata)),
        _ => Err(Error::BarrierUninitialized),
    }
}

/// Opens an error-detection window.
///
/// # Safety
///
/// `barrier` is NULL or valid for reading an `rsmapi_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_open_barrier(barrier: *mut rsmapi_barrier_t) -> c_int {
    // SAFETY: forwarded from this function's contract.
    boundary::call(|| unsafe { barrier_of(barrier) }?.0.bar.open())
}

/// Closes the window: success means every access since the open completed.
///
/// # Safety
///
/// `barrier` is NULL or valid for reading an `rsmapi_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_close_barrier(barrier: *mut rsmapi_barrier_t) -> c_int {
    // SAFETY: forwarded from this function's contract.
    boundary::call(|| unsafe { barrier_of(barrier) }?.0.bar.close())
}

/// Orders writes before the call before writes after it.
///
/// # Safety
///
/// `barrier` is NULL or valid for reading an `rsmapi_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_order_barrier(barrier: *mut rsmapi_barrier_t) -> c_int {
    // SAFETY: forwarded from this function's contract.
    boundary::call(|| unsafe { barrier_of(barrier) }?.0.bar.order())
}

/// Frees the barrier and detaches it from its import segment.
///
/// # Safety
///
/// `barrier` is NULL or valid for reading an `rsmapi_barrier_t`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_memseg_import_destroy_barrier(barrier: *mut rsmapi_barrier_t) -> c_int {
    boundary::call(|| {
        // SAFETY: forwarded from this function's contract.
        let (e, h) = unsafe { barrier_of(barrier) }?;
        e.bar.destroy()?;
        drop(BARRIERS.remove(h));
        Ok(())
    })
}

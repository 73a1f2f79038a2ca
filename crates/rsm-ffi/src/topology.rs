//! Cluster topology (RSMAPI 3.2) and segment-id ranges (3.3).
//!
//! # Safety
//!
//! A topology snapshot is one block from `calloc`, laid out exactly as RSMAPI 3.2 says and
//! written with raw pointer writes at offsets computed from the `#[repr(C)]` mirror in
//! [`crate::types`]; the block is only ever released with `free`. Blocks handed out are
//! remembered, so freeing anything else (garbage, a block freed already) does nothing.
//! Out-parameters are NULL-checked and otherwise trusted to be valid, as in C.
#![allow(unsafe_code)]

use crate::boundary::{self, non_null};
use crate::types::{
    MAXNAMELEN, rsm_connections_hdr_t, rsm_connections_t, rsm_memseg_id_t, rsm_remote_cntlr_t, rsm_topology_hdr_t,
    rsm_topology_t,
};
use core::ffi::{c_char, c_int, c_void};
use rsm::{Error, Topology};
use std::collections::HashSet;
use std::ffi::CStr;
use std::sync::{Mutex, OnceLock};

/// Blocks handed out and not freed yet.
fn live_blocks() -> &'static Mutex<HashSet<usize>> {
    static B: OnceLock<Mutex<HashSet<usize>>> = OnceLock::new();
    B.get_or_init(Default::default)
}

fn lock_blocks() -> std::sync::MutexGuard<'static, HashSet<usize>> {
    live_blocks().lock().unwrap_or_else(|p| p.into_inner())
}

/// A name as a NUL-terminated `char[MAXNAMELEN]` (cut at `MAXNAMELEN - 1` bytes).
fn name_buf(name: &str) -> [c_char; MAXNAMELEN] {
    let mut buf = [0 as c_char; MAXNAMELEN];
    for (d, s) in buf.iter_mut().zip(name.bytes().take(MAXNAMELEN - 1)) {
        *d = s as c_char;
    }
    buf
}

/// Where each part of the block goes.
struct Layout {
    /// Offset of each local controller's `rsm_connections_t`.
    controllers: Vec<usize>,
    /// Total size.
    size: usize,
}

fn layout(t: &Topology) -> Option<Layout> {
    let n = t.controllers.len();
    let ptrs = n.checked_mul(size_of::<*mut rsm_connections_t>())?;
    let mut off =
        size_of::<rsm_topology_t>().max(core::mem::offset_of!(rsm_topology_t, connections).checked_add(ptrs)?);
    let mut controllers = Vec::with_capacity(n);
    for c in &t.controllers {
        controllers.push(off);
        let remotes = c.remotes.len().checked_mul(size_of::<rsm_remote_cntlr_t>())?;
        off = off.checked_add(size_of::<rsm_connections_hdr_t>())?.checked_add(remotes)?;
    }
    // Room for a whole `rsm_connections_t` at the last controller, even without remotes, so
    // that a C compiler's view of the struct stays inside the block.
    let size = match controllers.last() {
        Some(last) => off.max(last.checked_add(size_of::<rsm_connections_t>())?),
        None => off,
    };
    Some(Layout { controllers, size })
}

/// Builds the snapshot block.
fn build(t: &Topology) -> rsm::Result<*mut rsm_topology_t> {
    let l = layout(t).ok_or(Error::InsufficientMem)?;
    // SAFETY: calloc has no preconditions; the result is checked for NULL below.
    let base = unsafe { libc::calloc(1, l.size) }.cast::<u8>();
    if base.is_null() {
        return Err(Error::InsufficientMem);
    }
    let topo = base.cast::<rsm_topology_t>();
    let hdr = rsm_topology_hdr_t {
        local_nodeid: t.local_node,
        local_cntlr_count: u32::try_from(t.controllers.len()).unwrap_or(u32::MAX),
    };
    // SAFETY: the header is the first field; the block is at least size_of::<rsm_topology_t>()
    // bytes and calloc memory is aligned for any type.
    unsafe { topo.cast::<rsm_topology_hdr_t>().write(hdr) };
    let ptrs = base.wrapping_add(core::mem::offset_of!(rsm_topology_t, connections)).cast::<*mut rsm_connections_t>();
    for (i, (c, &off)) in t.controllers.iter().zip(&l.controllers).enumerate() {
        let conn = base.wrapping_add(off).cast::<rsm_connections_t>();
        // SAFETY: pointer i lies in the array after the header (layout), 8-byte aligned.
        unsafe { ptrs.wrapping_add(i).write(conn) };
        let h = rsm_connections_hdr_t {
            cntlr_name: name_buf(&c.name),
            local_hwaddr: c.hwaddr,
            remote_cntlr_count: c_int::try_from(c.remotes.len()).unwrap_or(c_int::MAX),
        };
        // SAFETY: the header is the first field of the controller's record, which lies inside
        // the block at an 8-byte aligned offset (layout: every part's size is a multiple of 8).
        unsafe { conn.cast::<rsm_connections_hdr_t>().write(h) };
        let remotes = base
            .wrapping_add(off + core::mem::offset_of!(rsm_connections_t, remote_cntlr))
            .cast::<rsm_remote_cntlr_t>();
        for (j, r) in c.remotes.iter().enumerate() {
            let rec = rsm_remote_cntlr_t {
                remote_nodeid: r.node,
                remote_cntlrname: name_buf(&r.name),
                remote_hwaddr: r.hwaddr,
                connection_state: r.state,
            };
            // SAFETY: record j lies inside the block right after its controller's header
            // (layout), 8-byte aligned.
            unsafe { remotes.wrapping_add(j).write(rec) };
        }
    }
    lock_blocks().insert(base as usize);
    Ok(topo)
}

/// Stores a newly allocated topology snapshot in `*topology_data` (set to NULL first). Free
/// it with [`rsm_free_interconnect_topology`].
///
/// # Safety
///
/// `topology_data` is NULL or valid for writing a pointer.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_get_interconnect_topology(topology_data: *mut *mut rsm_topology_t) -> c_int {
    boundary::call(|| {
        non_null(topology_data, Error::BadTopologyPtr)?;
        // SAFETY: topology_data is valid for writing (caller contract), not NULL (checked).
        unsafe { topology_data.write(std::ptr::null_mut()) };
        let block = build(&rsm::topology()?)?;
        // SAFETY: as above.
        unsafe { topology_data.write(block) };
        Ok(())
    })
}

/// Frees a snapshot; NULL, and anything that is not a live snapshot, is ignored.
///
/// # Safety
///
/// None: any pointer value is accepted.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_free_interconnect_topology(topology_data: *mut rsm_topology_t) {
    boundary::call_void(|| {
        if topology_data.is_null() || !lock_blocks().remove(&(topology_data as usize)) {
            return;
        }
        // SAFETY: the pointer is a block from calloc handed out by build() and not freed
        // since (it was in the live set, from which it has just been removed).
        unsafe { libc::free(topology_data.cast::<c_void>()) };
    });
}

/// Looks up the segment-id range reserved for `appid` in the `rsm.segmentid` file
/// (`RSM_SEGMENTID_FILE`, default `/etc/rsm/rsm.segmentid`).
///
/// # Safety
///
/// `appid` is NULL or a NUL-terminated string; `baseid` and `length` are NULL or valid for
/// writing.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn rsm_get_segmentid_range(
    appid: *const c_char,
    baseid: *mut rsm_memseg_id_t,
    length: *mut u32,
) -> c_int {
    boundary::call(|| {
        non_null(appid, Error::BadAddr)?;
        non_null(baseid, Error::BadAddr)?;
        non_null(length, Error::BadAddr)?;
        // SAFETY: appid is a NUL-terminated string (caller contract), not NULL (checked).
        let appid = unsafe { CStr::from_ptr(appid) }.to_string_lossy();
        let (base, len) = rsm::segmentid_range(&appid)?;
        // SAFETY: both are valid for writing (caller contract), not NULL (checked).
        unsafe { baseid.write_unaligned(base) };
        // SAFETY: as above.
        unsafe { length.write_unaligned(len) };
        Ok(())
    })
}

//! `#[repr(C)]` mirror of the RSMAPI C headers (`include/rsmapi.h`,
//! `include/sys/rsm/rsm_common.h`, `include/sys/rsm/rsmapi_common.h`).
//!
//! Every type and constant keeps its C name so that code reads like the headers. The layouts
//! are the LP64 Solaris ABI; on 64-bit targets every size, alignment and field offset of the
//! specification (section 1) is asserted at compile time at the end of this module.
//!
//! Conventions:
//!
//! * C enumerations (`rsm_access_size_t`, `rsm_barrier_type_t`, `rsm_barrier_mode_t`,
//!   `rsm_attribute_t`) are plain integer aliases, not Rust enums, because a C caller can pass
//!   any value and the library must be able to reject it. GCC and Clang give an enumeration
//!   without negative enumerators the type `unsigned int`, hence [`c_uint`].
//! * Each constant has the type of the field or parameter it is used with: `RSMERR_*` are
//!   `c_int` return values, `RSM_PERM_*` are [`rsm_permission_t`], segment-id bounds are
//!   [`rsm_memseg_id_t`], flags are [`uint_t`], `RSM_MAX_SGIOREQS` is [`ulong_t`]
//!   (like `io_request_count`).
//! * Handles are pointers to opaque, unconstructible structs.
//! * Pointers are raw pointers; nothing here dereferences them.

#![allow(non_camel_case_types, non_upper_case_globals)]

use core::ffi::{c_char, c_int, c_longlong, c_uchar, c_uint, c_ulong, c_void};
use core::fmt;
use core::marker::{PhantomData, PhantomPinned};
use core::ptr;

// ---------------------------------------------------------------------------------------------
// Solaris base types (provided by rsm_common.h on Linux)

/// `unsigned int` (4 bytes).
pub type uint_t = c_uint;
/// `unsigned long` (8 bytes on LP64).
pub type ulong_t = c_ulong;
/// `unsigned char`.
pub type uchar_t = c_uchar;
/// `char *`, a core address.
pub type caddr_t = *mut c_char;
/// `long long` (8 bytes, signed), used by `rsm_memseg_export_rebind`.
pub type offset_t = c_longlong;
/// `off_t` of the C library (8 bytes on LP64).
pub type off_t = libc::off_t;
/// `size_t`.
pub type size_t = usize;
/// `nfds_t` of `<poll.h>` (`unsigned long` on glibc).
pub type nfds_t = libc::nfds_t;
/// `struct pollfd` of `<poll.h>`.
pub type pollfd = libc::pollfd;

/// Length of the controller-name buffers of the topology structures (`MAXNAMELEN`).
pub const MAXNAMELEN: usize = 256;

// ---------------------------------------------------------------------------------------------
// <sys/rsm/rsm_common.h>

/// Inter-node protocol version of the kernel agent (not used by applications).
pub const RSM_VERSION: c_int = 5;

/// Success.
pub const RSM_SUCCESS: c_int = 0;
/// Transport plugin has the wrong ops-vector version.
pub const RSMERR_BAD_LIBRARY_VERSION: c_int = 1;
/// NULL topology out-pointer.
pub const RSMERR_BAD_TOPOLOGY_PTR: c_int = 2;
/// NULL or invalid controller handle.
pub const RSMERR_BAD_CTLR_HNDL: c_int = 3;
/// No such controller, or released.
pub const RSMERR_CTLR_NOT_PRESENT: c_int = 4;
/// NULL, invalid or wrong-state segment handle.
pub const RSMERR_BAD_SEG_HNDL: c_int = 5;
/// Publish of an already published segment.
pub const RSMERR_SEG_ALREADY_PUBLISHED: c_int = 6;
/// Segment id not published, or unpublish of an unpublished segment.
pub const RSMERR_SEG_NOT_PUBLISHED: c_int = 7;
/// The access list excludes the importing node.
pub const RSMERR_SEG_NOT_PUBLISHED_TO_NODE: c_int = 8;
/// Second mapping of an import handle.
pub const RSMERR_SEG_ALREADY_MAPPED: c_int = 9;
/// Disconnect while explicitly mapped.
pub const RSMERR_SEG_STILL_MAPPED: c_int = 10;
/// Unmap of an unmapped import handle.
pub const RSMERR_SEG_NOT_MAPPED: c_int = 11;
/// Export operation from a process other than the creator.
pub const RSMERR_NOT_CREATOR: c_int = 12;
/// NULL barrier pointer.
pub const RSMERR_BAD_BARRIER_PTR: c_int = 13;
/// Bad scatter/gather descriptor.
pub const RSMERR_BAD_SGIO: c_int = 14;
/// NULL local memory handle.
pub const RSMERR_BAD_LOCALMEM_HNDL: c_int = 15;
/// Bad or NULL address, or unreadable user memory.
pub const RSMERR_BAD_ADDR: c_int = 16;
/// Address, length or offset misaligned.
pub const RSMERR_BAD_MEM_ALIGNMENT: c_int = 17;
/// Offset outside the mapped window.
pub const RSMERR_BAD_OFFSET: c_int = 18;
/// Misaligned offset (defined; never returned by illumos).
pub const RSMERR_MISALIGNED_OFFSET: c_int = 19;
/// Zero, oversized or out-of-range length.
pub const RSMERR_BAD_LENGTH: c_int = 20;
/// Malformed access list.
pub const RSMERR_BAD_ACL: c_int = 21;
/// NULL segment-id pointer.
pub const RSMERR_BAD_SEGID: c_int = 22;
/// Segment id in a reserved range.
pub const RSMERR_RESERVED_SEGID: c_int = 23;
/// Segment id already published on this node.
pub const RSMERR_SEGID_IN_USE: c_int = 24;
/// Invalid barrier mode.
pub const RSMERR_BAD_MODE: c_int = 25;
/// Invalid or insufficient mapping permissions.
pub const RSMERR_BAD_PERMS: c_int = 26;
/// Access denied.
pub const RSMERR_PERM_DENIED: c_int = 27;
/// Lock operations not supported (defined; never returned).
pub const RSMERR_LOCKS_NOT_SUPPORTED: c_int = 28;
/// Lock operations not enabled (defined; never returned).
pub const RSMERR_LOCKS_NOT_ENABLED: c_int = 29;
/// Segment created without `RSM_ALLOW_REBIND`.
pub const RSMERR_REBIND_NOT_ALLOWED: c_int = 30;
/// Out of descriptors, ids or transport resources.
pub const RSMERR_INSUFFICIENT_RESOURCES: c_int = 31;
/// Allocation failure or export memory limit.
pub const RSMERR_INSUFFICIENT_MEM: c_int = 32;
/// Mapping failed.
pub const RSMERR_MAP_FAILED: c_int = 33;
/// A poll descriptor of the segment is still held.
pub const RSMERR_POLLFD_IN_USE: c_int = 34;
/// Barrier not initialised (or implicit mode without a barrier).
pub const RSMERR_BARRIER_UNINITIALIZED: c_int = 35;
/// The transport could not open the barrier.
pub const RSMERR_BARRIER_OPEN_FAILED: c_int = 36;
/// Barrier not opened (documented for close/order; never returned by illumos).
pub const RSMERR_BARRIER_NOT_OPENED: c_int = 37;
/// Transfer error detected at close/order.
pub const RSMERR_BARRIER_FAILURE: c_int = 38;
/// No path to the node.
pub const RSMERR_REMOTE_NODE_UNREACHABLE: c_int = 39;
/// Connection forcibly torn down.
pub const RSMERR_CONN_ABORTED: c_int = 40;
/// Interrupted by a signal.
pub const RSMERR_INTERRUPTED: c_int = 41;
/// Wait timed out.
pub const RSMERR_TIMEOUT: c_int = 42;
/// Application id not in `/etc/rsm/rsm.segmentid`.
pub const RSMERR_BAD_APPID: c_int = 43;
/// `/etc/rsm/rsm.segmentid` missing, unreadable or malformed.
pub const RSMERR_BAD_CONF: c_int = 44;
/// Segment not connected (documented for map; never returned by illumos).
pub const RSMERR_SEG_NOT_CONNECTED: c_int = 45;

/// RSMPI: internal error (also seen by RSMAPI callers).
pub const RSMERR_INTERNAL_ERROR: c_int = 100;
/// RSMPI: bad driver version (also seen by RSMAPI callers).
pub const RSMERR_BAD_DRIVER_VERSION: c_int = 101;
/// RSMPI.
pub const RSMERR_UNSUPPORTED_VERSION: c_int = 102;
/// RSMPI.
pub const RSMERR_DRIVER_NAME_IN_USE: c_int = 103;
/// RSMPI.
pub const RSMERR_DRIVER_NOT_REGISTERED: c_int = 104;
/// RSMPI.
pub const RSMERR_DRIVER_THREAD_RUNNING: c_int = 105;
/// RSMPI.
pub const RSMERR_NEED_THREAD_INIT: c_int = 106;
/// RSMPI.
pub const RSMERR_THREAD_NOT_INITED: c_int = 107;
/// RSMPI.
pub const RSMERR_CTLRS_REGISTERED: c_int = 108;
/// RSMPI.
pub const RSMERR_CTLR_NOT_REGISTERED: c_int = 109;
/// RSMPI.
pub const RSMERR_CTLR_ALREADY_REGISTERED: c_int = 110;
/// RSMPI.
pub const RSMERR_CTLR_IN_USE: c_int = 111;
/// RSMPI.
pub const RSMERR_NAME_TOO_LONG: c_int = 112;
/// RSMPI.
pub const RSMERR_SEG_PUBLISHED: c_int = 113;
/// RSMPI.
pub const RSMERR_SEG_NOT_PUBLISHED_TO_RSM_ADDR: c_int = 114;
/// RSMPI.
pub const RSMERR_SEG_IN_USE: c_int = 115;
/// RSMPI.
pub const RSMERR_BAD_SENDQ_HNDL: c_int = 116;
/// RSMPI: bad arguments (also seen by RSMAPI callers of the signal-wait functions).
pub const RSMERR_BAD_ARGS_ERRORS: c_int = 117;
/// RSMPI.
pub const RSMERR_BAD_MSTYPE: c_int = 118;
/// RSMPI.
pub const RSMERR_NO_BACKING_MEM: c_int = 119;
/// RSMPI.
pub const RSMERR_NOT_MEM: c_int = 120;
/// RSMPI.
pub const RSMERR_MEM_ALREADY_BOUND: c_int = 121;
/// RSMPI.
pub const RSMERR_MEM_NOT_BOUND: c_int = 122;
/// RSMPI.
pub const RSMERR_HANDLER_NOT_REGISTERED: c_int = 123;
/// RSMPI.
pub const RSMERR_NO_HANDLER: c_int = 124;
/// RSMPI.
pub const RSMERR_UNBIND_REBIND_NOT_ALLOWED: c_int = 125;
/// RSMPI.
pub const RSMERR_CALLBACKS_NOT_SUPPORTED: c_int = 126;
/// RSMPI.
pub const RSMERR_UNSUPPORTED_OPERATION: c_int = 127;
/// RSMPI.
pub const RSMERR_RSM_ADDR_UNREACHABLE: c_int = 128;
/// RSMPI.
pub const RSMERR_UNKNOWN_RSM_ADDR: c_int = 129;
/// RSMPI.
pub const RSMERR_BAD_BARRIER_HNDL: c_int = 130;
/// RSMPI.
pub const RSMERR_COMM_ERR_MAYBE_DELIVERED: c_int = 131;
/// RSMPI.
pub const RSMERR_COMM_ERR_NOT_DELIVERED: c_int = 132;
/// RSMPI.
pub const RSMERR_QUEUE_FENCE_UP: c_int = 133;
/// RSMPI.
pub const RSMERR_QUEUE_FULL: c_int = 134;

/// Segment-id range: driver private (first).
pub const RSM_DRIVER_PRIVATE_ID_BASE: rsm_memseg_id_t = 0;
/// Segment-id range: driver private (last).
pub const RSM_DRIVER_PRIVATE_ID_END: rsm_memseg_id_t = 0x0F_FFFF;
/// Segment-id range: cluster transport (first).
pub const RSM_CLUSTER_TRANSPORT_ID_BASE: rsm_memseg_id_t = 0x10_0000;
/// Segment-id range: cluster transport (last).
pub const RSM_CLUSTER_TRANSPORT_ID_END: rsm_memseg_id_t = 0x1F_FFFF;
/// Segment-id range: RSM library (first).
pub const RSM_RSMLIB_ID_BASE: rsm_memseg_id_t = 0x20_0000;
/// Segment-id range: RSM library (last).
pub const RSM_RSMLIB_ID_END: rsm_memseg_id_t = 0x2F_FFFF;
/// Segment-id range: DLPI (first).
pub const RSM_DLPI_ID_BASE: rsm_memseg_id_t = 0x30_0000;
/// Segment-id range: DLPI (last). Explicit ids up to here are rejected by publish.
pub const RSM_DLPI_ID_END: rsm_memseg_id_t = 0x3F_FFFF;
/// Segment-id range: HPC (first; labelled reserved but not enforced).
pub const RSM_HPC_ID_BASE: rsm_memseg_id_t = 0x40_0000;
/// Segment-id range: HPC (last).
pub const RSM_HPC_ID_END: rsm_memseg_id_t = 0x4F_FFFF;
/// Segment-id range: OPS (first; labelled reserved but not enforced).
pub const RSM_OPS_ID_BASE: rsm_memseg_id_t = 0x50_0000;
/// Segment-id range: OPS (last).
pub const RSM_OPS_ID_END: rsm_memseg_id_t = 0x5F_FFFF;
/// Segment-id range: system-assigned ids (first; the id counter starts here).
pub const RSM_USER_APP_ID_BASE: rsm_memseg_id_t = 0x8000_0000;
/// Segment-id range: system-assigned ids (last).
pub const RSM_USER_APP_ID_END: rsm_memseg_id_t = 0xFFFF_FFFF;

/// No access.
pub const RSM_PERM_NONE: rsm_permission_t = 0;
/// Read access (octal 0400).
pub const RSM_PERM_READ: rsm_permission_t = 0o400;
/// Write access (octal 0200).
pub const RSM_PERM_WRITE: rsm_permission_t = 0o200;
/// Read and write access (octal 0600).
pub const RSM_PERM_RDWR: rsm_permission_t = RSM_PERM_READ | RSM_PERM_WRITE;

/// Largest `io_request_count` of an [`rsm_scat_gath_t`].
pub const RSM_MAX_SGIOREQS: ulong_t = 16;

/// `rsm_access_size_t` (C enum): access widths, bits of
/// [`rsmapi_controller_attr_t::attr_direct_access_sizes`] / `attr_atomic_sizes`.
pub type rsm_access_size_t = c_uint;
/// 8-bit accesses.
pub const RSM_DAS8: rsm_access_size_t = 1;
/// 16-bit accesses.
pub const RSM_DAS16: rsm_access_size_t = 2;
/// 32-bit accesses.
pub const RSM_DAS32: rsm_access_size_t = 4;
/// 64-bit accesses.
pub const RSM_DAS64: rsm_access_size_t = 8;

/// Interconnect hardware address.
pub type rsm_addr_t = u64;
/// Cluster node id.
pub type rsm_node_id_t = u32;
/// Segment id ("key").
pub type rsm_memseg_id_t = u32;
/// `RSM_PERM_*` or an octal owner/group/other mode.
pub type rsm_permission_t = u32;

/// Opaque target of [`rsm_memseg_import_handle_t`] (`struct __rsm_memseg_import_handle`).
#[repr(C)]
pub struct __rsm_memseg_import_handle {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Handle of an import segment.
pub type rsm_memseg_import_handle_t = *mut __rsm_memseg_import_handle;

/// Opaque target of [`rsm_memseg_export_handle_t`] (`struct __rsm_memseg_export_handle`).
#[repr(C)]
pub struct __rsm_memseg_export_handle {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Handle of an export segment.
pub type rsm_memseg_export_handle_t = *mut __rsm_memseg_export_handle;

/// `rsm_barrier_type_t` (C enum): barrier scope given to `rsm_memseg_import_init_barrier`.
pub type rsm_barrier_type_t = c_uint;
/// Barrier over one segment.
pub const RSM_BARRIER_SEGMENT: rsm_barrier_type_t = 0x01;
/// Barrier over all segments of a node.
pub const RSM_BARRIER_NODE: rsm_barrier_type_t = 0x02;
/// Per-thread segment barrier.
pub const RSM_BARRIER_SEGMENT_THREAD: rsm_barrier_type_t = 0x11;
/// Per-thread node barrier.
pub const RSM_BARRIER_NODE_THREAD: rsm_barrier_type_t = 0x12;

/// One 8-byte word of opaque RSMPI barrier state.
#[repr(C)]
#[derive(Clone, Copy)]
pub union rsm_barrier_component_t {
    pub u64: u64,
    pub i64: i64,
    pub u32: [u32; 2],
    pub i32: [i32; 2],
    pub u16: [u16; 4],
    pub i16: [i16; 4],
    pub u8: [u8; 8],
    pub i8: [i8; 8],
    pub uc: [uchar_t; 8],
    pub c: [c_char; 8],
    pub vp: *mut c_void,
}

impl Default for rsm_barrier_component_t {
    fn default() -> Self {
        Self { u64: 0 }
    }
}

impl fmt::Debug for rsm_barrier_component_t {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("rsm_barrier_component_t").finish_non_exhaustive()
    }
}

/// Opaque RSMPI barrier state (32 bytes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rsm_barrier_t {
    pub comp: [rsm_barrier_component_t; 4],
}

/// `rsm_barrier_mode_t` (C enum): barrier scoping of put/get on an import segment.
pub type rsm_barrier_mode_t = c_uint;
/// The application brackets accesses with open/close itself.
pub const RSM_BARRIER_MODE_EXPLICIT: rsm_barrier_mode_t = 0;
/// Every put/get is wrapped in its own open/close (default).
pub const RSM_BARRIER_MODE_IMPLICIT: rsm_barrier_mode_t = 1;

// ---------------------------------------------------------------------------------------------
// <sys/rsm/rsmapi_common.h>

/// Opaque target of [`rsm_localmemory_handle_t`] (`struct __rsm_localmemory_handle`).
#[repr(C)]
pub struct __rsm_localmemory_handle {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Handle of a registered local buffer.
pub type rsm_localmemory_handle_t = *mut __rsm_localmemory_handle;

/// Opaque target of [`rsmapi_controller_handle_t`] (`struct __rsmapi_controller_handle`).
#[repr(C)]
pub struct __rsmapi_controller_handle {
    _data: [u8; 0],
    _marker: PhantomData<(*mut u8, PhantomPinned)>,
}
/// Handle of an interconnect controller.
pub type rsmapi_controller_handle_t = *mut __rsmapi_controller_handle;

/// Controller attributes (`rsm_get_controller_attr`). Size 64.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rsmapi_controller_attr_t {
    /// `RSM_DAS*` bits of the widths supported for direct access.
    pub attr_direct_access_sizes: uint_t,
    /// `RSM_DAS*` bits of the widths accessed atomically.
    pub attr_atomic_sizes: uint_t,
    pub attr_page_size: size_t,
    pub attr_max_export_segment_size: size_t,
    pub attr_tot_export_segment_size: size_t,
    pub attr_max_export_segments: ulong_t,
    pub attr_max_import_map_size: size_t,
    pub attr_tot_import_map_size: size_t,
    pub attr_max_import_segments: ulong_t,
}

/// One entry of an export segment's node access list. Size 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct rsmapi_access_entry_t {
    /// Node allowed to import.
    pub ae_node: rsm_node_id_t,
    /// Octal owner/group/other mode granted to that node.
    pub ae_permission: rsm_permission_t,
}

/// Application-owned barrier storage. Size 24. The library keeps a pointer to it between
/// `rsm_memseg_import_init_barrier` and `rsm_memseg_import_destroy_barrier`.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rsmapi_barrier_t {
    pub seg: *mut c_void,
    pub gnum: u16,
    pub privdata: *mut c_void,
}

impl Default for rsmapi_barrier_t {
    fn default() -> Self {
        Self { seg: ptr::null_mut(), gnum: 0, privdata: ptr::null_mut() }
    }
}

/// The anonymous `local` union of [`rsm_iovec_t`] (no name in C).
#[repr(C)]
#[derive(Clone, Copy)]
pub union rsm_iovec_local_t {
    /// Valid when `io_type == RSM_HANDLE_TYPE`.
    pub handle: rsm_localmemory_handle_t,
    /// Valid when `io_type == RSM_VA_TYPE`.
    pub vaddr: caddr_t,
}

impl Default for rsm_iovec_local_t {
    fn default() -> Self {
        Self { vaddr: ptr::null_mut() }
    }
}

impl fmt::Debug for rsm_iovec_local_t {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("rsm_iovec_local_t").finish_non_exhaustive()
    }
}

/// One scatter/gather transfer. Size 40.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default)]
pub struct rsm_iovec_t {
    /// [`RSM_HANDLE_TYPE`] or [`RSM_VA_TYPE`]: which member of `local` is valid.
    pub io_type: c_int,
    pub local: rsm_iovec_local_t,
    pub local_offset: size_t,
    pub remote_offset: size_t,
    pub transfer_length: size_t,
}

/// Scatter/gather request (`rsm_memseg_import_putv` / `getv`). Size 48.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rsm_scat_gath_t {
    /// Not used.
    pub local_nodeid: rsm_node_id_t,
    /// Number of `iovec` entries, 1 ..= [`RSM_MAX_SGIOREQS`].
    pub io_request_count: ulong_t,
    /// Out: entries not completed or not started.
    pub io_residual_count: ulong_t,
    /// [`RSM_IMPLICIT_SIGPOST`], [`RSM_SIGPOST_NO_ACCUMULATE`].
    pub flags: uint_t,
    pub remote_handle: rsm_memseg_import_handle_t,
    pub iovec: *mut rsm_iovec_t,
}

impl Default for rsm_scat_gath_t {
    fn default() -> Self {
        Self {
            local_nodeid: 0,
            io_request_count: 0,
            io_residual_count: 0,
            flags: 0,
            remote_handle: ptr::null_mut(),
            iovec: ptr::null_mut(),
        }
    }
}

/// `rsm_iovec_t::io_type`: `local.handle` is valid.
pub const RSM_HANDLE_TYPE: c_int = 0x01;
/// `rsm_iovec_t::io_type`: `local.vaddr` is valid.
pub const RSM_VA_TYPE: c_int = 0x02;

/// `rsm_memseg_export_create` flag: permit `rsm_memseg_export_rebind`.
pub const RSM_ALLOW_REBIND: uint_t = 0x01;
/// `rsm_memseg_export_create` flag: never block waiting for transport resources.
pub const RSM_CREATE_SEG_DONTWAIT: uint_t = 0x02;
/// `rsm_scat_gath_t::flags`: post one event to the exporter after a fully successful vector.
pub const RSM_IMPLICIT_SIGPOST: uint_t = 0x01;
/// `rsm_intr_signal_post` flag and `rsm_scat_gath_t::flags`: do not queue the event if one is
/// already pending at the target. Shared by both uses; must stay 0x02.
pub const RSM_SIGPOST_NO_ACCUMULATE: uint_t = 0x02;

// ---------------------------------------------------------------------------------------------
// <rsmapi.h>

/// `rsm_attribute_t` (C enum): mapping attribute of `rsm_memseg_import_map`.
pub type rsm_attribute_t = c_uint;
/// The system chooses the address.
pub const RSM_MAP_NONE: rsm_attribute_t = 0x0;
/// Map exactly at the given (page-aligned) address.
pub const RSM_MAP_FIXED: rsm_attribute_t = 0x1;
/// No defined behaviour.
pub const RSM_MAP_RESERVED: rsm_attribute_t = 0x2;

/// `rsm_remote_cntlr_t::connection_state` of a usable connection.
pub const RSM_CONNECTION_ACTIVE: uint_t = 3;

/// Topology header (`struct rsm_topology_hdr`). Size 8.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rsm_topology_hdr_t {
    pub local_nodeid: rsm_node_id_t,
    /// Number of entries of [`rsm_topology_t::connections`].
    pub local_cntlr_count: uint_t,
}

/// Local controller header (`struct rsm_connections_hdr`). Size 272.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rsm_connections_hdr_t {
    /// NUL-terminated `"<type><unit>"`, e.g. `"wrsm0"`.
    pub cntlr_name: [c_char; MAXNAMELEN],
    pub local_hwaddr: rsm_addr_t,
    /// Number of entries of [`rsm_connections_t::remote_cntlr`].
    pub remote_cntlr_count: c_int,
}

impl Default for rsm_connections_hdr_t {
    fn default() -> Self {
        Self { cntlr_name: [0; MAXNAMELEN], local_hwaddr: 0, remote_cntlr_count: 0 }
    }
}

/// A controller on another node (`struct rsm_remote_cntlr`). Size 280.
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rsm_remote_cntlr_t {
    pub remote_nodeid: rsm_node_id_t,
    /// NUL-terminated `"<type><unit>"`.
    pub remote_cntlrname: [c_char; MAXNAMELEN],
    pub remote_hwaddr: rsm_addr_t,
    /// 1 down, 2 up, 3 [`RSM_CONNECTION_ACTIVE`] (usable), 4 going down.
    pub connection_state: uint_t,
}

impl Default for rsm_remote_cntlr_t {
    fn default() -> Self {
        Self { remote_nodeid: 0, remote_cntlrname: [0; MAXNAMELEN], remote_hwaddr: 0, connection_state: 0 }
    }
}

/// One local controller and its remote controllers (`struct rsm_connection`). The C array
/// `remote_cntlr` really has `hdr.remote_cntlr_count` entries. Size 552 (one entry).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct rsm_connections_t {
    pub hdr: rsm_connections_hdr_t,
    pub remote_cntlr: [rsm_remote_cntlr_t; 1],
}

/// Topology snapshot (`struct rsm_topology`). The C array `connections` really has
/// `topology_hdr.local_cntlr_count` entries. Size 16 (one entry).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct rsm_topology_t {
    pub topology_hdr: rsm_topology_hdr_t,
    pub connections: [*mut rsm_connections_t; 1],
}

impl Default for rsm_topology_t {
    fn default() -> Self {
        Self { topology_hdr: rsm_topology_hdr_t::default(), connections: [ptr::null_mut()] }
    }
}

// ---------------------------------------------------------------------------------------------
// Layout assertions (spec section 1, LP64)

/// Asserts the size and alignment of a type and the offsets of its fields at compile time.
macro_rules! assert_layout {
    ($t:ty, size = $size:expr, align = $align:expr $(, $($field:ident).+ = $off:expr)* $(,)?) => {
        #[cfg(target_pointer_width = "64")]
        const _: () = {
            assert!(
                size_of::<$t>() == $size,
                concat!("size_of::<", stringify!($t), ">() != ", stringify!($size))
            );
            assert!(
                align_of::<$t>() == $align,
                concat!("align_of::<", stringify!($t), ">() != ", stringify!($align))
            );
            $(
                assert!(
                    core::mem::offset_of!($t, $($field).+) == $off,
                    concat!(
                        "offset_of!(", stringify!($t), ", ", stringify!($($field).+), ") != ",
                        stringify!($off)
                    )
                );
            )*
        };
    };
}

assert_layout!(uint_t, size = 4, align = 4);
assert_layout!(ulong_t, size = 8, align = 8);
assert_layout!(uchar_t, size = 1, align = 1);
assert_layout!(caddr_t, size = 8, align = 8);
assert_layout!(offset_t, size = 8, align = 8);
assert_layout!(off_t, size = 8, align = 8);
assert_layout!(nfds_t, size = 8, align = 8);
assert_layout!(pollfd, size = 8, align = 4);
assert_layout!(rsm_access_size_t, size = 4, align = 4);
assert_layout!(rsm_barrier_type_t, size = 4, align = 4);
assert_layout!(rsm_barrier_mode_t, size = 4, align = 4);
assert_layout!(rsm_attribute_t, size = 4, align = 4);
assert_layout!(rsm_memseg_import_handle_t, size = 8, align = 8);
assert_layout!(rsm_memseg_export_handle_t, size = 8, align = 8);
assert_layout!(rsm_localmemory_handle_t, size = 8, align = 8);
assert_layout!(rsmapi_controller_handle_t, size = 8, align = 8);

assert_layout!(rsm_barrier_component_t, size = 8, align = 8, u64 = 0, vp = 0, c = 0);
assert_layout!(rsm_barrier_t, size = 32, align = 8, comp = 0);
assert_layout!(
    rsmapi_controller_attr_t,
    size = 64,
    align = 8,
    attr_direct_access_sizes = 0,
    attr_atomic_sizes = 4,
    attr_page_size = 8,
    attr_max_export_segment_size = 16,
    attr_tot_export_segment_size = 24,
    attr_max_export_segments = 32,
    attr_max_import_map_size = 40,
    attr_tot_import_map_size = 48,
    attr_max_import_segments = 56,
);
assert_layout!(rsmapi_access_entry_t, size = 8, align = 4, ae_node = 0, ae_permission = 4);
assert_layout!(rsmapi_barrier_t, size = 24, align = 8, seg = 0, gnum = 8, privdata = 16);
assert_layout!(rsm_iovec_local_t, size = 8, align = 8, handle = 0, vaddr = 0);
assert_layout!(
    rsm_iovec_t,
    size = 40,
    align = 8,
    io_type = 0,
    local = 8,
    local.handle = 8,
    local.vaddr = 8,
    local_offset = 16,
    remote_offset = 24,
    transfer_length = 32,
);
assert_layout!(
    rsm_scat_gath_t,
    size = 48,
    align = 8,
    local_nodeid = 0,
    io_request_count = 8,
    io_residual_count = 16,
    flags = 24,
    remote_handle = 32,
    iovec = 40,
);
assert_layout!(rsm_topology_hdr_t, size = 8, align = 4, local_nodeid = 0, local_cntlr_count = 4);
assert_layout!(
    rsm_connections_hdr_t,
    size = 272,
    align = 8,
    cntlr_name = 0,
    local_hwaddr = 256,
    remote_cntlr_count = 264,
);
assert_layout!(
    rsm_remote_cntlr_t,
    size = 280,
    align = 8,
    remote_nodeid = 0,
    remote_cntlrname = 4,
    remote_hwaddr = 264,
    connection_state = 272,
);
assert_layout!(rsm_connections_t, size = 552, align = 8, hdr = 0, remote_cntlr = 272);
assert_layout!(rsm_topology_t, size = 16, align = 8, topology_hdr = 0, connections = 8);

#[cfg(test)]
mod tests {
    //! Cross-checks the Rust constants against the committed C headers: every numeric
    //! `RSM*` macro and enumerator in the headers has a Rust constant of the same name and
    //! value, and vice versa.

    use super::*;
    use std::collections::BTreeMap;

    const HEADERS: [(&str, &str); 3] = [
        ("rsm_common.h", include_str!("../include/sys/rsm/rsm_common.h")),
        ("rsmapi_common.h", include_str!("../include/sys/rsm/rsmapi_common.h")),
        ("rsmapi.h", include_str!("../include/rsmapi.h")),
    ];

    macro_rules! table {
        ($($name:ident),* $(,)?) => {
            [$((stringify!($name), $name as i128)),*]
        };
    }

    fn rust_constants() -> BTreeMap<&'static str, i128> {
        let t = table![
            RSM_VERSION,
            RSM_SUCCESS,
            RSMERR_BAD_LIBRARY_VERSION,
            RSMERR_BAD_TOPOLOGY_PTR,
            RSMERR_BAD_CTLR_HNDL,
            RSMERR_CTLR_NOT_PRESENT,
            RSMERR_BAD_SEG_HNDL,
            RSMERR_SEG_ALREADY_PUBLISHED,
            RSMERR_SEG_NOT_PUBLISHED,
            RSMERR_SEG_NOT_PUBLISHED_TO_NODE,
            RSMERR_SEG_ALREADY_MAPPED,
            RSMERR_SEG_STILL_MAPPED,
            RSMERR_SEG_NOT_MAPPED,
            RSMERR_NOT_CREATOR,
            RSMERR_BAD_BARRIER_PTR,
            RSMERR_BAD_SGIO,
            RSMERR_BAD_LOCALMEM_HNDL,
            RSMERR_BAD_ADDR,
            RSMERR_BAD_MEM_ALIGNMENT,
            RSMERR_BAD_OFFSET,
            RSMERR_MISALIGNED_OFFSET,
            RSMERR_BAD_LENGTH,
            RSMERR_BAD_ACL,
            RSMERR_BAD_SEGID,
            RSMERR_RESERVED_SEGID,
            RSMERR_SEGID_IN_USE,
            RSMERR_BAD_MODE,
            RSMERR_BAD_PERMS,
            RSMERR_PERM_DENIED,
            RSMERR_LOCKS_NOT_SUPPORTED,
            RSMERR_LOCKS_NOT_ENABLED,
            RSMERR_REBIND_NOT_ALLOWED,
            RSMERR_INSUFFICIENT_RESOURCES,
            RSMERR_INSUFFICIENT_MEM,
            RSMERR_MAP_FAILED,
            RSMERR_POLLFD_IN_USE,
            RSMERR_BARRIER_UNINITIALIZED,
            RSMERR_BARRIER_OPEN_FAILED,
            RSMERR_BARRIER_NOT_OPENED,
            RSMERR_BARRIER_FAILURE,
            RSMERR_REMOTE_NODE_UNREACHABLE,
            RSMERR_CONN_ABORTED,
            RSMERR_INTERRUPTED,
            RSMERR_TIMEOUT,
            RSMERR_BAD_APPID,
            RSMERR_BAD_CONF,
            RSMERR_SEG_NOT_CONNECTED,
            RSMERR_INTERNAL_ERROR,
            RSMERR_BAD_DRIVER_VERSION,
            RSMERR_UNSUPPORTED_VERSION,
            RSMERR_DRIVER_NAME_IN_USE,
            RSMERR_DRIVER_NOT_REGISTERED,
            RSMERR_DRIVER_THREAD_RUNNING,
            RSMERR_NEED_THREAD_INIT,
            RSMERR_THREAD_NOT_INITED,
            RSMERR_CTLRS_REGISTERED,
            RSMERR_CTLR_NOT_REGISTERED,
            RSMERR_CTLR_ALREADY_REGISTERED,
            RSMERR_CTLR_IN_USE,
            RSMERR_NAME_TOO_LONG,
            RSMERR_SEG_PUBLISHED,
            RSMERR_SEG_NOT_PUBLISHED_TO_RSM_ADDR,
            RSMERR_SEG_IN_USE,
            RSMERR_BAD_SENDQ_HNDL,
            RSMERR_BAD_ARGS_ERRORS,
            RSMERR_BAD_MSTYPE,
            RSMERR_NO_BACKING_MEM,
            RSMERR_NOT_MEM,
            RSMERR_MEM_ALREADY_BOUND,
            RSMERR_MEM_NOT_BOUND,
            RSMERR_HANDLER_NOT_REGISTERED,
            RSMERR_NO_HANDLER,
            RSMERR_UNBIND_REBIND_NOT_ALLOWED,
            RSMERR_CALLBACKS_NOT_SUPPORTED,
            RSMERR_UNSUPPORTED_OPERATION,
            RSMERR_RSM_ADDR_UNREACHABLE,
            RSMERR_UNKNOWN_RSM_ADDR,
            RSMERR_BAD_BARRIER_HNDL,
            RSMERR_COMM_ERR_MAYBE_DELIVERED,
            RSMERR_COMM_ERR_NOT_DELIVERED,
            RSMERR_QUEUE_FENCE_UP,
            RSMERR_QUEUE_FULL,
            RSM_DRIVER_PRIVATE_ID_BASE,
            RSM_DRIVER_PRIVATE_ID_END,
            RSM_CLUSTER_TRANSPORT_ID_BASE,
            RSM_CLUSTER_TRANSPORT_ID_END,
            RSM_RSMLIB_ID_BASE,
            RSM_RSMLIB_ID_END,
            RSM_DLPI_ID_BASE,
            RSM_DLPI_ID_END,
            RSM_HPC_ID_BASE,
            RSM_HPC_ID_END,
            RSM_OPS_ID_BASE,
            RSM_OPS_ID_END,
            RSM_USER_APP_ID_BASE,
            RSM_USER_APP_ID_END,
            RSM_PERM_NONE,
            RSM_PERM_READ,
            RSM_PERM_WRITE,
            RSM_PERM_RDWR,
            RSM_MAX_SGIOREQS,
            RSM_DAS8,
            RSM_DAS16,
            RSM_DAS32,
            RSM_DAS64,
            RSM_BARRIER_SEGMENT,
            RSM_BARRIER_NODE,
            RSM_BARRIER_SEGMENT_THREAD,
            RSM_BARRIER_NODE_THREAD,
            RSM_BARRIER_MODE_EXPLICIT,
            RSM_BARRIER_MODE_IMPLICIT,
            RSM_HANDLE_TYPE,
            RSM_VA_TYPE,
            RSM_ALLOW_REBIND,
            RSM_CREATE_SEG_DONTWAIT,
            RSM_IMPLICIT_SIGPOST,
            RSM_SIGPOST_NO_ACCUMULATE,
            RSM_MAP_NONE,
            RSM_MAP_FIXED,
            RSM_MAP_RESERVED,
            RSM_CONNECTION_ACTIVE,
        ];
        let map: BTreeMap<_, _> = t.into_iter().collect();
        assert_eq!(map.len(), t.len(), "duplicate name in the Rust table");
        map
    }

    fn parse_number(s: &str) -> Option<i128> {
        let s = s.trim();
        if let Some(hex) = s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
            i128::from_str_radix(hex, 16).ok()
        } else if s.len() > 1 && s.starts_with('0') {
            i128::from_str_radix(&s[1..], 8).ok()
        } else {
            s.parse().ok()
        }
    }

    /// Evaluates a macro body: a number, a known name, or `(A | B | ...)`.
    fn eval(expr: &str, known: &BTreeMap<String, i128>) -> Option<i128> {
        let e = expr.trim();
        let e = e.strip_prefix('(').and_then(|e| e.strip_suffix(')')).unwrap_or(e);
        e.split('|').try_fold(0i128, |acc, term| {
            let term = term.trim();
            parse_number(term).or_else(|| known.get(term).copied()).map(|v| acc | v)
        })
    }

    /// Collects every `#define RSM...` with a numeric value and every `RSM... = value`
    /// enumerator of the headers.
    fn header_constants() -> BTreeMap<String, i128> {
        let mut found = BTreeMap::new();
        for (file, text) in HEADERS {
            for line in text.lines() {
                let code = line.split("/*").next().unwrap_or("").trim();
                let (name, body) = if let Some(rest) = code.strip_prefix("#define") {
                    let rest = rest.trim();
                    match rest.split_once(char::is_whitespace) {
                        Some((n, b)) => (n, b),
                        None => continue,
                    }
                } else if let Some((n, b)) = code.trim_end_matches(',').split_once('=') {
                    (n.trim(), b)
                } else {
                    continue;
                };
                if !name.starts_with("RSM") {
                    continue;
                }
                let value = eval(body, &found).unwrap_or_else(|| panic!("{file}: cannot evaluate {name} = {body}"));
                assert!(found.insert(name.to_owned(), value).is_none(), "{file}: {name} defined twice");
            }
        }
        found
    }

    #[test]
    fn rust_constants_match_c_headers() {
        let rust = rust_constants();
        let c = header_constants();
        for (name, value) in &rust {
            assert_eq!(c.get(*name), Some(value), "{name}: C header vs Rust");
        }
        for (name, value) in &c {
            assert_eq!(rust.get(name.as_str()), Some(value), "{name}: Rust vs C header");
        }
        // 46 RSMAPI codes (0..=45) + 35 RSMPI codes (100..=134).
        let errors = c.keys().filter(|n| n.starts_with("RSMERR_") || *n == "RSM_SUCCESS");
        assert_eq!(errors.count(), 46 + 35);
    }

    #[test]
    fn header_name_buffers_match() {
        assert!(HEADERS[2].1.contains("#define _RSM_MAXNAMELEN 256"));
        assert_eq!(MAXNAMELEN, 256);
    }

    #[test]
    fn defaults_are_zeroed() {
        let sg = rsm_scat_gath_t::default();
        assert!(sg.remote_handle.is_null() && sg.iovec.is_null());
        let b = rsmapi_barrier_t::default();
        assert!(b.seg.is_null() && b.privdata.is_null() && b.gnum == 0);
        let t = rsm_topology_t::default();
        assert!(t.connections[0].is_null());
    }
}

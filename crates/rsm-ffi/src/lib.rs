//! `librsm` for Linux: the Solaris Remote Shared Memory API (RSMAPI, section 3RSM) as a C
//! library.
//!
//! This crate builds `librsm.so` / `librsm.a` (library name `rsm`, link with `-lrsm`, soname
//! `librsm.so.2`) and ships the Solaris-compatible C headers in `include/`:
//!
//! * `<rsmapi.h>`: the 42 public functions, the mapping attribute and the topology
//!   structures;
//! * `<sys/rsm/rsm_common.h>`: the `RSMERR_*` codes, segment-id ranges, `RSM_PERM_*`, the
//!   id/address types, the opaque segment handles and the barrier enums, plus the Solaris
//!   base types (`uint_t`, `ulong_t`, `uchar_t`, `caddr_t`, `offset_t`) that Linux lacks;
//! * `<sys/rsm/rsmapi_common.h>`: the controller attributes, access-list entries, the
//!   application barrier, the scatter/gather descriptors and their flags.
//!
//! All layouts are the LP64 Solaris ABI (x86_64 / aarch64 Linux). [`types`] is the Rust
//! `#[repr(C)]` mirror of those headers; its layout is checked at compile time, and the C
//! side is checked by `tests/c/layout.c` and `tests/c/prototypes.c` at the repository root.
//!
//! Every `int` entry point returns [`types::RSM_SUCCESS`] (0) or a positive `RSMERR_*` code;
//! none returns -1 or reports through `errno`.
//!
//! # A thin skin
//!
//! Each C function converts its arguments, calls the safe Rust API of the `rsm` crate, and
//! converts the result ([`rsm::Error::code`] is the `RSMERR_*` number). The only checks made
//! here are the ones that exist only in C, in the order of the specification: NULL pointers,
//! the alignment of C data pointers, integers that must be enumeration values, and handle
//! validation.
//!
//! # Handles
//!
//! Handles given to C are never pointers to memory: each is a generation-tagged index into a
//! process-wide table ([`handle`]) encoded as a pointer value, and it is never dereferenced.
//! A NULL, released, destroyed, double-freed, wrong-type (an import handle passed where an
//! export handle is expected) or garbage handle is just a failed lookup and gives the
//! documented `RSMERR_BAD_*` error.
//!
//! # Panics
//!
//! No panic crosses the C boundary: every exported function runs its body inside
//! `boundary::call`, which catches a panic and returns `RSMERR_INTERNAL_ERROR` (or does
//! nothing, for the one `void` function).

#[cfg(not(target_pointer_width = "64"))]
compile_error!("librsm implements the LP64 Solaris ABI: 64-bit targets only");

pub mod boundary;
pub mod controller;
pub mod export;
pub mod handle;
pub mod import;
pub mod sg;
pub mod signal;
pub mod topology;
pub mod types;

/// Compile-time check that every exported function has exactly the prototype of
/// `include/rsmapi.h` (written here with the `#[repr(C)]` mirror types of [`types`], whose
/// layouts are checked against the headers): the Rust counterpart of
/// `tests/c/prototypes.c`.
mod prototypes {
    use crate::controller::*;
    use crate::export::*;
    use crate::import::*;
    use crate::sg::*;
    use crate::signal::*;
    use crate::topology::*;
    use crate::types::*;
    use core::ffi::{c_char, c_int, c_void};

    macro_rules! check {
        ($($name:ident: fn($($arg:ty),*) $(-> $ret:ty)?;)*) => {
            $(const _: unsafe extern "C" fn($($arg),*) $(-> $ret)? = $name;)*
        };
    }

    check! {
        rsm_get_controller: fn(*mut c_char, *mut rsmapi_controller_handle_t) -> c_int;
        rsm_release_controller: fn(rsmapi_controller_handle_t) -> c_int;
        rsm_get_controller_attr: fn(rsmapi_controller_handle_t, *mut rsmapi_controller_attr_t) -> c_int;
        rsm_get_interconnect_topology: fn(*mut *mut rsm_topology_t) -> c_int;
        rsm_free_interconnect_topology: fn(*mut rsm_topology_t);
        rsm_get_segmentid_range: fn(*const c_char, *mut rsm_memseg_id_t, *mut u32) -> c_int;
        rsm_memseg_export_create:
            fn(rsmapi_controller_handle_t, *mut rsm_memseg_export_handle_t, *mut c_void, size_t, uint_t) -> c_int;
        rsm_memseg_export_destroy: fn(rsm_memseg_export_handle_t) -> c_int;
        rsm_memseg_export_rebind: fn(rsm_memseg_export_handle_t, *mut c_void, offset_t, size_t) -> c_int;
        rsm_memseg_export_publish:
            fn(rsm_memseg_export_handle_t, *mut rsm_memseg_id_t, *mut rsmapi_access_entry_t, uint_t) -> c_int;
        rsm_memseg_export_unpublish: fn(rsm_memseg_export_handle_t) -> c_int;
        rsm_memseg_export_republish: fn(rsm_memseg_export_handle_t, *mut rsmapi_access_entry_t, uint_t) -> c_int;
        rsm_memseg_import_connect: fn(
            rsmapi_controller_handle_t,
            rsm_node_id_t,
            rsm_memseg_id_t,
            rsm_permission_t,
            *mut rsm_memseg_import_handle_t
        ) -> c_int;
        rsm_memseg_import_disconnect: fn(rsm_memseg_import_handle_t) -> c_int;
        rsm_memseg_import_map: fn(
            rsm_memseg_import_handle_t,
            *mut *mut c_void,
            rsm_attribute_t,
            rsm_permission_t,
            off_t,
            size_t
        ) -> c_int;
        rsm_memseg_import_unmap: fn(rsm_memseg_import_handle_t) -> c_int;
        rsm_memseg_import_get8: fn(rsm_memseg_import_handle_t, off_t, *mut u8, ulong_t) -> c_int;
        rsm_memseg_import_get16: fn(rsm_memseg_import_handle_t, off_t, *mut u16, ulong_t) -> c_int;
        rsm_memseg_import_get32: fn(rsm_memseg_import_handle_t, off_t, *mut u32, ulong_t) -> c_int;
        rsm_memseg_import_get64: fn(rsm_memseg_import_handle_t, off_t, *mut u64, ulong_t) -> c_int;
        rsm_memseg_import_get: fn(rsm_memseg_import_handle_t, off_t, *mut c_void, size_t) -> c_int;
        rsm_memseg_import_put8: fn(rsm_memseg_import_handle_t, off_t, *mut u8, ulong_t) -> c_int;
        rsm_memseg_import_put16: fn(rsm_memseg_import_handle_t, off_t, *mut u16, ulong_t) -> c_int;
        rsm_memseg_import_put32: fn(rsm_memseg_import_handle_t, off_t, *mut u32, ulong_t) -> c_int;
        rsm_memseg_import_put64: fn(rsm_memseg_import_handle_t, off_t, *mut u64, ulong_t) -> c_int;
        rsm_memseg_import_put: fn(rsm_memseg_import_handle_t, off_t, *mut c_void, size_t) -> c_int;
        rsm_memseg_import_putv: fn(*mut rsm_scat_gath_t) -> c_int;
        rsm_memseg_import_getv: fn(*mut rsm_scat_gath_t) -> c_int;
        rsm_create_localmemory_handle:
            fn(rsmapi_controller_handle_t, *mut rsm_localmemory_handle_t, caddr_t, size_t) -> c_int;
        rsm_free_localmemory_handle: fn(rsmapi_controller_handle_t, rsm_localmemory_handle_t) -> c_int;
        rsm_memseg_import_init_barrier:
            fn(rsm_memseg_import_handle_t, rsm_barrier_type_t, *mut rsmapi_barrier_t) -> c_int;
        rsm_memseg_import_open_barrier: fn(*mut rsmapi_barrier_t) -> c_int;
        rsm_memseg_import_close_barrier: fn(*mut rsmapi_barrier_t) -> c_int;
        rsm_memseg_import_order_barrier: fn(*mut rsmapi_barrier_t) -> c_int;
        rsm_memseg_import_destroy_barrier: fn(*mut rsmapi_barrier_t) -> c_int;
        rsm_memseg_import_set_mode: fn(rsm_memseg_import_handle_t, rsm_barrier_mode_t) -> c_int;
        rsm_memseg_import_get_mode: fn(rsm_memseg_import_handle_t, *mut rsm_barrier_mode_t) -> c_int;
        rsm_intr_signal_post: fn(*mut c_void, uint_t) -> c_int;
        rsm_intr_signal_wait: fn(*mut c_void, c_int) -> c_int;
        rsm_memseg_get_pollfd: fn(*mut c_void, *mut pollfd) -> c_int;
        rsm_memseg_release_pollfd: fn(*mut c_void) -> c_int;
        rsm_intr_signal_wait_pollfd: fn(*mut pollfd, nfds_t, c_int, *mut c_int) -> c_int;
    }
}

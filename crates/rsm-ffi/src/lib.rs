//! `librsm` for Linux: the Solaris Remote Shared Memory API (RSMAPI, section 3RSM) as a C
//! library.
//!
//! This crate builds `librsm.so` / `librsm.a` (library name `rsm`, link with `-lrsm`) and
//! ships the Solaris-compatible C headers in `include/`:
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

pub mod types;

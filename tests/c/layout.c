/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Checks the committed <rsmapi.h> against the numbers of the RSMAPI
 * specification (/work/shared/spec/RSMAPI.md sections 0, 1 and 2): the size
 * of every type, the size and field offsets of every public structure, and
 * the value of every constant.  Each check is done twice: at compile time
 * with _Static_assert, and at run time, where every check is printed.
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -Icrates/rsm-ffi/include \
 *       -o tests/c/build/layout tests/c/layout.c && tests/c/build/layout
 *
 * Exit status 0 if all checks pass, 1 otherwise.
 */

#include <rsmapi.h>

#include <stddef.h>
#include <stdio.h>
#include <unistd.h>

#if !defined(__LP64__) && !defined(_LP64)
#error "layout.c checks the LP64 layout of the RSMAPI headers"
#endif

/* ---------------------------------------------------------------------- */
/* Type sizes: X(type, size) */
#define TYPE_SIZES(X)                                   \
	X(uint_t, 4)                                        \
	X(ulong_t, 8)                                       \
	X(uchar_t, 1)                                       \
	X(caddr_t, 8)                                       \
	X(offset_t, 8)                                      \
	X(off_t, 8)                                         \
	X(size_t, 8)                                        \
	X(nfds_t, 8)                                        \
	X(rsm_addr_t, 8)                                    \
	X(rsm_node_id_t, 4)                                 \
	X(rsm_memseg_id_t, 4)                               \
	X(rsm_permission_t, 4)                              \
	X(rsm_memseg_import_handle_t, 8)                    \
	X(rsm_memseg_export_handle_t, 8)                    \
	X(rsm_localmemory_handle_t, 8)                      \
	X(rsmapi_controller_handle_t, 8)                    \
	X(rsm_access_size_t, 4)                             \
	X(rsm_barrier_type_t, 4)                            \
	X(rsm_barrier_mode_t, 4)                            \
	X(rsm_attribute_t, 4)                               \
	X(rsm_barrier_component_t, 8)                       \
	X(rsm_barrier_t, 32)                                \
	X(rsmapi_controller_attr_t, 64)                     \
	X(rsmapi_access_entry_t, 8)                         \
	X(rsmapi_barrier_t, 24)                             \
	X(rsm_iovec_t, 40)                                  \
	X(rsm_scat_gath_t, 48)                              \
	X(rsm_topology_hdr_t, 8)                            \
	X(rsm_connections_hdr_t, 272)                       \
	X(rsm_remote_cntlr_t, 280)                          \
	X(rsm_connections_t, 552)                           \
	X(rsm_topology_t, 16)

/* Field offsets: X(type, field, offset) */
#define FIELD_OFFSETS(X)                                              \
	X(rsm_barrier_component_t, u64, 0)                                \
	X(rsm_barrier_component_t, vp, 0)                                 \
	X(rsm_barrier_t, comp, 0)                                         \
	X(rsmapi_controller_attr_t, attr_direct_access_sizes, 0)          \
	X(rsmapi_controller_attr_t, attr_atomic_sizes, 4)                 \
	X(rsmapi_controller_attr_t, attr_page_size, 8)                    \
	X(rsmapi_controller_attr_t, attr_max_export_segment_size, 16)     \
	X(rsmapi_controller_attr_t, attr_tot_export_segment_size, 24)     \
	X(rsmapi_controller_attr_t, attr_max_export_segments, 32)         \
	X(rsmapi_controller_attr_t, attr_max_import_map_size, 40)         \
	X(rsmapi_controller_attr_t, attr_tot_import_map_size, 48)         \
	X(rsmapi_controller_attr_t, attr_max_import_segments, 56)         \
	X(rsmapi_access_entry_t, ae_node, 0)                              \
	X(rsmapi_access_entry_t, ae_permission, 4)                        \
	X(rsmapi_barrier_t, seg, 0)                                       \
	X(rsmapi_barrier_t, gnum, 8)                                      \
	X(rsmapi_barrier_t, privdata, 16)                                 \
	X(rsm_iovec_t, io_type, 0)                                        \
	X(rsm_iovec_t, local, 8)                                          \
	X(rsm_iovec_t, local.handle, 8)                                   \
	X(rsm_iovec_t, local.vaddr, 8)                                    \
	X(rsm_iovec_t, local_offset, 16)                                  \
	X(rsm_iovec_t, remote_offset, 24)                                 \
	X(rsm_iovec_t, transfer_length, 32)                               \
	X(rsm_scat_gath_t, local_nodeid, 0)                               \
	X(rsm_scat_gath_t, io_request_count, 8)                           \
	X(rsm_scat_gath_t, io_residual_count, 16)                         \
	X(rsm_scat_gath_t, flags, 24)                                     \
	X(rsm_scat_gath_t, remote_handle, 32)                             \
	X(rsm_scat_gath_t, iovec, 40)                                     \
	X(rsm_topology_hdr_t, local_nodeid, 0)                            \
	X(rsm_topology_hdr_t, local_cntlr_count, 4)                       \
	X(rsm_connections_hdr_t, cntlr_name, 0)                           \
	X(rsm_connections_hdr_t, local_hwaddr, 256)                       \
	X(rsm_connections_hdr_t, remote_cntlr_count, 264)                 \
	X(rsm_remote_cntlr_t, remote_nodeid, 0)                           \
	X(rsm_remote_cntlr_t, remote_cntlrname, 4)                        \
	X(rsm_remote_cntlr_t, remote_hwaddr, 264)                         \
	X(rsm_remote_cntlr_t, connection_state, 272)                      \
	X(rsm_connections_t, hdr, 0)                                      \
	X(rsm_connections_t, remote_cntlr, 272)                           \
	X(rsm_topology_t, topology_hdr, 0)                                \
	X(rsm_topology_t, connections, 8)

/* Field sizes that the offsets alone do not pin down: X(type, field, size) */
#define FIELD_SIZES(X)                                                \
	X(rsm_barrier_component_t, u32, 8)                                \
	X(rsm_barrier_component_t, c, 8)                                  \
	X(rsmapi_barrier_t, gnum, 2)                                      \
	X(rsm_iovec_t, local, 8)                                          \
	X(rsm_iovec_t, io_type, 4)                                        \
	X(rsm_scat_gath_t, flags, 4)                                      \
	X(rsm_connections_hdr_t, cntlr_name, 256)                         \
	X(rsm_connections_hdr_t, remote_cntlr_count, 4)                   \
	X(rsm_remote_cntlr_t, remote_cntlrname, 256)                      \
	X(rsm_remote_cntlr_t, connection_state, 4)                        \
	X(rsm_connections_t, remote_cntlr, 280)                           \
	X(rsm_topology_t, connections, 8)

/* Constant values: X(name, value) */
#define CONSTANTS(X)                                    \
	/* 2.1 RSMAPI return values */                      \
	X(RSM_SUCCESS, 0)                                   \
	X(RSMERR_BAD_LIBRARY_VERSION, 1)                    \
	X(RSMERR_BAD_TOPOLOGY_PTR, 2)                       \
	X(RSMERR_BAD_CTLR_HNDL, 3)                          \
	X(RSMERR_CTLR_NOT_PRESENT, 4)                       \
	X(RSMERR_BAD_SEG_HNDL, 5)                           \
	X(RSMERR_SEG_ALREADY_PUBLISHED, 6)                  \
	X(RSMERR_SEG_NOT_PUBLISHED, 7)                      \
	X(RSMERR_SEG_NOT_PUBLISHED_TO_NODE, 8)              \
	X(RSMERR_SEG_ALREADY_MAPPED, 9)                     \
	X(RSMERR_SEG_STILL_MAPPED, 10)                      \
	X(RSMERR_SEG_NOT_MAPPED, 11)                        \
	X(RSMERR_NOT_CREATOR, 12)                           \
	X(RSMERR_BAD_BARRIER_PTR, 13)                       \
	X(RSMERR_BAD_SGIO, 14)                              \
	X(RSMERR_BAD_LOCALMEM_HNDL, 15)                     \
	X(RSMERR_BAD_ADDR, 16)                              \
	X(RSMERR_BAD_MEM_ALIGNMENT, 17)                     \
	X(RSMERR_BAD_OFFSET, 18)                            \
	X(RSMERR_MISALIGNED_OFFSET, 19)                     \
	X(RSMERR_BAD_LENGTH, 20)                            \
	X(RSMERR_BAD_ACL, 21)                               \
	X(RSMERR_BAD_SEGID, 22)                             \
	X(RSMERR_RESERVED_SEGID, 23)                        \
	X(RSMERR_SEGID_IN_USE, 24)                          \
	X(RSMERR_BAD_MODE, 25)                              \
	X(RSMERR_BAD_PERMS, 26)                             \
	X(RSMERR_PERM_DENIED, 27)                           \
	X(RSMERR_LOCKS_NOT_SUPPORTED, 28)                   \
	X(RSMERR_LOCKS_NOT_ENABLED, 29)                     \
	X(RSMERR_REBIND_NOT_ALLOWED, 30)                    \
	X(RSMERR_INSUFFICIENT_RESOURCES, 31)                \
	X(RSMERR_INSUFFICIENT_MEM, 32)                      \
	X(RSMERR_MAP_FAILED, 33)                            \
	X(RSMERR_POLLFD_IN_USE, 34)                         \
	X(RSMERR_BARRIER_UNINITIALIZED, 35)                 \
	X(RSMERR_BARRIER_OPEN_FAILED, 36)                   \
	X(RSMERR_BARRIER_NOT_OPENED, 37)                    \
	X(RSMERR_BARRIER_FAILURE, 38)                       \
	X(RSMERR_REMOTE_NODE_UNREACHABLE, 39)               \
	X(RSMERR_CONN_ABORTED, 40)                          \
	X(RSMERR_INTERRUPTED, 41)                           \
	X(RSMERR_TIMEOUT, 42)                               \
	X(RSMERR_BAD_APPID, 43)                             \
	X(RSMERR_BAD_CONF, 44)                              \
	X(RSMERR_SEG_NOT_CONNECTED, 45)                     \
	/* 2.1 RSMPI return values */                       \
	X(RSMERR_INTERNAL_ERROR, 100)                       \
	X(RSMERR_BAD_DRIVER_VERSION, 101)                   \
	X(RSMERR_UNSUPPORTED_VERSION, 102)                  \
	X(RSMERR_DRIVER_NAME_IN_USE, 103)                   \
	X(RSMERR_DRIVER_NOT_REGISTERED, 104)                \
	X(RSMERR_DRIVER_THREAD_RUNNING, 105)                \
	X(RSMERR_NEED_THREAD_INIT, 106)                     \
	X(RSMERR_THREAD_NOT_INITED, 107)                    \
	X(RSMERR_CTLRS_REGISTERED, 108)                     \
	X(RSMERR_CTLR_NOT_REGISTERED, 109)                  \
	X(RSMERR_CTLR_ALREADY_REGISTERED, 110)              \
	X(RSMERR_CTLR_IN_USE, 111)                          \
	X(RSMERR_NAME_TOO_LONG, 112)                        \
	X(RSMERR_SEG_PUBLISHED, 113)                        \
	X(RSMERR_SEG_NOT_PUBLISHED_TO_RSM_ADDR, 114)        \
	X(RSMERR_SEG_IN_USE, 115)                           \
	X(RSMERR_BAD_SENDQ_HNDL, 116)                       \
	X(RSMERR_BAD_ARGS_ERRORS, 117)                      \
	X(RSMERR_BAD_MSTYPE, 118)                           \
	X(RSMERR_NO_BACKING_MEM, 119)                       \
	X(RSMERR_NOT_MEM, 120)                              \
	X(RSMERR_MEM_ALREADY_BOUND, 121)                    \
	X(RSMERR_MEM_NOT_BOUND, 122)                        \
	X(RSMERR_HANDLER_NOT_REGISTERED, 123)               \
	X(RSMERR_NO_HANDLER, 124)                           \
	X(RSMERR_UNBIND_REBIND_NOT_ALLOWED, 125)            \
	X(RSMERR_CALLBACKS_NOT_SUPPORTED, 126)              \
	X(RSMERR_UNSUPPORTED_OPERATION, 127)                \
	X(RSMERR_RSM_ADDR_UNREACHABLE, 128)                 \
	X(RSMERR_UNKNOWN_RSM_ADDR, 129)                     \
	X(RSMERR_BAD_BARRIER_HNDL, 130)                     \
	X(RSMERR_COMM_ERR_MAYBE_DELIVERED, 131)             \
	X(RSMERR_COMM_ERR_NOT_DELIVERED, 132)               \
	X(RSMERR_QUEUE_FENCE_UP, 133)                       \
	X(RSMERR_QUEUE_FULL, 134)                           \
	/* 2.2 segment-id ranges */                         \
	X(RSM_DRIVER_PRIVATE_ID_BASE, 0)                    \
	X(RSM_DRIVER_PRIVATE_ID_END, 0x0FFFFF)              \
	X(RSM_CLUSTER_TRANSPORT_ID_BASE, 0x100000)          \
	X(RSM_CLUSTER_TRANSPORT_ID_END, 0x1FFFFF)           \
	X(RSM_RSMLIB_ID_BASE, 0x200000)                     \
	X(RSM_RSMLIB_ID_END, 0x2FFFFF)                      \
	X(RSM_DLPI_ID_BASE, 0x300000)                       \
	X(RSM_DLPI_ID_END, 0x3FFFFF)                        \
	X(RSM_HPC_ID_BASE, 0x400000)                        \
	X(RSM_HPC_ID_END, 0x4FFFFF)                         \
	X(RSM_OPS_ID_BASE, 0x500000)                        \
	X(RSM_OPS_ID_END, 0x5FFFFF)                         \
	X(RSM_USER_APP_ID_BASE, 0x80000000)                 \
	X(RSM_USER_APP_ID_END, 0xFFFFFFFF)                  \
	/* 2.3 permissions */                               \
	X(RSM_PERM_NONE, 0)                                 \
	X(RSM_PERM_READ, 0x100)                             \
	X(RSM_PERM_WRITE, 0x80)                             \
	X(RSM_PERM_RDWR, 0x180)                             \
	/* 2.4 flags and small enums */                     \
	X(RSM_ALLOW_REBIND, 0x01)                           \
	X(RSM_CREATE_SEG_DONTWAIT, 0x02)                    \
	X(RSM_IMPLICIT_SIGPOST, 0x01)                       \
	X(RSM_SIGPOST_NO_ACCUMULATE, 0x02)                  \
	X(RSM_HANDLE_TYPE, 0x01)                            \
	X(RSM_VA_TYPE, 0x02)                                \
	X(RSM_MAP_NONE, 0)                                  \
	X(RSM_MAP_FIXED, 1)                                 \
	X(RSM_MAP_RESERVED, 2)                              \
	X(RSM_BARRIER_MODE_EXPLICIT, 0)                     \
	X(RSM_BARRIER_MODE_IMPLICIT, 1)                     \
	X(RSM_BARRIER_SEGMENT, 0x01)                        \
	X(RSM_BARRIER_NODE, 0x02)                           \
	X(RSM_BARRIER_SEGMENT_THREAD, 0x11)                 \
	X(RSM_BARRIER_NODE_THREAD, 0x12)                    \
	X(RSM_DAS8, 1)                                      \
	X(RSM_DAS16, 2)                                     \
	X(RSM_DAS32, 4)                                     \
	X(RSM_DAS64, 8)                                     \
	X(RSM_CONNECTION_ACTIVE, 3)                         \
	/* 2.5 limits and versions */                       \
	X(RSM_MAX_SGIOREQS, 16)                             \
	X(RSM_VERSION, 5)                                   \
	X(MAXNAMELEN, 256)

/* ---------------------------------------------------------------------- */
/* Compile-time checks */

#define SIZEOF_MEMBER(type, field) sizeof(((type *)0)->field)

#define STATIC_TYPE_SIZE(type, size) \
	_Static_assert(sizeof(type) == (size), "sizeof(" #type ") != " #size);
#define STATIC_FIELD_OFFSET(type, field, off) \
	_Static_assert(offsetof(type, field) == (off), \
	    "offsetof(" #type ", " #field ") != " #off);
#define STATIC_FIELD_SIZE(type, field, size) \
	_Static_assert(SIZEOF_MEMBER(type, field) == (size), \
	    "sizeof(" #type "." #field ") != " #size);
#define STATIC_CONSTANT(name, value) \
	_Static_assert((long long)(name) == (long long)(value), #name " != " #value);

TYPE_SIZES(STATIC_TYPE_SIZE)
FIELD_OFFSETS(STATIC_FIELD_OFFSET)
FIELD_SIZES(STATIC_FIELD_SIZE)
CONSTANTS(STATIC_CONSTANT)

/* Signedness of the integer types. */
_Static_assert((uint_t)-1 > 0, "uint_t is unsigned");
_Static_assert((ulong_t)-1 > 0, "ulong_t is unsigned");
_Static_assert((uchar_t)-1 > 0, "uchar_t is unsigned");
_Static_assert((offset_t)-1 < 0, "offset_t is signed");
_Static_assert((off_t)-1 < 0, "off_t is signed");
_Static_assert((rsm_addr_t)-1 > 0, "rsm_addr_t is unsigned");
_Static_assert((rsm_node_id_t)-1 > 0, "rsm_node_id_t is unsigned");
_Static_assert((rsm_memseg_id_t)-1 > 0, "rsm_memseg_id_t is unsigned");
_Static_assert((rsm_permission_t)-1 > 0, "rsm_permission_t is unsigned");

/* Documented as not defined by any shipped header. */
#ifdef RSM_LOCK_OPS
#error "RSM_LOCK_OPS must not be defined"
#endif
#ifdef RSM_BAR_DEFAULT
#error "RSM_BAR_DEFAULT must not be defined"
#endif

/* ---------------------------------------------------------------------- */
/* Run-time checks */

struct size_check {
	const char *what;
	size_t got;
	size_t want;
};

struct const_check {
	const char *name;
	long long got;
	long long want;
};

#define RT_TYPE_SIZE(type, size) { "sizeof(" #type ")", sizeof(type), (size) },
#define RT_FIELD_OFFSET(type, field, off) \
	{ "offsetof(" #type ", " #field ")", offsetof(type, field), (off) },
#define RT_FIELD_SIZE(type, field, size) \
	{ "sizeof(" #type "." #field ")", SIZEOF_MEMBER(type, field), (size) },
#define RT_CONSTANT(name, value) \
	{ #name, (long long)(name), (long long)(value) },

static const struct size_check size_checks[] = {
	TYPE_SIZES(RT_TYPE_SIZE)
	FIELD_OFFSETS(RT_FIELD_OFFSET)
	FIELD_SIZES(RT_FIELD_SIZE)
};

static const struct const_check const_checks[] = {
	CONSTANTS(RT_CONSTANT)
};

int
main(void)
{
	unsigned checks = 0, failures = 0;
	size_t i;

	for (i = 0; i < sizeof(size_checks) / sizeof(size_checks[0]); i++) {
		const struct size_check *c = &size_checks[i];
		int ok = c->got == c->want;
		printf("%-4s %-60s = %zu (spec %zu)\n", ok ? "ok" : "FAIL",
		    c->what, c->got, c->want);
		checks++;
		failures += !ok;
	}

	for (i = 0; i < sizeof(const_checks) / sizeof(const_checks[0]); i++) {
		const struct const_check *c = &const_checks[i];
		int ok = c->got == c->want;
		printf("%-4s %-60s = %lld = %#llx (spec %lld)\n",
		    ok ? "ok" : "FAIL", c->name, c->got,
		    (unsigned long long)c->got, c->want);
		checks++;
		failures += !ok;
	}

	/* PAGESIZE is the system page size. */
	{
		long got = (long)PAGESIZE;
		long want = sysconf(_SC_PAGESIZE);
		int ok = got == want && got > 0;
		printf("%-4s %-60s = %ld (sysconf %ld)\n", ok ? "ok" : "FAIL",
		    "PAGESIZE", got, want);
		checks++;
		failures += !ok;
	}

	printf("%u checks, %u failures\n", checks, failures);
	return failures == 0 ? 0 : 1;
}

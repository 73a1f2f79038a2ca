/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * <sys/rsm/rsmapi_common.h> -- RSMAPI data structures and flags, source
 * compatible with the Solaris header of the same name.  Part of the "rsm"
 * project (RSMAPI for Linux).
 *
 * Contents: the opaque controller and local-memory handles, the controller
 * attributes, access-list entries, the application-owned barrier, the
 * scatter/gather descriptors, and the export-create, scatter/gather and
 * signal-post flags.
 *
 * All layouts are those of the LP64 Solaris ABI (x86_64 / aarch64 Linux);
 * the byte offsets are given in brackets.
 */

#ifndef _SYS_RSM_RSMAPI_COMMON_H
#define _SYS_RSM_RSMAPI_COMMON_H

#include <stddef.h>
#include <sys/rsm/rsm_common.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque handle of a registered local buffer, usable in rsm_iovec_t
 * entries of type RSM_HANDLE_TYPE. */
struct __rsm_localmemory_handle;
typedef struct __rsm_localmemory_handle *rsm_localmemory_handle_t;

/* Opaque handle of an interconnect controller (rsm_get_controller()). */
struct __rsmapi_controller_handle;
typedef struct __rsmapi_controller_handle *rsmapi_controller_handle_t;

/* Controller attributes, filled by rsm_get_controller_attr().  Size 64. */
typedef struct {
	uint_t attr_direct_access_sizes;     /* [0]  RSM_DAS* bits */
	uint_t attr_atomic_sizes;            /* [4]  RSM_DAS* bits */
	size_t attr_page_size;               /* [8]  */
	size_t attr_max_export_segment_size; /* [16] */
	size_t attr_tot_export_segment_size; /* [24] */
	ulong_t attr_max_export_segments;    /* [32] */
	size_t attr_max_import_map_size;     /* [40] */
	size_t attr_tot_import_map_size;     /* [48] */
	ulong_t attr_max_import_segments;    /* [56] */
} rsmapi_controller_attr_t;

/* One entry of an export segment's node access list.  Size 8. */
typedef struct {
	rsm_node_id_t ae_node;               /* [0] node allowed to import */
	rsm_permission_t ae_permission;      /* [4] octal ugo mode for it */
} rsmapi_access_entry_t;

/*
 * Barrier storage owned by the application.  Size 24.  Initialised by
 * rsm_memseg_import_init_barrier(); the library keeps a pointer to it, so it
 * must stay in place until rsm_memseg_import_destroy_barrier().  Zero it
 * before use and treat the fields as opaque.
 */
typedef struct {
	void *seg;                           /* [0]  */
	uint16_t gnum;                       /* [8]  */
	void *privdata;                      /* [16] */
} rsmapi_barrier_t;

/* One scatter/gather transfer.  Size 40. */
typedef struct {
	int io_type;                         /* [0]  RSM_HANDLE_TYPE or RSM_VA_TYPE */
	union {
		rsm_localmemory_handle_t handle; /* io_type == RSM_HANDLE_TYPE */
		caddr_t vaddr;                   /* io_type == RSM_VA_TYPE */
	} local;                             /* [8]  */
	size_t local_offset;                 /* [16] */
	size_t remote_offset;                /* [24] */
	size_t transfer_length;              /* [32] */
} rsm_iovec_t;

/* Scatter/gather request for rsm_memseg_import_putv()/getv().  Size 48. */
typedef struct {
	rsm_node_id_t local_nodeid;          /* [0]  not used */
	ulong_t io_request_count;            /* [8]  1 .. RSM_MAX_SGIOREQS */
	ulong_t io_residual_count;           /* [16] out: entries not done */
	uint_t flags;                        /* [24] RSM_IMPLICIT_SIGPOST,
	                                      *      RSM_SIGPOST_NO_ACCUMULATE */
	rsm_memseg_import_handle_t remote_handle; /* [32] */
	rsm_iovec_t *iovec;                  /* [40] io_request_count entries */
} rsm_scat_gath_t;

/* rsm_iovec_t.io_type values. */
#define RSM_HANDLE_TYPE             0x01
#define RSM_VA_TYPE                 0x02

/* rsm_memseg_export_create() flags. */
#define RSM_ALLOW_REBIND            0x01 /* permit rsm_memseg_export_rebind() */
#define RSM_CREATE_SEG_DONTWAIT     0x02 /* never block for transport resources */

/* rsm_scat_gath_t.flags: post one event to the exporter after success. */
#define RSM_IMPLICIT_SIGPOST        0x01

/*
 * rsm_intr_signal_post() flags and rsm_scat_gath_t.flags: do not queue the
 * event if one is already pending at the target.  The value is shared by
 * both uses and must stay 0x02.
 */
#define RSM_SIGPOST_NO_ACCUMULATE   0x02

#ifdef __cplusplus
}
#endif

#endif /* _SYS_RSM_RSMAPI_COMMON_H */

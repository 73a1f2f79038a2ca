/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * <sys/rsm/rsm_common.h> -- types and constants shared by the Remote Shared
 * Memory interfaces (RSMAPI), source compatible with the Solaris header of
 * the same name.  Part of the "rsm" project (RSMAPI for Linux).
 *
 * Contents: the RSMAPI and RSMPI error codes (RSMERR_*), the protocol version,
 * the segment-id ranges, the RSM_PERM_* permission bits, RSM_MAX_SGIOREQS, the
 * basic id/address types, the opaque import/export segment handles, the
 * access-size, barrier-type and barrier-mode enumerations, and the RSMPI
 * barrier storage type.
 *
 * All layouts are those of the LP64 Solaris ABI (x86_64 / aarch64 Linux).
 */

#ifndef _SYS_RSM_RSM_COMMON_H
#define _SYS_RSM_RSM_COMMON_H

#include <stdint.h>
#include <sys/types.h>

/*
 * Solaris base types that a Linux C library does not provide.
 *
 * Each one is skipped when the program already has it: either as a macro of
 * the same name, or announced by the guard macro (_UINT_T, _ULONG_T, _UCHAR_T,
 * _CADDR_T, _OFFSET_T) that is defined here after the typedef.  A program that
 * typedefs them itself (to the same type) still compiles in C11 and C++, where
 * repeating an identical typedef is allowed.
 */
#if !defined(_UINT_T) && !defined(uint_t)
#define _UINT_T
typedef unsigned int uint_t;            /* 4 bytes */
#endif

#if !defined(_ULONG_T) && !defined(ulong_t)
#define _ULONG_T
typedef unsigned long ulong_t;          /* 8 bytes on LP64 */
#endif

#if !defined(_UCHAR_T) && !defined(uchar_t)
#define _UCHAR_T
typedef unsigned char uchar_t;          /* 1 byte */
#endif

/* glibc already defines caddr_t (as char *) in _DEFAULT_SOURCE/_GNU_SOURCE
 * mode and then sets __daddr_t_defined. */
#if !defined(_CADDR_T) && !defined(caddr_t) && !defined(__daddr_t_defined)
#define _CADDR_T
typedef char *caddr_t;                  /* core address */
#endif

#if !defined(_OFFSET_T) && !defined(offset_t)
#define _OFFSET_T
typedef long long offset_t;             /* 8 bytes, signed */
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Inter-node protocol version of the kernel agent (not used by applications). */
#define RSM_VERSION 5

/*
 * Return values of the RSMAPI functions.  Every int-returning RSMAPI function
 * returns RSM_SUCCESS or one of these positive codes; never -1.
 */
#define RSM_SUCCESS                          0
#define RSMERR_BAD_LIBRARY_VERSION           1
#define RSMERR_BAD_TOPOLOGY_PTR              2
#define RSMERR_BAD_CTLR_HNDL                 3
#define RSMERR_CTLR_NOT_PRESENT              4
#define RSMERR_BAD_SEG_HNDL                  5
#define RSMERR_SEG_ALREADY_PUBLISHED         6
#define RSMERR_SEG_NOT_PUBLISHED             7
#define RSMERR_SEG_NOT_PUBLISHED_TO_NODE     8
#define RSMERR_SEG_ALREADY_MAPPED            9
#define RSMERR_SEG_STILL_MAPPED              10
#define RSMERR_SEG_NOT_MAPPED                11
#define RSMERR_NOT_CREATOR                   12
#define RSMERR_BAD_BARRIER_PTR               13
#define RSMERR_BAD_SGIO                      14
#define RSMERR_BAD_LOCALMEM_HNDL             15
#define RSMERR_BAD_ADDR                      16
#define RSMERR_BAD_MEM_ALIGNMENT             17
#define RSMERR_BAD_OFFSET                    18
#define RSMERR_MISALIGNED_OFFSET             19
#define RSMERR_BAD_LENGTH                    20
#define RSMERR_BAD_ACL                       21
#define RSMERR_BAD_SEGID                     22
#define RSMERR_RESERVED_SEGID                23
#define RSMERR_SEGID_IN_USE                  24
#define RSMERR_BAD_MODE                      25
#define RSMERR_BAD_PERMS                     26
#define RSMERR_PERM_DENIED                   27
#define RSMERR_LOCKS_NOT_SUPPORTED           28
#define RSMERR_LOCKS_NOT_ENABLED             29
#define RSMERR_REBIND_NOT_ALLOWED            30
#define RSMERR_INSUFFICIENT_RESOURCES        31
#define RSMERR_INSUFFICIENT_MEM              32
#define RSMERR_MAP_FAILED                    33
#define RSMERR_POLLFD_IN_USE                 34
#define RSMERR_BARRIER_UNINITIALIZED         35
#define RSMERR_BARRIER_OPEN_FAILED           36
#define RSMERR_BARRIER_NOT_OPENED            37
#define RSMERR_BARRIER_FAILURE               38
#define RSMERR_REMOTE_NODE_UNREACHABLE       39
#define RSMERR_CONN_ABORTED                  40
#define RSMERR_INTERRUPTED                   41
#define RSMERR_TIMEOUT                       42
#define RSMERR_BAD_APPID                     43
#define RSMERR_BAD_CONF                      44
#define RSMERR_SEG_NOT_CONNECTED             45

/*
 * Further return values of the driver interface (RSMPI).  A few of them can
 * reach RSMAPI callers (RSMERR_INTERNAL_ERROR, RSMERR_BAD_DRIVER_VERSION,
 * RSMERR_BAD_ARGS_ERRORS).
 */
#define RSMERR_INTERNAL_ERROR                100
#define RSMERR_BAD_DRIVER_VERSION            101
#define RSMERR_UNSUPPORTED_VERSION           102
#define RSMERR_DRIVER_NAME_IN_USE            103
#define RSMERR_DRIVER_NOT_REGISTERED         104
#define RSMERR_DRIVER_THREAD_RUNNING         105
#define RSMERR_NEED_THREAD_INIT              106
#define RSMERR_THREAD_NOT_INITED             107
#define RSMERR_CTLRS_REGISTERED              108
#define RSMERR_CTLR_NOT_REGISTERED           109
#define RSMERR_CTLR_ALREADY_REGISTERED       110
#define RSMERR_CTLR_IN_USE                   111
#define RSMERR_NAME_TOO_LONG                 112
#define RSMERR_SEG_PUBLISHED                 113
#define RSMERR_SEG_NOT_PUBLISHED_TO_RSM_ADDR 114
#define RSMERR_SEG_IN_USE                    115
#define RSMERR_BAD_SENDQ_HNDL                116
#define RSMERR_BAD_ARGS_ERRORS               117
#define RSMERR_BAD_MSTYPE                    118
#define RSMERR_NO_BACKING_MEM                119
#define RSMERR_NOT_MEM                       120
#define RSMERR_MEM_ALREADY_BOUND             121
#define RSMERR_MEM_NOT_BOUND                 122
#define RSMERR_HANDLER_NOT_REGISTERED        123
#define RSMERR_NO_HANDLER                    124
#define RSMERR_UNBIND_REBIND_NOT_ALLOWED     125
#define RSMERR_CALLBACKS_NOT_SUPPORTED       126
#define RSMERR_UNSUPPORTED_OPERATION         127
#define RSMERR_RSM_ADDR_UNREACHABLE          128
#define RSMERR_UNKNOWN_RSM_ADDR              129
#define RSMERR_BAD_BARRIER_HNDL              130
#define RSMERR_COMM_ERR_MAYBE_DELIVERED      131
#define RSMERR_COMM_ERR_NOT_DELIVERED        132
#define RSMERR_QUEUE_FENCE_UP                133
#define RSMERR_QUEUE_FULL                    134

/*
 * Segment-id space.  Applications publish with an id of 0 (the system picks
 * one from the RSM_USER_APP range) or with an explicit id above
 * RSM_DLPI_ID_END and below RSM_USER_APP_ID_BASE; see also
 * rsm_get_segmentid_range().
 */
#define RSM_DRIVER_PRIVATE_ID_BASE           0
#define RSM_DRIVER_PRIVATE_ID_END            0x0FFFFF
#define RSM_CLUSTER_TRANSPORT_ID_BASE        0x100000
#define RSM_CLUSTER_TRANSPORT_ID_END         0x1FFFFF
#define RSM_RSMLIB_ID_BASE                   0x200000
#define RSM_RSMLIB_ID_END                    0x2FFFFF
#define RSM_DLPI_ID_BASE                     0x300000
#define RSM_DLPI_ID_END                      0x3FFFFF
#define RSM_HPC_ID_BASE                      0x400000
#define RSM_HPC_ID_END                       0x4FFFFF
#define RSM_OPS_ID_BASE                      0x500000
#define RSM_OPS_ID_END                       0x5FFFFF
#define RSM_USER_APP_ID_BASE                 0x80000000
#define RSM_USER_APP_ID_END                  0xFFFFFFFF

/*
 * Access rights requested by rsm_memseg_import_connect() and
 * rsm_memseg_import_map() (octal, owner position).  Access-list entries
 * (rsmapi_access_entry_t.ae_permission) hold a full owner/group/other
 * triple such as 0624.
 */
#define RSM_PERM_NONE                        0
#define RSM_PERM_READ                        0400
#define RSM_PERM_WRITE                       0200
#define RSM_PERM_RDWR                        (RSM_PERM_READ | RSM_PERM_WRITE)

/* Largest io_request_count accepted in an rsm_scat_gath_t. */
#define RSM_MAX_SGIOREQS                     16

/* Access widths; bits of the attr_direct_access_sizes / attr_atomic_sizes
 * controller attributes. */
typedef enum {
	RSM_DAS8 = 1,
	RSM_DAS16 = 2,
	RSM_DAS32 = 4,
	RSM_DAS64 = 8
} rsm_access_size_t;

typedef uint64_t rsm_addr_t;            /* interconnect hardware address */
typedef uint32_t rsm_node_id_t;         /* cluster node id */
typedef uint32_t rsm_memseg_id_t;       /* segment id ("key") */
typedef uint32_t rsm_permission_t;      /* RSM_PERM_* or octal ugo mode */

/* Opaque handle of an import segment (the importer's view of a segment). */
struct __rsm_memseg_import_handle;
typedef struct __rsm_memseg_import_handle *rsm_memseg_import_handle_t;

/* Opaque handle of an export segment (memory made available to others). */
struct __rsm_memseg_export_handle;
typedef struct __rsm_memseg_export_handle *rsm_memseg_export_handle_t;

/* Barrier scope requested by rsm_memseg_import_init_barrier(). */
typedef enum {
	RSM_BARRIER_SEGMENT = 0x01,
	RSM_BARRIER_NODE = 0x02,
	RSM_BARRIER_SEGMENT_THREAD = 0x11,
	RSM_BARRIER_NODE_THREAD = 0x12
} rsm_barrier_type_t;

/* One 8-byte word of opaque RSMPI barrier state. */
typedef union {
	uint64_t u64;
	int64_t i64;
	uint32_t u32[2];
	int32_t i32[2];
	uint16_t u16[4];
	int16_t i16[4];
	uint8_t u8[8];
	int8_t i8[8];
	uchar_t uc[8];
	char c[8];
	void *vp;
} rsm_barrier_component_t;

/* Opaque RSMPI barrier state (32 bytes). */
typedef struct {
	rsm_barrier_component_t comp[4];
} rsm_barrier_t;

/* Barrier scoping of put/get on an import segment; see
 * rsm_memseg_import_set_mode().  New import segments start IMPLICIT. */
typedef enum {
	RSM_BARRIER_MODE_EXPLICIT = 0,
	RSM_BARRIER_MODE_IMPLICIT = 1
} rsm_barrier_mode_t;

#ifdef __cplusplus
}
#endif

#endif /* _SYS_RSM_RSM_COMMON_H */

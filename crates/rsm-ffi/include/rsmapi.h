/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * <rsmapi.h> -- Remote Shared Memory API (RSMAPI, library librsm, link with
 * -lrsm), source compatible with the Solaris header of the same name.  Part
 * of the "rsm" project (RSMAPI for Linux).
 *
 * Every int-returning function returns RSM_SUCCESS (0) or a positive
 * RSMERR_* code from <sys/rsm/rsm_common.h>; none returns -1 or reports
 * through errno.  All functions are MT-safe.
 *
 * Not defined (as on Solaris): RSM_LOCK_OPS and RSM_BAR_DEFAULT, which the
 * Solaris manual pages mention but no Solaris header ever defined.
 */

#ifndef _RSMAPI_H
#define _RSMAPI_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/param.h>
#include <sys/rsm/rsm_common.h>
#include <sys/rsm/rsmapi_common.h>

/* Length of the controller-name buffers of the topology structures.  The
 * structures use this private constant so that their layout does not depend
 * on a MAXNAMELEN that another header may have defined differently. */
#define _RSM_MAXNAMELEN 256

/* Solaris <sys/param.h> provides these; glibc does not. */
#ifndef MAXNAMELEN
#define MAXNAMELEN 256
#endif

#ifndef PAGESIZE
#include <unistd.h>
#define PAGESIZE (sysconf(_SC_PAGESIZE))
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* Mapping attribute of rsm_memseg_import_map(). */
typedef enum {
	RSM_MAP_NONE = 0x0,     /* the system chooses the address */
	RSM_MAP_FIXED = 0x1,    /* map exactly at *address (page aligned) */
	RSM_MAP_RESERVED = 0x2  /* no defined behaviour */
} rsm_attribute_t;

/*
 * Interconnect topology, as returned by rsm_get_interconnect_topology().
 * The snapshot is one allocation: the rsm_topology_t header, its array of
 * local_cntlr_count connection pointers, then for each local controller an
 * rsm_connections_t with remote_cntlr_count remote controller records.
 */

/* rsm_remote_cntlr_t.connection_state value of a usable connection.  Only
 * connections in this state may be used for imports. */
#define RSM_CONNECTION_ACTIVE 3

/* Size 8. */
typedef struct rsm_topology_hdr {
	rsm_node_id_t local_nodeid;          /* [0] */
	uint_t local_cntlr_count;            /* [4] entries of connections[] */
} rsm_topology_hdr_t;

/* Size 272. */
typedef struct rsm_connections_hdr {
	char cntlr_name[_RSM_MAXNAMELEN];    /* [0]   "<type><unit>", e.g. "wrsm0" */
	rsm_addr_t local_hwaddr;             /* [256] */
	int remote_cntlr_count;              /* [264] entries of remote_cntlr[] */
} rsm_connections_hdr_t;

/* A controller on another node reachable from a local controller.  The
 * remote_cntlrname is what an exporter's controller name is matched
 * against.  Size 280. */
typedef struct rsm_remote_cntlr {
	rsm_node_id_t remote_nodeid;             /* [0]   */
	char remote_cntlrname[_RSM_MAXNAMELEN];  /* [4]   */
	rsm_addr_t remote_hwaddr;                /* [264] */
	uint_t connection_state;                 /* [272] RSM_CONNECTION_ACTIVE = usable */
} rsm_remote_cntlr_t;

/* One local controller and its remote controllers.  remote_cntlr really
 * has hdr.remote_cntlr_count entries.  Size 552 (with one entry). */
typedef struct rsm_connection {
	rsm_connections_hdr_t hdr;           /* [0]   */
	rsm_remote_cntlr_t remote_cntlr[1];  /* [272] */
} rsm_connections_t;

/* connections really has topology_hdr.local_cntlr_count entries.
 * Size 16 (with one entry). */
typedef struct rsm_topology {
	rsm_topology_hdr_t topology_hdr;     /* [0] */
	rsm_connections_t *connections[1];   /* [8] */
} rsm_topology_t;

/*
 * Opt-in spellings used by the older Sun "Programming Interfaces Guide"
 * (define RSM_COMPAT_SUN_GUIDE before including this header).  The names
 * above are the ones of the shipped headers.
 */
#ifdef RSM_COMPAT_SUN_GUIDE
typedef rsm_attribute_t rsm_map_attr_t;
typedef rsm_connections_t connections_t;
#define local_cntrl_count local_cntlr_count
#endif

/* ----------------------------------------------------------------------
 * Controller operations
 */

/* Get a handle to the controller named e.g. "loopback", "sci0"; NULL means
 * the loopback controller.  Repeated gets of one controller return the same
 * handle; pair each successful get with one rsm_release_controller(). */
int rsm_get_controller(char *name, rsmapi_controller_handle_t *controller);

/* Drop one reference to a controller; the last release closes it. */
int rsm_release_controller(rsmapi_controller_handle_t controller);

/* Copy the controller's attributes into *attr. */
int rsm_get_controller_attr(rsmapi_controller_handle_t chdl,
    rsmapi_controller_attr_t *attr);

/* ----------------------------------------------------------------------
 * Cluster topology
 */

/* Allocate a self-contained snapshot of the interconnect topology and store
 * it in *topology_data (set to NULL first).  Free it with
 * rsm_free_interconnect_topology(). */
int rsm_get_interconnect_topology(rsm_topology_t **topology_data);

/* Free a topology snapshot; NULL is a no-op. */
void rsm_free_interconnect_topology(rsm_topology_t *topology_data);

/* ----------------------------------------------------------------------
 * Segment-id administration
 */

/* Look up the segment-id range reserved for appid in
 * /etc/rsm/rsm.segmentid: ids *baseid .. *baseid + *length - 1. */
int rsm_get_segmentid_range(const char *appid, rsm_memseg_id_t *baseid,
    uint32_t *length);

/* ----------------------------------------------------------------------
 * Export side
 */

/* Create an export segment backed by the caller's page-aligned memory
 * [vaddr, vaddr + size).  flags: RSM_ALLOW_REBIND, RSM_CREATE_SEG_DONTWAIT. */
int rsm_memseg_export_create(rsmapi_controller_handle_t controller,
    rsm_memseg_export_handle_t *memseg, void *vaddr, size_t size,
    uint_t flags);

/* Destroy an export segment (unpublishing it first if needed). */
int rsm_memseg_export_destroy(rsm_memseg_export_handle_t memseg);

/* Replace the backing memory of a segment created with RSM_ALLOW_REBIND by
 * [vaddr, vaddr + size); size must equal the segment size, off is ignored. */
int rsm_memseg_export_rebind(rsm_memseg_export_handle_t memseg, void *vaddr,
    offset_t off, size_t size);

/* Make the segment importable under *segment_id (0: the system chooses and
 * writes it back) for the nodes of access_list (NULL, 0: every node). */
int rsm_memseg_export_publish(rsm_memseg_export_handle_t memseg,
    rsm_memseg_id_t *segment_id, rsmapi_access_entry_t access_list[],
    uint_t access_list_length);

/* Withdraw the segment id; every importer is forcibly disconnected. */
int rsm_memseg_export_unpublish(rsm_memseg_export_handle_t memseg);

/* Replace the access list of a published segment; existing connections are
 * not affected. */
int rsm_memseg_export_republish(rsm_memseg_export_handle_t memseg,
    rsmapi_access_entry_t access_list[], uint_t access_list_length);

/* ----------------------------------------------------------------------
 * Import side: connect / disconnect
 */

/* Connect to segment segment_id published on node node_id, asking for perm
 * (RSM_PERM_READ, RSM_PERM_WRITE, RSM_PERM_RDWR); sets *im_memseg. */
int rsm_memseg_import_connect(rsmapi_controller_handle_t controller,
    rsm_node_id_t node_id, rsm_memseg_id_t segment_id, rsm_permission_t perm,
    rsm_memseg_import_handle_t *im_memseg);

/* Disconnect and free an import handle (an explicit mapping must have been
 * removed first). */
int rsm_memseg_import_disconnect(rsm_memseg_import_handle_t im_memseg);

/* ----------------------------------------------------------------------
 * Import side: mapping
 */

/* Map [offset, offset + length) of the imported segment; the address is
 * returned in (RSM_MAP_NONE) or taken from (RSM_MAP_FIXED) *address. */
int rsm_memseg_import_map(rsm_memseg_import_handle_t im_memseg,
    void **address, rsm_attribute_t attr, rsm_permission_t perm,
    off_t offset, size_t length);

/* Remove the mapping (explicit or implicit) of an import segment. */
int rsm_memseg_import_unmap(rsm_memseg_import_handle_t im_memseg);

/* ----------------------------------------------------------------------
 * Import side: get / put.  The N-bit variants copy rep_cnt items between
 * byte offset `offset` of the segment and datap; both must be N/8-byte
 * aligned.  get/put copy `length` bytes.
 */

/* Read rep_cnt 8-bit items from the segment into datap. */
int rsm_memseg_import_get8(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint8_t *datap, ulong_t rep_cnt);

/* Read rep_cnt 16-bit items from the segment into datap. */
int rsm_memseg_import_get16(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint16_t *datap, ulong_t rep_cnt);

/* Read rep_cnt 32-bit items from the segment into datap. */
int rsm_memseg_import_get32(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint32_t *datap, ulong_t rep_cnt);

/* Read rep_cnt 64-bit items from the segment into datap. */
int rsm_memseg_import_get64(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint64_t *datap, ulong_t rep_cnt);

/* Read length bytes from the segment into dst_addr. */
int rsm_memseg_import_get(rsm_memseg_import_handle_t im_memseg,
    off_t offset, void *dst_addr, size_t length);

/* Write rep_cnt 8-bit items from datap into the segment. */
int rsm_memseg_import_put8(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint8_t *datap, ulong_t rep_cnt);

/* Write rep_cnt 16-bit items from datap into the segment. */
int rsm_memseg_import_put16(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint16_t *datap, ulong_t rep_cnt);

/* Write rep_cnt 32-bit items from datap into the segment. */
int rsm_memseg_import_put32(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint32_t *datap, ulong_t rep_cnt);

/* Write rep_cnt 64-bit items from datap into the segment. */
int rsm_memseg_import_put64(rsm_memseg_import_handle_t im_memseg,
    off_t offset, uint64_t *datap, ulong_t rep_cnt);

/* Write length bytes from src_addr into the segment. */
int rsm_memseg_import_put(rsm_memseg_import_handle_t im_memseg,
    off_t offset, void *src_addr, size_t length);

/* ----------------------------------------------------------------------
 * Import side: scatter/gather and local memory handles
 */

/* Gather the local pieces described by sg_io into the imported segment;
 * sg_io->io_residual_count returns the number of entries not done. */
int rsm_memseg_import_putv(rsm_scat_gath_t *sg_io);

/* Scatter pieces of the imported segment into local memory as described by
 * sg_io; sg_io->io_residual_count returns the number of entries not done. */
int rsm_memseg_import_getv(rsm_scat_gath_t *sg_io);

/* Register the page-aligned local buffer [local_vaddr, local_vaddr + length)
 * for use in RSM_HANDLE_TYPE scatter/gather entries. */
int rsm_create_localmemory_handle(rsmapi_controller_handle_t handle,
    rsm_localmemory_handle_t *l_handle, caddr_t local_vaddr, size_t length);

/* Release a local memory handle. */
int rsm_free_localmemory_handle(rsmapi_controller_handle_t handle,
    rsm_localmemory_handle_t l_handle);

/* ----------------------------------------------------------------------
 * Barriers
 */

/* Initialise the caller-owned *barrier for the import segment and make it
 * the segment's barrier for implicit-mode put/get. */
int rsm_memseg_import_init_barrier(rsm_memseg_import_handle_t im_memseg,
    rsm_barrier_type_t type, rsmapi_barrier_t *barrier);

/* Open an error-detection window on the barrier. */
int rsm_memseg_import_open_barrier(rsmapi_barrier_t *barrier);

/* Close the window: success means every access since the open completed;
 * RSMERR_CONN_ABORTED / RSMERR_BARRIER_FAILURE mean they must be redone. */
int rsm_memseg_import_close_barrier(rsmapi_barrier_t *barrier);

/* Order writes issued before the call before writes issued after it. */
int rsm_memseg_import_order_barrier(rsmapi_barrier_t *barrier);

/* Free the barrier and detach it from its import segment. */
int rsm_memseg_import_destroy_barrier(rsmapi_barrier_t *barrier);

/* Select the barrier mode of put/get on the import segment
 * (RSM_BARRIER_MODE_IMPLICIT, the default, or RSM_BARRIER_MODE_EXPLICIT). */
int rsm_memseg_import_set_mode(rsm_memseg_import_handle_t im_memseg,
    rsm_barrier_mode_t mode);

/* Return the barrier mode of the import segment in *mode. */
int rsm_memseg_import_get_mode(rsm_memseg_import_handle_t im_memseg,
    rsm_barrier_mode_t *mode);

/* ----------------------------------------------------------------------
 * Events and poll descriptors.  memseg is an import or export segment
 * handle cast to void *.
 */

/* Post one event: from an import handle to the exporter's segment, from an
 * export handle to every importer.  flags: 0 or RSM_SIGPOST_NO_ACCUMULATE. */
int rsm_intr_signal_post(void *memseg, uint_t flags);

/* Wait until an event is pending on the segment and consume it.  timeout in
 * milliseconds; -1 waits forever, 0 polls. */
int rsm_intr_signal_wait(void *memseg, int timeout);

/* Fill *fd with a poll descriptor of the segment (events = POLLRDNORM),
 * for use with rsm_intr_signal_wait_pollfd(); holds a reference until
 * rsm_memseg_release_pollfd(). */
int rsm_memseg_get_pollfd(void *memseg, struct pollfd *fd);

/* Release one reference taken by rsm_memseg_get_pollfd(). */
int rsm_memseg_release_pollfd(void *memseg);

/* poll(2) over ordinary and RSM segment descriptors, consuming one event
 * per ready RSM descriptor.  *numfdsp (may be NULL) receives the number of
 * entries with events.  Returns 0, not a count, on success. */
int rsm_intr_signal_wait_pollfd(struct pollfd fds[], nfds_t nfds, int timeout,
    int *numfdsp);

#ifdef __cplusplus
}
#endif

#endif /* _RSMAPI_H */

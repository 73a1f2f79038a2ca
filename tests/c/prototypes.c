/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Checks that <rsmapi.h> declares all 42 RSMAPI functions with exactly the
 * prototypes of the RSMAPI specification (section 3): each function is
 * assigned to a pointer of the documented function type, so any mismatch
 * is an incompatible-pointer diagnostic and fails the build under -Werror.
 * Compile only; nothing is linked:
 *
 *   gcc -std=c11 -Wall -Wextra -Werror -Icrates/rsm-ffi/include \
 *       -c -o tests/c/build/prototypes.o tests/c/prototypes.c
 *
 * The file is also valid C++ (where the function-pointer conversion rules
 * are stricter still).
 */

#include <rsmapi.h>

/* CHECK(name, return type, parameter list) defines an externally visible
 * constant pointer `check_<name>` initialised with the function. */
#define CHECK(name, ret, params) \
	typedef ret(*name##_fn) params; \
	extern name##_fn const check_##name; \
	name##_fn const check_##name = name;

/* 3.1 Controller operations */
CHECK(rsm_get_controller, int,
    (char *name, rsmapi_controller_handle_t *controller))
CHECK(rsm_release_controller, int,
    (rsmapi_controller_handle_t controller))
CHECK(rsm_get_controller_attr, int,
    (rsmapi_controller_handle_t chdl, rsmapi_controller_attr_t *attr))

/* 3.2 Cluster topology */
CHECK(rsm_get_interconnect_topology, int,
    (rsm_topology_t **topology_data))
CHECK(rsm_free_interconnect_topology, void,
    (rsm_topology_t *topology_data))

/* 3.3 Segment-id administration */
CHECK(rsm_get_segmentid_range, int,
    (const char *appid, rsm_memseg_id_t *baseid, uint32_t *length))

/* 3.4 Export side */
CHECK(rsm_memseg_export_create, int,
    (rsmapi_controller_handle_t controller, rsm_memseg_export_handle_t *memseg,
    void *vaddr, size_t size, uint_t flags))
CHECK(rsm_memseg_export_destroy, int,
    (rsm_memseg_export_handle_t memseg))
CHECK(rsm_memseg_export_rebind, int,
    (rsm_memseg_export_handle_t memseg, void *vaddr, offset_t off, size_t size))
CHECK(rsm_memseg_export_publish, int,
    (rsm_memseg_export_handle_t memseg, rsm_memseg_id_t *segment_id,
    rsmapi_access_entry_t access_list[], uint_t access_list_length))
CHECK(rsm_memseg_export_unpublish, int,
    (rsm_memseg_export_handle_t memseg))
CHECK(rsm_memseg_export_republish, int,
    (rsm_memseg_export_handle_t memseg, rsmapi_access_entry_t access_list[],
    uint_t access_list_length))

/* 3.5 Import side: connect / disconnect */
CHECK(rsm_memseg_import_connect, int,
    (rsmapi_controller_handle_t controller, rsm_node_id_t node_id,
    rsm_memseg_id_t segment_id, rsm_permission_t perm,
    rsm_memseg_import_handle_t *im_memseg))
CHECK(rsm_memseg_import_disconnect, int,
    (rsm_memseg_import_handle_t im_memseg))

/* 3.6 Import side: mapping */
CHECK(rsm_memseg_import_map, int,
    (rsm_memseg_import_handle_t im_memseg, void **address,
    rsm_attribute_t attr, rsm_permission_t perm, off_t offset, size_t length))
CHECK(rsm_memseg_import_unmap, int,
    (rsm_memseg_import_handle_t im_memseg))

/* 3.7 Import side: get / put */
CHECK(rsm_memseg_import_get8, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint8_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_get16, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint16_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_get32, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint32_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_get64, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint64_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_get, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, void *dst_addr,
    size_t length))
CHECK(rsm_memseg_import_put8, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint8_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_put16, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint16_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_put32, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint32_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_put64, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, uint64_t *datap,
    ulong_t rep_cnt))
CHECK(rsm_memseg_import_put, int,
    (rsm_memseg_import_handle_t im_memseg, off_t offset, void *src_addr,
    size_t length))

/* 3.8 Import side: scatter/gather and local memory handles */
CHECK(rsm_memseg_import_putv, int, (rsm_scat_gath_t *sg_io))
CHECK(rsm_memseg_import_getv, int, (rsm_scat_gath_t *sg_io))
CHECK(rsm_create_localmemory_handle, int,
    (rsmapi_controller_handle_t handle, rsm_localmemory_handle_t *l_handle,
    caddr_t local_vaddr, size_t length))
CHECK(rsm_free_localmemory_handle, int,
    (rsmapi_controller_handle_t handle, rsm_localmemory_handle_t l_handle))

/* 3.9 Barriers */
CHECK(rsm_memseg_import_init_barrier, int,
    (rsm_memseg_import_handle_t im_memseg, rsm_barrier_type_t type,
    rsmapi_barrier_t *barrier))
CHECK(rsm_memseg_import_open_barrier, int, (rsmapi_barrier_t *barrier))
CHECK(rsm_memseg_import_close_barrier, int, (rsmapi_barrier_t *barrier))
CHECK(rsm_memseg_import_order_barrier, int, (rsmapi_barrier_t *barrier))
CHECK(rsm_memseg_import_destroy_barrier, int, (rsmapi_barrier_t *barrier))
CHECK(rsm_memseg_import_set_mode, int,
    (rsm_memseg_import_handle_t im_memseg, rsm_barrier_mode_t mode))
CHECK(rsm_memseg_import_get_mode, int,
    (rsm_memseg_import_handle_t im_memseg, rsm_barrier_mode_t *mode))

/* 3.10 Events and poll descriptors */
CHECK(rsm_intr_signal_post, int, (void *memseg, uint_t flags))
CHECK(rsm_intr_signal_wait, int, (void *memseg, int timeout))
CHECK(rsm_memseg_get_pollfd, int, (void *memseg, struct pollfd *fd))
CHECK(rsm_memseg_release_pollfd, int, (void *memseg))
CHECK(rsm_intr_signal_wait_pollfd, int,
    (struct pollfd fds[], nfds_t nfds, int timeout, int *numfdsp))

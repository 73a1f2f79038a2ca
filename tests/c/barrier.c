/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Barriers (RSMAPI 3.9, scenario T4): rsm_memseg_import_init_barrier,
 * rsm_memseg_import_open_barrier, rsm_memseg_import_close_barrier,
 * rsm_memseg_import_order_barrier, rsm_memseg_import_destroy_barrier, on the
 * caller's rsmapi_barrier_t storage: NULL, zeroed, garbage, tampered with,
 * copied, destroyed.
 */

#include "rsmtest.h"

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

int main(void)
{
	char *buf;
	rsm_memseg_export_handle_t ex = NULL;
	rsm_memseg_import_handle_t im = NULL, im2 = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_barrier_t bar, zero, junk, copy, second, other;
	uint16_t h = 0xbeef;
	uint32_t w = 0x12345678, back = 0;
	int tries, rc;

	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	buf = test_pages(pg);
	REQUIRE(rsm_memseg_export_create(ctl, &ex, buf, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im2), RSM_SUCCESS);

	/* init: handle, then barrier pointer; the type is accepted and ignored (RSMAPI 3.9),
	 * also outside the enum (0 for the never defined RSM_BAR_DEFAULT, 7). */
	EXPECT(rsm_memseg_import_init_barrier(NULL, RSM_BARRIER_NODE, &bar), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_init_barrier(NULL, RSM_BARRIER_NODE, NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, NULL), RSMERR_BAD_BARRIER_PTR);
	EXPECT(rsm_memseg_import_init_barrier(im, (rsm_barrier_type_t)7, &bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_init_barrier(im, (rsm_barrier_type_t)0, &bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	memset(&bar, 0, sizeof(bar));
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	CHECK(bar.seg == (void *)im, "init stores the import handle in barrier->seg");
	CHECK(bar.privdata != NULL, "and the barrier's own handle in barrier->privdata");
	EXPECT(rsm_memseg_import_init_barrier(im2, RSM_BARRIER_SEGMENT, &other), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_init_barrier(im2, RSM_BARRIER_SEGMENT_THREAD, &second), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&second), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_init_barrier(im2, RSM_BARRIER_NODE_THREAD, &second), RSM_SUCCESS);

	/* NULL, zeroed, garbage and tampered-with storage. */
	memset(&zero, 0, sizeof(zero));
	memset(&junk, 0x5a, sizeof(junk));
	EXPECT(rsm_memseg_import_open_barrier(NULL), RSMERR_BAD_BARRIER_PTR);
	EXPECT(rsm_memseg_import_close_barrier(NULL), RSMERR_BAD_BARRIER_PTR);
	EXPECT(rsm_memseg_import_order_barrier(NULL), RSMERR_BAD_BARRIER_PTR);
	EXPECT(rsm_memseg_import_destroy_barrier(NULL), RSMERR_BAD_BARRIER_PTR);
	EXPECT(rsm_memseg_import_open_barrier(&zero), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_close_barrier(&zero), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_order_barrier(&zero), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_destroy_barrier(&zero), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_open_barrier(&junk), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_destroy_barrier(&junk), RSMERR_BARRIER_UNINITIALIZED);
	copy = bar;
	copy.seg = (void *)im2;
	EXPECT(rsm_memseg_import_open_barrier(&copy), RSMERR_BARRIER_UNINITIALIZED);
	copy = bar;
	copy.privdata = other.privdata;
	EXPECT(rsm_memseg_import_open_barrier(&copy), RSMERR_BARRIER_UNINITIALIZED);
	copy = bar;
	copy.privdata = (void *)im;
	EXPECT(rsm_memseg_import_open_barrier(&copy), RSMERR_BARRIER_UNINITIALIZED);

	/* T4: the explicit barrier loop. */
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_BARRIER_NOT_OPENED);
	EXPECT(rsm_memseg_import_order_barrier(&bar), RSMERR_BARRIER_NOT_OPENED);
	tries = 0;
	do {
		rc = rsm_memseg_import_open_barrier(&bar);
		if (rc != RSM_SUCCESS)
			break;
		(void)rsm_memseg_import_put16(im, 0, &h, 1);
		rc = rsm_memseg_import_order_barrier(&bar);
		if (rc != RSM_SUCCESS)
			break;
		(void)rsm_memseg_import_put32(im, 4, &w, 1);
		rc = rsm_memseg_import_close_barrier(&bar);
	} while (rc == RSMERR_BARRIER_FAILURE && ++tries < 3);
	CHECK(rc == RSM_SUCCESS, "open / put16 / order / put32 / close loop succeeds (%s)", rsm_errname(rc));
	CHECK(*(uint16_t *)buf == 0xbeef && *(uint32_t *)(buf + 4) == 0x12345678,
	    "the window's stores reached the exporter");

	/* A copy of the storage names the same barrier (it is only a handle). */
	copy = bar;
	EXPECT(rsm_memseg_import_open_barrier(&copy), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get32(im, 4, &back, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSM_SUCCESS);
	CHECK(back == 0x12345678, "get in an explicit window");

	/* Implicit mode uses the last barrier initialised on the segment. */
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_IMPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put32(im, 8, &w, 1), RSM_SUCCESS);

	/* destroy, then everything on it is uninitialised. */
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_destroy_barrier(&copy), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_order_barrier(&bar), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_put32(im, 8, &w, 1), RSMERR_BARRIER_UNINITIALIZED);

	/* A barrier outliving its import segment: the segment is gone. */
	EXPECT(rsm_memseg_import_disconnect(im2), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_open_barrier(&second), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_destroy_barrier(&second), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&other), RSM_SUCCESS);

	/* Revocation: close reports it, on every close. */
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_unpublish(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_order_barrier(&bar), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);

	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	test_free_pages(buf, pg);
	return test_done();
}

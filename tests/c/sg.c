/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Scatter/gather and local memory handles (RSMAPI 3.8, scenario T15):
 * rsm_memseg_import_putv, rsm_memseg_import_getv,
 * rsm_create_localmemory_handle, rsm_free_localmemory_handle.
 */

#include "rsmtest.h"

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

static void localmem(void)
{
	char *buf = test_pages(2 * pg);
	rsm_localmemory_handle_t lh = NULL, lh2 = NULL;
	rsm_localmemory_handle_t marker = (rsm_localmemory_handle_t)&lh;
	char *hole;

	/* Check order: address (before the controller), controller, out-pointer,
	 * length. */
	EXPECT(rsm_create_localmemory_handle(NULL, NULL, buf + 1, pg), RSMERR_BAD_ADDR);
	EXPECT(rsm_create_localmemory_handle(ctl, &lh, buf + 1, pg), RSMERR_BAD_ADDR);
	EXPECT(rsm_create_localmemory_handle(ctl, &lh, NULL, pg), RSMERR_BAD_ADDR);
	EXPECT(rsm_create_localmemory_handle(NULL, &lh, buf, pg), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_create_localmemory_handle(NULL, NULL, buf, 0), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_create_localmemory_handle(ctl, NULL, buf, pg), RSMERR_BAD_LOCALMEM_HNDL);
	EXPECT(rsm_create_localmemory_handle(ctl, NULL, buf, 0), RSMERR_BAD_LOCALMEM_HNDL);
	lh = marker;
	EXPECT(rsm_create_localmemory_handle(ctl, &lh, buf, 0), RSMERR_BAD_LENGTH);
	CHECK(lh == marker, "a failed create leaves *l_handle alone");
	hole = test_pages(pg);
	test_free_pages(hole, pg);
	EXPECT(rsm_create_localmemory_handle(ctl, &lh, hole, pg), RSMERR_BAD_ADDR);

	EXPECT(rsm_create_localmemory_handle(ctl, &lh, buf, 2 * pg), RSM_SUCCESS);
	CHECK(lh != NULL && lh != marker, "create sets *l_handle");
	EXPECT(rsm_create_localmemory_handle(ctl, &lh2, buf, 100), RSM_SUCCESS);
	CHECK(lh2 != lh, "every registration has its own handle");

	EXPECT(rsm_free_localmemory_handle(NULL, lh), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_free_localmemory_handle(ctl, NULL), RSMERR_BAD_LOCALMEM_HNDL);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSM_SUCCESS);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSMERR_BAD_LOCALMEM_HNDL);
	EXPECT(rsm_free_localmemory_handle(ctl, lh2), RSM_SUCCESS);
	test_free_pages(buf, 2 * pg);
}

static void vectors(void)
{
	size_t len = 4 * pg;
	char *ebuf = test_pages(len), *local = test_pages(pg), *back = test_pages(pg);
	char va1[] = "first piece", va2[] = "third piece", out1[16], out2[16];
	rsm_memseg_export_handle_t ex = NULL;
	rsm_memseg_import_handle_t im = NULL;
	rsm_localmemory_handle_t lh = NULL, lback = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_barrier_t bar;
	rsm_iovec_t iov[17];
	rsm_scat_gath_t sg;

	REQUIRE(rsm_memseg_export_create(ctl, &ex, ebuf, len, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	REQUIRE(rsm_create_localmemory_handle(ctl, &lh, local, pg), RSM_SUCCESS);
	REQUIRE(rsm_create_localmemory_handle(ctl, &lback, back, pg), RSM_SUCCESS);
	strcpy(local + 100, "second piece, from a handle");

	memset(iov, 0, sizeof(iov));
	iov[0].io_type = RSM_VA_TYPE;
	iov[0].local.vaddr = va1;
	iov[0].local_offset = 0;
	iov[0].remote_offset = 0;
	iov[0].transfer_length = sizeof(va1);
	iov[1].io_type = RSM_HANDLE_TYPE;
	iov[1].local.handle = lh;
	iov[1].local_offset = 100;
	iov[1].remote_offset = pg;
	iov[1].transfer_length = 28;
	iov[2].io_type = RSM_VA_TYPE;
	iov[2].local.vaddr = va2 - 6;
	iov[2].local_offset = 6;
	iov[2].remote_offset = 3 * pg + 10;
	iov[2].transfer_length = sizeof(va2);

	memset(&sg, 0, sizeof(sg));
	sg.io_request_count = 3;
	sg.io_residual_count = 99;
	sg.remote_handle = im;
	sg.iovec = iov;
	EXPECT(rsm_memseg_import_putv(&sg), RSM_SUCCESS);
	CHECK(sg.io_residual_count == 0, "io_residual_count is 0 after a complete vector");
	CHECK(strcmp(ebuf, "first piece") == 0, "VA entry placed at remote offset 0");
	CHECK(strcmp(ebuf + pg, "second piece, from a handle") == 0, "handle entry placed at its offset");
	CHECK(strcmp(ebuf + 3 * pg + 10, "third piece") == 0, "VA entry with local_offset placed");

	/* getv reverses it, into a VA buffer and a handle. */
	iov[0].local.vaddr = out1;
	iov[0].transfer_length = sizeof(va1);
	iov[1].local.handle = lback;
	iov[1].local_offset = 8;
	iov[2].local.vaddr = out2 - 6;
	sg.io_residual_count = 99;
	EXPECT(rsm_memseg_import_getv(&sg), RSM_SUCCESS);
	CHECK(sg.io_residual_count == 0, "getv: io_residual_count 0");
	CHECK(strcmp(out1, "first piece") == 0 && strcmp(out2, "third piece") == 0 &&
	    strcmp(back + 8, "second piece, from a handle") == 0, "getv scattered every piece");

	/* Errors. */
	EXPECT(rsm_memseg_import_putv(NULL), RSMERR_BAD_SGIO);
	EXPECT(rsm_memseg_import_getv(NULL), RSMERR_BAD_SGIO);
	sg.remote_handle = NULL;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SEG_HNDL);
	sg.remote_handle = (rsm_memseg_import_handle_t)ex;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SEG_HNDL);
	sg.remote_handle = im;
	sg.io_request_count = 0;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SGIO);
	sg.io_request_count = RSM_MAX_SGIOREQS + 1;
	sg.io_residual_count = 99;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SGIO);
	CHECK(sg.io_residual_count == RSM_MAX_SGIOREQS + 1, "residual: every entry (%lu)", sg.io_residual_count);
	sg.io_request_count = (ulong_t)-1;
	EXPECT(rsm_memseg_import_getv(&sg), RSMERR_BAD_SGIO);
	sg.io_request_count = 3;
	sg.iovec = NULL;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_ADDR);
	sg.iovec = iov;
	/* A failure in the middle: the first entry is done, two are not. */
	iov[0].local.vaddr = va1;
	iov[1].remote_offset = len - 4;
	sg.io_residual_count = 99;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_LENGTH);
	CHECK(sg.io_residual_count == 2, "residual 2 after the second entry failed (%lu)", sg.io_residual_count);
	iov[1].remote_offset = pg;
	/* Entries that cannot be used: nothing is started. */
	iov[1].io_type = 7;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SGIO);
	CHECK(sg.io_residual_count == 3, "bad io_type: residual 3");
	iov[1].io_type = RSM_HANDLE_TYPE;
	iov[1].local.handle = (rsm_localmemory_handle_t)im;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SGIO);
	iov[1].local.handle = NULL;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SGIO);
	iov[1].local.handle = lh;
	iov[0].local.vaddr = NULL;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_ADDR);
	iov[0].local.vaddr = va1;
	/* A local range past the end of a registered buffer. */
	iov[1].local_offset = pg - 4;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_LENGTH);
	iov[1].local_offset = 100;

	/* RSM_IMPLICIT_SIGPOST: one event to the exporter; flags unchanged. */
	EXPECT(rsm_intr_signal_wait(ex, 0), RSMERR_TIMEOUT);
	sg.flags = RSM_IMPLICIT_SIGPOST;
	EXPECT(rsm_memseg_import_putv(&sg), RSM_SUCCESS);
	CHECK(sg.flags == RSM_IMPLICIT_SIGPOST, "sg_io->flags unchanged");
	EXPECT(rsm_intr_signal_wait(ex, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ex, 0), RSMERR_TIMEOUT);
	sg.flags = RSM_IMPLICIT_SIGPOST | RSM_SIGPOST_NO_ACCUMULATE;
	EXPECT(rsm_memseg_import_putv(&sg), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_putv(&sg), RSM_SUCCESS);
	CHECK(sg.flags == (RSM_IMPLICIT_SIGPOST | RSM_SIGPOST_NO_ACCUMULATE), "sg_io->flags unchanged");
	EXPECT(rsm_intr_signal_wait(ex, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ex, 0), RSMERR_TIMEOUT);
	iov[0].local.vaddr = out1;
	iov[1].local.handle = lback;
	iov[2].local.vaddr = out2 - 6;
	sg.flags = RSM_IMPLICIT_SIGPOST;
	EXPECT(rsm_memseg_import_getv(&sg), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ex, 1000), RSM_SUCCESS);
	sg.flags = 0;
	EXPECT(rsm_memseg_import_getv(&sg), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ex, 0), RSMERR_TIMEOUT);

	/* A freed local handle in a vector. */
	EXPECT(rsm_free_localmemory_handle(ctl, lback), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_getv(&sg), RSMERR_BAD_SGIO);

	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	sg.remote_handle = im;
	EXPECT(rsm_memseg_import_putv(&sg), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	test_free_pages(ebuf, len);
	test_free_pages(local, pg);
	test_free_pages(back, pg);
}

int main(void)
{
	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	localmem();
	vectors();
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	return test_done();
}

/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Hostile callers: every function that takes a handle is given NULL,
 * garbage (stack, heap and code addresses, made-up numbers), stale
 * (released, destroyed, disconnected, freed), double-freed and wrong-type
 * handles, and must answer with the documented RSMERR_BAD_* code, never
 * crash.  Also: handles whose slot was reused stay dead, barrier storage with
 * garbage in it, topology pointers that were never handed out, and threads
 * racing a disconnect against puts and gets.
 */

#include "rsmtest.h"

#include <poll.h>
#include <pthread.h>

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

#define NBAD 16
static void *bad[NBAD];
static const char *bad_name[NBAD];
static int nbad;

static void add_bad(void *h, const char *name)
{
	bad[nbad] = h;
	bad_name[nbad] = name;
	nbad++;
}

/* Every export- or import-handle function on `h`: RSMERR_BAD_SEG_HNDL. */
static void segment_functions(void *h, const char *what)
{
	rsm_memseg_export_handle_t ex = (rsm_memseg_export_handle_t)h;
	rsm_memseg_import_handle_t im = (rsm_memseg_import_handle_t)h;
	rsm_memseg_id_t id = 0;
	rsmapi_access_entry_t acl = { node, 0666 };
	char *buf = test_pages(pg);
	uint8_t u8 = 0;
	uint16_t u16 = 0;
	uint32_t u32 = 0;
	uint64_t u64 = 0;
	void *addr = NULL;
	rsm_barrier_mode_t mode;
	rsmapi_barrier_t bar;
	struct pollfd pfd;
	rsm_iovec_t iov = { RSM_VA_TYPE, { NULL }, 0, 0, 8 };
	rsm_scat_gath_t sg;
	int ok = 1;

#define BAD(call) do {                                                    \
	int rc_ = (call);                                                 \
	if (rc_ != RSMERR_BAD_SEG_HNDL) {                                 \
		ok = 0;                                                   \
		printf("  %s: %s gave %s\n", what, #call, rsm_errname(rc_)); \
	}                                                                 \
} while (0)
	BAD(rsm_memseg_export_destroy(ex));
	BAD(rsm_memseg_export_rebind(ex, buf, 0, pg));
	BAD(rsm_memseg_export_publish(ex, &id, &acl, 1));
	BAD(rsm_memseg_export_unpublish(ex));
	BAD(rsm_memseg_export_republish(ex, &acl, 1));
	BAD(rsm_memseg_import_disconnect(im));
	BAD(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg));
	BAD(rsm_memseg_import_unmap(im));
	BAD(rsm_memseg_import_get8(im, 0, &u8, 1));
	BAD(rsm_memseg_import_get16(im, 0, &u16, 1));
	BAD(rsm_memseg_import_get32(im, 0, &u32, 1));
	BAD(rsm_memseg_import_get64(im, 0, &u64, 1));
	BAD(rsm_memseg_import_get(im, 0, buf, 8));
	BAD(rsm_memseg_import_put8(im, 0, &u8, 1));
	BAD(rsm_memseg_import_put16(im, 0, &u16, 1));
	BAD(rsm_memseg_import_put32(im, 0, &u32, 1));
	BAD(rsm_memseg_import_put64(im, 0, &u64, 1));
	BAD(rsm_memseg_import_put(im, 0, buf, 8));
	BAD(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT));
	BAD(rsm_memseg_import_get_mode(im, &mode));
	BAD(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar));
	iov.local.vaddr = buf;
	memset(&sg, 0, sizeof(sg));
	sg.io_request_count = 1;
	sg.remote_handle = im;
	sg.iovec = &iov;
	BAD(rsm_memseg_import_putv(&sg));
	BAD(rsm_memseg_import_getv(&sg));
	BAD(rsm_intr_signal_post(h, 0));
	BAD(rsm_intr_signal_wait(h, 0));
	BAD(rsm_memseg_get_pollfd(h, &pfd));
	BAD(rsm_memseg_release_pollfd(h));
#undef BAD
	CHECK(ok, "%s: all 27 segment-handle functions give RSMERR_BAD_SEG_HNDL", what);
	test_free_pages(buf, pg);
}

/* Every controller-handle function on `h`. */
static void controller_functions(void *h, const char *what, int stale)
{
	rsmapi_controller_handle_t c = (rsmapi_controller_handle_t)h;
	rsmapi_controller_attr_t attr;
	rsm_memseg_export_handle_t ex = NULL;
	rsm_memseg_import_handle_t im = NULL;
	rsm_localmemory_handle_t lh = NULL;
	char *buf = test_pages(pg);
	int ok = 1;

#define BAD(call, want) do {                                              \
	int rc_ = (call);                                                 \
	if (rc_ != (want)) {                                              \
		ok = 0;                                                   \
		printf("  %s: %s gave %s\n", what, #call, rsm_errname(rc_)); \
	}                                                                 \
} while (0)
	BAD(rsm_release_controller(c), RSMERR_BAD_CTLR_HNDL);
	/* A released controller is "not present"; anything else is a bad handle. */
	BAD(rsm_get_controller_attr(c, &attr), stale ? RSMERR_CTLR_NOT_PRESENT : RSMERR_BAD_CTLR_HNDL);
	BAD(rsm_memseg_export_create(c, &ex, buf, pg, 0), RSMERR_BAD_CTLR_HNDL);
	BAD(rsm_memseg_import_connect(c, node, 0x600000, RSM_PERM_RDWR, &im), RSMERR_BAD_CTLR_HNDL);
	BAD(rsm_create_localmemory_handle(c, &lh, buf, pg), RSMERR_BAD_CTLR_HNDL);
	BAD(rsm_free_localmemory_handle(c, lh), RSMERR_BAD_CTLR_HNDL);
#undef BAD
	CHECK(ok && ex == NULL && im == NULL && lh == NULL,
	    "%s: all 6 controller-handle functions refuse it", what);
	test_free_pages(buf, pg);
}

struct race {
	rsm_memseg_import_handle_t im;
	int stop;
	int succeeded;
	int saw_disconnect;
	int other_errors;
};

/* Waits (up to 30 s) until *counter reaches at least `want`. */
static int wait_for(int *counter, int want)
{
	int i;

	for (i = 0; i < 3000 && __atomic_load_n(counter, __ATOMIC_RELAXED) < want; i++)
		usleep(10000);
	return __atomic_load_n(counter, __ATOMIC_RELAXED) >= want;
}

static void *hammer(void *arg)
{
	struct race *r = arg;
	uint64_t v = 1;
	int i, rc;

	for (i = 0; !__atomic_load_n(&r->stop, __ATOMIC_RELAXED); i++) {
		rc = (i & 1) ? rsm_memseg_import_put64(r->im, 8 * (i % 64), &v, 1)
		    : rsm_memseg_import_get64(r->im, 8 * (i % 64), &v, 1);
		if (rc == RSM_SUCCESS)
			__atomic_add_fetch(&r->succeeded, 1, __ATOMIC_RELAXED);
		else if (rc == RSMERR_BAD_SEG_HNDL)
			__atomic_add_fetch(&r->saw_disconnect, 1, __ATOMIC_RELAXED);
		else if (rc != RSM_SUCCESS)
			__atomic_add_fetch(&r->other_errors, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

int main(void)
{
	char *ebuf, *buf;
	rsm_memseg_export_handle_t ex = NULL, dead_ex = NULL;
	rsm_memseg_import_handle_t im = NULL, dead_im = NULL;
	rsm_localmemory_handle_t lh = NULL, dead_lh = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_barrier_t bar, live;
	int stackvar = 0, i, ok;
	void *heap = malloc(64);
	void *garbage[] = GARBAGE_HANDLES(stackvar);
	struct race race;
	pthread_t th[4];

	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	ebuf = test_pages(pg);
	buf = test_pages(pg);

	/* Stale handles of every kind. */
	REQUIRE(rsm_memseg_export_create(ctl, &dead_ex, ebuf, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_destroy(dead_ex), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &ex, ebuf, pg, 0), RSM_SUCCESS);
	CHECK(ex != dead_ex, "a new export segment in a reused slot has a new handle");
	REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &dead_im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_disconnect(dead_im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	CHECK(im != dead_im, "a new import segment in a reused slot has a new handle");
	REQUIRE(rsm_create_localmemory_handle(ctl, &dead_lh, buf, pg), RSM_SUCCESS);
	REQUIRE(rsm_free_localmemory_handle(ctl, dead_lh), RSM_SUCCESS);
	REQUIRE(rsm_create_localmemory_handle(ctl, &lh, buf, pg), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &live), RSM_SUCCESS);

	/* The bad handles. */
	add_bad(NULL, "NULL");
	for (i = 0; i < (int)(sizeof(garbage) / sizeof(garbage[0])); i++)
		add_bad(garbage[i], "garbage");
	add_bad(heap, "heap pointer");
	add_bad(dead_ex, "destroyed export handle");
	add_bad(dead_im, "disconnected import handle");
	add_bad(dead_lh, "freed local memory handle");
	add_bad(live.privdata, "barrier handle");

	for (i = 0; i < nbad; i++)
		segment_functions(bad[i], bad_name[i]);
	/* Wrong type: a live handle of another kind. */
	segment_functions(ctl, "controller handle as a segment");
	segment_functions(lh, "local memory handle as a segment");
	for (i = 0; i < nbad; i++)
		controller_functions(bad[i], bad_name[i], 0);
	controller_functions(ex, "export handle as a controller", 0);
	controller_functions(im, "import handle as a controller", 0);
	controller_functions(lh, "local memory handle as a controller", 0);

	/* Export-only and import-only functions given the other kind. */
	{
		uint32_t v = 0;
		void *addr = NULL;
		rsm_memseg_id_t id2 = 0;

		EXPECT(rsm_memseg_export_destroy((rsm_memseg_export_handle_t)im), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_export_publish((rsm_memseg_export_handle_t)im, &id2, NULL, 0), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_export_unpublish((rsm_memseg_export_handle_t)im), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_import_disconnect((rsm_memseg_import_handle_t)ex), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_import_get32((rsm_memseg_import_handle_t)ex, 0, &v, 1), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_import_map((rsm_memseg_import_handle_t)ex, &addr, RSM_MAP_NONE,
		    RSM_PERM_RDWR, 0, pg), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_memseg_import_init_barrier((rsm_memseg_import_handle_t)ex,
		    RSM_BARRIER_NODE, &bar), RSMERR_BAD_SEG_HNDL);
		EXPECT(rsm_free_localmemory_handle(ctl, (rsm_localmemory_handle_t)im), RSMERR_BAD_LOCALMEM_HNDL);
		EXPECT(rsm_free_localmemory_handle(ctl, (rsm_localmemory_handle_t)ctl), RSMERR_BAD_LOCALMEM_HNDL);
	}
	ok = 1;
	for (i = 0; i < nbad; i++)
		ok &= rsm_free_localmemory_handle(ctl, (rsm_localmemory_handle_t)bad[i]) == RSMERR_BAD_LOCALMEM_HNDL;
	CHECK(ok, "rsm_free_localmemory_handle refuses every bad local memory handle");

	/* A second reference to the controller, released: the first stays live. */
	{
		rsmapi_controller_handle_t c = NULL;
		rsmapi_controller_attr_t attr;

		REQUIRE(rsm_get_controller(NULL, &c), RSM_SUCCESS);
		CHECK(c == ctl, "same controller, same handle");
		EXPECT(rsm_release_controller(c), RSM_SUCCESS);
		EXPECT(rsm_get_controller_attr(ctl, &attr), RSM_SUCCESS);
	}

	/* Barrier storage with garbage in it. */
	ok = 1;
	for (i = 0; i < nbad; i++) {
		bar.seg = bad[i];
		bar.gnum = (uint16_t)i;
		bar.privdata = bad[(i + 1) % nbad];
		ok &= rsm_memseg_import_open_barrier(&bar) == RSMERR_BARRIER_UNINITIALIZED;
		ok &= rsm_memseg_import_close_barrier(&bar) == RSMERR_BARRIER_UNINITIALIZED;
		ok &= rsm_memseg_import_order_barrier(&bar) == RSMERR_BARRIER_UNINITIALIZED;
		ok &= rsm_memseg_import_destroy_barrier(&bar) == RSMERR_BARRIER_UNINITIALIZED;
		bar.seg = (void *)im;
		if (bar.privdata != live.privdata)
			ok &= rsm_memseg_import_open_barrier(&bar) == RSMERR_BARRIER_UNINITIALIZED;
	}
	CHECK(ok, "barrier storage holding garbage: RSMERR_BARRIER_UNINITIALIZED");
	bar = live;
	bar.privdata = (void *)lh;
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSMERR_BARRIER_UNINITIALIZED);

	/* Scatter/gather entries naming bad local memory handles. */
	{
		rsm_iovec_t iov = { RSM_HANDLE_TYPE, { NULL }, 0, 0, 8 };
		rsm_scat_gath_t sg;

		memset(&sg, 0, sizeof(sg));
		sg.io_request_count = 1;
		sg.remote_handle = im;
		sg.iovec = &iov;
		ok = 1;
		for (i = 0; i < nbad; i++) {
			iov.local.handle = (rsm_localmemory_handle_t)bad[i];
			ok &= rsm_memseg_import_putv(&sg) == RSMERR_BAD_SGIO;
			ok &= sg.io_residual_count == 1;
		}
		iov.local.handle = (rsm_localmemory_handle_t)ex;
		ok &= rsm_memseg_import_getv(&sg) == RSMERR_BAD_SGIO;
		CHECK(ok, "vector entries with bad local memory handles: RSMERR_BAD_SGIO, nothing done");
	}

	/* Topology pointers that were never handed out, or freed twice. */
	{
		rsm_topology_t *t = NULL;

		for (i = 0; i < nbad; i++)
			if (bad[i] != (void *)test_done)
				rsm_free_interconnect_topology((rsm_topology_t *)bad[i]);
		REQUIRE(rsm_get_interconnect_topology(&t), RSM_SUCCESS);
		rsm_free_interconnect_topology(t);
		rsm_free_interconnect_topology(t);
		CHECK(1, "rsm_free_interconnect_topology ignores pointers it did not hand out");
	}

	/* Poll arrays with descriptors that are not RSM descriptors. */
	{
		struct pollfd p[2] = { { -1, POLLRDNORM, 0 }, { 999, POLLRDNORM, 0 } };
		int n = -1;

		EXPECT(rsm_intr_signal_wait_pollfd(p, 1, 0, &n), RSMERR_TIMEOUT);
		EXPECT(rsm_intr_signal_wait_pollfd(p, 2, 0, &n), RSM_SUCCESS);
		CHECK(n == 1 && p[1].revents == POLLNVAL, "a closed descriptor reports POLLNVAL");
	}

	/* Everything still works for the live handles. */
	{
		uint32_t v = 0x1234;

		EXPECT(rsm_memseg_import_put32(im, 0, &v, 1), RSM_SUCCESS);
		CHECK(*(uint32_t *)ebuf == 0x1234, "the live segments were not disturbed");
	}

	/* Threads racing a disconnect: every call answers, none crashes. */
	memset(&race, 0, sizeof(race));
	race.im = im;
	for (i = 0; i < 4; i++)
		pthread_create(&th[i], NULL, hammer, &race);
	CHECK(wait_for(&race.succeeded, 1000), "threads are putting and getting");
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	CHECK(wait_for(&race.saw_disconnect, 1000), "threads see the disconnect");
	__atomic_store_n(&race.stop, 1, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	/* A barrier outlives the segment it was made for; destroying it still works. */
	EXPECT(rsm_memseg_import_destroy_barrier(&live), RSM_SUCCESS);
	CHECK(race.other_errors == 0,
	    "threads racing a disconnect: %d calls succeeded, %d saw it (RSMERR_BAD_SEG_HNDL), %d other errors",
	    race.succeeded, race.saw_disconnect, race.other_errors);

	/* Double frees. */
	EXPECT(rsm_memseg_import_disconnect(im), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSM_SUCCESS);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSMERR_BAD_LOCALMEM_HNDL);
	segment_functions(ex, "destroyed export handle (after use)");
	segment_functions(im, "disconnected import handle (after use)");
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	EXPECT(rsm_release_controller(ctl), RSMERR_BAD_CTLR_HNDL);
	controller_functions(ctl, "released controller", 1);
	free(heap);
	test_free_pages(ebuf, pg);
	test_free_pages(buf, pg);
	return test_done();
}

/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Import side (RSMAPI 3.5-3.7, 3.9 modes; scenarios T2, T3, T5, T6, T7, T8):
 * rsm_memseg_import_connect, rsm_memseg_import_disconnect,
 * rsm_memseg_import_map, rsm_memseg_import_unmap, rsm_memseg_import_get,
 * get8/16/32/64, rsm_memseg_import_put, put8/16/32/64,
 * rsm_memseg_import_set_mode, rsm_memseg_import_get_mode.
 */

#include "rsmtest.h"

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

struct exp {
	char *buf;
	size_t len;
	rsm_memseg_export_handle_t ex;
	rsm_memseg_id_t id;
};

static struct exp export_new(size_t len, rsm_permission_t mode)
{
	struct exp e = { test_pages(len), len, NULL, 0 };
	rsmapi_access_entry_t acl = { node, mode };

	REQUIRE(rsm_memseg_export_create(ctl, &e.ex, e.buf, len, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(e.ex, &e.id, &acl, 1), RSM_SUCCESS);
	return e;
}

static void export_end(struct exp *e)
{
	EXPECT(rsm_memseg_export_destroy(e->ex), RSM_SUCCESS);
	test_free_pages(e->buf, e->len);
}

static void connect_errors(void)
{
	struct exp e = export_new(pg, 0666);
	rsm_memseg_import_handle_t im = (rsm_memseg_import_handle_t)&im;
	rsm_memseg_import_handle_t marker = im;

	EXPECT(rsm_memseg_import_connect(NULL, node, e.id, RSM_PERM_RDWR, &im), RSMERR_BAD_CTLR_HNDL);
	CHECK(im == marker, "a bad controller leaves *im_memseg alone");
	EXPECT(rsm_memseg_import_connect(NULL, node, e.id, RSM_PERM_RDWR, NULL), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_RDWR, NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_connect(ctl, node, e.id, 0777, &im), RSMERR_PERM_DENIED);
	CHECK(im == NULL, "*im_memseg is NULL after a failed connect");
	EXPECT(rsm_memseg_import_connect(ctl, node, e.id, 01000, &im), RSMERR_PERM_DENIED);
	EXPECT(rsm_memseg_import_connect(ctl, node + 1, e.id, RSM_PERM_RDWR, &im),
	    RSMERR_CTLR_NOT_PRESENT);
	EXPECT(rsm_memseg_import_connect(ctl, node, e.id + 1000, RSM_PERM_RDWR, &im),
	    RSMERR_SEG_NOT_PUBLISHED);
	/* perm 0 is accepted: a connection without rights. */
	EXPECT(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_NONE, &im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_disconnect(NULL), RSMERR_BAD_SEG_HNDL);
	export_end(&e);
}

/* T2 and every width of get/put. */
static void put_get(void)
{
	struct exp e = export_new(4 * pg, 0666);
	rsm_memseg_import_handle_t im = NULL;
	rsmapi_barrier_t bar;
	uint8_t b8[4] = { 1, 2, 3, 4 }, r8[4] = { 0 };
	uint16_t b16[3] = { 0x1234, 0x5678, 0x9abc }, r16[3] = { 0 };
	uint32_t b32[2] = { 0xdeadbeef, 0xfeedface }, r32[2] = { 0 };
	uint64_t b64[2] = { 0x0123456789abcdefULL, 42 }, r64[2] = { 0 };
	char text[] = "hello world", back[sizeof(text)];
	rsm_barrier_mode_t mode = (rsm_barrier_mode_t)77;

	REQUIRE(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	CHECK(im != NULL, "connect sets *im_memseg");

	/* T3: implicit mode (the default) needs a barrier. */
	EXPECT(rsm_memseg_import_get_mode(im, &mode), RSM_SUCCESS);
	CHECK(mode == RSM_BARRIER_MODE_IMPLICIT, "new import segments are in implicit mode");
	EXPECT(rsm_memseg_import_put(im, 0, text, sizeof(text)), RSMERR_BARRIER_UNINITIALIZED);
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get_mode(im, &mode), RSM_SUCCESS);
	CHECK(mode == RSM_BARRIER_MODE_EXPLICIT, "mode is now explicit");
	EXPECT(rsm_memseg_import_put(im, 0, text, sizeof(text)), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_IMPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_set_mode(im, (rsm_barrier_mode_t)2), RSMERR_BAD_MODE);
	EXPECT(rsm_memseg_import_set_mode(im, (rsm_barrier_mode_t)-1), RSMERR_BAD_MODE);
	EXPECT(rsm_memseg_import_set_mode(NULL, RSM_BARRIER_MODE_IMPLICIT), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_get_mode(NULL, &mode), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_get_mode(NULL, NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_get_mode(im, NULL), RSMERR_BAD_ADDR);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);

	EXPECT(rsm_memseg_import_put(im, 0, text, sizeof(text)), RSM_SUCCESS);
	CHECK(memcmp(e.buf, text, sizeof(text)) == 0, "put reached the exporter's memory");
	EXPECT(rsm_memseg_import_get(im, 0, back, sizeof(back)), RSM_SUCCESS);
	CHECK(memcmp(back, text, sizeof(text)) == 0, "get returns it");

	EXPECT(rsm_memseg_import_put8(im, 64, b8, 4), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get8(im, 64, r8, 4), RSM_SUCCESS);
	CHECK(memcmp(b8, r8, sizeof(b8)) == 0 && memcmp(e.buf + 64, b8, 4) == 0, "put8/get8 round trip");
	EXPECT(rsm_memseg_import_put16(im, 128, b16, 3), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get16(im, 128, r16, 3), RSM_SUCCESS);
	CHECK(memcmp(b16, r16, sizeof(b16)) == 0 && *(uint16_t *)(e.buf + 130) == 0x5678,
	    "put16/get16 round trip");
	EXPECT(rsm_memseg_import_put32(im, 256, b32, 2), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get32(im, 256, r32, 2), RSM_SUCCESS);
	CHECK(memcmp(b32, r32, sizeof(b32)) == 0 && *(uint32_t *)(e.buf + 256) == 0xdeadbeef,
	    "put32/get32 round trip");
	EXPECT(rsm_memseg_import_put64(im, 512, b64, 2), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get64(im, 512, r64, 2), RSM_SUCCESS);
	CHECK(memcmp(b64, r64, sizeof(b64)) == 0 && *(uint64_t *)(e.buf + 520) == 42,
	    "put64/get64 round trip");
	*(uint32_t *)(e.buf + 8) = 0xcafef00d;
	EXPECT(rsm_memseg_import_get32(im, 8, r32, 1), RSM_SUCCESS);
	CHECK(r32[0] == 0xcafef00d, "get32 reads what the exporter stored");
	/* Across the whole segment, up to its last byte. */
	EXPECT(rsm_memseg_import_put8(im, (off_t)(4 * pg - 1), b8, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get64(im, (off_t)(4 * pg - 8), r64, 1), RSM_SUCCESS);

	/* Zero counts are accepted. */
	EXPECT(rsm_memseg_import_put(im, 0, text, 0), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get64(im, 0, r64, 0), RSM_SUCCESS);

	/* T7: check order: handle, data pointer, its alignment, offset alignment,
	 * then bounds and rights. */
	EXPECT(rsm_memseg_import_get8(NULL, 0, NULL, 1), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_get8(im, 0, NULL, 1), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_get8(im, 0, NULL, 0), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_put(im, 0, NULL, 4), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_get(im, 0, NULL, 4), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_get16(im, 1, r16, 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_get16(im, 0, (uint16_t *)((char *)r16 + 1), 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_get16(im, 1, (uint16_t *)((char *)r16 + 1), 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_put32(im, 2, b32, 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_put32(im, 0, (uint32_t *)((char *)b32 + 2), 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_get64(im, 4, r64, 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_put64(im, 0, (uint64_t *)((char *)b64 + 4), 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_get64(im, (off_t)(4 * pg - 4), r64, 1), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_import_get32(im, (off_t)(4 * pg - 4), r32, 2), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_get64(im, (off_t)(4 * pg), r64, 1), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_get(im, 1, back, 4 * pg), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_put8(im, -1, b8, 1), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_put64(im, -8, b64, 1), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_get64(im, 0, r64, (ulong_t)-1), RSMERR_BAD_LENGTH);

	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put(im, 0, text, 1), RSMERR_BARRIER_UNINITIALIZED);
	/* T6: the implicit mapping made by put/get blocks an explicit map and is
	 * undone by disconnect. */
	{
		void *addr = NULL;

		EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg),
		    RSMERR_SEG_ALREADY_MAPPED);
	}
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put(im, 0, text, 1), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_get_mode(im, &mode), RSMERR_BAD_SEG_HNDL);
	export_end(&e);
}

/* Rights: read-only and write-only connections. */
static void rights(void)
{
	struct exp e = export_new(pg, 0666);
	rsm_memseg_import_handle_t ro = NULL, wo = NULL;
	rsmapi_barrier_t b1, b2;
	uint32_t v = 7;
	void *addr = NULL;

	REQUIRE(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_READ, &ro), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_WRITE, &wo), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(ro, RSM_BARRIER_SEGMENT, &b1), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(wo, RSM_BARRIER_SEGMENT, &b2), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put32(ro, 0, &v, 1), RSMERR_PERM_DENIED);
	EXPECT(rsm_memseg_import_get32(ro, 0, &v, 1), RSM_SUCCESS);
	v = 7;
	EXPECT(rsm_memseg_import_put32(wo, 0, &v, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get32(wo, 0, &v, 1), RSMERR_PERM_DENIED);
	EXPECT(rsm_memseg_import_unmap(ro), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_map(ro, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_PERMS);
	EXPECT(rsm_memseg_import_map(ro, &addr, RSM_MAP_NONE, RSM_PERM_READ, 0, pg), RSM_SUCCESS);
	CHECK(addr != NULL && *(volatile uint32_t *)addr == 7, "read-only mapping reads the segment");
	EXPECT(rsm_memseg_import_unmap(ro), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&b1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&b2), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(ro), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(wo), RSM_SUCCESS);
	export_end(&e);
}

/* T5: explicit mapping. */
static void mapping(void)
{
	struct exp e = export_new(4 * pg, 0666);
	rsm_memseg_import_handle_t im = NULL;
	rsmapi_barrier_t bar;
	void *addr = NULL, *addr2 = NULL, *marker;
	char *want;
	uint32_t v = 0;

	REQUIRE(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);

	/* Check order: handle, address pointer, state, perm, length, alignment. */
	EXPECT(rsm_memseg_import_map(NULL, NULL, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_map(im, NULL, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, 0777, 0, pg), RSMERR_BAD_PERMS);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, 0), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, 4 * pg + 1), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)pg, 4 * pg), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, -(off_t)pg, pg), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 8, pg), RSMERR_BAD_MEM_ALIGNMENT);
	marker = (char *)test_pages(pg) + 8;
	addr = marker;
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_FIXED, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_MEM_ALIGNMENT);
	CHECK(addr == marker, "a failed map leaves *address alone");
	addr = NULL;
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_FIXED, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_import_map(im, &addr, (rsm_attribute_t)7, RSM_PERM_RDWR, 0, pg), RSMERR_MAP_FAILED);

	/* A window [pg, 3 pg). */
	addr = NULL;
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)pg, 2 * pg), RSM_SUCCESS);
	CHECK(addr != NULL && ((uintptr_t)addr & (pg - 1)) == 0, "map returns a page-aligned address");
	strcpy((char *)addr + 16, "stored through the mapping");
	CHECK(strcmp(e.buf + pg + 16, "stored through the mapping") == 0, "direct stores reach the exporter");
	want = e.buf + pg + 100;
	strcpy(want, "exporter");
	CHECK(strcmp((char *)addr + 100, "exporter") == 0, "direct loads see the exporter");
	EXPECT(rsm_memseg_import_map(im, &addr2, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_SEG_ALREADY_MAPPED);
	EXPECT(rsm_memseg_import_get32(im, (off_t)pg + 100, &v, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get32(im, 0, &v, 1), RSMERR_BAD_OFFSET);
	EXPECT(rsm_memseg_import_get32(im, (off_t)(3 * pg), &v, 1), RSMERR_BAD_OFFSET);
	EXPECT(rsm_memseg_import_put32(im, (off_t)(3 * pg - 4), &v, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSMERR_SEG_STILL_MAPPED);
	EXPECT(rsm_memseg_import_unmap(NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_unmap(im), RSMERR_SEG_NOT_MAPPED);

	/* RSM_MAP_FIXED at a page the caller reserved; RSM_MAP_RESERVED maps
	 * like RSM_MAP_NONE. */
	addr = (char *)marker - 8;
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_FIXED, RSM_PERM_READ, 0, pg), RSM_SUCCESS);
	CHECK(addr == (char *)marker - 8, "RSM_MAP_FIXED maps at the given address");
	CHECK(memcmp(addr, e.buf, 64) == 0, "and reaches the segment");
	EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);
	addr = NULL;
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_RESERVED, RSM_PERM_RDWR, 0, 4 * pg), RSM_SUCCESS);
	CHECK(addr != NULL, "RSM_MAP_RESERVED maps");
	EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);

	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_unmap(im), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_SEG_HNDL);
	export_end(&e);
}

/* T8: the exporter unpublishes under a mapped importer. */
static void forced_disconnect(void)
{
	struct exp e = export_new(2 * pg, 0666);
	rsm_memseg_import_handle_t im = NULL, im2 = NULL;
	rsmapi_barrier_t bar;
	volatile char *addr = NULL;
	uint64_t v = 5;
	rsm_memseg_id_t old = e.id;

	REQUIRE(rsm_memseg_import_connect(ctl, node, e.id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_map(im, (void **)&addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, 2 * pg), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put64(im, 0, &v, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_unpublish(e.ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_put64(im, 0, &v, 1), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_get64(im, 0, &v, 1), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
	addr[0] = 'x';
	CHECK(addr[0] == 'x' || addr[0] != 'x', "loads and stores through the old mapping do not crash");
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSMERR_CONN_ABORTED);
	CHECK(e.buf[0] != 'x', "stores after the revocation do not reach the exporter");
	EXPECT(rsm_memseg_import_map(im, (void **)&addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_SEG_ALREADY_MAPPED);
	EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_map(im, (void **)&addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_CONN_ABORTED);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_connect(ctl, node, old, RSM_PERM_RDWR, &im2), RSMERR_SEG_NOT_PUBLISHED);
	export_end(&e);
}

int main(void)
{
	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	connect_errors();
	put_get();
	rights();
	mapping();
	forced_disconnect();
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	return test_done();
}

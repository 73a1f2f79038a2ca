/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Controller operations, topology and segment-id ranges (RSMAPI 3.1-3.3,
 * scenarios T1 and T16): rsm_get_controller, rsm_release_controller,
 * rsm_get_controller_attr, rsm_get_interconnect_topology,
 * rsm_free_interconnect_topology, rsm_get_segmentid_range.
 */

#include "rsmtest.h"

static void controllers(void)
{
	rsmapi_controller_handle_t a = NULL, b = NULL, c = NULL, d = NULL;
	rsmapi_controller_attr_t attr;
	char loopback[] = "loopback", loopback3[] = "LoopBack3";
	char nosuch[] = "nosuch0", bad[] = "a/b0", empty[] = "";

	/* Check order: the out-pointer first. */
	EXPECT(rsm_get_controller(loopback, NULL), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_get_controller(NULL, NULL), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_get_controller(nosuch, &a), RSMERR_CTLR_NOT_PRESENT);
	CHECK(a == NULL, "a failed get leaves the handle alone");
	EXPECT(rsm_get_controller(bad, &a), RSMERR_CTLR_NOT_PRESENT);
	EXPECT(rsm_get_controller(empty, &a), RSMERR_CTLR_NOT_PRESENT);

	/* Same controller, same handle, one reference per get. */
	REQUIRE(rsm_get_controller(loopback, &a), RSM_SUCCESS);
	CHECK(a != NULL, "rsm_get_controller sets the handle");
	REQUIRE(rsm_get_controller(NULL, &b), RSM_SUCCESS);
	CHECK(a == b, "NULL names the loopback controller (same handle)");
	REQUIRE(rsm_get_controller(loopback3, &c), RSM_SUCCESS);
	CHECK(a == c, "any loopback<N>, any case, is the same controller");

	/* Attributes. */
	memset(&attr, 0xa5, sizeof(attr));
	EXPECT(rsm_get_controller_attr(a, &attr), RSM_SUCCESS);
	CHECK(attr.attr_page_size == test_pagesize(),
	    "loopback attr_page_size is the system page size (%zu)", attr.attr_page_size);
	CHECK(attr.attr_direct_access_sizes == (RSM_DAS8 | RSM_DAS16 | RSM_DAS32 | RSM_DAS64),
	    "loopback supports 8/16/32/64-bit direct access");
	CHECK(attr.attr_atomic_sizes != 0, "loopback has atomic sizes");
	CHECK(attr.attr_max_export_segment_size > 0, "attr_max_export_segment_size > 0");
	CHECK(attr.attr_max_import_map_size > 0, "loopback can map imports");
	CHECK(attr.attr_max_export_segments > 0 && attr.attr_max_import_segments > 0,
	    "segment limits are set");
	EXPECT(rsm_get_controller_attr(NULL, &attr), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_get_controller_attr(NULL, NULL), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_get_controller_attr(a, NULL), RSMERR_BAD_ADDR);

	/* Three gets, three releases; the fourth is one too many. */
	EXPECT(rsm_release_controller(a), RSM_SUCCESS);
	EXPECT(rsm_get_controller_attr(a, &attr), RSM_SUCCESS);
	EXPECT(rsm_release_controller(b), RSM_SUCCESS);
	EXPECT(rsm_release_controller(c), RSM_SUCCESS);
	EXPECT(rsm_release_controller(a), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_get_controller_attr(a, &attr), RSMERR_CTLR_NOT_PRESENT);
	EXPECT(rsm_release_controller(NULL), RSMERR_BAD_CTLR_HNDL);

	/* A new get after the last release works again (a new handle). */
	REQUIRE(rsm_get_controller(loopback, &d), RSM_SUCCESS);
	CHECK(d != a, "a controller got again after its last release has a new handle");
	EXPECT(rsm_get_controller_attr(d, &attr), RSM_SUCCESS);
	EXPECT(rsm_release_controller(d), RSM_SUCCESS);
}

static void topology(void)
{
	rsm_topology_t *t = (rsm_topology_t *)&t;
	uint_t i;
	int j;

	EXPECT(rsm_get_interconnect_topology(NULL), RSMERR_BAD_TOPOLOGY_PTR);
	REQUIRE(rsm_get_interconnect_topology(&t), RSM_SUCCESS);
	CHECK(t != NULL, "topology returned");
	CHECK(t->topology_hdr.local_nodeid > 0, "local node id %u",
	    t->topology_hdr.local_nodeid);
	/* Walk it as an application would; every pointer stays inside the block
	 * (AddressSanitizer checks that). */
	for (i = 0; i < t->topology_hdr.local_cntlr_count; i++) {
		rsm_connections_t *c = t->connections[i];

		CHECK(c != NULL && (char *)c > (char *)t, "controller %u record in the block", i);
		CHECK(strlen(c->hdr.cntlr_name) < MAXNAMELEN && strcmp(c->hdr.cntlr_name, "loopback") != 0,
		    "controller %u name \"%s\" (loopback is not listed)", i, c->hdr.cntlr_name);
		for (j = 0; j < c->hdr.remote_cntlr_count; j++) {
			rsm_remote_cntlr_t *r = &c->remote_cntlr[j];

			CHECK(r->connection_state >= 1 && r->connection_state <= 4,
			    "peer node %u \"%s\" state %u", r->remote_nodeid,
			    r->remote_cntlrname, r->connection_state);
		}
	}
	rsm_free_interconnect_topology(t);
	rsm_free_interconnect_topology(NULL);
	CHECK(1, "rsm_free_interconnect_topology(NULL) is a no-op");
	/* A block freed twice, or something that is not a block, is ignored. */
	rsm_free_interconnect_topology(t);
	rsm_free_interconnect_topology((rsm_topology_t *)&i);
	CHECK(1, "freeing a freed or foreign topology pointer does nothing");
}

static void segmentid_range(void)
{
	char path[] = "/tmp/rsm-segmentid-XXXXXX";
	int fd = mkstemp(path);
	FILE *f;
	rsm_memseg_id_t base = 0;
	uint32_t len = 0;

	CHECK(fd >= 0, "temporary rsm.segmentid");
	f = fdopen(fd, "w");
	fprintf(f, "#keyword   appid     baseid    length\n"
	    "  # indented comment\n"
	    "reserved   SUNWfoo   0x600000  1000\n"
	    "reserve    BAR       0x700000  20\n"
	    "foo        BADKW     0x800000  20\n");
	fclose(f);
	setenv("RSM_SEGMENTID_FILE", path, 1);

	EXPECT(rsm_get_segmentid_range("SUNWfoo", &base, &len), RSM_SUCCESS);
	CHECK(base == 0x600000 && len == 1000, "SUNWfoo: 0x%x, %u", base, len);
	EXPECT(rsm_get_segmentid_range("sunwFOO", &base, &len), RSM_SUCCESS);
	CHECK(base == 0x600000 && len == 1000, "appid is matched case-insensitively");
	EXPECT(rsm_get_segmentid_range("BAR", &base, &len), RSM_SUCCESS);
	CHECK(base == 0x700000 && len == 20, "keyword `reserve` accepted too");
	EXPECT(rsm_get_segmentid_range("BADKW", &base, &len), RSMERR_BAD_CONF);
	EXPECT(rsm_get_segmentid_range("nosuch", &base, &len), RSMERR_BAD_APPID);
	EXPECT(rsm_get_segmentid_range(NULL, &base, &len), RSMERR_BAD_ADDR);
	EXPECT(rsm_get_segmentid_range("SUNWfoo", NULL, &len), RSMERR_BAD_ADDR);
	EXPECT(rsm_get_segmentid_range("SUNWfoo", &base, NULL), RSMERR_BAD_ADDR);

	/* A blank line before the match: the file is malformed. */
	f = fopen(path, "w");
	fprintf(f, "\nreserved APP 0x600000 100\n");
	fclose(f);
	EXPECT(rsm_get_segmentid_range("APP", &base, &len), RSMERR_BAD_CONF);

	unlink(path);
	EXPECT(rsm_get_segmentid_range("APP", &base, &len), RSMERR_BAD_CONF);
	unsetenv("RSM_SEGMENTID_FILE");
}

int main(void)
{
	controllers();
	topology();
	segmentid_range();
	return test_done();
}

/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * The two-party scenario: an exporter process and an importer process, each
 * talking to its own node's agent (RSM_SOCKET).  Both on one node through
 * the loopback controller, or on two nodes through a network controller
 * (e.g. tcp0) -- the program is the same, only the arguments differ:
 *
 *   two_party export <controller> [<importer node>]
 *       creates and publishes a segment over its own memory and prints
 *       "READY <node> <segment id>"; then waits for the importer.
 *   two_party import <controller> <node> <segment id>
 *
 * The conversation: the importer writes a ping with an explicit barrier loop
 * and posts a signal; the exporter (waiting in rsm_intr_signal_wait_pollfd)
 * checks it in its own memory, writes a pong and posts to its importers; the
 * importer reads it (and through a mapping, when the controller can map),
 * then sends a last piece with putv and RSM_IMPLICIT_SIGPOST; the exporter
 * checks that, signals a last time and tears down; the importer disconnects
 * after that last signal.  Each process prints its checks and exits 0
 * only if all passed.
 */

#include "rsmtest.h"

#include <poll.h>

#define SEG_LEN (64 * 1024)
#define PONG_OFF 4096
#define LAST_OFF 8192
#define WAIT_MS 20000

static const char ping[] = "ping from the importer";
static const char pong[] = "pong from the exporter";
static const char last[] = "last piece, by putv";

static int exporter(char *ctlname, rsm_node_id_t importer_node)
{
	rsmapi_controller_handle_t ctl = NULL;
	rsm_memseg_export_handle_t ex = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_access_entry_t acl = { importer_node, 0666 };
	struct pollfd pfd;
	char *buf = test_pages(SEG_LEN);
	uint32_t *counters = (uint32_t *)(buf + 64);
	int n = 0, i, ok;

	REQUIRE(rsm_get_controller(ctlname, &ctl), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &ex, buf, SEG_LEN, 0), RSM_SUCCESS);
	if (importer_node != 0)
		REQUIRE(rsm_memseg_export_publish(ex, &id, &acl, 1), RSM_SUCCESS);
	else
		REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_get_pollfd(ex, &pfd), RSM_SUCCESS);
	printf("READY %u %u\n", test_local_node(), id);
	fflush(stdout);

	/* 1. The ping. */
	REQUIRE(rsm_intr_signal_wait_pollfd(&pfd, 1, WAIT_MS, &n), RSM_SUCCESS);
	CHECK(n == 1 && pfd.revents == POLLRDNORM, "the importer's signal arrived (poll)");
	CHECK(strcmp(buf, ping) == 0, "the ping is in the exporter's memory: \"%s\"", buf);
	ok = 1;
	for (i = 0; i < 256; i++)
		ok &= counters[i] == (uint32_t)i * 3;
	CHECK(ok, "the 256 put32 counters are in place");
	CHECK(*(uint64_t *)(buf + 2048) == 0x0123456789abcdefULL, "the put64 after the order barrier");

	/* 2. The pong, to every importer. */
	strcpy(buf + PONG_OFF, pong);
	EXPECT(rsm_intr_signal_post(ex, 0), RSM_SUCCESS);

	/* 3. The last piece, with its implicit signal. */
	EXPECT(rsm_intr_signal_wait(ex, WAIT_MS), RSM_SUCCESS);
	CHECK(strcmp(buf + LAST_OFF, last) == 0, "the putv piece arrived before its signal");
	/* 4. The importer waits for this before it disconnects: a post is not
	 * acknowledged, so the last word must come from the side that stays. */
	EXPECT(rsm_intr_signal_post(ex, 0), RSM_SUCCESS);

	EXPECT(rsm_memseg_export_destroy(ex), RSMERR_POLLFD_IN_USE);
	EXPECT(rsm_memseg_release_pollfd(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_unpublish(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	test_free_pages(buf, SEG_LEN);
	return test_done();
}

static int importer(char *ctlname, rsm_node_id_t node, rsm_memseg_id_t id)
{
	rsmapi_controller_handle_t ctl = NULL;
	rsmapi_controller_attr_t attr;
	rsm_memseg_import_handle_t im = NULL;
	rsmapi_barrier_t bar;
	uint32_t counters[256];
	uint64_t v64 = 0x0123456789abcdefULL;
	char got[sizeof(pong)];
	char piece[sizeof(last)];
	rsm_iovec_t iov;
	rsm_scat_gath_t sg;
	int rc, tries = 0, i;

	for (i = 0; i < 256; i++)
		counters[i] = (uint32_t)i * 3;
	REQUIRE(rsm_get_controller(ctlname, &ctl), RSM_SUCCESS);
	REQUIRE(rsm_get_controller_attr(ctl, &attr), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_EXPLICIT), RSM_SUCCESS);

	/* 1. The ping, in an explicit barrier loop. */
	do {
		rc = rsm_memseg_import_open_barrier(&bar);
		if (rc != RSM_SUCCESS)
			break;
		rc = rsm_memseg_import_put(im, 0, (void *)ping, sizeof(ping));
		if (rc == RSM_SUCCESS)
			rc = rsm_memseg_import_put32(im, 64, counters, 256);
		if (rc == RSM_SUCCESS)
			rc = rsm_memseg_import_order_barrier(&bar);
		if (rc == RSM_SUCCESS)
			rc = rsm_memseg_import_put64(im, 2048, &v64, 1);
		if (rc == RSM_SUCCESS)
			rc = rsm_memseg_import_close_barrier(&bar);
		else
			(void)rsm_memseg_import_close_barrier(&bar);
	} while (rc == RSMERR_BARRIER_FAILURE && ++tries < 5);
	CHECK(rc == RSM_SUCCESS, "ping written in an explicit barrier window (%s)", rsm_errname(rc));
	EXPECT(rsm_intr_signal_post(im, 0), RSM_SUCCESS);

	/* 2. The pong. */
	EXPECT(rsm_intr_signal_wait(im, WAIT_MS), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get(im, PONG_OFF, got, sizeof(got)), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_close_barrier(&bar), RSM_SUCCESS);
	CHECK(strcmp(got, pong) == 0, "the pong read with get: \"%s\"", got);
	if (attr.attr_max_import_map_size > 0) {
		void *addr = NULL;

		/* put and get mapped the segment implicitly: an explicit mapping
		 * replaces that one. */
		EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);
		REQUIRE(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_READ, 0, SEG_LEN), RSM_SUCCESS);
		EXPECT(rsm_memseg_import_open_barrier(&bar), RSM_SUCCESS);
		memcpy(got, (char *)addr + PONG_OFF, sizeof(got));
		EXPECT(rsm_memseg_import_close_barrier(&bar), RSM_SUCCESS);
		CHECK(strcmp(got, pong) == 0, "the pong read through the mapping");
		EXPECT(rsm_memseg_import_unmap(im), RSM_SUCCESS);
	} else {
		void *addr = NULL;

		EXPECT(rsm_memseg_import_map(im, &addr, RSM_MAP_NONE, RSM_PERM_READ, 0, SEG_LEN),
		    RSMERR_MAP_FAILED);
	}

	/* 3. The last piece, with putv and an implicit signal. */
	memcpy(piece, last, sizeof(last));
	iov.io_type = RSM_VA_TYPE;
	iov.local.vaddr = piece;
	iov.local_offset = 0;
	iov.remote_offset = LAST_OFF;
	iov.transfer_length = sizeof(last);
	memset(&sg, 0, sizeof(sg));
	sg.io_request_count = 1;
	sg.io_residual_count = 1;
	sg.flags = RSM_IMPLICIT_SIGPOST;
	sg.remote_handle = im;
	sg.iovec = &iov;
	EXPECT(rsm_memseg_import_set_mode(im, RSM_BARRIER_MODE_IMPLICIT), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_putv(&sg), RSM_SUCCESS);
	CHECK(sg.io_residual_count == 0 && sg.flags == RSM_IMPLICIT_SIGPOST, "putv done, flags kept");
	/* 4. The exporter's last word. */
	EXPECT(rsm_intr_signal_wait(im, WAIT_MS), RSM_SUCCESS);

	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	return test_done();
}

int main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "export") == 0)
		return exporter(argv[2], argc > 3 ? (rsm_node_id_t)strtoul(argv[3], NULL, 0) : 0);
	if (argc == 5 && strcmp(argv[1], "import") == 0)
		return importer(argv[2], (rsm_node_id_t)strtoul(argv[3], NULL, 0),
		    (rsm_memseg_id_t)strtoul(argv[4], NULL, 0));
	fprintf(stderr, "usage: %s export <controller> [<importer node>]\n"
	    "       %s import <controller> <node> <segment id>\n", argv[0], argv[0]);
	return 2;
}

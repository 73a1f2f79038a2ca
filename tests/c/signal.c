/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Events and poll descriptors (RSMAPI 3.10, scenarios T13 and T14):
 * rsm_intr_signal_post, rsm_intr_signal_wait, rsm_memseg_get_pollfd,
 * rsm_memseg_release_pollfd, rsm_intr_signal_wait_pollfd on a struct pollfd
 * array mixing segments and a pipe.
 */

#include "rsmtest.h"

#include <poll.h>

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

int main(void)
{
	char *a_buf, *b_buf;
	rsm_memseg_export_handle_t a = NULL, b = NULL;
	rsm_memseg_import_handle_t ia = NULL, ib = NULL;
	rsm_memseg_id_t a_id = 0, b_id = 0;
	struct pollfd fds[3];
	int pipefd[2];
	int n = -1, i;
	char c;

	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	a_buf = test_pages(pg);
	b_buf = test_pages(pg);
	REQUIRE(rsm_memseg_export_create(ctl, &a, a_buf, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &b, b_buf, pg, 0), RSM_SUCCESS);

	/* Posts on an unpublished export segment go nowhere. */
	EXPECT(rsm_intr_signal_post(a, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(a, &a_id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(b, &b_id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, a_id, RSM_PERM_RDWR, &ia), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, b_id, RSM_PERM_RDWR, &ib), RSM_SUCCESS);

	/* T13: events accumulate; each wait consumes one. */
	EXPECT(rsm_intr_signal_post(NULL, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_intr_signal_wait(NULL, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_intr_signal_wait(a, 0), RSMERR_TIMEOUT);
	EXPECT(rsm_intr_signal_post(ia, 0), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(ia, 0), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(ia, 0), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 50), RSMERR_TIMEOUT);
	EXPECT(rsm_intr_signal_wait(b, 0), RSMERR_TIMEOUT);
	/* Export to every importer. */
	EXPECT(rsm_intr_signal_post(a, 0), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ia, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(ia, 0), RSMERR_TIMEOUT);
	EXPECT(rsm_intr_signal_wait(ib, 0), RSMERR_TIMEOUT);
	/* RSM_SIGPOST_NO_ACCUMULATE: no second event while one is pending. */
	EXPECT(rsm_intr_signal_post(ia, RSM_SIGPOST_NO_ACCUMULATE), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(ia, RSM_SIGPOST_NO_ACCUMULATE), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(ia, RSM_SIGPOST_NO_ACCUMULATE), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 1000), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait(a, 0), RSMERR_TIMEOUT);

	/* T14: two segments and a pipe in one poll. */
	CHECK(pipe(pipefd) == 0, "pipe");
	EXPECT(rsm_memseg_get_pollfd(NULL, &fds[0]), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_get_pollfd(a, NULL), RSMERR_BAD_ADDR);
	memset(fds, 0xff, sizeof(fds));
	EXPECT(rsm_memseg_get_pollfd(a, &fds[0]), RSM_SUCCESS);
	CHECK(fds[0].fd >= 0 && fds[0].events == POLLRDNORM && fds[0].revents == 0,
	    "pollfd: fd %d, events POLLRDNORM", fds[0].fd);
	EXPECT(rsm_memseg_get_pollfd(ib, &fds[1]), RSM_SUCCESS);
	fds[2].fd = pipefd[0];
	fds[2].events = POLLIN;
	fds[2].revents = 0;

	EXPECT(rsm_intr_signal_wait_pollfd(fds, 3, 0, &n), RSMERR_TIMEOUT);
	CHECK(n == 0, "*numfdsp is 0 after a timeout");
	EXPECT(rsm_intr_signal_post(ia, 0), RSM_SUCCESS);
	CHECK(write(pipefd[1], "x", 1) == 1, "write to the pipe");
	n = -1;
	EXPECT(rsm_intr_signal_wait_pollfd(fds, 3, 1000, &n), RSM_SUCCESS);
	CHECK(n == 2, "two entries ready (%d)", n);
	CHECK(fds[0].revents == POLLRDNORM, "the segment entry reports POLLRDNORM");
	CHECK(fds[1].revents == 0, "the quiet segment reports nothing");
	CHECK(fds[2].revents & POLLIN, "the pipe reports POLLIN");
	CHECK(read(pipefd[0], &c, 1) == 1, "drain the pipe");
	EXPECT(rsm_intr_signal_wait_pollfd(fds, 3, 0, &n), RSMERR_TIMEOUT);
	CHECK(n == 0, "the segment's event was consumed");
	/* numfdsp may be NULL; an export post reaches the import entry. */
	EXPECT(rsm_intr_signal_post(b, 0), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_wait_pollfd(fds, 3, 1000, NULL), RSM_SUCCESS);
	CHECK(fds[1].revents == POLLRDNORM && fds[0].revents == 0, "the import entry is ready");
	EXPECT(rsm_intr_signal_wait_pollfd(NULL, 0, 0, &n), RSMERR_TIMEOUT);
	EXPECT(rsm_intr_signal_wait_pollfd(NULL, 1, 0, &n), RSMERR_BAD_ADDR);

	/* A held poll descriptor blocks destroy and disconnect. */
	EXPECT(rsm_memseg_get_pollfd(a, &fds[0]), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(a), RSMERR_POLLFD_IN_USE);
	EXPECT(rsm_memseg_import_disconnect(ib), RSMERR_POLLFD_IN_USE);
	EXPECT(rsm_memseg_release_pollfd(NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_release_pollfd(a), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(a), RSMERR_POLLFD_IN_USE);
	EXPECT(rsm_memseg_release_pollfd(a), RSM_SUCCESS);
	EXPECT(rsm_memseg_release_pollfd(ib), RSM_SUCCESS);
	/* Never below zero. */
	EXPECT(rsm_memseg_release_pollfd(ib), RSM_SUCCESS);

	EXPECT(rsm_memseg_import_disconnect(ia), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(ib), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(ia, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_intr_signal_wait(ib, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_destroy(a), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(b), RSM_SUCCESS);
	EXPECT(rsm_intr_signal_post(a, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_get_pollfd(b, &fds[0]), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_release_pollfd(b), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	for (i = 0; i < 2; i++)
		close(pipefd[i]);
	test_free_pages(a_buf, pg);
	test_free_pages(b_buf, pg);
	return test_done();
}

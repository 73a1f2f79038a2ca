/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * exporter -- the exporting half of a Solaris-style RSMAPI pair.
 *
 * Creates a segment over its own page-aligned memory, publishes it, prints
 * the node and segment id an importer needs, then serves a mailbox: each time
 * an importer signals, it prints the message the importer wrote into its
 * memory, writes an acknowledgement next to it, and signals back.  It waits
 * with rsm_intr_signal_wait_pollfd on the segment's poll descriptor (and on
 * standard input, when that is a terminal: press Enter to stop).  It stops
 * after the message "bye" (and the importer's last signal, which says it has
 * read the answer).
 *
 *   usage: exporter [controller]          (default: loopback)
 *
 * Build: make   (see Makefile; or cc exporter.c $(pkg-config --cflags --libs rsm))
 * Run:   RSM_SOCKET=/path/to/rsmd.sock ./exporter
 */

#include <rsmapi.h>

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "mailbox.h"

static void die(const char *what, int rc)
{
	fprintf(stderr, "exporter: %s failed: error %d\n", what, rc);
	exit(1);
}

int main(int argc, char **argv)
{
	char *ctlname = argc > 1 ? argv[1] : "loopback";
	rsmapi_controller_handle_t ctl;
	rsm_memseg_export_handle_t seg;
	rsm_memseg_id_t id = 0;
	rsm_topology_t *topo;
	rsm_node_id_t node;
	struct pollfd fds[2];
	nfds_t nfds = 1;
	struct mailbox *box;
	size_t len;
	int rc, n, done = 0;

	if ((rc = rsm_get_controller(ctlname, &ctl)) != RSM_SUCCESS)
		die("rsm_get_controller", rc);
	if ((rc = rsm_get_interconnect_topology(&topo)) != RSM_SUCCESS)
		die("rsm_get_interconnect_topology", rc);
	node = topo->topology_hdr.local_nodeid;
	rsm_free_interconnect_topology(topo);

	/* The segment is this process's own memory: page aligned, a whole number
	 * of pages.  It stays usable through `box` while it is exported. */
	len = (sizeof(struct mailbox) + PAGESIZE - 1) / PAGESIZE * PAGESIZE;
	box = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (box == MAP_FAILED) {
		perror("mmap");
		return 1;
	}
	memset(box, 0, len);
	if ((rc = rsm_memseg_export_create(ctl, &seg, box, len, 0)) != RSM_SUCCESS)
		die("rsm_memseg_export_create", rc);
	/* Segment id 0: the system picks one.  No access list: every node may
	 * import, with the permissions our umask gives. */
	if ((rc = rsm_memseg_export_publish(seg, &id, NULL, 0)) != RSM_SUCCESS)
		die("rsm_memseg_export_publish", rc);
	printf("exporting %zu bytes as segment %u on node %u\n", len, id, node);
	printf("run: importer %u %u %s\n", node, id, ctlname);
	fflush(stdout);

	if ((rc = rsm_memseg_get_pollfd(seg, &fds[0])) != RSM_SUCCESS)
		die("rsm_memseg_get_pollfd", rc);
	if (isatty(STDIN_FILENO)) {
		fds[1].fd = STDIN_FILENO;
		fds[1].events = POLLIN;
		nfds = 2;
		printf("press Enter to stop\n");
	}

	while (!done) {
		rc = rsm_intr_signal_wait_pollfd(fds, nfds, 60 * 1000, &n);
		if (rc == RSMERR_TIMEOUT) {
			printf("no importer for a minute, still waiting\n");
			continue;
		}
		if (rc != RSM_SUCCESS)
			die("rsm_intr_signal_wait_pollfd", rc);
		if (nfds == 2 && fds[1].revents != 0)
			break;
		if (fds[0].revents != POLLRDNORM)
			continue;
		/* The importer closed its barrier before signalling: the message is
		 * complete in our memory. */
		printf("message %u: %s\n", box->seq, box->text);
		fflush(stdout);
		done = strcmp(box->text, "bye") == 0;
		box->ack = box->seq;
		snprintf(box->reply, sizeof(box->reply), "got %u bytes", (unsigned)strlen(box->text));
		/* To every importer of the segment. */
		if ((rc = rsm_intr_signal_post(seg, 0)) != RSM_SUCCESS)
			die("rsm_intr_signal_post", rc);
	}

	/* After "bye", the importer signals once more when it has read our
	 * answer: unpublishing earlier would cut it off (its next barrier close
	 * would report RSMERR_CONN_ABORTED).  We answer that with a last signal,
	 * after which it disconnects: signals are not acknowledged, so the last
	 * word comes from the side that stays. */
	if (done) {
		if ((rc = rsm_intr_signal_wait(seg, 10 * 1000)) != RSM_SUCCESS)
			fprintf(stderr, "exporter: no last signal from the importer (error %d)\n", rc);
		(void)rsm_intr_signal_post(seg, 0);
	}
	(void)rsm_memseg_release_pollfd(seg);
	if ((rc = rsm_memseg_export_unpublish(seg)) != RSM_SUCCESS)
		die("rsm_memseg_export_unpublish", rc);
	if ((rc = rsm_memseg_export_destroy(seg)) != RSM_SUCCESS)
		die("rsm_memseg_export_destroy", rc);
	(void)rsm_release_controller(ctl);
	munmap(box, len);
	printf("done\n");
	return 0;
}

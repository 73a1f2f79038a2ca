/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * importer -- the importing half of a Solaris-style RSMAPI pair.
 *
 * Connects to the exporter's segment and sends it messages.  Each message is
 * written in an explicit barrier loop (open, put, close; redone when the
 * close reports a transfer failure), then the exporter is signalled and its
 * acknowledgement awaited with rsm_intr_signal_wait.  The last message is
 * "bye", which stops the exporter once a last signal says its answer was read.
 *
 *   usage: importer <node> <segment id> [controller [message ...]]
 *
 * Build: make   (see Makefile; or cc importer.c $(pkg-config --cflags --libs rsm))
 */

#include <rsmapi.h>

#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mailbox.h"

static void die(const char *what, int rc)
{
	fprintf(stderr, "importer: %s failed: error %d\n", what, rc);
	exit(1);
}

/* Writes one message with an explicit barrier: every put between open and a
 * successful close has reached the exporter's memory. */
static void send_message(rsm_memseg_import_handle_t seg, rsmapi_barrier_t *bar,
    uint32_t seq, const char *text)
{
	char buf[sizeof(((struct mailbox *)0)->text)];
	int rc, tries = 0;

	memset(buf, 0, sizeof(buf));
	strncpy(buf, text, sizeof(buf) - 1);
	do {
		if ((rc = rsm_memseg_import_open_barrier(bar)) != RSM_SUCCESS)
			die("rsm_memseg_import_open_barrier", rc);
		(void)rsm_memseg_import_put(seg, offsetof(struct mailbox, text), buf, sizeof(buf));
		/* The text before the sequence number that announces it. */
		(void)rsm_memseg_import_order_barrier(bar);
		(void)rsm_memseg_import_put32(seg, offsetof(struct mailbox, seq), &seq, 1);
		rc = rsm_memseg_import_close_barrier(bar);
	} while (rc == RSMERR_BARRIER_FAILURE && ++tries < 10);
	if (rc == RSMERR_CONN_ABORTED) {
		fprintf(stderr, "importer: the exporter went away\n");
		exit(1);
	}
	if (rc != RSM_SUCCESS)
		die("rsm_memseg_import_close_barrier", rc);
}

int main(int argc, char **argv)
{
	static char *defaults[] = { "hello", "from the importer", "bye" };
	char **messages = defaults;
	int nmessages = 3, i, rc;
	rsmapi_controller_handle_t ctl;
	rsm_memseg_import_handle_t seg;
	rsmapi_barrier_t bar;
	rsm_node_id_t node;
	rsm_memseg_id_t id;
	char reply[sizeof(((struct mailbox *)0)->reply)];
	uint32_t ack;

	if (argc < 3) {
		fprintf(stderr, "usage: %s <node> <segment id> [controller [message ...]]\n", argv[0]);
		return 2;
	}
	node = (rsm_node_id_t)strtoul(argv[1], NULL, 0);
	id = (rsm_memseg_id_t)strtoul(argv[2], NULL, 0);
	if (argc > 4) {
		messages = argv + 4;
		nmessages = argc - 4;
	}

	if ((rc = rsm_get_controller(argc > 3 ? argv[3] : "loopback", &ctl)) != RSM_SUCCESS)
		die("rsm_get_controller", rc);
	if ((rc = rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &seg)) != RSM_SUCCESS)
		die("rsm_memseg_import_connect", rc);
	if ((rc = rsm_memseg_import_init_barrier(seg, RSM_BARRIER_NODE, &bar)) != RSM_SUCCESS)
		die("rsm_memseg_import_init_barrier", rc);
	if ((rc = rsm_memseg_import_set_mode(seg, RSM_BARRIER_MODE_EXPLICIT)) != RSM_SUCCESS)
		die("rsm_memseg_import_set_mode", rc);

	for (i = 0; i < nmessages; i++) {
		send_message(seg, &bar, (uint32_t)i + 1, messages[i]);
		if ((rc = rsm_intr_signal_post(seg, 0)) != RSM_SUCCESS)
			die("rsm_intr_signal_post", rc);
		if ((rc = rsm_intr_signal_wait(seg, 10 * 1000)) != RSM_SUCCESS)
			die("rsm_intr_signal_wait (no answer from the exporter)", rc);
		if ((rc = rsm_memseg_import_open_barrier(&bar)) != RSM_SUCCESS)
			die("rsm_memseg_import_open_barrier", rc);
		(void)rsm_memseg_import_get32(seg, offsetof(struct mailbox, ack), &ack, 1);
		(void)rsm_memseg_import_get(seg, offsetof(struct mailbox, reply), reply, sizeof(reply));
		if ((rc = rsm_memseg_import_close_barrier(&bar)) != RSM_SUCCESS)
			die("rsm_memseg_import_close_barrier", rc);
		reply[sizeof(reply) - 1] = '\0';
		printf("sent %u \"%s\": ack %u, \"%s\"\n", (unsigned)i + 1, messages[i], ack, reply);
	}

	/* Tell the exporter we have read its last answer: it may unpublish now.
	 * Its last signal says it got ours (we may disconnect without losing it). */
	if ((rc = rsm_intr_signal_post(seg, 0)) != RSM_SUCCESS)
		die("rsm_intr_signal_post", rc);
	(void)rsm_intr_signal_wait(seg, 10 * 1000);
	(void)rsm_memseg_import_destroy_barrier(&bar);
	if ((rc = rsm_memseg_import_disconnect(seg)) != RSM_SUCCESS)
		die("rsm_memseg_import_disconnect", rc);
	(void)rsm_release_controller(ctl);
	return 0;
}

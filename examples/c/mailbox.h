/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * The layout both example programs agree on for the exported segment.
 */

#ifndef MAILBOX_H
#define MAILBOX_H

#include <stdint.h>

struct mailbox {
	uint32_t seq;           /* written by the importer */
	uint32_t ack;           /* written by the exporter: the last seq it read */
	char text[248];         /* the importer's message */
	char reply[256];        /* the exporter's answer */
};

#endif /* MAILBOX_H */

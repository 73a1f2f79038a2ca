/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * Export side (RSMAPI 3.4, scenarios T9 and T12): rsm_memseg_export_create,
 * rsm_memseg_export_destroy, rsm_memseg_export_publish,
 * rsm_memseg_export_unpublish, rsm_memseg_export_republish,
 * rsm_memseg_export_rebind; every error in the specification's check order,
 * creator-only operations from a forked child, and caller memory that stays
 * valid at the same address.
 */

#include "rsmtest.h"

#include <sys/wait.h>

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;

static void create_errors(void)
{
	rsm_memseg_export_handle_t ex = (rsm_memseg_export_handle_t)&ex;
	rsm_memseg_export_handle_t marker = ex;
	rsmapi_controller_attr_t attr;
	char *buf = test_pages(4 * pg);
	char *hole;

	EXPECT(rsm_memseg_export_create(NULL, &ex, buf, pg, 0), RSMERR_BAD_CTLR_HNDL);
	CHECK(ex == marker, "a bad controller leaves *memseg alone (before the NULL checks)");
	EXPECT(rsm_memseg_export_create(NULL, NULL, NULL, 0, 0), RSMERR_BAD_CTLR_HNDL);
	EXPECT(rsm_memseg_export_create(ctl, NULL, buf, pg, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_create(ctl, &ex, NULL, pg, 0), RSMERR_BAD_ADDR);
	CHECK(ex == NULL, "*memseg is NULL after a failed create");
	EXPECT(rsm_memseg_export_create(ctl, &ex, NULL, 0, 0), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_export_create(ctl, &ex, buf, 0, 0), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_export_create(ctl, &ex, buf + 8, pg, 0), RSMERR_BAD_MEM_ALIGNMENT);
	EXPECT(rsm_memseg_export_create(ctl, &ex, buf, pg + 8, 0), RSMERR_BAD_MEM_ALIGNMENT);
	REQUIRE(rsm_get_controller_attr(ctl, &attr), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_create(ctl, &ex, buf, attr.attr_max_export_segment_size + pg, 0),
	    RSMERR_BAD_LENGTH);
	/* A range that is not mapped. */
	hole = test_pages(2 * pg);
	test_free_pages(hole, 2 * pg);
	EXPECT(rsm_memseg_export_create(ctl, &ex, hole, 2 * pg, 0), RSMERR_BAD_ADDR);
	CHECK(ex == NULL, "*memseg is NULL after a failed create");
	test_free_pages(buf, 4 * pg);
}

/* The exporter's memory keeps its contents and address; importers see it. */
static void create_keeps_caller_memory(void)
{
	size_t len = 4 * pg;
	char *buf = test_pages(len);
	rsm_memseg_export_handle_t ex = NULL;
	rsm_memseg_import_handle_t im = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_barrier_t bar;
	char got[32];

	strcpy(buf, "before create");
	strcpy(buf + 3 * pg, "last page");
	REQUIRE(rsm_memseg_export_create(ctl, &ex, buf, len, RSM_CREATE_SEG_DONTWAIT | 0x80), RSM_SUCCESS);
	CHECK(ex != NULL, "create sets *memseg (unknown flag bits ignored)");
	CHECK(strcmp(buf, "before create") == 0 && strcmp(buf + 3 * pg, "last page") == 0,
	    "the caller's memory keeps its contents at the same address");
	REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_get(im, 0, got, 14), RSM_SUCCESS);
	CHECK(strcmp(got, "before create") == 0, "the importer reads what the exporter had");
	strcpy(buf + 100, "written by the exporter");
	EXPECT(rsm_memseg_import_get(im, 100, got, 24), RSM_SUCCESS);
	CHECK(strcmp(got, "written by the exporter") == 0, "exporter stores reach the importer");
	EXPECT(rsm_memseg_import_put(im, 200, "written by the importer", 24), RSM_SUCCESS);
	CHECK(strcmp(buf + 200, "written by the importer") == 0, "importer puts reach the exporter's pointer");
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	CHECK(strcmp(buf + 200, "written by the importer") == 0,
	    "after destroy the caller's memory is still there with its last contents");
	buf[0] = 'X';
	CHECK(buf[0] == 'X', "and still writable");
	test_free_pages(buf, len);
}

static void publish_rules(void)
{
	char *buf = test_pages(2 * pg), *buf2 = test_pages(pg);
	rsm_memseg_export_handle_t ex = NULL, ex2 = NULL;
	rsm_memseg_id_t id = 0, id2;
	rsmapi_access_entry_t acl[65];
	int i;

	REQUIRE(rsm_memseg_export_create(ctl, &ex, buf, 2 * pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &ex2, buf2, pg, 0), RSM_SUCCESS);
	for (i = 0; i < 65; i++) {
		acl[i].ae_node = node;
		acl[i].ae_permission = 0666;
	}

	/* Check order: id pointer, handle, list. */
	EXPECT(rsm_memseg_export_publish(NULL, NULL, NULL, 0), RSMERR_BAD_SEGID);
	EXPECT(rsm_memseg_export_publish(ex, NULL, acl, 1), RSMERR_BAD_SEGID);
	EXPECT(rsm_memseg_export_publish(NULL, &id, acl, 1), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_publish(NULL, &id, NULL, 1), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 1), RSMERR_BAD_ACL);

	/* Reserved ids. */
	id = 0x200000;
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSMERR_RESERVED_SEGID);
	id = 1;
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSMERR_RESERVED_SEGID);
	id = RSM_DLPI_ID_END;
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSMERR_RESERVED_SEGID);
	id = 0x80000001;
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSMERR_RESERVED_SEGID);

	/* Malformed access lists. */
	id = 0;
	acl[0].ae_permission = 0777;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSMERR_BAD_ACL);
	acl[0].ae_permission = 0700;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSMERR_BAD_ACL);
	acl[0].ae_permission = 0666;
	acl[0].ae_node = 65;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSMERR_BAD_ACL);
	acl[0].ae_node = node + 1;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSMERR_BAD_ACL);
	acl[0].ae_node = node;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 2), RSMERR_BAD_ACL);
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 65), RSMERR_BAD_ACL);
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 100000), RSMERR_BAD_ACL);
	CHECK(id == 0, "a failed publish leaves *segment_id alone");

	/* System-assigned id. */
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSM_SUCCESS);
	CHECK(id >= RSM_USER_APP_ID_BASE, "system-assigned id 0x%x >= 0x80000000", id);
	id2 = 0;
	EXPECT(rsm_memseg_export_publish(ex, &id2, NULL, 0), RSMERR_SEG_ALREADY_PUBLISHED);
	id2 = 0x200000;
	EXPECT(rsm_memseg_export_publish(ex, &id2, NULL, 0), RSMERR_SEG_ALREADY_PUBLISHED);
	EXPECT(rsm_memseg_export_unpublish(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_unpublish(ex), RSMERR_SEG_NOT_PUBLISHED);

	/* Explicit id; the same id for another segment. */
	id = 0x600000;
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	CHECK(id == 0x600000, "explicit id kept");
	id2 = 0x600000;
	EXPECT(rsm_memseg_export_publish(ex2, &id2, NULL, 0), RSMERR_SEGID_IN_USE);
	id2 = 0x600001;
	EXPECT(rsm_memseg_export_publish(ex2, &id2, NULL, 0), RSM_SUCCESS);

	/* Republish. */
	EXPECT(rsm_memseg_export_republish(NULL, acl, 1), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_republish(ex, acl, 1), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_republish(ex, NULL, 0), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_republish(ex, NULL, 1), RSMERR_BAD_ACL);
	EXPECT(rsm_memseg_export_republish(ex, acl, 65), RSMERR_BAD_ACL);
	acl[0].ae_permission = 0777;
	EXPECT(rsm_memseg_export_republish(ex, acl, 1), RSMERR_BAD_ACL);
	acl[0].ae_permission = 0666;

	/* Unpublish frees the id; publish again works (under another id too). */
	EXPECT(rsm_memseg_export_unpublish(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_republish(ex, acl, 1), RSMERR_SEG_NOT_PUBLISHED);
	EXPECT(rsm_memseg_export_republish(ex, NULL, 1), RSMERR_SEG_NOT_PUBLISHED);
	id2 = 0x600000;
	EXPECT(rsm_memseg_export_unpublish(ex2), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_publish(ex2, &id2, NULL, 0), RSM_SUCCESS);
	id = 0x600002;
	EXPECT(rsm_memseg_export_publish(ex, &id, acl, 1), RSM_SUCCESS);

	/* Destroy unpublishes; the handle is dead afterwards. */
	EXPECT(rsm_memseg_export_destroy(NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_publish(ex, &id, NULL, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_unpublish(ex), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_republish(ex, NULL, 0), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_rebind(ex, buf, 0, 2 * pg), RSMERR_BAD_SEG_HNDL);
	id = 0x600002;
	EXPECT(rsm_memseg_export_publish(ex2, &id, NULL, 0), RSMERR_SEG_ALREADY_PUBLISHED);
	EXPECT(rsm_memseg_export_unpublish(NULL), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_destroy(ex2), RSM_SUCCESS);
	test_free_pages(buf, 2 * pg);
	test_free_pages(buf2, pg);
}

static void rebind(void)
{
	size_t len = 2 * pg;
	char *a = test_pages(len), *b = test_pages(len), *c = test_pages(3 * pg);
	rsm_memseg_export_handle_t fixed = NULL, ex = NULL;
	rsm_memseg_import_handle_t im = NULL;
	rsm_memseg_id_t id = 0;
	rsmapi_barrier_t bar;
	char got[16];

	REQUIRE(rsm_memseg_export_create(ctl, &fixed, c, pg, 0), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_rebind(fixed, c + pg, 0, pg), RSMERR_REBIND_NOT_ALLOWED);
	EXPECT(rsm_memseg_export_destroy(fixed), RSM_SUCCESS);

	strcpy(a, "old memory");
	strcpy(b, "new memory");
	REQUIRE(rsm_memseg_export_create(ctl, &ex, a, len, RSM_ALLOW_REBIND), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(ex, &id, NULL, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_connect(ctl, node, id, RSM_PERM_RDWR, &im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_SEGMENT, &bar), RSM_SUCCESS);

	EXPECT(rsm_memseg_export_rebind(NULL, b, 0, len), RSMERR_BAD_SEG_HNDL);
	EXPECT(rsm_memseg_export_rebind(ex, NULL, 0, len), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_export_rebind(ex, b + 1, 0, len), RSMERR_BAD_ADDR);
	EXPECT(rsm_memseg_export_rebind(ex, b, 0, pg), RSMERR_BAD_LENGTH);
	EXPECT(rsm_memseg_export_rebind(ex, a, 0, len), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_rebind(ex, b, 12345, len), RSM_SUCCESS);
	CHECK(strcmp(b, "new memory") == 0, "the new memory keeps its contents");
	EXPECT(rsm_memseg_import_get(im, 0, got, 11), RSM_SUCCESS);
	CHECK(strcmp(got, "new memory") == 0, "a connected importer sees the new memory");
	EXPECT(rsm_memseg_import_put(im, 0, "via import", 11), RSM_SUCCESS);
	CHECK(strcmp(b, "via import") == 0, "puts reach the new memory");
	CHECK(strcmp(a, "old memory") == 0, "the old memory is the caller's again, unchanged");

	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	test_free_pages(a, len);
	test_free_pages(b, len);
	test_free_pages(c, 3 * pg);
}

/* Publish, republish, unpublish, rebind, destroy from a forked child:
 * RSMERR_NOT_CREATOR, and the segment is unharmed. */
static void not_creator(void)
{
	char *buf = test_pages(2 * pg), *other = test_pages(2 * pg), *buf2 = test_pages(pg);
	rsm_memseg_export_handle_t ex = NULL, ex2 = NULL;
	rsm_memseg_id_t id = 0;
	pid_t pid;
	int status = -1;

	REQUIRE(rsm_memseg_export_create(ctl, &ex, buf, 2 * pg, RSM_ALLOW_REBIND), RSM_SUCCESS);
	/* Pages a live segment exports cannot be exported again (each segment re-backs its
	 * pages with memory of its own). */
	EXPECT(rsm_memseg_export_create(ctl, &ex2, buf + pg, pg, 0), RSMERR_BAD_ADDR);
	REQUIRE(rsm_memseg_export_create(ctl, &ex2, buf2, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_publish(ex2, &id, NULL, 0), RSM_SUCCESS);
	fflush(stdout);
	pid = fork();
	if (pid == 0) {
		rsm_memseg_id_t cid = 0;
		int bad = 0;

		bad |= rsm_memseg_export_publish(ex, &cid, NULL, 0) != RSMERR_NOT_CREATOR;
		bad |= rsm_memseg_export_unpublish(ex2) != RSMERR_NOT_CREATOR;
		bad |= rsm_memseg_export_republish(ex2, NULL, 0) != RSMERR_NOT_CREATOR;
		bad |= (rsm_memseg_export_rebind(ex, other, 0, 2 * pg) != RSMERR_NOT_CREATOR) << 1;
		/* Destroy frees only the child's copy of the handle; the child's view of the
		 * pages becomes private, so this write does not reach the creator's segment. */
		bad |= (rsm_memseg_export_destroy(ex2) != RSM_SUCCESS) << 2;
		buf2[0] = 'X';
		_exit(bad);
	}
	CHECK(pid > 0 && waitpid(pid, &status, 0) == pid, "forked child ran");
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
	    "publish/unpublish/republish/rebind from a forked child give RSMERR_NOT_CREATOR, its destroy succeeds "
	    "(child status %d)",
	    WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	CHECK(buf2[0] != 'X', "the child's write after its destroy did not reach the creator's segment");
	EXPECT(rsm_memseg_export_unpublish(ex2), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex2), RSM_SUCCESS);
	EXPECT(rsm_memseg_export_destroy(ex), RSM_SUCCESS);
	test_free_pages(buf, 2 * pg);
	test_free_pages(other, 2 * pg);
	test_free_pages(buf2, pg);
}

int main(void)
{
	pg = test_pagesize();
	node = test_local_node();
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	create_errors();
	create_keeps_caller_memory();
	publish_rules();
	rebind();
	not_creator();
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	return test_done();
}

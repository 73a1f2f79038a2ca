/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * The counted bad-input sweep (issue 6): every one of the 42 functions of
 * librsm is called with NULL pointers (where RSMAPI documents an error for
 * them), every bad form of every handle argument (NULL, garbage, forged,
 * stale = released/destroyed/disconnected/freed, double-freed, and live
 * handles of the wrong kind), and out-of-range values of every numeric
 * argument (sizes, offsets, alignments, permissions, modes, flags, counts,
 * timeouts, controller names, mapping attributes).  Each case asserts the
 * exact RSMERR_* code of RSMAPI (in its check order; where RSMAPI leaves the
 * choice open, the one the implementation documents).
 *
 * Every case goes through one macro, SWEEP*, which counts it (per function
 * and in total), so the figure printed at the end is the number of calls
 * made:
 *
 *     sweep: N cases, F failures
 *
 * followed by one line per function.  Only failures are printed case by case
 * (SWEEP_VERBOSE=1 prints every case).  The program exits non-zero on any
 * failure.  The Rust driver (crates/rsm-testkit/tests/c_abi.rs) runs it
 * against a real rsmd agent under ASan+UBSan and under valgrind.
 *
 * Not tested, by design: pointers aimed at unmapped non-NULL memory where a
 * pointer must be read or written (out-parameters, data buffers, barrier
 * storage): they crash, as in C.  Ranges that the library only hands to the
 * kernel to check (export memory, local memory, rebind) are tested unmapped.
 */

#include "rsmtest.h"

#include <fcntl.h>
#include <limits.h>
#include <poll.h>

/* ------------------------------------------------------------------------
 * Counting
 */

static const char *const functions[] = {
	"rsm_create_localmemory_handle", "rsm_free_interconnect_topology",
	"rsm_free_localmemory_handle", "rsm_get_controller",
	"rsm_get_controller_attr", "rsm_get_interconnect_topology",
	"rsm_get_segmentid_range", "rsm_intr_signal_post",
	"rsm_intr_signal_wait", "rsm_intr_signal_wait_pollfd",
	"rsm_memseg_export_create", "rsm_memseg_export_destroy",
	"rsm_memseg_export_publish", "rsm_memseg_export_rebind",
	"rsm_memseg_export_republish", "rsm_memseg_export_unpublish",
	"rsm_memseg_get_pollfd", "rsm_memseg_import_close_barrier",
	"rsm_memseg_import_connect", "rsm_memseg_import_destroy_barrier",
	"rsm_memseg_import_disconnect", "rsm_memseg_import_get",
	"rsm_memseg_import_get16", "rsm_memseg_import_get32",
	"rsm_memseg_import_get64", "rsm_memseg_import_get8",
	"rsm_memseg_import_get_mode", "rsm_memseg_import_getv",
	"rsm_memseg_import_init_barrier", "rsm_memseg_import_map",
	"rsm_memseg_import_open_barrier", "rsm_memseg_import_order_barrier",
	"rsm_memseg_import_put", "rsm_memseg_import_put16",
	"rsm_memseg_import_put32", "rsm_memseg_import_put64",
	"rsm_memseg_import_put8", "rsm_memseg_import_putv",
	"rsm_memseg_import_set_mode", "rsm_memseg_import_unmap",
	"rsm_memseg_release_pollfd", "rsm_release_controller",
};
#define NFUNC ((int)(sizeof(functions) / sizeof(functions[0])))

static int per_function[NFUNC];
static int cases, failures, verbose;

static void sweep_case_(const char *fn, int got, int want, int post_ok,
    const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 7, 8)));

static void sweep_case_(const char *fn, int got, int want, int post_ok,
    const char *file, int line, const char *fmt, ...)
{
	int i, ok = got == want && post_ok;
	va_list ap;

	for (i = 0; i < NFUNC && strcmp(functions[i], fn) != 0; i++)
		;
	if (i == NFUNC) {
		printf("bail out: %s is not one of the 42 functions\n", fn);
		exit(2);
	}
	per_function[i]++;
	cases++;
	if (!ok)
		failures++;
	if (ok && !verbose)
		return;
	printf("%s %d - %s: ", ok ? "ok" : "not ok", cases, fn);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf(" == %s", rsm_errname(want));
	if (got != want)
		printf(", got %s (%d)", rsm_errname(got), got);
	else if (!post_ok)
		printf(", but its postcondition does not hold");
	if (!ok)
		printf("   [%s:%d]", file, line);
	printf("\n");
	fflush(stdout);
}

/* SWEEP(fn, (args), RSMERR_x, "description", ...): one call of fn, which
 * must return exactly RSMERR_x.  The function's name is taken from the call
 * itself, so a case is always counted for the function it calls. */
#define SWEEP(fn, args, want, ...) SWEEP_AND(fn, args, want, 1, __VA_ARGS__)

/* As SWEEP, and `post` (evaluated after the call) must hold. */
#define SWEEP_AND(fn, args, want, post, ...) do {                         \
	int rc_ = fn args;                                                \
	sweep_case_(#fn, rc_, (want), !!(post), __FILE__, __LINE__,       \
	    __VA_ARGS__);                                                 \
} while (0)

/* A call of the one void function: it must return (no crash, no sanitizer
 * report), and `post` must hold. */
#define SWEEP_VOID(fn, args, post, ...) do {                              \
	fn args;                                                          \
	sweep_case_(#fn, 0, 0, !!(post), __FILE__, __LINE__, __VA_ARGS__); \
} while (0)

/* ------------------------------------------------------------------------
 * Bad handles
 */

enum kind { K_NONE, K_CTL, K_EXPORT, K_IMPORT, K_LOCALMEM, K_BARRIER };
enum state { S_GARBAGE, S_STALE, S_LIVE };

#define A_CTL (1u << K_CTL)
#define A_EXPORT (1u << K_EXPORT)
#define A_IMPORT (1u << K_IMPORT)
#define A_LOCALMEM (1u << K_LOCALMEM)
#define A_SEGMENT (A_EXPORT | A_IMPORT)

struct bad {
	void *h;
	enum kind kind;    /* what the value is a handle of (K_NONE: nothing) */
	enum state state;
	char name[96];
};

#define MAXBAD 48
static struct bad bads[MAXBAD];
static int nbads;

static void add_bad(void *h, enum kind k, enum state s, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void add_bad(void *h, enum kind k, enum state s, const char *fmt, ...)
{
	va_list ap;

	if (nbads == MAXBAD) {
		printf("bail out: too many bad handles\n");
		exit(2);
	}
	bads[nbads].h = h;
	bads[nbads].kind = k;
	bads[nbads].state = s;
	va_start(ap, fmt);
	vsnprintf(bads[nbads].name, sizeof(bads[nbads].name), fmt, ap);
	va_end(ap);
	nbads++;
}

/* Whether bads[i] is a valid argument where handles of the kinds in
 * `accept` are expected (a live handle of such a kind). */
static int valid_for(int i, unsigned accept)
{
	return bads[i].state == S_LIVE && (accept & (1u << bads[i].kind));
}

/* Iterates i over the bad handles for an argument accepting `accept`. */
#define FOR_BAD(i, accept) \
	for ((i) = 0; (i) < nbads; (i)++) if (valid_for((i), (accept))) continue; else

/* The handle encoding of crates/rsm-ffi/src/handle.rs, for forging values
 * that look like handles of each table: tag in bits 0-3, slot in bits 4-31,
 * generation in bits 32-63. */
#define FORGE(gen, slot, tag) \
	((void *)(uintptr_t)(((uint64_t)(gen) << 32) | ((uint64_t)(slot) << 4) | (uint64_t)(tag)))

static const struct {
	unsigned tag;
	enum kind kind;
	const char *name;
} tags[] = {
	{ 0x1, K_CTL, "controller" }, { 0x3, K_EXPORT, "export" },
	{ 0x5, K_IMPORT, "import" }, { 0x7, K_LOCALMEM, "local memory" },
	{ 0x9, K_BARRIER, "barrier" },
};

/* ------------------------------------------------------------------------
 * The fixture: a controller, segments in every state, and their handles
 */

static rsmapi_controller_handle_t ctl;
static rsm_node_id_t node;
static size_t pg;
static int stackvar;
static void *heap;

struct exp {
	char *buf;
	size_t len;
	rsm_memseg_export_handle_t ex;
	rsm_memseg_id_t id;
};

static struct exp E;        /* 4 pages, published to this node 0666 */
static struct exp R;        /* 1 page, published, then unpublished */
static rsm_memseg_import_handle_t im;       /* RDWR, barrier `bar` */
static rsm_memseg_import_handle_t im_ro;    /* READ, barrier */
static rsm_memseg_import_handle_t im_wo;    /* WRITE, barrier */
static rsm_memseg_import_handle_t im_none;  /* no rights, barrier */
static rsm_memseg_import_handle_t im_nobar; /* RDWR, no barrier */
static rsm_memseg_import_handle_t im_win;   /* RDWR, barrier, mapped [pg, 3 pg) */
static rsm_memseg_import_handle_t im_rev;   /* RDWR, barrier, revoked */
static rsmapi_barrier_t bar, bar_ro, bar_wo, bar_none, bar_win, bar_rev;
static void *win_addr;
static char *lbuf;          /* 2 pages under `lh` */
static rsm_localmemory_handle_t lh;
static char *data;          /* 4 pages of local data */

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
	REQUIRE(rsm_memseg_export_destroy(e->ex), RSM_SUCCESS);
	test_free_pages(e->buf, e->len);
}

static rsm_memseg_import_handle_t connect_to(struct exp *e, rsm_permission_t perm)
{
	rsm_memseg_import_handle_t h = NULL;

	REQUIRE(rsm_memseg_import_connect(ctl, node, e->id, perm, &h), RSM_SUCCESS);
	return h;
}

/* A page-aligned address with nothing mapped at [p, p + len): mapped, then
 * unmapped, just before use. */
static char *fresh_hole(size_t len)
{
	char *p = test_pages(len);

	test_free_pages(p, len);
	return p;
}

/* An address below mmap_min_addr: page aligned, never mapped. */
#define LOW_PAGE ((char *)(uintptr_t)0x1000)
/* The last page of the address space: [p, p + pg) wraps around. */
#define LAST_PAGE ((char *)(uintptr_t)(UINTPTR_MAX & ~(uintptr_t)(pg - 1)))

static void setup(void)
{
	rsmapi_controller_handle_t dead_ctl = NULL;
	rsm_memseg_export_handle_t dead_ex = NULL;
	rsm_memseg_import_handle_t dead_im = NULL;
	rsm_localmemory_handle_t dead_lh = NULL;
	rsmapi_barrier_t dead_bar;
	char *tmp;
	uint32_t v = 1;
	size_t i;

	pg = test_pagesize();
	node = test_local_node();
	heap = malloc(64);

	/* Stale handles of every kind, each in slot 0 of its table (so that
	 * the forged "slot 0, wrong generation" handles below are stale). */
	REQUIRE(rsm_get_controller("loopback", &dead_ctl), RSM_SUCCESS);
	REQUIRE(rsm_release_controller(dead_ctl), RSM_SUCCESS);
	REQUIRE(rsm_get_controller("loopback", &ctl), RSM_SUCCESS);
	CHECK(ctl != dead_ctl, "a controller got again after its last release has a new handle");
	tmp = test_pages(pg);
	REQUIRE(rsm_memseg_export_create(ctl, &dead_ex, tmp, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_destroy(dead_ex), RSM_SUCCESS);
	test_free_pages(tmp, pg);

	E = export_new(4 * pg, 0666);
	R = export_new(pg, 0666);
	REQUIRE(rsm_memseg_import_connect(ctl, node, E.id, RSM_PERM_RDWR, &dead_im), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(dead_im, RSM_BARRIER_NODE, &dead_bar), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_destroy_barrier(&dead_bar), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_disconnect(dead_im), RSM_SUCCESS);

	lbuf = test_pages(2 * pg);
	data = test_pages(4 * pg);
	tmp = test_pages(pg);
	REQUIRE(rsm_create_localmemory_handle(ctl, &dead_lh, tmp, pg), RSM_SUCCESS);
	REQUIRE(rsm_free_localmemory_handle(ctl, dead_lh), RSM_SUCCESS);
	test_free_pages(tmp, pg);
	REQUIRE(rsm_create_localmemory_handle(ctl, &lh, lbuf, 2 * pg), RSM_SUCCESS);

	/* The live import segments. */
	im = connect_to(&E, RSM_PERM_RDWR);
	im_ro = connect_to(&E, RSM_PERM_READ);
	im_wo = connect_to(&E, RSM_PERM_WRITE);
	im_none = connect_to(&E, RSM_PERM_NONE);
	im_nobar = connect_to(&E, RSM_PERM_RDWR);
	im_win = connect_to(&E, RSM_PERM_RDWR);
	im_rev = connect_to(&R, RSM_PERM_RDWR);
	REQUIRE(rsm_memseg_import_init_barrier(im, RSM_BARRIER_NODE, &bar), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im_ro, RSM_BARRIER_SEGMENT, &bar_ro), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im_wo, RSM_BARRIER_SEGMENT, &bar_wo), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im_none, RSM_BARRIER_SEGMENT, &bar_none), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im_win, RSM_BARRIER_NODE_THREAD, &bar_win), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_init_barrier(im_rev, RSM_BARRIER_SEGMENT_THREAD, &bar_rev), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_map(im_win, &win_addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)pg, 2 * pg),
	    RSM_SUCCESS);
	/* im is implicitly mapped by its first put. */
	REQUIRE(rsm_memseg_import_put32(im, 0, &v, 1), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_unpublish(R.ex), RSM_SUCCESS);

	/* The bad handles. */
	add_bad(NULL, K_NONE, S_GARBAGE, "NULL");
	add_bad(&stackvar, K_NONE, S_GARBAGE, "address of a variable");
	add_bad(heap, K_NONE, S_GARBAGE, "heap pointer");
	add_bad((void *)test_done, K_NONE, S_GARBAGE, "code address");
	add_bad((void *)(uintptr_t)0xdeadbeefUL, K_NONE, S_GARBAGE, "0xdeadbeef");
	add_bad((void *)(uintptr_t)0x1UL, K_NONE, S_GARBAGE, "0x1");
	add_bad((void *)(uintptr_t)0x5UL, K_NONE, S_GARBAGE, "0x5");
	add_bad((void *)UINTPTR_MAX, K_NONE, S_GARBAGE, "all ones");
	add_bad((void *)(uintptr_t)-16, K_NONE, S_GARBAGE, "-16");
	add_bad(LOW_PAGE, K_NONE, S_GARBAGE, "0x1000");
	for (i = 0; i < sizeof(tags) / sizeof(tags[0]); i++) {
		add_bad(FORGE(1, 0xFFFFFFF, tags[i].tag), K_NONE, S_GARBAGE,
		    "forged %s handle, no such slot", tags[i].name);
		add_bad(FORGE(0, 1, tags[i].tag), K_NONE, S_GARBAGE,
		    "forged %s handle, generation 0", tags[i].name);
		add_bad(FORGE(0xFFFFFFFFu, 0, tags[i].tag), tags[i].kind, S_STALE,
		    "forged %s handle, slot 0 of another generation", tags[i].name);
	}
	add_bad(dead_ctl, K_CTL, S_STALE, "released controller");
	add_bad(dead_ex, K_EXPORT, S_STALE, "destroyed export segment");
	add_bad(dead_im, K_IMPORT, S_STALE, "disconnected import segment");
	add_bad(dead_lh, K_LOCALMEM, S_STALE, "freed local memory handle");
	add_bad(dead_bar.privdata, K_BARRIER, S_STALE, "destroyed barrier");
	add_bad(ctl, K_CTL, S_LIVE, "live controller");
	add_bad(E.ex, K_EXPORT, S_LIVE, "live export segment");
	add_bad(im, K_IMPORT, S_LIVE, "live import segment");
	add_bad(lh, K_LOCALMEM, S_LIVE, "live local memory handle");
	add_bad(bar.privdata, K_BARRIER, S_LIVE, "live barrier");
}

/* ------------------------------------------------------------------------
 * Controller operations, topology, segment-id ranges
 */

static void sweep_controller(void)
{
	rsmapi_controller_handle_t h;
	rsmapi_controller_attr_t attr;
	char longname[400], bin[4] = { (char)0xff, (char)0xfe, '0', 0 };
	char *names[] = {
		"", "nosuch0", "nosuch", "tcp", "tcp0", "tcp1", "sci0", "wrsm1",
		"12", "0", "a/b0", "-", "_", " loopback", "loopback ", "loop back",
		"loopback\n", "loopbackx", "x99999999999", bin, longname,
	};
	size_t i;
	int b;

	memset(longname, 'a', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = 0;

	/* rsm_get_controller: the out-pointer, then the name. */
	SWEEP(rsm_get_controller, (NULL, NULL), RSMERR_BAD_CTLR_HNDL, "name NULL, controller NULL");
	SWEEP(rsm_get_controller, ("loopback", NULL), RSMERR_BAD_CTLR_HNDL, "controller NULL");
	SWEEP(rsm_get_controller, ("nosuch0", NULL), RSMERR_BAD_CTLR_HNDL, "bad name, controller NULL");
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		SWEEP(rsm_get_controller, (names[i], &h), RSMERR_CTLR_NOT_PRESENT, "name \"%.20s\"",
		    names[i] == bin ? "\\xff\\xfe0" : names[i]);

	/* rsm_release_controller: every bad handle; the live controller
	 * keeps working afterwards. */
	FOR_BAD(b, A_CTL)
		SWEEP(rsm_release_controller, (bads[b].h), RSMERR_BAD_CTLR_HNDL, "%s", bads[b].name);

	/* rsm_get_controller_attr: NULL handle, NULL attr, then the lookup:
	 * a released controller is "not present". */
	SWEEP(rsm_get_controller_attr, (NULL, NULL), RSMERR_BAD_CTLR_HNDL, "NULL, attr NULL");
	SWEEP(rsm_get_controller_attr, (ctl, NULL), RSMERR_BAD_ADDR, "attr NULL");
	FOR_BAD(b, A_CTL) {
		int want = bads[b].kind == K_CTL && bads[b].state == S_STALE ? RSMERR_CTLR_NOT_PRESENT
		    : RSMERR_BAD_CTLR_HNDL;

		SWEEP(rsm_get_controller_attr, (bads[b].h, &attr), want, "%s", bads[b].name);
		if (bads[b].kind == K_CTL && bads[b].state == S_STALE)
			SWEEP(rsm_get_controller_attr, (bads[b].h, NULL), RSMERR_BAD_ADDR, "%s, attr NULL",
			    bads[b].name);
	}
	SWEEP_AND(rsm_get_controller_attr, (ctl, &attr), RSM_SUCCESS, attr.attr_page_size == pg,
	    "the live controller after all of the above");
}

static void sweep_topology(void)
{
	rsm_topology_t *t = (rsm_topology_t *)&stackvar;
	int b;

	SWEEP(rsm_get_interconnect_topology, (NULL), RSMERR_BAD_TOPOLOGY_PTR, "NULL");
	/* Garbage in the out-parameter is overwritten, not read. */
	SWEEP_AND(rsm_get_interconnect_topology, (&t), RSM_SUCCESS,
	    t != (rsm_topology_t *)&stackvar && t->topology_hdr.local_nodeid == node,
	    "*topology_data holding garbage");

	/* rsm_free_interconnect_topology ignores anything it did not hand out. */
	SWEEP_VOID(rsm_free_interconnect_topology, (NULL), 1, "NULL");
	for (b = 0; b < nbads; b++)
		SWEEP_VOID(rsm_free_interconnect_topology, ((rsm_topology_t *)bads[b].h), 1, "%s", bads[b].name);
	SWEEP_VOID(rsm_free_interconnect_topology, ((rsm_topology_t *)((char *)t + 8)),
	    t->topology_hdr.local_nodeid == node, "a pointer into a live snapshot");
	SWEEP_VOID(rsm_free_interconnect_topology, ((rsm_topology_t *)((char *)t + 1)),
	    t->topology_hdr.local_nodeid == node, "a misaligned pointer into a live snapshot");
	rsm_free_interconnect_topology(t);
	SWEEP_VOID(rsm_free_interconnect_topology, (t), 1, "a snapshot freed already (double free)");
}

static char *write_file(const char *text)
{
	static char paths[4][64];
	static int n;
	char *p = paths[n++ % 4];
	int fd;

	snprintf(p, 64, "/tmp/rsm-sweep-XXXXXX");
	fd = mkstemp(p);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text)) {
		perror("rsm.segmentid");
		exit(2);
	}
	close(fd);
	return p;
}

static void sweep_segmentid(void)
{
	char *good = write_file("# keyword appid baseid length\n"
	    "reserved SWEEPAPP 0x600000 100\n"
	    "reserved OVERFLOWBASE 0x1ffffffff 3\n"
	    "reserved OVERFLOWLEN 0x600000 99999999999999999999\n"
	    "foo BADKEYWORD 0x600000 10\n");
	char *blank = write_file("\nreserved SWEEPAPP 0x600000 100\n");
	char *few = write_file("reserved SWEEPAPP\nreserved OTHER 0x600000 100\n");
	char longid[1000], bin[3] = { (char)0xff, (char)0xfe, 0 };
	rsm_memseg_id_t base = 0;
	uint32_t len = 0;
	const char *appid[] = { "", "nosuch", "SWEEPAPPX", "SWEEPAP", " SWEEPAPP", "#", longid, bin };
	size_t i;

	memset(longid, 'A', sizeof(longid) - 1);
	longid[sizeof(longid) - 1] = 0;

	setenv("RSM_SEGMENTID_FILE", good, 1);
	SWEEP_AND(rsm_get_segmentid_range, ("sweepapp", &base, &len), RSM_SUCCESS, base == 0x600000 && len == 100,
	    "a good file (control)");
	/* Any NULL argument, whatever the others. */
	SWEEP(rsm_get_segmentid_range, (NULL, &base, &len), RSMERR_BAD_ADDR, "appid NULL");
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", NULL, &len), RSMERR_BAD_ADDR, "baseid NULL");
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", &base, NULL), RSMERR_BAD_ADDR, "length NULL");
	SWEEP(rsm_get_segmentid_range, (NULL, NULL, &len), RSMERR_BAD_ADDR, "appid, baseid NULL");
	SWEEP(rsm_get_segmentid_range, (NULL, &base, NULL), RSMERR_BAD_ADDR, "appid, length NULL");
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", NULL, NULL), RSMERR_BAD_ADDR, "baseid, length NULL");
	SWEEP(rsm_get_segmentid_range, (NULL, NULL, NULL), RSMERR_BAD_ADDR, "all NULL");
	for (i = 0; i < sizeof(appid) / sizeof(appid[0]); i++)
		SWEEP(rsm_get_segmentid_range, (appid[i], &base, &len), RSMERR_BAD_APPID, "appid \"%.12s\"",
		    appid[i] == bin ? "\\xff\\xfe" : appid[i]);
	SWEEP(rsm_get_segmentid_range, ("OVERFLOWBASE", &base, &len), RSMERR_BAD_CONF, "baseid overflows");
	SWEEP(rsm_get_segmentid_range, ("OVERFLOWLEN", &base, &len), RSMERR_BAD_CONF, "length overflows");
	SWEEP(rsm_get_segmentid_range, ("BADKEYWORD", &base, &len), RSMERR_BAD_CONF, "keyword not reserved");
	setenv("RSM_SEGMENTID_FILE", blank, 1);
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", &base, &len), RSMERR_BAD_CONF, "blank line before the match");
	setenv("RSM_SEGMENTID_FILE", few, 1);
	SWEEP(rsm_get_segmentid_range, ("OTHER", &base, &len), RSMERR_BAD_CONF, "short line before the match");
	setenv("RSM_SEGMENTID_FILE", "/nonexistent/rsm.segmentid", 1);
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", &base, &len), RSMERR_BAD_CONF, "no such file");
	SWEEP(rsm_get_segmentid_range, (NULL, &base, &len), RSMERR_BAD_ADDR, "no such file, appid NULL");
	setenv("RSM_SEGMENTID_FILE", "/", 1);
	SWEEP(rsm_get_segmentid_range, ("SWEEPAPP", &base, &len), RSMERR_BAD_CONF, "the file is a directory");
	unsetenv("RSM_SEGMENTID_FILE");
	unlink(good);
	unlink(blank);
	unlink(few);
}

/* ------------------------------------------------------------------------
 * Export side
 */

static void sweep_export_create(void)
{
	rsm_memseg_export_handle_t h = NULL;
	rsmapi_controller_attr_t attr;
	char *buf = test_pages(2 * pg), *p;
	size_t sizes[] = { 1, 8, pg - 1, pg + 1, 2 * pg - 1, pg / 2 };
	size_t i;
	int b;

	REQUIRE(rsm_get_controller_attr(ctl, &attr), RSM_SUCCESS);
	FOR_BAD(b, A_CTL) {
		SWEEP(rsm_memseg_export_create, (bads[b].h, &h, buf, pg, 0), RSMERR_BAD_CTLR_HNDL, "%s",
		    bads[b].name);
		SWEEP(rsm_memseg_export_create, (bads[b].h, NULL, NULL, 0, 0), RSMERR_BAD_CTLR_HNDL,
		    "%s, every other argument bad too", bads[b].name);
	}
	SWEEP(rsm_memseg_export_create, (ctl, NULL, buf, pg, 0), RSMERR_BAD_SEG_HNDL, "memseg NULL");
	SWEEP(rsm_memseg_export_create, (ctl, NULL, NULL, 0, 0), RSMERR_BAD_SEG_HNDL, "memseg, vaddr NULL, size 0");
	h = (rsm_memseg_export_handle_t)&stackvar;
	SWEEP_AND(rsm_memseg_export_create, (ctl, &h, NULL, pg, 0), RSMERR_BAD_ADDR, h == NULL,
	    "vaddr NULL (and *memseg is NULL afterwards)");
	SWEEP(rsm_memseg_export_create, (ctl, &h, NULL, 0, 0), RSMERR_BAD_ADDR, "vaddr NULL, size 0");
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf, 0, 0), RSMERR_BAD_LENGTH, "size 0");
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf + 1, 0, 0), RSMERR_BAD_LENGTH, "size 0, vaddr misaligned");
	for (i = 1; i < pg; i *= 8)
		SWEEP(rsm_memseg_export_create, (ctl, &h, buf + i, pg, 0), RSMERR_BAD_MEM_ALIGNMENT,
		    "vaddr page + %zu", i);
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf + pg / 2, pg, 0), RSMERR_BAD_MEM_ALIGNMENT, "vaddr half a page");
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		SWEEP(rsm_memseg_export_create, (ctl, &h, buf, sizes[i], 0), RSMERR_BAD_MEM_ALIGNMENT, "size %zu",
		    sizes[i]);
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf, SIZE_MAX, 0), RSMERR_BAD_MEM_ALIGNMENT, "size SIZE_MAX");
	/* Over the controller's maximum. */
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf, SIZE_MAX & ~(pg - 1), 0), RSMERR_BAD_LENGTH,
	    "size SIZE_MAX rounded down to pages");
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf, (attr.attr_max_export_segment_size & ~(pg - 1)) + pg, 0),
	    RSMERR_BAD_LENGTH, "size max_export_segment_size + one page");
	SWEEP(rsm_memseg_export_create, (ctl, &h, buf + 1, (attr.attr_max_export_segment_size & ~(pg - 1)) + pg, 0),
	    RSMERR_BAD_MEM_ALIGNMENT, "misaligned and over the maximum");
	/* Ranges that are not mapped (the kernel says so; nothing is touched). */
	SWEEP(rsm_memseg_export_create, (ctl, &h, LOW_PAGE, pg, 0), RSMERR_BAD_ADDR, "vaddr 0x1000 (never mapped)");
	SWEEP(rsm_memseg_export_create, (ctl, &h, LAST_PAGE, pg, 0), RSMERR_BAD_ADDR,
	    "vaddr the last page (vaddr + size wraps)");
	SWEEP(rsm_memseg_export_create, (ctl, &h, LAST_PAGE, 2 * pg, 0), RSMERR_BAD_ADDR,
	    "vaddr + size wraps past the end of the address space");
	p = fresh_hole(pg);
	SWEEP(rsm_memseg_export_create, (ctl, &h, p, pg, 0), RSMERR_BAD_ADDR, "unmapped range");
	p = test_pages(2 * pg);
	test_free_pages(p + pg, pg);
	SWEEP(rsm_memseg_export_create, (ctl, &h, p, 2 * pg, 0), RSMERR_BAD_ADDR, "range running into a hole");
	test_free_pages(p, pg);
	/* Flags: unknown bits are ignored (RSMAPI: "other bits ignored"). */
	SWEEP_AND(rsm_memseg_export_create, (ctl, &h, buf, pg, 0xFFFFFFFCu), RSM_SUCCESS, h != NULL,
	    "flags with every unknown bit");
	REQUIRE(rsm_memseg_export_destroy(h), RSM_SUCCESS);
	SWEEP_AND(rsm_memseg_export_create, (ctl, &h, buf, pg, 0xFFFFFFFFu), RSM_SUCCESS, h != NULL,
	    "flags all ones");
	REQUIRE(rsm_memseg_export_destroy(h), RSM_SUCCESS);
	test_free_pages(buf, 2 * pg);
}

static void sweep_export_destroy(void)
{
	rsm_memseg_export_handle_t d = NULL;
	char *buf = test_pages(pg);
	struct pollfd pfd;
	int b;

	FOR_BAD(b, A_EXPORT)
		SWEEP(rsm_memseg_export_destroy, (bads[b].h), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
	REQUIRE(rsm_memseg_export_create(ctl, &d, buf, pg, 0), RSM_SUCCESS);
	/* A poll descriptor needs a published segment (RSMAPI 3.10). */
	SWEEP(rsm_memseg_get_pollfd, (d, &pfd), RSMERR_BAD_SEG_HNDL, "pollfd of an unpublished segment");
	{
		rsm_memseg_id_t did = 0;
		REQUIRE(rsm_memseg_export_publish(d, &did, NULL, 0), RSM_SUCCESS);
	}
	REQUIRE(rsm_memseg_get_pollfd(d, &pfd), RSM_SUCCESS);
	SWEEP(rsm_memseg_export_destroy, (d), RSMERR_POLLFD_IN_USE, "poll descriptor held");
	SWEEP(rsm_memseg_export_unpublish, (d), RSMERR_POLLFD_IN_USE, "unpublish with a poll descriptor held");
	REQUIRE(rsm_memseg_release_pollfd(d), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_destroy(d), RSM_SUCCESS);
	SWEEP(rsm_memseg_export_destroy, (d), RSMERR_BAD_SEG_HNDL, "destroyed just now (double destroy)");
	test_free_pages(buf, pg);
}

static void sweep_export_rebind(void)
{
	rsm_memseg_export_handle_t xr = NULL, xn = NULL;
	char *xbuf = test_pages(2 * pg), *nbuf = test_pages(2 * pg), *nbuf1 = test_pages(pg), *p;
	size_t sizes[] = { 0, 1, pg, pg + 1, 2 * pg - 1, 2 * pg + 1, 3 * pg, SIZE_MAX, SIZE_MAX & ~(pg - 1) };
	offset_t offs[] = { -1, LLONG_MIN, LLONG_MAX, 1, (offset_t)pg };
	size_t i;
	int b;

	REQUIRE(rsm_memseg_export_create(ctl, &xr, xbuf, 2 * pg, RSM_ALLOW_REBIND), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &xn, nbuf1, pg, 0), RSM_SUCCESS);
	FOR_BAD(b, A_EXPORT) {
		SWEEP(rsm_memseg_export_rebind, (bads[b].h, nbuf, 0, 2 * pg), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_memseg_export_rebind, (bads[b].h, NULL, -1, 0), RSMERR_BAD_SEG_HNDL,
		    "%s, every other argument bad too", bads[b].name);
	}
	/* Address: NULL, misaligned, unmapped, overlapping the current range. */
	SWEEP(rsm_memseg_export_rebind, (xr, NULL, 0, 2 * pg), RSMERR_BAD_ADDR, "vaddr NULL");
	SWEEP(rsm_memseg_export_rebind, (xr, NULL, 0, 0), RSMERR_BAD_ADDR, "vaddr NULL, size 0");
	for (i = 1; i < pg; i *= 8)
		SWEEP(rsm_memseg_export_rebind, (xr, nbuf + i, 0, 2 * pg), RSMERR_BAD_ADDR, "vaddr page + %zu", i);
	SWEEP(rsm_memseg_export_rebind, (xr, nbuf + 1, 0, 0), RSMERR_BAD_ADDR, "vaddr misaligned, size 0");
	SWEEP(rsm_memseg_export_rebind, (xr, LOW_PAGE, 0, 2 * pg), RSMERR_BAD_ADDR, "vaddr 0x1000 (never mapped)");
	SWEEP(rsm_memseg_export_rebind, (xr, LAST_PAGE, 0, 2 * pg), RSMERR_BAD_ADDR, "vaddr + size wraps");
	p = fresh_hole(2 * pg);
	SWEEP(rsm_memseg_export_rebind, (xr, p, 0, 2 * pg), RSMERR_BAD_ADDR, "unmapped range");
	p = test_pages(2 * pg);
	test_free_pages(p + pg, pg);
	SWEEP(rsm_memseg_export_rebind, (xr, p, 0, 2 * pg), RSMERR_BAD_ADDR, "range running into a hole");
	test_free_pages(p, pg);
	SWEEP(rsm_memseg_export_rebind, (xr, xbuf + pg, 0, 2 * pg), RSMERR_BAD_ADDR,
	    "range overlapping the current one (above)");
	SWEEP(rsm_memseg_export_rebind, (xr, (char *)((uintptr_t)xbuf - pg), 0, 2 * pg), RSMERR_BAD_ADDR,
	    "range overlapping the current one (below)");
	/* Size must be the segment's. */
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		SWEEP(rsm_memseg_export_rebind, (xr, nbuf, 0, sizes[i]), RSMERR_BAD_LENGTH, "size %zu", sizes[i]);
	SWEEP(rsm_memseg_export_rebind, (xr, LOW_PAGE, 0, pg), RSMERR_BAD_LENGTH,
	    "size wrong and range unmapped: size first");
	/* `off` is ignored: rebinding to the current address is a no-op. */
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		SWEEP(rsm_memseg_export_rebind, (xr, xbuf, offs[i], 2 * pg), RSM_SUCCESS, "off %lld (ignored)",
		    (long long)offs[i]);
	/* Created without RSM_ALLOW_REBIND: after the address checks. */
	SWEEP(rsm_memseg_export_rebind, (xn, nbuf, 0, pg), RSMERR_REBIND_NOT_ALLOWED, "no RSM_ALLOW_REBIND");
	SWEEP(rsm_memseg_export_rebind, (xn, nbuf1, 0, pg), RSMERR_REBIND_NOT_ALLOWED,
	    "no RSM_ALLOW_REBIND, same address");
	SWEEP(rsm_memseg_export_rebind, (xn, nbuf, 0, 0), RSMERR_REBIND_NOT_ALLOWED,
	    "no RSM_ALLOW_REBIND, size 0: the flag first");
	SWEEP(rsm_memseg_export_rebind, (xn, NULL, 0, pg), RSMERR_BAD_ADDR, "no RSM_ALLOW_REBIND, vaddr NULL");
	SWEEP(rsm_memseg_export_rebind, (xn, nbuf + 1, 0, pg), RSMERR_BAD_ADDR,
	    "no RSM_ALLOW_REBIND, vaddr misaligned");
	REQUIRE(rsm_memseg_export_destroy(xr), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_destroy(xn), RSM_SUCCESS);
	SWEEP(rsm_memseg_export_rebind, (xr, nbuf, 0, 2 * pg), RSMERR_BAD_SEG_HNDL, "destroyed just now");
	test_free_pages(xbuf, 2 * pg);
	test_free_pages(nbuf, 2 * pg);
	test_free_pages(nbuf1, pg);
}

/* Access lists RSMAPI rejects on the loopback controller. */
static void bad_acls(rsm_memseg_export_handle_t p, int publish)
{
	rsmapi_access_entry_t big[65], one, two[2];
	rsm_node_id_t nodes[] = { 0, 2, 63, 64, 65, 1000, 0xFFFFFFFFu };
	rsm_permission_t perms[] = { 0667, 0670, 0700, 0777, 01000, 07777, 0x80000000u, 0xFFFFFFFFu };
	uint_t lens[] = { 1, 2, 64, 65, 1000, UINT_MAX };
	rsm_memseg_id_t id = 0;
	size_t i;

#define ACL_CASE(list, n, ...) do {                                                          \
	if (publish)                                                                         \
		SWEEP(rsm_memseg_export_publish, (p, &id, (list), (n)), RSMERR_BAD_ACL, __VA_ARGS__); \
	else                                                                                 \
		SWEEP(rsm_memseg_export_republish, (p, (list), (n)), RSMERR_BAD_ACL, __VA_ARGS__); \
} while (0)
	for (i = 0; i < sizeof(lens) / sizeof(lens[0]); i++)
		ACL_CASE(NULL, lens[i], "access list NULL, length %u", lens[i]);
	for (i = 0; i < 65; i++) {
		big[i].ae_node = node;
		big[i].ae_permission = 0666;
	}
	ACL_CASE(big, 65, "65 entries");
	ACL_CASE(big, 2, "2 entries (loopback allows one)");
	ACL_CASE(big, UINT_MAX, "length UINT_MAX (no entry past the 64th is read)");
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (nodes[i] == node)
			continue;
		one.ae_node = nodes[i];
		one.ae_permission = 0666;
		ACL_CASE(&one, 1, "node %u (not the local node)", nodes[i]);
	}
	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		one.ae_node = node;
		one.ae_permission = perms[i];
		ACL_CASE(&one, 1, "permission %#o", perms[i]);
	}
	two[0].ae_node = node;
	two[0].ae_permission = 0666;
	two[1].ae_node = node + 1;
	two[1].ae_permission = 0666;
	ACL_CASE(two, 2, "a second entry for another node");
#undef ACL_CASE
}

static void sweep_export_publish(void)
{
	rsm_memseg_export_handle_t p = NULL, q = NULL;
	char *pbuf = test_pages(pg), *qbuf = test_pages(pg);
	rsm_memseg_id_t reserved[] = { 1, 2, 0xFFFFF, 0x100000, 0x1FFFFF, 0x200000, 0x2FFFFF, 0x300000,
	    0x3FFFFF, 0x80000000u, 0x80000001u, 0xFFFFFFFEu, 0xFFFFFFFFu };
	rsmapi_access_entry_t ok = { 0, 0666 }, bad = { 0, 0777 };
	rsm_memseg_id_t id = 0, fixed = 0x5A0000 + (rsm_memseg_id_t)(getpid() & 0xFFFF);
	size_t i;
	int b;

	ok.ae_node = node;
	bad.ae_node = node;
	REQUIRE(rsm_memseg_export_create(ctl, &p, pbuf, pg, 0), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_create(ctl, &q, qbuf, pg, 0), RSM_SUCCESS);

	/* The id pointer first, then the handle. */
	SWEEP(rsm_memseg_export_publish, (p, NULL, NULL, 0), RSMERR_BAD_SEGID, "segment_id NULL");
	SWEEP(rsm_memseg_export_publish, (p, NULL, NULL, 1), RSMERR_BAD_SEGID, "segment_id NULL, bad list");
	FOR_BAD(b, A_EXPORT) {
		id = 0;
		SWEEP(rsm_memseg_export_publish, (bads[b].h, &id, NULL, 0), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_memseg_export_publish, (bads[b].h, NULL, NULL, 0), RSMERR_BAD_SEGID,
		    "%s, segment_id NULL", bads[b].name);
		SWEEP(rsm_memseg_export_publish, (bads[b].h, &id, NULL, 1), RSMERR_BAD_SEG_HNDL,
		    "%s, access list NULL with length 1", bads[b].name);
	}
	/* The list, then the id. */
	bad_acls(p, 1);
	for (i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++) {
		id = reserved[i];
		SWEEP(rsm_memseg_export_publish, (p, &id, &ok, 1), RSMERR_RESERVED_SEGID, "segment id %#x",
		    reserved[i]);
	}
	id = 1;
	SWEEP(rsm_memseg_export_publish, (p, &id, NULL, 1), RSMERR_BAD_ACL,
	    "reserved id, access list NULL: the list first");
	id = 1;
	SWEEP(rsm_memseg_export_publish, (p, &id, &bad, 1), RSMERR_RESERVED_SEGID,
	    "reserved id, bad entry: the id first");
	/* In use. */
	id = fixed;
	REQUIRE(rsm_memseg_export_publish(p, &id, &ok, 1), RSM_SUCCESS);
	id = fixed;
	SWEEP(rsm_memseg_export_publish, (q, &id, &ok, 1), RSMERR_SEGID_IN_USE, "segment id of another segment");
	id = fixed;
	SWEEP(rsm_memseg_export_publish, (q, &id, NULL, 0), RSMERR_SEGID_IN_USE,
	    "segment id of another segment, empty list");
	/* Published already: before the id and the list. */
	id = 0;
	SWEEP(rsm_memseg_export_publish, (p, &id, &ok, 1), RSMERR_SEG_ALREADY_PUBLISHED, "published already");
	id = 1;
	SWEEP(rsm_memseg_export_publish, (p, &id, &ok, 1), RSMERR_SEG_ALREADY_PUBLISHED,
	    "published already, reserved id");
	id = 0;
	SWEEP(rsm_memseg_export_publish, (p, &id, &bad, 1), RSMERR_SEG_ALREADY_PUBLISHED,
	    "published already, bad entry");

	/* Republish on a published segment: every bad list. */
	FOR_BAD(b, A_EXPORT) {
		SWEEP(rsm_memseg_export_republish, (bads[b].h, &ok, 1), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_memseg_export_republish, (bads[b].h, NULL, 1), RSMERR_BAD_SEG_HNDL,
		    "%s, access list NULL with length 1", bads[b].name);
	}
	bad_acls(p, 0);

	/* Unpublish. */
	FOR_BAD(b, A_EXPORT)
		SWEEP(rsm_memseg_export_unpublish, (bads[b].h), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
	SWEEP(rsm_memseg_export_unpublish, (q), RSMERR_SEG_NOT_PUBLISHED, "never published");
	REQUIRE(rsm_memseg_export_unpublish(p), RSM_SUCCESS);
	SWEEP(rsm_memseg_export_unpublish, (p), RSMERR_SEG_NOT_PUBLISHED, "unpublished just now (twice)");
	SWEEP(rsm_memseg_export_republish, (p, &ok, 1), RSMERR_SEG_NOT_PUBLISHED, "not published");
	SWEEP(rsm_memseg_export_republish, (p, NULL, 1), RSMERR_SEG_NOT_PUBLISHED,
	    "not published, access list NULL with length 1");
	SWEEP(rsm_memseg_export_republish, (q, &bad, 1), RSMERR_SEG_NOT_PUBLISHED, "never published, bad entry");
	/* The id is free again for the other segment. */
	id = fixed;
	SWEEP_AND(rsm_memseg_export_publish, (q, &id, &ok, 1), RSM_SUCCESS, id == fixed,
	    "the id given back by unpublish (control)");
	REQUIRE(rsm_memseg_export_destroy(p), RSM_SUCCESS);
	REQUIRE(rsm_memseg_export_destroy(q), RSM_SUCCESS);
	id = 0;
	SWEEP(rsm_memseg_export_publish, (p, &id, NULL, 0), RSMERR_BAD_SEG_HNDL, "destroyed just now");
	SWEEP(rsm_memseg_export_republish, (q, NULL, 0), RSMERR_BAD_SEG_HNDL, "destroyed just now");
	SWEEP(rsm_memseg_export_unpublish, (q), RSMERR_BAD_SEG_HNDL, "destroyed just now");
	test_free_pages(pbuf, pg);
	test_free_pages(qbuf, pg);
}

/* ------------------------------------------------------------------------
 * Import side: connect, disconnect, map, unmap, modes
 */

static void sweep_connect(void)
{
	rsm_memseg_import_handle_t h = NULL;
	rsm_permission_t perms[] = { 01, 02, 04, 07, 010, 060, 070, 0100, 0601, 0606, 0666, 0700, 0777, 01000,
	    01600, 0x80000000u, 0xFFFFFFFFu };
	rsm_node_id_t nodes[] = { 0, 2, 3, 63, 64, 65, 1000, 0x7FFFFFFFu, 0xFFFFFFFFu };
	rsm_memseg_id_t ids[] = { 0, 1, 0x3FFFFF, 0x400000, 0x7FFFFFFFu, 0xFFFFFFFFu };
	size_t i;
	int b;

	FOR_BAD(b, A_CTL) {
		SWEEP(rsm_memseg_import_connect, (bads[b].h, node, E.id, RSM_PERM_RDWR, &h), RSMERR_BAD_CTLR_HNDL, "%s",
		    bads[b].name);
		SWEEP(rsm_memseg_import_connect, (bads[b].h, node, E.id, 0777, NULL), RSMERR_BAD_CTLR_HNDL,
		    "%s, every other argument bad too", bads[b].name);
	}
	SWEEP(rsm_memseg_import_connect, (ctl, node, E.id, RSM_PERM_RDWR, NULL), RSMERR_BAD_SEG_HNDL, "im_memseg NULL");
	SWEEP(rsm_memseg_import_connect, (ctl, node + 1, 1, 0777, NULL), RSMERR_BAD_SEG_HNDL,
	    "im_memseg NULL, every other argument bad too");
	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++) {
		h = (rsm_memseg_import_handle_t)&stackvar;
		SWEEP_AND(rsm_memseg_import_connect, (ctl, node, E.id, perms[i], &h), RSMERR_PERM_DENIED, h == NULL,
		    "perm %#o (and *im_memseg is NULL afterwards)", perms[i]);
	}
	SWEEP(rsm_memseg_import_connect, (ctl, node + 1, E.id, 0777, &h), RSMERR_PERM_DENIED,
	    "perm 0777, another node: perm first");
	for (i = 0; i < sizeof(nodes) / sizeof(nodes[0]); i++) {
		if (nodes[i] == node)
			continue;
		SWEEP(rsm_memseg_import_connect, (ctl, nodes[i], E.id, RSM_PERM_RDWR, &h), RSMERR_CTLR_NOT_PRESENT,
		    "node %u through loopback", nodes[i]);
	}
	for (i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
		if (ids[i] == E.id)
			continue;
		SWEEP(rsm_memseg_import_connect, (ctl, node, ids[i], RSM_PERM_RDWR, &h), RSMERR_SEG_NOT_PUBLISHED,
		    "segment id %#x", ids[i]);
	}
	SWEEP(rsm_memseg_import_connect, (ctl, node, R.id, RSM_PERM_RDWR, &h), RSMERR_SEG_NOT_PUBLISHED,
	    "an unpublished segment's id");
	SWEEP(rsm_memseg_import_connect, (ctl, node, E.id + 1000, RSM_PERM_RDWR, &h), RSMERR_SEG_NOT_PUBLISHED,
	    "an id never published");
}

static void sweep_disconnect(void)
{
	rsm_memseg_import_handle_t t = connect_to(&E, RSM_PERM_RDWR);
	struct pollfd pfd;
	int b;

	FOR_BAD(b, A_IMPORT)
		SWEEP(rsm_memseg_import_disconnect, (bads[b].h), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
	SWEEP(rsm_memseg_import_disconnect, (im_win), RSMERR_SEG_STILL_MAPPED, "explicitly mapped");
	REQUIRE(rsm_memseg_get_pollfd(im_win, &pfd), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_disconnect, (im_win), RSMERR_SEG_STILL_MAPPED,
	    "explicitly mapped and a poll descriptor held: mapping first");
	REQUIRE(rsm_memseg_release_pollfd(im_win), RSM_SUCCESS);
	REQUIRE(rsm_memseg_get_pollfd(t, &pfd), RSM_SUCCESS);
	REQUIRE(rsm_memseg_get_pollfd(t, &pfd), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_disconnect, (t), RSMERR_POLLFD_IN_USE, "two poll descriptor references held");
	REQUIRE(rsm_memseg_release_pollfd(t), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_disconnect, (t), RSMERR_POLLFD_IN_USE, "one poll descriptor reference held");
	REQUIRE(rsm_memseg_release_pollfd(t), RSM_SUCCESS);
	/* Releases below zero are ignored (the count never goes negative). */
	SWEEP(rsm_memseg_release_pollfd, (t), RSM_SUCCESS, "released more often than got");
	SWEEP(rsm_memseg_release_pollfd, (t), RSM_SUCCESS, "released more often than got, again");
	REQUIRE(rsm_memseg_get_pollfd(t, &pfd), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_disconnect, (t), RSMERR_POLLFD_IN_USE,
	    "one reference held after releases below zero");
	REQUIRE(rsm_memseg_release_pollfd(t), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_disconnect(t), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_disconnect, (t), RSMERR_BAD_SEG_HNDL, "disconnected just now (twice)");
}

static void sweep_map(void)
{
	rsm_memseg_import_handle_t m = connect_to(&E, RSM_PERM_RDWR);
	void *addr = NULL, *marker;
	char *page = test_pages(pg);
	size_t size = E.len, i;
	rsm_permission_t perms[] = { 0601, 0602, 0604, 0606, 0666, 0700, 0777, 01000, 01600, 0x80000000u,
	    0xFFFFFFFFu, 01, 07, 060, 066, 0200 | 01 };
	off_t offs[] = { 1, 8, (off_t)(pg / 2), (off_t)(pg + 1), (off_t)(3 * pg + 4) };
	unsigned attrs[] = { 3, 4, 0x80, 0x7FFFFFFFu, 0xFFFFFFFFu };
	int b;

	FOR_BAD(b, A_IMPORT) {
		SWEEP(rsm_memseg_import_map, (bads[b].h, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_SEG_HNDL,
		    "%s", bads[b].name);
		SWEEP(rsm_memseg_import_map, (bads[b].h, NULL, (rsm_attribute_t)9, 0777, 1, 0), RSMERR_BAD_SEG_HNDL,
		    "%s, every other argument bad too", bads[b].name);
	}
	SWEEP(rsm_memseg_import_map, (m, NULL, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_ADDR, "address NULL");
	SWEEP(rsm_memseg_import_map, (m, NULL, RSM_MAP_NONE, 0777, 1, 0), RSMERR_BAD_ADDR,
	    "address NULL, perm, offset, length bad too");
	/* perm over 0600, or more than the connection's rights (RDWR). */
	for (i = 0; i < sizeof(perms) / sizeof(perms[0]); i++)
		SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, perms[i], 0, pg), RSMERR_BAD_PERMS, "perm %#o",
		    perms[i]);
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, 0777, 1, 0), RSMERR_BAD_PERMS,
	    "perm 0777, length 0, offset 1: perm first");
	/* Length, then offset alignment. */
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, 0), RSMERR_BAD_LENGTH, "length 0");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, size + 1), RSMERR_BAD_LENGTH,
	    "length size + 1");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, SIZE_MAX), RSMERR_BAD_LENGTH,
	    "length SIZE_MAX");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)pg, size), RSMERR_BAD_LENGTH,
	    "offset + length past the end");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)size, 1), RSMERR_BAD_LENGTH,
	    "offset at the end");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, -(off_t)pg, pg), RSMERR_BAD_LENGTH,
	    "offset -page");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, LONG_MIN, pg), RSMERR_BAD_LENGTH,
	    "offset LONG_MIN");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)(LONG_MAX & ~(long)(pg - 1)), pg),
	    RSMERR_BAD_LENGTH, "offset LONG_MAX rounded down to pages");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, (off_t)pg, SIZE_MAX - pg + 1),
	    RSMERR_BAD_LENGTH, "offset + length wraps to 0");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 1, 0), RSMERR_BAD_LENGTH,
	    "length 0, offset misaligned: length first");
	for (i = 0; i < sizeof(offs) / sizeof(offs[0]); i++)
		SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, offs[i], 1),
		    RSMERR_BAD_MEM_ALIGNMENT, "offset %ld", (long)offs[i]);
	/* RSM_MAP_FIXED: *address is read. */
	marker = page + 8;
	addr = marker;
	SWEEP_AND(rsm_memseg_import_map, (m, &addr, RSM_MAP_FIXED, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_MEM_ALIGNMENT,
	    addr == marker, "RSM_MAP_FIXED at page + 8 (and *address is left alone)");
	addr = (void *)(uintptr_t)1;
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_FIXED, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_MEM_ALIGNMENT,
	    "RSM_MAP_FIXED at 0x1");
	addr = NULL;
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_FIXED, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_ADDR,
	    "RSM_MAP_FIXED at NULL");
	/* An attribute that is none of RSM_MAP_NONE, _FIXED, _RESERVED. */
	for (i = 0; i < sizeof(attrs) / sizeof(attrs[0]); i++) {
		addr = NULL;
		SWEEP(rsm_memseg_import_map, (m, &addr, (rsm_attribute_t)attrs[i], RSM_PERM_RDWR, 0, pg),
		    RSMERR_MAP_FAILED, "attr %#x", attrs[i]);
	}
	/* RSM_MAP_RESERVED has no defined behaviour: it maps as RSM_MAP_NONE. */
	addr = NULL;
	SWEEP_AND(rsm_memseg_import_map, (m, &addr, RSM_MAP_RESERVED, RSM_PERM_RDWR, 0, pg), RSM_SUCCESS,
	    addr != NULL, "RSM_MAP_RESERVED (as RSM_MAP_NONE)");
	/* Mapped already: before every other check. */
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_SEG_ALREADY_MAPPED,
	    "mapped already");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, 0777, 1, 0), RSMERR_SEG_ALREADY_MAPPED,
	    "mapped already, perm, offset, length bad too");
	SWEEP(rsm_memseg_import_map, (im_win, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_SEG_ALREADY_MAPPED,
	    "mapped already (window)");
	SWEEP(rsm_memseg_import_map, (im, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_SEG_ALREADY_MAPPED,
	    "mapped implicitly by a put");
	REQUIRE(rsm_memseg_import_unmap(m), RSM_SUCCESS);
	/* Rights of the connection. */
	SWEEP(rsm_memseg_import_map, (im_ro, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_PERMS,
	    "RDWR on a read-only connection");
	SWEEP(rsm_memseg_import_map, (im_ro, &addr, RSM_MAP_NONE, RSM_PERM_WRITE, 0, pg), RSMERR_BAD_PERMS,
	    "WRITE on a read-only connection");
	SWEEP(rsm_memseg_import_map, (im_wo, &addr, RSM_MAP_NONE, RSM_PERM_READ, 0, pg), RSMERR_BAD_PERMS,
	    "READ on a write-only connection");
	SWEEP(rsm_memseg_import_map, (im_none, &addr, RSM_MAP_NONE, RSM_PERM_READ, 0, pg), RSMERR_BAD_PERMS,
	    "READ on a connection without rights");
	/* Revoked. */
	SWEEP(rsm_memseg_import_map, (im_rev, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_CONN_ABORTED,
	    "revoked (exporter unpublished)");
	SWEEP(rsm_memseg_import_map, (im_rev, &addr, RSM_MAP_NONE, 0777, 0, pg), RSMERR_BAD_PERMS,
	    "revoked, perm 0777: perm first");
	SWEEP(rsm_memseg_import_map, (im_rev, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, 2 * pg), RSMERR_BAD_LENGTH,
	    "revoked, past the end: length first");

	/* Unmap. */
	FOR_BAD(b, A_IMPORT)
		SWEEP(rsm_memseg_import_unmap, (bads[b].h), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
	SWEEP(rsm_memseg_import_unmap, (m), RSMERR_SEG_NOT_MAPPED, "unmapped just now (twice)");
	SWEEP(rsm_memseg_import_unmap, (im_ro), RSMERR_SEG_NOT_MAPPED, "never mapped");
	SWEEP(rsm_memseg_import_unmap, (im_rev), RSMERR_SEG_NOT_MAPPED, "revoked, never mapped");
	REQUIRE(rsm_memseg_import_disconnect(m), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_unmap, (m), RSMERR_BAD_SEG_HNDL, "disconnected just now");
	SWEEP(rsm_memseg_import_map, (m, &addr, RSM_MAP_NONE, RSM_PERM_RDWR, 0, pg), RSMERR_BAD_SEG_HNDL,
	    "disconnected just now");
	test_free_pages(page, pg);
}

static void sweep_modes(void)
{
	unsigned modes[] = { 2, 3, 0x10, 0x7FFFFFFFu, 0x80000000u, 0xFFFFFFFFu };
	rsm_barrier_mode_t mode = RSM_BARRIER_MODE_EXPLICIT;
	size_t i;
	int b;

	FOR_BAD(b, A_IMPORT) {
		SWEEP(rsm_memseg_import_set_mode, (bads[b].h, RSM_BARRIER_MODE_EXPLICIT), RSMERR_BAD_SEG_HNDL, "%s",
		    bads[b].name);
		SWEEP(rsm_memseg_import_set_mode, (bads[b].h, (rsm_barrier_mode_t)7), RSMERR_BAD_SEG_HNDL,
		    "%s, mode 7", bads[b].name);
		SWEEP(rsm_memseg_import_get_mode, (bads[b].h, &mode), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_memseg_import_get_mode, (bads[b].h, NULL), RSMERR_BAD_SEG_HNDL, "%s, mode NULL",
		    bads[b].name);
	}
	for (i = 0; i < sizeof(modes) / sizeof(modes[0]); i++)
		SWEEP_AND(rsm_memseg_import_set_mode, (im, (rsm_barrier_mode_t)modes[i]), RSMERR_BAD_MODE,
		    rsm_memseg_import_get_mode(im, &mode) == RSM_SUCCESS && mode == RSM_BARRIER_MODE_IMPLICIT,
		    "mode %#x (and the mode stays implicit)", modes[i]);
	SWEEP(rsm_memseg_import_get_mode, (im, NULL), RSMERR_BAD_ADDR, "mode NULL");
	SWEEP(rsm_memseg_import_set_mode, (im_rev, (rsm_barrier_mode_t)2), RSMERR_BAD_MODE, "revoked, mode 2");
}

/* ------------------------------------------------------------------------
 * Get and put
 */

typedef int (*xfer_fn)(rsm_memseg_import_handle_t, off_t, void *, unsigned long);

/* One wrapper per function, so that a table can drive all ten; the table
 * entry's name is the function the wrapper calls. */
#define XFER_WRAP(fn, T)                                                                   \
	static int w_##fn(rsm_memseg_import_handle_t h, off_t off, void *p, unsigned long n) \
	{                                                                                  \
		return fn(h, off, (T *)p, n);                                              \
	}
XFER_WRAP(rsm_memseg_import_get8, uint8_t)
XFER_WRAP(rsm_memseg_import_get16, uint16_t)
XFER_WRAP(rsm_memseg_import_get32, uint32_t)
XFER_WRAP(rsm_memseg_import_get64, uint64_t)
XFER_WRAP(rsm_memseg_import_get, void)
XFER_WRAP(rsm_memseg_import_put8, uint8_t)
XFER_WRAP(rsm_memseg_import_put16, uint16_t)
XFER_WRAP(rsm_memseg_import_put32, uint32_t)
XFER_WRAP(rsm_memseg_import_put64, uint64_t)
XFER_WRAP(rsm_memseg_import_put, void)

static const struct xfer {
	const char *name;
	xfer_fn fn;
	unsigned long w;  /* item size (1 for get/put, whose count is a length) */
	int put;
} xfers[] = {
#define XFER(fn, w, put) { #fn, w_##fn, w, put }
	XFER(rsm_memseg_import_get8, 1, 0), XFER(rsm_memseg_import_get16, 2, 0),
	XFER(rsm_memseg_import_get32, 4, 0), XFER(rsm_memseg_import_get64, 8, 0),
	XFER(rsm_memseg_import_get, 1, 0), XFER(rsm_memseg_import_put8, 1, 1),
	XFER(rsm_memseg_import_put16, 2, 1), XFER(rsm_memseg_import_put32, 4, 1),
	XFER(rsm_memseg_import_put64, 8, 1), XFER(rsm_memseg_import_put, 1, 1),
#undef XFER
};

#define SWEEP_X(x, h, off, p, n, want, ...) do {                                      \
	int rc_ = (x)->fn((h), (off), (p), (n));                                      \
	sweep_case_((x)->name, rc_, (want), 1, __FILE__, __LINE__, __VA_ARGS__);       \
} while (0)

static void sweep_xfer(const struct xfer *x)
{
	unsigned long w = x->w, m;
	off_t size = (off_t)E.len, win0 = (off_t)pg, win1 = (off_t)(3 * pg);
	rsm_memseg_import_handle_t denied = x->put ? im_ro : im_wo;
	int b;

	FOR_BAD(b, A_IMPORT) {
		SWEEP_X(x, bads[b].h, 0, data, 1, RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP_X(x, bads[b].h, 1, NULL, ULONG_MAX, RSMERR_BAD_SEG_HNDL, "%s, every other argument bad too",
		    bads[b].name);
	}
	/* The data pointer: NULL, then its alignment. */
	SWEEP_X(x, im, 0, NULL, 1, RSMERR_BAD_ADDR, "data NULL");
	SWEEP_X(x, im, 0, NULL, 0, RSMERR_BAD_ADDR, "data NULL, count 0");
	SWEEP_X(x, im, 1, NULL, ULONG_MAX, RSMERR_BAD_ADDR, "data NULL, offset and count bad too");
	SWEEP_X(x, im_nobar, 0, NULL, 1, RSMERR_BAD_ADDR, "data NULL, no barrier");
	for (m = 1; m < w; m++) {
		SWEEP_X(x, im, 0, data + m, 1, RSMERR_BAD_MEM_ALIGNMENT, "data misaligned by %lu", m);
		SWEEP_X(x, im, size, data + m, ULONG_MAX, RSMERR_BAD_MEM_ALIGNMENT,
		    "data misaligned by %lu, offset and count out of range", m);
	}
	/* Offset alignment (RSMERR_BAD_MEM_ALIGNMENT, not _MISALIGNED_OFFSET),
	 * before the rights, the bounds and the barrier. */
	for (m = 1; m < w; m++) {
		SWEEP_X(x, im, (off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT, "offset %lu", m);
		SWEEP_X(x, im, size - (off_t)w + (off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT,
		    "offset size - %lu", w - m);
		SWEEP_X(x, im, -(off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT, "offset -%lu", m);
		SWEEP_X(x, im, (off_t)m, data, 0, RSMERR_BAD_MEM_ALIGNMENT, "offset %lu, count 0", m);
		SWEEP_X(x, denied, (off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT,
		    "offset %lu, no %s right", m, x->put ? "write" : "read");
		SWEEP_X(x, im_nobar, (off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT, "offset %lu, no barrier", m);
		SWEEP_X(x, im_win, win0 + (off_t)m, data, 1, RSMERR_BAD_MEM_ALIGNMENT, "offset %lu into the window",
		    m);
	}
	if (w > 1)
		SWEEP_X(x, im, LONG_MAX, data, 1, RSMERR_BAD_MEM_ALIGNMENT, "offset LONG_MAX");
	/* Bounds of the whole segment (implicitly mapped): RSMERR_BAD_LENGTH. */
	SWEEP_X(x, im, size, data, 1, RSMERR_BAD_LENGTH, "offset at the end");
	SWEEP_X(x, im, size - (off_t)w, data, 2, RSMERR_BAD_LENGTH, "last item and one more");
	SWEEP_X(x, im, 0, data, (unsigned long)E.len / w + 1, RSMERR_BAD_LENGTH, "one item more than the segment");
	SWEEP_X(x, im, -(off_t)w, data, 1, RSMERR_BAD_LENGTH, "offset -%lu", w);
	SWEEP_X(x, im, LONG_MIN, data, 1, RSMERR_BAD_LENGTH, "offset LONG_MIN");
	SWEEP_X(x, im, LONG_MAX & ~(long)(w - 1), data, 1, RSMERR_BAD_LENGTH, "offset LONG_MAX rounded down");
	SWEEP_X(x, im, 0, data, ULONG_MAX, RSMERR_BAD_LENGTH, "count ULONG_MAX");
	SWEEP_X(x, im, (off_t)w, data, ULONG_MAX / w, RSMERR_BAD_LENGTH, "offset + count * size wraps");
	if (w > 1) {
		/* count * size overflows to 0 and to one item. */
		SWEEP_X(x, im, 0, data, ULONG_MAX / w + 1, RSMERR_BAD_LENGTH, "count * %lu wraps to 0", w);
		SWEEP_X(x, im, 0, data, ULONG_MAX / w + 2, RSMERR_BAD_LENGTH, "count * %lu wraps to %lu", w, w);
	}
	/* Inside an explicit window [pg, 3 pg): RSMERR_BAD_OFFSET outside it. */
	SWEEP_X(x, im_win, 0, data, 1, RSMERR_BAD_OFFSET, "offset 0, window at one page");
	SWEEP_X(x, im_win, win0 - (off_t)w, data, 1, RSMERR_BAD_OFFSET, "just before the window");
	SWEEP_X(x, im_win, win0 - (off_t)w, data, 2, RSMERR_BAD_OFFSET, "straddling the window's start");
	SWEEP_X(x, im_win, win1, data, 1, RSMERR_BAD_OFFSET, "just after the window");
	SWEEP_X(x, im_win, win1 - (off_t)w, data, 2, RSMERR_BAD_OFFSET, "straddling the window's end");
	SWEEP_X(x, im_win, size, data, 1, RSMERR_BAD_OFFSET, "at the segment's end");
	SWEEP_X(x, im_win, -(off_t)w, data, 1, RSMERR_BAD_OFFSET, "offset -%lu", w);
	SWEEP_X(x, im_win, win0, data, ULONG_MAX, RSMERR_BAD_OFFSET, "count ULONG_MAX in the window");
	/* Rights, before the bounds. */
	SWEEP_X(x, denied, 0, data, 1, RSMERR_PERM_DENIED, "no %s right", x->put ? "write" : "read");
	SWEEP_X(x, im_none, 0, data, 1, RSMERR_PERM_DENIED, "a connection without rights");
	SWEEP_X(x, denied, size, data, ULONG_MAX, RSMERR_PERM_DENIED, "no right and out of range: rights first");
	/* The barrier of implicit mode, after the bounds. */
	SWEEP_X(x, im_nobar, 0, data, 1, RSMERR_BARRIER_UNINITIALIZED, "implicit mode, no barrier");
	SWEEP_X(x, im_nobar, size, data, 1, RSMERR_BAD_LENGTH, "implicit mode, no barrier, out of range: bounds first");
	/* Revoked connection, implicit mode. */
	SWEEP_X(x, im_rev, 0, data, 1, RSMERR_CONN_ABORTED, "revoked (exporter unpublished)");
	SWEEP_X(x, im_rev, 1 % (off_t)w, NULL, 1, RSMERR_BAD_ADDR, "revoked, data NULL");
	/* Zero counts are accepted. */
	SWEEP_X(x, im, 0, data, 0, RSM_SUCCESS, "count 0 (accepted)");
	SWEEP_X(x, im, size, data, 0, RSM_SUCCESS, "count 0 at the end (accepted)");
}

/* ------------------------------------------------------------------------
 * Scatter/gather and local memory handles
 */

static void sg_init(rsm_scat_gath_t *sg, rsm_iovec_t *iov, unsigned long n, rsm_memseg_import_handle_t h)
{
	unsigned long i;

	memset(sg, 0, sizeof(*sg));
	sg->io_request_count = n;
	sg->io_residual_count = 12345;
	sg->remote_handle = h;
	sg->iovec = iov;
	for (i = 0; iov != NULL && i < n && i < 16; i++) {
		iov[i].io_type = RSM_VA_TYPE;
		iov[i].local.vaddr = data + 64 * i;
		iov[i].local_offset = 0;
		iov[i].remote_offset = 64 * i;
		iov[i].transfer_length = 8;
	}
}

/* SWEEP_V(put, sg, RSMERR_x, residual, ...): putv (put) or getv, which must
 * return RSMERR_x and leave io_residual_count == residual.  SWEEP_VN: where
 * nothing says what io_residual_count is, it is not checked. */
#define SWEEP_V(put, sgp, want, residual, ...) \
	SWEEP_V_(put, sgp, want, (sgp)->io_residual_count == (unsigned long)(residual), __VA_ARGS__)
#define SWEEP_VN(put, sgp, want, ...) SWEEP_V_(put, sgp, want, 1, __VA_ARGS__)
#define SWEEP_V_(put, sgp, want, post, ...) do {                                           \
	int rc_ = (put) ? rsm_memseg_import_putv(sgp) : rsm_memseg_import_getv(sgp);        \
	sweep_case_((put) ? "rsm_memseg_import_putv" : "rsm_memseg_import_getv", rc_,       \
	    (want), (post), __FILE__, __LINE__, __VA_ARGS__);                               \
} while (0)

static void sweep_vector(int put)
{
	rsm_scat_gath_t sg, *nul = NULL;
	rsm_iovec_t iov[20];
	unsigned long counts[] = { 17, 100, 0x7FFFFFFFUL, LONG_MAX, ULONG_MAX };
	int types[] = { 0, 3, 4, 0x7FFFFFFF, -1 };
	size_t i;
	int b;

	SWEEP_VN(put, nul, RSMERR_BAD_SGIO, "sg_io NULL");
	FOR_BAD(b, A_IMPORT) {
		sg_init(&sg, iov, 1, bads[b].h);
		SWEEP_VN(put, &sg, RSMERR_BAD_SEG_HNDL, "remote_handle %s", bads[b].name);
	}
	/* io_request_count 1..16; nothing is started otherwise. */
	sg_init(&sg, iov, 0, im);
	SWEEP_V(put, &sg, RSMERR_BAD_SGIO, 0, "io_request_count 0");
	for (i = 0; i < sizeof(counts) / sizeof(counts[0]); i++) {
		sg_init(&sg, iov, counts[i], im);
		SWEEP_V(put, &sg, RSMERR_BAD_SGIO, counts[i], "io_request_count %lu (residual = count)", counts[i]);
	}
	sg_init(&sg, NULL, ULONG_MAX, im);
	SWEEP_V(put, &sg, RSMERR_BAD_SGIO, ULONG_MAX, "io_request_count ULONG_MAX, iovec NULL");
	sg_init(&sg, NULL, 1, im);
	SWEEP_V(put, &sg, RSMERR_BAD_ADDR, 1, "iovec NULL");
	/* Entries: type, local memory handle, local address. */
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		sg_init(&sg, iov, 3, im);
		iov[1].io_type = types[i];
		SWEEP_V(put, &sg, RSMERR_BAD_SGIO, 3, "entry 2 of 3 has io_type %d (nothing done)", types[i]);
	}
	FOR_BAD(b, A_LOCALMEM) {
		sg_init(&sg, iov, 2, im);
		iov[1].io_type = RSM_HANDLE_TYPE;
		iov[1].local.handle = (rsm_localmemory_handle_t)bads[b].h;
		SWEEP_V(put, &sg, RSMERR_BAD_SGIO, 2, "entry 2 of 2 names local memory handle %s", bads[b].name);
	}
	sg_init(&sg, iov, 2, im);
	iov[0].local.vaddr = NULL;
	SWEEP_V(put, &sg, RSMERR_BAD_ADDR, 2, "entry 1 has vaddr NULL");
	/* Bounds: the segment's (RSMERR_BAD_LENGTH), processing stops at the
	 * first failing entry. */
	sg_init(&sg, iov, 3, im);
	iov[0].remote_offset = E.len;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 3, "entry 1 at the segment's end");
	sg_init(&sg, iov, 3, im);
	iov[1].remote_offset = E.len - 4;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 2, "entry 2 straddles the segment's end");
	sg_init(&sg, iov, 3, im);
	iov[2].remote_offset = SIZE_MAX;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "entry 3 at offset SIZE_MAX");
	sg_init(&sg, iov, 16, im);
	iov[15].remote_offset = SIZE_MAX - 3;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "entry 16 of 16: offset + length wraps");
	sg_init(&sg, iov, 1, im);
	iov[0].transfer_length = SIZE_MAX;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "transfer_length SIZE_MAX");
	sg_init(&sg, iov, 1, im);
	iov[0].transfer_length = E.len + 1;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "transfer_length size + 1");
	/* A registered buffer: its own bounds. */
	sg_init(&sg, iov, 1, im);
	iov[0].io_type = RSM_HANDLE_TYPE;
	iov[0].local.handle = lh;
	iov[0].local_offset = 2 * pg;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "local_offset at the registered buffer's end");
	iov[0].local_offset = SIZE_MAX;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "local_offset SIZE_MAX");
	iov[0].local_offset = 8;
	iov[0].transfer_length = 2 * pg;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "local_offset + length past the registered buffer");
	iov[0].local_offset = 0;
	iov[0].transfer_length = SIZE_MAX;
	SWEEP_V(put, &sg, RSMERR_BAD_LENGTH, 1, "registered buffer, transfer_length SIZE_MAX");
	/* Window, rights, barrier, revocation, as for put and get. */
	sg_init(&sg, iov, 2, im_win);
	SWEEP_V(put, &sg, RSMERR_BAD_OFFSET, 2, "outside the explicit window");
	sg_init(&sg, iov, 2, put ? im_ro : im_wo);
	SWEEP_V(put, &sg, RSMERR_PERM_DENIED, 2, "no %s right", put ? "write" : "read");
	/* putv/getv need no barrier in implicit mode (RSMAPI 3.8 lists no barrier error). */
	sg_init(&sg, iov, 2, im_nobar);
	SWEEP_V(put, &sg, RSM_SUCCESS, 0, "implicit mode, no barrier (each entry its own window)");
	sg_init(&sg, iov, 1, im_rev);
	SWEEP_V(put, &sg, RSMERR_CONN_ABORTED, 1, "revoked (exporter unpublished)");
	/* Unknown flag bits are ignored, and flags come back unchanged. */
	sg_init(&sg, iov, 2, im);
	sg.flags = 0xFFFFFFFCu;
	if (put)
		SWEEP_AND(rsm_memseg_import_putv, (&sg), RSM_SUCCESS, sg.flags == 0xFFFFFFFCu && sg.io_residual_count == 0,
		    "flags with every unknown bit (ignored, and left as they were)");
	else
		SWEEP_AND(rsm_memseg_import_getv, (&sg), RSM_SUCCESS, sg.flags == 0xFFFFFFFCu && sg.io_residual_count == 0,
		    "flags with every unknown bit (ignored, and left as they were)");
}

static void sweep_localmem(void)
{
	rsm_localmemory_handle_t h = NULL, t = NULL;
	char *buf = test_pages(2 * pg), *p;
	size_t mis[] = { 1, 8, 64, pg / 2, pg - 1 };
	size_t i;
	int b;

	/* The address first (RSMAPI: before the controller). */
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, NULL, pg), RSMERR_BAD_ADDR, "local_vaddr NULL");
	for (i = 0; i < sizeof(mis) / sizeof(mis[0]); i++)
		SWEEP(rsm_create_localmemory_handle, (ctl, &h, buf + mis[i], pg), RSMERR_BAD_ADDR,
		    "local_vaddr page + %zu", mis[i]);
	FOR_BAD(b, A_CTL) {
		SWEEP(rsm_create_localmemory_handle, (bads[b].h, &h, buf, pg), RSMERR_BAD_CTLR_HNDL, "%s",
		    bads[b].name);
		SWEEP(rsm_create_localmemory_handle, (bads[b].h, NULL, buf + 1, 0), RSMERR_BAD_ADDR,
		    "%s, local_vaddr misaligned: address first", bads[b].name);
		SWEEP(rsm_create_localmemory_handle, (bads[b].h, NULL, buf, 0), RSMERR_BAD_CTLR_HNDL,
		    "%s, l_handle NULL, length 0", bads[b].name);
	}
	SWEEP(rsm_create_localmemory_handle, (ctl, NULL, buf, pg), RSMERR_BAD_LOCALMEM_HNDL, "l_handle NULL");
	SWEEP(rsm_create_localmemory_handle, (ctl, NULL, buf, 0), RSMERR_BAD_LOCALMEM_HNDL, "l_handle NULL, length 0");
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, buf, 0), RSMERR_BAD_LENGTH, "length 0");
	/* Ranges that are not mapped. */
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, LOW_PAGE, pg), RSMERR_BAD_ADDR, "0x1000 (never mapped)");
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, LAST_PAGE, pg), RSMERR_BAD_ADDR, "the last page (wraps)");
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, buf, SIZE_MAX), RSMERR_BAD_ADDR, "length SIZE_MAX");
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, buf, SIZE_MAX & ~(pg - 1)), RSMERR_BAD_ADDR,
	    "length SIZE_MAX rounded down to pages");
	p = fresh_hole(pg);
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, p, pg), RSMERR_BAD_ADDR, "unmapped range");
	p = test_pages(2 * pg);
	test_free_pages(p + pg, pg);
	SWEEP(rsm_create_localmemory_handle, (ctl, &h, p, 2 * pg), RSMERR_BAD_ADDR, "range running into a hole");
	test_free_pages(p, pg);

	/* Free: the controller, then the handle. */
	REQUIRE(rsm_create_localmemory_handle(ctl, &t, buf, pg), RSM_SUCCESS);
	FOR_BAD(b, A_CTL) {
		SWEEP(rsm_free_localmemory_handle, (bads[b].h, t), RSMERR_BAD_CTLR_HNDL, "%s, live local memory handle",
		    bads[b].name);
		SWEEP(rsm_free_localmemory_handle, (bads[b].h, NULL), RSMERR_BAD_CTLR_HNDL,
		    "%s, local memory handle NULL", bads[b].name);
	}
	FOR_BAD(b, A_LOCALMEM)
		SWEEP(rsm_free_localmemory_handle, (ctl, bads[b].h), RSMERR_BAD_LOCALMEM_HNDL, "%s", bads[b].name);
	SWEEP(rsm_free_localmemory_handle, (ctl, t), RSM_SUCCESS, "the handle the bad controllers did not free");
	SWEEP(rsm_free_localmemory_handle, (ctl, t), RSMERR_BAD_LOCALMEM_HNDL, "freed just now (double free)");
	test_free_pages(buf, 2 * pg);
}

/* ------------------------------------------------------------------------
 * Barriers
 */

typedef int (*bar_fn)(rsmapi_barrier_t *);

static const struct {
	const char *name;
	bar_fn fn;
} bar_fns[] = {
	{ "rsm_memseg_import_open_barrier", rsm_memseg_import_open_barrier },
	{ "rsm_memseg_import_close_barrier", rsm_memseg_import_close_barrier },
	{ "rsm_memseg_import_order_barrier", rsm_memseg_import_order_barrier },
	{ "rsm_memseg_import_destroy_barrier", rsm_memseg_import_destroy_barrier },
};

#define SWEEP_B(k, barp, want, ...) do {                                               \
	int rc_ = bar_fns[k].fn(barp);                                                 \
	sweep_case_(bar_fns[k].name, rc_, (want), 1, __FILE__, __LINE__, __VA_ARGS__); \
} while (0)

static void sweep_barriers(void)
{
	unsigned types[] = { 0, 3, 0x10, 0x13, 0x21, 0x7FFFFFFFu, 0xFFFFFFFFu };
	rsmapi_barrier_t b, dead, bt;
	rsm_memseg_import_handle_t t;
	size_t i, k;
	int j;

	/* init: the handle, the storage pointer, then the type. */
	FOR_BAD(j, A_IMPORT) {
		SWEEP(rsm_memseg_import_init_barrier, (bads[j].h, RSM_BARRIER_NODE, &b), RSMERR_BAD_SEG_HNDL, "%s",
		    bads[j].name);
		SWEEP(rsm_memseg_import_init_barrier, (bads[j].h, (rsm_barrier_type_t)7, NULL), RSMERR_BAD_SEG_HNDL,
		    "%s, type 7, barrier NULL", bads[j].name);
	}
	SWEEP(rsm_memseg_import_init_barrier, (im, RSM_BARRIER_NODE, NULL), RSMERR_BAD_BARRIER_PTR, "barrier NULL");
	SWEEP(rsm_memseg_import_init_barrier, (im, (rsm_barrier_type_t)7, NULL), RSMERR_BAD_BARRIER_PTR,
	    "barrier NULL, type 7");
	/* The type is accepted and ignored (RSMAPI 3.9), also outside the enum (on a
	 * connection of its own: the last barrier initialised is the segment's). */
	t = connect_to(&E, RSM_PERM_RDWR);
	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		SWEEP(rsm_memseg_import_init_barrier, (t, (rsm_barrier_type_t)types[i], &b), RSM_SUCCESS,
		    "type %#x (not an rsm_barrier_type_t: accepted, ignored)", types[i]);
		SWEEP(rsm_memseg_import_destroy_barrier, (&b), RSM_SUCCESS, "the barrier of type %#x", types[i]);
	}
	REQUIRE(rsm_memseg_import_disconnect(t), RSM_SUCCESS);

	/* open/close/order/destroy: the pointer, then what the storage
	 * holds. */
	t = connect_to(&E, RSM_PERM_RDWR);
	REQUIRE(rsm_memseg_import_init_barrier(t, RSM_BARRIER_NODE, &dead), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_destroy_barrier(&dead), RSM_SUCCESS);
	for (k = 0; k < 4; k++) {
		SWEEP_B(k, NULL, RSMERR_BAD_BARRIER_PTR, "NULL");
		memset(&b, 0, sizeof(b));
		SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "zeroed storage");
		memset(&b, 0xff, sizeof(b));
		SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "storage of 0xff bytes");
		for (j = 0; j < nbads; j++) {
			b.seg = bads[j].h;
			b.gnum = (uint16_t)j;
			b.privdata = bads[j].h;
			SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "seg and privdata: %s", bads[j].name);
			b.seg = im;
			if (bads[j].h != bar.privdata)
				SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "seg live, privdata: %s", bads[j].name);
		}
		b = bar;
		b.seg = im_ro;
		SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "a live barrier with another segment");
		b.seg = NULL;
		SWEEP_B(k, &b, RSMERR_BARRIER_UNINITIALIZED, "a live barrier with seg NULL");
		SWEEP_B(k, &dead, RSMERR_BARRIER_UNINITIALIZED, "destroyed barrier (destroyed twice)");
	}
	/* States: close and order need an open; a revoked connection is
	 * reported at every close and order. */
	SWEEP(rsm_memseg_import_close_barrier, (&bar_ro), RSMERR_BARRIER_NOT_OPENED, "never opened");
	SWEEP(rsm_memseg_import_order_barrier, (&bar_ro), RSMERR_BARRIER_NOT_OPENED, "never opened");
	REQUIRE(rsm_memseg_import_open_barrier(&bar_ro), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_close_barrier(&bar_ro), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_close_barrier, (&bar_ro), RSMERR_BARRIER_NOT_OPENED, "closed just now (twice)");
	SWEEP(rsm_memseg_import_close_barrier, (&bar_rev), RSMERR_CONN_ABORTED, "revoked");
	SWEEP(rsm_memseg_import_close_barrier, (&bar_rev), RSMERR_CONN_ABORTED, "revoked, again");
	SWEEP(rsm_memseg_import_order_barrier, (&bar_rev), RSMERR_CONN_ABORTED, "revoked");
	/* A barrier whose segment was disconnected under it (RSMAPI says to
	 * destroy it first): open finds no segment; a window that spanned the
	 * disconnect is reported as torn down; destroy still works. */
	REQUIRE(rsm_memseg_import_init_barrier(t, RSM_BARRIER_NODE, &bt), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_open_barrier(&bt), RSM_SUCCESS);
	REQUIRE(rsm_memseg_import_disconnect(t), RSM_SUCCESS);
	SWEEP(rsm_memseg_import_order_barrier, (&bt), RSMERR_CONN_ABORTED, "window open across a disconnect");
	SWEEP(rsm_memseg_import_close_barrier, (&bt), RSMERR_CONN_ABORTED, "window open across a disconnect");
	SWEEP(rsm_memseg_import_close_barrier, (&bt), RSMERR_CONN_ABORTED, "segment disconnected, again");
	SWEEP(rsm_memseg_import_open_barrier, (&bt), RSMERR_BAD_SEG_HNDL, "segment disconnected");
	SWEEP(rsm_memseg_import_destroy_barrier, (&bt), RSM_SUCCESS, "segment disconnected (allowed)");
	SWEEP(rsm_memseg_import_destroy_barrier, (&bt), RSMERR_BARRIER_UNINITIALIZED, "destroyed just now (twice)");
	SWEEP(rsm_memseg_import_init_barrier, (t, RSM_BARRIER_NODE, &bt), RSMERR_BAD_SEG_HNDL, "disconnected just now");
}

/* ------------------------------------------------------------------------
 * Events and poll descriptors
 */

static void sweep_signals(void)
{
	unsigned flags[] = { 0x1, 0x4, 0x80000000u, 0xFFFFFFFCu, 0xFFFFFFFFu };
	struct pollfd pfd, fds[3], *mis;
	/* Too many for poll(2) (more than RLIMIT_NOFILE); the last two reach the kernel's
	 * check, so valgrind (which checks the array the system call would read) skips them. */
	nfds_t huge[] = { ULONG_MAX, 1UL << 62, (nfds_t)(LONG_MAX / (long)sizeof(struct pollfd)) + 1, 1UL << 32,
		1UL << 24 };
	size_t n_huge = getenv("RSM_TEST_UNDER_VALGRIND") ? 3 : sizeof(huge) / sizeof(huge[0]);
	char *raw = test_pages(pg);
	int pipefd[2], n, closed, i;
	size_t k;
	int b;

	/* Post: any handle that is not a live export or import segment;
	 * unknown flag bits are ignored. */
	FOR_BAD(b, A_SEGMENT) {
		SWEEP(rsm_intr_signal_post, (bads[b].h, 0), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_intr_signal_post, (bads[b].h, 0xFFFFFFFFu), RSMERR_BAD_SEG_HNDL, "%s, flags all ones",
		    bads[b].name);
	}
	for (k = 0; k < sizeof(flags) / sizeof(flags[0]); k++) {
		SWEEP(rsm_intr_signal_post, (im, flags[k]), RSM_SUCCESS, "flags %#x (unknown bits ignored)", flags[k]);
		REQUIRE(rsm_intr_signal_wait(E.ex, 1000), RSM_SUCCESS);
	}
	SWEEP(rsm_intr_signal_post, (im_rev, 0), RSM_SUCCESS, "revoked (the event is dropped)");
	SWEEP(rsm_intr_signal_post, (R.ex, 0xFFFFFFFFu), RSM_SUCCESS, "unpublished export (no importer: no-op)");

	/* Wait: bad handles fail at once, whatever the timeout; a negative
	 * timeout is "forever" (tested with an event pending). */
	FOR_BAD(b, A_SEGMENT) {
		SWEEP(rsm_intr_signal_wait, (bads[b].h, 0), RSMERR_BAD_SEG_HNDL, "%s, timeout 0", bads[b].name);
		SWEEP(rsm_intr_signal_wait, (bads[b].h, -1), RSMERR_BAD_SEG_HNDL, "%s, timeout -1", bads[b].name);
		SWEEP(rsm_intr_signal_wait, (bads[b].h, INT_MIN), RSMERR_BAD_SEG_HNDL, "%s, timeout INT_MIN",
		    bads[b].name);
	}
	SWEEP(rsm_intr_signal_wait, (E.ex, 0), RSMERR_TIMEOUT, "nothing pending, timeout 0");
	SWEEP(rsm_intr_signal_wait, (E.ex, 1), RSMERR_TIMEOUT, "nothing pending, timeout 1");
	SWEEP(rsm_intr_signal_wait, (im, 0), RSMERR_TIMEOUT, "import, nothing pending, timeout 0");
	{
		int timeouts[] = { INT_MIN, -2, -1, INT_MAX };

		for (k = 0; k < sizeof(timeouts) / sizeof(timeouts[0]); k++) {
			REQUIRE(rsm_intr_signal_post(im, 0), RSM_SUCCESS);
			SWEEP(rsm_intr_signal_wait, (E.ex, timeouts[k]), RSM_SUCCESS, "event pending, timeout %d",
			    timeouts[k]);
		}
	}

	/* Poll descriptors. */
	FOR_BAD(b, A_SEGMENT) {
		SWEEP(rsm_memseg_get_pollfd, (bads[b].h, &pfd), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
		SWEEP(rsm_memseg_get_pollfd, (bads[b].h, NULL), RSMERR_BAD_SEG_HNDL, "%s, fd NULL", bads[b].name);
		SWEEP(rsm_memseg_release_pollfd, (bads[b].h), RSMERR_BAD_SEG_HNDL, "%s", bads[b].name);
	}
	SWEEP(rsm_memseg_get_pollfd, (im, NULL), RSMERR_BAD_ADDR, "fd NULL");
	SWEEP(rsm_memseg_get_pollfd, (E.ex, NULL), RSMERR_BAD_ADDR, "export, fd NULL");
	SWEEP(rsm_memseg_release_pollfd, (E.ex), RSM_SUCCESS, "export, never got (count stays 0)");

	/* rsm_intr_signal_wait_pollfd: *numfdsp is 0 on every error. */
	if (pipe(pipefd) != 0) {
		perror("pipe");
		exit(2);
	}
	closed = open("/dev/null", O_RDONLY);
	close(closed);
	n = 77;
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (NULL, 1, 0, &n), RSMERR_BAD_ADDR, n == 0, "fds NULL, nfds 1");
	SWEEP(rsm_intr_signal_wait_pollfd, (NULL, 1, -1, NULL), RSMERR_BAD_ADDR, "fds NULL, nfds 1, timeout -1");
	n = 77;
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (NULL, 0, 0, &n), RSMERR_TIMEOUT, n == 0, "fds NULL, nfds 0");
	SWEEP(rsm_intr_signal_wait_pollfd, (NULL, 0, 1, NULL), RSMERR_TIMEOUT, "fds NULL, nfds 0, numfdsp NULL");
	for (k = 0; k < n_huge; k++) {
		n = 77;
		fds[0].fd = pipefd[0];
		fds[0].events = POLLIN;
		SWEEP_AND(rsm_intr_signal_wait_pollfd, (fds, huge[k], -1, &n), RSMERR_BAD_ARGS_ERRORS, n == 0,
		    "nfds %#lx", (unsigned long)huge[k]);
	}
	mis = (struct pollfd *)(raw + 1);
	n = 77;
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (mis, 1, 0, &n), RSMERR_BAD_ADDR, n == 0, "fds misaligned");
	/* Arrays poll(2) cannot read (EFAULT) are RSMERR_BAD_ADDR, not a crash. (Not under
	 * valgrind, which reports the system call's unaddressable argument as an error.) */
	if (getenv("RSM_TEST_UNDER_VALGRIND") == NULL) {
		struct pollfd *unmapped = mmap(NULL, pg, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (unmapped == MAP_FAILED) {
			perror("mmap");
			exit(2);
		}
		n = 77;
		SWEEP_AND(rsm_intr_signal_wait_pollfd, (unmapped, 1, 0, &n), RSMERR_BAD_ADDR, n == 0, "fds in a PROT_NONE page");
		n = 77;
		SWEEP_AND(rsm_intr_signal_wait_pollfd, ((struct pollfd *)0x1000, 1, 0, &n), RSMERR_BAD_ADDR, n == 0,
		    "fds at address 0x1000");
		/* The array runs past a readable page into an unreadable one. */
		munmap(unmapped, pg);
		{
			char *two = mmap(NULL, 2 * pg, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			struct pollfd *tail;
			if (two == MAP_FAILED) {
				perror("mmap");
				exit(2);
			}
			mprotect(two + pg, pg, PROT_NONE);
			tail = (struct pollfd *)(two + pg) - 1;
			tail->fd = -1;
			tail->events = POLLIN;
			n = 77;
			SWEEP_AND(rsm_intr_signal_wait_pollfd, (tail, 2, 0, &n), RSMERR_BAD_ADDR, n == 0,
			    "fds running into a PROT_NONE page");
			munmap(two, 2 * pg);
		}
	}
	for (i = 0; i < 3; i++) {
		fds[i].fd = -1 - i;
		fds[i].events = POLLIN;
		fds[i].revents = 0;
	}
	SWEEP(rsm_intr_signal_wait_pollfd, (fds, 3, 0, &n), RSMERR_TIMEOUT, "negative descriptors only");
	SWEEP(rsm_intr_signal_wait_pollfd, (fds, 3, 1, &n), RSMERR_TIMEOUT, "negative descriptors only, timeout 1");
	fds[1].fd = closed;
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (fds, 3, 0, &n), RSM_SUCCESS, n == 1 && fds[1].revents == POLLNVAL,
	    "a closed descriptor (POLLNVAL)");
	fds[1].fd = INT_MAX;
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (fds, 3, 0, &n), RSM_SUCCESS, n == 1 && fds[1].revents == POLLNVAL,
	    "descriptor INT_MAX (POLLNVAL)");
	if (write(pipefd[1], "x", 1) != 1) {
		perror("write");
		exit(2);
	}
	fds[1].fd = pipefd[0];
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (fds, 3, INT_MIN, &n), RSM_SUCCESS, n == 1 && (fds[1].revents & POLLIN),
	    "timeout INT_MIN (forever), a descriptor ready");
	SWEEP_AND(rsm_intr_signal_wait_pollfd, (fds, 3, -1, NULL), RSM_SUCCESS, fds[1].revents & POLLIN,
	    "timeout -1, numfdsp NULL, a descriptor ready");
	close(pipefd[0]);
	close(pipefd[1]);
	test_free_pages(raw, pg);
}

/* ------------------------------------------------------------------------ */

int main(void)
{
	int i, ok, missing = 0;
	size_t k;

	verbose = getenv("SWEEP_VERBOSE") != NULL && strcmp(getenv("SWEEP_VERBOSE"), "0") != 0;
	sweep_segmentid();
	setup();
	sweep_controller();
	sweep_topology();
	sweep_export_create();
	sweep_export_destroy();
	sweep_export_rebind();
	sweep_export_publish();
	sweep_connect();
	sweep_disconnect();
	sweep_map();
	sweep_modes();
	for (k = 0; k < sizeof(xfers) / sizeof(xfers[0]); k++)
		sweep_xfer(&xfers[k]);
	sweep_vector(1);
	sweep_vector(0);
	sweep_localmem();
	sweep_barriers();
	sweep_signals();

	/* Everything live survived the sweep untouched. */
	{
		uint64_t v = 0x1122334455667788ULL, back = 0;
		rsmapi_controller_attr_t attr;

		ok = rsm_get_controller_attr(ctl, &attr) == RSM_SUCCESS;
		ok &= rsm_memseg_import_put64(im, 16, &v, 1) == RSM_SUCCESS;
		ok &= memcmp(E.buf + 16, &v, 8) == 0;
		ok &= rsm_memseg_import_get64(im_ro, 16, &back, 1) == RSM_SUCCESS && back == v;
		ok &= *(volatile uint64_t *)((char *)win_addr + pg + 16) == 0;
		*(volatile uint64_t *)((char *)win_addr + pg + 16) = v;
		ok &= memcmp(E.buf + 2 * pg + 16, &v, 8) == 0;
		CHECK(ok, "the live controller, segments and barriers still work after the sweep");
	}

	/* Teardown. */
	EXPECT(rsm_memseg_import_unmap(im_win), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar_ro), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar_wo), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar_none), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar_win), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_destroy_barrier(&bar_rev), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_ro), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_wo), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_none), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_nobar), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_win), RSM_SUCCESS);
	EXPECT(rsm_memseg_import_disconnect(im_rev), RSM_SUCCESS);
	EXPECT(rsm_free_localmemory_handle(ctl, lh), RSM_SUCCESS);
	export_end(&E);
	export_end(&R);
	EXPECT(rsm_release_controller(ctl), RSM_SUCCESS);
	test_free_pages(lbuf, 2 * pg);
	test_free_pages(data, 4 * pg);
	free(heap);

	printf("per function:\n");
	for (i = 0; i < NFUNC; i++) {
		printf("  %-34s %5d cases\n", functions[i], per_function[i]);
		if (per_function[i] == 0)
			missing++;
	}
	if (missing)
		printf("not ok - %d of the 42 functions have no case\n", missing);
	ok = test_done() == 0;
	printf("sweep: %d cases, %d failures\n", cases, failures);
	return ok && failures == 0 && missing == 0 ? 0 : 1;
}

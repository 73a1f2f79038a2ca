/*
 * SPDX-License-Identifier: MIT OR Apache-2.0
 *
 * A tiny test harness for the C programs of tests/c: every check is printed
 * ("ok N - ..." / "not ok N - ..."), a summary line ends the run, and
 * test_done() returns the exit status (0 only if every check passed).
 *
 * The programs talk to the agent named by RSM_SOCKET (the Rust driver
 * crates/rsm-testkit/tests/c_abi.rs starts one per run).
 */

#ifndef RSMTEST_H
#define RSMTEST_H

#include <rsmapi.h>

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define TEST_UNUSED __attribute__((unused))

static int test_count_;
static int test_failed_;

/* Name of an RSMERR_* code (or "RSM_SUCCESS"). */
TEST_UNUSED static const char *rsm_errname(int e)
{
	switch (e) {
#define N(x) case x: return #x;
	N(RSM_SUCCESS) N(RSMERR_BAD_LIBRARY_VERSION) N(RSMERR_BAD_TOPOLOGY_PTR)
	N(RSMERR_BAD_CTLR_HNDL) N(RSMERR_CTLR_NOT_PRESENT) N(RSMERR_BAD_SEG_HNDL)
	N(RSMERR_SEG_ALREADY_PUBLISHED) N(RSMERR_SEG_NOT_PUBLISHED)
	N(RSMERR_SEG_NOT_PUBLISHED_TO_NODE) N(RSMERR_SEG_ALREADY_MAPPED)
	N(RSMERR_SEG_STILL_MAPPED) N(RSMERR_SEG_NOT_MAPPED) N(RSMERR_NOT_CREATOR)
	N(RSMERR_BAD_BARRIER_PTR) N(RSMERR_BAD_SGIO) N(RSMERR_BAD_LOCALMEM_HNDL)
	N(RSMERR_BAD_ADDR) N(RSMERR_BAD_MEM_ALIGNMENT) N(RSMERR_BAD_OFFSET)
	N(RSMERR_MISALIGNED_OFFSET) N(RSMERR_BAD_LENGTH) N(RSMERR_BAD_ACL)
	N(RSMERR_BAD_SEGID) N(RSMERR_RESERVED_SEGID) N(RSMERR_SEGID_IN_USE)
	N(RSMERR_BAD_MODE) N(RSMERR_BAD_PERMS) N(RSMERR_PERM_DENIED)
	N(RSMERR_LOCKS_NOT_SUPPORTED) N(RSMERR_LOCKS_NOT_ENABLED)
	N(RSMERR_REBIND_NOT_ALLOWED) N(RSMERR_INSUFFICIENT_RESOURCES)
	N(RSMERR_INSUFFICIENT_MEM) N(RSMERR_MAP_FAILED) N(RSMERR_POLLFD_IN_USE)
	N(RSMERR_BARRIER_UNINITIALIZED) N(RSMERR_BARRIER_OPEN_FAILED)
	N(RSMERR_BARRIER_NOT_OPENED) N(RSMERR_BARRIER_FAILURE)
	N(RSMERR_REMOTE_NODE_UNREACHABLE) N(RSMERR_CONN_ABORTED)
	N(RSMERR_INTERRUPTED) N(RSMERR_TIMEOUT) N(RSMERR_BAD_APPID)
	N(RSMERR_BAD_CONF) N(RSMERR_SEG_NOT_CONNECTED) N(RSMERR_INTERNAL_ERROR)
	N(RSMERR_BAD_DRIVER_VERSION) N(RSMERR_BAD_ARGS_ERRORS)
	N(RSMERR_UNSUPPORTED_OPERATION)
#undef N
	default: return "(unknown code)";
	}
}

static void test_check_(int ok, const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));

static void test_check_(int ok, const char *file, int line, const char *fmt, ...)
{
	va_list ap;

	test_count_++;
	if (!ok)
		test_failed_++;
	printf("%s %d - ", ok ? "ok" : "not ok", test_count_);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	if (!ok)
		printf("   [%s:%d]", file, line);
	printf("\n");
	fflush(stdout);
}

/* CHECK(condition, printf-style description) */
#define CHECK(cond, ...) test_check_(!!(cond), __FILE__, __LINE__, __VA_ARGS__)

/* EXPECT(call, RSMERR_x): the call returns exactly that code. */
#define EXPECT(call, want) EXPECT_(call, want, #call, #want)
#define EXPECT_(call, want, callstr, wantstr) do {                         \
	int rc_ = (call);                                                  \
	test_check_(rc_ == (want), __FILE__, __LINE__, "%s == %s%s%s",    \
	    callstr, wantstr, rc_ == (want) ? "" : ", got ",               \
	    rc_ == (want) ? "" : rsm_errname(rc_));                        \
} while (0)

/* REQUIRE(call, RSMERR_x): as EXPECT, and stop the program (after printing
 * the summary) if it fails: for set-up steps later checks depend on. */
#define REQUIRE(call, want) do {                                           \
	int before_ = test_failed_;                                        \
	EXPECT_(call, want, #call, #want);                                 \
	if (test_failed_ != before_) {                                     \
		printf("bail out: a required step failed\n");             \
		exit(test_done());                                         \
	}                                                                  \
} while (0)

static int test_done(void);

TEST_UNUSED static int test_done(void)
{
	printf("%d checks, %d passed, %d failed\n", test_count_,
	    test_count_ - test_failed_, test_failed_);
	fflush(stdout);
	return test_failed_ ? 1 : 0;
}

TEST_UNUSED static size_t test_pagesize(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

/* Page-aligned, zeroed, read-write memory (for export create, rebind and
 * local memory handles); released with test_free_pages(). */
TEST_UNUSED static void *test_pages(size_t len)
{
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		perror("mmap");
		exit(2);
	}
	return p;
}

TEST_UNUSED static void test_free_pages(void *p, size_t len)
{
	munmap(p, len);
}

/* The local node id, from the topology. */
TEST_UNUSED static rsm_node_id_t test_local_node(void)
{
	rsm_topology_t *t = NULL;
	rsm_node_id_t n;

	if (rsm_get_interconnect_topology(&t) != RSM_SUCCESS || t == NULL) {
		printf("bail out: no topology (is RSM_SOCKET set to a running rsmd?)\n");
		exit(2);
	}
	n = t->topology_hdr.local_nodeid;
	rsm_free_interconnect_topology(t);
	return n;
}

/* A value that is not any handle: an address on the stack, the heap, a
 * made-up number. */
#define GARBAGE_HANDLES(x) {                                              \
	(void *)&(x), (void *)(uintptr_t)0xdeadbeefUL,                    \
	(void *)(uintptr_t)0x1UL, (void *)(uintptr_t)0x5UL,               \
	(void *)(uintptr_t)0xffffffffffffffffUL, (void *)test_done }

#endif /* RSMTEST_H */

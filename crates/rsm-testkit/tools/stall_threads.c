/* stall_threads MS TID...: stops the given threads of another process for MS milliseconds
 * (ptrace PTRACE_SEIZE + PTRACE_INTERRUPT: only those threads, the rest of the process runs
 * on), then lets them go. Prints "stopped" once every thread is stopped. For tests that
 * need one thread of an agent starved while its other threads work. Needs the right to
 * ptrace the target (root, or the same user without Yama restrictions). Exit status: 0
 * done, 2 usage, 3 could not attach (permission), 1 any other failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ptrace.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>

int main(int argc, char **argv)
{
    if (argc < 3) {
        fprintf(stderr, "usage: stall_threads MS TID...\n");
        return 2;
    }
    long ms = atol(argv[1]);
    int n = argc - 2;
    pid_t *tids = calloc((size_t)n, sizeof(pid_t));
    if (!tids)
        return 1;
    for (int i = 0; i < n; i++) {
        tids[i] = (pid_t)atoi(argv[i + 2]);
        if (ptrace(PTRACE_SEIZE, tids[i], 0, 0) != 0) {
            fprintf(stderr, "PTRACE_SEIZE %d: %s\n", (int)tids[i], strerror(errno));
            return errno == EPERM ? 3 : 1;
        }
        if (ptrace(PTRACE_INTERRUPT, tids[i], 0, 0) != 0) {
            fprintf(stderr, "PTRACE_INTERRUPT %d: %s\n", (int)tids[i], strerror(errno));
            return 1;
        }
        int st;
        if (waitpid(tids[i], &st, __WALL) != tids[i]) {
            fprintf(stderr, "waitpid %d: %s\n", (int)tids[i], strerror(errno));
            return 1;
        }
    }
    printf("stopped\n");
    fflush(stdout);
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        if (ptrace(PTRACE_DETACH, tids[i], 0, 0) != 0) {
            fprintf(stderr, "PTRACE_DETACH %d: %s\n", (int)tids[i], strerror(errno));
            rc = 1;
        }
    }
    free(tids);
    return rc;
}

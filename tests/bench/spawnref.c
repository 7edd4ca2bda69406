/* The physical reference for the spawn scenarios of tests/bench/bench.py: what this machine can do with
 * nothing but posix_spawn, no supervisor in between.
 *
 *   spawnref loop COUNT   posix_spawn /bin/true and wait for it, COUNT times; prints spawns per second
 *   spawnref hold N       posix_spawnp "sleep 1000" N times without waiting (all N exist at the end, like a
 *                         supervisor's N children); prints the seconds until the last one was spawned, then
 *                         kills and reaps them
 *
 * Output: one line "KEY VALUE" on stdout. Built by bench.py with `cc -O2`.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

extern char **environ;

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int loop(long count) {
  char *argv[] = {"true", NULL};
  double start = now();
  for (long i = 0; i < count; i++) {
    pid_t pid;
    int rc = posix_spawn(&pid, "/bin/true", NULL, NULL, argv, environ);
    if (rc != 0) {
      fprintf(stderr, "posix_spawn: %s\n", strerror(rc));
      return 1;
    }
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
  }
  double elapsed = now() - start;
  printf("spawns_per_second %.1f\n", (double)count / elapsed);
  return 0;
}

static int hold(long n) {
  char *argv[] = {"sleep", "1000", NULL};
  pid_t *pids = calloc((size_t)n, sizeof *pids);
  if (!pids) return 1;
  double start = now();
  long spawned = 0;
  int failed = 0;
  for (; spawned < n; spawned++) {
    int rc = posix_spawnp(&pids[spawned], "sleep", NULL, NULL, argv, environ);
    if (rc != 0) {
      fprintf(stderr, "posix_spawnp: %s\n", strerror(rc));
      failed = 1;
      break;
    }
  }
  double elapsed = now() - start;
  for (long i = 0; i < spawned; i++) kill(pids[i], SIGKILL);
  for (long i = 0; i < spawned; i++) {
    int status;
    while (waitpid(pids[i], &status, 0) < 0 && errno == EINTR) {
    }
  }
  free(pids);
  if (failed) return 1;
  printf("seconds %.6f\n", elapsed);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 3 && strcmp(argv[1], "loop") == 0) return loop(atol(argv[2]));
  if (argc == 3 && strcmp(argv[1], "hold") == 0) return hold(atol(argv[2]));
  fprintf(stderr, "usage: spawnref loop COUNT | spawnref hold N\n");
  return 2;
}

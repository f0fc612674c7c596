/* --workers auto: the cgroup v2 cpu.max quota, walked up a fake cgroup tree
 * (the affinity half is tested with taskset, in test_workers_auto.py). */
#include "cpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"

static char root[64];

static void put(const char *dir, const char *cpu_max) {
  char path[256];
  snprintf(path, sizeof path, "%s%s", root, dir);
  mkdir(path, 0755);
  if (cpu_max == NULL)
    return;
  snprintf(path, sizeof path, "%s%s/cpu.max", root, dir);
  FILE *f = fopen(path, "w");
  CHECK(f != NULL);
  if (f != NULL) {
    fputs(cpu_max, f);
    fclose(f);
  }
}

static unsigned quota(const char *path, struct cpu_count *c) {
  memset(c, 0, sizeof *c);
  return cpus_cgroup_quota(root, path, c);
}

static void test_no_quota(void) {
  struct cpu_count c;
  CHECK(quota("/", &c) == 0);
  put("", "max 100000\n");
  put("/a", "max 100000\n");
  CHECK(quota("/a", &c) == 0);
  CHECK(quota("/not/there", &c) == 0);
}

static void test_rounded_up(void) {
  struct cpu_count c;
  char dir[128];
  put("/a", "150000 100000\n");
  CHECK(quota("/a", &c) == 2);
  snprintf(dir, sizeof dir, "%s/a", root);
  CHECK_STR(c.quota_dir, dir);
  CHECK_STR(c.quota_text, "150000 100000");
  put("/a", "200000 100000\n");
  CHECK(quota("/a/", &c) == 2);
  put("/a", "10000 100000\n");
  CHECK(quota("/a", &c) == 1);
}

/* A parent's quota binds its children; the tightest level wins. */
static void test_tightest_level_wins(void) {
  struct cpu_count c;
  char dir[128];
  put("/a", "300000 100000\n");
  put("/a/b", "max 100000\n");
  put("/a/b/c", "500000 100000\n");
  CHECK(quota("/a/b/c", &c) == 3);
  snprintf(dir, sizeof dir, "%s/a", root);
  CHECK_STR(c.quota_dir, dir);
  CHECK(quota("/a/b/c/gone/deeper", &c) == 3);
  put("/a/b/c", "100000 50000\n");
  CHECK(quota("/a/b/c", &c) == 2);
  put("", "100000 100000\n"); /* the root of a fake tree may hold one too */
  CHECK(quota("/a/b/c", &c) == 1);
}

static void test_garbage_is_no_quota(void) {
  struct cpu_count c;
  put("/g", "lots\n");
  put("", "max 100000\n");
  CHECK(quota("/g", &c) == 0);
  put("/g", "100000 0\n");
  CHECK(quota("/g", &c) == 0);
}

int main(void) {
  snprintf(root, sizeof root, "/tmp/uc-unit-cgroup-XXXXXX");
  if (mkdtemp(root) == NULL)
    return 1;
  RUN(test_no_quota);
  RUN(test_rounded_up);
  RUN(test_tightest_level_wins);
  RUN(test_garbage_is_no_quota);
  char cmd[128];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
  CHECK(system(cmd) == 0);
  return CHECK_DONE();
}

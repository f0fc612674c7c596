#include "cpus.h"

#include <errno.h>
#include <limits.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define CGROUP_ROOT "/sys/fs/cgroup"
#define AFFINITY_CPUS_MAX (1 << 16)

/* sched_getaffinity with a mask as large as the kernel's: EINVAL means the
 * mask given was too small. */
static unsigned affinity_count(void) {
  for (size_t ncpus = 1024; ncpus <= AFFINITY_CPUS_MAX; ncpus *= 2) {
    cpu_set_t *set = CPU_ALLOC(ncpus);
    size_t size = CPU_ALLOC_SIZE(ncpus);
    if (set == NULL)
      break;
    int rc = sched_getaffinity(0, size, set), err = errno;
    int n = rc == 0 ? CPU_COUNT_S(size, set) : 0;
    CPU_FREE(set);
    if (rc == 0)
      return n > 0 ? (unsigned)n : 1;
    if (err != EINVAL)
      break;
  }
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? (unsigned)n : 1;
}

/* dir/cpu.max: "max 100000" is no quota (0), "150000 100000" allows 1.5 CPUs,
 * so 2 workers keep it busy. */
static unsigned read_cpu_max(const char *dir, char *text, size_t len) {
  char path[PATH_MAX];
  unsigned long long quota, period;
  int n = snprintf(path, sizeof path, "%s/cpu.max", dir);
  FILE *f = n > 0 && (size_t)n < sizeof path ? fopen(path, "re") : NULL;
  if (f == NULL)
    return 0;
  bool got = fgets(text, (int)len, f) != NULL;
  fclose(f);
  if (!got || sscanf(text, "%llu %llu", &quota, &period) != 2 || period == 0)
    return 0;
  text[strcspn(text, "\n")] = '\0';
  unsigned long long cpus = (quota + period - 1) / period;
  return cpus == 0 ? 1 : cpus > UINT_MAX ? UINT_MAX : (unsigned)cpus;
}

/* A parent's quota binds its children too: every level up to the root
 * counts, and the tightest wins. */
unsigned cpus_cgroup_quota(const char *root, const char *path, struct cpu_count *c) {
  char dir[PATH_MAX], text[sizeof c->quota_text];
  size_t root_len = strlen(root);
  int len = snprintf(dir, sizeof dir, "%s%s", root, path);
  if (len < 0 || (size_t)len >= sizeof dir)
    return 0;
  while ((size_t)len > root_len && dir[len - 1] == '/')
    dir[--len] = '\0';
  c->quota = 0;
  for (;;) {
    unsigned q = read_cpu_max(dir, text, sizeof text);
    if (q != 0 && (c->quota == 0 || q < c->quota)) {
      c->quota = q;
      memcpy(c->quota_dir, dir, sizeof dir);
      memcpy(c->quota_text, text, sizeof text);
    }
    char *slash = strrchr(dir + root_len, '/');
    if (slash == NULL)
      return c->quota;
    *slash = '\0';
  }
}

/* The process's cgroup v2 path, from the "0::" line of /proc/self/cgroup. */
static int own_cgroup(char *path, size_t len) {
  char line[PATH_MAX + 8];
  int rc = -ENOENT;
  FILE *f = fopen("/proc/self/cgroup", "re");
  if (f == NULL)
    return -errno;
  while (rc < 0 && fgets(line, sizeof line, f) != NULL) {
    if (strncmp(line, "0::", 3) != 0)
      continue;
    line[strcspn(line, "\n")] = '\0';
    rc = snprintf(path, len, "%s", line + 3) < (int)len ? 0 : -ENAMETOOLONG;
  }
  fclose(f);
  return rc;
}

void cpus_count(struct cpu_count *c) {
  char path[PATH_MAX];
  const char *root = getenv(CPUS_DEBUG_CGROUP_ROOT);
  memset(c, 0, sizeof *c);
  c->affinity = affinity_count();
  if (own_cgroup(path, sizeof path) == 0)
    cpus_cgroup_quota(root != NULL ? root : CGROUP_ROOT, path, c);
  c->n = c->quota != 0 && c->quota < c->affinity ? c->quota : c->affinity;
}

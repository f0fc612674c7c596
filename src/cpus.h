/* How many CPUs this process can really use, for --workers auto: the CPUs of
 * its affinity mask (taskset, cpusets), and its cgroup v2 cpu.max quota
 * rounded up, whichever is fewer. A container limited to 2 CPUs on a 64-core
 * node gets 2: the count of online CPUs would say 64. */
#ifndef UNIXCORN_CPUS_H
#define UNIXCORN_CPUS_H

#include <limits.h>
#include <stddef.h>

/* Test hook: a directory standing for /sys/fs/cgroup. */
#define CPUS_DEBUG_CGROUP_ROOT "UNIXCORN_DEBUG_CGROUP_ROOT"

struct cpu_count {
  unsigned n;        /* the fewer of the two below; at least 1 */
  unsigned affinity; /* CPUs in the affinity mask */
  unsigned quota;    /* CPUs the quota allows, rounded up; 0: no quota */
  char quota_dir[PATH_MAX];
  char quota_text[64]; /* cpu.max as read, "150000 100000" */
};

void cpus_count(struct cpu_count *c);

/* The tightest cpu.max quota from root/path up to root, in CPUs rounded up,
 * with the directory and text of the one that sets it; 0: none anywhere. */
unsigned cpus_cgroup_quota(const char *root, const char *path, struct cpu_count *c);

#endif

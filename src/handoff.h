/* What a master hands the processes it starts, and what they hand back: the
 * one place both sides read the contract from.
 *
 * A worker is this binary, exec'd with HANDOFF_WORKER in its environment; its
 * listening sockets are descriptors HANDOFF_FIRST_FD onwards, as many as
 * HANDOFF_WORKER_LISTENERS says, and the next descriptor is its end of the
 * heartbeat socketpair. A new master started by USR2 finds the listening
 * sockets at the same place, HANDOFF_INHERIT_LISTENERS of them, and in
 * HANDOFF_INHERIT_OWNED one '1' or '0' per socket: whether the old master
 * created its socket file (and so may remove it). With --metrics-bind, the
 * metrics socket comes next, and HANDOFF_INHERIT_METRICS says '1' or '0' for it
 * in the same way.
 *
 * The metrics process (--metrics-bind) is this binary exec'd with
 * HANDOFF_METRICS set to its master's pid; its listening socket is descriptor
 * HANDOFF_FIRST_FD, and the next one is the memfd of the counters the master
 * publishes (metrics_shm.h). */
#ifndef UNIXCORN_HANDOFF_H
#define UNIXCORN_HANDOFF_H

#include <sys/types.h>

#define HANDOFF_FIRST_FD 3
#define HANDOFF_WORKER "UNIXCORN_WORKER"
#define HANDOFF_WORKER_LISTENERS "UNIXCORN_WORKER_LISTENERS"
#define HANDOFF_INHERIT_LISTENERS "UNIXCORN_INHERIT_LISTENERS"
#define HANDOFF_INHERIT_OWNED "UNIXCORN_INHERIT_OWNED"
#define HANDOFF_INHERIT_METRICS "UNIXCORN_INHERIT_METRICS"
#define HANDOFF_METRICS "UNIXCORN_METRICS"
/* Our own variables are not passed on to children, except these (tests). */
#define HANDOFF_ENV_PREFIX "UNIXCORN_"
#define HANDOFF_ENV_KEPT_PREFIX "UNIXCORN_DEBUG"

/* A worker's exit status when it could not start serving at all: the master
 * stops instead of starting another. The metrics process uses it too, though
 * the master only waits longer before the next one. */
#define WORKER_BOOT_FAILED 3

/* A worker's view of what it was handed. */
struct worker_setup {
  int first_fd;
  int nlisteners;
  int heartbeat_fd;
};

/* The metrics process's. */
struct metrics_setup {
  int listen_fd;
  int shm_fd;
  pid_t master_pid; /* it stops once its parent is anyone else */
};

#endif

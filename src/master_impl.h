/* The master's state, shared by master.c and master_metrics.c. */
#ifndef UNIXCORN_MASTER_IMPL_H
#define UNIXCORN_MASTER_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "client.h"
#include "config.h"
#include "heartbeat.h"
#include "listener.h"
#include "metrics.h"

struct master;

struct child {
  uv_process_t proc;
  uv_poll_t beat;
  struct master *m;
  struct child *next;
  int beat_fd;
  int open_handles;
  unsigned generation;
  bool booted, retiring, exited;
  uint64_t spawned_ms, last_beat_ms, abort_sent_ms;
  struct worker_report report;
};

struct master {
  uv_loop_t loop;
  const struct config *cfg;
  char **argv;
  struct listener listeners[CONFIG_MAX_BINDS];
  size_t nlisteners;
  struct child *workers;
  uint64_t target; /* workers wanted */
  unsigned generation;
  uv_signal_t signals[9];
  uv_timer_t tick;
  bool stopping, quick, finished, ready_sent, reloading;
  uint64_t stop_deadline_ms;
  unsigned boot_failures;
  int exit_code;
  uv_process_t upgrade;
  bool upgrade_running;
  bool upgraded;                /* started by an old master's USR2 */
  pid_t old_master;             /* ...which is this process */
  uint64_t spawn_not_before_ms; /* backoff after workers crash young */
  const char *pid_file;
  char pid_file_old[PATH_MAX];
  struct worker_report retired; /* counters of workers gone */
  uint64_t restarts[RESTART_REASONS];
  /* --metrics-bind: an endpoint of the master's own */
  bool metrics_on;
  struct listener metrics_sock;
  uv_poll_t metrics_poll;
  struct client_set metrics_conns;
  struct conn_env metrics_env;
  struct metrics_source metrics_src;
};

void master_add_counters(struct worker_report *sum, const struct worker_report *r);
/* --metrics-bind: opens the endpoint (0 when not asked for, or -1), closes it. */
int master_open_metrics(struct master *m);
void master_close_metrics(struct master *m);

#endif

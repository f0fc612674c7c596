/* A worker's event loop: accepting on the listening sockets its master
 * opened, signals, heartbeats, graceful stop. The metrics process runs the
 * same loop with the metrics handler (metrics_server.c). */
#ifndef UNIXCORN_WORKER_H
#define UNIXCORN_WORKER_H

#include <uv.h>

#include "app.h"
#include "client.h"
#include "config.h"
#include "conn.h"
#include "debug_grow.h"
#include "handoff.h"
#include "heartbeat.h"
#include "listener.h"

struct worker_listener {
  uv_poll_t poll;
  struct listener sock;
  struct worker *wk;
};

/* What a process of this kind serves, and how it answers to its master. */
struct worker_role {
  const char *name; /* "worker", "metrics process": for log lines */
  struct app *app;
  bool recycles; /* --max-requests applies */
};

struct worker {
  uv_loop_t loop;
  const struct config *cfg;
  const struct worker_role *role;
  struct conn_env env;
  struct worker_listener listeners[CONFIG_MAX_BINDS];
  size_t nlisteners;
  uv_signal_t signals[4];
  uv_timer_t grace_timer, accept_timer, heartbeat_timer;
  int heartbeat_fd; /* -1: none; the master is watched by its pid alone */
  int statm_fd;     /* /proc/self/statm, for the RSS in each heartbeat */
  struct debug_grow grow;
  pid_t master_pid;
  uint64_t max_requests;        /* this worker's share of --max-requests, jitter added */
  struct client_set conns;      /* every open connection, for a graceful stop */
  bool accept_paused, finished; /* stopping is env.stopping */
  enum worker_stop stop;        /* why, for the master's restart count */
};

/* Serves until told to stop, or until the master is gone. Returns the exit
 * status. */
int worker_run(const struct config *cfg, const struct worker_setup *ws,
               const struct worker_role *role);

#endif

/* A worker's event loop: accepting on the listening sockets its master
 * opened, signals, heartbeats, graceful stop. */
#ifndef UNIXCORN_SERVER_H
#define UNIXCORN_SERVER_H

#include <uv.h>

#include "client.h"
#include "config.h"
#include "conn.h"
#include "echo.h"
#include "listener.h"

struct server_listener {
  uv_poll_t poll;
  struct listener sock;
  struct server *srv;
};

struct server {
  uv_loop_t loop;
  const struct config *cfg;
  struct conn_env env;
  struct echo_options echo;
  struct server_listener listeners[CONFIG_MAX_BINDS];
  size_t nlisteners;
  uv_signal_t signals[4];
  uv_prepare_t before_poll;
  uv_timer_t grace_timer, accept_timer, heartbeat_timer;
  int heartbeat_fd;
  pid_t master_pid;
  uint64_t max_requests;        /* this worker's share of --max-requests, jitter added */
  struct client_host host;      /* every open connection, for a graceful stop */
  bool accept_paused, finished; /* stopping is env.stopping */
};

/* A worker's exit status when it could not start serving at all. */
#define WORKER_BOOT_FAILED 3

/* What a master hands its worker: listening sockets at first_fd onwards, and
 * one end of their heartbeat socketpair. */
struct worker_setup {
  int first_fd;
  int nlisteners;
  int heartbeat_fd;
};

/* Serves until told to stop. Returns the exit status. */
int server_run(const struct config *cfg, const struct worker_setup *ws);

#endif

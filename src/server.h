/* The event loop of one process: listeners, accepting, signals, graceful stop. */
#ifndef UNIXCORN_SERVER_H
#define UNIXCORN_SERVER_H

#include <uv.h>

#include "config.h"
#include "conn.h"
#include "echo.h"
#include "listener.h"

struct client;

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
  uv_signal_t sig_term, sig_int;
  uv_prepare_t before_poll;
  uv_timer_t grace_timer, accept_timer;
  struct client *clients; /* every open connection, for a graceful stop */
  size_t nclients;
  bool stopping, accept_paused, finished;
};

/* Binds, serves until SIGTERM or SIGINT, and cleans up. Returns the exit code. */
int server_run(const struct config *cfg);

/* Called by a client as it goes away. */
void server_client_closed(struct server *srv, struct client *cl);

#endif

/* The metrics process (--metrics-bind): a worker's event loop (worker.c) on
 * the socket its master bound, serving the metrics handler from the counters
 * the master shares (metrics_shm.h). It is not a worker: it answers while no
 * worker is alive, sends no heartbeat (it watches its master by pid), and
 * takes no part in --workers, --max-requests, TTIN, TTOU, WINCH or HUP. */
#ifndef UNIXCORN_METRICS_SERVER_H
#define UNIXCORN_METRICS_SERVER_H

#include "config.h"
#include "handoff.h"

/* Serves until told to stop, or until the master is gone. Returns the exit
 * status. */
int metrics_server_run(const struct config *cfg, const struct metrics_setup *ms);

#endif

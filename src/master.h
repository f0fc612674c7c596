/* The master process, as Gunicorn's arbiter: it binds the listening sockets
 * once (or takes them from systemd or an old master), keeps --workers worker
 * processes running on them, watches their heartbeats, and answers signals.
 * It never serves a request, nor a scrape: with --metrics-bind it binds that
 * socket too, but a metrics process of its own serves it (master_metrics.c). */
#ifndef UNIXCORN_MASTER_H
#define UNIXCORN_MASTER_H

#include "config.h"

/* Runs until stopped. argv is re-used to start workers and upgrades. Returns
 * the exit status. */
int master_run(const struct config *cfg, char **argv);

#endif

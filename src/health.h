/* GET /healthz on the metrics address (--metrics-bind), for a load balancer
 * or Kubernetes' readiness probe: 200 while the server serves, 503 while it
 * drains (--shutdown-delay, then its graceful stop) or has no worker alive.
 * The body is one line that says which. It is never on the application's
 * sockets, where the application owns every path. */
#ifndef UNIXCORN_HEALTH_H
#define UNIXCORN_HEALTH_H

#include <stddef.h>

#include <unixcorn/app.h>

#include "metrics.h"

#define HEALTH_PATH "/healthz"

/* The status, with its line (ending in a newline) in line. snap is NULL when
 * the master published nothing that could be read: it is stuck or gone. */
int health_of(const struct metrics_snapshot *snap, char *line, size_t len);
/* Answers r with it. Returns 0, or a status to fail r with. */
int health_serve(unixcorn_request *r, const struct metrics_snapshot *snap);

#endif

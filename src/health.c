#include "health.h"

#include <stdio.h>

int health_of(const struct metrics_snapshot *snap, char *line, size_t len) {
  unsigned alive = snap ? snap->busy_workers + snap->idle_workers : 0;
  if (snap == NULL) {
    snprintf(line, len, "unknown: the master publishes no state\n");
    return 503;
  }
  if (snap->draining) {
    snprintf(line, len, "draining: stopping, not taking new work\n");
    return 503;
  }
  if (alive == 0) {
    snprintf(line, len, "down: no worker alive\n");
    return 503;
  }
  snprintf(line, len, "serving: %u worker%s\n", alive, alive == 1 ? "" : "s");
  return 200;
}

int health_serve(unixcorn_request *r, const struct metrics_snapshot *snap) {
  char line[128];
  int status = health_of(snap, line, sizeof line);
  size_t n = 0;
  while (line[n] != '\0')
    n++;
  return unixcorn_send(r, status, "text/plain; charset=utf-8", line, n) < 0 ? 500 : 0;
}

/* The metrics endpoint: Prometheus text format, of counters the master sums
 * over the workers' heartbeat reports. The metrics process serves it with the
 * same connection code as requests (metrics_server.c). */
#ifndef UNIXCORN_METRICS_H
#define UNIXCORN_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "config.h"
#include "heartbeat.h"

enum restart_reason {
  RESTART_CRASH,
  RESTART_TIMEOUT,
  RESTART_MAX_REQUESTS,
  RESTART_MEMORY,   /* --max-worker-memory */
  RESTART_LIFETIME, /* --max-worker-lifetime */
  RESTART_SIGNAL,   /* stopped or killed by a signal the master did not send */
  RESTART_REASONS
};

struct metrics_snapshot {
  struct worker_report total; /* counters of live and past workers, gauges of live */
  unsigned busy_workers, idle_workers;
  uint64_t restarts[RESTART_REASONS];
  uint32_t draining; /* TERM came: --shutdown-delay, then the graceful stop */
  size_t nqueues;
  struct {
    char name[128];
    uint32_t depth, max;
  } queues[CONFIG_MAX_BINDS];
};

/* What the metrics application (apps/apps.h) asks for on every scrape: 0, or
 * -errno when there is no snapshot to give (the scrape gets 503). */
struct metrics_source {
  int (*snapshot)(void *ctx, struct metrics_snapshot *out);
  void *ctx;
};

int metrics_format(struct buf *out, const struct metrics_snapshot *s);

#endif

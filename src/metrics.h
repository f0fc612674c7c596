/* The master's metrics endpoint: Prometheus text format, summed over the
 * workers' heartbeat reports, served by the same connection code as requests. */
#ifndef UNIXCORN_METRICS_H
#define UNIXCORN_METRICS_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"
#include "config.h"
#include "handler.h"
#include "heartbeat.h"

enum restart_reason {
  RESTART_CRASH,
  RESTART_TIMEOUT,
  RESTART_MAX_REQUESTS,
  RESTART_REASONS
};

struct metrics_snapshot {
  struct worker_report total; /* counters of live and past workers, gauges of live */
  unsigned busy_workers, idle_workers;
  uint64_t restarts[RESTART_REASONS];
  size_t nqueues;
  struct {
    char name[128];
    uint32_t depth, max;
  } queues[CONFIG_MAX_BINDS];
};

/* What the handler asks for on every scrape. */
struct metrics_source {
  void (*snapshot)(void *ctx, struct metrics_snapshot *out);
  void *ctx;
};

/* The handler; its app context is a struct metrics_source. */
extern const struct handler metrics_handler;

int metrics_format(struct buf *out, const struct metrics_snapshot *s);

#endif

/* What a worker tells its master a few times a second over their socketpair:
 * that its event loop still turns, and its counters, which the master sums
 * for the metrics endpoint. One SOCK_SEQPACKET message per report. */
#ifndef UNIXCORN_HEARTBEAT_H
#define UNIXCORN_HEARTBEAT_H

#include <stdint.h>

#include "response.h"
#include "timing.h"

#define HEARTBEAT_INTERVAL_MS 200
#define HEARTBEAT_VERSION 4

/* Why a worker is stopping, in its last reports: a worker that exits by
 * itself is counted as restarted for this reason (master_recycle.c). */
enum worker_stop {
  WORKER_SERVING,
  WORKER_STOP_MAX_REQUESTS,
  WORKER_STOP_SIGNAL, /* TERM, INT or QUIT, from the master or anyone */
  WORKER_STOP_ORPHANED,
};

struct worker_report {
  uint32_t version;
  uint32_t pid;
  uint64_t responses[STATUS_CLASSES];
  uint64_t bytes_in, bytes_out;
  uint64_t in_flight; /* requests begun and not yet answered */
  uint64_t connections;
  uint64_t app_busy_ms; /* the oldest request on a blocking application's thread */
  uint64_t rss;         /* resident memory, bytes; 0: unknown */
  uint32_t stop;        /* enum worker_stop */
  uint32_t unused;
  struct timing_stats timing; /* queue times, durations, shed requests */
};

/* Both return 0 or -errno; recv returns -EAGAIN when nothing is waiting. */
int heartbeat_send(int fd, const struct worker_report *r);
int heartbeat_recv(int fd, struct worker_report *r);

/* The worker's RSS for its report (--max-worker-memory): /proc/self/statm,
 * opened once and read again with one pread per heartbeat, never per
 * request. open returns the descriptor or -errno; rss returns bytes, or 0
 * when statm_fd is not open or cannot be read. */
int heartbeat_open_statm(void);
uint64_t heartbeat_rss(int statm_fd);

#endif

/* What a worker tells its master a few times a second over their socketpair:
 * that its event loop still turns, and its counters, which the master sums
 * for the metrics endpoint. One SOCK_SEQPACKET message per report. */
#ifndef UNIXCORN_HEARTBEAT_H
#define UNIXCORN_HEARTBEAT_H

#include <stdint.h>

#include "response.h"

#define HEARTBEAT_INTERVAL_MS 200
#define HEARTBEAT_VERSION 3

struct worker_report {
  uint32_t version;
  uint32_t pid;
  uint64_t responses[STATUS_CLASSES];
  uint64_t bytes_in, bytes_out;
  uint64_t in_flight; /* requests begun and not yet answered */
  uint64_t connections;
  uint64_t app_busy_ms; /* the oldest request on a blocking application's thread */
  uint64_t rss;         /* resident memory, bytes; 0: unknown */
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

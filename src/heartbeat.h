/* What a worker tells its master a few times a second over their socketpair:
 * that its event loop still turns, and its counters, which the master sums
 * for the metrics endpoint. One SOCK_SEQPACKET message per report. */
#ifndef UNIXCORN_HEARTBEAT_H
#define UNIXCORN_HEARTBEAT_H

#include <stdint.h>

#include "response.h"

#define HEARTBEAT_INTERVAL_MS 200
#define HEARTBEAT_VERSION 1

struct worker_report {
  uint32_t version;
  uint32_t pid;
  uint64_t responses[STATUS_CLASSES];
  uint64_t bytes_in, bytes_out;
  uint64_t in_flight; /* requests begun and not yet answered */
  uint64_t connections;
  uint64_t app_busy_ms; /* the oldest request on a blocking application's thread */
};

/* Both return 0 or -errno; recv returns -EAGAIN when nothing is waiting. */
int heartbeat_send(int fd, const struct worker_report *r);
int heartbeat_recv(int fd, struct worker_report *r);

#endif

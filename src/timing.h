/* Request times as Prometheus histograms, kept per worker and summed by the
 * master: how long a request waited before this server started it (its queue
 * time, from the proxy's X-Request-Start: queue_time.h) and how long it then
 * took. Plain counters, so a heartbeat carries them as they are and the master
 * adds them up; the buckets are fixed, the same in every process. */
#ifndef UNIXCORN_TIMING_H
#define UNIXCORN_TIMING_H

#include <stdint.h>

/* Upper bounds in µs, from 100 µs to 30 s: three per decade (1, 2.5, 5), so
 * a fast app's answers and a proxy's queue in a spike both land in buckets
 * that tell them apart. */
#define TIMING_BUCKETS 17
extern const uint64_t timing_bounds_us[TIMING_BUCKETS];

struct histogram {
  /* Observations per bucket, not cumulative (the exposition makes them so);
   * [TIMING_BUCKETS] holds those above the last bound. */
  uint64_t counts[TIMING_BUCKETS + 1];
  uint64_t sum_us;
};

/* What became of an X-Request-Start stamp. */
enum stamp_verdict {
  STAMP_OK,
  STAMP_MALFORMED, /* not a time in a form we read */
  STAMP_FUTURE,    /* further ahead of our clock than two clocks disagree */
  STAMP_TOO_OLD,   /* older than any proxy keeps a request */
  STAMP_UNTRUSTED, /* from a peer outside --forwarded-allow-ips */
  STAMP_VERDICTS
};

struct timing_stats {
  struct histogram queue;    /* requests with a stamp we believed */
  struct histogram duration; /* every request answered */
  uint64_t shed;             /* answered 503 for --max-queue-time */
  uint64_t stamps[STAMP_VERDICTS];
};

void histogram_observe(struct histogram *h, uint64_t us);
void timing_stats_add(struct timing_stats *sum, const struct timing_stats *s);

#endif

#include "metrics.h"

#include <unixcorn/app.h>

#include "apps/apps.h"
#include "health.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const restart_names[RESTART_REASONS] = {
    "crash", "timeout", "max_requests", "memory", "lifetime", "signal"};
/* X-Request-Start stamps ignored, by enum stamp_verdict (STAMP_OK is none). */
static const char *const ignored_names[STAMP_VERDICTS] = {NULL, "malformed", "future",
                                                          "too_old", "untrusted"};

static int put(struct buf *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int put(struct buf *out, const char *fmt, ...) {
  char line[512];
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  if (n < 0 || (size_t)n >= sizeof line)
    return -1;
  return buf_append(out, line, (size_t)n);
}

static void family(struct buf *out, const char *name, const char *type,
                   const char *help) {
  put(out, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

static void us_as_seconds(char *out, size_t len, uint64_t us) {
  snprintf(out, len, "%llu.%06llu", (unsigned long long)(us / 1000000),
           (unsigned long long)(us % 1000000));
}

/* Cumulative buckets, as the exposition format has them. */
static void histogram(struct buf *out, const char *name, const char *help,
                      const struct histogram *h) {
  char le[32];
  uint64_t below = 0;
  family(out, name, "histogram", help);
  for (int i = 0; i <= TIMING_BUCKETS; i++) {
    below += h->counts[i];
    if (i < TIMING_BUCKETS)
      snprintf(le, sizeof le, "%g", (double)timing_bounds_us[i] / 1e6);
    put(out, "%s_bucket{le=\"%s\"} %llu\n", name, i < TIMING_BUCKETS ? le : "+Inf",
        (unsigned long long)below);
  }
  us_as_seconds(le, sizeof le, h->sum_us);
  put(out, "%s_sum %s\n%s_count %llu\n", name, le, name, (unsigned long long)below);
}

/* Queue times, durations, and what --max-queue-time and --shutdown-delay do. */
static void traffic(struct buf *out, const struct metrics_snapshot *s) {
  const struct timing_stats *t = &s->total.timing;
  histogram(out, "unixcorn_request_queue_seconds",
            "Time from the proxy's X-Request-Start stamp to the request's first byte "
            "read by a worker.",
            &t->queue);
  histogram(out, "unixcorn_request_duration_seconds",
            "Time from a request's first byte to the last byte of its response "
            "handed to the socket.",
            &t->duration);
  family(out, "unixcorn_requests_shed_total", "counter",
         "Requests answered 503 at once for waiting longer than --max-queue-time.");
  put(out, "unixcorn_requests_shed_total %llu\n", (unsigned long long)t->shed);
  family(out, "unixcorn_request_start_ignored_total", "counter",
         "X-Request-Start stamps ignored, by reason.");
  for (int v = STAMP_OK + 1; v < STAMP_VERDICTS; v++)
    put(out, "unixcorn_request_start_ignored_total{reason=\"%s\"} %llu\n",
        ignored_names[v], (unsigned long long)t->stamps[v]);
  family(out, "unixcorn_draining", "gauge",
         "1 from TERM on (--shutdown-delay, then the graceful stop), else 0.");
  put(out, "unixcorn_draining %u\n", s->draining ? 1u : 0u);
}

int metrics_format(struct buf *out, const struct metrics_snapshot *s) {
  const struct worker_report *t = &s->total;
  family(out, "unixcorn_requests_total", "counter",
         "Requests answered, by status class.");
  for (int c = 1; c <= 5; c++)
    put(out, "unixcorn_requests_total{status=\"%dxx\"} %llu\n", c,
        (unsigned long long)t->responses[c]);
  family(out, "unixcorn_received_bytes_total", "counter", "Bytes read from clients.");
  put(out, "unixcorn_received_bytes_total %llu\n", (unsigned long long)t->bytes_in);
  family(out, "unixcorn_sent_bytes_total", "counter", "Bytes written to clients.");
  put(out, "unixcorn_sent_bytes_total %llu\n", (unsigned long long)t->bytes_out);
  family(out, "unixcorn_requests_in_flight", "gauge",
         "Requests begun and not yet answered.");
  put(out, "unixcorn_requests_in_flight %llu\n", (unsigned long long)t->in_flight);
  family(out, "unixcorn_connections", "gauge", "Open client connections.");
  put(out, "unixcorn_connections %llu\n", (unsigned long long)t->connections);
  family(out, "unixcorn_workers", "gauge",
         "Workers, busy (a request in flight) or idle.");
  put(out, "unixcorn_workers{state=\"busy\"} %u\n", s->busy_workers);
  put(out, "unixcorn_workers{state=\"idle\"} %u\n", s->idle_workers);
  family(out, "unixcorn_worker_restarts_total", "counter",
         "Workers replaced after they ended on their own or were stopped by someone "
         "else's signal, or for their memory or lifetime, by reason.");
  for (int r = 0; r < RESTART_REASONS; r++)
    put(out, "unixcorn_worker_restarts_total{reason=\"%s\"} %llu\n", restart_names[r],
        (unsigned long long)s->restarts[r]);
  family(out, "unixcorn_listen_queue_length", "gauge",
         "Connections waiting in a Unix socket's listen queue (sock_diag).");
  for (size_t i = 0; i < s->nqueues; i++)
    put(out, "unixcorn_listen_queue_length{listener=\"%s\"} %u\n", s->queues[i].name,
        s->queues[i].depth);
  family(out, "unixcorn_listen_queue_max", "gauge",
         "The listen queue's limit (backlog).");
  for (size_t i = 0; i < s->nqueues; i++)
    put(out, "unixcorn_listen_queue_max{listener=\"%s\"} %u\n", s->queues[i].name,
        s->queues[i].max);
  traffic(out, s);
  return out->len > 0 ? 0 : -1;
}

/* The built-in application the metrics process serves: /healthz gets the
 * server's health, every other path the latest snapshot. */
static int scrape(unixcorn_request *r) {
  const struct metrics_source *src = unixcorn_app_data(r);
  struct metrics_snapshot snap = {0};
  struct buf text = {0};
  bool have = src->snapshot(src->ctx, &snap) == 0;
  unixcorn_str path = unixcorn_path(r);
  if (path.len == strlen(HEALTH_PATH) && memcmp(path.ptr, HEALTH_PATH, path.len) == 0)
    return health_serve(r, have ? &snap : NULL);
  if (!have)
    return 503;
  int status = metrics_format(&text, &snap) < 0 ? 500 : 0;
  if (status == 0 && unixcorn_send(r, 200, "text/plain; version=0.0.4; charset=utf-8",
                                   text.data, text.len) < 0)
    status = 500;
  buf_release(&text);
  return status;
}

const struct unixcorn_app metrics_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "metrics",
    .on_request = scrape,
};

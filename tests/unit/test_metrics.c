/* The metrics text and /healthz from a snapshot, without a process: the
 * histograms' buckets and their exposition, the new series, and health. */
#include <stdlib.h>

#include "check.h"
#include "health.h"
#include "metrics.h"

static void test_bucket_bounds_are_inclusive(void) {
  struct histogram h = {0};
  histogram_observe(&h, 0);
  histogram_observe(&h, 100); /* le="0.0001" holds 100 µs itself */
  histogram_observe(&h, 101);
  histogram_observe(&h, 30000000);
  histogram_observe(&h, 30000001);
  CHECK(h.counts[0] == 2 && h.counts[1] == 1);
  CHECK(h.counts[TIMING_BUCKETS - 1] == 1 && h.counts[TIMING_BUCKETS] == 1);
  CHECK(h.sum_us == 60000202);
  for (int i = 1; i < TIMING_BUCKETS; i++)
    CHECK(timing_bounds_us[i] > timing_bounds_us[i - 1]);
  CHECK(timing_bounds_us[0] == 100 && timing_bounds_us[TIMING_BUCKETS - 1] == 30000000);
}

static void test_stats_add_up(void) {
  struct timing_stats a = {0}, b = {0};
  histogram_observe(&a.queue, 2000);
  histogram_observe(&b.queue, 2000);
  histogram_observe(&b.duration, 7);
  a.shed = 2, b.shed = 3;
  b.stamps[STAMP_FUTURE] = 4;
  timing_stats_add(&a, &b);
  CHECK(a.queue.counts[4] == 2 && a.queue.sum_us == 4000);
  CHECK(a.duration.counts[0] == 1 && a.shed == 5 && a.stamps[STAMP_FUTURE] == 4);
}

static char *format(const struct metrics_snapshot *s) {
  struct buf out = {0};
  CHECK(metrics_format(&out, s) == 0);
  buf_append(&out, "", 1);
  char *text = strdup(out.data);
  buf_release(&out);
  return text;
}

static void check_line(const char *text, const char *line) {
  char want[256];
  snprintf(want, sizeof want, "\n%s\n", line);
  if (strstr(text, want) == NULL)
    fprintf(stderr, "no line '%s'\n", line);
  CHECK(strstr(text, want) != NULL);
}

static void test_histograms_in_the_text(void) {
  struct metrics_snapshot s = {0};
  struct timing_stats *t = &s.total.timing;
  histogram_observe(&t->queue, 150);     /* le=0.00025 */
  histogram_observe(&t->queue, 2500000); /* le=2.5 */
  histogram_observe(&t->queue, 45000000);
  histogram_observe(&t->duration, 80);
  t->shed = 7;
  t->stamps[STAMP_MALFORMED] = 1;
  t->stamps[STAMP_UNTRUSTED] = 2;
  s.restarts[RESTART_SIGNAL] = 3;
  s.draining = 1;
  char *text = format(&s);
  check_line(text, "# TYPE unixcorn_request_queue_seconds histogram");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"0.0001\"} 0");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"0.00025\"} 1");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"1\"} 1");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"2.5\"} 2");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"30\"} 2");
  check_line(text, "unixcorn_request_queue_seconds_bucket{le=\"+Inf\"} 3");
  check_line(text, "unixcorn_request_queue_seconds_sum 47.500150");
  check_line(text, "unixcorn_request_queue_seconds_count 3");
  check_line(text, "# TYPE unixcorn_request_duration_seconds histogram");
  check_line(text, "unixcorn_request_duration_seconds_bucket{le=\"0.0001\"} 1");
  check_line(text, "unixcorn_request_duration_seconds_sum 0.000080");
  check_line(text, "unixcorn_request_duration_seconds_count 1");
  check_line(text, "unixcorn_requests_shed_total 7");
  check_line(text, "unixcorn_request_start_ignored_total{reason=\"malformed\"} 1");
  check_line(text, "unixcorn_request_start_ignored_total{reason=\"future\"} 0");
  check_line(text, "unixcorn_request_start_ignored_total{reason=\"too_old\"} 0");
  check_line(text, "unixcorn_request_start_ignored_total{reason=\"untrusted\"} 2");
  check_line(text, "unixcorn_worker_restarts_total{reason=\"signal\"} 3");
  check_line(text, "unixcorn_draining 1");
  free(text);
}

static void test_health(void) {
  char line[128];
  struct metrics_snapshot s = {0};
  s.idle_workers = 1;
  CHECK(health_of(&s, line, sizeof line) == 200);
  CHECK_STR(line, "serving: 1 worker\n");
  s.busy_workers = 2;
  CHECK(health_of(&s, line, sizeof line) == 200);
  CHECK_STR(line, "serving: 3 workers\n");
  s.draining = 1;
  CHECK(health_of(&s, line, sizeof line) == 503);
  CHECK(strncmp(line, "draining: ", 10) == 0);
  s.draining = 0;
  s.busy_workers = s.idle_workers = 0;
  CHECK(health_of(&s, line, sizeof line) == 503);
  CHECK_STR(line, "down: no worker alive\n");
  CHECK(health_of(NULL, line, sizeof line) == 503);
  CHECK(strncmp(line, "unknown: ", 9) == 0);
}

int main(void) {
  RUN(test_bucket_bounds_are_inclusive);
  RUN(test_stats_add_up);
  RUN(test_histograms_in_the_text);
  RUN(test_health);
  return CHECK_DONE();
}

/* Queue time (queue_time.c): X-Request-Start stamps in every form we read and
 * every way they are ignored, and --max-queue-time on the connection state
 * machine, driven without a socket. */
#include <stdlib.h>

#include "check.h"
#include "queue_time.h"
#include "util.h"

/* The wall clock of these tests: 2023-11-14 22:13:20 UTC, in µs. */
#define NOW_S UINT64_C(1700000000)
#define NOW_US (NOW_S * 1000000)

static enum stamp_verdict judge(const char *v, uint64_t *queue_us) {
  *queue_us = UINT64_MAX;
  return queue_time_judge(v, strlen(v), NOW_US, queue_us);
}

static void test_forms_read(void) {
  static const struct {
    const char *stamp;
    uint64_t queue_us;
  } cases[] = {
      {"t=1699999999.877", 123000},       /* nginx's t=${msec} */
      {"t=1699999999.877000", 123000},    /* microseconds after the point */
      {"t=1699999999.877000999", 123000}, /* nanoseconds: cut to µs */
      {"t=1699999999.9", 100000},         /* one digit */
      {"1699999999.877", 123000},         /* without t= */
      {"t=1699999998", 2000000},          /* whole seconds */
      {"t=1699999999877", 123000},        /* milliseconds (Heroku) */
      {"t=1699999999877500", 122500},     /* microseconds (Apache's %t) */
      {"t=1699999999877500000", 122500},  /* nanoseconds */
      {"t=1700000000.000", 0},            /* no wait */
      {"t=1700000000.500", 0},            /* a little ahead: two clocks */
      {"t=1700000001", 0},                /* exactly the slack ahead */
      {"t=1699996400", 3600000000},       /* exactly the oldest we take */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t q;
    enum stamp_verdict v = judge(cases[i].stamp, &q);
    if (v != STAMP_OK || q != cases[i].queue_us)
      fprintf(stderr, "%s: verdict %d, queue %llu\n", cases[i].stamp, (int)v,
              (unsigned long long)q);
    CHECK(v == STAMP_OK && q == cases[i].queue_us);
  }
}

static void test_stamps_ignored(void) {
  static const struct {
    const char *stamp;
    enum stamp_verdict verdict;
  } cases[] = {
      {"", STAMP_MALFORMED},
      {"t=", STAMP_MALFORMED},
      {"t", STAMP_MALFORMED},
      {"t=abc", STAMP_MALFORMED},
      {"t=1699999999.", STAMP_MALFORMED},
      {"t=.5", STAMP_MALFORMED},
      {"t=1699999999.8.7", STAMP_MALFORMED},
      {"t=-1699999999", STAMP_MALFORMED},
      {"t=+1699999999", STAMP_MALFORMED},
      {"t= 1699999999", STAMP_MALFORMED},
      {"t=1699999999 ", STAMP_MALFORMED},
      {"t=1699999999,t=1699999999", STAMP_MALFORMED},
      {"T=1699999999", STAMP_MALFORMED},
      {"t=0x6553f100", STAMP_MALFORMED},
      {"t=1699999999.1234567890", STAMP_MALFORMED},   /* past ns */
      {"t=16999999990000000000", STAMP_MALFORMED},    /* 20 digits */
      {"t=99999999999999999999999", STAMP_MALFORMED}, /* would overflow */
      {"t=100000000000.5", STAMP_MALFORMED},          /* seconds in the year 5138 */
      {"t=1700000001.001", STAMP_FUTURE},             /* past the slack */
      {"t=1700003600", STAMP_FUTURE},
      {"t=9999999999", STAMP_FUTURE},
      {"t=1699996399.999", STAMP_TOO_OLD}, /* just over an hour */
      {"t=1", STAMP_TOO_OLD},
      {"t=0", STAMP_TOO_OLD},
      {"t=1700000", STAMP_TOO_OLD}, /* seconds, in 1970 */
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    uint64_t q;
    enum stamp_verdict v = judge(cases[i].stamp, &q);
    if (v != cases[i].verdict)
      fprintf(stderr, "'%s': verdict %d, wanted %d\n", cases[i].stamp, (int)v,
              (int)cases[i].verdict);
    CHECK(v == cases[i].verdict && q == UINT64_MAX);
  }
}

/* ---- on the connection ---- */

static char dechunked[1 << 16];

/* A driver whose clock reads NOW at the next request's first byte. */
static void start(struct driver *d, uint64_t max_queue_ms, bool trusted) {
  struct config cfg = driver_config();
  cfg.max_queue_time_ms = max_queue_ms;
  driver_init(d, &cfg);
  d->conn.peer.trusted = trusted;
}

static void feed_at_now(struct driver *d, const char *req) {
  d->env.now_ns = UINT64_C(5000000000);
  d->env.wall_offset_ns = (int64_t)(NOW_US * 1000) - (int64_t)d->env.now_ns;
  driver_feed(d, req, strlen(req), 0);
}

static const struct timing_stats *timing(const struct driver *d) {
  return &d->env.stats.timing;
}

static uint64_t count(const struct histogram *h) {
  uint64_t n = 0;
  for (int i = 0; i <= TIMING_BUCKETS; i++)
    n += h->counts[i];
  return n;
}

#define POST_WAITED(stamp)                                                               \
  "POST /echo HTTP/1.1\r\nHost: x\r\nX-Request-Start: " stamp                            \
  "\r\nContent-Length: 5\r\n\r\nhello"

static void test_request_over_max_queue_time_is_shed(void) {
  struct driver d;
  struct parsed r;
  size_t pos = 0;
  start(&d, 5000, true);
  feed_at_now(&d, POST_WAITED("t=1699999994.000")); /* waited 6 s */
  CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
  CHECK(r.status == 503);
  CHECK(head_has(&r, "\r\nRetry-After: 1\r\n") && head_has(&r, "Connection: close"));
  CHECK(memmem(r.body, r.body_len, "--max-queue-time", 16) != NULL);
  CHECK(memmem(d.sent.data, d.sent.len, "hello", 5) == NULL); /* the app never ran */
  CHECK(conn_done(&d.conn) && pos == d.sent.len);
  CHECK(timing(&d)->shed == 1 && timing(&d)->stamps[STAMP_OK] == 1);
  CHECK(count(&timing(&d)->queue) == 1 && timing(&d)->queue.sum_us == 6000000);
  CHECK(timing(&d)->queue.counts[TIMING_BUCKETS - 2] == 1); /* 5 s < 6 s <= 10 s */
  CHECK(d.env.stats.responses[5] == 1 && count(&timing(&d)->duration) == 1);
  driver_free(&d);
}

static void test_request_within_max_queue_time_is_served(void) {
  struct driver d;
  struct parsed r;
  size_t pos = 0;
  start(&d, 5000, true);
  feed_at_now(&d, POST_WAITED("t=1699999995.000")); /* exactly the limit */
  feed_at_now(&d, POST_WAITED("t=1699999999.999"));
  for (int i = 0; i < 2; i++) {
    CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
    CHECK(r.status == 200 && r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
  }
  CHECK(timing(&d)->shed == 0 && timing(&d)->stamps[STAMP_OK] == 2);
  CHECK(timing(&d)->queue.sum_us == 5001000);
  CHECK(timing(&d)->queue.counts[0] == 0 && timing(&d)->queue.counts[3] == 1);
  CHECK(count(&timing(&d)->duration) == 2 && d.conn.state == CONN_IDLE);
  driver_free(&d);
}

/* Not believed, not counted in the queue times, never shed; served as usual. */
static void test_ignored_stamps_change_nothing(void) {
  static const struct {
    const char *req;
    bool trusted;
    enum stamp_verdict verdict;
  } cases[] = {
      {POST_WAITED("t=1699999000.000"), false, STAMP_UNTRUSTED},
      {POST_WAITED("t=soon"), true, STAMP_MALFORMED},
      {POST_WAITED("t=1700000900.000"), true, STAMP_FUTURE},
      {POST_WAITED("t=1600000000.000"), true, STAMP_TOO_OLD},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct driver d;
    struct parsed r;
    size_t pos = 0;
    start(&d, 1, cases[i].trusted);
    feed_at_now(&d, cases[i].req);
    CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
    CHECK(r.status == 200 && r.body_len == 5);
    CHECK(timing(&d)->stamps[cases[i].verdict] == 1 && timing(&d)->stamps[STAMP_OK] == 0);
    CHECK(timing(&d)->shed == 0 && count(&timing(&d)->queue) == 0);
    CHECK(count(&timing(&d)->duration) == 1);
    driver_free(&d);
  }
}

/* Without --max-queue-time a stamp is only measured; without a stamp,
 * nothing is. Every request answered has a duration, errors included. */
static void test_measured_only(void) {
  struct driver d;
  start(&d, 0, true);
  feed_at_now(&d, POST_WAITED("t=1699996400.000"));
  feed_at_now(&d, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  feed_at_now(&d, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-Start: t=1\r\n\r\n");
  CHECK(d.env.stats.responses[2] == 3 && timing(&d)->shed == 0);
  CHECK(count(&timing(&d)->queue) == 1 && timing(&d)->queue.sum_us == 3600000000);
  CHECK(timing(&d)->queue.counts[TIMING_BUCKETS] == 1); /* over 30 s */
  CHECK(timing(&d)->stamps[STAMP_TOO_OLD] == 1);
  feed_at_now(&d, "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n");
  CHECK(d.env.stats.responses[4] == 1 && count(&timing(&d)->duration) == 4);
  driver_free(&d);
}

int main(void) {
  RUN(test_forms_read);
  RUN(test_stamps_ignored);
  RUN(test_request_over_max_queue_time_is_shed);
  RUN(test_request_within_max_queue_time_is_served);
  RUN(test_ignored_stamps_change_nothing);
  RUN(test_measured_only);
  return CHECK_DONE();
}

#include "queue_time.h"

#include <time.h>
#include <uv.h>

#include "conn.h"
#include "exchange.h"

#define DIGITS_MAX 19 /* below UINT64_MAX's 20, so no number overflows */
#define FRACTION_DIGITS_MAX 9

struct number {
  uint64_t value;
  unsigned digits;
};

static const char *read_digits(const char *p, const char *end, struct number *n,
                               unsigned max) {
  n->value = 0;
  n->digits = 0;
  while (p < end && *p >= '0' && *p <= '9' && n->digits < max) {
    n->value = n->value * 10 + (uint64_t)(*p++ - '0');
    n->digits++;
  }
  return p;
}

/* A whole number is told apart by its size: seconds since the epoch have 10
 * digits until the year 2286, milliseconds 13, microseconds 16, nanoseconds 19. */
static uint64_t whole_to_us(uint64_t v) {
  if (v < UINT64_C(100000000000))
    return v * 1000000;
  if (v < UINT64_C(100000000000000))
    return v * 1000;
  if (v < UINT64_C(100000000000000000))
    return v;
  return v / 1000;
}

/* Seconds and their fraction, to µs: the fraction padded or cut to 6 digits. */
static uint64_t seconds_to_us(uint64_t whole, struct number frac) {
  uint64_t us = frac.value;
  for (unsigned d = frac.digits; d < 6; d++)
    us *= 10;
  for (unsigned d = frac.digits; d > 6; d--)
    us /= 10;
  return whole * 1000000 + us;
}

/* 0 and the stamp in µs since the epoch, or -1 if it is not one. */
static int parse_stamp(const char *p, const char *end, uint64_t *stamp_us) {
  struct number whole, frac = {0, 0};
  if (end - p >= 2 && p[0] == 't' && p[1] == '=')
    p += 2;
  p = read_digits(p, end, &whole, DIGITS_MAX);
  if (whole.digits == 0)
    return -1;
  if (p < end && *p == '.') {
    p = read_digits(p + 1, end, &frac, FRACTION_DIGITS_MAX);
    if (frac.digits == 0 || whole.value >= UINT64_C(100000000000))
      return -1; /* "1." or seconds past the year 5138 */
  }
  if (p != end)
    return -1;
  *stamp_us = frac.digits ? seconds_to_us(whole.value, frac) : whole_to_us(whole.value);
  return 0;
}

enum stamp_verdict queue_time_judge(const char *value, size_t len, uint64_t now_us,
                                    uint64_t *queue_us) {
  uint64_t stamp;
  if (parse_stamp(value, value + len, &stamp) < 0)
    return STAMP_MALFORMED;
  if (stamp > now_us) {
    if (stamp - now_us > QUEUE_TIME_AHEAD_MAX_US)
      return STAMP_FUTURE;
    *queue_us = 0;
    return STAMP_OK;
  }
  if (now_us - stamp > QUEUE_TIME_OLDEST_US)
    return STAMP_TOO_OLD;
  *queue_us = now_us - stamp;
  return STAMP_OK;
}

int64_t queue_time_wall_offset_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  int64_t wall = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  return wall - (int64_t)uv_hrtime();
}

bool queue_time_at_head(struct conn_env *env, struct exchange *x) {
  const struct request *r = &x->req;
  struct timing_stats *t = &env->stats.timing;
  uint64_t queue_us, max_ms = env->cfg->max_queue_time_ms;
  if (r->request_start.len == 0)
    return false;
  if (!x->peer.trusted) {
    t->stamps[STAMP_UNTRUSTED]++;
    return false;
  }
  /* The wall clock when the request's first byte was read. */
  uint64_t began_us = (uint64_t)((int64_t)x->begin_ns + env->wall_offset_ns) / 1000;
  enum stamp_verdict v = queue_time_judge(request_str(r, r->request_start),
                                          r->request_start.len, began_us, &queue_us);
  t->stamps[v]++;
  if (v != STAMP_OK)
    return false;
  x->queue_us = (int64_t)queue_us;
  histogram_observe(&t->queue, queue_us);
  if (max_ms == 0 || queue_us <= max_ms * 1000)
    return false;
  t->shed++;
  return true;
}

/* The one clock read per request: the loop's clock of this turn would make
 * an event application that computes for 50 ms in its callback look
 * instantaneous. The reading also moves the loop's clock on, so that a request
 * pipelined behind this one begins now, not at the start of the turn. */
void queue_time_at_end(struct conn_env *env, const struct exchange *x) {
  uint64_t now = exchange_clock_ns();
  if (now > env->now_ns)
    env->now_ns = now;
  histogram_observe(&env->stats.timing.duration, (env->now_ns - x->begin_ns) / 1000);
}

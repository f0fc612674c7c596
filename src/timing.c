#include "timing.h"

const uint64_t timing_bounds_us[TIMING_BUCKETS] = {
    100,    250,    500,    1000,    2500,    5000,    10000,    25000,    50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 30000000,
};

/* Most requests land in the first few buckets: a linear scan from the
 * bottom ends sooner than a binary search would. */
void histogram_observe(struct histogram *h, uint64_t us) {
  unsigned i = 0;
  while (i < TIMING_BUCKETS && us > timing_bounds_us[i])
    i++;
  h->counts[i]++;
  h->sum_us += us;
}

static void histogram_add(struct histogram *sum, const struct histogram *h) {
  for (unsigned i = 0; i <= TIMING_BUCKETS; i++)
    sum->counts[i] += h->counts[i];
  sum->sum_us += h->sum_us;
}

void timing_stats_add(struct timing_stats *sum, const struct timing_stats *s) {
  histogram_add(&sum->queue, &s->queue);
  histogram_add(&sum->duration, &s->duration);
  sum->shed += s->shed;
  for (unsigned i = 0; i < STAMP_VERDICTS; i++)
    sum->stamps[i] += s->stamps[i];
}

/* Worker recycling guards, as uWSGI's reload-on-rss and Granian's
 * --workers-max-rss and --workers-lifetime: --max-worker-memory and
 * --max-worker-lifetime.
 *
 * A worker due for either is replaced the way HUP replaces them all: it stops
 * counting as one of the workers, so master_maintain starts its successor at
 * once, and only once that one is up does the old one get TERM, to finish its
 * requests and exit. The socket never has fewer workers than before, and no
 * request fails.
 *
 * The RSS comes in the worker's own heartbeats (heartbeat.h) rather than from
 * the master reading /proc/PID/statm: the worker reads it anyway once per
 * heartbeat, the master then opens no file per worker per tick, and "several
 * heartbeats in a row" is counted on the very reports that carry it. A worker
 * stuck so long that it sends none is --timeout's business.
 *
 * Also here: the reason counted for a worker that went by itself. */
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "log.h"
#include "master_impl.h"

/* Heartbeats in a row over --max-worker-memory before a worker is replaced:
 * 1 s at one heartbeat per 200 ms. A spike shorter than that (a large body
 * held for a moment) is not a leak. */
#define MEMORY_BEATS 5
#define MIB (1024.0 * 1024.0)

static void replace(struct master *m, struct child *w, enum restart_reason why,
                    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void replace(struct master *m, struct child *w, enum restart_reason why,
                    const char *fmt, ...) {
  char reason[256];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(reason, sizeof reason, fmt, ap);
  va_end(ap);
  log_info("Worker (pid:%d) %s: starting its replacement, then stopping it gracefully",
           w->proc.pid, reason);
  w->replacing = true;
  m->restarts[why]++;
  master_maintain(m);
}

/* Up to the jitter more, at random, so that workers started together do not
 * all come due together. */
void master_recycle_spawned(struct master *m, struct child *w) {
  uint64_t lifetime = m->cfg->max_worker_lifetime_ms;
  uint64_t jitter = m->cfg->max_worker_lifetime_jitter_ms, r = 0;
  if (lifetime == 0)
    return;
  if (jitter != 0 && uv_random(NULL, NULL, &r, sizeof r, 0, NULL) != 0)
    r = uv_hrtime();
  w->lifetime_ms = lifetime + (jitter != 0 ? r % (jitter + 1) : 0);
}

static bool due_now(const struct master *m, const struct child *w) {
  return master_serving(m, w) && w->booted && !m->stopping;
}

void master_recycle_beat(struct master *m, struct child *w) {
  uint64_t limit = m->cfg->max_worker_memory, rss = w->report.rss;
  if (limit == 0 || !due_now(m, w))
    return;
  w->over_beats = rss > limit ? w->over_beats + 1 : 0;
  if (w->over_beats == MEMORY_BEATS)
    replace(m, w, RESTART_MEMORY,
            "uses %.1f MiB, over --max-worker-memory (%.1f MiB) for %d heartbeats in a "
            "row",
            (double)rss / MIB, (double)limit / MIB, MEMORY_BEATS);
}

/* One lifetime replacement at a time: the next waits until the last one's
 * successor is up, so that workers that come due together still go one by
 * one. */
void master_recycle_tick(struct master *m, uint64_t now) {
  struct child *due = NULL;
  for (struct child *w = m->workers; w != NULL; w = w->next) {
    if (w->replacing && !w->retiring)
      return;
    if (due == NULL && w->lifetime_ms != 0 && due_now(m, w) &&
        now - w->spawned_ms >= w->lifetime_ms)
      due = w;
  }
  if (due != NULL)
    replace(m, due, RESTART_LIFETIME,
            "has run for %.1f s, past --max-worker-lifetime (%.1f s with its jitter)",
            (double)(now - due->spawned_ms) / 1000, (double)due->lifetime_ms / 1000);
}

/* Signals whose default action dumps core: a worker they killed crashed (the
 * watchdog logs it and raises the signal again). Any other (KILL from the OOM
 * killer or an operator, TERM from a script) was sent from outside. */
static bool crash_signal(int sig) {
  switch (sig) {
  case SIGSEGV:
  case SIGBUS:
  case SIGILL:
  case SIGFPE:
  case SIGABRT:
  case SIGSYS:
  case SIGTRAP:
  case SIGXCPU:
  case SIGXFSZ: return true;
  default: return false;
  }
}

/* A worker that exits 0 on its own says why in its last heartbeat: its
 * --max-requests share, or a stop signal that did not come from the master. */
enum restart_reason master_restart_reason(const struct child *w, int64_t status,
                                          int term_signal) {
  if (w->abort_sent_ms)
    return RESTART_TIMEOUT;
  if (term_signal)
    return crash_signal(term_signal) ? RESTART_CRASH : RESTART_SIGNAL;
  if (status != 0)
    return RESTART_CRASH;
  return w->report.stop == WORKER_STOP_MAX_REQUESTS ? RESTART_MAX_REQUESTS
                                                    : RESTART_SIGNAL;
}

/* --shutdown-delay: draining for a rolling update.
 *
 * A load balancer that polls health (Kubernetes' readiness probe, a cloud
 * balancer's target check) takes a server out of rotation some time after it
 * was told to stop, not at once. A server that stops accepting on TERM
 * meanwhile gets connections refused: 502s on every rolling update. So on TERM
 * the master first drains: it tells systemd it is stopping, /healthz on the
 * metrics address answers 503, and the workers serve on as usual for the
 * delay. Only then does the graceful stop begin, as it would have at once
 * without a delay. A second TERM, or INT or QUIT, cuts the delay short.
 *
 * While draining the master keeps its workers as usual (a crashed one is
 * replaced), but takes no new orders: HUP, TTIN, TTOU, WINCH and USR2 wait for
 * a server that is not on its way out. USR1 still reopens the logs. */
#include "log.h"
#include "master_impl.h"
#include "notify.h"

static void on_delay_over(uv_timer_t *t) {
  struct master *m = t->data;
  log_info("Shutdown delay over: stopping gracefully");
  master_begin_stop(m, false, "graceful");
}

void master_drain_init(struct master *m) {
  uv_timer_init(&m->loop, &m->drain_timer);
  m->drain_timer.data = m;
}

bool master_drain_on_term(struct master *m) {
  uint64_t delay = m->cfg->shutdown_delay_ms;
  if (m->stopping)
    return false;
  if (m->draining) {
    log_info("TERM again: skipping the rest of the shutdown delay (%.1f s)",
             (double)uv_timer_get_due_in(&m->drain_timer) / 1000);
    return false;
  }
  if (delay == 0)
    return false;
  if (master_partner_alive(m)) {
    log_info("No shutdown delay: the other master (USR2) goes on serving these sockets");
    return false;
  }
  m->draining = true;
  notify_systemd("STOPPING=1");
  log_info("Draining for %.1f s (--shutdown-delay): requests are served as usual, %s; "
           "then a graceful stop (TERM again, or INT, stops sooner)",
           (double)delay / 1000,
           m->metrics.on ? "/healthz answers 503"
                         : "with no --metrics-bind for a /healthz to say so");
  master_publish_metrics(m, false); /* /healthz says so from now on */
  uv_timer_start(&m->drain_timer, on_delay_over, delay, 0);
  return true;
}

void master_drain_end(struct master *m) {
  if (!m->draining)
    return;
  m->draining = false;
  uv_timer_stop(&m->drain_timer);
}

void master_drain_close(struct master *m) {
  uv_close((uv_handle_t *)&m->drain_timer, NULL);
}

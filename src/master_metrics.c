/* The master's --metrics-bind endpoint: its own listener, the shared connection
 * code with the metrics handler, and a snapshot summed over the workers. */
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "master_impl.h"

static void snapshot(void *ctx, struct metrics_snapshot *out) {
  struct master *m = ctx;
  out->total = m->retired;
  for (struct child *w = m->workers; w != NULL; w = w->next) {
    master_add_counters(&out->total, &w->report);
    out->total.in_flight += w->report.in_flight;
    out->total.connections += w->report.connections;
    if (w->booted && !w->retiring)
      *(w->report.in_flight ? &out->busy_workers : &out->idle_workers) += 1;
  }
  memcpy(out->restarts, m->restarts, sizeof out->restarts);
  for (size_t i = 0; i < m->nlisteners; i++) {
    const struct listener *l = &m->listeners[i];
    if (l->addr.kind != BIND_UNIX)
      continue;
    if (listener_queue(l, &out->queues[out->nqueues].depth,
                       &out->queues[out->nqueues].max) == 0)
      listener_name(l, out->queues[out->nqueues++].name, sizeof out->queues[0].name);
  }
}

static void on_metrics_accept(uv_poll_t *h, int status, int events) {
  struct master *m = h->data;
  struct peer peer = {.family = AF_UNIX};
  (void)events;
  for (int fd; status == 0 && (fd = accept4(m->metrics_sock.fd, NULL, NULL,
                                            SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;)
    client_start(&m->metrics_conns, fd, &peer);
}

static void on_metrics_client_closed(struct client_set *set) {
  (void)set;
}

int master_open_metrics(struct master *m) {
  char err[CONFIG_ERR_MAX + 128], name[320];
  if (!m->cfg->metrics_set)
    return 0;
  if (listener_open(&m->metrics_sock, &m->cfg->metrics_bind, m->cfg, err, sizeof err) <
      0) {
    log_error("--metrics-bind: %s", err);
    return -1;
  }
  m->metrics_src = (struct metrics_source){snapshot, m};
  conn_env_init(&m->metrics_env, m->cfg, &metrics_handler, &m->metrics_src);
  /* The master forks its workers: see struct poller. */
  int rc = client_set_init(&m->metrics_conns, &m->loop, &m->metrics_env,
                           on_metrics_client_closed, true);
  if (rc < 0) {
    log_error("--metrics-bind: cannot create an epoll set: %s", uv_strerror(rc));
    listener_close(&m->metrics_sock);
    return -1;
  }
  uv_poll_init(&m->loop, &m->metrics_poll, m->metrics_sock.fd);
  m->metrics_poll.data = m;
  uv_poll_start(&m->metrics_poll, UV_READABLE, on_metrics_accept);
  m->metrics_on = true;
  listener_name(&m->metrics_sock, name, sizeof name);
  log_info("Metrics at: %s", name);
  return 0;
}

void master_close_metrics(struct master *m) {
  if (!m->metrics_on)
    return;
  m->metrics_on = false;
  uv_close((uv_handle_t *)&m->metrics_poll, NULL);
  listener_close(&m->metrics_sock);
  client_set_close(&m->metrics_conns);
}

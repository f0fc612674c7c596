/* --metrics-bind, the master's side: it binds the socket (so a bad address
 * stops the start, and the socket file's lifecycle stays with the master),
 * publishes the counters summed over the workers into shared memory, and keeps
 * a metrics process running that serves them (metrics_server.c). The master
 * never reads a byte a client sent: whatever a scrape does to the metrics
 * process, the master only starts another. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "master_impl.h"

/* A metrics process that dies younger than this is restarted only after a
 * back-off, doubled on each such death up to the maximum: no fork loop. */
#define YOUNG_MS 1000
#define BACKOFF_MAX_MS 30000

/* ---- the counters ---- */

static void sum_workers(const struct master *m, struct metrics_snapshot *s) {
  s->total = m->retired;
  s->busy_workers = s->idle_workers = 0;
  for (const struct child *w = m->workers; w != NULL; w = w->next) {
    master_add_counters(&s->total, &w->report);
    s->total.in_flight += w->report.in_flight;
    s->total.connections += w->report.connections;
    if (w->booted && !w->retiring)
      *(w->report.in_flight ? &s->busy_workers : &s->idle_workers) += 1;
  }
  memcpy(s->restarts, m->restarts, sizeof s->restarts);
  s->draining = m->draining || m->stopping;
}

/* sock_diag on the master's own listeners: the metrics process holds no copy
 * of them, which would keep a TCP listener accepting into its queue after the
 * master closed it on a stop. */
static void read_queues(const struct master *m, struct metrics_snapshot *s) {
  s->nqueues = 0;
  for (size_t i = 0; i < m->nlisteners; i++) {
    const struct listener *l = &m->listeners[i];
    if (l->addr.kind != BIND_UNIX)
      continue;
    if (listener_queue(l, &s->queues[s->nqueues].depth, &s->queues[s->nqueues].max) == 0)
      listener_name(l, s->queues[s->nqueues++].name, sizeof s->queues[0].name);
  }
}

void master_publish_metrics(struct master *m, bool queues) {
  if (!m->metrics.on)
    return;
  sum_workers(m, &m->metrics.snap);
  if (queues)
    read_queues(m, &m->metrics.snap);
  metrics_shm_publish(m->metrics.shm, &m->metrics.snap);
}

/* ---- the socket and the shared memory ---- */

/* An old master's (USR2) socket comes after the listeners; else bind it. */
static int open_socket(struct master *m, char *err, size_t errlen) {
  const char *owned = getenv(HANDOFF_INHERIT_METRICS);
  int rc =
      owned != NULL
          ? listener_adopt(&m->metrics.sock, HANDOFF_FIRST_FD + (int)m->nlisteners,
                           owned[0] == '1', err, errlen)
          : listener_open(&m->metrics.sock, &m->cfg->metrics_bind, m->cfg, err, errlen);
  unsetenv(HANDOFF_INHERIT_METRICS);
  return rc;
}

int master_open_metrics(struct master *m) {
  struct master_metrics *mm = &m->metrics;
  char err[CONFIG_ERR_MAX + 128], name[320];
  mm->sock.fd = mm->shm_fd = -1;
  if (!m->cfg->metrics_set)
    return 0;
  if (open_socket(m, err, sizeof err) < 0) {
    log_error("--metrics-bind: %s", err);
    return -1;
  }
  int rc = metrics_shm_create(&mm->shm, &mm->shm_fd);
  if (rc < 0) {
    log_error("--metrics-bind: cannot share the counters: %s", strerror(-rc));
    listener_close(&mm->sock);
    return -1;
  }
  mm->on = true;
  master_publish_metrics(m, true); /* before the first scrape can ask */
  listener_name(&mm->sock, name, sizeof name);
  log_info("Metrics at: %s", name);
  return 0;
}

void master_close_metrics_socket(struct master *m, bool keep_file) {
  if (!m->metrics.on)
    return;
  if (keep_file)
    listener_disown(&m->metrics.sock);
  listener_close(&m->metrics.sock);
}

void master_close_metrics(struct master *m) {
  struct master_metrics *mm = &m->metrics;
  if (!mm->on)
    return;
  mm->on = false;
  metrics_shm_unmap(mm->shm);
  close(mm->shm_fd);
}

void master_hand_over_metrics(struct master *m, struct spawn *s, char *var, size_t len) {
  if (!m->metrics.on || m->metrics.sock.fd < 0)
    return;
  snprintf(var, len, HANDOFF_INHERIT_METRICS "=%c",
           m->metrics.sock.owns_path ? '1' : '0');
  s->env[s->nenv++] = var;
  s->fds[s->nfds++] = m->metrics.sock.fd;
}

/* ---- the metrics process ---- */

static void start_process(struct master *m);

bool master_metrics_running(const struct master *m) {
  return m->metrics.state != METRICS_DOWN;
}

void master_signal_metrics(struct master *m, int sig) {
  if (m->metrics.state == METRICS_RUNNING)
    kill(m->metrics.proc.pid, sig);
}

static void on_process_closed(uv_handle_t *h) {
  struct master *m = h->data;
  m->metrics.state = METRICS_DOWN;
  if (m->stopping)
    master_maybe_finish(m);
  else
    start_process(m); /* unless it is to wait */
}

/* The next start: at once after a process that lived, later after one that
 * died young (or never started), in 1 s, 2 s, 4 s... */
static void back_off(struct master_metrics *mm, uint64_t now, bool young) {
  uint64_t doubled = mm->backoff_ms ? 2 * mm->backoff_ms : YOUNG_MS;
  mm->backoff_ms = !young ? 0 : doubled < BACKOFF_MAX_MS ? doubled : BACKOFF_MAX_MS;
  mm->not_before_ms = now + mm->backoff_ms;
}

static void close_process(struct master *m) {
  m->metrics.state = METRICS_CLOSING;
  uv_close((uv_handle_t *)&m->metrics.proc, on_process_closed);
}

static void on_process_exit(uv_process_t *proc, int64_t status, int term_signal) {
  struct master *m = proc->data;
  struct master_metrics *mm = &m->metrics;
  uint64_t now = uv_now(&m->loop);
  back_off(mm, now, now - mm->spawned_ms < YOUNG_MS);
  char again[64] = "", delay[32] = "";
  if (mm->backoff_ms)
    snprintf(delay, sizeof delay, " in %llu s",
             (unsigned long long)mm->backoff_ms / 1000);
  if (!m->stopping)
    snprintf(again, sizeof again, "; starting another%s", delay);
  if (term_signal)
    log_msg(m->stopping ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING,
            "Metrics process (pid:%d) was killed by %s%s", proc->pid,
            strsignal(term_signal), again);
  else
    log_msg(m->stopping && status == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
            "Metrics process (pid:%d) exited with code %d%s", proc->pid, (int)status,
            again);
  close_process(m);
}

static void start_process(struct master *m) {
  struct master_metrics *mm = &m->metrics;
  uint64_t now = uv_now(&m->loop);
  char master_pid[64];
  if (!mm->on || mm->state != METRICS_DOWN || m->stopping || now < mm->not_before_ms)
    return;
  snprintf(master_pid, sizeof master_pid, HANDOFF_METRICS "=%ld", (long)getpid());
  struct spawn s = {.exit_cb = on_process_exit,
                    .file = SELF_EXE,
                    .env = {master_pid},
                    .nenv = 1,
                    .fds = {mm->sock.fd, mm->shm_fd},
                    .nfds = 2};
  mm->proc.data = m;
  mm->spawned_ms = now;
  int err = master_spawn(m, &mm->proc, &s);
  if (err < 0) {
    log_error("cannot start the metrics process: %s", uv_strerror(err));
    back_off(mm, now, true);
    close_process(m);
    return;
  }
  mm->state = METRICS_RUNNING;
}

void master_tick_metrics(struct master *m) {
  struct master_metrics *mm = &m->metrics;
  master_publish_metrics(m, true);
  start_process(m);
  /* The same deadline as the workers' (begin_stop sent it theirs). */
  if (m->stopping && mm->state == METRICS_RUNNING &&
      uv_now(&m->loop) > m->stop_deadline_ms)
    kill(mm->proc.pid, SIGKILL);
}

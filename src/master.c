#include "master.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "heartbeat.h"
#include "listener.h"
#include "master_impl.h"
#include "log.h"
#include "notify.h"
#include "handoff.h"

#define TICK_MS 100
#define KILL_GRACE_MS 2000 /* after SIGABRT, before SIGKILL */
#define BOOT_FAILURES_MAX 5

static void retire(struct child *w, int sig);

static uint64_t loop_ms(struct master *m) {
  return uv_now(&m->loop);
}

/* ---- workers ---- */

static void on_worker_handle_closed(uv_handle_t *h) {
  struct child *w = h->data;
  if (--w->open_handles == 0)
    free(w);
}

static void unlink_worker(struct master *m, struct child *w) {
  for (struct child **p = &m->workers; *p != NULL; p = &(*p)->next) {
    if (*p == w) {
      *p = w->next;
      break;
    }
  }
}

void master_add_counters(struct worker_report *sum, const struct worker_report *r) {
  for (size_t i = 0; i < STATUS_CLASSES; i++)
    sum->responses[i] += r->responses[i];
  sum->bytes_in += r->bytes_in;
  sum->bytes_out += r->bytes_out;
  timing_stats_add(&sum->timing, &r->timing);
}

/* The newest generation older than the current one that still has booted
 * workers serving, or the current one when there is none. */
static unsigned serving_generation(const struct master *m) {
  unsigned best = m->generation;
  for (const struct child *w = m->workers; w != NULL; w = w->next)
    if (w->booted && !w->retiring && w->generation != m->generation &&
        (best == m->generation || w->generation > best))
      best = w->generation;
  return best;
}

/* A worker could not start. At start-up that stops the server; after HUP the
 * workers still serving the previous code carry on instead. */
static void boot_failed(struct master *m) {
  unsigned previous = serving_generation(m);
  m->boot_failures = 0;
  if (previous != m->generation) {
    log_error("Worker failed to boot after HUP; the workers already running keep "
              "serving (fix the application, then HUP again)");
    for (struct child *w = m->workers; w != NULL; w = w->next)
      if (w->generation == m->generation && !w->retiring)
        retire(w, SIGTERM);
    m->generation = previous;
    m->reloading = false;
    notify_systemd("READY=1");
    return;
  }
  log_error("Worker failed to boot; stopping");
  m->exit_code = 1;
  master_begin_stop(m, true, "a worker failed to boot");
}

static void on_worker_exit(uv_process_t *proc, int64_t status, int term_signal) {
  struct child *w = proc->data;
  struct master *m = w->m;
  struct worker_report last;
  while (heartbeat_recv(w->beat_fd, &last) == 0) /* its final counters */
    w->report = last;
  bool expected = w->retiring || m->stopping;
  if (term_signal)
    log_msg(expected ? LOG_LEVEL_INFO : LOG_LEVEL_WARNING,
            "Worker (pid:%d) was killed by %s", proc->pid, strsignal(term_signal));
  else
    log_msg(status == 0 ? LOG_LEVEL_INFO : LOG_LEVEL_ERROR,
            "Worker (pid:%d) exited with code %d", proc->pid, (int)status);
  if (!expected)
    m->restarts[master_restart_reason(w, status, term_signal)]++;
  if (!expected && w->booted && loop_ms(m) - w->spawned_ms < 1000) {
    log_warning(
        "Worker (pid:%d) died within a second of starting; replacing it in a second",
        proc->pid);
    m->spawn_not_before_ms = loop_ms(m) + 1000; /* no fork loop */
  }
  if (!w->booted && !expected && w->generation == m->generation &&
      (status == WORKER_BOOT_FAILED || ++m->boot_failures >= BOOT_FAILURES_MAX))
    boot_failed(m);
  master_add_counters(&m->retired, &w->report);
  w->exited = true;
  unlink_worker(m, w);
  if (w->beat_open)
    uv_close((uv_handle_t *)&w->beat, on_worker_handle_closed);
  else
    w->open_handles--;
  uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
  close(w->beat_fd);
  master_maintain(m);
  master_maybe_finish(m);
}

static void on_beat(uv_poll_t *h, int status, int events) {
  struct child *w = h->data;
  struct worker_report r;
  int err;
  (void)events;
  while (status == 0 && (err = heartbeat_recv(w->beat_fd, &r)) == 0) {
    w->report = r;
    w->last_beat_ms = loop_ms(w->m);
    if (!w->booted) {
      w->booted = true;
      w->m->boot_failures = 0;
      master_maintain(w->m);
    }
    master_recycle_beat(w->m, w);
  }
  master_publish_metrics(w->m, false);
  if (status < 0 || err == -EPIPE || err == -ECONNRESET)
    uv_poll_stop(h); /* the worker is going; its exit callback cleans up */
}

static int spawn_worker(struct master *m) {
  int sv[2];
  char count[64];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0)
    return -errno;
  struct child *w = calloc(1, sizeof *w);
  if (w == NULL) {
    close(sv[0]);
    close(sv[1]);
    return -ENOMEM;
  }
  snprintf(count, sizeof count, HANDOFF_WORKER_LISTENERS "=%zu", m->nlisteners);
  struct spawn s = {.exit_cb = on_worker_exit,
                    .file = SELF_EXE,
                    .env = {HANDOFF_WORKER "=1", count},
                    .nenv = 2};
  master_spawn_add_listeners(m, &s);
  s.fds[s.nfds++] = sv[1];
  w->m = m;
  w->proc.data = w->beat.data = w;
  w->open_handles = 2;
  int err = master_spawn(m, &w->proc, &s);
  close(sv[1]);
  if (err < 0) {
    log_error("cannot start a worker: %s", uv_strerror(err));
    close(sv[0]);
    w->open_handles = 1;
    uv_close((uv_handle_t *)&w->proc, on_worker_handle_closed);
    return err;
  }
  w->beat_fd = sv[0];
  w->generation = m->generation;
  w->spawned_ms = loop_ms(m);
  master_recycle_spawned(m, w);
  err = uv_poll_init(&m->loop, &w->beat, sv[0]);
  w->beat_open = err == 0;
  if (err == 0)
    err = uv_poll_start(&w->beat, UV_READABLE, on_beat);
  if (err < 0) { /* unheard, it would only time out: replace it now */
    log_error("cannot watch a worker's heartbeats: %s", uv_strerror(err));
    kill(w->proc.pid, SIGKILL);
  }
  w->next = m->workers;
  m->workers = w;
  return 0;
}

static void retire(struct child *w, int sig) {
  w->retiring = true;
  kill(w->proc.pid, sig);
}

bool master_serving(const struct master *m, const struct child *w) {
  return w->generation == m->generation && !w->retiring && !w->replacing;
}

/* Brings the workers of the current generation to the target, and retires
 * older generations (HUP) and replaced workers once the new ones are up. */
void master_maintain(struct master *m) {
  uint64_t current = 0, booted = 0;
  if (m->stopping)
    return;
  for (struct child *w = m->workers; w != NULL; w = w->next) {
    if (master_serving(m, w)) {
      current++;
      booted += w->booted;
    }
  }
  for (; current < m->target && loop_ms(m) >= m->spawn_not_before_ms; current++)
    if (spawn_worker(m) < 0)
      break; /* the tick tries again */
  for (struct child *w = m->workers; w != NULL && current > m->target; w = w->next) {
    if (master_serving(m, w)) {
      retire(w, SIGTERM);
      current--;
    }
  }
  if (booted < m->target)
    return;
  for (struct child *w = m->workers; w != NULL; w = w->next)
    if (!w->retiring && !master_serving(m, w))
      retire(w, SIGTERM);
  if (!m->ready_sent || m->reloading) {
    char state[64] = "READY=1";
    if (m->upgraded && !m->ready_sent) /* systemd follows the new master */
      snprintf(state, sizeof state, "MAINPID=%ld\nREADY=1", (long)getpid());
    notify_systemd(state);
    m->ready_sent = true;
    m->reloading = false;
  }
}

/* A worker whose loop stopped sending heartbeats, or whose blocking
 * application has held a request on a thread that long (the loop beats on
 * meanwhile), gets SIGABRT (it logs what it was doing), then SIGKILL if it is
 * still there. */
static void check_worker(struct master *m, struct child *w, uint64_t now) {
  uint64_t timeout = m->cfg->timeout_ms;
  uint64_t since = w->booted ? w->last_beat_ms : w->spawned_ms;
  bool silent = now - since > timeout, stuck = w->report.app_busy_ms > timeout;
  if (w->abort_sent_ms == 0 && timeout && (silent || stuck)) {
    if (silent)
      log_error("Worker (pid:%d) timed out: no heartbeat for %.1f s; aborting it",
                w->proc.pid, (double)(now - since) / 1000);
    else
      log_error("Worker (pid:%d) timed out: a request has been in the application for "
                "%.1f s; aborting it",
                w->proc.pid, (double)w->report.app_busy_ms / 1000);
    w->abort_sent_ms = now;
    kill(w->proc.pid, SIGABRT);
  } else if (w->abort_sent_ms && now - w->abort_sent_ms > KILL_GRACE_MS) {
    kill(w->proc.pid, SIGKILL);
  } else if (m->stopping && now > m->stop_deadline_ms) {
    kill(w->proc.pid, SIGKILL);
  }
}

static void on_tick(uv_timer_t *t) {
  struct master *m = t->data;
  uint64_t now = loop_ms(m);
  for (struct child *w = m->workers; w != NULL; w = w->next)
    check_worker(m, w, now);
  master_recycle_tick(m, now);
  master_maintain(m);
  master_tick_metrics(m);
}

/* ---- stopping, upgrading ---- */

void master_maybe_finish(struct master *m) {
  if (!m->stopping || m->workers != NULL || master_metrics_running(m) || m->finished)
    return;
  m->finished = true;
  for (size_t i = 0; i < sizeof m->signals / sizeof m->signals[0]; i++)
    uv_close((uv_handle_t *)&m->signals[i], NULL);
  uv_close((uv_handle_t *)&m->tick, NULL);
  master_drain_close(m);
  if (m->upgrade_running) /* closing the handle leaves the new master running */
    uv_close((uv_handle_t *)&m->upgrade, NULL);
}

bool master_partner_alive(struct master *m) {
  if (m->upgrade_running)
    return true;                                          /* our new master */
  return m->old_master > 1 && getppid() == m->old_master; /* rolled back */
}

static void close_listeners(struct master *m) {
  bool keep_files = master_partner_alive(m);
  for (size_t i = 0; i < m->nlisteners; i++) {
    if (keep_files)
      listener_disown(&m->listeners[i]); /* the other master still serves on it */
    listener_close(&m->listeners[i]);
  }
  m->nlisteners = 0;
  master_close_metrics_socket(m, keep_files);
}

void master_begin_stop(struct master *m, bool quick, const char *why) {
  if (m->stopping && (m->quick || !quick))
    return;
  log_info("Stopping (%s)", why);
  /* Else systemd heard it when draining began, or follows the new master. */
  if (!m->stopping && !m->draining && !m->upgrade_running)
    notify_systemd("STOPPING=1");
  master_drain_end(m);
  m->stopping = true;
  m->quick = quick;
  /* New connections are refused at once; the workers finish the rest. */
  close_listeners(m);
  m->stop_deadline_ms = loop_ms(m) + (quick ? 0 : m->cfg->graceful_timeout_ms) + 1000;
  for (struct child *w = m->workers; w != NULL; w = w->next)
    retire(w, quick ? SIGQUIT : SIGTERM);
  master_signal_metrics(m, quick ? SIGQUIT : SIGTERM);
  master_maybe_finish(m);
}

static void signal_workers(struct master *m, int sig) {
  for (struct child *w = m->workers; w != NULL; w = w->next)
    kill(w->proc.pid, sig);
}

static const char *signal_name(int signum) {
  switch (signum) {
  case SIGTERM: return "term";
  case SIGINT: return "int";
  case SIGQUIT: return "quit";
  case SIGHUP: return "hup";
  case SIGTTIN: return "ttin";
  case SIGTTOU: return "ttou";
  case SIGUSR1: return "usr1";
  case SIGUSR2: return "usr2";
  case SIGWINCH: return "winch";
  default: return "?";
  }
}

/* A terminal sends WINCH to its foreground process group whenever its window
 * is resized: acting on it there would stop every worker. As Gunicorn does when
 * not daemonized, WINCH counts only without a controlling terminal (systemd, a
 * container without a tty). */
static bool has_controlling_terminal(void) {
  int fd = open("/dev/tty", O_RDONLY | O_NOCTTY | O_CLOEXEC);
  if (fd < 0)
    return false;
  close(fd);
  return true;
}

static void on_signal(uv_signal_t *h, int signum) {
  struct master *m = h->data;
  if (signum == SIGTERM || signum == SIGINT || signum == SIGQUIT) {
    log_info("Handling signal: %s", signal_name(signum));
    if (signum != SIGTERM || !master_drain_on_term(m))
      master_begin_stop(m, signum != SIGTERM, signum == SIGTERM ? "graceful" : "quick");
    return;
  }
  if (m->stopping)
    return;
  if (signum == SIGWINCH && has_controlling_terminal()) {
    log_info("Ignoring WINCH: it comes from the terminal when its window is resized "
             "(WINCH stops the workers only without a controlling terminal)");
    return;
  }
  log_info("Handling signal: %s", signal_name(signum));
  if (m->draining && signum != SIGUSR1) {
    log_info("Ignoring %s while draining for the stop (--shutdown-delay)",
             signal_name(signum));
    return;
  }
  if (signum == SIGUSR2) {
    master_upgrade(m);
    return;
  }
  if (signum == SIGHUP) {
    if (master_reload_config(m) < 0)
      return;
    notify_systemd("RELOADING=1");
    m->reloading = true;
    m->generation++;
  } else if (signum == SIGTTIN) {
    m->target++;
  } else if (signum == SIGTTOU && m->target > 1) {
    m->target--;
  } else if (signum == SIGWINCH) {
    m->target = 0;
  } else if (signum == SIGUSR1) {
    log_reopen();
    signal_workers(m, SIGUSR1);
    master_signal_metrics(m, SIGUSR1);
  }
  master_maintain(m);
}

/* ---- start-up ---- */

static void log_listeners(const struct master *m) {
  char name[320];
  for (size_t i = 0; i < m->nlisteners; i++) {
    listener_name(&m->listeners[i], name, sizeof name);
    log_info("Listening at: %s (%ld)", name, (long)getpid());
  }
}

static void warn_backlog(int backlog) {
  int somaxconn = listener_somaxconn();
  if (somaxconn > 0 && backlog > somaxconn)
    log_warning("--backlog %d exceeds net.core.somaxconn (%d): the kernel silently uses "
                "%d; raise it with sysctl -w net.core.somaxconn=%d",
                backlog, somaxconn, somaxconn, backlog);
}

static int init_handles(struct master *m) {
  static const int signums[] = {SIGTERM, SIGINT,  SIGQUIT, SIGHUP,  SIGTTIN,
                                SIGTTOU, SIGUSR1, SIGUSR2, SIGWINCH};
  for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
    uv_signal_init(&m->loop, &m->signals[i]);
    m->signals[i].data = m;
    int err = uv_signal_start(&m->signals[i], on_signal, signums[i]);
    if (err < 0) {
      log_error("cannot handle signal %d: %s", signums[i], uv_strerror(err));
      return -1;
    }
  }
  uv_timer_init(&m->loop, &m->tick);
  m->tick.data = m;
  master_drain_init(m);
  uv_timer_start(&m->tick, on_tick, TICK_MS, TICK_MS);
  return 0;
}

int master_run(const struct config *cfg, char **argv) {
  static struct master m;
  memset(&m, 0, sizeof m);
  m.cfg = cfg;
  m.argv = argv;
  while (argv[m.argc] != NULL)
    m.argc++;
  m.pid_file = cfg->pid_file;
  int err = uv_loop_init(&m.loop);
  if (err < 0) {
    log_error("cannot start an event loop: %s", uv_strerror(err));
    return 1;
  }
  log_info("Starting unixcorn %s", UNIXCORN_VERSION);
  warn_backlog(cfg->backlog);
  m.exit_code = 1;
  if (master_open_listeners(&m) < 0 || master_write_pid_file(&m) < 0)
    goto out;
  log_listeners(&m);
  if (master_open_metrics(&m) < 0)
    goto out;
  if (master_spawn_init(&m) < 0 || master_config_init(&m) < 0) {
    log_error("cannot set up the environment of workers: out of memory");
    goto out;
  }
  if (init_handles(&m) < 0)
    goto out;
  m.exit_code = 0;
  m.target = master_workers_wanted(cfg);
  master_maintain(&m);
  master_tick_metrics(&m);
  uv_run(&m.loop, UV_RUN_DEFAULT);
  log_info("Shutting down: Master");
out:
  close_listeners(&m);
  master_close_metrics(&m);
  master_remove_pid_file(&m);
  uv_run(&m.loop, UV_RUN_NOWAIT);
  uv_loop_close(&m.loop);
  master_spawn_free(&m);
  master_config_free(&m);
  return m.exit_code;
}

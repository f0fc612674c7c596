#include "metrics_server.h"

#include <errno.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#include "bufpool.h"
#include "client.h"
#include "listener.h"
#include "log.h"
#include "metrics.h"
#include "metrics_shm.h"

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_RETRY_MS 1000
#define MASTER_CHECK_MS 200 /* as often as a worker's heartbeat */

struct metrics_server {
  uv_loop_t loop;
  const struct config *cfg;
  struct listener sock;
  uv_poll_t accept_poll;
  bool listening; /* sock and accept_poll open */
  uv_signal_t signals[4];
  uv_prepare_t before_poll;
  uv_timer_t grace_timer, accept_timer, master_timer;
  struct client_set conns;
  struct conn_env env;
  struct metrics_source src;
  const struct metrics_shm *shm;
  pid_t master_pid;
  bool accept_paused, finished; /* stopping is env.stopping */
};

static int read_snapshot(void *ctx, struct metrics_snapshot *out) {
  const struct metrics_server *ms = ctx;
  return metrics_shm_read(ms->shm, out);
}

/* ---- accepting ---- */

static void on_accept(uv_poll_t *h, int status, int events);

static void set_accepting(struct metrics_server *ms, bool on) {
  ms->accept_paused = !on;
  if (on)
    uv_poll_start(&ms->accept_poll, UV_READABLE, on_accept);
  else
    uv_poll_stop(&ms->accept_poll);
}

static void on_accept_retry(uv_timer_t *t) {
  struct metrics_server *ms = t->data;
  if (ms->accept_paused && !ms->env.stopping)
    set_accepting(ms, true);
}

/* At --worker-connections, or out of descriptors (err): polling again would
 * spin on the connection that waits, so it stays in the listen queue until a
 * connection closes or a second has passed. */
static void pause_accepting(struct metrics_server *ms, int err) {
  if (err)
    log_warning("metrics: accept(): %s; pausing accepts", strerror(err));
  set_accepting(ms, false);
  uv_timer_start(&ms->accept_timer, on_accept_retry, ACCEPT_RETRY_MS, 0);
}

static void on_accept(uv_poll_t *h, int status, int events) {
  struct metrics_server *ms = h->data;
  const struct peer peer = {.addr = "metrics"};
  (void)events;
  for (int i = 0; status == 0 && i < ACCEPTS_PER_WAKEUP; i++) {
    if (ms->conns.nclients >= ms->cfg->worker_connections) {
      pause_accepting(ms, 0);
      return;
    }
    int fd = accept4(ms->sock.fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0 && (errno == EINTR || errno == ECONNABORTED))
      continue;
    if (fd < 0) {
      if (errno != EAGAIN)
        pause_accepting(ms, errno);
      return;
    }
    int err = client_start(&ms->conns, fd, &peer);
    if (err < 0)
      log_error("metrics: cannot take a connection: %s", uv_strerror(err));
  }
}

/* ---- stopping ---- */

static void close_listener(struct metrics_server *ms) {
  if (ms->listening)
    uv_close((uv_handle_t *)&ms->accept_poll, NULL);
  ms->listening = false;
  listener_close(&ms->sock); /* a copy: the master owns the socket file */
}

static void maybe_finish(struct metrics_server *ms) {
  if (!ms->env.stopping || ms->conns.nclients != 0 || ms->finished)
    return;
  ms->finished = true;
  for (size_t i = 0; i < sizeof ms->signals / sizeof ms->signals[0]; i++)
    uv_close((uv_handle_t *)&ms->signals[i], NULL);
  uv_close((uv_handle_t *)&ms->before_poll, NULL);
  uv_close((uv_handle_t *)&ms->grace_timer, NULL);
  uv_close((uv_handle_t *)&ms->accept_timer, NULL);
  uv_close((uv_handle_t *)&ms->master_timer, NULL);
  client_set_close(&ms->conns);
}

static void on_client_closed(struct client_set *set) {
  struct metrics_server *ms =
      (struct metrics_server *)((char *)set - offsetof(struct metrics_server, conns));
  if (ms->accept_paused && !ms->env.stopping) {
    uv_timer_stop(&ms->accept_timer);
    set_accepting(ms, true);
  }
  maybe_finish(ms);
}

static void abort_clients(struct metrics_server *ms) {
  while (ms->conns.clients != NULL)
    client_abort(ms->conns.clients);
}

static void on_grace_over(uv_timer_t *t) {
  abort_clients(t->data);
}

/* Stop accepting; finish the scrapes under way, up to --graceful-timeout. */
static void begin_stop(struct metrics_server *ms, const char *why) {
  if (ms->env.stopping)
    return;
  log_info("Metrics process stopping (%s)", why);
  ms->env.stopping = true;
  ms->env.now_ms = uv_now(&ms->loop);
  close_listener(ms);
  uv_timer_stop(&ms->accept_timer);
  for (struct client *cl = ms->conns.clients, *next; cl != NULL; cl = next) {
    next = cl->next; /* client_stop may close and unlink cl */
    client_stop(cl);
  }
  uv_timer_start(&ms->grace_timer, on_grace_over, ms->cfg->graceful_timeout_ms, 0);
  maybe_finish(ms);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct metrics_server *ms = h->data;
  switch (signum) {
  case SIGTERM: begin_stop(ms, "term"); break;
  case SIGUSR1:
    if (log_reopen() < 0)
      log_error("cannot reopen the log files: %s", strerror(errno));
    break;
  default: /* INT, QUIT: quick stop, as for the workers */
    begin_stop(ms, signum == SIGINT ? "int" : "quit");
    abort_clients(ms);
    break;
  }
}

/* With no heartbeat to fail, the parent's pid is how it sees the master go. */
static void on_master_check(uv_timer_t *t) {
  struct metrics_server *ms = t->data;
  if (getppid() != ms->master_pid)
    begin_stop(ms, "the master is gone");
}

static void on_before_poll(uv_prepare_t *h) {
  (void)h;
  log_flush(); /* the access log, once per turn of the loop */
}

/* ---- start-up ---- */

static int adopt(struct metrics_server *ms, const struct metrics_setup *setup) {
  char err[CONFIG_ERR_MAX];
  int rc = metrics_shm_map(&ms->shm, setup->shm_fd);
  close(setup->shm_fd); /* the mapping stays */
  if (rc < 0) {
    ms->shm = NULL;
    log_error("metrics: cannot map the master's counters: %s", strerror(-rc));
    return -1;
  }
  if (listener_adopt(&ms->sock, setup->listen_fd, false, err, sizeof err) < 0) {
    log_error("metrics: %s", err);
    return -1;
  }
  uv_poll_init(&ms->loop, &ms->accept_poll, ms->sock.fd);
  ms->accept_poll.data = ms;
  ms->listening = true;
  return 0;
}

static void init_handles(struct metrics_server *ms) {
  static const int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
  for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
    uv_signal_init(&ms->loop, &ms->signals[i]);
    ms->signals[i].data = ms;
    uv_signal_start(&ms->signals[i], on_signal, signums[i]);
  }
  uv_prepare_init(&ms->loop, &ms->before_poll);
  uv_prepare_start(&ms->before_poll, on_before_poll);
  uv_timer_init(&ms->loop, &ms->grace_timer);
  uv_timer_init(&ms->loop, &ms->accept_timer);
  uv_timer_init(&ms->loop, &ms->master_timer);
  ms->grace_timer.data = ms->accept_timer.data = ms->master_timer.data = ms;
  uv_timer_start(&ms->master_timer, on_master_check, 0, MASTER_CHECK_MS);
}

int metrics_server_run(const struct config *cfg, const struct metrics_setup *setup) {
  static struct metrics_server ms;
  int rc = WORKER_BOOT_FAILED;
  memset(&ms, 0, sizeof ms);
  uv_loop_init(&ms.loop);
  ms.cfg = cfg;
  ms.sock.fd = -1;
  ms.master_pid = setup->master_pid;
  ms.src = (struct metrics_source){read_snapshot, &ms};
  conn_env_init(&ms.env, cfg, &metrics_handler, &ms.src);
  int err = client_set_init(&ms.conns, &ms.loop, &ms.env, on_client_closed, false);
  if (err < 0) {
    log_error("metrics: cannot create the connections' epoll set: %s", uv_strerror(err));
    goto out;
  }
  if (adopt(&ms, setup) < 0)
    goto out;
  init_handles(&ms);
  log_info("Booting metrics process with pid: %ld", (long)getpid());
  set_accepting(&ms, true);
  uv_run(&ms.loop, UV_RUN_DEFAULT);
  rc = 0;
out:
  close_listener(&ms);
  client_set_close(&ms.conns);
  if (ms.shm != NULL)
    metrics_shm_unmap(ms.shm);
  uv_run(&ms.loop, UV_RUN_NOWAIT); /* let close callbacks run */
  uv_loop_close(&ms.loop);
  log_flush();
  bufpool_drain();
  return rc;
}

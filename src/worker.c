#include "worker.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app_pool.h"
#include "client.h"
#include "heartbeat.h"
#include "log.h"
#include "queue_time.h"
#include "watchdog.h"

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_RETRY_MS 1000

static void on_accept(uv_poll_t *h, int status, int events);

static void set_accepting(struct worker *wk, bool on) {
  for (size_t i = 0; i < wk->nlisteners; i++) {
    int err = on ? uv_poll_start(&wk->listeners[i].poll, UV_READABLE, on_accept)
                 : uv_poll_stop(&wk->listeners[i].poll);
    if (err < 0)
      log_error("cannot watch a listening socket: %s", uv_strerror(err));
  }
}

static void on_accept_retry(uv_timer_t *t) {
  struct worker *wk = t->data;
  if (wk->accept_paused && !wk->env.stopping) {
    wk->accept_paused = false;
    set_accepting(wk, true);
  }
}

/* Out of file descriptors: polling the listener again would spin, since the
 * pending connection stays readable. Leave it in the backlog instead, and try
 * again once a connection closes or a second has passed. */
static void pause_accepting(struct worker *wk, int err) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  log_warning("accept(): %s (the open-file limit is %llu, %zu connections open); "
              "pausing accepts until a connection closes",
              strerror(err), (unsigned long long)rl.rlim_cur, wk->conns.nclients);
  wk->accept_paused = true;
  set_accepting(wk, false);
  uv_timer_start(&wk->accept_timer, on_accept_retry, ACCEPT_RETRY_MS, 0);
}

/* At --worker-connections, new clients wait in the backlog until one closes. */
static void pause_at_capacity(struct worker *wk) {
  static bool told;
  log_msg(told ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
          "%zu connections open (--worker-connections): new ones wait in the listen "
          "queue until one closes",
          wk->conns.nclients);
  told = true;
  wk->accept_paused = true;
  set_accepting(wk, false);
}

static void describe_peer(const struct worker *wk, int fd,
                          const struct sockaddr_storage *ss, struct peer *peer) {
  memset(peer, 0, sizeof *peer);
  peer->family = (uint8_t)ss->ss_family;
  if (ss->ss_family == AF_UNIX) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    peer->trusted = true; /* the socket file's permissions chose who connects */
    if (config_wants_peer_cred(wk->cfg) &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer->has_cred = true;
      peer->pid = cred.pid;
      peer->uid = cred.uid;
      peer->gid = cred.gid;
    }
    return;
  }
  int one = 1;
  char text[PEER_TEXT_MAX];
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ss->ss_family == AF_INET6) {
    memcpy(peer->ip, &((const struct sockaddr_in6 *)ss)->sin6_addr, 16);
    peer->port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
  } else {
    memcpy(peer->ip, &((const struct sockaddr_in *)ss)->sin_addr, 4);
    peer->port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
  }
  peer->trusted = config_proxy_trusted(wk->cfg, peer_text(peer, text));
}

static void begin_stop(struct worker *wk, enum worker_stop reason, const char *why);

/* --max-requests: stops the worker once it has answered its share. */
static bool recycle_due(struct worker *wk) {
  if (!wk->max_requests || wk->env.stats.requests < wk->max_requests)
    return false;
  begin_stop(wk, WORKER_STOP_MAX_REQUESTS, "max-requests reached");
  return true;
}

/* One connection from l's queue: true if there may be more. */
static bool accept_one(struct worker *wk, struct worker_listener *l) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  int fd =
      accept4(l->sock.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    if (e == EINTR || e == ECONNABORTED)
      return true;
    if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
      pause_accepting(wk, e);
    else if (e != EAGAIN)
      log_error("accept(): %s", strerror(e));
    return false;
  }
  struct peer peer;
  describe_peer(wk, fd, &ss, &peer);
  if (peer.has_cred && !config_peer_allowed(wk->cfg, peer.uid, peer.gid)) {
    log_warning("Refused a connection from pid %ld uid %lu gid %lu: not in "
                "--allow-uid or --allow-gid",
                (long)peer.pid, (unsigned long)peer.uid, (unsigned long)peer.gid);
    close(fd);
    return true;
  }
  int err = client_start(&wk->conns, fd, &peer);
  if (err < 0)
    log_error("cannot take a connection: %s", uv_strerror(err));
  return true;
}

static void on_accept(uv_poll_t *h, int status, int events) {
  struct worker_listener *l = h->data;
  struct worker *wk = l->wk;
  (void)events;
  if (status < 0)
    return;
  for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
    if (wk->conns.nclients >= wk->cfg->worker_connections) {
      pause_at_capacity(wk);
      return;
    }
    if (recycle_due(wk) || !accept_one(wk, l)) /* recycle: often due within this loop */
      return;
  }
}

/* On TERM the master has already removed the socket files, so no connection
 * can join the queues; but those already in them (a proxy connected, and
 * perhaps sent its request) would be reset when the last copy of the socket
 * closes, and nginx does not retry a POST it has sent. Take them, to be
 * answered with Connection: close. */
static void take_queued(struct worker *wk) {
  for (size_t i = 0; i < wk->nlisteners; i++)
    while (wk->conns.nclients < wk->cfg->worker_connections &&
           accept_one(wk, &wk->listeners[i]))
      ;
}

static void close_listeners(struct worker *wk) {
  for (size_t i = 0; i < wk->nlisteners; i++) {
    struct worker_listener *l = &wk->listeners[i];
    uv_close((uv_handle_t *)&l->poll, NULL);
    listener_close(&l->sock); /* a worker's copy: the master owns the file */
  }
  wk->nlisteners = 0;
}

static void maybe_finish(struct worker *wk) {
  if (!wk->env.stopping || wk->conns.nclients != 0 || wk->finished)
    return;
  wk->finished = true;
  for (size_t i = 0; i < sizeof wk->signals / sizeof wk->signals[0]; i++)
    uv_close((uv_handle_t *)&wk->signals[i], NULL);
  uv_close((uv_handle_t *)&wk->grace_timer, NULL);
  uv_close((uv_handle_t *)&wk->accept_timer, NULL);
  uv_close((uv_handle_t *)&wk->heartbeat_timer, NULL);
  client_set_close(&wk->conns);
  app_pool_close(wk->role->app->pool);
}

static void on_client_closed(struct client_set *set) {
  struct worker *wk = (struct worker *)((char *)set - offsetof(struct worker, conns));
  if (wk->accept_paused && !wk->env.stopping) {
    uv_timer_stop(&wk->accept_timer);
    on_accept_retry(&wk->accept_timer);
  }
  maybe_finish(wk);
}

static void abort_clients(struct worker *wk) {
  while (wk->conns.clients != NULL)
    client_abort(wk->conns.clients);
}

static void on_grace_over(uv_timer_t *t) {
  struct worker *wk = t->data;
  log_warning("Graceful timeout: closing %zu connections still open", wk->conns.nclients);
  abort_clients(wk);
}

/* Stop accepting; finish what is in flight, up to --graceful-timeout. */
static void begin_stop(struct worker *wk, enum worker_stop reason, const char *why) {
  if (wk->env.stopping)
    return;
  wk->env.stopping = true;
  wk->stop = reason;
  wk->env.now_ms = uv_now(&wk->loop);
  log_info("%c%s stopping (%s): finishing %zu connections", toupper(wk->role->name[0]),
           wk->role->name + 1, why, wk->conns.nclients);
  close_listeners(wk);
  uv_timer_stop(&wk->accept_timer);
  for (struct client *cl = wk->conns.clients, *next; cl != NULL; cl = next) {
    next = cl->next; /* client_stop may close and unlink cl */
    client_stop(cl);
  }
  uv_timer_start(&wk->grace_timer, on_grace_over, wk->cfg->graceful_timeout_ms, 0);
  maybe_finish(wk);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct worker *wk = h->data;
  switch (signum) {
  case SIGTERM:
    if (!wk->env.stopping)
      take_queued(wk);
    begin_stop(wk, WORKER_STOP_SIGNAL, "term");
    break;
  case SIGUSR1:
    if (log_reopen() < 0)
      log_error("cannot reopen the log files: %s", strerror(errno));
    break;
  default: /* INT, QUIT: quick stop, as Gunicorn's workers do */
    begin_stop(wk, WORKER_STOP_SIGNAL, signum == SIGINT ? "int" : "quit");
    abort_clients(wk);
    break;
  }
}

static void fill_report(struct worker *wk, struct worker_report *r) {
  const struct conn_stats *st = &wk->env.stats;
  memset(r, 0, sizeof *r);
  r->version = HEARTBEAT_VERSION;
  r->pid = (uint32_t)getpid();
  memcpy(r->responses, st->responses, sizeof r->responses);
  r->bytes_in = st->bytes_in;
  r->bytes_out = st->bytes_out;
  r->connections = wk->conns.nclients;
  r->app_busy_ms = app_pool_oldest_ms(wk->role->app->pool);
  r->rss = heartbeat_rss(wk->statm_fd);
  r->stop = wk->stop;
  r->timing = st->timing;
  for (struct client *cl = wk->conns.clients; cl != NULL; cl = cl->next)
    r->in_flight += conn_busy(&cl->conn);
}

/* Proof of life for the master: sent from the loop, so a stalled loop stops
 * it. A master that went away makes the process stop. */
static void on_heartbeat(uv_timer_t *t) {
  struct worker *wk = t->data;
  struct worker_report r;
  int err = 0;
  wk->env.wall_offset_ns = queue_time_wall_offset_ns(); /* follows clock steps */
  if (wk->heartbeat_fd >= 0) {
    debug_grow_beat(&wk->grow, wk->env.stats.requests);
    fill_report(wk, &r);
    err = heartbeat_send(wk->heartbeat_fd, &r);
  }
  if (err == -EPIPE || err == -ECONNRESET || getppid() != wk->master_pid)
    begin_stop(wk, WORKER_STOP_ORPHANED, "the master is gone");
}

static void before_wait(void *arg) {
  struct worker *wk = arg;
  log_flush(); /* the access log, once per turn of the loop */
  recycle_due(wk);
}

static int adopt_listeners(struct worker *wk, const struct worker_setup *ws) {
  char err[CONFIG_ERR_MAX];
  for (int i = 0; i < ws->nlisteners; i++) {
    struct worker_listener *l = &wk->listeners[i];
    if (listener_adopt(&l->sock, ws->first_fd + i, false, err, sizeof err) < 0) {
      log_error("%s", err);
      return -1;
    }
    int rc = uv_poll_init(&wk->loop, &l->poll, l->sock.fd);
    if (rc < 0) {
      log_error("cannot watch the listening socket: %s", uv_strerror(rc));
      listener_close(&l->sock);
      return -1;
    }
    wk->nlisteners++;
    l->poll.data = l;
    l->wk = wk;
  }
  return 0;
}

static void init_env(struct worker *wk, const struct config *cfg,
                     const struct worker_role *role) {
  wk->cfg = cfg;
  wk->role = role;
  conn_env_init(&wk->env, cfg, role->app);
  wk->env.wall_offset_ns = queue_time_wall_offset_ns();
  if (cfg->max_requests && role->recycles) {
    /* Jitter spreads restarts so the workers do not all recycle at once. */
    srand((unsigned)getpid() ^ (unsigned)uv_hrtime());
    wk->max_requests =
        cfg->max_requests + (cfg->max_requests_jitter
                                 ? (uint64_t)rand() % (cfg->max_requests_jitter + 1)
                                 : 0);
  }
}

/* A blocking application's threads (--threads). */
static int start_threads(struct worker *wk) {
  struct app *app = wk->role->app;
  if (!app_blocking(app))
    return 0;
  int err = app_pool_create(&app->pool, &wk->loop, app, wk->cfg->threads);
  if (err < 0)
    log_error("cannot start the application's threads: %s", uv_strerror(err));
  return err;
}

static int init_handles(struct worker *wk) {
  static const int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
  for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
    uv_signal_init(&wk->loop, &wk->signals[i]);
    wk->signals[i].data = wk;
    int err = uv_signal_start(&wk->signals[i], on_signal, signums[i]);
    if (err < 0) {
      log_error("cannot handle signal %d: %s", signums[i], uv_strerror(err));
      return -1;
    }
  }
  uv_timer_init(&wk->loop, &wk->grace_timer);
  uv_timer_init(&wk->loop, &wk->accept_timer);
  uv_timer_init(&wk->loop, &wk->heartbeat_timer);
  wk->grace_timer.data = wk->accept_timer.data = wk;
  wk->heartbeat_timer.data = wk;
  uv_timer_start(&wk->heartbeat_timer, on_heartbeat, 0, HEARTBEAT_INTERVAL_MS);
  return 0;
}

int worker_run(const struct config *cfg, const struct worker_setup *ws,
               const struct worker_role *role) {
  static struct worker wk;
  int rc = WORKER_BOOT_FAILED;
  memset(&wk, 0, sizeof wk);
  int err = uv_loop_init(&wk.loop);
  if (err < 0) {
    log_error("cannot start an event loop: %s", uv_strerror(err));
    return rc;
  }
  wk.heartbeat_fd = ws->heartbeat_fd;
  wk.statm_fd = wk.heartbeat_fd >= 0 ? heartbeat_open_statm() : -1;
  wk.master_pid = getppid();
  debug_grow_init(&wk.grow);
  init_env(&wk, cfg, role);
  err = client_set_init(&wk.conns, &wk.loop, &wk.env, on_client_closed);
  if (err < 0) {
    log_error("cannot create the connections' epoll set: %s", uv_strerror(err));
    goto out;
  }
  if (adopt_listeners(&wk, ws) < 0 || init_handles(&wk) < 0 || start_threads(&wk) < 0)
    goto out;
  watchdog_install(&wk);
  app_set_loop_thread();
  log_info("Booting %s with pid: %ld", role->name, (long)getpid());
  set_accepting(&wk, true);
  client_set_run(&wk.conns, before_wait, &wk);
  rc = 0;
  if (wk.heartbeat_fd >= 0) {
    struct worker_report last; /* the counters since the last heartbeat */
    fill_report(&wk, &last);
    heartbeat_send(wk.heartbeat_fd, &last);
  }
out:
  close_listeners(&wk);
  client_set_close(&wk.conns);
  app_pool_close(role->app->pool);
  uv_run(&wk.loop, UV_RUN_NOWAIT); /* let close callbacks run */
  app_pool_destroy(role->app->pool);
  role->app->pool = NULL;
  uv_loop_close(&wk.loop);
  log_flush();
  if (wk.statm_fd >= 0)
    close(wk.statm_fd);
  debug_grow_release(&wk.grow);
  conn_env_release(&wk.env);
  bufpool_drain();
  return rc;
}

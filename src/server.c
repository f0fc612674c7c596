#include "server.h"

#include <arpa/inet.h>
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

#include "client.h"
#include "heartbeat.h"
#include "log.h"
#include "watchdog.h"

#define ACCEPTS_PER_WAKEUP 64
#define ACCEPT_RETRY_MS 1000

static void on_accept(uv_poll_t *h, int status, int events);

static void set_accepting(struct server *srv, bool on) {
  for (size_t i = 0; i < srv->nlisteners; i++) {
    if (on)
      uv_poll_start(&srv->listeners[i].poll, UV_READABLE, on_accept);
    else
      uv_poll_stop(&srv->listeners[i].poll);
  }
}

static void on_accept_retry(uv_timer_t *t) {
  struct server *srv = t->data;
  if (srv->accept_paused && !srv->env.stopping) {
    srv->accept_paused = false;
    set_accepting(srv, true);
  }
}

/* Out of file descriptors: polling the listener again would spin, since the
 * pending connection stays readable. Leave it in the backlog instead, and try
 * again once a connection closes or a second has passed. */
static void pause_accepting(struct server *srv, int err) {
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  log_warning("accept(): %s (the open-file limit is %llu, %zu connections open); "
              "pausing accepts until a connection closes",
              strerror(err), (unsigned long long)rl.rlim_cur, srv->host.nclients);
  srv->accept_paused = true;
  set_accepting(srv, false);
  uv_timer_start(&srv->accept_timer, on_accept_retry, ACCEPT_RETRY_MS, 0);
}

/* At --worker-connections, new clients wait in the backlog until one closes. */
static void pause_at_capacity(struct server *srv) {
  static bool told;
  log_msg(told ? LOG_LEVEL_DEBUG : LOG_LEVEL_INFO,
          "%zu connections open (--worker-connections): new ones wait in the listen "
          "queue until one closes",
          srv->host.nclients);
  told = true;
  srv->accept_paused = true;
  set_accepting(srv, false);
}

static void describe_peer(const struct server *srv, int fd,
                          const struct sockaddr_storage *ss, struct peer *peer) {
  memset(peer, 0, sizeof *peer);
  if (ss->ss_family == AF_UNIX) {
    struct ucred cred;
    socklen_t len = sizeof cred;
    strcpy(peer->addr, "unix");
    peer->trusted = true; /* the socket file's permissions chose who connects */
    if (config_wants_peer_cred(srv->cfg) &&
        getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
      peer->has_cred = true;
      peer->pid = cred.pid;
      peer->uid = cred.uid;
      peer->gid = cred.gid;
    }
    return;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (ss->ss_family == AF_INET6)
    inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, peer->addr,
              sizeof peer->addr);
  else
    inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, peer->addr,
              sizeof peer->addr);
  peer->trusted = config_proxy_trusted(srv->cfg, peer->addr);
}

static void on_accept(uv_poll_t *h, int status, int events) {
  struct server_listener *l = h->data;
  struct server *srv = l->srv;
  (void)events;
  if (status < 0)
    return;
  for (int i = 0; i < ACCEPTS_PER_WAKEUP; i++) {
    if (srv->host.nclients >= srv->cfg->worker_connections) {
      pause_at_capacity(srv);
      return;
    }
    struct sockaddr_storage ss;
    socklen_t len = sizeof ss;
    int fd =
        accept4(l->sock.fd, (struct sockaddr *)&ss, &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      int e = errno;
      if (e == EINTR || e == ECONNABORTED)
        continue;
      if (e == EMFILE || e == ENFILE || e == ENOBUFS || e == ENOMEM)
        pause_accepting(srv, e);
      else if (e != EAGAIN)
        log_error("accept(): %s", strerror(e));
      return;
    }
    struct peer peer;
    describe_peer(srv, fd, &ss, &peer);
    if (peer.has_cred && !config_peer_allowed(srv->cfg, peer.uid, peer.gid)) {
      log_warning("Refused a connection from pid %ld uid %lu gid %lu: not in "
                  "--allow-uid or --allow-gid",
                  (long)peer.pid, (unsigned long)peer.uid, (unsigned long)peer.gid);
      close(fd);
      continue;
    }
    int err = client_start(&srv->host, fd, &peer);
    if (err < 0)
      log_error("cannot take a connection: %s", uv_strerror(err));
  }
}

static void close_listeners(struct server *srv) {
  for (size_t i = 0; i < srv->nlisteners; i++) {
    struct server_listener *l = &srv->listeners[i];
    uv_close((uv_handle_t *)&l->poll, NULL);
    listener_close(&l->sock); /* a worker's copy: the master owns the file */
  }
  srv->nlisteners = 0;
}

static void maybe_finish(struct server *srv) {
  if (!srv->env.stopping || srv->host.nclients != 0 || srv->finished)
    return;
  srv->finished = true;
  for (size_t i = 0; i < sizeof srv->signals / sizeof srv->signals[0]; i++)
    uv_close((uv_handle_t *)&srv->signals[i], NULL);
  uv_close((uv_handle_t *)&srv->before_poll, NULL);
  uv_close((uv_handle_t *)&srv->grace_timer, NULL);
  uv_close((uv_handle_t *)&srv->accept_timer, NULL);
  uv_close((uv_handle_t *)&srv->heartbeat_timer, NULL);
  client_host_close(&srv->host);
}

static void on_client_closed(struct client_host *host) {
  struct server *srv = (struct server *)((char *)host - offsetof(struct server, host));
  if (srv->accept_paused && !srv->env.stopping) {
    uv_timer_stop(&srv->accept_timer);
    on_accept_retry(&srv->accept_timer);
  }
  maybe_finish(srv);
}

static void abort_clients(struct server *srv) {
  while (srv->host.clients != NULL)
    client_abort(srv->host.clients);
}

static void on_grace_over(uv_timer_t *t) {
  struct server *srv = t->data;
  log_warning("Graceful timeout: closing %zu connections still open", srv->host.nclients);
  abort_clients(srv);
}

/* Stop accepting; finish what is in flight, up to --graceful-timeout. */
static void begin_stop(struct server *srv, const char *why) {
  if (srv->env.stopping)
    return;
  log_info("Worker stopping (%s): finishing %zu connections", why, srv->host.nclients);
  srv->env.stopping = true;
  srv->env.now_ms = uv_now(&srv->loop);
  close_listeners(srv);
  uv_timer_stop(&srv->accept_timer);
  for (struct client *cl = srv->host.clients, *next; cl != NULL; cl = next) {
    next = cl->next; /* client_stop may close and unlink cl */
    client_stop(cl);
  }
  uv_timer_start(&srv->grace_timer, on_grace_over, srv->cfg->graceful_timeout_ms, 0);
  maybe_finish(srv);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct server *srv = h->data;
  switch (signum) {
  case SIGTERM: begin_stop(srv, "term"); break;
  case SIGUSR1:
    if (log_reopen() < 0)
      log_error("cannot reopen the log files: %s", strerror(errno));
    break;
  default: /* INT, QUIT: quick stop, as Gunicorn's workers do */
    begin_stop(srv, signum == SIGINT ? "int" : "quit");
    abort_clients(srv);
    break;
  }
}

static void fill_report(struct server *srv, struct worker_report *r) {
  const struct conn_stats *st = &srv->env.stats;
  memset(r, 0, sizeof *r);
  r->version = HEARTBEAT_VERSION;
  r->pid = (uint32_t)getpid();
  memcpy(r->responses, st->responses, sizeof r->responses);
  r->bytes_in = st->bytes_in;
  r->bytes_out = st->bytes_out;
  r->connections = srv->host.nclients;
  for (struct client *cl = srv->host.clients; cl != NULL; cl = cl->next)
    r->in_flight += conn_busy(&cl->conn);
}

/* Proof of life for the master: sent from the loop, so a stalled loop stops
 * it. A master that went away makes the worker stop. */
static void on_heartbeat(uv_timer_t *t) {
  struct server *srv = t->data;
  struct worker_report r;
  fill_report(srv, &r);
  int err = heartbeat_send(srv->heartbeat_fd, &r);
  if (err == -EPIPE || err == -ECONNRESET || getppid() != srv->master_pid)
    begin_stop(srv, "the master is gone");
}

static void on_before_poll(uv_prepare_t *h) {
  struct server *srv = h->data;
  log_flush();
  if (srv->max_requests && srv->env.stats.requests >= srv->max_requests)
    begin_stop(srv, "max-requests reached");
}

static int adopt_listeners(struct server *srv, const struct worker_setup *ws) {
  char err[CONFIG_ERR_MAX];
  for (int i = 0; i < ws->nlisteners; i++) {
    struct server_listener *l = &srv->listeners[i];
    if (listener_adopt(&l->sock, ws->first_fd + i, false, err, sizeof err) < 0) {
      log_error("%s", err);
      return -1;
    }
    srv->nlisteners++;
    uv_poll_init(&srv->loop, &l->poll, l->sock.fd);
    l->poll.data = l;
    l->srv = srv;
  }
  return 0;
}

static void init_env(struct server *srv, const struct config *cfg) {
  srv->cfg = cfg;
  echo_options_init(&srv->echo, cfg);
  conn_env_init(&srv->env, cfg, &echo_handler, &srv->echo);
  if (cfg->max_requests) {
    /* Jitter spreads restarts so the workers do not all recycle at once. */
    srand((unsigned)getpid() ^ (unsigned)uv_hrtime());
    srv->max_requests =
        cfg->max_requests + (cfg->max_requests_jitter
                                 ? (uint64_t)rand() % (cfg->max_requests_jitter + 1)
                                 : 0);
  }
}

static void init_handles(struct server *srv) {
  static const int signums[] = {SIGTERM, SIGINT, SIGQUIT, SIGUSR1};
  for (size_t i = 0; i < sizeof signums / sizeof signums[0]; i++) {
    uv_signal_init(&srv->loop, &srv->signals[i]);
    srv->signals[i].data = srv;
    uv_signal_start(&srv->signals[i], on_signal, signums[i]);
  }
  uv_prepare_init(&srv->loop, &srv->before_poll);
  uv_prepare_start(&srv->before_poll, on_before_poll);
  uv_timer_init(&srv->loop, &srv->grace_timer);
  uv_timer_init(&srv->loop, &srv->accept_timer);
  uv_timer_init(&srv->loop, &srv->heartbeat_timer);
  srv->before_poll.data = srv->grace_timer.data = srv->accept_timer.data = srv;
  srv->heartbeat_timer.data = srv;
  uv_timer_start(&srv->heartbeat_timer, on_heartbeat, 0, HEARTBEAT_INTERVAL_MS);
}

int server_run(const struct config *cfg, const struct worker_setup *ws) {
  static struct server srv;
  int rc = WORKER_BOOT_FAILED;
  memset(&srv, 0, sizeof srv);
  uv_loop_init(&srv.loop);
  srv.heartbeat_fd = ws->heartbeat_fd;
  srv.master_pid = getppid();
  init_env(&srv, cfg);
  int err = client_host_init(&srv.host, &srv.loop, &srv.env, on_client_closed, false);
  if (err < 0) {
    log_error("cannot create the connections' epoll set: %s", uv_strerror(err));
    goto out;
  }
  if (adopt_listeners(&srv, ws) < 0)
    goto out;
  init_handles(&srv);
  watchdog_install(&srv);
  log_info("Booting worker with pid: %ld", (long)getpid());
  set_accepting(&srv, true);
  uv_run(&srv.loop, UV_RUN_DEFAULT);
  rc = 0;
  struct worker_report last; /* the counters since the last heartbeat */
  fill_report(&srv, &last);
  heartbeat_send(srv.heartbeat_fd, &last);
out:
  close_listeners(&srv);
  client_host_close(&srv.host);
  uv_run(&srv.loop, UV_RUN_NOWAIT); /* let close callbacks run */
  uv_loop_close(&srv.loop);
  log_flush();
  bufpool_drain();
  return rc;
}

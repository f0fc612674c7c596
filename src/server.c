#include "server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "log.h"

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
  if (srv->accept_paused && !srv->stopping) {
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
              strerror(err), (unsigned long long)rl.rlim_cur, srv->nclients);
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
          srv->nclients);
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
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) == 0) {
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
    if (srv->nclients >= srv->cfg->worker_connections) {
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
    int err = client_start(srv, fd, &peer);
    if (err < 0)
      log_error("cannot take a connection: %s", uv_strerror(err));
  }
}

static void close_listeners(struct server *srv) {
  for (size_t i = 0; i < srv->nlisteners; i++) {
    struct server_listener *l = &srv->listeners[i];
    if (uv_is_active((uv_handle_t *)&l->poll) || !uv_is_closing((uv_handle_t *)&l->poll))
      uv_close((uv_handle_t *)&l->poll, NULL);
    listener_close(&l->sock);
  }
  srv->nlisteners = 0;
}

static void maybe_finish(struct server *srv) {
  if (!srv->stopping || srv->nclients != 0 || srv->finished)
    return;
  srv->finished = true;
  uv_close((uv_handle_t *)&srv->sig_term, NULL);
  uv_close((uv_handle_t *)&srv->sig_int, NULL);
  uv_close((uv_handle_t *)&srv->before_poll, NULL);
  uv_close((uv_handle_t *)&srv->grace_timer, NULL);
  uv_close((uv_handle_t *)&srv->accept_timer, NULL);
}

void server_client_closed(struct server *srv, struct client *cl) {
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    srv->clients = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  srv->nclients--;
  if (srv->accept_paused && !srv->stopping) {
    uv_timer_stop(&srv->accept_timer);
    on_accept_retry(&srv->accept_timer);
  }
  maybe_finish(srv);
}

static void abort_clients(struct server *srv) {
  while (srv->clients != NULL)
    client_abort(srv->clients);
}

static void on_grace_over(uv_timer_t *t) {
  struct server *srv = t->data;
  log_warning("Graceful timeout: closing %zu connections still busy", srv->nclients);
  abort_clients(srv);
}

static void begin_stop(struct server *srv, const char *why) {
  log_info("Handling signal: %s; no longer accepting, finishing %zu connections", why,
           srv->nclients);
  srv->stopping = true;
  srv->env.stopping = true;
  srv->env.now_ms = uv_now(&srv->loop);
  close_listeners(srv);
  uv_timer_stop(&srv->accept_timer);
  for (struct client *cl = srv->clients, *next; cl != NULL; cl = next) {
    next = cl->next; /* client_stop may close and unlink cl */
    client_stop(cl);
  }
  uv_timer_start(&srv->grace_timer, on_grace_over, srv->cfg->graceful_timeout_ms, 0);
  maybe_finish(srv);
}

static void on_signal(uv_signal_t *h, int signum) {
  struct server *srv = h->data;
  if (srv->stopping) {
    log_warning("Second signal: closing %zu connections now", srv->nclients);
    abort_clients(srv);
    return;
  }
  begin_stop(srv, signum == SIGTERM ? "term" : "int");
}

static void on_before_poll(uv_prepare_t *h) {
  (void)h;
  log_flush();
}

static int open_listeners(struct server *srv) {
  char err[CONFIG_ERR_MAX + 128], name[320];
  for (size_t i = 0; i < srv->cfg->nbinds; i++) {
    struct server_listener *l = &srv->listeners[i];
    if (listener_open(&l->sock, &srv->cfg->binds[i], srv->cfg, err, sizeof err) < 0) {
      log_error("%s", err);
      return -1;
    }
    srv->nlisteners++;
    uv_poll_init(&srv->loop, &l->poll, l->sock.fd);
    l->poll.data = l;
    l->srv = srv;
  }
  /* Only once every address is bound, as Gunicorn does. */
  for (size_t i = 0; i < srv->nlisteners; i++) {
    listener_name(&srv->listeners[i].sock, name, sizeof name);
    log_info("Listening at: %s (%ld)", name, (long)getpid());
  }
  return 0;
}

static void init_env(struct server *srv, const struct config *cfg) {
  srv->cfg = cfg;
  srv->echo.tmp_dir = cfg->tmp_dir;
  srv->echo.stream = cfg->echo_stream;
  srv->env.cfg = cfg;
  srv->env.limits.request_line = cfg->limit_request_line;
  srv->env.limits.fields = cfg->limit_request_fields;
  srv->env.limits.field_size = cfg->limit_request_field_size;
  srv->env.limits.body = cfg->limit_request_body;
  srv->env.app = &echo_handler;
  srv->env.app_ctx = &srv->echo;
}

static void init_handles(struct server *srv) {
  uv_signal_init(&srv->loop, &srv->sig_term);
  uv_signal_init(&srv->loop, &srv->sig_int);
  srv->sig_term.data = srv->sig_int.data = srv;
  uv_signal_start(&srv->sig_term, on_signal, SIGTERM);
  uv_signal_start(&srv->sig_int, on_signal, SIGINT);
  uv_prepare_init(&srv->loop, &srv->before_poll);
  uv_prepare_start(&srv->before_poll, on_before_poll);
  uv_timer_init(&srv->loop, &srv->grace_timer);
  uv_timer_init(&srv->loop, &srv->accept_timer);
  srv->grace_timer.data = srv->accept_timer.data = srv;
}

static void warn_backlog(int backlog) {
  int somaxconn = listener_somaxconn();
  if (somaxconn > 0 && backlog > somaxconn)
    log_warning("--backlog %d exceeds net.core.somaxconn (%d): the kernel silently uses "
                "%d; raise it with sysctl -w net.core.somaxconn=%d",
                backlog, somaxconn, somaxconn, backlog);
}

int server_run(const struct config *cfg) {
  static struct server srv;
  int rc = 1;
  memset(&srv, 0, sizeof srv);
  uv_loop_init(&srv.loop);
  init_env(&srv, cfg);
  log_info("Starting unixcorn %s", UNIXCORN_VERSION);
  warn_backlog(cfg->backlog);
  if (open_listeners(&srv) < 0)
    goto out;
  init_handles(&srv);
  set_accepting(&srv, true);
  uv_run(&srv.loop, UV_RUN_DEFAULT);
  log_info("Shutting down: goodbye");
  rc = 0;
out:
  close_listeners(&srv);
  uv_run(&srv.loop, UV_RUN_NOWAIT); /* let close callbacks run */
  uv_loop_close(&srv.loop);
  log_flush();
  bufpool_drain();
  return rc;
}

#include "client.h"

#include <errno.h>
#include <stdalign.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "log.h"

#define READS_PER_WAKEUP 4
#define WRITE_BUDGET                                                                     \
  (4u << 20) /* per wakeup, so one fast reader cannot starve others                      \
              */
#define SENDFILE_MAX 0x7ffff000u
#define LINGER_MS 2000
#define LINGER_MAX_BYTES (1u << 20)

static void drive(struct client *cl);
static void on_poll(uv_poll_t *h, int status, int events);

static size_t state_offset(void) {
  size_t a = alignof(max_align_t);
  return (sizeof(struct client) + a - 1) / a * a;
}

static void on_handle_closed(uv_handle_t *h) {
  struct client *cl = h->data;
  if (--cl->open_handles == 0)
    free(cl);
}

static void close_now(struct client *cl) {
  if (cl->fd < 0)
    return;
  uv_close((uv_handle_t *)&cl->poll, on_handle_closed);
  uv_close((uv_handle_t *)&cl->timer, on_handle_closed);
  close(cl->fd);
  log_debug("Connection %d from %s closed", cl->fd, cl->conn.peer.addr);
  cl->fd = -1;
  conn_release(&cl->conn);
  struct client_host *host = cl->host;
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    host->clients = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  host->nclients--;
  host->closed(host);
}

static uint64_t now_ms(struct client *cl) {
  return cl->host->env->now_ms = uv_now(cl->host->loop);
}

static void set_events(struct client *cl, int events) {
  if (events == cl->events)
    return;
  cl->events = events;
  if (events == 0)
    uv_poll_stop(&cl->poll);
  else
    uv_poll_start(&cl->poll, events, on_poll);
}

static void on_timer(uv_timer_t *t);

/* Timers are re-armed lazily: a deadline that moves later (every read moves the
 * body deadline) leaves the timer alone, and on_timer checks again. */
static void arm_timer(struct client *cl, uint64_t deadline) {
  if (deadline == 0) {
    if (cl->timer_due != 0)
      uv_timer_stop(&cl->timer);
    cl->timer_due = 0;
    return;
  }
  if (cl->timer_due != 0 && cl->timer_due <= deadline)
    return;
  uint64_t now = uv_now(cl->host->loop);
  uv_timer_start(&cl->timer, on_timer, deadline > now ? deadline - now : 0, 0);
  cl->timer_due = deadline;
}

static void linger_read(struct client *cl) {
  static char scratch[64 * 1024];
  for (;;) {
    ssize_t n = read(cl->fd, scratch, sizeof scratch);
    if (n > 0 && (cl->lingered += (size_t)n) < LINGER_MAX_BYTES)
      continue;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    close_now(cl); /* EOF, error, or enough drained */
    return;
  }
}

/* After an error response the client may still be sending; closing with
 * unread data would reset the connection and could destroy the response
 * before the client reads it. So half-close, drain a little, then close. */
static void begin_close(struct client *cl) {
  int unread = 0;
  if (cl->conn.peer_eof || (!conn_may_have_unread_input(&cl->conn) &&
                            (ioctl(cl->fd, FIONREAD, &unread) < 0 || unread == 0))) {
    close_now(cl);
    return;
  }
  shutdown(cl->fd, SHUT_WR);
  cl->lingering = true;
  cl->linger_until = now_ms(cl) + LINGER_MS;
  set_events(cl, UV_READABLE);
  arm_timer(cl, cl->linger_until);
  linger_read(cl);
}

static void do_read(struct client *cl) {
  for (int i = 0; i < READS_PER_WAKEUP; i++) {
    char *p;
    size_t room = conn_read_window(&cl->conn, &p);
    if (room == 0)
      return;
    ssize_t n = read(cl->fd, p, room);
    if (n > 0) {
      conn_input(&cl->conn, (size_t)n);
      if ((size_t)n < room)
        return;
    } else if (n == 0) {
      conn_input_eof(&cl->conn);
      return;
    } else if (errno != EINTR) {
      if (errno != EAGAIN)
        conn_input_eof(&cl->conn); /* reset: nothing more will arrive */
      return;
    }
  }
}

static ssize_t send_some(struct client *cl, const struct conn_output *o) {
  if (o->mem_len > 0)
    return send(cl->fd, o->mem, o->mem_len, MSG_NOSIGNAL);
  off_t off = (off_t)o->file_off;
  size_t len = o->file_len < SENDFILE_MAX ? o->file_len : SENDFILE_MAX;
  ssize_t n = sendfile(cl->fd, o->fd, &off, len);
  if (n == 0) { /* the file is shorter than promised */
    errno = EIO;
    return -1;
  }
  return n;
}

/* Returns false when the connection broke and was closed. */
static bool flush(struct client *cl) {
  struct conn_output o;
  size_t budget = WRITE_BUDGET;
  cl->want_write = false;
  while (conn_output(&cl->conn, &o)) {
    if (budget == 0) {
      cl->want_write = true;
      return true;
    }
    ssize_t n = send_some(cl, &o);
    if (n > 0) {
      budget = (size_t)n < budget ? budget - (size_t)n : 0;
      conn_output_done(&cl->conn, (size_t)n);
    } else if (errno == EAGAIN) {
      cl->want_write = true;
      return true;
    } else if (errno != EINTR) {
      log_debug("%s: send failed: %s", cl->conn.peer.addr, strerror(errno));
      close_now(cl);
      return false;
    }
  }
  return true;
}

static void drive(struct client *cl) {
  if (!flush(cl))
    return;
  if (conn_done(&cl->conn)) {
    begin_close(cl);
    return;
  }
  set_events(cl, (conn_wants_input(&cl->conn) ? UV_READABLE : 0) |
                     (cl->want_write ? UV_WRITABLE : 0));
  arm_timer(cl, conn_deadline(&cl->conn));
}

static void on_poll(uv_poll_t *h, int status, int events) {
  struct client *cl = h->data;
  now_ms(cl);
  if (cl->lingering) {
    linger_read(cl);
    return;
  }
  if (status < 0) {
    close_now(cl);
    return;
  }
  if (events & UV_READABLE)
    do_read(cl);
  drive(cl);
}

static void on_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  uint64_t now = now_ms(cl);
  cl->timer_due = 0;
  if (cl->lingering) {
    if (now >= cl->linger_until)
      close_now(cl);
    else
      arm_timer(cl, cl->linger_until);
    return;
  }
  uint64_t deadline = conn_deadline(&cl->conn);
  if (deadline != 0 && deadline <= now)
    conn_expire(&cl->conn);
  drive(cl);
}

int client_start(struct client_host *host, int fd, const struct peer *peer) {
  size_t off = state_offset();
  struct client *cl = calloc(1, off + host->env->app->state_size);
  if (cl == NULL) {
    close(fd);
    return -ENOMEM;
  }
  int err = uv_poll_init(host->loop, &cl->poll, fd);
  if (err < 0) {
    free(cl);
    close(fd);
    return err;
  }
  uv_timer_init(host->loop, &cl->timer);
  cl->poll.data = cl->timer.data = cl;
  cl->open_handles = 2;
  cl->host = host;
  cl->fd = fd;
  host->env->now_ms = uv_now(host->loop);
  conn_init(&cl->conn, host->env, peer, (char *)cl + off);
  cl->next = host->clients;
  if (host->clients)
    host->clients->prev = cl;
  host->clients = cl;
  host->nclients++;
  cl->events = UV_READABLE;
  uv_poll_start(&cl->poll, UV_READABLE, on_poll);
  log_debug("Connection %d from %s opened", fd, peer->addr);
  arm_timer(cl, conn_deadline(&cl->conn));
  return 0;
}

void client_stop(struct client *cl) {
  if (cl->lingering || cl->fd < 0)
    return;
  conn_stop(&cl->conn);
  drive(cl);
}

void client_abort(struct client *cl) {
  close_now(cl);
}

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
/* Bytes sent per wakeup, so one fast reader cannot starve the others. */
#define WRITE_BUDGET (4u << 20)
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
  struct client_set *set = cl->set;
  if (cl->polling)
    uv_close((uv_handle_t *)&cl->poll, on_handle_closed);
  uv_close((uv_handle_t *)&cl->timer, on_handle_closed);
  poller_forget(&set->poller, &cl->watch, cl->fd);
  close(cl->fd);
  log_debug("Connection %d from %s closed", cl->fd, cl->conn.peer.addr);
  cl->fd = -1;
  conn_release(&cl->conn);
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    set->clients = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  set->nclients--;
  set->closed(set);
}

static uint64_t tick_clock(struct client *cl) {
  return cl->set->env->now_ms = uv_now(cl->set->loop);
}

/* Joining the set's poller costs one epoll_ctl and leaving it nothing, but
 * every turn of the loop that finds it ready makes a second epoll_wait. So a
 * connection starts there, and once it is kept alive after a response it moves
 * to a uv_poll_t of its own, which costs more to set up (see poller.h) and
 * nothing per turn. */
static int move_to_own_poll(struct client *cl) {
  int err = poller_set(&cl->set->poller, &cl->watch, cl->fd, 0);
  if (err == 0)
    err = uv_poll_init(cl->set->loop, &cl->poll, cl->fd);
  if (err < 0)
    return err;
  cl->poll.data = cl;
  cl->polling = true;
  cl->open_handles++;
  return 0;
}

static int watch_socket(struct client *cl, int events) {
  if (!cl->polling && cl->conn.served_one && !cl->lingering && events != 0) {
    int err = move_to_own_poll(cl);
    if (err < 0)
      return err;
  }
  if (!cl->polling)
    return poller_set(&cl->set->poller, &cl->watch, cl->fd, events);
  if (events != cl->poll_events) {
    cl->poll_events = events;
    return events ? uv_poll_start(&cl->poll, events, on_poll) : uv_poll_stop(&cl->poll);
  }
  return 0;
}

/* Returns false when the connection had to be closed. */
static bool set_events(struct client *cl, int events) {
  int err = watch_socket(cl, events);
  if (err == 0)
    return true;
  log_error("%s: cannot watch the connection: %s", cl->conn.peer.addr, uv_strerror(err));
  close_now(cl);
  return false;
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
  uint64_t now = uv_now(cl->set->loop);
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
  cl->linger_until = tick_clock(cl) + LINGER_MS;
  if (!set_events(cl, UV_READABLE))
    return;
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
  if (set_events(cl, (conn_wants_input(&cl->conn) ? UV_READABLE : 0) |
                         (cl->want_write ? UV_WRITABLE : 0)))
    arm_timer(cl, conn_deadline(&cl->conn));
}

static void on_events(struct client *cl, int status, int events) {
  tick_clock(cl);
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

static void on_ready(struct poller_entry *e, int status, int events) {
  struct client *cl = (struct client *)((char *)e - offsetof(struct client, watch));
  if (cl->fd >= 0) /* else closed earlier in the same batch of events */
    on_events(cl, status, events);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  on_events(h->data, status, events);
}

static void on_timer(uv_timer_t *t) {
  struct client *cl = t->data;
  uint64_t now = tick_clock(cl);
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

int client_start(struct client_set *set, int fd, const struct peer *peer) {
  size_t off = state_offset();
  struct client *cl = calloc(1, off + set->env->app->state_size);
  if (cl == NULL) {
    close(fd);
    return -ENOMEM;
  }
  uv_timer_init(set->loop, &cl->timer);
  cl->timer.data = cl;
  cl->open_handles = 1;
  cl->set = set;
  cl->fd = fd;
  set->env->now_ms = uv_now(set->loop);
  conn_init(&cl->conn, set->env, peer, (char *)cl + off);
  cl->next = set->clients;
  if (set->clients)
    set->clients->prev = cl;
  set->clients = cl;
  set->nclients++;
  log_debug("Connection %d from %s opened", fd, peer->addr);
  drive(cl);
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

int client_set_init(struct client_set *set, uv_loop_t *loop, struct conn_env *env,
                    void (*closed)(struct client_set *), bool forks) {
  *set = (struct client_set){.loop = loop, .env = env, .closed = closed};
  return poller_init(&set->poller, loop, on_ready, forks);
}

void client_set_close(struct client_set *set) {
  while (set->clients != NULL)
    close_now(set->clients);
  poller_close(&set->poller);
}

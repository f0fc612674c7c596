#include "client.h"

#include <errno.h>
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

static struct client *from_watch(struct poller_entry *e) {
  return (struct client *)((char *)e - offsetof(struct client, watch));
}

static struct client *from_deadline(struct deadline *d) {
  return (struct client *)((char *)d - offsetof(struct client, deadline));
}

static uint64_t tick_clock(struct client *cl) {
  cl->set->env->now_ns = cl->set->poller.now_ns;
  return cl->set->env->now_ms = uv_now(cl->set->loop);
}

static void close_now(struct client *cl) {
  if (cl->fd < 0)
    return;
  struct client_set *set = cl->set;
  deadline_clear(&set->deadlines, &cl->deadline);
  poller_forget(&set->poller, &cl->watch, cl->fd);
  close(cl->fd);
  if (log_enabled(LOG_LEVEL_DEBUG)) {
    char text[PEER_TEXT_MAX];
    log_debug("Connection %d from %s closed", cl->fd, peer_text(&cl->conn.peer, text));
  }
  cl->fd = -1;
  conn_release(&cl->conn);
  if (cl->prev)
    cl->prev->next = cl->next;
  else
    set->clients = cl->next;
  if (cl->next)
    cl->next->prev = cl->prev;
  set->nclients--;
  if (poller_dispatching(&set->poller)) { /* later events of the batch may name it */
    cl->next = set->dead;
    set->dead = cl;
  } else {
    free(cl);
  }
  set->closed(set);
}

static void bury_dead(struct poller *p) {
  struct client_set *set =
      (struct client_set *)((char *)p - offsetof(struct client_set, poller));
  while (set->dead != NULL) {
    struct client *cl = set->dead;
    set->dead = cl->next;
    free(cl);
  }
}

/* Returns false when the connection had to be closed. */
static bool set_events(struct client *cl, int events) {
  int err = poller_set(&cl->set->poller, &cl->watch, cl->fd, events);
  if (err == 0)
    return true;
  char text[PEER_TEXT_MAX];
  log_error("%s: cannot watch the connection: %s", peer_text(&cl->conn.peer, text),
            strerror(-err));
  close_now(cl);
  return false;
}

static void arm_deadline(struct client *cl) {
  uint64_t start, duration;
  conn_deadline(&cl->conn, &start, &duration);
  if (duration == 0)
    deadline_clear(&cl->set->deadlines, &cl->deadline);
  else
    deadline_set(&cl->set->deadlines, &cl->deadline, start, duration);
}

static void linger_read(struct client *cl) {
  static char scratch[64 * 1024];
  for (;;) {
    ssize_t n = read(cl->fd, scratch, sizeof scratch);
    if (n > 0 && (cl->lingered += (uint32_t)n) < LINGER_MAX_BYTES)
      continue;
    if (n < 0 && errno == EINTR)
      continue;
    if (n < 0 && errno == EAGAIN)
      return;
    close_now(cl); /* EOF, error, or enough drained */
    return;
  }
}

/* Bytes the client sent that nobody read: the kernel would answer them with a
 * reset at close, which could destroy the response before the client reads
 * it. Asked only of a client that may still be sending. */
static bool unread_input(struct client *cl) {
  int unread = 0;
  if (conn_has_unread_input(&cl->conn))
    return true;
  return conn_client_may_send(&cl->conn) && ioctl(cl->fd, FIONREAD, &unread) == 0 &&
         unread > 0;
}

/* After an error, or with input unread, half-close, drain a little, then
 * close; otherwise close at once. */
static void begin_close(struct client *cl) {
  if (cl->conn.peer_eof || !unread_input(cl)) {
    close_now(cl);
    return;
  }
  shutdown(cl->fd, SHUT_WR);
  cl->lingering = true;
  if (!set_events(cl, UV_READABLE))
    return;
  deadline_set(&cl->set->deadlines, &cl->deadline, tick_clock(cl), LINGER_MS);
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
      log_debug("connection %d: send failed: %s", cl->fd, strerror(errno));
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
    arm_deadline(cl);
}

static void on_ready(struct poller_entry *e, int status, int events) {
  struct client *cl = from_watch(e);
  if (cl->fd < 0) /* closed earlier in the same batch of events */
    return;
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

static void on_deadline(struct deadline *d) {
  struct client *cl = from_deadline(d);
  tick_clock(cl);
  if (cl->lingering) {
    close_now(cl);
    return;
  }
  conn_expire(&cl->conn);
  drive(cl);
}

int client_start(struct client_set *set, int fd, const struct peer *peer) {
  struct client *cl = malloc(sizeof *cl);
  if (cl == NULL) {
    close(fd);
    return -ENOMEM;
  }
  memset(cl, 0, offsetof(struct client, conn));
  cl->set = set;
  cl->fd = fd;
  tick_clock(cl);
  conn_init(&cl->conn, set->env, peer);
  cl->next = set->clients;
  if (set->clients)
    set->clients->prev = cl;
  set->clients = cl;
  set->nclients++;
  if (log_enabled(LOG_LEVEL_DEBUG)) {
    char text[PEER_TEXT_MAX];
    log_debug("Connection %d from %s opened", fd, peer_text(peer, text));
  }
  /* A proxy writes its request right after it connects, so it is usually
   * here by the time we accept: read it before watching the socket. A
   * request answered with a close then costs no epoll_ctl at all. */
  do_read(cl);
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

/* Output came from elsewhere than a socket event (a blocking application's
 * thread): send it. */
static void wake(struct conn *c) {
  struct client *cl = (struct client *)((char *)c - offsetof(struct client, conn));
  if (cl->fd < 0 || cl->lingering)
    return;
  tick_clock(cl);
  drive(cl);
}

int client_set_init(struct client_set *set, uv_loop_t *loop, struct conn_env *env,
                    void (*closed)(struct client_set *)) {
  *set = (struct client_set){.loop = loop, .env = env, .closed = closed};
  env->wake = wake;
  int err = deadlines_init(&set->deadlines, loop, on_deadline);
  if (err < 0)
    return err;
  err = poller_init(&set->poller, loop, on_ready, bury_dead);
  if (err < 0)
    deadlines_close(&set->deadlines);
  return err;
}

void client_set_run(struct client_set *set, void (*before_wait)(void *), void *arg) {
  poller_run(&set->poller, before_wait, arg);
}

void client_set_close(struct client_set *set) {
  while (set->clients != NULL)
    close_now(set->clients);
  poller_close(&set->poller);
  deadlines_close(&set->deadlines);
}

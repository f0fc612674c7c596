/* A worker's event loop: one epoll set holds every connection socket, for its
 * whole life, and libuv's own epoll set as one more entry. Each turn makes one
 * epoll_wait; libuv's loop (listeners, signals, timers, heartbeats) runs only
 * when its set is ready or one of its timers is due.
 *
 * Measured on this project's bench (2 cores, h2load, 64-byte POST):
 * - a uv_poll_t per socket costs an ioctl and four epoll_ctl calls over a
 *   connection's life (uv_poll_init checks the fd by adding and removing it,
 *   every uv_poll_start deletes before it adds, and uv_close deletes again),
 *   and 160 bytes of every idle connection; a libuv stream costs two epoll_ctl
 *   and 264 bytes. Here a socket costs one epoll_ctl to join, none if it never
 *   has to wait, and close(2) takes it out of the set;
 * - this set nested in libuv's loop (a uv_poll_t on it) cost a second
 *   epoll_wait on every turn: with 50 keep-alive connections, 3.05 µs of CPU
 *   per request, against 2.90 µs with this loop outside libuv's, in one run
 *   (the floor: 2.40 µs). libuv still has all it is good at; it only no
 *   longer decides when to wait. */
#ifndef UNIXCORN_POLLER_H
#define UNIXCORN_POLLER_H

#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

struct poller_entry;

/* status is 0, or UV_EBADF when the socket reported an error (as uv_poll's
 * callback gets); events is what of UV_READABLE | UV_WRITABLE is ready. */
typedef void (*poller_cb)(struct poller_entry *e, int status, int events);
struct poller;
/* After a batch of events: what was closed during it can be freed. */
typedef void (*poller_batch_cb)(struct poller *p);

/* One per socket, embedded in its owner; on_ready gets it back. */
struct poller_entry {
  int events; /* watched now; 0: not in the set */
};

struct poller {
  int epfd;
  uv_loop_t *loop;           /* libuv's, run from here */
  struct poller_entry libuv; /* its epoll set, as an entry of this one */
  poller_cb on_ready;
  poller_batch_cb on_batch_done;
  bool dispatching; /* inside a batch of on_ready calls */
  uint64_t now_ns;  /* uv_hrtime() once per turn, after the wait */
};

/* Returns 0 or -errno. */
int poller_init(struct poller *p, uv_loop_t *loop, poller_cb on_ready,
                poller_batch_cb on_batch_done);
/* Watch fd, whose entry is e, for events (UV_READABLE | UV_WRITABLE; 0 stops
 * watching). Returns 0 or -errno. */
int poller_set(struct poller *p, struct poller_entry *e, int fd, int events);
/* Call before closing fd. */
void poller_forget(struct poller *p, struct poller_entry *e, int fd);
static inline bool poller_dispatching(const struct poller *p) {
  return p->dispatching;
}
/* One turn: waits at most max_wait_ms (-1: until a socket, a libuv handle or
 * a libuv timer needs it), handles what is ready, then runs libuv's loop once
 * if it has work. */
void poller_turn(struct poller *p, int max_wait_ms);
/* Turns until libuv's loop has nothing left: its owner closed every handle.
 * before_wait runs at the start of each turn. */
void poller_run(struct poller *p, void (*before_wait)(void *arg), void *arg);
/* Every socket must be forgotten first. */
void poller_close(struct poller *p);

#endif

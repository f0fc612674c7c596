/* Connection sockets in an epoll set of their own, which the libuv loop
 * watches through a single uv_poll_t: every connection, for its whole life.
 *
 * A uv_poll_t per socket costs an ioctl and four epoll_ctl calls over a
 * connection's life (uv_poll_init checks the fd by adding and removing it,
 * every uv_poll_start deletes before it adds, and uv_close deletes again), and
 * 160 bytes of every idle connection; a libuv stream costs two epoll_ctl and
 * 264 bytes. Here a socket costs one epoll_ctl to join, none if it never has
 * to wait, and close(2) takes it out of the set. The price is a second
 * epoll_wait on each turn of the loop that finds the set ready: measured with
 * 50 busy keep-alive connections, it cost 2 % CPU per request (3.23 against
 * 3.17 µs of a uv_poll_t per kept-alive connection), since one turn serves
 * many sockets. */
#ifndef UNIXCORN_POLLER_H
#define UNIXCORN_POLLER_H

#include <stdbool.h>
#include <uv.h>

struct poller_entry;

/* status is 0, or UV_EBADF when the socket reported an error (as uv_poll's
 * callback gets); events is what of UV_READABLE | UV_WRITABLE is ready. */
typedef void (*poller_cb)(struct poller_entry *e, int status, int events);
struct poller;
/* After a batch of events: what was closed during it can be freed. */
typedef void (*poller_batch_cb)(struct poller *p);

struct poller {
  int epfd;
  uv_poll_t watch;
  poller_cb on_ready;
  poller_batch_cb on_batch_done;
  bool dispatching; /* inside a batch of on_ready calls */
};

/* One per socket, embedded in its owner; on_ready gets it back. */
struct poller_entry {
  int events; /* watched now; 0: not in the set */
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
/* Every socket must be forgotten first. */
void poller_close(struct poller *p);

#endif

/* Connection sockets in an epoll set of their own, which the libuv loop
 * watches through a single uv_poll_t.
 *
 * A uv_poll_t per socket costs an ioctl and four epoll_ctl calls over a
 * connection's life: uv_poll_init checks the fd by adding and removing it,
 * every uv_poll_start deletes before it adds, and uv_close deletes again.
 * For a one-request connection (nginx without upstream keep-alive) that is
 * more system calls than the request itself. Here a socket costs one
 * epoll_ctl to join, and close(2) takes it out of the set. The price is a
 * second epoll_wait on every turn of the loop that finds one ready, which is
 * why client.c moves a kept-alive connection to a uv_poll_t of its own. */
#ifndef UNIXCORN_POLLER_H
#define UNIXCORN_POLLER_H

#include <stdbool.h>
#include <uv.h>

struct poller_entry;

/* status is 0, or UV_EBADF when the socket reported an error (as uv_poll's
 * callback gets); events is what of UV_READABLE | UV_WRITABLE is ready. */
typedef void (*poller_cb)(struct poller_entry *e, int status, int events);

struct poller {
  int epfd;
  uv_poll_t watch;
  poller_cb on_ready;
  /* The process forks: a child holds a copy of every socket until it execs,
   * and with it the socket's epoll entry, so entries are removed by hand. */
  bool forks;
};

/* One per socket, embedded in its owner; on_ready gets it back. */
struct poller_entry {
  int events; /* watched now; 0: not in the set */
};

/* Returns 0 or -errno. */
int poller_init(struct poller *p, uv_loop_t *loop, poller_cb on_ready, bool forks);
/* Watch fd, whose entry is e, for events (UV_READABLE | UV_WRITABLE; 0 stops
 * watching). Returns 0 or -errno. */
int poller_set(struct poller *p, struct poller_entry *e, int fd, int events);
/* Call before closing fd. */
void poller_forget(struct poller *p, struct poller_entry *e, int fd);
/* Every socket must be forgotten first. */
void poller_close(struct poller *p);

#endif

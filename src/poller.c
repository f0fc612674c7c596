#include "poller.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include "log.h"

#define POLLER_BATCH 64

/* A child made by fork() holds a copy of every socket until it execs or
 * exits, and with it the socket's epoll registration: close(2) then leaves the
 * socket in the set, and its events would name a freed owner. Once this
 * process has forked (an application may: system(), popen()), sockets leave
 * the set by hand; until then close(2) is enough. */
static bool forked;

static void note_fork(void) {
  forked = true;
}

static uint32_t epoll_events(int events) {
  return ((events & UV_READABLE) ? EPOLLIN : 0u) |
         ((events & UV_WRITABLE) ? EPOLLOUT : 0u);
}

static void dispatch(struct poller *p, const struct epoll_event *ev) {
  struct poller_entry *e = ev->data.ptr;
  if (ev->events & EPOLLERR) {
    p->on_ready(e, UV_EBADF, 0);
    return;
  }
  /* A hang-up shows as readiness for whatever is watched: the read or write
   * that follows sees the end of the stream or the error. */
  int ready = (ev->events & EPOLLHUP) ? e->events : 0;
  if (ev->events & EPOLLIN)
    ready |= UV_READABLE;
  if (ev->events & EPOLLOUT)
    ready |= UV_WRITABLE;
  p->on_ready(e, 0, ready & e->events);
}

/* One batch per turn of the loop: sockets that are still ready (a client
 * stops after a few reads, so one connection cannot starve the others) are
 * reported again on the next turn, after libuv's timers and handles had theirs.
 * Entries stay valid through a batch: their owners free what closed during it
 * only in on_batch_done. */
void poller_turn(struct poller *p, int max_wait_ms) {
  struct epoll_event ev[POLLER_BATCH];
  if (p->epfd < 0) { /* closed: what remains is libuv's, closing */
    uv_run(p->loop, UV_RUN_ONCE);
    return;
  }
  uv_update_time(p->loop);
  int timeout = uv_backend_timeout(p->loop);
  if (max_wait_ms >= 0 && (timeout < 0 || timeout > max_wait_ms))
    timeout = max_wait_ms;
  int n = epoll_wait(p->epfd, ev, POLLER_BATCH, timeout);
  if (n < 0 && errno != EINTR)
    log_error("epoll_wait: %s", strerror(errno));
  bool libuv_ready = n == 0; /* a timer is due, or max_wait_ms passed */
  uv_update_time(p->loop);
  /* The request times' clock (queue_time.h): one read per turn, however many
   * requests the turn serves; the vDSO answers it without a system call. */
  p->now_ns = uv_hrtime();
  p->dispatching = true;
  for (int i = 0; i < n; i++) {
    if (ev[i].data.ptr == &p->libuv)
      libuv_ready = true;
    else
      dispatch(p, &ev[i]);
  }
  p->dispatching = false;
  p->on_batch_done(p);
  if (libuv_ready || uv_backend_timeout(p->loop) == 0)
    uv_run(p->loop, UV_RUN_NOWAIT);
}

void poller_run(struct poller *p, void (*before_wait)(void *), void *arg) {
  while (uv_loop_alive(p->loop)) {
    before_wait(arg);
    poller_turn(p, -1);
  }
}

int poller_init(struct poller *p, uv_loop_t *loop, poller_cb on_ready,
                poller_batch_cb on_batch_done) {
  static bool watching_forks;
  if (!watching_forks && pthread_atfork(NULL, note_fork, NULL) == 0)
    watching_forks = true;
  *p = (struct poller){.loop = loop,
                       .on_ready = on_ready,
                       .on_batch_done = on_batch_done,
                       .now_ns = uv_hrtime()};
  p->epfd = epoll_create1(EPOLL_CLOEXEC);
  if (p->epfd < 0)
    return -errno;
  int err = poller_set(p, &p->libuv, uv_backend_fd(loop), UV_READABLE);
  if (err < 0) {
    close(p->epfd);
    p->epfd = -1;
  }
  return err;
}

/* A socket that is watched for nothing leaves the set rather than staying with
 * no events: epoll reports hang-ups regardless, and level-triggered it would
 * report them on every turn of the loop. */
int poller_set(struct poller *p, struct poller_entry *e, int fd, int events) {
  if (events == e->events)
    return 0;
  int op = events == 0 ? EPOLL_CTL_DEL : e->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD;
  struct epoll_event ev = {.events = epoll_events(events), .data.ptr = e};
  if (epoll_ctl(p->epfd, op, fd, &ev) < 0)
    return -errno;
  e->events = events;
  return 0;
}

void poller_forget(struct poller *p, struct poller_entry *e, int fd) {
  if (forked && e->events != 0)
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, fd, NULL);
  e->events = 0;
}

void poller_close(struct poller *p) {
  if (p->epfd < 0)
    return;
  close(p->epfd);
  p->epfd = -1;
}

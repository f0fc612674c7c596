/* A connection's socket side: moves bytes between the socket and its conn
 * state machine with read(2), send(2) and sendfile(2), driven by readiness
 * from its set's epoll set (poller.h) for the connection's whole life, with its
 * deadlines on the set's shared timer (deadline.h), and a lingering close
 * after errors. No libuv handle per connection: see poller.h for the numbers.
 * A closed client is freed at once, or at the end of the batch of events it was
 * closed in, which may still name it. */
#ifndef UNIXCORN_CLIENT_H
#define UNIXCORN_CLIENT_H

#include <uv.h>

#include "conn.h"
#include "deadline.h"
#include "poller.h"

struct client;

/* Whoever runs the connections: a worker, or the metrics process. It keeps
 * the list of open clients, for a graceful stop. */
struct client_set {
  uv_loop_t *loop;
  struct conn_env *env;
  struct client *clients;
  size_t nclients;
  /* Called as a client goes away, after it left the list. */
  void (*closed)(struct client_set *set);
  struct poller poller;
  struct deadlines deadlines;
  struct client *dead; /* closed during a batch of events: freed after it */
};

struct client {
  struct poller_entry watch;
  struct deadline deadline;
  struct client_set *set;
  struct client *prev, *next;
  int fd;
  bool want_write;
  bool lingering;
  uint32_t lingered; /* bytes drained while lingering */
  struct conn conn;
};

/* Returns 0 or -errno. */
int client_set_init(struct client_set *set, uv_loop_t *loop, struct conn_env *env,
                    void (*closed)(struct client_set *set));
/* Runs the set's loop (poller_run) until its libuv loop has nothing left. */
void client_set_run(struct client_set *set, void (*before_wait)(void *arg), void *arg);
/* Closes every client at once, then the poller and the timer. */
void client_set_close(struct client_set *set);

/* Takes ownership of fd, a socket that was just accepted (it may already hold
 * the request: it is read before it is watched). Returns 0 or -errno (fd
 * closed then). */
int client_start(struct client_set *set, int fd, const struct peer *peer);
/* Graceful stop: finish the current response, then close. */
void client_stop(struct client *cl);
/* Close now, whatever is pending. */
void client_abort(struct client *cl);

#endif

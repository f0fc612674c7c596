/* A connection's socket side: moves bytes between the socket and its conn
 * state machine with read(2), send(2) and sendfile(2), driven by readiness
 * from the set's poller and later a uv_poll_t (libuv streams cannot sendfile
 * from a non-blocking socket), with one timer for every deadline, and a
 * lingering close after errors. */
#ifndef UNIXCORN_CLIENT_H
#define UNIXCORN_CLIENT_H

#include <uv.h>

#include "conn.h"
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
};

struct client {
  struct poller_entry watch; /* until the first response, then: */
  uv_poll_t poll;            /* if polling */
  bool polling;
  int poll_events; /* what poll watches now */
  uv_timer_t timer;
  struct client_set *set;
  struct client *prev, *next;
  int fd;
  uint64_t timer_due; /* loop time the timer fires at; 0: not armed */
  bool want_write;
  bool lingering;
  uint64_t linger_until;
  size_t lingered;
  int open_handles; /* freed when the last one's close callback runs */
  struct conn conn;
};

/* forks: the process forks children (see struct poller). Returns 0 or
 * -errno. */
int client_set_init(struct client_set *set, uv_loop_t *loop, struct conn_env *env,
                    void (*closed)(struct client_set *set), bool forks);
/* Closes every client at once, then the poller. */
void client_set_close(struct client_set *set);

/* Takes ownership of fd. Returns 0 or -errno (fd closed then). */
int client_start(struct client_set *set, int fd, const struct peer *peer);
/* Graceful stop: finish the current response, then close. */
void client_stop(struct client *cl);
/* Close now, whatever is pending. */
void client_abort(struct client *cl);

#endif

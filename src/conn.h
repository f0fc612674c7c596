/* One HTTP/1.x connection as a state machine: bytes in, bytes out, deadlines.
 * It owns no socket, so the server's event loop, the unit tests and the fuzzer
 * all drive the same code: feed it what arrived, send what it hands out. */
#ifndef UNIXCORN_CONN_H
#define UNIXCORN_CONN_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "handler.h"
#include "http1.h"

/* Counters of one process, for the master's metrics. */
struct conn_stats {
  uint64_t responses[STATUS_CLASSES];
  uint64_t bytes_in, bytes_out;
  uint64_t requests; /* answered, of any status */
};

/* Shared by every connection of a process. */
struct conn_env {
  struct conn_stats stats;
  const struct config *cfg;
  struct http1_limits limits;
  const struct handler *app;
  void *app_ctx;
  uint64_t now_ms; /* the event loop's clock, updated by its owner */
  bool stopping;   /* graceful stop: no new keep-alive */
};

/* Limits from the config; app and app_ctx as given. */
void conn_env_init(struct conn_env *env, const struct config *cfg,
                   const struct handler *app, void *app_ctx);

struct peer {
  char addr[64]; /* IP text, or "unix" */
  bool trusted;  /* a proxy whose X-Forwarded-For we log as the client */
  bool has_cred; /* SO_PEERCRED of a Unix-socket peer */
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

enum conn_state {
  CONN_IDLE,       /* waiting for the first byte of a request */
  CONN_HEAD,       /* reading a request head */
  CONN_BODY,       /* reading a body (a streaming response may be under way) */
  CONN_RESPONDING, /* request complete: sending its response */
  CONN_CLOSING,    /* sending a last response, then close */
  CONN_DONE,       /* nothing more to send: close the connection */
};

struct conn_output {
  const char *mem; /* first these bytes... */
  size_t mem_len;
  int fd; /* ...else file_len bytes of fd at file_off (mem_len == 0) */
  uint64_t file_off;
  size_t file_len;
};

struct conn {
  struct conn_env *env;
  struct http1 http;
  struct request req;
  struct buf in; /* unparsed input is [in_pos, in.len) */
  size_t in_pos;
  struct buf out; /* unsent output is [out_pos, out.len), then the file part */
  size_t out_pos;
  int file_fd;
  uint64_t file_off, file_left;
  enum conn_state state;
  bool keep_alive;
  bool app_active; /* the handler holds request state: on_done is owed */
  bool response_started, response_ended, chunked_out;
  bool served_one; /* a kept-alive connection idles under --keepalive */
  bool peer_eof;
  bool failed; /* ended with an error: the client may still be sending */
  int status;
  uint64_t body_sent;
  uint64_t state_since_ms, last_io_ms;
  uint64_t start_ns; /* for the access log's request time */
  struct peer peer;
  void *app_state;
};

/* app_state points at env->app->state_size bytes that live as long as c. */
void conn_init(struct conn *c, struct conn_env *env, const struct peer *peer,
               void *app_state);
/* Releases everything the connection holds (not the struct itself). */
void conn_release(struct conn *c);

/* Where to put the next bytes read; 0 means do not read now (a response is
 * being sent, or the output is over its high-water mark). */
size_t conn_read_window(struct conn *c, char **p);
void conn_input(struct conn *c, size_t n);
void conn_input_eof(struct conn *c);

/* Whether the connection takes input now (conn_read_window would be > 0). */
bool conn_wants_input(const struct conn *c);

/* What to send next; false when nothing is pending. */
bool conn_output(const struct conn *c, struct conn_output *o);
void conn_output_done(struct conn *c, size_t n);

/* Absolute deadline in env->now_ms terms, 0 for none; conn_expire() when due. */
uint64_t conn_deadline(const struct conn *c);
void conn_expire(struct conn *c);

/* Graceful stop: the current response says Connection: close, and an idle
 * connection is closed after --keepalive unless a request comes first (closing
 * it at once could race a request the proxy is sending on it). */
void conn_stop(struct conn *c);

/* A request is under way (for in-flight counts and the timeout dump). */
static inline bool conn_busy(const struct conn *c) {
  return c->state == CONN_HEAD || c->state == CONN_BODY || c->state == CONN_RESPONDING;
}

static inline bool conn_done(const struct conn *c) {
  return c->state == CONN_DONE;
}

/* At close: may the client still have bytes in flight that we never read?
 * Then the transport should drain them before closing, so the kernel does not
 * answer them with a reset that destroys the response we sent. */
static inline bool conn_may_have_unread_input(const struct conn *c) {
  return c->failed || c->in_pos < c->in.len;
}

#endif

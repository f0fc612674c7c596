/* One HTTP/1.x connection as a state machine: bytes in, bytes out, deadlines.
 * It owns no socket, so the server's event loop, the unit tests and the fuzzer
 * all drive the same code: feed it what arrived, send what it hands out.
 *
 * What a request needs while it is under way (its parser, its fields, the
 * application's state) is an exchange, taken from a pool when the request's
 * first byte arrives and given back once it is answered: an idle keep-alive
 * connection holds only struct conn, and no buffer. */
#ifndef UNIXCORN_CONN_H
#define UNIXCORN_CONN_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"
#include "http1.h"
#include "response.h"
#include "timing.h"

struct app;
struct conn;

/* Counters of one process, for the master's metrics. */
struct conn_stats {
  uint64_t responses[STATUS_CLASSES];
  uint64_t bytes_in, bytes_out;
  uint64_t requests; /* answered, of any status */
  struct timing_stats timing;
};

struct exchange;

/* A response stops the reading side, and an application's writes wait,
 * past this much unsent output. */
#define CONN_OUT_HIGH_WATER (64 * 1024)

/* Shared by every connection of a process. */
struct conn_env {
  struct conn_stats stats;
  const struct config *cfg;
  struct http1_limits limits;
  const struct app *app;
  uint64_t now_ms;        /* the event loop's clock, updated by its owner */
  uint64_t now_ns;        /* the same, read once per turn of the loop, in ns */
  int64_t wall_offset_ns; /* now_ns plus this: the wall clock (queue_time.h) */
  bool stopping;          /* graceful stop: no new keep-alive */
  struct exchange *spare; /* exchanges given back, for the next requests */
  size_t nspare;
  /* Set by whoever owns the sockets: output is waiting, though no socket
   * event says so (a blocking application's thread wrote). */
  void (*wake)(struct conn *c);
};

/* Limits from the config; the application as given. */
void conn_env_init(struct conn_env *env, const struct config *cfg, const struct app *app);
/* Frees the spare exchanges (at exit, so leak checkers see a clean heap). */
void conn_env_release(struct conn_env *env);

/* The other end of the connection. Kept in binary: the text is made only
 * when a log line needs it. */
struct peer {
  uint8_t family; /* AF_UNIX, AF_INET or AF_INET6 */
  uint8_t ip[16]; /* AF_INET: the first 4 bytes */
  uint16_t port;  /* TCP */
  bool trusted;   /* a proxy whose X-Forwarded-For we log as the client */
  bool has_cred;  /* SO_PEERCRED of a Unix-socket peer */
  pid_t pid;
  uid_t uid;
  gid_t gid;
};

#define PEER_TEXT_MAX 46 /* INET6_ADDRSTRLEN */
/* "unix", or the address as inet_ntop writes it. */
const char *peer_text(const struct peer *p, char out[PEER_TEXT_MAX]);

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
  struct exchange *x; /* NULL between requests */
  struct buf in;      /* unparsed input is [in_pos, in.len) */
  struct buf out;     /* unsent output is [out_pos, out.len), then x's file part */
  size_t in_pos, out_pos;
  uint64_t state_since_ms, last_io_ms;
  struct peer peer;
  uint8_t state; /* enum conn_state */
  bool keep_alive;
  bool served_one; /* a kept-alive connection idles under --keepalive */
  bool peer_eof;
  bool failed;        /* ended with an error: the client may still be sending */
  bool client_closes; /* the last request asked to close after its answer */
};

void conn_init(struct conn *c, struct conn_env *env, const struct peer *peer);
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

/* When the connection's deadline is due: start + duration, in env->now_ms
 * terms; duration 0 means none. Connections share a few durations, which is
 * what lets their owner keep deadlines in one list per duration. */
void conn_deadline(const struct conn *c, uint64_t *start, uint64_t *duration);
void conn_expire(struct conn *c);

/* The application did something outside the connection's own events (a
 * blocking application's thread wrote, or returned): go on with what follows
 * from it. */
void conn_app_progress(struct conn *c);

/* Graceful stop: the current response says Connection: close, and an idle
 * connection is closed after --keepalive unless a request comes first (closing
 * it at once could race a request the proxy is sending on it). */
void conn_stop(struct conn *c);

/* The client a request came from, as the access log and unixcorn_client name
 * it: the peer, or for a trusted proxy its X-Forwarded-For. */
const char *exchange_client(struct exchange *x, size_t *len);

/* A request is under way (for in-flight counts and the timeout dump). */
static inline bool conn_busy(const struct conn *c) {
  return c->state == CONN_HEAD || c->state == CONN_BODY || c->state == CONN_RESPONDING;
}

static inline bool conn_done(const struct conn *c) {
  return c->state == CONN_DONE;
}

/* At close: has the client sent bytes that we never read? Then the transport
 * should drain them before closing, so the kernel does not answer them with a
 * reset that destroys the response we sent. */
static inline bool conn_has_unread_input(const struct conn *c) {
  return c->failed || c->in_pos < c->in.len;
}

/* ...and may it still be sending? Not a client that asked to close: it sends
 * nothing after that request (RFC 9112, section 9.6). */
static inline bool conn_client_may_send(const struct conn *c) {
  return !c->peer_eof && !c->client_closes;
}

#endif

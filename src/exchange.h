/* One request under way, and its response: what the connection, the
 * response framing (respond.c) and the application interface (app_api.c)
 * share. Taken from a pool when a request's first byte arrives, given back
 * once it is answered, so an idle connection holds none of it. To the
 * application it is the opaque unixcorn_request. */
#ifndef UNIXCORN_EXCHANGE_H
#define UNIXCORN_EXCHANGE_H

#include <stdalign.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bufpool.h"
#include "conn.h"
#include "http1.h"
#include "spool.h"

struct conn;
struct pool_thread;

enum response_state {
  RESPONSE_NONE,    /* nothing yet */
  RESPONSE_STARTED, /* status set; header fields may still come */
  RESPONSE_HEAD,    /* the head is in the output */
  RESPONSE_ENDED,   /* the whole response is in the output */
};

struct exchange {
  struct exchange *next_spare;
  struct conn_env *env;
  struct conn *conn; /* NULL once the connection went away before on_done */
  struct http1 http;
  struct request req;
  struct spool body; /* a whole body, for applications that want one */

  /* the response */
  int status;
  uint8_t response; /* enum response_state */
  bool chunked_out, until_close, length_declared;
  uint64_t declared;   /* with length_declared */
  uint64_t body_given; /* by the application, HEAD or not */
  uint64_t body_sent;  /* onto the wire: for the access log */
  struct buf fields;   /* the application's header fields, as "Name: value\r\n" */
  int file_fd;         /* a file part, sent after the memory part of the output */
  uint64_t file_off, file_left;
  struct buf after_file; /* output that follows the file part */

  /* the application */
  struct peer peer;           /* a copy: the request may outlive its connection */
  char client[PEER_TEXT_MAX]; /* unixcorn_client's text, once asked */
  bool app_active;            /* on_done is owed */
  bool app_waiting;           /* an event application waits for on_writable */
  bool in_on_body;            /* its on_body runs: writes always have room */
  bool app_failed;            /* the request fails: fail_status says how */
  bool rule_logged;           /* the application broke a rule, and it was logged */
  bool on_thread;             /* a blocking application's thread holds the request */
  struct pool_thread *thread; /* that thread, once it runs the request */
  struct exchange *pool_next; /* in the pool's queue */
  volatile int thread_misuse; /* another thread called for the request */
  int fail_status;
  const char *fail_reason;
  uint64_t start_ns;                     /* for the access log's request time */
  uint64_t begin_ns;                     /* env->now_ns at its first byte: queue_time.h */
  int64_t queue_us;                      /* from X-Request-Start; -1: none believed */
  alignas(max_align_t) char app_state[]; /* the application's request_size bytes */
};

/* A fresh exchange for c's next request: a spare one if there is one.
 * Returns NULL when out of memory. */
struct exchange *exchange_take(struct conn_env *env, struct conn *c,
                               http1_body_cb on_body);
void exchange_give_back(struct exchange *x);
void exchange_free_spares(struct conn_env *env);
/* CLOCK_MONOTONIC in ns, for request times. */
uint64_t exchange_clock_ns(void);

#endif

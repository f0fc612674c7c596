/* One request under way, and its response: what the connection, the
 * response framing (respond.c) and the application interface (app_api.c)
 * share. Taken from a pool when a request's first byte arrives, given back
 * once it is answered, so an idle connection holds none of it. To the
 * application it is the opaque unixcorn_request. */
#ifndef UNIXCORN_EXCHANGE_H
#define UNIXCORN_EXCHANGE_H

#include <stdalign.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app_stage.h"
#include "bufpool.h"
#include "conn.h"
#include "http1.h"
#include "reply.h"
#include "request_id.h"
#include "spool.h"

struct conn;
struct pool_thread;

struct exchange {
  struct exchange *next_spare;
  struct conn_env *env;
  struct conn *conn; /* NULL once the connection went away before on_done */
  struct http1 http;
  struct request req;
  struct spool body; /* a whole body, for applications that want one */

  /* the response */
  struct reply reply; /* what the application said, as the loop has it */
  bool chunked_out, until_close;
  uint64_t body_sent; /* onto the wire: for the access log */
  int file_fd;        /* a file part, sent after the memory part of the output */
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
  atomic_int thread_misuse;   /* another thread called for the request */
  int fail_status;
  const char *fail_reason;
  uint64_t start_ns;    /* for the access log's request time */
  struct request_id id; /* assigned once the head is in, or it fails */
  uint64_t begin_ns;    /* env->now_ns at its first byte: queue_time.h */
  int64_t queue_us;     /* from X-Request-Start; -1: none believed */

  /* a blocking application's request (app_pool.c), from app_pool_start */
  bool on_thread;             /* a pool thread holds the request (the loop's flag) */
  atomic_bool calls_closed;   /* failed, or its client left: the thread's calls fail */
  struct stage stage;         /* the thread's side of the response */
  struct pool_thread *thread; /* the thread, once it runs the request */
  struct exchange *pool_next; /* in the pool's queue, then its list for the loop */
  /* under the pool's lock */
  struct app_call *handed; /* a hand-over the loop has not answered */
  struct app_call *to_run; /* ...nor started */
  bool posted;             /* in the pool's list for the loop */
  bool returned;           /* on_request returned returned_rc */
  int returned_rc;

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

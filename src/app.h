/* The application a worker serves, behind the public interface
 * (unixcorn/app.h): how the connection hands it a request, piece by piece,
 * and how the whole-body mode spools a body for it. Built-in applications
 * (echo, inspect, the metrics endpoint) and shared objects are served alike. */
#ifndef UNIXCORN_APP_H_INTERNAL
#define UNIXCORN_APP_H_INTERNAL

#include <stdbool.h>
#include <stddef.h>

#include <unixcorn/app.h>

struct conn;
struct exchange;
struct app_pool;

struct app {
  const struct unixcorn_app *desc;
  void *data;            /* what init set */
  void *dl;              /* a shared object's dlopen handle; NULL for a built-in */
  const char *tmp_dir;   /* where whole bodies are spooled */
  struct app_pool *pool; /* the threads of a blocking application */
  bool initialized;      /* init ran: fini is owed */
  char name[256];
};

static inline bool app_blocking(const struct app *a) {
  return (a->desc->flags & UNIXCORN_APP_BLOCKING) != 0;
}

static inline bool app_streams_body(const struct app *a) {
  return (a->desc->flags & UNIXCORN_APP_STREAM_BODY) != 0;
}

/* The connection's calls, on the event loop. The first three return 0, or an
 * HTTP status to fail the request with; the request's app_failed may also be
 * set by what the application did. */
int app_head(const struct app *a, struct exchange *x);
int app_body(const struct app *a, struct exchange *x, const char *data, size_t len);
int app_complete(const struct app *a, struct exchange *x);
/* The output has room again for an application that waits for it. */
void app_writable(const struct app *a, struct exchange *x);
/* The request is over: on_done, and what the body held. */
void app_done(const struct app *a, struct exchange *x);
/* The connection went away from a request that a thread still holds: the
 * thread's calls fail from now on, and the pool gives the request back. */
void app_detach(const struct app *a, struct exchange *x);

/* A response call of the interface, as data: made on the event loop directly
 * for an event application. A blocking application's thread stages what it
 * can (app_stage.c) and hands the rest over to the loop (app_pool.c): a call,
 * or APP_FLUSH, for what it staged alone. */
enum app_op {
  APP_RESPOND,
  APP_FIELD,
  APP_LENGTH,
  APP_WRITE,
  APP_FILE,
  APP_END,
  APP_FLUSH
};

struct app_call {
  enum app_op op;
  int status, fd;
  const void *a, *b; /* names, values, data */
  size_t a_len, b_len;
  uint64_t offset, length;
  int thread_rc; /* the rule the thread found the call to break, or 0 */
  int result;
};

/* On the event loop. For a request on a thread, what the thread staged goes
 * out first. UNIXCORN_EAGAIN from a write is the caller's to wait out; a call
 * that breaks a rule (or that the thread found breaking one: thread_rc)
 * fails the request. */
int app_call_run(struct exchange *x, struct app_call *call);

/* A request broke a rule of the interface: logged once, and failed with
 * status, unless its response is complete already (that one stands). */
void app_fail(struct exchange *x, int status, const char *reason);
/* What a callback returned (rc), and a call another thread made meanwhile:
 * 0 when the request goes on, or the status it fails with. */
int app_outcome(struct exchange *x, int rc);

/* The thread that runs the event loop: event applications must call from it. */
void app_set_loop_thread(void);
bool app_on_loop_thread(void);

#endif

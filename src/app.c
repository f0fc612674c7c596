#include "app.h"

#include <pthread.h>
#include <string.h>

#include "app_pool.h"
#include "exchange.h"
#include "log.h"

static pthread_t loop_thread;

void app_set_loop_thread(void) {
  loop_thread = pthread_self();
}

bool app_on_loop_thread(void) {
  return pthread_equal(pthread_self(), loop_thread) != 0;
}

void app_fail(struct exchange *x, int status, const char *reason) {
  if (x->app_failed)
    return;
  x->app_failed = true;
  x->fail_status = status;
  x->fail_reason = reason;
  log_error(
      "application: %s (%.*s %.*s)", reason, (int)x->req.method.len,
      request_str(&x->req, x->req.method) ? request_str(&x->req, x->req.method) : "",
      (int)(x->req.target.len < 200 ? x->req.target.len : 200),
      request_str(&x->req, x->req.target) ? request_str(&x->req, x->req.target) : "");
}

/* A callback's answer: 0, a status from 400 to 599, or anything else as 500. */
static int outcome(struct exchange *x, int rc) {
  if (rc == 0)
    return 0;
  if (rc >= 400 && rc <= 599)
    return rc;
  app_fail(x, 500, "a callback returned neither 0 nor an HTTP error status");
  return 500;
}

int app_head(const struct app *a, struct exchange *x) {
  x->app_active = true;
  if (!app_streams_body(a))
    return 0;
  return outcome(x, a->desc->on_request((unixcorn_request *)x));
}

int app_body(const struct app *a, struct exchange *x, const char *data, size_t len) {
  if (app_streams_body(a))
    return a->desc->on_body
               ? outcome(x, a->desc->on_body((unixcorn_request *)x, data, len))
               : 0;
  int err = spool_append(&x->body, a->tmp_dir, data, len);
  if (err < 0) {
    log_error("cannot spool a request body in %s: %s", a->tmp_dir, strerror(-err));
    return 500;
  }
  return 0;
}

int app_complete(const struct app *a, struct exchange *x) {
  if (app_streams_body(a))
    return a->desc->on_body_end ? outcome(x, a->desc->on_body_end((unixcorn_request *)x))
                                : 0;
  int err = spool_finish(&x->body);
  if (err < 0) {
    log_error("cannot spool a request body in %s: %s", a->tmp_dir, strerror(-err));
    return 500;
  }
  if (app_blocking(a))
    return app_pool_start(a->pool, x) < 0 ? 503 : 0;
  return outcome(x, a->desc->on_request((unixcorn_request *)x));
}

void app_writable(const struct app *a, struct exchange *x) {
  x->app_waiting = false;
  if (x->on_thread)
    app_pool_writable(a->pool, x);
  else if (a->desc->on_writable != NULL)
    a->desc->on_writable((unixcorn_request *)x);
}

void app_done(const struct app *a, struct exchange *x) {
  if (x->app_active) {
    x->app_active = false;
    if (a->desc->on_done != NULL)
      a->desc->on_done((unixcorn_request *)x);
  }
  spool_reset(&x->body);
}

#include "app.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#include "app_pool.h"
#include "exchange.h"
#include "log.h"
#include "watchdog.h"

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
  if (!x->rule_logged) {
    x->rule_logged = true;
    const char *method = request_str(&x->req, x->req.method);
    const char *target = request_str(&x->req, x->req.target);
    log_error("application: %s (%.*s %.*s)", reason, (int)x->req.method.len,
              method ? method : "",
              (int)(x->req.target.len < 200 ? x->req.target.len : 200),
              target ? target : "");
  }
  if (x->reply.state == RESPONSE_ENDED)
    return; /* the response is complete, and stands */
  x->app_failed = true;
  atomic_store(&x->calls_closed, true);
  x->fail_status = status;
  x->fail_reason = reason;
}

int app_outcome(struct exchange *x, int rc) {
  if (x->thread_misuse)
    app_fail(x, 500, "called from a thread that does not own the request");
  if (rc == 0 || x->app_failed || x->reply.state == RESPONSE_ENDED)
    return x->app_failed ? x->fail_status : 0;
  if (rc >= 400 && rc <= 599) { /* a refusal, not a broken rule: no log line */
    x->app_failed = true;
    x->fail_status = rc;
    x->fail_reason = "Refused by the application";
    return rc;
  }
  app_fail(x, 500, "a callback returned neither 0 nor an HTTP error status");
  return 500;
}

/* The application's callbacks, with the request named in a crash's last words
 * while its code runs (watchdog.c). */
enum callback { CB_REQUEST, CB_BODY, CB_BODY_END, CB_WRITABLE, CB_DONE };

static int callback(const struct app *a, struct exchange *x, enum callback which,
                    const char *data, size_t len) {
  unixcorn_request *r = (unixcorn_request *)x;
  const struct unixcorn_app *d = a->desc;
  int rc = 0;
  watchdog_enter_app(x);
  switch (which) {
  case CB_REQUEST: rc = d->on_request(r); break;
  case CB_BODY: rc = d->on_body ? d->on_body(r, data, len) : 0; break;
  case CB_BODY_END: rc = d->on_body_end ? d->on_body_end(r) : 0; break;
  case CB_WRITABLE:
    if (d->on_writable)
      d->on_writable(r);
    break;
  case CB_DONE:
    if (d->on_done)
      d->on_done(r);
    break;
  }
  watchdog_enter_app(NULL);
  return rc;
}

int app_head(const struct app *a, struct exchange *x) {
  x->app_active = true;
  return app_streams_body(a) ? app_outcome(x, callback(a, x, CB_REQUEST, NULL, 0)) : 0;
}

int app_body(const struct app *a, struct exchange *x, const char *data, size_t len) {
  if (app_streams_body(a)) {
    x->in_on_body = true;
    int rc = callback(a, x, CB_BODY, data, len);
    x->in_on_body = false;
    return app_outcome(x, rc);
  }
  int err = spool_append(&x->body, a->tmp_dir, data, len);
  if (err < 0) {
    log_error("cannot spool a request body in %s: %s", a->tmp_dir, strerror(-err));
    return 500;
  }
  return 0;
}

int app_complete(const struct app *a, struct exchange *x) {
  if (app_streams_body(a))
    return app_outcome(x, callback(a, x, CB_BODY_END, NULL, 0));
  int err = spool_finish(&x->body);
  if (err < 0) {
    log_error("cannot spool a request body in %s: %s", a->tmp_dir, strerror(-err));
    return 500;
  }
  if (app_blocking(a))
    return app_pool_start(a->pool, x) < 0 ? 503 : 0;
  return app_outcome(x, callback(a, x, CB_REQUEST, NULL, 0));
}

void app_writable(const struct app *a, struct exchange *x) {
  x->app_waiting = false;
  if (x->on_thread)
    app_pool_writable(a->pool, x);
  else
    callback(a, x, CB_WRITABLE, NULL, 0);
}

void app_done(const struct app *a, struct exchange *x) {
  if (x->app_active) {
    x->app_active = false;
    callback(a, x, CB_DONE, NULL, 0);
  }
  spool_reset(&x->body);
}

void app_detach(const struct app *a, struct exchange *x) {
  x->conn = NULL;
  if (x->reply.state != RESPONSE_ENDED) /* else a call now breaks a rule */
    atomic_store(&x->calls_closed, true);
  app_pool_detached(a->pool, x);
}

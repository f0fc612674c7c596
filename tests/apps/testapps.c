#define _GNU_SOURCE /* usleep, strdup */
/* Applications for the test suite, one shared object with a descriptor per
 * behaviour, served as tests/apps/testapps.so:NAME. Some break the interface's
 * rules on purpose: the server must answer for them. */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unixcorn/app.h>

/* The query's number after "n=", or dflt. */
static long query_number(unixcorn_request *r, const char *key, long dflt) {
  unixcorn_str q = unixcorn_query(r);
  size_t klen = strlen(key);
  for (size_t i = 0; q.ptr != NULL && i + klen < q.len; i++)
    if ((i == 0 || q.ptr[i - 1] == '&') && memcmp(q.ptr + i, key, klen) == 0 &&
        q.ptr[i + klen] == '=')
      return strtol(q.ptr + i + klen + 1, NULL, 10);
  return dflt;
}

static int text(unixcorn_request *r, int status, const char *body) {
  return unixcorn_send(r, status, "text/plain", body, strlen(body));
}

/* ---- blocking: sleeps ?ms=N, then answers with ?bytes=N bytes in writes of
 * ?piece=N bytes (1000 by default; the writes wait while the client is slow),
 * chunked with ?chunked=1, and otherwise with the thread's id. */
static int sleepy(unixcorn_request *r) {
  long ms = query_number(r, "ms", 0), bytes = query_number(r, "bytes", -1);
  long piece = query_number(r, "piece", 1000);
  if (ms > 0)
    usleep((useconds_t)ms * 1000);
  if (bytes < 0) {
    char line[64];
    snprintf(line, sizeof line, "slept %ld ms on %lu\n", ms,
             (unsigned long)pthread_self());
    return text(r, 200, line);
  }
  char *chunk = calloc(1, (size_t)piece);
  unixcorn_respond(r, 200);
  if (!query_number(r, "chunked", 0))
    unixcorn_set_length(r, (uint64_t)bytes);
  int rc = 0;
  for (long sent = 0; sent < bytes && rc == 0; sent += piece)
    rc = unixcorn_write(r, chunk,
                        bytes - sent < piece ? (size_t)(bytes - sent) : (size_t)piece);
  free(chunk);
  return rc == 0 && unixcorn_end(r) == 0 ? 0 : 500;
}

const struct unixcorn_app blocking = {
    .version = UNIXCORN_APP_VERSION,
    .name = "blocking",
    .flags = UNIXCORN_APP_BLOCKING,
    .on_request = sleepy,
};

/* ---- blocking: answers, then holds its thread for ?ms=N before it
 * returns: the answer must not wait for the return. */
static int lingers(unixcorn_request *r) {
  int rc = text(r, 200, "answered\n");
  usleep((useconds_t)query_number(r, "ms", 0) * 1000);
  return rc;
}

const struct unixcorn_app lingering = {
    .version = UNIXCORN_APP_VERSION,
    .name = "lingering",
    .flags = UNIXCORN_APP_BLOCKING,
    .on_request = lingers,
};

/* ---- blocking: a line, sent at once with a zero-length write, every ?ms=N
 * for ?n=N lines. */
static int ticks(unixcorn_request *r) {
  long n = query_number(r, "n", 2), ms = query_number(r, "ms", 0);
  int rc = unixcorn_respond(r, 200);
  for (long i = 0; i < n && rc == 0; i++) {
    if (i > 0)
      usleep((useconds_t)ms * 1000);
    rc = unixcorn_write(r, "tick\n", 5);
    if (rc == 0)
      rc = unixcorn_write(r, NULL, 0);
  }
  return rc == 0 && unixcorn_end(r) == 0 ? 0 : 500;
}

const struct unixcorn_app ticker = {
    .version = UNIXCORN_APP_VERSION,
    .name = "ticker",
    .flags = UNIXCORN_APP_BLOCKING,
    .on_request = ticks,
};

/* ---- request_id: answers with the request's ID, and logs it, from a pool
 * thread (the call is the request owner's, as any other). */
static int answer_request_id(unixcorn_request *r) {
  unixcorn_str id = unixcorn_request_id(r);
  unixcorn_log(UNIXCORN_LOG_INFO, "request_id=%.*s", (int)id.len, id.ptr);
  return unixcorn_send(r, 200, "text/plain", id.ptr, id.len);
}

const struct unixcorn_app request_id = {
    .version = UNIXCORN_APP_VERSION,
    .name = "request_id",
    .flags = UNIXCORN_APP_BLOCKING,
    .on_request = answer_request_id,
};

/* ---- rule breakers; each answers the request /ok well ---- */

static int ok_path(unixcorn_request *r) {
  unixcorn_str p = unixcorn_path(r);
  return p.len == 3 && memcmp(p.ptr, "/ok", 3) == 0;
}

static int bad_status(unixcorn_request *r) {
  return ok_path(r) ? text(r, 200, "ok\n") : unixcorn_respond(r, 99) ? 0 : 0;
}

static int forbidden_header(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_str q = unixcorn_query(r);
  if (q.ptr != NULL && q.len == 4 && memcmp(q.ptr, "crlf", 4) == 0)
    unixcorn_add_header(r, "X-Evil", 6, "a\r\nSet-Cookie: x=1", 18);
  else
    unixcorn_add_header(r, "Content-Length", 14, "5", 1);
  return unixcorn_end(r) == 0 ? 0 : 500;
}

static int twice(unixcorn_request *r) {
  text(r, 200, "first\n");
  if (!ok_path(r))
    text(r, 200, "second\n");
  return 0;
}

static int too_long(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_set_length(r, 3);
  unixcorn_write(r, "abcdef", 6);
  unixcorn_end(r);
  return 0;
}

static int too_short(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_set_length(r, 10);
  unixcorn_write(r, "abc", 3);
  unixcorn_end(r);
  return 0;
}

/* Rules broken once body bytes were written (and, on a pool thread, staged
 * there): the call says so itself, and the log shows what it returned. */
static int header_after_body(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_write(r, "abc", 3);
  int rc = unixcorn_add_header(r, "X-Late", 6, "1", 1);
  unixcorn_log(UNIXCORN_LOG_WARNING, "unixcorn_add_header returned %d", rc);
  unixcorn_end(r);
  return 0;
}

static int too_long_after_body(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_set_length(r, 5);
  unixcorn_write(r, "abc", 3);
  int rc = unixcorn_write(r, "def", 3);
  unixcorn_log(UNIXCORN_LOG_WARNING, "unixcorn_write returned %d", rc);
  unixcorn_end(r);
  return 0;
}

static int never_ends(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  unixcorn_respond(r, 200);
  unixcorn_write(r, "half", 4);
  return 0; /* no unixcorn_end, and nothing to wait for */
}

static void *other_thread(void *arg) {
  unixcorn_respond(arg, 200);
  return NULL;
}

static int wrong_thread(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  pthread_t t;
  pthread_create(&t, NULL, other_thread, r);
  pthread_join(t, NULL);
  return text(r, 200, "too late\n");
}

/* ?sig=N: the signal it dies of (SIGSEGV unless told). */
static int crash(unixcorn_request *r) {
  if (ok_path(r))
    return text(r, 200, "ok\n");
  raise((int)query_number(r, "sig", SIGSEGV));
  return 0;
}

static int returns_404(unixcorn_request *r) {
  return ok_path(r) ? text(r, 200, "ok\n") : 404;
}

#define RULE_BREAKER(symbol, fn, kind)                                                   \
  const struct unixcorn_app symbol = {                                                   \
      .version = UNIXCORN_APP_VERSION, .name = #symbol, .flags = kind, .on_request = fn}

RULE_BREAKER(bad_status_event, bad_status, 0);
RULE_BREAKER(forbidden_header_event, forbidden_header, 0);
RULE_BREAKER(twice_event, twice, 0);
RULE_BREAKER(too_long_event, too_long, 0);
RULE_BREAKER(too_short_event, too_short, 0);
RULE_BREAKER(never_ends_event, never_ends, 0);
RULE_BREAKER(header_after_body_event, header_after_body, 0);
RULE_BREAKER(too_long_after_body_event, too_long_after_body, 0);
RULE_BREAKER(wrong_thread_event, wrong_thread, 0);
RULE_BREAKER(crash_event, crash, 0);
RULE_BREAKER(returns_404_event, returns_404, 0);
RULE_BREAKER(bad_status_blocking, bad_status, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(forbidden_header_blocking, forbidden_header, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(twice_blocking, twice, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(too_long_blocking, too_long, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(too_short_blocking, too_short, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(never_ends_blocking, never_ends, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(header_after_body_blocking, header_after_body, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(too_long_after_body_blocking, too_long_after_body, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(wrong_thread_blocking, wrong_thread, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(crash_blocking, crash, UNIXCORN_APP_BLOCKING);
RULE_BREAKER(returns_404_blocking, returns_404, UNIXCORN_APP_BLOCKING);

/* ---- loading ---- */

static int failing_init(const char *arg, void **data) {
  (void)arg, (void)data;
  return 7;
}

const struct unixcorn_app init_fails = {.version = UNIXCORN_APP_VERSION,
                                        .name = "init_fails",
                                        .init = failing_init,
                                        .on_request = returns_404};

const struct unixcorn_app other_version = {.version = UNIXCORN_APP_VERSION + 1,
                                           .name = "other_version",
                                           .on_request = returns_404};

/* init gets --app-arg; fini runs at an orderly exit: both leave a trace in
 * the file the argument names. */
static int traced_init(const char *arg, void **data) {
  FILE *f = fopen(arg, "a");
  if (f == NULL)
    return 1;
  fprintf(f, "init %ld\n", (long)getpid());
  fclose(f);
  *data = strdup(arg);
  return 0;
}

static void traced_fini(void *data) {
  FILE *f = fopen(data, "a");
  if (f != NULL) {
    fprintf(f, "fini %ld\n", (long)getpid());
    fclose(f);
  }
  free(data);
}

static int traced_request(unixcorn_request *r) {
  return text(r, 200, unixcorn_app_data(r));
}

const struct unixcorn_app traced = {.version = UNIXCORN_APP_VERSION,
                                    .name = "traced",
                                    .init = traced_init,
                                    .fini = traced_fini,
                                    .on_request = traced_request};

/* The default symbol: names the build, so a test can swap the file and see
 * the new code after HUP. The "broken" build cannot start. */
static int build_init(const char *arg, void **data) {
  (void)arg, (void)data;
  return strcmp(TESTAPP_BUILD, "broken") == 0 ? 1 : 0;
}

static int build_name(unixcorn_request *r) {
  return text(r, 200, TESTAPP_BUILD "\n");
}

const struct unixcorn_app unixcorn_app = {.version = UNIXCORN_APP_VERSION,
                                          .name = "testapps",
                                          .init = build_init,
                                          .on_request = build_name};

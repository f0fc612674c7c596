/* The public interface (unixcorn/app.h) on top of an exchange: accessors that
 * read the parsed request, and response calls that check who calls, then run
 * on the event loop (reply.c, respond.c), or for a blocking application, are
 * staged on its thread (app_stage.c). */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "app.h"
#include "app_stage.h"
#include "conn.h"
#include "exchange.h"
#include "grammar.h"
#include "log.h"
#include "respond.h"

static const struct exchange *X(const unixcorn_request *r) {
  return (const struct exchange *)r;
}

static unixcorn_str str(const struct request *req, struct span s, bool present) {
  unixcorn_str out = {present ? req->fields.data + s.off : NULL, s.len};
  return out;
}

/* ---- the request ---- */

unixcorn_str unixcorn_method(const unixcorn_request *r) {
  return str(&X(r)->req, X(r)->req.method, true);
}

unixcorn_str unixcorn_target(const unixcorn_request *r) {
  return str(&X(r)->req, X(r)->req.target, true);
}

unixcorn_str unixcorn_path(const unixcorn_request *r) {
  unixcorn_str t = unixcorn_target(r);
  size_t start = target_path_start(t.ptr, t.len);
  const char *q = memchr(t.ptr + start, '?', t.len - start);
  size_t end = q ? (size_t)(q - t.ptr) : t.len;
  if (end == start) { /* "http://host" or "http://host?q" */
    unixcorn_str root = {"/", 1};
    return root;
  }
  unixcorn_str out = {t.ptr + start, end - start};
  return out;
}

unixcorn_str unixcorn_query(const unixcorn_request *r) {
  unixcorn_str t = unixcorn_target(r), none = {NULL, 0};
  const char *q = memchr(t.ptr, '?', t.len);
  if (q == NULL)
    return none;
  unixcorn_str out = {q + 1, t.len - (size_t)(q + 1 - t.ptr)};
  return out;
}

int unixcorn_http_version(const unixcorn_request *r) {
  return (int)(X(r)->req.version_major * 10 + X(r)->req.version_minor);
}

size_t unixcorn_header_count(const unixcorn_request *r) {
  return X(r)->req.nlist;
}

int unixcorn_header_at(const unixcorn_request *r, size_t i, unixcorn_str *name,
                       unixcorn_str *value) {
  const struct request *req = &X(r)->req;
  if (i >= req->nlist)
    return UNIXCORN_EINVAL;
  *name = str(req, req->list[i].name, true);
  *value = str(req, req->list[i].value, true);
  return 0;
}

int unixcorn_header_next(const unixcorn_request *r, const char *name, size_t *from,
                         unixcorn_str *value) {
  const struct request *req = &X(r)->req;
  size_t len = strlen(name);
  for (size_t i = *from; i < req->nlist; i++) {
    struct span n = req->list[i].name;
    if (n.len == len && strncasecmp(req->fields.data + n.off, name, len) == 0) {
      *value = str(req, req->list[i].value, true);
      *from = i + 1;
      return 1;
    }
  }
  return 0;
}

int64_t unixcorn_content_length(const unixcorn_request *r) {
  const struct request *req = &X(r)->req;
  return req->chunked ? -1 : (int64_t)req->content_length;
}

int unixcorn_body(const unixcorn_request *r, unixcorn_str *mem, int *fd, uint64_t *len) {
  const struct spool *b = &X(r)->body;
  const struct conn_env *env = X(r)->env;
  if (app_streams_body(env->app))
    return UNIXCORN_ESTATE;
  mem->ptr = b->fd < 0 ? (b->mem.len ? b->mem.data : "") : NULL;
  mem->len = b->fd < 0 ? b->mem.len : 0;
  *fd = b->fd;
  *len = b->size;
  return 0;
}

void unixcorn_peer(const unixcorn_request *r, struct unixcorn_peer *out) {
  const struct peer *p = &X(r)->peer;
  char text[PEER_TEXT_MAX];
  memset(out, 0, sizeof *out);
  out->family = p->family;
  if (p->family == AF_INET || p->family == AF_INET6)
    snprintf(out->addr, sizeof out->addr, "%s", peer_text(p, text));
  out->port = p->port;
  out->has_cred = p->has_cred;
  out->pid = p->pid;
  out->uid = p->uid;
  out->gid = p->gid;
}

unixcorn_str unixcorn_client(const unixcorn_request *r) {
  struct exchange *x = (struct exchange *)X(r);
  size_t len;
  const char *addr = exchange_client(x, &len);
  unixcorn_str out = {addr, len};
  return out;
}

unixcorn_str unixcorn_request_id(const unixcorn_request *r) {
  unixcorn_str out = {X(r)->id.text, X(r)->id.len};
  return out;
}

void *unixcorn_app_data(const unixcorn_request *r) {
  return X(r)->env->app->data;
}

void *unixcorn_request_state(const unixcorn_request *r) {
  return ((struct exchange *)X(r))->app_state;
}

/* ---- the response ---- */

static const char *rule_broken(enum app_op op, int result) {
  switch (result) {
  case UNIXCORN_EINVAL:
    return op == APP_RESPOND ? "an invalid status"
           : op == APP_FIELD ? "a header field that is invalid or the server's own"
                             : "an invalid argument";
  case UNIXCORN_ESTATE:
    return op == APP_RESPOND ? "answered twice"
           : op == APP_FIELD
               ? "a header field after the head went out"
               : "a call out of order (no unixcorn_respond, or after the end)";
  case UNIXCORN_ELENGTH: return "a body longer or shorter than it declared";
  case UNIXCORN_ENOMEM: return "out of memory";
  default: return NULL;
  }
}

/* The call itself, on the loop's side of the response. */
static int run(struct exchange *x, struct app_call *call) {
  struct reply *r = &x->reply;
  switch (call->op) {
  case APP_RESPOND: return reply_start(r, call->status);
  case APP_FIELD: return reply_field(r, call->a, call->a_len, call->b, call->b_len);
  case APP_LENGTH: return reply_length(r, call->length);
  case APP_WRITE: return respond_write(x, call->a, call->a_len);
  case APP_FILE: return respond_file(x, call->fd, call->offset, call->length);
  case APP_END: return respond_end(x);
  default: return 0; /* APP_FLUSH: what was staged is all */
  }
}

int app_call_run(struct exchange *x, struct app_call *call) {
  if (atomic_load(&x->thread_misuse))
    app_fail(x, 500, "called from a thread that does not own the request");
  if (x->app_failed)
    return UNIXCORN_ECLOSED;
  if (x->reply.state == RESPONSE_ENDED) { /* its connection may have moved on */
    app_fail(x, 500, rule_broken(call->op, UNIXCORN_ESTATE));
    return UNIXCORN_ESTATE;
  }
  if (x->conn == NULL)
    return UNIXCORN_ECLOSED;
  int rc = x->on_thread ? stage_apply(x) : 0;
  if (rc == 0)
    rc = call->thread_rc != 0 ? call->thread_rc : run(x, call);
  const char *broken = rule_broken(call->op, rc);
  if (broken != NULL)
    app_fail(x, 500, broken);
  return rc;
}

/* Who may call: the loop for an event application, the request's own thread
 * for a blocking one, which stages the call. */
static int call(unixcorn_request *r, struct app_call *c) {
  struct exchange *x = (struct exchange *)r;
  if (x->on_thread)
    return stage_call(x, c);
  if (!app_on_loop_thread()) {
    atomic_store(&x->thread_misuse, 1); /* the loop fails the request: it owns x */
    return UNIXCORN_ETHREAD;
  }
  int rc = app_call_run(x, c);
  if (rc == UNIXCORN_EAGAIN)
    x->app_waiting = true;
  return rc;
}

int unixcorn_respond(unixcorn_request *r, int status) {
  struct app_call c = {.op = APP_RESPOND, .status = status};
  return call(r, &c);
}

int unixcorn_add_header(unixcorn_request *r, const char *name, size_t name_len,
                        const char *value, size_t value_len) {
  struct app_call c = {
      .op = APP_FIELD, .a = name, .a_len = name_len, .b = value, .b_len = value_len};
  return call(r, &c);
}

int unixcorn_set_length(unixcorn_request *r, uint64_t length) {
  struct app_call c = {.op = APP_LENGTH, .length = length};
  return call(r, &c);
}

int unixcorn_write(unixcorn_request *r, const void *data, size_t len) {
  struct app_call c = {.op = APP_WRITE, .a = data, .a_len = len};
  return call(r, &c);
}

int unixcorn_write_file(unixcorn_request *r, int fd, uint64_t offset, uint64_t len) {
  struct app_call c = {.op = APP_FILE, .fd = fd, .offset = offset, .length = len};
  return call(r, &c);
}

int unixcorn_end(unixcorn_request *r) {
  struct app_call c = {.op = APP_END};
  return call(r, &c);
}

int unixcorn_send(unixcorn_request *r, int status, const char *content_type,
                  const void *body, size_t len) {
  int rc = unixcorn_respond(r, status);
  if (rc == 0 && content_type != NULL)
    rc = unixcorn_add_header(r, "Content-Type", 12, content_type, strlen(content_type));
  if (rc == 0)
    rc = unixcorn_set_length(r, len);
  if (rc == 0 && len > 0)
    rc = unixcorn_write(r, body, len);
  return rc == 0 ? unixcorn_end(r) : rc;
}

/* ---- logging ---- */

void unixcorn_log(int level, const char *fmt, ...) {
  static const enum log_level levels[] = {LOG_LEVEL_DEBUG, LOG_LEVEL_INFO,
                                          LOG_LEVEL_WARNING, LOG_LEVEL_ERROR};
  enum log_level l = level >= 0 && level <= 3 ? levels[level] : LOG_LEVEL_ERROR;
  char line[1024];
  va_list ap;
  if (!log_enabled(l))
    return;
  va_start(ap, fmt);
  vsnprintf(line, sizeof line, fmt, ap);
  va_end(ap);
  log_msg(l, "application: %s", line);
}

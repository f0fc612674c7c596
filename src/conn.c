#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

/* A streaming response stops the reading side past this much unsent output. */
#define OUT_HIGH_WATER (64 * 1024)
/* Exchanges kept for reuse: as many as requests are usually under way at once
 * in one worker; beyond it they go back to malloc. */
#define EXCHANGES_SPARE_MAX 64
/* A large body is read this much at a time, a quarter of the system calls of
 * a buffer block; the buffer goes back once the connection is idle. */
#define BIG_BODY_READ (64 * 1024)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int body_cb(void *owner, const char *data, size_t len) {
  struct conn *c = owner;
  return c->env->app->on_body(c, c->x->app_state, data, len);
}

void conn_env_init(struct conn_env *env, const struct config *cfg,
                   const struct handler *app, void *app_ctx) {
  memset(env, 0, sizeof *env);
  env->cfg = cfg;
  env->limits.request_line = cfg->limit_request_line;
  env->limits.fields = cfg->limit_request_fields;
  env->limits.field_size = cfg->limit_request_field_size;
  env->limits.body = cfg->limit_request_body;
  env->app = app;
  env->app_ctx = app_ctx;
}

void conn_env_release(struct conn_env *env) {
  while (env->spare != NULL) {
    struct exchange *x = env->spare;
    env->spare = x->next_spare;
    buf_release(&x->req.fields);
    free(x);
  }
  env->nspare = 0;
}

const char *peer_text(const struct peer *p, char out[PEER_TEXT_MAX]) {
  if (p->family != AF_INET && p->family != AF_INET6)
    return "unix";
  return inet_ntop(p->family, p->ip, out, PEER_TEXT_MAX) ? out : "?";
}

/* An exchange for the request that begins: a spare one if there is one. */
static struct exchange *exchange_take(struct conn *c) {
  struct conn_env *env = c->env;
  struct exchange *x = env->spare;
  if (x != NULL) { /* with the fields buffer it had */
    env->spare = x->next_spare;
    env->nspare--;
  } else if ((x = malloc(sizeof *x + env->app->state_size)) != NULL) {
    x->req.fields = (struct buf){0};
  } else {
    return NULL;
  }
  http1_init(&x->http, &env->limits, &x->req, body_cb, c);
  x->file_fd = -1;
  x->file_off = x->file_left = x->body_sent = 0;
  x->start_ns = log_access_enabled() ? mono_ns() : 0;
  x->status = 0;
  x->app_active = x->response_started = x->response_ended = x->chunked_out = false;
  return x;
}

/* A spare exchange keeps its fields buffer: the next request needs one, and
 * the spares are few (EXCHANGES_SPARE_MAX). */
static void exchange_give_back(struct conn *c) {
  struct exchange *x = c->x;
  struct conn_env *env = c->env;
  c->x = NULL;
  if (env->nspare >= EXCHANGES_SPARE_MAX) {
    buf_release(&x->req.fields);
    free(x);
    return;
  }
  x->next_spare = env->spare;
  env->spare = x;
  env->nspare++;
}

void conn_init(struct conn *c, struct conn_env *env, const struct peer *peer) {
  memset(c, 0, sizeof *c);
  c->env = env;
  c->peer = *peer;
  c->state = CONN_IDLE;
  c->state_since_ms = c->last_io_ms = env->now_ms;
}

static size_t out_pending(const struct conn *c) {
  return c->out.len - c->out_pos + (c->x ? (size_t)c->x->file_left : 0);
}

/* An idle connection holds no buffers: they go back to the pool. */
static void release_if_idle(struct conn *c) {
  if ((c->state != CONN_IDLE && c->state != CONN_DONE) || out_pending(c) != 0)
    return;
  if (c->in_pos == c->in.len)
    buf_release(&c->in), c->in_pos = 0;
  buf_release(&c->out);
  c->out_pos = 0;
  if (c->x != NULL)
    exchange_give_back(c);
}

static void end_app(struct conn *c) {
  struct exchange *x = c->x;
  if (x == NULL)
    return;
  if (x->app_active) {
    x->app_active = false;
    c->env->app->on_done(c, x->app_state);
  }
  x->file_fd = -1;
  x->file_left = 0;
}

void conn_release(struct conn *c) {
  end_app(c);
  buf_release(&c->in);
  buf_release(&c->out);
  if (c->x != NULL)
    exchange_give_back(c);
}

/* The client as the access log names it: for a trusted proxy, the last
 * X-Forwarded-For entry, which that proxy appended itself (the earlier ones
 * are whatever the client claimed). */
static const char *client_address(const struct conn *c, char text[PEER_TEXT_MAX],
                                  size_t *len) {
  const struct request *r = &c->x->req;
  const char *xff = request_str(r, r->forwarded_for);
  size_t end = r->forwarded_for.len, start;
  while (end > 0 && (xff[end - 1] == ' ' || xff[end - 1] == ','))
    end--;
  for (start = end; start > 0 && xff[start - 1] != ',' && xff[start - 1] != ' ';)
    start--;
  if (!c->peer.trusted || start == end) {
    const char *own = peer_text(&c->peer, text);
    *len = strlen(own);
    return own;
  }
  *len = end - start;
  return xff + start;
}

/* A request is answered (or failed): count it, log it. */
static void log_request(struct conn *c) {
  struct conn_stats *st = &c->env->stats;
  struct exchange *x = c->x;
  st->requests++;
  st->responses[status_class(x->status)]++;
  if (!log_access_enabled())
    return;
  const struct request *r = &x->req;
  char text[PEER_TEXT_MAX];
  size_t host_len;
  const char *host = client_address(c, text, &host_len);
  struct access_entry e = {
      .host = host,
      .host_len = host_len,
      .method = request_str(r, r->method),
      .method_len = r->method.len,
      .target = request_str(r, r->target),
      .target_len = r->target.len,
      .version_major = r->version_major ? r->version_major : 1,
      .version_minor = r->version_major ? r->version_minor : 1,
      .status = x->status,
      .body_bytes = x->body_sent,
      .referer = request_str(r, r->referer),
      .referer_len = r->referer.len,
      .user_agent = request_str(r, r->user_agent),
      .user_agent_len = r->user_agent.len,
      .duration_us = (mono_ns() - x->start_ns) / 1000,
      .has_cred = c->peer.has_cred,
      .pid = c->peer.pid,
      .uid = c->peer.uid,
  };
  log_access(&e);
}

static void set_state(struct conn *c, enum conn_state s) {
  c->state = s;
  c->state_since_ms = c->env->now_ms;
}

/* Answers with an error status if nothing was sent yet, then closes. */
static void fail_request(struct conn *c, int status, const char *reason) {
  bool in_request = c->state != CONN_IDLE || status == 408;
  struct exchange *x = c->x;
  c->keep_alive = false;
  c->failed = true;
  if (x == NULL || !x->response_started) {
    c->out.len = c->out_pos; /* drop an unsent 100 Continue */
    if (response_error_format(&c->out, status, reason) < 0)
      c->out.len = c->out_pos;
  }
  if (x != NULL && !x->response_started) {
    x->status = status;
    x->response_started = true;
  }
  if (in_request && x != NULL) {
    if (x->req.version_major == 0) { /* the head was not parsed: log what we have */
      x->req.version_major = 1;
      x->req.version_minor = 1;
    }
    if (log_enabled(LOG_LEVEL_DEBUG)) {
      char text[PEER_TEXT_MAX];
      log_debug("%s: %d %s", peer_text(&c->peer, text), status, reason);
    }
    log_request(c);
  }
  end_app(c);
  set_state(c, out_pending(c) ? CONN_CLOSING : CONN_DONE);
}

/* The first byte of a request: it gets an exchange. */
static bool start_request(struct conn *c) {
  set_state(c, CONN_HEAD);
  if ((c->x = exchange_take(c)) == NULL) {
    c->out.len = c->out_pos;
    fail_request(c, 500, "Out of memory");
    return false;
  }
  return true;
}

static void head_done(struct conn *c) {
  struct exchange *x = c->x;
  const struct request *r = &x->req;
  set_state(c, CONN_BODY);
  c->client_closes = r->client_closes;
  c->keep_alive = r->keep_alive && c->env->cfg->keepalive_ms > 0 && !c->env->stopping;
  if (r->expect_continue && r->version_minor >= 1 &&
      buf_append(&c->out, continue_line, sizeof continue_line - 1) < 0) {
    fail_request(c, 500, "Out of memory");
    return;
  }
  x->app_active = true;
  int status = c->env->app->on_head(c, x->app_state);
  if (status != 0)
    fail_request(c, status, "Rejected by the application");
}

static void message_done(struct conn *c) {
  set_state(c, CONN_RESPONDING);
  int status = c->env->app->on_complete(c, c->x->app_state);
  if (status != 0)
    fail_request(c, status, "The application failed");
  else if (!c->x->response_ended)
    fail_request(c, 500, "The application did not finish its response");
}

static void process(struct conn *c) {
  /* After the head the parser runs once more even with no bytes left: a
   * request without a body completes right there. */
  bool after_head = false;
  while ((c->in_pos < c->in.len || after_head) &&
         (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY)) {
    if (c->state == CONN_IDLE && !start_request(c))
      break;
    size_t used = 0;
    enum http1_event ev =
        http1_execute(&c->x->http, c->in.data + c->in_pos, c->in.len - c->in_pos, &used);
    c->in_pos += used;
    after_head = ev == HTTP1_HEAD_DONE;
    if (ev == HTTP1_HEAD_DONE)
      head_done(c);
    else if (ev == HTTP1_MESSAGE_DONE)
      message_done(c);
    else if (ev == HTTP1_ERROR)
      fail_request(c, c->x->http.error_status, c->x->http.error_reason);
    else
      break; /* what is left waits for more input */
  }
  if (c->in_pos == c->in.len)
    c->in_pos = c->in.len = 0;
  release_if_idle(c);
}

bool conn_wants_input(const struct conn *c) {
  return (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY) &&
         out_pending(c) <= OUT_HIGH_WATER;
}

size_t conn_read_window(struct conn *c, char **p) {
  if (!conn_wants_input(c))
    return 0;
  if (c->in.cap == 0 && buf_reserve(&c->in, BUF_BLOCK_SIZE) < 0)
    return 0;
  if (c->in.cap < BIG_BODY_READ && c->state == CONN_BODY && c->in.len == 0 &&
      c->x->req.content_length - c->x->req.body_received >= BIG_BODY_READ)
    buf_reserve(&c->in, BIG_BODY_READ); /* fewer reads for a large body */
  if (c->in_pos > 0) {                  /* input the parser left for later goes first */
    memmove(c->in.data, c->in.data + c->in_pos, c->in.len - c->in_pos);
    c->in.len -= c->in_pos;
    c->in_pos = 0;
  }
  *p = c->in.data + c->in.len;
  return c->in.cap - c->in.len;
}

void conn_input(struct conn *c, size_t n) {
  c->in.len += n;
  c->env->stats.bytes_in += n;
  c->last_io_ms = c->env->now_ms;
  process(c);
}

void conn_input_eof(struct conn *c) {
  c->peer_eof = true;
  c->keep_alive = false;
  if (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY) {
    end_app(c); /* the client gave up on its request */
    set_state(c, CONN_DONE);
    release_if_idle(c);
  }
}

bool conn_output(const struct conn *c, struct conn_output *o) {
  memset(o, 0, sizeof *o);
  if (c->out_pos < c->out.len) {
    o->mem = c->out.data + c->out_pos;
    o->mem_len = c->out.len - c->out_pos;
    return true;
  }
  const struct exchange *x = c->x;
  if (x == NULL || x->file_left == 0)
    return false;
  o->fd = x->file_fd;
  o->file_off = x->file_off;
  o->file_len = x->file_left > SIZE_MAX ? SIZE_MAX : (size_t)x->file_left;
  return true;
}

/* The response is out: log it and go on with the next request, if any. */
static void finish_exchange(struct conn *c) {
  log_request(c);
  end_app(c);
  if (!c->keep_alive || c->peer_eof || c->env->stopping) {
    set_state(c, CONN_DONE);
    return;
  }
  set_state(c, CONN_IDLE);
  c->served_one = true;
  exchange_give_back(c);
  process(c);
}

void conn_output_done(struct conn *c, size_t n) {
  c->last_io_ms = c->env->now_ms;
  c->env->stats.bytes_out += n;
  if (c->out_pos < c->out.len) {
    c->out_pos += n;
    if (c->out_pos == c->out.len)
      c->out_pos = c->out.len = 0;
  } else {
    c->x->file_off += n;
    c->x->file_left -= n;
  }
  if (out_pending(c) != 0)
    return;
  if (c->state == CONN_RESPONDING && c->x->response_ended)
    finish_exchange(c);
  else if (c->state == CONN_CLOSING)
    set_state(c, CONN_DONE);
  release_if_idle(c);
}

void conn_deadline(const struct conn *c, uint64_t *start, uint64_t *duration) {
  const struct config *cfg = c->env->cfg;
  uint64_t t = 0;
  *start = c->state_since_ms;
  switch (c->state) {
  case CONN_IDLE:
    t = c->served_one ? cfg->keepalive_ms : cfg->header_timeout_ms;
    if (c->env->stopping && (t == 0 || t > cfg->keepalive_ms))
      t = cfg->keepalive_ms ? cfg->keepalive_ms : 1;
    break;
  case CONN_HEAD: t = cfg->header_timeout_ms; break;
  case CONN_BODY:
  case CONN_RESPONDING:
  case CONN_CLOSING:
    *start = c->last_io_ms;
    t = cfg->read_timeout_ms;
    break;
  default: break;
  }
  *duration = t;
}

void conn_expire(struct conn *c) {
  switch (c->state) {
  case CONN_IDLE:
    if (c->served_one || c->env->stopping) {
      set_state(c, CONN_DONE);
      release_if_idle(c);
      return;
    }
    /* a new connection that never sent a head */
    if (start_request(c))
      fail_request(c, 408, "The request head did not arrive in time");
    return;
  case CONN_HEAD: fail_request(c, 408, "The request head did not arrive in time"); return;
  case CONN_BODY: fail_request(c, 408, "The request body stalled"); return;
  default: /* the client stopped reading its response */
    end_app(c);
    c->out.len = c->out_pos = 0;
    set_state(c, CONN_DONE);
    release_if_idle(c);
    return;
  }
}

void conn_stop(struct conn *c) {
  c->keep_alive = false;
}

/* ---- the handler's side ---- */

const struct request *conn_request(const struct conn *c) {
  return &c->x->req;
}

void *conn_app_context(const struct conn *c) {
  return c->env->app_ctx;
}

int conn_respond(struct conn *c, int status, const char *content_type, size_t ct_len,
                 uint64_t length) {
  struct exchange *x = c->x;
  if (x->response_started)
    return -EALREADY;
  bool http10 = x->req.version_minor == 0;
  if (length == RESPONSE_CHUNKED && http10) {
    length = RESPONSE_UNTIL_CLOSE; /* HTTP/1.0 has no chunked coding */
    c->keep_alive = false;
  }
  struct response_head h = {
      .status = status,
      .content_type = content_type,
      .content_type_len = ct_len,
      .content_length = length,
      .close = !c->keep_alive,
      .keep_alive_10 = c->keep_alive && http10,
  };
  int err = response_head_format(&c->out, &h);
  if (err < 0)
    return err;
  x->status = status;
  x->response_started = true;
  x->chunked_out = length == RESPONSE_CHUNKED;
  return 0;
}

int conn_send(struct conn *c, const char *data, size_t len) {
  struct exchange *x = c->x;
  if (x->req.is_head || len == 0)
    return 0;
  int err = 0;
  if (x->chunked_out) {
    char size[24];
    int n = snprintf(size, sizeof size, "%zx\r\n", len);
    err = buf_reserve(&c->out, (size_t)n + len + 2);
    if (err == 0) {
      buf_append(&c->out, size, (size_t)n);
      buf_append(&c->out, data, len);
      buf_append(&c->out, "\r\n", 2);
    }
  } else {
    err = buf_append(&c->out, data, len);
  }
  if (err == 0)
    x->body_sent += len;
  return err;
}

int conn_send_file(struct conn *c, int fd, uint64_t len) {
  struct exchange *x = c->x;
  if (x->req.is_head || len == 0)
    return 0;
  x->file_fd = fd;
  x->file_off = 0;
  x->file_left = len;
  x->body_sent += len;
  return 0;
}

int conn_end(struct conn *c) {
  struct exchange *x = c->x;
  x->response_ended = true;
  if (x->chunked_out && !x->req.is_head)
    return buf_append(&c->out, "0\r\n\r\n", 5);
  return 0;
}

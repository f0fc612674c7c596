#include "conn.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "app.h"
#include "exchange.h"
#include "log.h"
#include "queue_time.h"

#define LOGGED_FIELD_MAX 1024 /* of a Referer or User-Agent in the access log */
/* A large body is read this much at a time, a quarter of the system calls of
 * a buffer block; the buffer goes back once the connection is idle. */
#define BIG_BODY_READ (64 * 1024)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static int body_cb(void *owner, const char *data, size_t len);

void conn_env_init(struct conn_env *env, const struct config *cfg,
                   const struct app *app) {
  memset(env, 0, sizeof *env);
  env->cfg = cfg;
  env->limits.request_line = cfg->limit_request_line;
  env->limits.fields = cfg->limit_request_fields;
  env->limits.field_size = cfg->limit_request_field_size;
  env->limits.body = cfg->limit_request_body;
  env->app = app;
}

void conn_env_release(struct conn_env *env) {
  exchange_free_spares(env);
}

const char *peer_text(const struct peer *p, char out[PEER_TEXT_MAX]) {
  if (p->family != AF_INET && p->family != AF_INET6)
    return "unix";
  return inet_ntop(p->family, p->ip, out, PEER_TEXT_MAX) ? out : "?";
}

void conn_init(struct conn *c, struct conn_env *env, const struct peer *peer) {
  memset(c, 0, sizeof *c);
  c->env = env;
  c->peer = *peer;
  c->state = CONN_IDLE;
  c->state_since_ms = c->last_io_ms = env->now_ms;
}

static size_t out_pending(const struct conn *c) {
  const struct exchange *x = c->x;
  return c->out.len - c->out_pos + (x ? (size_t)(x->file_left + x->after_file.len) : 0);
}

static void give_back(struct conn *c) {
  struct exchange *x = c->x;
  c->x = NULL;
  if (x->on_thread)
    app_detach(c->env->app, x); /* its thread still holds it */
  else
    exchange_give_back(x);
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
    give_back(c);
}

/* The application is done with the request, unless a thread still runs it
 * (it gets on_done when it returns). */
static void end_app(struct conn *c) {
  struct exchange *x = c->x;
  if (x == NULL)
    return;
  if (!x->on_thread)
    app_done(c->env->app, x);
  x->file_fd = -1;
  x->file_left = 0;
  x->after_file.len = 0;
}

void conn_release(struct conn *c) {
  end_app(c);
  buf_release(&c->in);
  buf_release(&c->out);
  if (c->x != NULL)
    give_back(c);
}

/* A request is answered (or failed): count it, log it. */
static void log_request(struct conn *c) {
  struct conn_stats *st = &c->env->stats;
  struct exchange *x = c->x;
  st->requests++;
  st->responses[status_class(x->reply.status)]++;
  queue_time_at_end(c->env, x);
  if (!log_access_enabled())
    return;
  const struct request *r = &x->req;
  size_t host_len;
  const char *host = exchange_client(x, &host_len);
  struct access_entry e = {
      .host = host,
      .host_len = host_len,
      .method = request_str(r, r->method),
      .method_len = r->method.len,
      .target = request_str(r, r->target),
      .target_len = r->target.len,
      .version_major = r->version_major ? r->version_major : 1,
      .version_minor = r->version_major ? r->version_minor : 1,
      .status = x->reply.status,
      .body_bytes = x->body_sent,
      .referer = request_str(r, r->referer),
      .referer_len =
          r->referer.len < LOGGED_FIELD_MAX ? r->referer.len : LOGGED_FIELD_MAX,
      .user_agent = request_str(r, r->user_agent),
      .user_agent_len =
          r->user_agent.len < LOGGED_FIELD_MAX ? r->user_agent.len : LOGGED_FIELD_MAX,
      .duration_us = (exchange_clock_ns() - x->start_ns) / 1000,
      .has_cred = c->peer.has_cred,
      .pid = c->peer.pid,
      .uid = c->peer.uid,
      .request_id = x->id.text,
      .request_id_len = x->id.len,
      .req = r,
      .resp_fields = x->reply.fields.data,
      .resp_fields_len = x->reply.fields.len,
      .queue_us = x->queue_us,
  };
  log_access(&e);
}

static void set_state(struct conn *c, enum conn_state s) {
  c->state = s;
  c->state_since_ms = c->env->now_ms;
}

/* Answers with an error status if nothing was sent yet, then closes. fields:
 * more header fields for the error response ("Name: value\r\n"), or NULL. */
static void fail_request_with(struct conn *c, int status, const char *reason,
                              const char *fields) {
  bool in_request = c->state != CONN_IDLE || status == 408;
  struct exchange *x = c->x;
  bool head_out = x != NULL && x->reply.state >= RESPONSE_HEAD;
  c->keep_alive = false;
  c->failed = true;
  if (x != NULL && !head_out) { /* what the application had set never goes out */
    x->reply.fields.len = 0;
    x->reply.status = status;
    x->reply.state = RESPONSE_ENDED;
    if (x->id.len == 0)
      request_id_assign(&x->id, &x->req, x->peer.trusted);
  }
  if (!head_out) {
    c->out.len = c->out_pos; /* drop an unsent 100 Continue */
    if (response_error_format(&c->out, status, reason, fields, x ? x->id.text : NULL,
                              x ? x->id.len : 0) < 0)
      c->out.len = c->out_pos;
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

static void fail_request(struct conn *c, int status, const char *reason) {
  fail_request_with(c, status, reason, NULL);
}

/* The first byte of a request: it gets an exchange. */
static bool start_request(struct conn *c) {
  set_state(c, CONN_HEAD);
  if ((c->x = exchange_take(c->env, c, body_cb)) == NULL) {
    c->out.len = c->out_pos;
    fail_request(c, 500, "Out of memory");
    return false;
  }
  return true;
}

/* After the application had its say: a rule it broke, or an error status it
 * returned, fails the request. Returns false then. */
static bool app_answered(struct conn *c, int status) {
  struct exchange *x = c->x;
  if (x->app_failed)
    fail_request(c, x->fail_status, x->fail_reason);
  else if (status != 0)
    fail_request(c, status, "Refused by the application");
  return c->x == x && !x->app_failed && status == 0;
}

static int body_cb(void *owner, const char *data, size_t len) {
  struct conn *c = owner;
  int status = app_body(c->env->app, c->x, data, len);
  return c->x->app_failed ? c->x->fail_status : status;
}

static void head_done(struct conn *c) {
  struct exchange *x = c->x;
  const struct request *r = &x->req;
  set_state(c, CONN_BODY);
  request_id_assign(&x->id, r, x->peer.trusted);
  c->client_closes = r->client_closes;
  c->keep_alive = r->keep_alive && c->env->cfg->keepalive_ms > 0 && !c->env->stopping;
  if (queue_time_at_head(c->env, x)) { /* the client has likely given up on it */
    fail_request_with(c, 503, "The request waited longer than --max-queue-time",
                      "Retry-After: 1\r\n");
    return;
  }
  if (r->expect_continue && r->version_minor >= 1 &&
      buf_append(&c->out, continue_line, sizeof continue_line - 1) < 0) {
    fail_request(c, 500, "Out of memory");
    return;
  }
  app_answered(c, app_head(c->env->app, x));
}

/* With the request complete, the response must end at some point: now, after
 * the output drains (the application waits for on_writable), or when a
 * blocking application's thread returns. */
static void check_response(struct conn *c) {
  struct exchange *x = c->x;
  if (c->state != CONN_RESPONDING || x->on_thread || x->app_waiting)
    return;
  if (x->reply.state != RESPONSE_ENDED) {
    app_fail(x, 500, "the response was left unended, with nothing to wait for");
    fail_request(c, x->fail_status, x->fail_reason);
  }
}

static void message_done(struct conn *c) {
  set_state(c, CONN_RESPONDING);
  if (app_answered(c, app_complete(c->env->app, c->x)))
    check_response(c);
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
         out_pending(c) <= CONN_OUT_HIGH_WATER;
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
  /* A response whose bytes all went out before its request ended (a HEAD
   * answered as its body arrives): no conn_output_done is left to finish it. */
  conn_app_progress(c);
  release_if_idle(c);
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
  give_back(c);
  process(c);
}

/* A file part went out: what the response had queued behind it follows. */
static void file_part_sent(struct conn *c) {
  struct exchange *x = c->x;
  if (x->after_file.len == 0)
    return;
  buf_append(&c->out, x->after_file.data, x->after_file.len);
  x->after_file.len = 0;
}

void conn_app_progress(struct conn *c) {
  struct exchange *x = c->x;
  if (x == NULL || (c->state != CONN_BODY && c->state != CONN_RESPONDING))
    return;
  if (x->app_failed) {
    fail_request(c, x->fail_status, x->fail_reason);
    return;
  }
  if (x->app_waiting && out_pending(c) <= CONN_OUT_HIGH_WATER) {
    app_writable(c->env->app, x);
    if (x->app_failed) {
      fail_request(c, x->fail_status, x->fail_reason);
      return;
    }
  }
  check_response(c);
  if (c->x == x && c->state == CONN_RESPONDING && x->reply.state == RESPONSE_ENDED &&
      out_pending(c) == 0)
    finish_exchange(c);
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
    if (c->x->file_left == 0)
      file_part_sent(c);
  }
  conn_app_progress(c);
  if (c->state == CONN_CLOSING && out_pending(c) == 0)
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

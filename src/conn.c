#include "conn.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "log.h"

/* A streaming response stops the reading side past this much unsent output. */
#define OUT_HIGH_WATER (64 * 1024)

static const char continue_line[] = "HTTP/1.1 100 Continue\r\n\r\n";

static uint64_t mono_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int body_cb(void *owner, const char *data, size_t len) {
  struct conn *c = owner;
  return c->env->app->on_body(c, c->app_state, data, len);
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

void conn_init(struct conn *c, struct conn_env *env, const struct peer *peer,
               void *app_state) {
  memset(c, 0, sizeof *c);
  c->env = env;
  c->peer = *peer;
  c->app_state = app_state;
  c->file_fd = -1;
  c->state = CONN_IDLE;
  c->state_since_ms = c->last_io_ms = env->now_ms;
  http1_init(&c->http, &env->limits, &c->req, body_cb, c);
}

static size_t out_pending(const struct conn *c) {
  return c->out.len - c->out_pos + (size_t)c->file_left;
}

/* An idle connection holds no buffers: they go back to the pool. */
static void release_if_idle(struct conn *c) {
  if ((c->state != CONN_IDLE && c->state != CONN_DONE) || out_pending(c) != 0)
    return;
  if (c->in_pos == c->in.len)
    buf_release(&c->in), c->in_pos = 0;
  buf_release(&c->out);
  c->out_pos = 0;
  buf_release(&c->req.fields);
}

static void end_app(struct conn *c) {
  if (c->app_active) {
    c->app_active = false;
    c->env->app->on_done(c, c->app_state);
  }
  c->file_fd = -1;
  c->file_left = 0;
}

void conn_release(struct conn *c) {
  end_app(c);
  buf_release(&c->in);
  buf_release(&c->out);
  buf_release(&c->req.fields);
}

/* The client as the access log names it: for a trusted proxy, the last
 * X-Forwarded-For entry, which that proxy appended itself (the earlier ones
 * are whatever the client claimed). */
static const char *client_address(const struct conn *c, size_t *len) {
  const struct request *r = &c->req;
  const char *xff = request_str(r, r->forwarded_for);
  if (!c->peer.trusted || xff == NULL) {
    *len = strlen(c->peer.addr);
    return c->peer.addr;
  }
  size_t end = r->forwarded_for.len, start;
  while (end > 0 && (xff[end - 1] == ' ' || xff[end - 1] == ','))
    end--;
  for (start = end; start > 0 && xff[start - 1] != ',' && xff[start - 1] != ' ';)
    start--;
  if (start == end) {
    *len = strlen(c->peer.addr);
    return c->peer.addr;
  }
  *len = end - start;
  return xff + start;
}

/* A request is answered (or failed): count it, log it. */
static void log_request(struct conn *c) {
  struct conn_stats *st = &c->env->stats;
  st->requests++;
  st->responses[status_class(c->status)]++;
  if (!log_access_enabled())
    return;
  const struct request *r = &c->req;
  size_t host_len;
  const char *host = client_address(c, &host_len);
  struct access_entry e = {
      .host = host,
      .host_len = host_len,
      .method = request_str(r, r->method),
      .method_len = r->method.len,
      .target = request_str(r, r->target),
      .target_len = r->target.len,
      .version_major = r->version_major ? r->version_major : 1,
      .version_minor = r->version_major ? r->version_minor : 1,
      .status = c->status,
      .body_bytes = c->body_sent,
      .referer = request_str(r, r->referer),
      .referer_len = r->referer.len,
      .user_agent = request_str(r, r->user_agent),
      .user_agent_len = r->user_agent.len,
      .duration_us = (mono_ns() - c->start_ns) / 1000,
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
  c->keep_alive = false;
  c->failed = true;
  if (!c->response_started) {
    c->out.len = c->out_pos; /* drop an unsent 100 Continue */
    c->status = status;
    if (response_error_format(&c->out, status, reason) < 0)
      c->out.len = c->out_pos;
    c->response_started = true;
  }
  if (in_request) {
    if (c->req.version_major == 0) { /* the head was not parsed: log what we have */
      c->req.version_major = 1;
      c->req.version_minor = 1;
    }
    log_debug("%s: %d %s", c->peer.addr, status, reason);
    log_request(c);
  }
  end_app(c);
  set_state(c, out_pending(c) ? CONN_CLOSING : CONN_DONE);
}

static void start_request(struct conn *c) {
  set_state(c, CONN_HEAD);
  c->start_ns = log_access_enabled() ? mono_ns() : 0;
  c->status = 0;
  c->body_sent = 0;
  c->response_started = c->response_ended = c->chunked_out = false;
  /* Nothing of the last request: one that fails before llhttp begins its
   * message (a bare LF) is logged with spans into fields that may be freed. */
  c->req = (struct request){.fields = c->req.fields};
}

static void head_done(struct conn *c) {
  const struct request *r = &c->req;
  set_state(c, CONN_BODY);
  c->keep_alive = r->keep_alive && c->env->cfg->keepalive_ms > 0 && !c->env->stopping;
  if (r->expect_continue && r->version_minor >= 1 &&
      buf_append(&c->out, continue_line, sizeof continue_line - 1) < 0) {
    fail_request(c, 500, "Out of memory");
    return;
  }
  c->app_active = true;
  int status = c->env->app->on_head(c, c->app_state);
  if (status != 0)
    fail_request(c, status, "Rejected by the application");
}

static void message_done(struct conn *c) {
  set_state(c, CONN_RESPONDING);
  int status = c->env->app->on_complete(c, c->app_state);
  if (status != 0)
    fail_request(c, status, "The application failed");
  else if (!c->response_ended)
    fail_request(c, 500, "The application did not finish its response");
}

static void process(struct conn *c) {
  /* After the head the parser runs once more even with no bytes left: a
   * request without a body completes right there. */
  bool after_head = false;
  while ((c->in_pos < c->in.len || after_head) &&
         (c->state == CONN_IDLE || c->state == CONN_HEAD || c->state == CONN_BODY)) {
    if (c->state == CONN_IDLE)
      start_request(c);
    size_t used = 0;
    enum http1_event ev =
        http1_execute(&c->http, c->in.data + c->in_pos, c->in.len - c->in_pos, &used);
    c->in_pos += used;
    after_head = ev == HTTP1_HEAD_DONE;
    if (ev == HTTP1_HEAD_DONE)
      head_done(c);
    else if (ev == HTTP1_MESSAGE_DONE)
      message_done(c);
    else if (ev == HTTP1_ERROR)
      fail_request(c, c->http.error_status, c->http.error_reason);
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
  if (c->in_pos > 0) { /* input the parser left for later goes first */
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
  if (c->file_left == 0)
    return false;
  o->fd = c->file_fd;
  o->file_off = c->file_off;
  o->file_len = c->file_left > SIZE_MAX ? SIZE_MAX : (size_t)c->file_left;
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
  http1_next(&c->http);
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
    c->file_off += n;
    c->file_left -= n;
  }
  if (out_pending(c) != 0)
    return;
  if (c->state == CONN_RESPONDING && c->response_ended)
    finish_exchange(c);
  else if (c->state == CONN_CLOSING)
    set_state(c, CONN_DONE);
  release_if_idle(c);
}

uint64_t conn_deadline(const struct conn *c) {
  const struct config *cfg = c->env->cfg;
  uint64_t t;
  switch (c->state) {
  case CONN_IDLE:
    t = c->served_one ? cfg->keepalive_ms : cfg->header_timeout_ms;
    if (c->env->stopping && (t == 0 || t > cfg->keepalive_ms))
      t = cfg->keepalive_ms ? cfg->keepalive_ms : 1;
    return t ? c->state_since_ms + t : 0;
  case CONN_HEAD:
    return cfg->header_timeout_ms ? c->state_since_ms + cfg->header_timeout_ms : 0;
  case CONN_BODY:
  case CONN_RESPONDING:
  case CONN_CLOSING:
    return cfg->read_timeout_ms ? c->last_io_ms + cfg->read_timeout_ms : 0;
  default: return 0;
  }
}

void conn_expire(struct conn *c) {
  switch (c->state) {
  case CONN_IDLE:
    if (c->served_one || c->env->stopping) {
      set_state(c, CONN_DONE);
      release_if_idle(c);
      return;
    }
    __attribute__((fallthrough)); /* a new connection that never sent a head */
  case CONN_HEAD: fail_request(c, 408, "The request head did not arrive in time"); return;
  case CONN_BODY: fail_request(c, 408, "The request body stalled"); return;
  default: /* the client stopped reading its response */
    end_app(c);
    c->out.len = c->out_pos = 0;
    set_state(c, CONN_DONE);
    return;
  }
}

void conn_stop(struct conn *c) {
  c->keep_alive = false;
}

/* ---- the handler's side ---- */

const struct request *conn_request(const struct conn *c) {
  return &c->req;
}

void *conn_app_context(const struct conn *c) {
  return c->env->app_ctx;
}

int conn_respond(struct conn *c, int status, const char *content_type, size_t ct_len,
                 uint64_t length) {
  if (c->response_started)
    return -EALREADY;
  bool http10 = c->req.version_minor == 0;
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
  c->status = status;
  c->response_started = true;
  c->chunked_out = length == RESPONSE_CHUNKED;
  return 0;
}

int conn_send(struct conn *c, const char *data, size_t len) {
  if (c->req.is_head || len == 0)
    return 0;
  int err = 0;
  if (c->chunked_out) {
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
    c->body_sent += len;
  return err;
}

int conn_send_file(struct conn *c, int fd, uint64_t len) {
  if (c->req.is_head || len == 0)
    return 0;
  c->file_fd = fd;
  c->file_off = 0;
  c->file_left = len;
  c->body_sent += len;
  return 0;
}

int conn_end(struct conn *c) {
  c->response_ended = true;
  if (c->chunked_out && !c->req.is_head)
    return buf_append(&c->out, "0\r\n\r\n", 5);
  return 0;
}

#include "echo.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "spool.h"

#define DEFAULT_CONTENT_TYPE "application/octet-stream"

struct echo_state {
  struct spool body;
  bool streaming;
};

static int respond(struct conn *c, uint64_t length) {
  const struct request *r = conn_request(c);
  const char *ct = request_str(r, r->content_type);
  size_t ct_len = r->content_type.len;
  if (ct == NULL) {
    ct = DEFAULT_CONTENT_TYPE;
    ct_len = sizeof DEFAULT_CONTENT_TYPE - 1;
  }
  return conn_respond(c, 200, ct, ct_len, length) < 0 ? 500 : 0;
}

/* Streaming needs a body and a way to frame it as it comes: HTTP/1.0 has no
 * chunked coding, so its bodies are echoed whole, keeping the connection. */
static int echo_head(struct conn *c, void *state) {
  struct echo_state *s = state;
  const struct echo_options *opt = conn_app_context(c);
  const struct request *r = conn_request(c);
  spool_init(&s->body);
  if (opt->debug_stall_path && r->target.len == strlen(opt->debug_stall_path) &&
      memcmp(request_str(r, r->target), opt->debug_stall_path, r->target.len) == 0)
    for (;;)
      pause();
  s->streaming = opt->stream && !r->is_head && r->version_minor >= 1 &&
                 (r->chunked || r->content_length > 0);
  return s->streaming ? respond(c, RESPONSE_CHUNKED) : 0;
}

static int echo_body(struct conn *c, void *state, const char *data, size_t len) {
  struct echo_state *s = state;
  const struct echo_options *opt = conn_app_context(c);
  if (s->streaming)
    return conn_send(c, data, len) < 0 ? 500 : 0;
  int err = spool_append(&s->body, opt->tmp_dir, data, len);
  if (err < 0) {
    log_error("cannot spool a request body in %s: %s", opt->tmp_dir, strerror(-err));
    return 500;
  }
  return 0;
}

static int echo_complete(struct conn *c, void *state) {
  struct echo_state *s = state;
  int status = 0;
  if (!s->streaming) {
    int err = spool_finish(&s->body);
    if (err < 0) {
      log_error("cannot spool a request body: %s", strerror(-err));
      return 500;
    }
    status = respond(c, s->body.size);
    if (status == 0 && s->body.fd >= 0)
      conn_send_file(c, s->body.fd, s->body.size);
    else if (status == 0 && conn_send(c, s->body.mem.data, s->body.mem.len) < 0)
      status = 500;
  }
  return status ? status : (conn_end(c) < 0 ? 500 : 0);
}

static void echo_done(struct conn *c, void *state) {
  (void)c;
  struct echo_state *s = state;
  spool_reset(&s->body);
}

void echo_options_init(struct echo_options *opt, const struct config *cfg) {
  opt->tmp_dir = cfg->tmp_dir;
  opt->stream = cfg->echo_stream;
  opt->debug_stall_path = getenv("UNIXCORN_DEBUG_STALL_PATH");
}

const struct handler echo_handler = {
    .name = "echo",
    .state_size = sizeof(struct echo_state),
    .on_head = echo_head,
    .on_body = echo_body,
    .on_complete = echo_complete,
    .on_done = echo_done,
};

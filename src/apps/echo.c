/* The built-in application "echo": each request body comes back as the
 * response body, with the request's Content-Type. Written against the public
 * interface alone (unixcorn/app.h), as any application is.
 *
 * By default the body is answered once complete (the server spools it, in
 * memory or a file, which goes back with sendfile): what nginx and most
 * clients need. With --echo-stream it goes back as it arrives. */
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <unixcorn/app.h>

#include "apps.h"

#define DEFAULT_TYPE "application/octet-stream"

/* Tests only ($UNIXCORN_DEBUG_STALL_PATH): a request for this path blocks the
 * worker for good, to exercise the master's --timeout. */
static const char *stall_path;

static int echo_init(const char *arg, void **data) {
  (void)arg, (void)data;
  stall_path = getenv("UNIXCORN_DEBUG_STALL_PATH");
  return 0;
}

static void stall_if_asked(unixcorn_request *r) {
  unixcorn_str t = unixcorn_target(r);
  if (stall_path != NULL && t.len == strlen(stall_path) &&
      memcmp(t.ptr, stall_path, t.len) == 0)
    for (;;)
      pause();
}

/* The request's Content-Type, or the default when it has none (or an empty
 * one: no media type at all). */
static int respond_200(unixcorn_request *r) {
  unixcorn_str type;
  size_t from = 0;
  if (!unixcorn_header_next(r, "Content-Type", &from, &type) || type.len == 0) {
    type.ptr = DEFAULT_TYPE;
    type.len = sizeof DEFAULT_TYPE - 1;
  }
  int rc = unixcorn_respond(r, 200);
  return rc == 0 ? unixcorn_add_header(r, "Content-Type", 12, type.ptr, type.len) : rc;
}

static int echo_whole(unixcorn_request *r) {
  unixcorn_str mem;
  int fd;
  uint64_t len;
  stall_if_asked(r);
  int rc = unixcorn_body(r, &mem, &fd, &len);
  if (rc == 0)
    rc = respond_200(r);
  if (rc == 0)
    rc = unixcorn_set_length(r, len);
  if (rc == 0 && len > 0)
    rc = fd >= 0 ? unixcorn_write_file(r, fd, 0, len) : unixcorn_write(r, mem.ptr, len);
  return rc == 0 && unixcorn_end(r) == 0 ? 0 : 500;
}

const struct unixcorn_app echo_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "echo",
    .init = echo_init,
    .on_request = echo_whole,
};

/* --echo-stream. A chunked response to an HTTP/1.1 request with a body; a body
 * of known length otherwise: HTTP/1.0 has no chunked coding, and the length
 * keeps its connection open. A write in on_body always takes the piece
 * (unixcorn/app.h), so nothing is held back here. */
static int stream_head(unixcorn_request *r) {
  stall_if_asked(r);
  int64_t length = unixcorn_content_length(r);
  unixcorn_str method = unixcorn_method(r);
  bool head = method.len == 4 && memcmp(method.ptr, "HEAD", 4) == 0;
  int rc = respond_200(r);
  if (rc == 0 && length >= 0 && (length == 0 || head || unixcorn_http_version(r) < 11))
    rc = unixcorn_set_length(r, (uint64_t)length);
  return rc == 0 ? 0 : 500;
}

static int stream_body(unixcorn_request *r, const char *data, size_t len) {
  return unixcorn_write(r, data, len) == 0 ? 0 : 500;
}

static int stream_end(unixcorn_request *r) {
  return unixcorn_end(r) == 0 ? 0 : 500;
}

const struct unixcorn_app echo_stream_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "echo (--echo-stream)",
    .flags = UNIXCORN_APP_STREAM_BODY,
    .init = echo_init,
    .on_request = stream_head,
    .on_body = stream_body,
    .on_body_end = stream_end,
};

/* An event application that streams: counts the lines, words and bytes of
 * each request body as it arrives, like wc(1), in constant memory whatever
 * the body's size, and answers once the body is complete.
 *
 *   cc -shared -fPIC wc.c $(pkg-config --cflags unixcorn) -o wc.so
 *   unixcorn ./wc.so
 *   curl --unix-socket /tmp/app.sock --data-binary @big.txt http://localhost/
 *
 * An event application runs on the worker's event loop, so its callbacks
 * must never block. With UNIXCORN_APP_STREAM_BODY it gets the body piece by
 * piece (on_body) instead of whole, and keeps what it needs in the request's
 * own state (request_size bytes, zeroed, freed by the server).
 *
 * It answers in on_body_end, not before: nginx stops sending a request body
 * to its upstream once the response has begun. */
#include <inttypes.h>
#include <stdio.h>

#include <unixcorn/app.h>

struct count {
  uint64_t lines, words, bytes;
  int in_word;
};

static int start(unixcorn_request *r) {
  (void)r; /* the head alone: nothing to answer yet */
  return 0;
}

static int piece(unixcorn_request *r, const char *data, size_t len) {
  struct count *c = unixcorn_request_state(r);
  for (size_t i = 0; i < len; i++) {
    int space = data[i] == ' ' || (data[i] >= '\t' && data[i] <= '\r');
    c->lines += data[i] == '\n';
    c->words += !space && !c->in_word;
    c->in_word = !space;
  }
  c->bytes += len;
  return 0;
}

static int finish(unixcorn_request *r) {
  struct count *c = unixcorn_request_state(r);
  char line[80];
  int n = snprintf(line, sizeof line, "%" PRIu64 " %" PRIu64 " %" PRIu64 "\n", c->lines,
                   c->words, c->bytes);
  return unixcorn_send(r, 200, "text/plain", line, (size_t)n) == 0 ? 0 : 500;
}

const struct unixcorn_app unixcorn_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "wc",
    .flags = UNIXCORN_APP_STREAM_BODY,
    .request_size = sizeof(struct count),
    .on_request = start,
    .on_body = piece,
    .on_body_end = finish,
};

/* The chunked decoder on its own: events, data and errors, whole and cut at
 * every byte. */
#include <stdbool.h>
#include <stdlib.h>

#include "check.h"
#include "chunked.h"

struct decoded {
  char data[256];
  size_t len;
  unsigned sizes, trailers;
  bool done;
  int status;
  const char *reason;
};

/* Feeds text in pieces of `piece` bytes (0: whole), as reads would. */
static void decode(const char *text, size_t len, size_t piece, uint64_t field_size,
                   struct decoded *out) {
  struct chunked ch;
  chunked_init(&ch, field_size);
  memset(out, 0, sizeof *out);
  size_t pos = 0;
  while (pos < len && !out->done && out->status == 0) {
    size_t n = piece && len - pos > piece ? piece : len - pos, at = 0;
    while (at < n && !out->done && out->status == 0) {
      size_t used, plen = 0;
      const char *p = NULL;
      enum chunked_event ev =
          chunked_parse(&ch, text + pos + at, n - at, &used, &p, &plen);
      at += used;
      if (ev == CHUNKED_DATA && out->len + plen <= sizeof out->data) {
        memcpy(out->data + out->len, p, plen);
        out->len += plen;
      }
      out->sizes += ev == CHUNKED_SIZE;
      out->trailers += ev == CHUNKED_TRAILER;
      out->done = ev == CHUNKED_DONE;
      if (ev == CHUNKED_ERROR) {
        out->status = ch.error_status;
        out->reason = ch.error_reason;
      }
      if (ev == CHUNKED_NEED_MORE)
        break;
    }
    pos += n;
  }
}

static const struct {
  const char *body, *data;
  unsigned sizes, trailers;
} valid[] = {
    {"0\r\n\r\n", "", 0, 0},
    {"3\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"3;a\r\nabc\r\n0;b=c\r\n\r\n", "abc", 1, 0},
    {"3 ; a = b ; c\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"3\t;\ta\t=\t\"x y\"\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"3;a=\"\\\"\\\\\"\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"3;a=\"\x80\xff\t\"\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"3;!#$%&'*+-.^_`|~=!#$%&'*+-.^_`|~\r\nabc\r\n0\r\n\r\n", "abc", 1, 0},
    {"0003\r\nabc\r\nA\r\n0123456789\r\n000\r\n\r\n", "abc0123456789", 2, 0},
    {"a\r\n0123456789\r\n0\r\nT: 1\r\nEmpty:\r\nU:\t x \t\r\n\r\n", "0123456789", 1, 3},
};

static void test_valid_bodies(void) {
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++) {
    size_t len = strlen(valid[i].body);
    for (size_t piece = 0; piece <= len; piece++) {
      struct decoded d;
      decode(valid[i].body, len, piece, 0, &d);
      bool ok = d.done && d.status == 0 && d.len == strlen(valid[i].data) &&
                memcmp(d.data, valid[i].data, d.len) == 0 && d.sizes == valid[i].sizes &&
                d.trailers == valid[i].trailers;
      if (!ok) {
        fprintf(stderr, "pieces of %zu: %s -> done %d, %s\n", piece, valid[i].body,
                d.done, d.reason ? d.reason : "");
        check_failures++;
        break;
      }
    }
  }
}

static const struct {
  const char *body;
  int status;
  const char *reason;
} invalid[] = {
    {"x\r\n", 400, "Invalid character in chunk size"},
    {"\r\n", 400, "Invalid character in chunk size"},
    {"3 \r\nabc\r\n0\r\n\r\n", 400, "Invalid chunk extension"},
    {"3;\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a b\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=b c\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=\"b\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=\"\x01\"\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=\"\\\x7f\"\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a=\"b\"c\r\nabc\r\n", 400, "Invalid chunk extension"},
    {"3;a\rb\r\n", 400, "Bare CR in request framing"},
    {"3;a\nabc\r\n", 400, "Bare LF in request framing"},
    {"3\nabc\r\n", 400, "Bare LF in request framing"},
    {"3\r\nabcd\r\n", 400, "Chunk data longer than its size"},
    {"3\r\nabc\rx", 400, "Bare CR in request framing"},
    {"3\r\nabc\n", 400, "Chunk data longer than its size"},
    {"10000000000000000\r\n", 400, "Chunk size too large"},
    {"0\r\n T: v\r\n\r\n", 400, "Obsolete line folding"},
    {"0\r\nT : v\r\n\r\n", 400, "Invalid trailer field"},
    {"0\r\n: v\r\n\r\n", 400, "Invalid trailer field"},
    {"0\r\nT: \x01\r\n\r\n", 400, "Control character in trailer field"},
    {"0\r\nT: v\n\r\n", 400, "Bare LF in request framing"},
    {"0\r\nT: v\r\r\n", 400, "Bare CR in request framing"},
    {"0\r\n\rx", 400, "Bare CR in request framing"},
    {"0\r\nT: 0123456789\r\n\r\n", 431, "Request header field too large"},
};

static void test_invalid_bodies(void) {
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++) {
    size_t len = strlen(invalid[i].body);
    for (size_t piece = 0; piece <= 1; piece++) {
      struct decoded d;
      decode(invalid[i].body, len, piece, 8, &d);
      if (d.status != invalid[i].status || d.reason == NULL ||
          strcmp(d.reason, invalid[i].reason) != 0) {
        fprintf(stderr, "%s -> %d %s, want %d %s\n", invalid[i].body, d.status,
                d.reason ? d.reason : "(none)", invalid[i].status, invalid[i].reason);
        check_failures++;
      }
    }
  }
}

/* A size line of CHUNK_LINE_MAX bytes passes, one more does not; framing is
 * bounded by the data it carries. */
static void test_framing_limits(void) {
  static char text[4 * CHUNK_FRAMING_MAX];
  struct decoded d;
  for (size_t extra = 0; extra <= 1; extra++) {
    size_t n = CHUNK_LINE_MAX + extra;
    memset(text, 'e', n); /* "1;eee...e": one long extension name */
    memcpy(text, "1;", 2);
    memcpy(text + n, "\r\nz\r\n0\r\n\r\n", 10);
    decode(text, n + 10, 0, 0, &d);
    if (extra == 0)
      CHECK(d.done && d.len == 1);
    else
      CHECK(d.status == 400 && strcmp(d.reason, "Chunk extension too long") == 0);
  }
  size_t n = 0;
  while (n + 6 < sizeof text)
    memcpy(text + n, "1\r\nz\r\n", 6), n += 6; /* 5 framing bytes per data byte */
  decode(text, n, 0, 0, &d);
  CHECK(d.status == 400 && strcmp(d.reason, "Too much chunk framing") == 0);
}

int main(void) {
  RUN(test_valid_bodies);
  RUN(test_invalid_bodies);
  RUN(test_framing_limits);
  return CHECK_DONE();
}

/* The inspect application, driven without a socket: the document's exact
 * text for hostile header fields, target forms, bodies of every framing, the
 * peer and the client, HEAD, and a document far larger than the output buffer
 * sent to a client that stops reading. Every document must pass the strict
 * JSON checker; the integration tests (test_inspect.py) decode them back to
 * the bytes sent. */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "exchange.h"
#include "json_check.h"
#include "util.h"

#define SHA256_EMPTY "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
#define SHA256_HELLO "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"
/* FIPS 180-2's third example: a million times "a". */
#define SHA256_MILLION_A                                                                 \
  "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0"

static char dechunked[1 << 16];
static char doc[1 << 20];

static struct config inspect_config(void) {
  struct config cfg = driver_config();
  cfg.app = "inspect";
  return cfg;
}

/* The next response of d: a 200 whose body is a valid JSON document, copied
 * NUL-terminated into doc. Returns doc ("" when it is not such a response). */
static const char *next_doc(struct driver *d, size_t *pos, int head_only) {
  struct parsed r;
  doc[0] = '\0';
  if (next_response(&d->sent, pos, &r, head_only, dechunked, sizeof dechunked) < 0 ||
      r.status != 200 || !head_has(&r, "\r\nContent-Type: application/json\r\n") ||
      r.body_len >= sizeof doc) {
    CHECK(!"a 200 with a JSON document");
    return doc;
  }
  memcpy(doc, r.body, r.body_len);
  doc[r.body_len] = '\0';
  CHECK(json_valid(doc, r.body_len));
  return doc;
}

/* The document for req, sent on a fresh connection in slices of `slice`. */
static const char *inspect(const struct config *cfg, const char *req, size_t slice) {
  struct driver d;
  size_t pos = 0, len = strlen(req);
  driver_init(&d, cfg);
  CHECK(driver_feed(&d, req, len, slice) == len);
  next_doc(&d, &pos, 0);
  CHECK(pos == d.sent.len);
  driver_free(&d);
  return doc;
}

#define CHECK_HAS(text, part)                                                            \
  do {                                                                                   \
    if (strstr(text, part) == NULL) {                                                    \
      fprintf(stderr, "%s:%d: no %s in %s\n", __FILE__, __LINE__, part, text);           \
      check_failures++;                                                                  \
    }                                                                                    \
  } while (0)

/* The whole document, key by key, for a plain request. */
static void test_shape(void) {
  struct config cfg = inspect_config();
  char want[1024];
  snprintf(
      want, sizeof want,
      "{\"method\": \"GET\", \"target\": \"/p/q?a=1&b\", \"path\": \"/p/q\", "
      "\"query\": \"a=1&b\", \"version\": \"HTTP/1.1\", \"headers\": [[\"Host\", "
      "\"x\"], [\"Accept\", \"*/*\"]], \"body\": {\"length\": 0, \"sha256\": \"%s\"}, "
      "\"peer\": {\"family\": \"unix\", \"address\": null, \"port\": null, \"pid\": "
      "1, \"uid\": 0, \"gid\": 0}, \"client\": \"unix\", \"worker_pid\": %ld}\n",
      SHA256_EMPTY, (long)getpid());
  CHECK_STR(inspect(&cfg, "GET /p/q?a=1&b HTTP/1.1\r\nHost: x\r\nAccept: */*\r\n\r\n", 0),
            want);
}

/* Valid UTF-8 as it is; anything else in the latin1 form, byte by byte. */
static void test_hostile_fields(void) {
  struct config cfg = inspect_config();
  const char *d = inspect(&cfg,
                          "GET / HTTP/1.1\r\n"
                          "Host: x\r\n"
                          "X-Quote: a\"b\\c\"\r\n"
                          "X-Tab: a\tb\r\n"
                          "X-Utf8: caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\r\n"
                          "X-Latin1: caf\xe9\r\n"
                          "X-Overlong: \xc0\xaf\r\n"
                          "X-Surrogate: \xed\xa0\x80\r\n"
                          "X-Past-Max: \xf4\x90\x80\x80\r\n"
                          "X-Cut: \xe2\x82\r\n"
                          "X-Lone: \x80\"\\\t\r\n"
                          "X-Empty:\r\n"
                          "X-Dup: 1\r\n"
                          "x-dup:   2  \r\n"
                          "\r\n",
                          0);
  CHECK_HAS(d, "[\"X-Quote\", \"a\\\"b\\\\c\\\"\"]");
  CHECK_HAS(d, "[\"X-Tab\", \"a\\u0009b\"]");
  CHECK_HAS(d, "[\"X-Utf8\", \"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"]");
  CHECK_HAS(d, "[\"X-Latin1\", {\"latin1\": \"caf\\u00e9\"}]");
  CHECK_HAS(d, "[\"X-Overlong\", {\"latin1\": \"\\u00c0\\u00af\"}]");
  CHECK_HAS(d, "[\"X-Surrogate\", {\"latin1\": \"\\u00ed\\u00a0\\u0080\"}]");
  CHECK_HAS(d, "[\"X-Past-Max\", {\"latin1\": \"\\u00f4\\u0090\\u0080\\u0080\"}]");
  CHECK_HAS(d, "[\"X-Cut\", {\"latin1\": \"\\u00e2\\u0082\"}]");
  CHECK_HAS(d, "[\"X-Lone\", {\"latin1\": \"\\u0080\\\"\\\\\"}]");
  CHECK_HAS(d, "[\"X-Empty\", \"\"], [\"X-Dup\", \"1\"], [\"x-dup\", \"2\"]]");
}

static void test_targets_and_versions(void) {
  static const struct {
    const char *req, *part;
  } cases[] = {
      {"OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
       "\"target\": \"*\", \"path\": \"*\", \"query\": null, \"version\": \"HTTP/1.1\""},
      {"GET http://h HTTP/1.1\r\nHost: h\r\n\r\n",
       "\"target\": \"http://h\", \"path\": \"/\", \"query\": null"},
      {"GET http://h:8/a%20b?c=%ff HTTP/1.1\r\nHost: h\r\n\r\n",
       "\"target\": \"http://h:8/a%20b?c=%ff\", \"path\": \"/a%20b\", \"query\": "
       "\"c=%ff\""},
      {"GET /? HTTP/1.0\r\n\r\n",
       "\"path\": \"/\", \"query\": \"\", \"version\": \"HTTP/1.0\", \"headers\": []"},
      {"DELETE /x HTTP/1.1\r\nHost: x\r\n\r\n", "{\"method\": \"DELETE\""},
  };
  struct config cfg = inspect_config();
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
    CHECK_HAS(inspect(&cfg, cases[i].req, 0), cases[i].part);
}

/* The same length and hash however the body is framed and cut. */
static void test_bodies(void) {
  static const char *hello[] = {
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello",
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
      "2;a=b;c=\"d\"\r\nhe\r\n3;ext\r\nllo\r\n0\r\nTrailer: t\r\n\r\n",
  };
  struct config cfg = inspect_config();
  for (size_t i = 0; i < 2; i++)
    for (size_t slice = 0; slice <= 5; slice++)
      CHECK_HAS(inspect(&cfg, hello[i], slice),
                "\"body\": {\"length\": 5, \"sha256\": \"" SHA256_HELLO "\"}");
  CHECK_HAS(inspect(&cfg, "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 0),
            "\"body\": {\"length\": 0, \"sha256\": \"" SHA256_EMPTY "\"}");

  size_t n = 1000000;
  char *req = malloc(n + 128);
  int head = sprintf(req, "PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
  memset(req + head, 'a', n);
  req[head + n] = '\0';
  CHECK_HAS(inspect(&cfg, req, 4096),
            "\"body\": {\"length\": 1000000, \"sha256\": \"" SHA256_MILLION_A "\"}");
  free(req);
}

/* Whatever the peer, and X-Forwarded-For's last element from a trusted one. */
static void test_peer_and_client(void) {
  struct config cfg = inspect_config();
  struct driver d;
  size_t pos = 0;
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n"
                     "X-Forwarded-For: 203.0.113.9, 198.51.100.\xff\r\n\r\n";
  driver_init(&d, &cfg);
  d.conn.peer.trusted = true;
  driver_feed(&d, req, sizeof req - 1, 0);
  CHECK_HAS(next_doc(&d, &pos, 0), "\"client\": {\"latin1\": \"198.51.100.\\u00ff\"}");
  driver_free(&d);

  static const struct {
    int family;
    const char *addr, *part;
  } peers[] = {
      {AF_INET, "127.0.0.1",
       "\"peer\": {\"family\": \"ipv4\", \"address\": \"127.0.0.1\", \"port\": 4242, "
       "\"pid\": null, \"uid\": null, \"gid\": null}, \"client\": \"127.0.0.1\""},
      {AF_INET6, "::1",
       "\"peer\": {\"family\": \"ipv6\", \"address\": \"::1\", \"port\": 4242, "
       "\"pid\": null, \"uid\": null, \"gid\": null}, \"client\": \"::1\""},
  };
  for (size_t i = 0; i < 2; i++) {
    pos = 0;
    driver_init(&d, &cfg);
    d.conn.peer = (struct peer){.family = (uint8_t)peers[i].family, .port = 4242};
    inet_pton(peers[i].family, peers[i].addr, d.conn.peer.ip);
    driver_feed(&d, req, sizeof req - 1, 0);
    CHECK_HAS(next_doc(&d, &pos, 0), peers[i].part);
    driver_free(&d);
  }
}

/* HEAD gets the head alone, with the document's length; the connection goes
 * on to the next request. */
static void test_head_then_get(void) {
  struct config cfg = inspect_config();
  struct driver d;
  size_t pos = 0;
  const char req[] =
      "HEAD /h HTTP/1.1\r\nHost: x\r\n\r\nGET /g HTTP/1.1\r\nHost: x\r\n\r\n";
  driver_init(&d, &cfg);
  CHECK(driver_feed(&d, req, sizeof req - 1, 3) == sizeof req - 1);
  struct parsed r;
  CHECK(next_response(&d.sent, &pos, &r, 1, dechunked, sizeof dechunked) == 0);
  CHECK(r.status == 200 && head_has(&r, "Content-Length: ") &&
        !head_has(&r, "Content-Length: 0\r\n"));
  CHECK_HAS(next_doc(&d, &pos, 0), "{\"method\": \"GET\", \"target\": \"/g\"");
  CHECK(pos == d.sent.len);
  driver_free(&d);
}

/* A document of about 200 KiB (a long value, 6 bytes each) to a client that
 * reads nothing: the server holds one output buffer of it, no more, and the
 * rest follows, whole, once the client reads. */
static void test_document_larger_than_output(void) {
  struct config cfg = inspect_config();
  cfg.limit_request_field_size = 0;
  size_t n = 32 * 1024;
  char *req = malloc(n + 64);
  int head = sprintf(req, "GET / HTTP/1.1\r\nHost: x\r\nX-Long: ");
  memset(req + head, 0xff, n);
  strcpy(req + head + n, "\r\n\r\n");
  struct driver d;
  size_t pos = 0;
  driver_init(&d, &cfg);
  d.stalled = true;
  CHECK(driver_feed(&d, req, strlen(req), 0) == strlen(req));
  CHECK(d.sent.len == 0);
  CHECK(d.conn.out.len - d.conn.out_pos <= 96 * 1024);
  CHECK(d.conn.x != NULL && d.conn.x->app_waiting);
  d.stalled = false;
  driver_drain(&d);
  const char *got = next_doc(&d, &pos, 0);
  CHECK(strlen(got) > 6 * n);
  CHECK_HAS(got, "[\"X-Long\", {\"latin1\": \"\\u00ff\\u00ff");
  CHECK(pos == d.sent.len);
  driver_free(&d);
  free(req);
}

int main(void) {
  RUN(test_shape);
  RUN(test_hostile_fields);
  RUN(test_targets_and_versions);
  RUN(test_bodies);
  RUN(test_peer_and_client);
  RUN(test_head_then_get);
  RUN(test_document_larger_than_output);
  return CHECK_DONE();
}

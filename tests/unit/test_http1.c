/* Framing rules: each bad request gets its status, the connection closes, and
 * nothing pipelined after it is answered; good edge cases still pass. */
#include "check.h"
#include "util.h"

#define NEXT "GET /next HTTP/1.1\r\nHost: x\r\n\r\n"

static const struct {
  const char *name;
  const char *raw;
  int status;
} cases[] = {
    {"garbage request line", "HELLO\r\n\r\n", 400},
    {"bad method", "G@T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"request line too long",
     "GET /aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "aaaaaaaaaaaaaaaaaaaaaaaaaaaa HTTP/1.1\r\nHost: x\r\n\r\n",
     414},
    {"too many fields",
     "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n", 431},
    {"field too large",
     "GET / HTTP/1.1\r\nHost: x\r\nX: 0123456789012345678901234567890123456789"
     "0123456789\r\n\r\n",
     431},
    {"body over limit", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1001\r\n\r\n",
     413},
    {"chunked over limit",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "3e9\r\n",
     413},
    {"HTTP/2.0", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505},
    {"HTTP/3.0", "GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505},
    {"h2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 505},
    {"CL and TE",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
     "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
     400},
    {"TE and CL",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n"
     "Content-Length: 3\r\n\r\n0\r\n\r\n",
     400},
    {"differing CL",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
     400},
    {"CL sign", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", 400},
    {"CL negative", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\na", 400},
    {"CL hex", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x1\r\n\r\na", 400},
    {"CL inner space", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 1\r\n\r\na", 400},
    {"CL overflow",
     "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n",
     400},
    {"TE gzip", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n", 400},
    {"TE chunked, gzip",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", 400},
    {"TE gzip, chunked",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
     501},
    {"bare CR between fields", "GET / HTTP/1.1\r\nHost: x\r\nX: a\rY: b\r\n\r\n", 400},
    {"bare CR ends head",
     "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\rGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"bare CR request line", "GET / HTTP/1.1\rHost: x\r\n\r\n", 400},
    {"bare CR chunk size",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
     "chunked\r\n\r\n3\rabc\r\n0\r\n\r\n",
     400},
    {"bare CR after chunk",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
     "chunked\r\n\r\n3\r\nabc\r0\r\n\r\n",
     400},
    {"LF only", "GET / HTTP/1.1\nHost: x\n\n", 400},
    {"LF only after first line", "GET / HTTP/1.1\r\nHost: x\n\r\n", 400},
    {"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400},
    {"obs-fold tab", "GET / HTTP/1.1\r\nHost: x\r\nX: a\r\n\tb\r\n\r\n", 400},
    {"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400},
    {"CTL in value",
     "GET / HTTP/1.1\r\nHost: x\r\nX: a\x01"
     "b\r\n\r\n",
     400},
    {"DEL in value",
     "GET / HTTP/1.1\r\nHost: x\r\nX: a\x7f"
     "b\r\n\r\n",
     400},
    {"no Host", "GET / HTTP/1.1\r\n\r\n", 400},
    {"two Hosts", "GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", 400},
    {"chunk size overflow",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "fffffffffffffffffff\r\n",
     400},
    {"bad chunk size",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", 400},
    {"chunk data too long",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "2\r\nabc\r\n0\r\n\r\n",
     400},
    {"Expect other",
     "POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na", 417},
    {"CONNECT", "CONNECT x:1 HTTP/1.1\r\nHost: x:1\r\n\r\n", 501},
    {"tab in target", "GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"two spaces before target", "GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"two spaces before version", "GET /  HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"empty field name", "GET / HTTP/1.1\r\nHost: x\r\n: v\r\n\r\n", 400},
};

static void test_bad_requests(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct config cfg;
    config_defaults(&cfg);
    cfg.tmp_dir = "/tmp";
    cfg.limit_request_line = 64;
    cfg.limit_request_fields = 4;
    cfg.limit_request_field_size = 40;
    cfg.limit_request_body = 1000;
    char raw[512];
    snprintf(raw, sizeof raw, "%s%s", cases[i].raw, NEXT);
    for (size_t slice = 0; slice <= 1; slice++) {
      struct driver d;
      driver_init(&d, &cfg);
      driver_feed(&d, raw, strlen(raw), slice);
      size_t pos = 0;
      struct parsed r;
      int ok = next_response(&d.sent, &pos, &r, 0, NULL, 0) == 0 &&
               r.status == cases[i].status && head_has(&r, "Connection: close\r\n") &&
               pos == d.sent.len && conn_done(&d.conn);
      if (!ok) {
        fprintf(stderr, "%s (slice %zu): want %d, sent %zu bytes: %.*s\n", cases[i].name,
                slice, cases[i].status, d.sent.len,
                (int)(d.sent.len < 200 ? d.sent.len : 200), d.sent.data);
        check_failures++;
      }
      driver_free(&d);
    }
  }
}

/* What is unusual but valid must still be served. */
static void test_accepted_edge_cases(void) {
  static const char *good[] = {
      "GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n",
      "GET / HTTP/1.0\r\n\r\n",
      "GET / HTTP/1.1\r\nhOsT: x\r\nX: a\tb\r\n\r\n",
      ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
       "Chunked\r\n\r\n1;a=b\r\nz\r\n0\r\n\r\n"),
      "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9\r\n\r\n",
      "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
  };
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    struct config cfg;
    config_defaults(&cfg);
    cfg.tmp_dir = "/tmp";
    struct driver d;
    driver_init(&d, &cfg);
    driver_feed(&d, good[i], strlen(good[i]), 0);
    size_t pos = 0;
    struct parsed r;
    if (next_response(&d.sent, &pos, &r, 0, NULL, 0) != 0 || r.status != 200) {
      fprintf(stderr, "rejected: %s\n", good[i]);
      check_failures++;
    }
    driver_free(&d);
  }
}

/* Chunks each under the limit still add up to it. */
static void test_chunks_add_up_over_limit(void) {
  struct config cfg;
  config_defaults(&cfg);
  cfg.tmp_dir = "/tmp";
  cfg.limit_request_body = 1000;
  struct driver d;
  driver_init(&d, &cfg);
  char raw[2048];
  int n = snprintf(raw, sizeof raw,
                   "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                   "1f4\r\n%0500d\r\n1f5\r\n",
                   0);
  driver_feed(&d, raw, (size_t)n, 0);
  CHECK(strncmp(d.sent.data, "HTTP/1.1 413 ", 13) == 0 && conn_done(&d.conn));
  driver_free(&d);
}

/* A GET body is a body, never the next request. */
static void test_get_body_is_not_a_request(void) {
  struct config cfg;
  config_defaults(&cfg);
  cfg.tmp_dir = "/tmp";
  struct driver d;
  driver_init(&d, &cfg);
  const char raw[] = "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 29\r\n\r\n" NEXT;
  driver_feed(&d, raw, sizeof raw - 1, 0);
  size_t pos = 0;
  struct parsed r;
  CHECK(next_response(&d.sent, &pos, &r, 0, NULL, 0) == 0);
  CHECK(r.status == 200 && r.body_len == 29 && pos == d.sent.len);
  driver_free(&d);
}

int main(void) {
  RUN(test_bad_requests);
  RUN(test_accepted_edge_cases);
  RUN(test_chunks_add_up_over_limit);
  RUN(test_get_body_is_not_a_request);
  return CHECK_DONE();
}

/* The connection state machine, driven without a socket: echo, keep-alive,
 * pipelining cut at every byte, spooling, streaming, 100-continue, deadlines. */
#include <stdlib.h>

#include <sys/socket.h>

#include "check.h"
#include "util.h"

static char dechunked[1 << 20];

static void test_get_and_post(void) {
  struct config cfg = driver_config();
  struct driver d;
  driver_init(&d, &cfg);
  const char req[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
                     "POST /p HTTP/1.1\r\nHost: x\r\nContent-Type: text/x-y\r\n"
                     "Content-Length: 5\r\n\r\nhello";
  CHECK(driver_feed(&d, req, sizeof req - 1, 0) == sizeof req - 1);
  size_t pos = 0;
  struct parsed r;
  CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
  CHECK(r.status == 200 && r.body_len == 0);
  CHECK(head_has(&r, "Content-Type: application/octet-stream\r\n"));
  CHECK(head_has(&r, "Content-Length: 0\r\n") && head_has(&r, "Date: "));
  CHECK(head_has(&r, "Server: unixcorn/"));
  CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
  CHECK(r.status == 200 && r.body_len == 5 && memcmp(r.body, "hello", 5) == 0);
  CHECK(head_has(&r, "Content-Type: text/x-y\r\n"));
  CHECK(!head_has(&r, "Connection:"));
  CHECK(pos == d.sent.len && d.conn.state == CONN_IDLE);
  driver_free(&d);
}

static void test_http10_and_close(void) {
  static const struct {
    const char *req;
    const char *connection; /* expected Connection header, or NULL */
    enum conn_state after;
  } cases[] = {
      {"GET / HTTP/1.0\r\n\r\n", "Connection: close", CONN_DONE},
      {"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "Connection: keep-alive",
       CONN_IDLE},
      {"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "Connection: close",
       CONN_DONE},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct config cfg = driver_config();
    struct driver d;
    struct parsed r;
    size_t pos = 0;
    driver_init(&d, &cfg);
    driver_feed(&d, cases[i].req, strlen(cases[i].req), 0);
    CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
    CHECK(r.status == 200 && head_has(&r, cases[i].connection));
    CHECK(d.conn.state == cases[i].after);
    driver_free(&d);
  }
}

/* A pipelined stream gives the same responses however it is cut. */
static void test_pipelining_any_split(void) {
  const char req[] = "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc"
                     "PUT /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                     "2\r\nde\r\n1;ext=1\r\nf\r\n0\r\nTrailer: t\r\n\r\n"
                     "HEAD /c HTTP/1.1\r\nHost: x\r\n\r\n"
                     "GET /d HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\ngh";
  static const char *bodies[] = {"abc", "def", "", "gh"};
  for (size_t slice = 0; slice <= 7; slice++) {
    struct config cfg = driver_config();
    struct driver d;
    driver_init(&d, &cfg);
    CHECK(driver_feed(&d, req, sizeof req - 1, slice) == sizeof req - 1);
    size_t pos = 0;
    for (size_t i = 0; i < 4; i++) {
      struct parsed r;
      CHECK(next_response(&d.sent, &pos, &r, i == 2, dechunked, sizeof dechunked) == 0);
      CHECK(r.status == 200 && r.body_len == strlen(bodies[i]));
      CHECK(memcmp(r.body, bodies[i], r.body_len) == 0);
      if (i == 2)
        CHECK(head_has(&r, "Content-Length: 0\r\n"));
    }
    CHECK(pos == d.sent.len);
    driver_free(&d);
  }
}

static void test_spooled_body(void) {
  struct config cfg = driver_config();
  struct driver d;
  size_t n = 300 * 1024;
  char *body = malloc(n);
  for (size_t i = 0; i < n; i++)
    body[i] = (char)(i * 7 + i / 251);
  char head[128];
  int hn = snprintf(head, sizeof head,
                    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n", n);
  driver_init(&d, &cfg);
  driver_feed(&d, head, (size_t)hn, 0);
  driver_feed(&d, body, n / 2, 0);
  CHECK(d.sent.len == 0); /* nothing until the body is complete */
  driver_feed(&d, body + n / 2, n - n / 2, 0);
  size_t pos = 0;
  struct parsed r;
  CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
  CHECK(r.status == 200 && r.body_len == n && memcmp(r.body, body, n) == 0);
  driver_free(&d);
  free(body);
}

static void test_stream_mode(void) {
  struct config cfg = driver_config();
  struct driver d;
  cfg.echo_stream = true;
  driver_init(&d, &cfg);
  const char head[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n";
  driver_feed(&d, head, sizeof head - 1, 0);
  driver_feed(&d, "01234", 5, 0);
  CHECK(memmem(d.sent.data, d.sent.len, "Transfer-Encoding: chunked", 26) != NULL);
  CHECK(memmem(d.sent.data, d.sent.len, "5\r\n01234\r\n", 10) !=
        NULL); /* already echoed */
  driver_feed(&d, "56789", 5, 0);
  size_t pos = 0;
  struct parsed r;
  CHECK(next_response(&d.sent, &pos, &r, 0, dechunked, sizeof dechunked) == 0);
  CHECK(r.body_len == 10 && memcmp(r.body, "0123456789", 10) == 0);
  CHECK(d.conn.state == CONN_IDLE);
  driver_free(&d);
}

/* A client that never reads: the connection stops taking input. */
static void test_stream_backpressure(void) {
  struct config cfg = driver_config();
  struct driver d;
  cfg.echo_stream = true;
  driver_init(&d, &cfg);
  const char head[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10000000\r\n\r\n";
  char chunk[4096];
  memset(chunk, 'z', sizeof chunk);
  char *p;
  size_t room, taken = 0;
  memcpy((conn_read_window(&d.conn, &p), p), head, sizeof head - 1);
  conn_input(&d.conn, sizeof head - 1);
  while ((room = conn_read_window(&d.conn, &p)) > 0 && taken < 10000000) {
    size_t n = room < sizeof chunk ? room : sizeof chunk;
    memcpy(p, chunk, n);
    conn_input(&d.conn, n);
    taken += n;
  }
  CHECK(taken < 200 * 1024);
  CHECK(!conn_wants_input(&d.conn));
  driver_drain(&d); /* the client reads: input resumes */
  CHECK(conn_wants_input(&d.conn));
  driver_free(&d);
}

static void test_expect_continue(void) {
  struct config cfg = driver_config();
  struct driver d;
  cfg.limit_request_body = 100;
  driver_init(&d, &cfg);
  const char ok[] =
      "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n";
  driver_feed(&d, ok, sizeof ok - 1, 0);
  CHECK(d.sent.len == 25 &&
        memcmp(d.sent.data, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0);
  driver_feed(&d, "hi", 2, 0);
  CHECK(memmem(d.sent.data, d.sent.len, "200 OK", 6) != NULL);
  const char big[] =
      "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 101\r\n\r\n";
  size_t before = d.sent.len;
  driver_feed(&d, big, sizeof big - 1, 0);
  CHECK(strncmp(d.sent.data + before, "HTTP/1.1 413 ", 13) == 0);
  CHECK(memmem(d.sent.data + before, d.sent.len - before, "100 Continue", 12) == NULL);
  CHECK(conn_done(&d.conn));
  driver_free(&d);
}

static uint64_t due(const struct conn *c) {
  uint64_t start, duration;
  conn_deadline(c, &start, &duration);
  return duration ? start + duration : 0;
}

static void test_deadlines(void) {
  struct config cfg = driver_config();
  struct driver d;
  driver_init(&d, &cfg);
  d.env.now_ms = 1000;
  conn_release(&d.conn);
  struct peer peer = {.family = AF_UNIX};
  conn_init(&d.conn, &d.env, &peer);
  CHECK(due(&d.conn) == 1000 + cfg.header_timeout_ms);
  d.env.now_ms = 2000;
  driver_feed(&d, "GET / HTTP/1.1\r\nHost: x\r\n\r\n", 27, 0);
  CHECK(due(&d.conn) == 2000 + cfg.keepalive_ms);
  conn_expire(&d.conn); /* idle keep-alive: closed without a word */
  size_t sent = d.sent.len;
  driver_drain(&d);
  CHECK(conn_done(&d.conn) && d.sent.len == sent);
  driver_free(&d);

  driver_init(&d, &cfg);
  driver_feed(&d, "GET / HT", 8, 0);
  CHECK(due(&d.conn) == d.env.now_ms + cfg.header_timeout_ms);
  conn_expire(&d.conn);
  driver_drain(&d);
  CHECK(strncmp(d.sent.data, "HTTP/1.1 408 ", 13) == 0 && conn_done(&d.conn));
  driver_free(&d);
}

static void test_stop_closes_idle_and_finishes_busy(void) {
  struct config cfg = driver_config();
  struct driver d;
  driver_init(&d, &cfg);
  const char req[] = "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab";
  driver_feed(&d, req, sizeof req - 1, 0);
  d.env.stopping = true;
  conn_stop(&d.conn);
  CHECK(!conn_done(&d.conn));
  driver_feed(&d, "cd", 2, 0);
  CHECK(memmem(d.sent.data, d.sent.len, "Connection: close", 17) != NULL);
  CHECK(conn_done(&d.conn));
  driver_free(&d);
}

int main(void) {
  RUN(test_get_and_post);
  RUN(test_http10_and_close);
  RUN(test_pipelining_any_split);
  RUN(test_spooled_body);
  RUN(test_stream_mode);
  RUN(test_stream_backpressure);
  RUN(test_expect_continue);
  RUN(test_deadlines);
  RUN(test_stop_closes_idle_and_finishes_busy);
  return CHECK_DONE();
}

/* Response framing (respond.c) through the public interface, driven without
 * a socket: an event application whose behaviour the request path picks,
 * and the exact bytes that leave the connection for each framing the
 * interface allows (declared length, chunked, HTTP/1.0 until close, HEAD,
 * 204 and 304), file parts between memory parts, writes that wait for
 * on_writable, and the rules it enforces. */
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <unixcorn/app.h>

#include "check.h"
#include "util.h"

static int path_is(unixcorn_request *r, const char *p) {
  unixcorn_str s = unixcorn_path(r);
  return s.len == strlen(p) && memcmp(s.ptr, p, s.len) == 0;
}

/* /big: a response far larger than the output buffer, written from
 * on_writable in 16 KiB pieces. */
#define BIG_PIECE 16384
#define BIG_PIECES 64
struct big {
  int written;
};

static char piece[BIG_PIECE];
static int file_fd = -1; /* "FILE", for /file */
static int last_rc;      /* what the rule breakers' offending call returned */

static void write_big(unixcorn_request *r) {
  struct big *b = unixcorn_request_state(r);
  while (b->written < BIG_PIECES) {
    int rc = unixcorn_write(r, piece, sizeof piece);
    if (rc == UNIXCORN_EAGAIN)
      return;
    if (rc != 0)
      abort();
    b->written++;
  }
  unixcorn_end(r);
}

static int on_request(unixcorn_request *r) {
  if (path_is(r, "/len"))
    return unixcorn_send(r, 200, "text/plain", "hello", 5);
  if (path_is(r, "/chunks")) {
    unixcorn_respond(r, 200);
    unixcorn_add_header(r, "X-A", 3, "1", 1);
    unixcorn_write(r, "ab", 2);
    unixcorn_write(r, "", 0);
    unixcorn_write(r, "cde", 3);
    return unixcorn_end(r);
  }
  if (path_is(r, "/own-id")) {
    unixcorn_respond(r, 200);
    unixcorn_add_header(r, "x-request-id", 12, "from-the-application-1", 22);
    return unixcorn_end(r);
  }
  if (path_is(r, "/204")) {
    unixcorn_respond(r, 204);
    return unixcorn_end(r);
  }
  if (path_is(r, "/304")) {
    unixcorn_respond(r, 304);
    unixcorn_set_length(r, 10); /* the length a GET would have had */
    return unixcorn_end(r);
  }
  if (path_is(r, "/file")) {
    unixcorn_respond(r, 200);
    unixcorn_write(r, "<", 1);
    unixcorn_write_file(r, file_fd, 1, 2); /* "IL" */
    unixcorn_write(r, ">", 1);
    return unixcorn_end(r);
  }
  if (path_is(r, "/big")) {
    unixcorn_respond(r, 200);
    unixcorn_set_length(r, (uint64_t)BIG_PIECE * BIG_PIECES);
    write_big(r);
    return 0;
  }
  if (path_is(r, "/bad-name")) {
    unixcorn_respond(r, 200);
    last_rc = unixcorn_add_header(r, "Bad Name", 8, "x", 1);
    return 0;
  }
  if (path_is(r, "/late-field")) {
    unixcorn_respond(r, 200);
    unixcorn_write(r, "x", 1);
    last_rc = unixcorn_add_header(r, "X-Late", 6, "x", 1);
    return 0;
  }
  if (path_is(r, "/owned")) {
    unixcorn_respond(r, 200);
    last_rc = unixcorn_add_header(r, "transfer-encoding", 17, "chunked", 7);
    return 0;
  }
  return 404;
}

static const struct unixcorn_app app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "respond-test",
    .request_size = sizeof(struct big),
    .on_request = on_request,
    .on_writable = write_big,
};

/* Everything the connection sent for the request bytes req. */
static struct driver *serve(const char *req) {
  static struct driver d;
  struct config cfg = driver_config();
  driver_init_app(&d, &cfg, &app);
  CHECK(driver_feed(&d, req, strlen(req), 0) == strlen(req));
  buf_append(&d.sent, "", 1); /* NUL-terminated, for the string checks */
  d.sent.len--;
  return &d;
}

/* The sent bytes after the Date line, which changes with the clock, and the
 * X-Request-ID line after it, which changes with every request: made by the
 * server here, 32 hex digits. */
static const char *after_date(struct driver *d) {
  const char *p = strstr(d->sent.data, "\r\nDate: ");
  if (p == NULL)
    return d->sent.data;
  p = strstr(p + 2, "\r\n") + 2;
  CHECK(strncmp(p, "X-Request-ID: ", 14) == 0);
  CHECK(strspn(p + 14, "0123456789abcdef") == 32 && strncmp(p + 46, "\r\n", 2) == 0);
  return strncmp(p, "X-Request-ID: ", 14) == 0 ? p + 48 : p;
}

static void test_declared_length(void) {
  struct driver *d = serve("GET /len HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK(strncmp(d->sent.data, "HTTP/1.1 200 OK\r\nServer: unixcorn/", 34) == 0);
  CHECK_STR(after_date(d), "Content-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
  CHECK(conn_wants_input(&d->conn)); /* kept alive */
  driver_free(d);
}

static void test_chunked_without_a_length(void) {
  struct driver *d = serve("GET /chunks HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_STR(
      after_date(d),
      "X-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n");
  driver_free(d);
}

/* An application that names the request itself sends the only ID. */
static void test_an_application_s_own_request_id_replaces_the_server_s(void) {
  struct driver *d = serve("GET /own-id HTTP/1.1\r\nHost: x\r\n\r\n");
  const char *p = strstr(d->sent.data, "\r\nDate: ");
  CHECK(p != NULL);
  CHECK_STR(strstr(p + 2, "\r\n") + 2,
            "x-request-id: from-the-application-1\r\nContent-Length: 0\r\n\r\n");
  CHECK(strcasestr(d->sent.data, "X-Request-ID") == strstr(d->sent.data, "x-request-id"));
  driver_free(d);
}

static void test_http10_until_close(void) {
  struct driver *d = serve("GET /chunks HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
  CHECK_STR(after_date(d), "X-A: 1\r\nConnection: close\r\n\r\nabcde");
  CHECK(d->conn.state == CONN_DONE);
  driver_free(d);
}

static void test_head_gets_the_head_alone(void) {
  struct driver *d = serve("HEAD /len HTTP/1.1\r\nHost: x\r\n\r\n"
                           "HEAD /chunks HTTP/1.1\r\nHost: x\r\n\r\n");
  const char *second = strstr(d->sent.data, "\r\n\r\n") + 4;
  CHECK(strstr(d->sent.data, "Content-Length: 5\r\n\r\nHTTP/1.1 200") != NULL);
  CHECK(strstr(second, "Transfer-Encoding: chunked\r\n\r\n") != NULL);
  CHECK(strcmp(strstr(second, "\r\n\r\n"), "\r\n\r\n") == 0); /* nothing after */
  driver_free(d);
}

static void test_no_body_statuses(void) {
  struct driver *d = serve("GET /204 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /304 HTTP/1.1\r\nHost: x\r\n\r\n"
                           "GET /len HTTP/1.1\r\nHost: x\r\n\r\n");
  const char *s = d->sent.data;
  CHECK(strncmp(s, "HTTP/1.1 204 No Content\r\n", 25) == 0);
  const char *n304 = strstr(s, "HTTP/1.1 304 Not Modified\r\n");
  CHECK(n304 != NULL && memmem(s, (size_t)(n304 - s), "Content-Length", 14) == NULL);
  CHECK(n304 != NULL &&
        strstr(n304, "Content-Length: 10\r\n\r\nHTTP/1.1 200 OK") != NULL);
  CHECK(strstr(s, "\r\n\r\nhello") != NULL);
  driver_free(d);
}

static void test_file_part_between_memory_parts(void) {
  char path[] = "/tmp/uc-respond-XXXXXX";
  file_fd = mkstemp(path);
  unlink(path);
  CHECK(write(file_fd, "FILE", 4) == 4);
  struct driver *d = serve("GET /file HTTP/1.1\r\nHost: x\r\n\r\n");
  CHECK_STR(after_date(d), "Transfer-Encoding: chunked\r\n\r\n"
                           "1\r\n<\r\n2\r\nIL\r\n1\r\n>\r\n0\r\n\r\n");
  driver_free(d);
  close(file_fd);
}

/* A stalled client: the application waits on on_writable with the output
 * near the mark, and everything arrives in order once the client reads. */
static void test_writes_wait_for_a_slow_reader(void) {
  static char want[BIG_PIECE * BIG_PIECES];
  static char got[BIG_PIECE * BIG_PIECES + 64];
  struct config cfg = driver_config();
  struct driver d;
  const char *req = "GET /big HTTP/1.1\r\nHost: x\r\n\r\n";
  for (size_t i = 0; i < sizeof piece; i++)
    piece[i] = (char)('a' + i % 26);
  for (size_t i = 0; i < BIG_PIECES; i++)
    memcpy(want + i * BIG_PIECE, piece, BIG_PIECE);
  driver_init_app(&d, &cfg, &app);
  d.stalled = true;
  CHECK(driver_feed(&d, req, strlen(req), 0) == strlen(req));
  struct conn_output o;
  CHECK(conn_output(&d.conn, &o) && o.mem_len <= CONN_OUT_HIGH_WATER + BIG_PIECE);
  d.stalled = false;
  d.read_slice = 1000;
  driver_drain(&d);
  struct parsed r;
  size_t pos = 0;
  CHECK(next_response(&d.sent, &pos, &r, 0, got, sizeof got) == 0);
  CHECK(r.body_len == sizeof want && memcmp(r.body, want, sizeof want) == 0);
  driver_free(&d);
}

/* Each broken rule: the call's error, then 500 before the head, or the
 * connection closed after it. */
static void test_rules(void) {
  static const struct {
    const char *path;
    int rc;
    const char *sent_tail; /* the end of what the client got */
  } cases[] = {
      {"/bad-name", UNIXCORN_EINVAL,
       "500 Internal Server Error: a header field that is invalid or the server's own\n"},
      {"/owned", UNIXCORN_EINVAL,
       "500 Internal Server Error: a header field that is invalid or the server's own\n"},
      {"/late-field", UNIXCORN_ESTATE, "Transfer-Encoding: chunked\r\n\r\n1\r\nx\r\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char req[128];
    snprintf(req, sizeof req,
             "GET %s HTTP/1.1\r\nHost: x\r\n\r\nGET /len HTTP/1.1\r\n\r\n",
             cases[i].path);
    last_rc = 0;
    struct driver *d = serve(req);
    size_t tail = strlen(cases[i].sent_tail);
    CHECK(last_rc == cases[i].rc);
    CHECK(d->sent.len >= tail &&
          strcmp(d->sent.data + d->sent.len - tail, cases[i].sent_tail) == 0);
    CHECK(strstr(d->sent.data, "hello") == NULL); /* the pipelined request is dropped */
    CHECK(d->conn.state == CONN_DONE);
    driver_free(d);
  }
}

int main(void) {
  RUN(test_declared_length);
  RUN(test_chunked_without_a_length);
  RUN(test_an_application_s_own_request_id_replaces_the_server_s);
  RUN(test_http10_until_close);
  RUN(test_head_gets_the_head_alone);
  RUN(test_no_body_statuses);
  RUN(test_file_part_between_memory_parts);
  RUN(test_writes_wait_for_a_slow_reader);
  RUN(test_rules);
  return CHECK_DONE();
}

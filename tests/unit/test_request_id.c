/* Request IDs through the connection, without a socket: a trusted peer's sane
 * X-Request-ID is kept, anything else gets a fresh one; every response carries
 * it, error responses too; the application sees it (unixcorn_request_id) and
 * may send its own instead. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <unixcorn/app.h>

#include "check.h"
#include "request_id.h"
#include "util.h"

static char scratch[1 << 16];

/* The body is the ID the application sees; /own also sets its own field. */
static int on_request(unixcorn_request *r) {
  unixcorn_str id = unixcorn_request_id(r), path = unixcorn_path(r);
  unixcorn_respond(r, 200);
  if (path.len == 4 && memcmp(path.ptr, "/own", 4) == 0)
    unixcorn_add_header(r, "x-request-id", 12, "the-application's", 17);
  unixcorn_set_length(r, id.len);
  unixcorn_write(r, id.ptr, id.len);
  return unixcorn_end(r);
}

static const struct unixcorn_app app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "request-id-test",
    .on_request = on_request,
};

/* The X-Request-ID fields of one response (any case; at most 2), and its
 * body. */
struct answer {
  int status, nids;
  char ids[2][REQUEST_ID_MAX + 1];
  char body[REQUEST_ID_MAX + 1];
};

static struct answer ask(const char *req, bool trusted) {
  struct config cfg = driver_config();
  struct driver d;
  struct parsed r;
  struct answer a = {0};
  size_t pos = 0;
  driver_init_app(&d, &cfg, &app);
  d.conn.peer.trusted = trusted;
  driver_feed(&d, req, strlen(req), 0);
  CHECK(next_response(&d.sent, &pos, &r, 0, scratch, sizeof scratch) == 0);
  a.status = r.status;
  for (const char *p = r.head, *end = r.head + r.head_len; p < end; p += 2) {
    size_t n = (size_t)((const char *)memmem(p, (size_t)(end - p), "\r\n", 2) - p);
    if (n > 14 && n - 14 <= REQUEST_ID_MAX && a.nids < 2 &&
        strncasecmp(p, "X-Request-ID: ", 14) == 0)
      memcpy(a.ids[a.nids++], p + 14, n - 14);
    p += n;
  }
  if (r.body_len <= REQUEST_ID_MAX)
    memcpy(a.body, r.body, r.body_len);
  driver_free(&d);
  return a;
}

static bool fresh(const char *id) {
  return strlen(id) == REQUEST_ID_FRESH_LEN && strspn(id, "0123456789abcdef") == 32;
}

static struct answer ask_with(const char *id, bool trusted) {
  char req[512];
  snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: %s\r\n\r\n", id);
  return ask(req, trusted);
}

static void test_sane_rule(void) {
  char id[REQUEST_ID_MAX + 2];
  memset(id, 'a', sizeof id);
  CHECK(!request_id_sane(id, 19) && request_id_sane(id, 20));
  CHECK(request_id_sane(id, 200) && !request_id_sane(id, 201));
  CHECK(request_id_sane("AZaz09+/=-AZaz09+/=-", 20));
  static const char bad[] = "_ .:;,\"'\\%?#&@!~*()[]{}<>\t\x7f\x80\xff";
  for (const char *b = bad; *b; b++) {
    id[10] = *b;
    CHECK(!request_id_sane(id, 20));
  }
}

static void test_taken_from_a_trusted_peer(void) {
  struct answer a = ask_with("f9ed4675f1c53513c61a3b3b4e25b4c0", true);
  CHECK(a.status == 200 && a.nids == 1);
  CHECK_STR(a.ids[0], "f9ed4675f1c53513c61a3b3b4e25b4c0");
  CHECK_STR(a.body, a.ids[0]);
  a = ask_with("123e4567-e89b-12d3-a456-426614174000", true); /* a UUID */
  CHECK_STR(a.ids[0], "123e4567-e89b-12d3-a456-426614174000");
  char longest[REQUEST_ID_MAX + 1];
  memset(longest, '=', REQUEST_ID_MAX);
  longest[REQUEST_ID_MAX] = '\0';
  a = ask_with(longest, true);
  CHECK_STR(a.ids[0], longest);
}

static void test_made_otherwise(void) {
  char too_long[REQUEST_ID_MAX + 2];
  memset(too_long, 'a', REQUEST_ID_MAX + 1);
  too_long[REQUEST_ID_MAX + 1] = '\0';
  const char *insane[] = {"short", "0123456789012345678", too_long,
                          "has space in it, 20 chars or more",
                          "semicolon;0123456789012345"};
  for (size_t i = 0; i < sizeof insane / sizeof insane[0]; i++) {
    struct answer a = ask_with(insane[i], true);
    CHECK(a.nids == 1 && fresh(a.ids[0]));
    CHECK_STR(a.body, a.ids[0]);
  }
  /* An untrusted peer's is never taken, however sane. */
  struct answer a = ask_with("f9ed4675f1c53513c61a3b3b4e25b4c0", false);
  CHECK(a.nids == 1 && fresh(a.ids[0]));
  /* No field at all. */
  a = ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
  CHECK(a.nids == 1 && fresh(a.ids[0]));
  /* Only the first field counts. */
  a = ask("GET / HTTP/1.1\r\nHost: x\r\nX-Request-ID: no\r\n"
          "x-request-id: f9ed4675f1c53513c61a3b3b4e25b4c0\r\n\r\n",
          true);
  CHECK(a.nids == 1 && fresh(a.ids[0]));
}

/* Fresh IDs: one random prefix per process, then a counter. */
static void test_fresh_ones_differ(void) {
  struct answer a = ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
  struct answer b = ask("GET / HTTP/1.1\r\nHost: x\r\n\r\n", true);
  CHECK(fresh(a.ids[0]) && fresh(b.ids[0]) && strcmp(a.ids[0], b.ids[0]) != 0);
  CHECK(memcmp(a.ids[0], b.ids[0], 16) == 0);
  CHECK(strtoull(b.ids[0] + 16, NULL, 16) == strtoull(a.ids[0] + 16, NULL, 16) + 1);
}

/* The count carries from digit to digit: 9 to a, f to 0 and one more on the
 * left, through 0x1000. */
static void test_count_carries(void) {
  struct request r = {0};
  struct request_id id;
  request_id_assign(&id, &r, false);
  unsigned long long first = strtoull(id.text + 16, NULL, 16);
  for (unsigned long long i = 1; i <= 0x1000; i++) {
    char prefix[16];
    memcpy(prefix, id.text, sizeof prefix);
    request_id_assign(&id, &r, false);
    if (id.len != REQUEST_ID_FRESH_LEN || memcmp(prefix, id.text, sizeof prefix) != 0 ||
        strtoull(id.text + 16, NULL, 16) != first + i) {
      fprintf(stderr, "id %llu after the first: %s\n", i, id.text);
      check_failures++;
      return;
    }
  }
}

/* The server's own error responses carry it too: taken if the head got that
 * far, made otherwise. */
static void test_error_responses(void) {
  struct answer a =
      ask("GET / HTTP/1.1\r\nX-Request-ID: f9ed4675f1c53513c61a3b3b4e25b4c0\r\n"
          "Host: x\r\nHost: y\r\n\r\n",
          true);
  CHECK(a.status == 400 && a.nids == 1);
  CHECK_STR(a.ids[0], "f9ed4675f1c53513c61a3b3b4e25b4c0");
  a = ask("GET /\x01 HTTP/1.1\r\n\r\n", true);
  CHECK(a.status == 400 && a.nids == 1 && fresh(a.ids[0]));
  a = ask("GET / HTTP/2.0\r\n\r\n", true);
  CHECK(a.status == 505 && a.nids == 1 && fresh(a.ids[0]));
}

/* An application's own X-Request-ID goes out instead of the server's, once. */
static void test_application_sends_its_own(void) {
  struct answer a = ask_with("f9ed4675f1c53513c61a3b3b4e25b4c0", true);
  CHECK(a.nids == 1);
  a = ask("GET /own HTTP/1.1\r\nHost: x\r\n"
          "X-Request-ID: f9ed4675f1c53513c61a3b3b4e25b4c0\r\n\r\n",
          true);
  CHECK(a.status == 200 && a.nids == 1);
  CHECK_STR(a.ids[0], "the-application's");
  CHECK_STR(a.body, "f9ed4675f1c53513c61a3b3b4e25b4c0");
}

int main(void) {
  RUN(test_sane_rule);
  RUN(test_taken_from_a_trusted_peer);
  RUN(test_made_otherwise);
  RUN(test_fresh_ones_differ);
  RUN(test_count_carries);
  RUN(test_error_responses);
  RUN(test_application_sends_its_own);
  return CHECK_DONE();
}

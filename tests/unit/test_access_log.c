/* Access-log lines without a socket: the default line as it always was, each
 * of Gunicorn's atoms, {name}i and {name}o, the JSON form (checked by the fuzz
 * target's strict JSON checker), hostile bytes in both forms, the line's
 * length limit, and the formats refused. */
#include <stdlib.h>
#include <unistd.h>

#include "access_log.h"
#include "check.h"
#include "json_check.h"
#include "request.h"

static char line[ACCESS_LINE_MAX + 1];
static struct request req;
static struct field list[128];

static void fields_reset(void) {
  req.fields.len = 0;
  req.host = (struct span){0, 0};
  req.nlist = 0;
  req.list = list;
}

static struct span add_bytes(const char *s, size_t len) {
  struct span sp = {(uint32_t)req.fields.len, (uint32_t)len};
  buf_append(&req.fields, s, len);
  return sp;
}

static void add_field(const char *name, const char *value, size_t value_len) {
  list[req.nlist].name = add_bytes(name, strlen(name));
  list[req.nlist++].value = add_bytes(value, value_len);
}

/* POST /upload?x=1 from a Unix-socket peer, as curl sends it. */
static struct access_entry sample(void) {
  fields_reset();
  add_field("Host", "example.org", 11);
  req.host = list[0].value;
  add_field("User-Agent", "curl/7.88.1", 11);
  add_field("X-Tag", "one", 3);
  add_field("x-tag", "two", 3);
  add_field("X-Empty", "", 0);
  struct access_entry e = {
      .host = "unix",
      .host_len = 4,
      .method = "POST",
      .method_len = 4,
      .target = "/upload?x=1",
      .target_len = 11,
      .version_major = 1,
      .version_minor = 1,
      .status = 200,
      .body_bytes = 5,
      .user_agent = "curl/7.88.1",
      .user_agent_len = 11,
      .duration_us = 1234567,
      .has_cred = 1,
      .pid = 5150,
      .uid = 1000,
      .request_id = "0123456789abcdef0123456789abcdef",
      .request_id_len = 32,
      .req = &req,
      .resp_fields = "Content-Type: text/plain\r\nX-Out: a\r\nx-out: b\r\n",
      .resp_fields_len = 47,
      .queue_us = -1,
  };
  return e;
}

/* The line for spec, NUL-terminated, with any CLF time ("[...]" of 28
 * characters) replaced by [T] and a JSON time by "T". */
static const char *format(const char *spec, const struct access_entry *e) {
  struct access_format f;
  char err[256];
  if (access_format_compile(&f, spec, err, sizeof err) != 0) {
    fprintf(stderr, "cannot compile %s: %s\n", spec, err);
    abort();
  }
  size_t n = access_format_write(&f, e, line);
  CHECK(n > 0 && n <= ACCESS_LINE_MAX && line[n - 1] == '\n');
  CHECK(memchr(line, '\n', n) == line + n - 1); /* one line, whatever the values */
  line[n] = '\0';
  char *t = strstr(line, " +0000]");
  if (t != NULL && t - line >= 21 && t[-21] == '[') {
    t[-20] = 'T', t[-19] = ']';
    memmove(t - 18, t + 7, strlen(t + 7) + 1);
  }
  if ((t = strstr(line, "{\"time\":\"")) != NULL && strlen(t) > 34 && t[33] == '"')
    memmove(t + 9, "T", 1), memmove(t + 10, t + 33, strlen(t + 33) + 1);
  return line;
}

static void test_default_line_is_unchanged(void) {
  struct access_entry e = sample();
  CHECK_STR(format(NULL, &e), "unix - - [T] \"POST /upload?x=1 HTTP/1.1\" 200 5 \"-\" "
                              "\"curl/7.88.1\" 1.234567 pid=5150 uid=1000\n");
  e.has_cred = 0;
  e.host = "203.0.113.7";
  e.host_len = 11;
  e.method = e.target = NULL;
  e.body_bytes = 0;
  e.status = 408;
  CHECK_STR(format(NULL, &e), "203.0.113.7 - - [T] \"- - HTTP/1.1\" 408 0 \"-\" "
                              "\"curl/7.88.1\" 1.234567\n");
  e.queue_us = 2500; /* from X-Request-Start */
  CHECK_STR(format(NULL, &e), "203.0.113.7 - - [T] \"- - HTTP/1.1\" 408 0 \"-\" "
                              "\"curl/7.88.1\" 1.234567 queue=0.002500\n");
  e.has_cred = 1;
  e.queue_us = 0;
  CHECK_STR(strstr(format(NULL, &e), "1.234567"),
            "1.234567 pid=5150 uid=1000 queue=0.000000\n");
}

static void test_every_atom(void) {
  struct access_entry e = sample();
  char want[128];
  CHECK_STR(format("%(h)s|%(l)s|%(u)s|%(t)s|%(r)s|%(m)s|%(U)s|%(q)s|%(H)s", &e),
            "unix|-|-|[T]|POST /upload?x=1 HTTP/1.1|POST|/upload|x=1|HTTP/1.1\n");
  CHECK_STR(format("%(s)s %(s)d %(b)s %(B)s %(B)d %(f)s %(a)s", &e),
            "200 200 5 5 5 - curl/7.88.1\n");
  CHECK_STR(format("%(T)s %(T)d %(D)s %(M)d %(L)s", &e), "1 1 1234567 1234 1.234567\n");
  snprintf(want, sizeof want, "<%ld> 5150 1000 0123456789abcdef0123456789abcdef 100%%\n",
           (long)getpid());
  CHECK_STR(format("%(p)s %(peer_pid)s %(peer_uid)s %(request_id)s 100%%", &e), want);
  e.body_bytes = 0;
  e.has_cred = 0;
  e.target = "http://h:80";
  e.target_len = 11;
  CHECK_STR(format("%(b)s %(B)s %(peer_pid)s %(peer_uid)s [%(U)s] [%(q)s]", &e),
            "- 0 - - [/] []\n");
  e.target = "*";
  e.target_len = 1;
  CHECK_STR(format("%(U)s", &e), "*\n");
  CHECK_STR(format("%(queue_time)s", &e), "-\n");
  e.queue_us = 12000001;
  CHECK_STR(format("%(queue_time)s", &e), "12.000001\n");
}

static void test_header_atoms(void) {
  struct access_entry e = sample();
  /* Names match in any case; repeated fields are joined; none is "-". */
  CHECK_STR(format("%({host}i)s %({X-TAG}i)s %({x-empty}i)s %({x-none}i)s", &e),
            "example.org one, two - -\n");
  CHECK_STR(format("%({content-type}o)s|%({x-out}o)s|%({x-none}o)s", &e),
            "text/plain|a, b|-\n");
  /* X-Request-ID goes out from the server, unless the application set one. */
  CHECK_STR(format("%({x-request-id}o)s", &e), "0123456789abcdef0123456789abcdef\n");
  e.resp_fields = "X-Request-ID: mine\r\n";
  e.resp_fields_len = 20;
  CHECK_STR(format("%({x-request-id}o)s %(request_id)s", &e),
            "mine 0123456789abcdef0123456789abcdef\n");
  e.resp_fields = NULL;
  e.resp_fields_len = 0;
  e.req = NULL;
  CHECK_STR(format("%({host}i)s %({x-out}o)s", &e), "- -\n");
}

static void test_json(void) {
  struct access_entry e = sample();
  char want[1024];
  snprintf(want, sizeof want,
           "{\"time\":\"T\",\"request_id\":\"0123456789abcdef0123456789abcdef\","
           "\"client\":\"unix\",\"method\":\"POST\",\"target\":\"/upload?x=1\","
           "\"path\":\"/upload\",\"query\":\"x=1\",\"protocol\":\"HTTP/1.1\","
           "\"status\":200,\"bytes\":5,\"duration_us\":1234567,\"queue_time\":null,"
           "\"referer\":null,"
           "\"user_agent\":\"curl/7.88.1\",\"host\":\"example.org\",\"worker_pid\":%ld,"
           "\"peer_pid\":5150,\"peer_uid\":1000}\n",
           (long)getpid());
  CHECK_STR(format("json", &e), want);
  struct access_format f;
  char err[64];
  CHECK(access_format_compile(&f, "json", err, sizeof err) == 0);
  size_t n = access_format_write(&f, &e, line);
  CHECK(json_valid(line, n - 1));
  /* The time: UTC, to the millisecond. */
  CHECK(n > 35 && line[13] == '-' && line[19] == 'T' && line[28] == '.' &&
        line[32] == 'Z');
  e.has_cred = 0;
  e.method = e.target = NULL;
  e.user_agent = NULL;
  e.req = NULL;
  snprintf(want, sizeof want,
           "{\"time\":\"T\",\"request_id\":\"0123456789abcdef0123456789abcdef\","
           "\"client\":\"unix\",\"method\":null,\"target\":null,\"path\":null,"
           "\"query\":null,\"protocol\":\"HTTP/1.1\",\"status\":200,\"bytes\":5,"
           "\"duration_us\":1234567,\"queue_time\":null,\"referer\":null,\"user_agent\":"
           "null,\"host\":null,"
           "\"worker_pid\":%ld,\"peer_pid\":null,\"peer_uid\":null}\n",
           (long)getpid());
  CHECK_STR(format("json", &e), want);
}

/* Quotes, backslashes, control characters, DEL, bytes that are not UTF-8,
 * C1 controls and U+2028 in UTF-8, and a valid "é". */
static const char hostile[] =
    "a\"b\\c\x01\t\x7f\xff\xc3\xa9\xc2\x9b\xe2\x80\xa8\xed\xa0\x80\n";

static void test_hostile_bytes(void) {
  struct access_entry e = sample();
  e.user_agent = hostile;
  e.user_agent_len = sizeof hostile - 1;
  add_field("X-Evil", hostile, sizeof hostile - 1);
  CHECK_STR(
      format("\"%(a)s\" %({x-evil}i)s", &e),
      "\"a\\x22b\\x5cc\\x01\\x09\\x7f\\xff\\xc3\\xa9\\xc2\\x9b\\xe2\\x80\\xa8\\xed\\xa0"
      "\\x80\\x0a\" a\\x22b\\x5cc\\x01\\x09\\x7f\\xff\\xc3\\xa9\\xc2\\x9b\\xe2\\x80"
      "\\xa8\\xed\\xa0\\x80\\x0a\n");
  const char *json = format("json", &e);
  const char *ua = strstr(json, "\"user_agent\":");
  const char want[] = "\"user_agent\":\"a\\\"b\\\\c\\u0001\\u0009\\u007f\\ufffd\xc3\xa9"
                      "\\u009b\\u2028\\ufffd\\ufffd\\ufffd\\u000a\",";
  CHECK(ua != NULL && strncmp(ua, want, sizeof want - 1) == 0);
  CHECK(json_valid(json, strlen(json) - 1));
}

/* Truncated UTF-8 at a value's end, and every byte alone: always valid JSON. */
static void test_json_any_byte(void) {
  struct access_entry e = sample();
  struct access_format f;
  char err[64], value[4];
  CHECK(access_format_compile(&f, "json", err, sizeof err) == 0);
  for (unsigned b = 0; b < 256 * 256; b++) {
    value[0] = (char)(b >> 8), value[1] = (char)b, value[2] = '\xbf';
    e.referer = value;
    e.referer_len = 1 + (b & 1) + ((b >> 1) & 1);
    size_t n = access_format_write(&f, &e, line);
    if (!json_valid(line, n - 1)) {
      CHECK(!"invalid JSON");
      break;
    }
  }
}

/* A value of multibyte characters cut at its share: the cap falls between
 * characters, wherever they start. */
static void test_cap_between_characters(void) {
  static char wide[4000];
  struct access_entry e = sample();
  for (size_t shift = 0; shift < 3; shift++) {
    memset(wide, 'a', shift);
    for (size_t i = shift; i + 3 <= sizeof wide; i += 3)
      memcpy(wide + i, "\xe1\x9a\x9a", 3);
    e.host = e.referer = wide;
    e.host_len = e.referer_len = sizeof wide - 3;
    const char *json = format("json", &e);
    CHECK(json_valid(json, strlen(json) - 1));
  }
}

/* However long the values, a line stays within ACCESS_LINE_MAX, each value
 * within its share, and every later field is still there. */
static void test_long_values(void) {
  static char big[100000];
  memset(big, '\xff', sizeof big);
  struct access_entry e = sample();
  e.user_agent = e.referer = e.target = e.host = big;
  e.user_agent_len = e.referer_len = e.target_len = e.host_len = sizeof big;
  for (int i = 0; i < 100; i++)
    add_field("X-Big", big, 8000);
  const char *json = format("json", &e);
  size_t n = strlen(json);
  CHECK(n <= ACCESS_LINE_MAX && json_valid(json, n - 1));
  CHECK(strstr(json, ",\"peer_uid\":1000}\n") != NULL);
  char spec[ACCESS_FORMAT_MAX];
  size_t len = 0;
  for (int i = 0; i < 60; i++)
    len += (size_t)snprintf(spec + len, sizeof spec - len, "%%({x-big}i)s ");
  snprintf(spec + len, sizeof spec - len, "%%(s)s %%(L)s %%(request_id)s");
  const char *text = format(spec, &e);
  n = strlen(text);
  CHECK(n <= ACCESS_LINE_MAX);
  CHECK(strstr(text, " 200 1.234567 0123456789abcdef0123456789abcdef\n") != NULL);
  text = format(NULL, &e);
  CHECK(strlen(text) <= ACCESS_LINE_MAX && strstr(text, " 1.234567 pid=5150 uid=1000\n"));
}

static void test_refused_formats(void) {
  static const struct {
    const char *spec, *error;
  } cases[] = {
      {"%(x)s", "no atom %(x)s"},
      {"%(hh)s", "no atom %(hh)s"},
      {"%()s", "no atom %()s"},
      {"%(h)d", "%(h)d: not always a number"},
      {"%(b)d", "%(b)d: not always a number"},
      {"%({host}i)d", "not always a number"},
      {"%(h)5s", "at byte 1: a '%' starts %(NAME)s"},
      {"100%", "at byte 4"},
      {"%s", "at byte 1"},
      {"%(h", "at byte 1"},
      {"%({home}e)s", "environment variables"},
      {"%({}i)s", "expected {HEADER}i or {HEADER}o"},
      {"%({a b}i)s", "expected {HEADER}i or {HEADER}o"},
      {"%({host}x)s", "expected {HEADER}i or {HEADER}o"},
      {"a\nb", "a control character (0x0a)"},
      {"a\rb", "a control character (0x0d)"},
  };
  struct access_format f;
  char err[256];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    err[0] = '\0';
    CHECK(access_format_compile(&f, cases[i].spec, err, sizeof err) == -1);
    if (strstr(err, cases[i].error) == NULL) {
      fprintf(stderr, "%s: got '%s'\n", cases[i].spec, err);
      CHECK(!"the expected error");
    }
  }
  char spec[2 * ACCESS_FORMAT_MAX];
  memset(spec, 'a', sizeof spec - 1);
  spec[ACCESS_FORMAT_MAX] = '\0';
  CHECK(access_format_compile(&f, spec, err, sizeof err) == -1 && strstr(err, "longer"));
  spec[0] = '\0';
  for (int i = 0; i <= ACCESS_ATOMS_MAX; i++)
    strcat(spec, "%(s)s");
  CHECK(access_format_compile(&f, spec, err, sizeof err) == -1 && strstr(err, "atoms"));
  /* A tab is fine (tab-separated logs), and so is a lone atom. */
  CHECK(access_format_compile(&f, "%(h)s\t%(s)s", err, sizeof err) == 0);
  CHECK(access_format_compile(&f, "%(s)s", err, sizeof err) == 0);
  CHECK(access_format_compile(&f, "", err, sizeof err) == 0);
}

int main(void) {
  RUN(test_default_line_is_unchanged);
  RUN(test_every_atom);
  RUN(test_header_atoms);
  RUN(test_json);
  RUN(test_hostile_bytes);
  RUN(test_json_any_byte);
  RUN(test_long_values);
  RUN(test_cap_between_characters);
  RUN(test_refused_formats);
  buf_release(&req.fields);
  return CHECK_DONE();
}

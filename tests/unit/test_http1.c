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
    {"obs-fold after an empty value", "GET / HTTP/1.1\r\nHost: x\r\nX:\r\n b\r\n\r\n",
     400},
    {"obs-fold after a blank value", "GET / HTTP/1.1\r\nHost: x\r\nX: \r\n\tb\r\n\r\n",
     400},
    /* request targets: RFC 9112, section 3.2 */
    {"] in an authority", "PUT s://]ufd/: HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"] in an http authority", "GET http://]x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"[ outside an IP literal", "GET http://a[b/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"unclosed IP literal", "GET http://[::1/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"bad IPv6 literal", "GET http://[1:2:3]/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"port not digits", "GET http://x:8a/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"port too large", "GET http://x:65536/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"http without a host", "GET http:///a HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"http with userinfo", "GET http://u@x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"scheme without authority", "GET mailto:a@b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"authority-form for GET", "GET x:80 HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"asterisk for GET", "GET * HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"fragment", "GET /a#b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"relative target", "GET a/b HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"bad pct-encoding in a host", "GET http://a%zz/ HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    /* request line */
    {"lowercase version", "GET / http/1.1\r\nHost: x\r\n\r\n", 400},
    {"version with two digits", "GET / HTTP/1.10\r\nHost: x\r\n\r\n", 400},
    {"HTTP/0.9", "GET /\r\n\r\n", 400},
    {"space after version", "GET / HTTP/1.1 \r\nHost: x\r\n\r\n", 400},
    {"non-token method", "GE(T / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    {"bare LF after an empty line", "\r\n\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", 400},
    /* Host values: RFC 9112, section 3.2 */
    {"Host with userinfo", "GET / HTTP/1.1\r\nHost: u@x\r\n\r\n", 400},
    {"Host with ]", "GET / HTTP/1.1\r\nHost: x]\r\n\r\n", 400},
    {"Host with a path", "GET / HTTP/1.1\r\nHost: x/y\r\n\r\n", 400},
    {"Host with a bad port", "GET / HTTP/1.1\r\nHost: x:y\r\n\r\n", 400},
    /* chunk extensions and trailers: RFC 9112, section 7.1 */
    {"chunk size with trailing space",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1 \r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension without a name",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;=b\r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension with an empty value",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a=\r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension unclosed quote",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a=\"b\r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension CTL in quotes",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a=\"\x01\"\r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension bare CR",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a\rb\r\nz\r\n0\r\n\r\n",
     400},
    {"chunk extension bare LF",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a\nz\r\n0\r\n\r\n",
     400},
    {"trailer with obs-fold",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nT: a\r\n b\r\n\r\n",
     400},
    {"trailer with space before colon",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nT : a\r\n\r\n",
     400},
    {"trailer with a bare LF",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nT: a\n\r\n",
     400},
    {"trailer over the field size",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nT: 01234567890123456789012345678901234567890123456789\r\n\r\n",
     431},
    {"too many trailer fields",
     "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n",
     431},
    {"TE with an empty value", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n\r\n",
     400},
    {"Expect with another element",
     "POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-continue, x\r\n"
     "Content-Length: 1\r\n\r\na",
     417},
};

static void test_bad_requests(void) {
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct config cfg = driver_config();
    cfg.limit_request_line = 64;
    cfg.limit_request_fields = 4;
    cfg.limit_request_field_size = 40;
    cfg.limit_request_body = 1000;
    char raw[1024];
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

/* Valid by RFC 9110 and 9112's grammar, however unusual: each is served, and
 * the request pipelined after it too, whole, a byte at a time, and cut in two
 * at every byte. */
static const char *const good[] = {
    "GET http://x/abs HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
    "GET / HTTP/1.1\r\nhOsT: x\r\nX: a\tb\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nX: caf\xc3\xa9 \x80\xff\r\n\r\n",
    "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n",
    /* empty and blank field values (RFC 9110, section 5.5) */
    "GET / HTTP/1.1\r\nX-Empty-Header: \r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nempty:\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nX-A: \t \r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nReferer:\r\nCookie: \r\nX-Last:\r\n\r\n",
    "GET / HTTP/1.1\r\nHost:\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: x\r\nExpect:\r\n\r\n",
    "GET / HTTP/1.1\r\n!#$%&'*+-.^_`|~09azAZ: v\r\nHost: x\r\n\r\n",
    /* chunk extensions (RFC 9112, section 7.1.1) */
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: "
     "Chunked\r\n\r\n1;a=b\r\nz\r\n0\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5; some; parameters=stuff\r\nhello\r\n0\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5 ;a=b\r\nhello\r\n0\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "5\t; a = b ;\tc\t=\t\"d \\\" e\" ;f\r\nhello\r\n0 ; last\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "1;a=1;b=2\r\nz\r\n1;q=\"\\\\ \\\"\t\x80\"\r\nz\r\n00\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
     "0001\r\nz\r\n0\r\nT: v\r\nEmpty:\r\nU: \t\r\n\r\n"),
    /* OWS is SP or HTAB, after any value (RFC 9110, section 5.6.3) */
    "POST / HTTP/1.1\r\nHost: x\t\r\nContent-Length: 3\t\r\n\r\nabc",
    "POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\t3 \t \r\n\r\nabc",
    "GET / HTTP/1.0\r\nConnection: keep-alive\t\r\n\r\n",
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\t \t\r\n\r\n"
     "1\r\nz\r\n0\r\n\r\n"),
    /* list elements: empty ones are allowed (RFC 9110, section 5.6.1) */
    ("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: , chunked ,\r\n\r\n"
     "1\r\nz\r\n0\r\n\r\n"),
    ("POST / HTTP/1.1\r\nHost: x\r\nExpect: , 100-Continue\r\nContent-Length: 1\r\n"
     "\r\nz"),
    /* request lines: any token is a method; 1.x is 1.1 (RFC 9110, 2.5 and 9.1) */
    "FOO / HTTP/1.1\r\nHost: x\r\n\r\n",
    "get / HTTP/1.1\r\nHost: x\r\n\r\n",
    "!#$%&'*+-.^_`|~ / HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.9\r\nHost: x\r\n\r\n",
    "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n",
    /* targets: RFC 9112, section 3.2, and RFC 3986 */
    "GET /a/b;p=1/%7E~-._!$&'()*+,=:@?q=/?&x HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET /?{\"a\":[1,2]}|^`\\<> HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET //double//slash HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET HTTPS://Example.COM:443 HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://x?q HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://x:/p HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://[::1]:8080/p HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://[v1.fe:x]/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET http://a%2Db.c/ HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET ftp://u:p@x/f HTTP/1.1\r\nHost: x\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: [::1]:80\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n\r\n",
    "GET / HTTP/1.1\r\nHost: ex-ample.com.\r\n\r\n",
};

/* Whole, one byte at a time, then in two pieces cut at every byte. */
static bool served_however_cut(const char *req, size_t cut, size_t slice) {
  char raw[1024];
  int n = snprintf(raw, sizeof raw, "%s%s", req, NEXT);
  struct config cfg = driver_config();
  struct driver d;
  driver_init(&d, &cfg);
  size_t first = cut ? cut : (size_t)n;
  driver_feed(&d, raw, first, slice);
  driver_feed(&d, raw + first, (size_t)n - first, slice);
  size_t pos = 0;
  struct parsed a, b;
  const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  if (d.sent.len >= sizeof cont - 1 && memcmp(d.sent.data, cont, sizeof cont - 1) == 0)
    pos = sizeof cont - 1;
  bool ok = next_response(&d.sent, &pos, &a, 0, NULL, 0) == 0 && a.status == 200 &&
            next_response(&d.sent, &pos, &b, 0, NULL, 0) == 0 && b.status == 200 &&
            pos == d.sent.len && !conn_done(&d.conn);
  if (!ok)
    fprintf(stderr, "not served (cut at %zu, slice %zu): %s\nsent: %.*s\n", cut, slice,
            req, (int)(d.sent.len < 300 ? d.sent.len : 300), d.sent.data);
  driver_free(&d);
  return ok;
}

static void test_valid_requests_are_served(void) {
  for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
    bool ok = served_however_cut(good[i], 0, 0) && served_however_cut(good[i], 0, 1);
    for (size_t cut = 1; ok && cut < strlen(good[i]); cut++)
      ok = served_however_cut(good[i], cut, 0);
    CHECK(ok);
  }
}

/* Values lose the whitespace around them; an empty Content-Type is no
 * Content-Type, so the echo answers with its default. */
static void test_field_values_are_trimmed(void) {
  static const struct {
    const char *content_type, *echoed;
  } cases[] = {
      {"Content-Type: text/plain \t ", "Content-Type: text/plain\r\n"},
      {"Content-Type:\ttext/a b\t", "Content-Type: text/a b\r\n"},
      {"Content-Type:", "Content-Type: application/octet-stream\r\n"},
      {"Content-Type:   ", "Content-Type: application/octet-stream\r\n"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char raw[256];
    int n = snprintf(raw, sizeof raw,
                     "POST / HTTP/1.1\r\nHost: x\r\n%s\r\nContent-Length: 1\r\n\r\nz",
                     cases[i].content_type);
    for (size_t slice = 0; slice <= 1; slice++) {
      struct config cfg = driver_config();
      struct driver d;
      driver_init(&d, &cfg);
      driver_feed(&d, raw, (size_t)n, slice);
      size_t pos = 0;
      struct parsed r;
      CHECK(next_response(&d.sent, &pos, &r, 0, NULL, 0) == 0 && r.status == 200);
      CHECK(head_has(&r, cases[i].echoed));
      driver_free(&d);
    }
  }
}

/* Whitespace is rewritten only where it is framing: never in a body, even
 * one that arrives with its head. */
static void test_body_bytes_are_untouched(void) {
  static const char body[] = "a\t\r\n\t \t\r\n\r\n\t\r\n";
  char raw[256];
  for (int chunked = 0; chunked <= 1; chunked++) {
    int n =
        chunked
            ? snprintf(raw, sizeof raw,
                       "POST / HTTP/1.1\r\nHost: x\t\r\nTransfer-Encoding: "
                       "chunked\r\n\r\n%zx\r\n%s\r\n0\r\n\r\n",
                       sizeof body - 1, body)
            : snprintf(raw, sizeof raw,
                       "POST / HTTP/1.1\r\nHost: x\t\r\nContent-Length: %zu\r\n\r\n%s",
                       sizeof body - 1, body);
    for (size_t slice = 0; slice <= 1; slice++) {
      struct config cfg = driver_config();
      struct driver d;
      driver_init(&d, &cfg);
      driver_feed(&d, raw, (size_t)n, slice);
      size_t pos = 0;
      struct parsed r;
      CHECK(next_response(&d.sent, &pos, &r, 0, NULL, 0) == 0 && r.status == 200);
      CHECK(r.body_len == sizeof body - 1 && memcmp(r.body, body, r.body_len) == 0);
      driver_free(&d);
    }
  }
}

/* Chunks each under the limit still add up to it. */
static void test_chunks_add_up_over_limit(void) {
  struct config cfg = driver_config();
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
  struct config cfg = driver_config();
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

/* A head that never ends is refused once a line, or the section, outgrows
 * what the limits allow, without waiting for its end. */
static void test_unended_head_is_bounded(void) {
  static char raw[64 * 1024];
  for (int many_lines = 0; many_lines <= 1; many_lines++) {
    struct config cfg = driver_config();
    cfg.limit_request_fields = 4;
    cfg.limit_request_field_size = 40;
    size_t n = (size_t)snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: x\r\n");
    for (size_t i = 0; i < sizeof raw / 8 - 8; i++, n += 8)
      memcpy(raw + n, many_lines ? "A: bcd\r\n" : "aaaaaaaa", 8);
    struct driver d;
    driver_init(&d, &cfg);
    driver_feed(&d, raw, n, 0);
    CHECK(d.sent.len > 13 && strncmp(d.sent.data, "HTTP/1.1 431 ", 13) == 0 &&
          conn_done(&d.conn));
    driver_free(&d);
  }
}

/* The reason in a refusal's body names what is wrong with a field line:
 * llhttp's words for what it refuses itself (a byte no name or value may
 * hold), this server's for the rest. */
static void test_field_line_reasons(void) {
  static const struct {
    const char *line, *reason;
  } cases[] = {
      {": v", "Empty header field name"},
      {"@: v", "Invalid header token"},
      {"X : v", "Invalid character in a header field name"},
      {"X: a\x01", "Invalid header value char"},
      {" X: v", "Obsolete line folding"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct config cfg = driver_config();
    char raw[128];
    int n = snprintf(raw, sizeof raw, "GET / HTTP/1.1\r\nHost: x\r\n%s\r\n\r\n",
                     cases[i].line);
    struct driver d;
    driver_init(&d, &cfg);
    driver_feed(&d, raw, (size_t)n, 0);
    if (d.sent.len < 13 || strncmp(d.sent.data, "HTTP/1.1 400 ", 13) != 0 ||
        memmem(d.sent.data, d.sent.len, cases[i].reason, strlen(cases[i].reason)) ==
            NULL) {
      fprintf(stderr, "%s: want 400, \"%s\"; sent %.*s\n", cases[i].line, cases[i].reason,
              (int)d.sent.len, d.sent.data);
      check_failures++;
    }
    driver_free(&d);
  }
}

int main(void) {
  RUN(test_bad_requests);
  RUN(test_field_line_reasons);
  RUN(test_unended_head_is_bounded);
  RUN(test_valid_requests_are_served);
  RUN(test_field_values_are_trimmed);
  RUN(test_body_bytes_are_untouched);
  RUN(test_chunks_add_up_over_limit);
  RUN(test_get_body_is_not_a_request);
  return CHECK_DONE();
}

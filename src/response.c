#include "response.h"

#include "log.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define SERVER_HEADER "Server: unixcorn/" UNIXCORN_VERSION "\r\n"

const char *http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 400: return "Bad Request";
  case 405: return "Method Not Allowed";
  case 408: return "Request Timeout";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 417: return "Expectation Failed";
  case 431: return "Request Header Fields Too Large";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 503: return "Service Unavailable";
  case 505: return "HTTP Version Not Supported";
  default: return "Unknown";
  }
}

static const char *date_header(size_t *len) {
  static struct cached_time clock;
  return cached_strftime(&clock, "Date: %a, %d %b %Y %H:%M:%S GMT\r\n", len);
}

static char *put(char *p, const char *s, size_t n) {
  memcpy(p, s, n);
  return p + n;
}

#define PUT_LITERAL(p, lit) put((p), (lit), sizeof(lit) - 1)

static char *put_u64(char *p, uint64_t v) {
  char digits[20];
  size_t n = 0;
  do
    digits[n++] = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  while (n > 0)
    *p++ = digits[--n];
  return p;
}

/* Formatted by hand: this runs once per response, and printf's machinery was
 * a quarter of the per-request instructions. */
int response_head_format(struct buf *out, const struct response_head *h) {
  size_t date_len, ct_len = h->content_type ? h->content_type_len : 0;
  const char *date = date_header(&date_len);
  const char *reason = h->status == 200 ? NULL : http_reason(h->status);
  int err = buf_reserve(out, 256 + date_len + ct_len);
  if (err < 0)
    return err;
  char *p = out->data + out->len;
  if (h->status == 200) { /* nearly every response: one copy */
    p = PUT_LITERAL(p, "HTTP/1.1 200 OK\r\n" SERVER_HEADER);
  } else {
    p = PUT_LITERAL(p, "HTTP/1.1 ");
    p = put_u64(p, (uint64_t)h->status);
    *p++ = ' ';
    p = put(p, reason, strlen(reason));
    p = PUT_LITERAL(p, "\r\n" SERVER_HEADER);
  }
  p = put(p, date, date_len);
  if (h->content_type) {
    p = PUT_LITERAL(p, "Content-Type: ");
    p = put(p, h->content_type, ct_len);
    p = PUT_LITERAL(p, "\r\n");
  }
  if (h->content_length == RESPONSE_CHUNKED) {
    p = PUT_LITERAL(p, "Transfer-Encoding: chunked\r\n");
  } else if (h->content_length != RESPONSE_UNTIL_CLOSE) {
    p = PUT_LITERAL(p, "Content-Length: ");
    p = put_u64(p, h->content_length);
    p = PUT_LITERAL(p, "\r\n");
  }
  if (h->close)
    p = PUT_LITERAL(p, "Connection: close\r\n");
  else if (h->keep_alive_10)
    p = PUT_LITERAL(p, "Connection: keep-alive\r\n");
  p = PUT_LITERAL(p, "\r\n");
  out->len = (size_t)(p - out->data);
  return 0;
}

int response_error_format(struct buf *out, int status, const char *detail) {
  char body[256];
  int n = snprintf(body, sizeof body, "%d %s: %s\n", status, http_reason(status), detail);
  if (n < 0 || (size_t)n >= sizeof body)
    n = (int)sizeof body - 1;
  struct response_head h = {
      .status = status,
      .content_type = "text/plain; charset=utf-8",
      .content_type_len = 25,
      .content_length = (uint64_t)n,
      .close = true,
  };
  int err = response_head_format(out, &h);
  return err < 0 ? err : buf_append(out, body, (size_t)n);
}

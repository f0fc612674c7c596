#include "response.h"

#include "log.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#define SERVER_HEADER "Server: unixcorn/" UNIXCORN_VERSION "\r\n"

const char *http_reason(int status) {
  switch (status) {
  case 100: return "Continue";
  case 200: return "OK";
  case 201: return "Created";
  case 202: return "Accepted";
  case 203: return "Non-Authoritative Information";
  case 204: return "No Content";
  case 205: return "Reset Content";
  case 206: return "Partial Content";
  case 300: return "Multiple Choices";
  case 301: return "Moved Permanently";
  case 302: return "Found";
  case 303: return "See Other";
  case 304: return "Not Modified";
  case 307: return "Temporary Redirect";
  case 308: return "Permanent Redirect";
  case 400: return "Bad Request";
  case 401: return "Unauthorized";
  case 403: return "Forbidden";
  case 404: return "Not Found";
  case 405: return "Method Not Allowed";
  case 406: return "Not Acceptable";
  case 408: return "Request Timeout";
  case 409: return "Conflict";
  case 410: return "Gone";
  case 411: return "Length Required";
  case 412: return "Precondition Failed";
  case 413: return "Content Too Large";
  case 414: return "URI Too Long";
  case 415: return "Unsupported Media Type";
  case 416: return "Range Not Satisfiable";
  case 417: return "Expectation Failed";
  case 421: return "Misdirected Request";
  case 422: return "Unprocessable Content";
  case 425: return "Too Early";
  case 426: return "Upgrade Required";
  case 428: return "Precondition Required";
  case 429: return "Too Many Requests";
  case 431: return "Request Header Fields Too Large";
  case 451: return "Unavailable For Legal Reasons";
  case 500: return "Internal Server Error";
  case 501: return "Not Implemented";
  case 502: return "Bad Gateway";
  case 503: return "Service Unavailable";
  case 504: return "Gateway Timeout";
  case 505: return "HTTP Version Not Supported";
  default: return ""; /* the reason phrase is optional (RFC 9112, section 4) */
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
  size_t date_len, fields_len = h->fields ? h->fields_len : 0;
  const char *date = date_header(&date_len);
  const char *reason = h->status == 200 ? NULL : http_reason(h->status);
  size_t id_len = h->request_id ? h->request_id_len : 0;
  int err = buf_reserve(out, 256 + date_len + fields_len + id_len);
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
  if (id_len > 0) {
    p = PUT_LITERAL(p, "X-Request-ID: ");
    p = put(p, h->request_id, id_len);
    p = PUT_LITERAL(p, "\r\n");
  }
  if (fields_len > 0)
    p = put(p, h->fields, fields_len);
  if (h->content_length == RESPONSE_CHUNKED) {
    p = PUT_LITERAL(p, "Transfer-Encoding: chunked\r\n");
  } else if (h->content_length != RESPONSE_UNTIL_CLOSE &&
             h->content_length != RESPONSE_NO_LENGTH) {
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

int response_error_format(struct buf *out, int status, const char *detail,
                          const char *fields, const char *request_id,
                          size_t request_id_len) {
  char body[256], head_fields[256];
  int n = snprintf(body, sizeof body, "%d %s: %s\n", status, http_reason(status), detail);
  if (n < 0 || (size_t)n >= sizeof body)
    n = (int)sizeof body - 1;
  int len =
      snprintf(head_fields, sizeof head_fields,
               "Content-Type: text/plain; charset=utf-8\r\n%s", fields ? fields : "");
  if (len < 0 || (size_t)len >= sizeof head_fields)
    return -ENOMEM;
  struct response_head h = {
      .status = status,
      .fields = head_fields,
      .fields_len = (size_t)len,
      .content_length = (uint64_t)n,
      .close = true,
      .request_id = request_id,
      .request_id_len = request_id_len,
  };
  int err = response_head_format(out, &h);
  return err < 0 ? err : buf_append(out, body, (size_t)n);
}

/* Response heads: status line and the headers every response carries. */
#ifndef UNIXCORN_RESPONSE_H
#define UNIXCORN_RESPONSE_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"

/* Responses are counted by class: [1] to [5] for 1xx to 5xx, [0] for any other. */
#define STATUS_CLASSES 6
static inline unsigned status_class(int status) {
  return status >= 100 && status < 600 ? (unsigned)status / 100 : 0;
}

#define RESPONSE_CHUNKED UINT64_MAX           /* body length unknown: chunked */
#define RESPONSE_UNTIL_CLOSE (UINT64_MAX - 1) /* HTTP/1.0: body ends at close */

#define RESPONSE_NO_LENGTH (UINT64_MAX - 2) /* 204, 304: no length field */

struct response_head {
  int status;
  const char *fields; /* more header fields, each "Name: value\r\n"; or NULL */
  size_t fields_len;
  uint64_t content_length; /* or RESPONSE_CHUNKED / UNTIL_CLOSE / NO_LENGTH */
  bool close;              /* Connection: close */
  bool keep_alive_10;      /* Connection: keep-alive, for an HTTP/1.0 client */
  const char *request_id;  /* X-Request-ID, with request_id_len bytes; or NULL */
  size_t request_id_len;
};

/* 1xx, 204 and 304 responses have no body (RFC 9110, section 6.4.1). */
static inline bool status_has_body(int status) {
  return status >= 200 && status != 204 && status != 304;
}

/* The reason phrase, or "" for a status without a common one. */
const char *http_reason(int status);
/* Appends the head to out. Returns 0 or -ENOMEM. */
int response_head_format(struct buf *out, const struct response_head *h);
/* A whole error response: status, a one-line text body, Connection: close,
 * more header fields, each "Name: value
" (fields NULL: none), and the
 * request's ID (request_id NULL: none). */
int response_error_format(struct buf *out, int status, const char *detail,
                          const char *fields, const char *request_id,
                          size_t request_id_len);

#endif

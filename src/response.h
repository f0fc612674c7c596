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

struct response_head {
  int status;
  const char *content_type; /* NULL: none */
  size_t content_type_len;
  uint64_t content_length; /* or RESPONSE_CHUNKED / RESPONSE_UNTIL_CLOSE */
  bool close;              /* Connection: close */
  bool keep_alive_10;      /* Connection: keep-alive, for an HTTP/1.0 client */
};

const char *http_reason(int status);
/* Appends the head to out. Returns 0 or -ENOMEM. */
int response_head_format(struct buf *out, const struct response_head *h);
/* A whole error response: status, a one-line text body, Connection: close. */
int response_error_format(struct buf *out, int status, const char *detail);

#endif

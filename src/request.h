/* A request as the framing layer hands it to the connection and the
 * application: the request line's parts, the fields this server reads, and
 * how the body is framed. Its strings live in one buffer, as spans. */
#ifndef UNIXCORN_REQUEST_H
#define UNIXCORN_REQUEST_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"

struct span {
  uint32_t off, len; /* into request.fields; len 0 = absent or empty */
};

struct field {
  struct span name, value; /* the value without the whitespace around it */
};

/* What the framing layer learned about the current request. */
struct request {
  struct buf fields; /* backing store of every span below */
  struct span method, target;
  /* Every header field in the order received, duplicates kept; the array is
   * kept with its exchange, for the next requests. */
  struct field *list;
  uint32_t nlist, list_cap;
  /* The first value of the fields this server reads itself. */
  struct span host, content_type, referer, user_agent, forwarded_for;
  struct span request_start;             /* X-Request-Start: queue_time.h */
  unsigned version_major, version_minor; /* as sent: 1.2 is served as 1.1 */
  bool is_head;
  bool expect_continue;
  bool chunked;
  bool keep_alive;         /* the connection may carry another request */
  bool client_closes;      /* the client said it sends no other (close, or 1.0) */
  uint64_t content_length; /* when !chunked */
  uint64_t body_received;
};

static inline const char *request_str(const struct request *r, struct span s) {
  return s.len ? r->fields.data + s.off : NULL;
}

/* Frees what a request keeps between uses. */
void request_free(struct request *r);

#endif

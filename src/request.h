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

/* What the framing layer learned about the current request. */
struct request {
  struct buf fields; /* backing store of every span below */
  struct span method, target, host, content_type, referer, user_agent, forwarded_for;
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

#endif

/* The application behind the server: a handler sees one request at a time per
 * connection, as events, and answers through the conn_respond family. It never
 * sees a socket. */
#ifndef UNIXCORN_HANDLER_H
#define UNIXCORN_HANDLER_H

#include <stddef.h>
#include <stdint.h>

#include "request.h"
#include "response.h"

struct conn;

struct handler {
  const char *name;
  size_t state_size; /* per-request state: lives from on_head until on_done */
  /* Each returns 0, or an HTTP status (>= 400) to fail the request with. */
  int (*on_head)(struct conn *c, void *state);
  int (*on_body)(struct conn *c, void *state, const char *data, size_t len);
  int (*on_complete)(struct conn *c, void *state); /* must end the response */
  /* The response was sent, or the request abandoned: release what it held. */
  void (*on_done)(struct conn *c, void *state);
};

const struct request *conn_request(const struct conn *c);
void *conn_app_context(const struct conn *c);

/* Starts the response; length is the body size, or RESPONSE_CHUNKED. */
int conn_respond(struct conn *c, int status, const char *content_type, size_t ct_len,
                 uint64_t length);
/* Body bytes (framed as a chunk on a chunked response; dropped for HEAD). */
int conn_send(struct conn *c, const char *data, size_t len);
/* The last part of the body: len bytes of fd from offset 0, sent with
 * sendfile(2). The fd must stay open until on_done. */
int conn_send_file(struct conn *c, int fd, uint64_t len);
int conn_end(struct conn *c);

#endif

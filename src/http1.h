/* HTTP/1.x request framing: the request line and the body framing are parsed
 * here. The field section is read by llhttp, which finds its end and decides
 * Content-Length and Connection, and is then checked whole against RFC 9112's
 * grammar and split into fields (http1_fields.c), with the checks llhttp 8.1
 * leaves to its user (header limits, Host rules, Transfer-Encoding rules,
 * obs-fold, and bare CR or LF anywhere outside a body: CVE-2023-30589 is
 * unfixed in 8.1). Knows nothing of sockets or of the application: bytes in,
 * events out. */
#ifndef UNIXCORN_HTTP1_H
#define UNIXCORN_HTTP1_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

#include "chunked.h"
#include "grammar.h"
#include "request.h"

struct http1_limits {
  uint64_t request_line; /* 0: unlimited */
  uint64_t fields;
  uint64_t field_size; /* 0: unlimited */
  uint64_t body;       /* 0: unlimited */
};

/* Receives body bytes as they are parsed. Returns 0, or an HTTP status
 * (e.g. 500) to stop with. */
typedef int (*http1_body_cb)(void *owner, const char *data, size_t len);

enum http1_event {
  HTTP1_NEED_MORE,    /* everything consumed; feed more */
  HTTP1_HEAD_DONE,    /* paused after the head: request fields are valid */
  HTTP1_MESSAGE_DONE, /* paused after the message: call http1_next() to go on */
  HTTP1_ERROR,        /* stop: answer error_status, then close */
};

struct http1 {
  llhttp_t parser;
  const struct http1_limits *limits;
  http1_body_cb on_body;
  void *owner;
  struct request *req;
  int phase;
  /* the request line */
  int line_state;
  uint64_t line_len, blank_len;
  char version[8];
  size_t version_len;
  /* header fields */
  uint32_t section_off; /* where the field section starts in req->fields */
  size_t line_kept;     /* bytes of its last line kept so far */
  uint64_t nfields;
  unsigned host_count;
  struct list_match te, expect;
  size_t ows_carried; /* OWS at the end of what llhttp was given */
  /* the body */
  uint64_t body_left; /* Content-Length bytes still to come */
  struct chunked chunked;
  /* result of the last error */
  int error_status;
  const char *error_reason;
};

void http1_init(struct http1 *h, const struct http1_limits *limits, struct request *req,
                http1_body_cb on_body, void *owner);
/* Parses up to len bytes; *consumed says how many were used. With
 * HTTP1_NEED_MORE, bytes not consumed (whitespace that may end a field line)
 * must be passed again, with more after them. Whitespace that is framing may be
 * rewritten in place (an HTAB before a CR becomes a SP). */
enum http1_event http1_execute(struct http1 *h, char *data, size_t len, size_t *consumed);
/* After HTTP1_MESSAGE_DONE: ready for the next pipelined request. */
void http1_next(struct http1 *h);

#endif

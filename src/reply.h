/* What an application has said of its response so far (the status, its
 * header fields, a declared length, how much body it gave, whether it ended),
 * and the rules of the calls that say it, apart from any byte of output.
 *
 * Two sides keep one: the event loop, which frames the response into the
 * connection's output (respond.c), and a blocking application's pool thread,
 * which gathers its calls before handing them over (app_stage.c). Both check
 * the calls with these functions, so a rule holds the same on either side.
 * Every call returns 0 or a negative UNIXCORN_E* code (unixcorn/app.h). */
#ifndef UNIXCORN_REPLY_H
#define UNIXCORN_REPLY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bufpool.h"

enum response_state {
  RESPONSE_NONE,    /* nothing yet */
  RESPONSE_STARTED, /* status set; header fields may still come */
  RESPONSE_HEAD,    /* the head is settled (on the loop: in the output) */
  RESPONSE_ENDED,   /* the whole response is said */
};

struct reply {
  int status;
  uint8_t state; /* enum response_state */
  bool length_declared;
  uint64_t declared;   /* with length_declared */
  uint64_t given;      /* body bytes the application gave, HEAD or not */
  struct buf fields;   /* its header fields, as "Name: value\r\n" */
  bool own_request_id; /* fields has an X-Request-ID: the server adds none */
};

/* A fresh reply for the next request; the fields' buffer is kept. */
void reply_reset(struct reply *r);

int reply_start(struct reply *r, int status);
int reply_field(struct reply *r, const char *name, size_t name_len, const char *value,
                size_t value_len);
int reply_length(struct reply *r, uint64_t length);
/* Whether len more body bytes may follow now. Changes nothing: the caller
 * settles the head (RESPONSE_HEAD) and counts the bytes. */
int reply_body_allowed(const struct reply *r, uint64_t len);
/* Whether the response may end now. Changes nothing either. */
int reply_end_allowed(const struct reply *r);
/* dst takes the head src has said so far (status, fields, declared length),
 * as a response just started: what src did with its body is not dst's. */
int reply_take_head(struct reply *dst, const struct reply *src);

#endif

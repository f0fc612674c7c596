/* A blocking application's response as its pool thread says it.
 *
 * Handing each call to the event loop and waiting for it costs two thread
 * switches, and a typical response is five calls. So the thread keeps what
 * needs no byte moved: the status, the header fields and the declared length
 * (a reply, checked with the loop's own rules, reply.h), and the body's bytes
 * up to STAGE_MAX. It hands over to the loop only to move bytes: at
 * unixcorn_end (without waiting), past STAGE_MAX or for a file part (waiting
 * for room, so a slow client still holds the thread back), and when a call
 * breaks a rule (waiting, so the call returns the error after the loop has
 * failed the request). The loop applies what was staged through respond.c,
 * which alone frames a response. */
#ifndef UNIXCORN_APP_STAGE_H
#define UNIXCORN_APP_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "app.h"
#include "bufpool.h"
#include "reply.h"

/* Body bytes a thread holds before it hands them over: the connection's
 * output mark, so one hand-over moves as much as the output holds. */
#define STAGE_MAX (64 * 1024)

/* The thread's while it runs on_request, except during a hand-over, when the
 * loop applies it; the loop's once on_request returned. */
struct stage {
  struct reply reply;    /* what the thread's calls said */
  struct buf body;       /* body bytes not yet handed over */
  uint8_t applied;       /* how far the loop took reply (enum response_state) */
  bool unwaited;         /* the thread did not wait for its last hand-over */
  struct app_call flush; /* the hand-over of unixcorn_end */
};

/* Before the request goes to a thread. */
void stage_reset(struct stage *s);
/* Once the thread let go: memory past one block goes back. */
void stage_trim(struct stage *s);
void stage_release(struct stage *s);

/* On the request's thread: the response call c. */
int stage_call(struct exchange *x, struct app_call *c);

/* On the loop, during a hand-over or once on_request returned: what the
 * thread staged goes into the response. Returns 0 or an error. */
int stage_apply(struct exchange *x);
/* Whether the thread staged something that the loop has not applied. */
bool stage_pending(const struct stage *s);

#endif

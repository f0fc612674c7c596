#include "app_stage.h"

#include <stdatomic.h>

#include "app_pool.h"
#include "exchange.h"
#include "respond.h"

void stage_reset(struct stage *s) {
  reply_reset(&s->reply);
  s->body.len = 0;
  s->applied = RESPONSE_NONE;
  s->unwaited = false;
  s->flush = (struct app_call){.op = APP_FLUSH};
}

void stage_trim(struct stage *s) {
  if (s->body.cap > BUF_BLOCK_SIZE)
    buf_release(&s->body);
}

void stage_release(struct stage *s) {
  buf_release(&s->reply.fields);
  buf_release(&s->body);
}

bool stage_pending(const struct stage *s) {
  return s->applied != s->reply.state || s->body.len > 0;
}

/* ---- on the request's thread ---- */

/* The call goes to the loop, which applies what was staged, then runs it;
 * with err, the rule the thread found it breaking, which the loop logs and
 * fails the request for instead. The thread waits for its result. */
static int hand_over(struct exchange *x, struct app_call *c, int err) {
  c->thread_rc = err;
  return app_pool_hand_over(x, c, true);
}

/* len body bytes were taken: the head is settled. */
static void body_given(struct stage *s, uint64_t len) {
  s->reply.state = RESPONSE_HEAD;
  s->reply.given += len;
}

/* A write staged past STAGE_MAX moves the bytes now, waiting for room; so
 * does a zero-length one, which sends what was written so far (as it sends
 * the head on the loop). */
static int stage_write(struct exchange *x, struct app_call *c) {
  struct stage *s = &x->stage;
  int err = reply_body_allowed(&s->reply, c->a_len);
  if (err < 0)
    return hand_over(x, c, err);
  if (c->a_len == 0 || c->a_len > STAGE_MAX - s->body.len) {
    err = hand_over(x, c, 0);
  } else if (buf_append(&s->body, c->a, c->a_len) < 0) {
    return hand_over(x, c, UNIXCORN_ENOMEM);
  }
  if (err == 0)
    body_given(s, c->a_len);
  return err;
}

static int stage_file(struct exchange *x, struct app_call *c) {
  int err = reply_body_allowed(&x->stage.reply, c->length);
  err = hand_over(x, c, err);
  if (err == 0)
    body_given(&x->stage, c->length);
  return err;
}

/* The response is complete: it goes to the loop, and the thread goes on
 * without waiting (for its return, usually). */
static int stage_end(struct exchange *x, struct app_call *c) {
  struct stage *s = &x->stage;
  int err = reply_end_allowed(&s->reply);
  if (err < 0)
    return hand_over(x, c, err);
  s->reply.state = RESPONSE_ENDED;
  return app_pool_hand_over(x, &s->flush, false);
}

int stage_call(struct exchange *x, struct app_call *c) {
  int err = app_pool_claim(x);
  if (err < 0)
    return err;
  if (atomic_load_explicit(&x->thread_misuse, memory_order_relaxed))
    return hand_over(x, c, 0); /* the loop fails the request for it */
  if (atomic_load_explicit(&x->calls_closed, memory_order_relaxed))
    return UNIXCORN_ECLOSED;
  struct reply *r = &x->stage.reply;
  switch (c->op) {
  case APP_RESPOND: err = reply_start(r, c->status); break;
  case APP_FIELD: err = reply_field(r, c->a, c->a_len, c->b, c->b_len); break;
  case APP_LENGTH: err = reply_length(r, c->length); break;
  case APP_WRITE: return stage_write(x, c);
  case APP_FILE: return stage_file(x, c);
  default: return stage_end(x, c);
  }
  return err < 0 ? hand_over(x, c, err) : 0;
}

/* ---- on the loop ---- */

/* Each part once: the head as said, then the bytes (which settle the head,
 * even with none), then the end. The bytes are taken whatever the output
 * holds: they are bounded, and a call handed over behind them (a write, a
 * file part) still waits for room, with the thread. */
int stage_apply(struct exchange *x) {
  struct stage *s = &x->stage;
  int err;
  if (s->applied == RESPONSE_NONE && s->reply.state != RESPONSE_NONE) {
    if ((err = reply_take_head(&x->reply, &s->reply)) < 0)
      return err;
    s->applied = RESPONSE_STARTED;
  }
  if (s->reply.state >= RESPONSE_HEAD && (s->applied < RESPONSE_HEAD || s->body.len)) {
    if ((err = respond_take(x, s->body.data, s->body.len)) < 0)
      return err;
    s->body.len = 0;
    s->applied = RESPONSE_HEAD;
  }
  if (s->reply.state == RESPONSE_ENDED && s->applied < RESPONSE_ENDED) {
    if ((err = respond_end(x)) < 0)
      return err;
    s->applied = RESPONSE_ENDED;
  }
  return 0;
}

/* The deadlines of many connections on one uv_timer_t.
 *
 * A connection waits under one of a few durations at a time (--header-timeout,
 * --read-timeout, --keepalive, the lingering close), and a deadline set now
 * under a duration is never earlier than one set before under the same
 * duration. So each duration keeps a list in arming order, which is deadline
 * order: arming, moving and cancelling are O(1), with no heap and no system
 * call, and one libuv timer waits for the earliest head. A uv_timer_t per
 * connection cost 152 bytes of every idle connection, and a heap operation at
 * every state change. */
#ifndef UNIXCORN_DEADLINE_H
#define UNIXCORN_DEADLINE_H

#include <stdint.h>
#include <uv.h>

#define DEADLINE_LISTS 8

/* One per waiter, embedded in its owner. */
struct deadline {
  struct deadline *prev, *next;
  uint64_t due; /* loop time in ms; 0: not armed */
  uint8_t list;
};

struct deadline_list {
  struct deadline *head, *tail;
  uint64_t duration;
};

struct deadlines {
  uv_timer_t timer;
  uint64_t timer_due; /* when the timer fires; 0: stopped */
  struct deadline_list lists[DEADLINE_LISTS];
  unsigned nlists;
  /* Called for each deadline that came due, after it was disarmed. */
  void (*expired)(struct deadline *d);
};

/* Returns 0 or a libuv error. */
int deadlines_init(struct deadlines *ds, uv_loop_t *loop,
                   void (*expired)(struct deadline *d));
/* Arms d for start + duration (duration > 0), replacing what it had. */
void deadline_set(struct deadlines *ds, struct deadline *d, uint64_t start,
                  uint64_t duration);
void deadline_clear(struct deadlines *ds, struct deadline *d);
void deadlines_close(struct deadlines *ds);

#endif

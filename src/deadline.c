#include "deadline.h"

#include <stdbool.h>
#include <stddef.h>

static void on_timer(uv_timer_t *t);

static struct deadline_list *list_for(struct deadlines *ds, uint64_t duration) {
  for (unsigned i = 0; i < ds->nlists; i++)
    if (ds->lists[i].duration == duration)
      return &ds->lists[i];
  if (ds->nlists < DEADLINE_LISTS) {
    ds->lists[ds->nlists] = (struct deadline_list){.duration = duration};
    return &ds->lists[ds->nlists++];
  }
  /* More durations than lists (not with this server's flags): share the
   * last one, kept in order by insertion below. */
  return &ds->lists[DEADLINE_LISTS - 1];
}

static void unlink_from(struct deadline_list *l, struct deadline *d) {
  if (d->prev)
    d->prev->next = d->next;
  else
    l->head = d->next;
  if (d->next)
    d->next->prev = d->prev;
  else
    l->tail = d->prev;
  d->prev = d->next = NULL;
}

/* Usually at the tail; walks back only for a deadline set from an earlier
 * start than the last one armed. */
static void insert_in_order(struct deadline_list *l, struct deadline *d) {
  struct deadline *after = l->tail;
  while (after != NULL && after->due > d->due)
    after = after->prev;
  d->prev = after;
  d->next = after ? after->next : l->head;
  if (d->next)
    d->next->prev = d;
  else
    l->tail = d;
  if (after)
    after->next = d;
  else
    l->head = d;
}

static void arm_timer(struct deadlines *ds, uint64_t due) {
  if (ds->timer_due != 0 && ds->timer_due <= due)
    return; /* fires first; on_timer arms it again for what remains */
  uint64_t now = uv_now(ds->timer.loop);
  uv_timer_start(&ds->timer, on_timer, due > now ? due - now : 0, 0);
  ds->timer_due = due;
}

void deadline_set(struct deadlines *ds, struct deadline *d, uint64_t start,
                  uint64_t duration) {
  uint64_t due = start + duration;
  struct deadline_list *l = list_for(ds, duration);
  if (d->due == due && &ds->lists[d->list] == l)
    return;
  deadline_clear(ds, d);
  d->due = due;
  d->list = (uint8_t)(l - ds->lists);
  insert_in_order(l, d);
  arm_timer(ds, due);
}

void deadline_clear(struct deadlines *ds, struct deadline *d) {
  if (d->due == 0)
    return;
  unlink_from(&ds->lists[d->list], d);
  d->due = 0;
}

static void on_timer(uv_timer_t *t) {
  struct deadlines *ds = t->data;
  uint64_t now = uv_now(t->loop), next = 0;
  ds->timer_due = 0;
  for (unsigned i = 0; i < ds->nlists; i++) {
    struct deadline_list *l = &ds->lists[i];
    struct deadline *d;
    while ((d = l->head) != NULL && d->due <= now) {
      deadline_clear(ds, d);
      ds->expired(d); /* may arm d, or others, again */
    }
  }
  for (unsigned i = 0; i < ds->nlists; i++) {
    struct deadline *head = ds->lists[i].head;
    if (head != NULL && (next == 0 || head->due < next))
      next = head->due;
  }
  if (next != 0)
    arm_timer(ds, next);
}

int deadlines_init(struct deadlines *ds, uv_loop_t *loop,
                   void (*expired)(struct deadline *d)) {
  *ds = (struct deadlines){.expired = expired};
  int err = uv_timer_init(loop, &ds->timer);
  ds->timer.data = ds;
  return err;
}

void deadlines_close(struct deadlines *ds) {
  if (!uv_is_closing((uv_handle_t *)&ds->timer))
    uv_close((uv_handle_t *)&ds->timer, NULL);
}

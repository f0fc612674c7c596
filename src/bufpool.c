#include "bufpool.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* Enough for a few hundred busy connections; beyond it blocks go back to malloc. */
#define POOL_MAX_FREE 256

struct free_block {
  struct free_block *next;
};

/* One list per thread: a blocking application's pool threads grow the
 * buffers of the responses they stage (app_stage.c). A block may come from
 * one thread's list and go back to another's. */
static _Thread_local struct free_block *free_list;
static _Thread_local size_t free_count;

static char *block_get(void) {
  struct free_block *b = free_list;
  if (b != NULL) {
    free_list = b->next;
    free_count--;
    return (char *)b;
  }
  return malloc(BUF_BLOCK_SIZE);
}

static void block_put(char *p) {
  if (free_count >= POOL_MAX_FREE) {
    free(p);
    return;
  }
  struct free_block *b = (struct free_block *)(void *)p;
  b->next = free_list;
  free_list = b;
  free_count++;
}

/* buf_reserve's slow path: a pool block first, then the heap. */
int buf_grow(struct buf *b, size_t extra) {
  size_t need = b->len + extra;
  if (need < b->len)
    return -ENOMEM;
  if (b->cap == 0 && need <= BUF_BLOCK_SIZE) {
    b->data = block_get();
    if (b->data == NULL)
      return -ENOMEM;
    b->cap = BUF_BLOCK_SIZE;
    return 0;
  }
  size_t cap = b->cap ? b->cap * 2 : BUF_BLOCK_SIZE;
  while (cap < need)
    cap *= 2;
  char *p;
  if (b->cap == BUF_BLOCK_SIZE) { /* a pool block cannot be realloc'ed */
    p = malloc(cap);
    if (p == NULL)
      return -ENOMEM;
    memcpy(p, b->data, b->len);
    block_put(b->data);
  } else {
    p = realloc(b->data, cap);
    if (p == NULL)
      return -ENOMEM;
  }
  b->data = p;
  b->cap = cap;
  return 0;
}

void buf_release(struct buf *b) {
  if (b->cap == BUF_BLOCK_SIZE)
    block_put(b->data);
  else
    free(b->data);
  b->data = NULL;
  b->len = b->cap = 0;
}

void bufpool_drain(void) {
  while (free_list != NULL) {
    struct free_block *b = free_list;
    free_list = b->next;
    free(b);
  }
  free_count = 0;
}

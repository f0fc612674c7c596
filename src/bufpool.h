/* Growable byte buffers whose first block comes from a free list, so a
 * connection can give its buffers back whenever it goes idle (idle connections
 * hold no buffers) without a malloc per request. Each thread has its own free
 * list; a buffer is used by one thread at a time. */
#ifndef UNIXCORN_BUFPOOL_H
#define UNIXCORN_BUFPOOL_H

#include <stddef.h>
#include <string.h>

#define BUF_BLOCK_SIZE (16 * 1024)

struct buf {
  char *data;
  size_t len;
  size_t cap;
};

int buf_grow(struct buf *b, size_t extra);

/* Ensures room for `extra` more bytes. Returns 0 or -ENOMEM. Inline: it runs
 * a few times per request, nearly always with room to spare. */
static inline int buf_reserve(struct buf *b, size_t extra) {
  return b->cap - b->len >= extra ? 0 : buf_grow(b, extra);
}

static inline int buf_append(struct buf *b, const void *p, size_t n) {
  int err = buf_reserve(b, n);
  if (err < 0)
    return err;
  memcpy(b->data + b->len, p, n);
  b->len += n;
  return 0;
}
/* Returns the memory (to the pool when it is a pool block); b becomes empty. */
void buf_release(struct buf *b);
/* Frees the calling thread's cached blocks (at exit, so leak checkers see a
 * clean heap). */
void bufpool_drain(void);

#endif

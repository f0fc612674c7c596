/* Growable byte buffers whose first block comes from a free list, so a
 * connection can give its buffers back whenever it goes idle (idle connections
 * hold no buffers) without a malloc per request. Single-threaded: each worker
 * process has its own pool. */
#ifndef UNIXCORN_BUFPOOL_H
#define UNIXCORN_BUFPOOL_H

#include <stddef.h>

#define BUF_BLOCK_SIZE (16 * 1024)

struct buf {
  char *data;
  size_t len;
  size_t cap;
};

/* Ensures room for `extra` more bytes. Returns 0 or -ENOMEM. */
int buf_reserve(struct buf *b, size_t extra);
int buf_append(struct buf *b, const void *p, size_t n);
/* Returns the memory (to the pool when it is a pool block); b becomes empty. */
void buf_release(struct buf *b);
/* Frees every cached block (at exit, so leak checkers see a clean heap). */
void bufpool_drain(void);

#endif

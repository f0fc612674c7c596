/* Where a request body waits until it is complete: in memory up to
 * SPOOL_MEMORY_MAX, then in an unlinked temporary file (O_TMPFILE), so a crash
 * leaves nothing behind and a large body costs page cache, not heap. */
#ifndef UNIXCORN_SPOOL_H
#define UNIXCORN_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"

#define SPOOL_MEMORY_MAX BUF_BLOCK_SIZE
/* Once in a file, bytes are staged in memory and written this many at a time. */
#define SPOOL_STAGE (64 * 1024)
#define SPOOL_PAGE 4096

struct spool {
  struct buf mem; /* the body, or once in a file, what is not written yet */
  int fd;         /* -1 while the body fits in memory */
  uint64_t size;
};

void spool_init(struct spool *s);
/* Returns 0 or -errno (ENOSPC, EDQUOT, EIO, ...). */
int spool_append(struct spool *s, const char *dir, const char *data, size_t len);
/* The body is complete: writes what is staged. Returns 0 or -errno. */
int spool_finish(struct spool *s);
void spool_reset(struct spool *s);
/* Checks at start-up that bodies can be spooled in dir. Returns 0 or -errno. */
int spool_check_dir(const char *dir);

#endif

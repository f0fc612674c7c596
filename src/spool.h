/* Where a request body waits until it is complete: in memory up to
 * SPOOL_MEMORY_MAX, then in an unlinked temporary file (O_TMPFILE), so a crash
 * leaves nothing behind and a large body costs page cache, not heap. */
#ifndef UNIXCORN_SPOOL_H
#define UNIXCORN_SPOOL_H

#include <stdbool.h>
#include <stdint.h>

#include "bufpool.h"

#define SPOOL_MEMORY_MAX BUF_BLOCK_SIZE

struct spool {
  struct buf mem;
  int fd; /* -1 while the body fits in memory */
  uint64_t size;
};

void spool_init(struct spool *s);
/* Returns 0 or -errno (ENOSPC, EDQUOT, EIO, ...). */
int spool_append(struct spool *s, const char *dir, const char *data, size_t len);
void spool_reset(struct spool *s);
/* Checks at start-up that bodies can be spooled in dir. Returns 0 or -errno. */
int spool_check_dir(const char *dir);

#endif

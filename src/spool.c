#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void spool_init(struct spool *s) {
  s->mem = (struct buf){0};
  s->fd = -1;
  s->size = 0;
}

/* O_TMPFILE where the file system has it; elsewhere a named file unlinked at once. */
static int open_unlinked(const char *dir) {
  int fd = open(dir, O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
  if (fd >= 0 || (errno != EOPNOTSUPP && errno != EISDIR))
    return fd < 0 ? -errno : fd;
  char path[4096];
  snprintf(path, sizeof path, "%s/unixcorn-body-XXXXXX", dir);
  fd = mkostemp(path, O_CLOEXEC);
  if (fd < 0)
    return -errno;
  unlink(path);
  return fd;
}

/* Blocking writes on the event loop, as nginx does for its temp files: they
 * land in the page cache, and a thread pool hop would cost more than it saves. */
static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return -errno;
    }
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

/* Writes the staged bytes: every write but the last is whole pages, so the
 * page cache never has to zero and merge part of a page, and the file gets few
 * large writes rather than one per read from the client (callgrind and perf:
 * a 1 GiB echo spent its time in ext4's per-write block handling). */
static int write_stage(struct spool *s, bool all) {
  size_t n = all ? s->mem.len : s->mem.len / SPOOL_PAGE * SPOOL_PAGE;
  int err = write_all(s->fd, s->mem.data, n);
  if (err < 0)
    return err;
  memmove(s->mem.data, s->mem.data + n, s->mem.len - n);
  s->mem.len -= n;
  return 0;
}

int spool_append(struct spool *s, const char *dir, const char *data, size_t len) {
  if (s->fd < 0 && s->mem.len + len > SPOOL_MEMORY_MAX) {
    int fd = open_unlinked(dir);
    if (fd < 0)
      return fd;
    s->fd = fd; /* what memory holds is the start of the first write */
  }
  int err = buf_append(&s->mem, data, len);
  if (err == 0 && s->fd >= 0 && s->mem.len >= SPOOL_STAGE)
    err = write_stage(s, false);
  if (err == 0)
    s->size += len;
  return err;
}

int spool_finish(struct spool *s) {
  return s->fd >= 0 && s->mem.len > 0 ? write_stage(s, true) : 0;
}

void spool_reset(struct spool *s) {
  if (s->fd >= 0)
    close(s->fd);
  buf_release(&s->mem);
  spool_init(s);
}

int spool_check_dir(const char *dir) {
  int fd = open_unlinked(dir);
  if (fd < 0)
    return fd;
  close(fd);
  return 0;
}

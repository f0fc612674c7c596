#include "spool.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

static int move_to_file(struct spool *s, const char *dir) {
  int fd = open_unlinked(dir);
  if (fd < 0)
    return fd;
  int err = write_all(fd, s->mem.data, s->mem.len);
  if (err < 0) {
    close(fd);
    return err;
  }
  buf_release(&s->mem);
  s->fd = fd;
  return 0;
}

int spool_append(struct spool *s, const char *dir, const char *data, size_t len) {
  int err;
  if (s->fd < 0 && s->mem.len + len > SPOOL_MEMORY_MAX &&
      (err = move_to_file(s, dir)) < 0)
    return err;
  err = s->fd >= 0 ? write_all(s->fd, data, len) : buf_append(&s->mem, data, len);
  if (err == 0)
    s->size += len;
  return err;
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

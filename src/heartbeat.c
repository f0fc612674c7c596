#include "heartbeat.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <sys/socket.h>
#include <unistd.h>

int heartbeat_send(int fd, const struct worker_report *r) {
  ssize_t n = send(fd, r, sizeof *r, MSG_DONTWAIT | MSG_NOSIGNAL);
  return n == (ssize_t)sizeof *r ? 0 : (n < 0 ? -errno : -EIO);
}

int heartbeat_recv(int fd, struct worker_report *r) {
  ssize_t n = recv(fd, r, sizeof *r, MSG_DONTWAIT);
  if (n < 0)
    return -errno;
  if (n == 0)
    return -EPIPE;
  return n == (ssize_t)sizeof *r && r->version == HEARTBEAT_VERSION ? 0 : -EPROTO;
}

int heartbeat_open_statm(void) {
  int fd = open("/proc/self/statm", O_RDONLY | O_CLOEXEC);
  return fd < 0 ? -errno : fd;
}

/* statm counts pages: "size resident shared text lib data dt". */
uint64_t heartbeat_rss(int statm_fd) {
  char text[128];
  unsigned long long size, resident;
  ssize_t n = statm_fd >= 0 ? pread(statm_fd, text, sizeof text - 1, 0) : -1;
  if (n <= 0)
    return 0;
  text[n] = '\0';
  if (sscanf(text, "%llu %llu", &size, &resident) != 2)
    return 0;
  return (uint64_t)resident * (uint64_t)sysconf(_SC_PAGESIZE);
}

#include "heartbeat.h"

#include <errno.h>
#include <sys/socket.h>

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

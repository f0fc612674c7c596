#include "notify.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"

void notify_systemd(const char *state) {
  const char *path = getenv("NOTIFY_SOCKET");
  struct sockaddr_un sun = {.sun_family = AF_UNIX};
  if (path == NULL || path[0] == '\0' || strlen(path) >= sizeof sun.sun_path)
    return;
  size_t len = strlen(path);
  memcpy(sun.sun_path, path, len);
  if (sun.sun_path[0] == '@') /* an abstract socket */
    sun.sun_path[0] = '\0';
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return;
  socklen_t alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
  if (sendto(fd, state, strlen(state), MSG_NOSIGNAL, (struct sockaddr *)&sun, alen) < 0)
    log_warning("cannot notify systemd at %s", path);
  close(fd);
}

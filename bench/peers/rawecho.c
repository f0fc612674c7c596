/* The floor for scenario 3: a plain read/write echo loop on a Unix socket, no
 * HTTP. It serves one connection at a time and writes back every byte it reads.
 *   rawecho SOCKET_PATH
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static char buf[64 * 1024];

static int write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return -1;
    p += w;
    n -= (size_t)w;
  }
  return 0;
}

static void echo(int fd) {
  for (;;) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0 || write_all(fd, buf, (size_t)n) < 0)
      return;
  }
}

int main(int argc, char **argv) {
  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (argc != 2 || strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "usage: rawecho SOCKET_PATH\n");
    return 2;
  }
  strcpy(addr.sun_path, argv[1]);
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  unlink(argv[1]);
  if (lfd < 0 || bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0 ||
      listen(lfd, 128) < 0) {
    perror("rawecho");
    return 1;
  }
  for (;;) {
    int fd = accept(lfd, NULL, NULL);
    if (fd < 0) {
      if (errno == EINTR)
        continue;
      perror("rawecho: accept");
      return 1;
    }
    echo(fd);
    close(fd);
  }
}

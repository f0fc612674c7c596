/* The floor for scenarios 1 and 2: the least any HTTP server can do per
 * request on the same socket. One thread, a level-triggered epoll loop, and
 * per readable connection exactly one read() and, if it read anything, exactly
 * one write() of a prebuilt response. It parses nothing, so it takes each read
 * for one whole request: true for one request at a time on a connection, not
 * for pipelining. The body is the 64 bytes of the 64-byte POST's echo, for a
 * GET too (unixcorn answers a GET with an empty body).
 *   floor [--close] unix:PATH|127.0.0.1:PORT
 * --close: close each connection after its response, which says so; as an app
 * answers nginx without upstream keep-alive, which sends Connection: close.
 *
 * Built with -DWITH_LLHTTP (bench/run's floor-llhttp), each read is also
 * parsed by llhttp, which then stops at the end of the head, with no callback
 * but that one: the least a server that parses with llhttp can do. A read that
 * is not a whole head closes its connection.
 */
#define _GNU_SOURCE /* accept4 */
#include <arpa/inet.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef WITH_LLHTTP
#include <llhttp.h>

static int head_done(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED;
}

static int parsed(const char *data, size_t len) {
  static const llhttp_settings_t settings = {.on_headers_complete = head_done};
  llhttp_t parser;
  llhttp_init(&parser, HTTP_REQUEST, &settings);
  return llhttp_execute(&parser, data, len) == HPE_PAUSED;
}
#else
static int parsed(const char *data, size_t len) {
  (void)data, (void)len;
  return 1;
}
#endif

#define X8 "xxxxxxxx"
#define BODY X8 X8 X8 X8 X8 X8 X8 X8
#define TYPE "Content-Type: application/octet-stream\r\n"
#define HEAD "HTTP/1.1 200 OK\r\n" TYPE "Content-Length: 64\r\n"
_Static_assert(sizeof BODY - 1 == 64, "the body is 64 bytes");

static char buf[64 * 1024];

static int listen_on(const char *where) {
  struct sockaddr_un un = {.sun_family = AF_UNIX};
  struct sockaddr_in in = {.sin_family = AF_INET};
  int fd, one = 1;
  if (strncmp(where, "unix:", 5) == 0 && strlen(where + 5) < sizeof un.sun_path) {
    strcpy(un.sun_path, where + 5);
    unlink(un.sun_path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&un, sizeof un) < 0)
      return -1;
  } else if (strncmp(where, "127.0.0.1:", 10) == 0 && atoi(where + 10) > 0) {
    in.sin_port = htons(atoi(where + 10));
    in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0 ||
        bind(fd, (struct sockaddr *)&in, sizeof in) < 0)
      return -1;
  } else {
    errno = EINVAL;
    return -1;
  }
  return listen(fd, SOMAXCONN) < 0 ? -1 : fd;
}

int main(int argc, char **argv) {
  int close_after = argc == 3 && strcmp(argv[1], "--close") == 0;
  if (argc != 2 + close_after) {
    fprintf(stderr, "usage: floor [--close] unix:PATH|127.0.0.1:PORT\n");
    return 2;
  }
  static const char keep[] = HEAD "\r\n" BODY,
                    closing[] = HEAD "Connection: close\r\n\r\n" BODY;
  const char *response = close_after ? closing : keep;
  size_t length = close_after ? sizeof closing - 1 : sizeof keep - 1;
  signal(SIGPIPE, SIG_IGN); /* a client gone before its response must not end the loop */
  int lfd = listen_on(argv[argc - 1]), ep = epoll_create1(0);
  struct epoll_event ev = {.events = EPOLLIN, .data.fd = lfd}, ready[64];
  if (lfd < 0 || ep < 0 || epoll_ctl(ep, EPOLL_CTL_ADD, lfd, &ev) < 0) {
    perror("floor");
    return 1;
  }
  for (;;) {
    int n = epoll_wait(ep, ready, 64, -1);
    for (int i = 0; i < n; i++) {
      int fd = ready[i].data.fd;
      if (fd == lfd) {
        ev.data.fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (ev.data.fd >= 0 && epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev) < 0)
          close(ev.data.fd);
        continue;
      }
      ssize_t got = read(fd, buf, sizeof buf);
      if (got < 0 && errno == EAGAIN)
        continue;
      /* A short write would be a broken response: the load tool reports it. */
      if (got <= 0 || !parsed(buf, (size_t)got) ||
          write(fd, response, length) != (ssize_t)length || close_after)
        close(fd);
    }
  }
}

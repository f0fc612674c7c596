#include "listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sock_diag.h>
#include <linux/unix_diag.h>

#include "log.h"

static int error_out(char *err, size_t errlen, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Writes the reason into err; returns code. */
static int error_out(char *err, size_t errlen, int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return code;
}

static void fill_sun(struct sockaddr_un *sun, const char *path) {
  memset(sun, 0, sizeof *sun);
  sun->sun_family = AF_UNIX;
  memcpy(sun->sun_path, path, strlen(path)); /* length checked by config */
}

/* Is someone accepting on the socket at path? 1 yes, 0 no (stale), -errno. */
static int unix_socket_is_live(const char *path) {
  struct sockaddr_un sun;
  fill_sun(&sun, path);
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -errno;
  int rc = connect(fd, (struct sockaddr *)&sun, sizeof sun);
  int e = errno;
  close(fd);
  if (rc == 0 || e == EAGAIN) /* EAGAIN: alive, its backlog is full */
    return 1;
  return e == ECONNREFUSED ? 0 : -e;
}

/* Clears the way for bind(): 0 when the path is free (stale socket removed). */
static int prepare_unix_path(const char *path, char *err, size_t errlen) {
  struct stat st;
  if (lstat(path, &st) < 0) {
    if (errno == ENOENT)
      return 0;
    return error_out(err, errlen, -errno, "cannot inspect %s: %s", path, strerror(errno));
  }
  if (!S_ISSOCK(st.st_mode))
    return error_out(err, errlen, -EEXIST,
                     "%s exists and is not a socket%s; refusing to touch it", path,
                     S_ISDIR(st.st_mode)   ? " (a directory)"
                     : S_ISLNK(st.st_mode) ? " (a symbolic link)"
                                           : "");
  int live = unix_socket_is_live(path);
  if (live > 0)
    return error_out(err, errlen, -EADDRINUSE,
                     "another server is listening on %s; refusing to start", path);
  if (live < 0)
    return error_out(err, errlen, live, "cannot probe the socket at %s: %s", path,
                     strerror(-live));
  if (unlink(path) < 0 && errno != ENOENT)
    return error_out(err, errlen, -errno, "cannot remove the stale socket %s: %s", path,
                     strerror(errno));
  log_warning("Replaced a stale socket at %s (nothing was listening on it)", path);
  return 0;
}

static int bind_unix(struct listener *l, const struct config *cfg, char *err,
                     size_t errlen) {
  const char *path = l->addr.path;
  struct sockaddr_un sun;
  struct stat st;
  int rc = prepare_unix_path(path, err, errlen);
  if (rc < 0)
    return rc;
  fill_sun(&sun, path);
  /* The umask makes the file's mode exact from the moment it exists. */
  mode_t old_mask = umask(~cfg->socket_mode & 0777);
  rc = bind(l->fd, (struct sockaddr *)&sun, sizeof sun);
  int e = errno;
  umask(old_mask);
  if (rc < 0 && e == ENOENT)
    return error_out(err, errlen, -e, "cannot bind %s: its directory does not exist",
                     path);
  if (rc < 0)
    return error_out(err, errlen, -e, "cannot bind %s: %s", path, strerror(e));
  if (lstat(path, &st) < 0)
    return error_out(err, errlen, -errno, "socket %s vanished after bind: %s", path,
                     strerror(errno));
  l->owns_path = true;
  l->dev = st.st_dev;
  l->ino = st.st_ino;
  if (cfg->socket_group_set && lchown(path, (uid_t)-1, cfg->socket_gid) < 0)
    return error_out(err, errlen, -errno, "cannot set the group of %s: %s", path,
                     strerror(errno));
  return 0;
}

static int bind_tcp(struct listener *l, const struct addrinfo *ai, char *err,
                    size_t errlen) {
  int one = 1;
  char name[300];
  setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  if (ai->ai_family == AF_INET6)
    setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
  if (bind(l->fd, ai->ai_addr, ai->ai_addrlen) == 0)
    return 0;
  int e = errno;
  bind_addr_format(&l->addr, name, sizeof name);
  return error_out(err, errlen, -e, "cannot bind %s: %s", name, strerror(e));
}

static int resolve(const struct bind_addr *a, struct addrinfo **res, char *err,
                   size_t errlen) {
  char port[8];
  struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
                           .ai_flags = AI_PASSIVE | AI_NUMERICSERV};
  snprintf(port, sizeof port, "%u", a->port);
  int rc = getaddrinfo(a->host[0] ? a->host : NULL, port, &hints, res);
  if (rc != 0)
    return error_out(err, errlen, -EINVAL, "cannot resolve '%s': %s", a->host,
                     gai_strerror(rc));
  return 0;
}

int listener_open(struct listener *l, const struct bind_addr *addr,
                  const struct config *cfg, char *err, size_t errlen) {
  struct addrinfo *ai = NULL;
  int family = AF_UNIX, rc;
  memset(l, 0, sizeof *l);
  l->addr = *addr;
  l->fd = -1;
  if (addr->kind == BIND_TCP) {
    if ((rc = resolve(addr, &ai, err, errlen)) < 0)
      return rc;
    family = ai->ai_family;
  }
  l->fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (l->fd < 0) {
    rc = error_out(err, errlen, -errno, "socket(): %s", strerror(errno));
    goto out;
  }
  rc = addr->kind == BIND_UNIX ? bind_unix(l, cfg, err, errlen)
                               : bind_tcp(l, ai, err, errlen);
  if (rc == 0 && listen(l->fd, cfg->backlog) < 0)
    rc = error_out(err, errlen, -errno, "listen(): %s", strerror(errno));
out:
  if (ai != NULL)
    freeaddrinfo(ai);
  if (rc < 0)
    listener_close(l);
  return rc;
}

static int describe_bound(struct listener *l, char *err, size_t errlen) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  if (getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0)
    return error_out(err, errlen, -errno, "inherited fd: %s", strerror(errno));
  if (ss.ss_family == AF_UNIX) {
    const struct sockaddr_un *sun = (const struct sockaddr_un *)&ss;
    size_t n = strnlen(sun->sun_path, sizeof sun->sun_path);
    l->addr.kind = BIND_UNIX;
    n = n < sizeof l->addr.path ? n : sizeof l->addr.path - 1;
    memcpy(l->addr.path, sun->sun_path, n);
    l->addr.path[n] = '\0';
    return 0;
  }
  l->addr.kind = BIND_TCP;
  if (ss.ss_family == AF_INET6) {
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, l->addr.host, sizeof l->addr.host);
    l->addr.port = ntohs(s6->sin6_port);
  } else {
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &s4->sin_addr, l->addr.host, sizeof l->addr.host);
    l->addr.port = ntohs(s4->sin_port);
  }
  return 0;
}

int listener_adopt(struct listener *l, int fd, bool owns_path, char *err, size_t errlen) {
  struct stat st;
  int rc;
  memset(l, 0, sizeof *l);
  l->fd = fd;
  if ((rc = describe_bound(l, err, errlen)) < 0)
    return rc;
  int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0 ||
      fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
    return error_out(err, errlen, -errno, "inherited fd: %s", strerror(errno));
  if (owns_path && l->addr.kind == BIND_UNIX && lstat(l->addr.path, &st) == 0) {
    l->owns_path = true;
    l->dev = st.st_dev;
    l->ino = st.st_ino;
  }
  return 0;
}

/* Forgets the socket file: someone else (a new master) will remove it. */
void listener_disown(struct listener *l) {
  l->owns_path = false;
}

void listener_close(struct listener *l) {
  if (l->fd >= 0)
    close(l->fd);
  l->fd = -1;
  if (!l->owns_path)
    return;
  l->owns_path = false;
  struct stat st;
  if (lstat(l->addr.path, &st) < 0)
    return;
  if (st.st_dev != l->dev || st.st_ino != l->ino) {
    log_warning("%s was replaced by another file while we ran; leaving it in place",
                l->addr.path);
    return;
  }
  if (unlink(l->addr.path) < 0)
    log_warning("cannot remove %s: %s", l->addr.path, strerror(errno));
}

void listener_name(const struct listener *l, char *out, size_t outlen) {
  struct sockaddr_storage ss;
  socklen_t len = sizeof ss;
  char host[INET6_ADDRSTRLEN];
  if (l->addr.kind == BIND_UNIX || getsockname(l->fd, (struct sockaddr *)&ss, &len) < 0) {
    bind_addr_format(&l->addr, out, outlen);
    return;
  }
  if (ss.ss_family == AF_INET6) {
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
    snprintf(out, outlen, "http://[%s]:%u", host, ntohs(s6->sin6_port));
  } else {
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
    snprintf(out, outlen, "http://%s:%u", host, ntohs(s4->sin_port));
  }
}

static int queue_from_reply(const char *reply, ssize_t n, uint32_t *depth,
                            uint32_t *max) {
  const struct nlmsghdr *h = (const struct nlmsghdr *)reply;
  if (!NLMSG_OK(h, (size_t)n) || h->nlmsg_type != SOCK_DIAG_BY_FAMILY)
    return h->nlmsg_type == NLMSG_ERROR ? -((const struct nlmsgerr *)NLMSG_DATA(h))->error
                                        : -EIO;
  const struct unix_diag_msg *msg = NLMSG_DATA(h);
  const struct rtattr *a = (const struct rtattr *)(msg + 1);
  size_t left = h->nlmsg_len - NLMSG_LENGTH(sizeof *msg);
  for (; RTA_OK(a, left); a = RTA_NEXT(a, left)) {
    if (a->rta_type == UNIX_DIAG_RQLEN) {
      const struct unix_diag_rqlen *q = RTA_DATA(a);
      *depth = q->udiag_rqueue;
      *max = q->udiag_wqueue;
      return 0;
    }
  }
  return -ENOENT;
}

int listener_queue(const struct listener *l, uint32_t *depth, uint32_t *max) {
  struct stat st;
  char reply[1024];
  if (l->addr.kind != BIND_UNIX || fstat(l->fd, &st) < 0)
    return -EINVAL;
  struct {
    struct nlmsghdr h;
    struct unix_diag_req r;
  } req = {
      .h = {.nlmsg_len = sizeof req,
            .nlmsg_type = SOCK_DIAG_BY_FAMILY,
            .nlmsg_flags = NLM_F_REQUEST},
      .r = {.sdiag_family = AF_UNIX,
            .udiag_states = 1u << 10 /* TCP_LISTEN */,
            .udiag_ino = (uint32_t)st.st_ino,
            .udiag_show = UDIAG_SHOW_RQLEN,
            .udiag_cookie = {UINT32_MAX, UINT32_MAX}},
  };
  int fd = socket(AF_NETLINK, SOCK_DGRAM | SOCK_CLOEXEC, NETLINK_SOCK_DIAG);
  if (fd < 0)
    return -errno;
  ssize_t n = send(fd, &req, sizeof req, 0) < 0 ? -1 : recv(fd, reply, sizeof reply, 0);
  int rc = n < 0 ? -errno : queue_from_reply(reply, n, depth, max);
  close(fd);
  return rc;
}

int listener_somaxconn(void) {
  int v = -1;
  FILE *f = fopen("/proc/sys/net/core/somaxconn", "r");
  if (f == NULL)
    return -1;
  if (fscanf(f, "%d", &v) != 1)
    v = -1;
  fclose(f);
  return v;
}

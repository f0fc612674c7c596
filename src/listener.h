/* Listening sockets and the Unix socket file's lifecycle: replace a stale
 * socket, refuse a live one or anything that is not a socket, apply mode and
 * group before the first accept, and on exit remove only the file we created. */
#ifndef UNIXCORN_LISTENER_H
#define UNIXCORN_LISTENER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "config.h"

struct listener {
  struct bind_addr addr;
  int fd;
  bool owns_path; /* we created the socket file at addr.path */
  dev_t dev;      /* ...and it is this inode */
  ino_t ino;
};

/* Binds and listens. Returns 0, or -errno with a one-line reason in err. */
int listener_open(struct listener *l, const struct bind_addr *addr,
                  const struct config *cfg, char *err, size_t errlen);
/* Takes over a listening socket opened by someone else: a master process, an
 * old master during an upgrade, or systemd. With owns_path, its socket file
 * is removed on close like one we bound ourselves. Returns 0 or -errno. */
int listener_adopt(struct listener *l, int fd, bool owns_path, char *err, size_t errlen);
/* Leaves the socket file alone on close: a new master has taken it over. */
void listener_disown(struct listener *l);
/* Closes the socket and removes its file if it is still ours. */
void listener_close(struct listener *l);
/* "unix:/tmp/app.sock", or the bound TCP address (with the real port for :0). */
void listener_name(const struct listener *l, char *out, size_t outlen);
/* For a Unix listener: connections waiting to be accepted, and the queue's
 * limit, from sock_diag (UDIAG_SHOW_RQLEN). Returns 0 or -errno. */
int listener_queue(const struct listener *l, uint32_t *depth, uint32_t *max);
/* net.core.somaxconn, or -1 when unreadable. */
int listener_somaxconn(void);

#endif

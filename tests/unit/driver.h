/* Drives a conn without a socket: feeds bytes in slices, collects what it
 * sends, including file-backed body parts. Shared by the unit tests and the
 * fuzzer. */
#ifndef UNIXCORN_TEST_DRIVER_H
#define UNIXCORN_TEST_DRIVER_H

#include <stddef.h>

#include "conn.h"
#include "app.h"

struct driver {
  struct config cfg;
  struct conn_env env;
  struct app app; /* what cfg.app names: echo (or --echo-stream's), inspect */
  struct conn conn;
  struct buf sent; /* everything the connection sent */
  size_t fed;      /* bytes of input the connection took */
  /* The client's reading side; zeroed by driver_init: it reads everything. */
  bool stalled;      /* reads nothing: driver_drain leaves the output pending */
  size_t read_slice; /* reads at most this many bytes at a time (0: any) */
};

/* The defaults, with spooled bodies in /tmp: what most tests start from. */
struct config driver_config(void);
void driver_init(struct driver *d, const struct config *cfg);
/* The same, serving an application given by its descriptor (an event one:
 * the driver has no thread pool). */
void driver_init_app(struct driver *d, const struct config *cfg,
                     const struct unixcorn_app *desc);
void driver_free(struct driver *d);
/* Feeds data, at most `slice` bytes per read (0: as much as fits), draining
 * output as the client reads (see stalled and read_slice). Stops when the connection
 * takes no more input. Returns the bytes taken. */
size_t driver_feed(struct driver *d, const char *data, size_t len, size_t slice);
void driver_drain(struct driver *d);
void driver_eof(struct driver *d);

#endif

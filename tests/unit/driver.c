#include "driver.h"

#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "app_load.h"

static void start(struct driver *d) {
  app_set_loop_thread();
  conn_env_init(&d->env, &d->cfg, &d->app);
  struct peer peer = {.family = AF_UNIX, .has_cred = 1, .pid = 1, .uid = 0};
  conn_init(&d->conn, &d->env, &peer);
}

struct config driver_config(void) {
  struct config cfg;
  config_defaults(&cfg);
  cfg.tmp_dir = "/tmp";
  return cfg;
}

void driver_init(struct driver *d, const struct config *cfg) {
  memset(d, 0, sizeof *d);
  d->cfg = *cfg;
  char err[256];
  if (app_load(&d->app, &d->cfg, err, sizeof err) < 0 ||
      app_init(&d->app, &d->cfg, err, sizeof err) < 0)
    abort();
  start(d);
}

void driver_init_app(struct driver *d, const struct config *cfg,
                     const struct unixcorn_app *desc) {
  memset(d, 0, sizeof *d);
  d->cfg = *cfg;
  app_use(&d->app, desc, NULL, d->cfg.tmp_dir);
  start(d);
}

void driver_free(struct driver *d) {
  conn_release(&d->conn);
  conn_env_release(&d->env);
  app_unload(&d->app);
  buf_release(&d->sent);
}

/* Takes up to max bytes of o into d->sent, as a read by the client would. */
static size_t take(struct driver *d, const struct conn_output *o, size_t max) {
  if (o->mem_len > 0) {
    size_t n = o->mem_len < max ? o->mem_len : max;
    buf_append(&d->sent, o->mem, n);
    return n;
  }
  char tmp[65536];
  size_t n = o->file_len < sizeof tmp ? o->file_len : sizeof tmp;
  ssize_t r = pread(o->fd, tmp, n < max ? n : max, (off_t)o->file_off);
  if (r <= 0)
    abort();
  buf_append(&d->sent, tmp, (size_t)r);
  return (size_t)r;
}

void driver_drain(struct driver *d) {
  struct conn_output o;
  size_t max = d->read_slice ? d->read_slice : SIZE_MAX;
  while (!d->stalled && conn_output(&d->conn, &o))
    conn_output_done(&d->conn, take(d, &o, max));
}

size_t driver_feed(struct driver *d, const char *data, size_t len, size_t slice) {
  size_t taken = 0;
  while (taken < len) {
    driver_drain(d);
    char *p;
    size_t room = conn_read_window(&d->conn, &p);
    if (room == 0)
      break;
    size_t n = len - taken;
    if (n > room)
      n = room;
    if (slice && n > slice)
      n = slice;
    memcpy(p, data + taken, n);
    conn_input(&d->conn, n);
    taken += n;
  }
  driver_drain(d);
  d->fed += taken;
  return taken;
}

void driver_eof(struct driver *d) {
  conn_input_eof(&d->conn);
  driver_drain(d);
}

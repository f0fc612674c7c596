/* Request IDs: one per request, to follow it from the proxy's log through the
 * response, the access log and a worker's last words. A trusted peer's
 * X-Request-ID is kept when it looks like one (Heroku's rule: 20 to 200 ASCII
 * letters, digits, '+', '/', '=' or '-'); any other request gets a fresh one.
 *
 * A fresh ID is 32 hex digits, as nginx's $request_id: 16 drawn at random
 * (getrandom(2)) the first time a process needs one, then a 64-bit counter.
 * So it costs no system call per request, and two workers never hand out the
 * same ID. It is unique, not secret: the next one is easy to guess. */
#ifndef UNIXCORN_REQUEST_ID_H
#define UNIXCORN_REQUEST_ID_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct request;

#define REQUEST_ID_MIN 20
#define REQUEST_ID_MAX 200
#define REQUEST_ID_FRESH_LEN 32

struct request_id {
  uint8_t len;                   /* 0: not assigned yet */
  char text[REQUEST_ID_MAX + 1]; /* NUL-terminated */
};

/* Whether s is an ID worth keeping, by the rule above. */
bool request_id_sane(const char *s, size_t len);
/* The first X-Request-ID field of r if the peer is trusted and the value is
 * sane, else a fresh ID. On the event loop only: the counter has no lock. */
void request_id_assign(struct request_id *id, const struct request *r, bool trusted);

#endif

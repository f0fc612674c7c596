/* An exchange's response, framed into its connection's output: the head (the
 * status line, the application's header fields, and the fields the server
 * owns), the body (as long as declared, chunked, or until the connection
 * closes), file parts, and the end. A HEAD request gets the head alone.
 *
 * What the application said before the first byte (status, fields, length)
 * is x->reply, set with the reply_* calls (reply.h), which also hold the
 * rules these functions check. Every call returns 0 or a negative
 * UNIXCORN_E* code (unixcorn/app.h), and runs on the event loop; app_api.c
 * fails the request when a rule is broken. */
#ifndef UNIXCORN_RESPOND_H
#define UNIXCORN_RESPOND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct exchange;

/* Body bytes. UNIXCORN_EAGAIN, with nothing taken, while the output is over
 * its high-water mark. */
int respond_write(struct exchange *x, const void *data, size_t len);
/* The same, taken whatever the output holds: for the bytes a blocking
 * application's thread staged, which are bounded (app_stage.h). */
int respond_take(struct exchange *x, const void *data, size_t len);
/* len bytes of fd from offset; UNIXCORN_EAGAIN while a file part waits. */
int respond_file(struct exchange *x, int fd, uint64_t offset, uint64_t len);
int respond_end(struct exchange *x);

/* Whether respond_write would take bytes now. */
bool respond_has_room(const struct exchange *x);
/* Output bytes not yet handed to the socket, file parts included. */
uint64_t respond_pending(const struct exchange *x);

#endif

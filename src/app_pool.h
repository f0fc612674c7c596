/* The threads of a blocking application (--threads): each runs a complete
 * request's on_request, and its response calls run on the event loop while
 * the thread waits for their results. */
#ifndef UNIXCORN_APP_POOL_H
#define UNIXCORN_APP_POOL_H

#include <uv.h>

#include "app.h"

struct exchange;

/* Hands a complete request to a thread. Returns 0, or -errno when no thread
 * can take it. */
int app_pool_start(struct app_pool *p, struct exchange *x);
/* The output has room: a write the request's thread waits on can go on. */
void app_pool_writable(struct app_pool *p, struct exchange *x);
/* On the request's thread: runs call on the event loop and waits for it. */
int app_pool_call(struct exchange *x, struct app_call *call);

#endif

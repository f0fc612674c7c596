/* The threads of a blocking application (--threads): each runs a complete
 * request's on_request, and its response calls run on the event loop while
 * the thread waits for their results. */
#ifndef UNIXCORN_APP_POOL_H
#define UNIXCORN_APP_POOL_H

#include <stdint.h>
#include <uv.h>

#include "app.h"

struct exchange;

/* nthreads threads for app, answering to loop. Returns 0 or -errno. */
int app_pool_create(struct app_pool **p, uv_loop_t *loop, const struct app *app,
                    size_t nthreads);
/* Closes the pool's libuv handle (the worker is stopping). */
void app_pool_close(struct app_pool *p);
/* After the loop ended: waits for every thread's request, then joins them. */
void app_pool_destroy(struct app_pool *p);
/* How long the oldest request on a thread has run (ms): what --timeout
 * watches, since the loop's heartbeats go on meanwhile. */
uint64_t app_pool_oldest_ms(struct app_pool *p);

/* Hands a complete request to a thread. Returns 0, or -errno when no thread
 * can take it. */
int app_pool_start(struct app_pool *p, struct exchange *x);
/* The output has room: a write the request's thread waits on can go on. */
void app_pool_writable(struct app_pool *p, struct exchange *x);
/* On the request's thread: runs call on the event loop and waits for it. */
int app_pool_call(struct exchange *x, struct app_call *call);

#endif

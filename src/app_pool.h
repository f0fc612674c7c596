/* The threads of a blocking application (--threads): each runs a complete
 * request's on_request. Its response calls are staged on the thread
 * (app_stage.c) and handed over to the event loop when bytes must move. */
#ifndef UNIXCORN_APP_POOL_H
#define UNIXCORN_APP_POOL_H

#include <stdbool.h>
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
/* The output has room: a hand-over the request's thread waits on can go on. */
void app_pool_writable(struct app_pool *p, struct exchange *x);
/* x lost its connection: a hand-over waiting for room gets UNIXCORN_ECLOSED. */
void app_pool_detached(struct app_pool *p, struct exchange *x);

/* On the request's thread, before it touches the request's stage: 0 once the
 * stage is the thread's again (a hand-over it did not wait for is done), or
 * UNIXCORN_ETHREAD on another thread, for which the loop fails the request. */
int app_pool_claim(struct exchange *x);
/* On the request's thread: the loop applies what the thread staged, then
 * runs call (app_call_run). wait: the thread gets its result once it ran;
 * otherwise it goes on at once (0), and the stage is the loop's until the
 * next app_pool_claim. UNIXCORN_ECLOSED once the worker stops. */
int app_pool_hand_over(struct exchange *x, struct app_call *call, bool wait);

#endif

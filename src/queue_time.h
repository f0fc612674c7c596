/* Queue time: how long a request waited before this server started it, from
 * the stamp a proxy puts on it (X-Request-Start: t=SECONDS, the Heroku and New
 * Relic convention; the bundled nginx config sends t=${msec}). It covers the
 * time in the proxy, in the listen queue and in the worker until the request's
 * first byte is read: the wait that Gunicorn cannot see, because "the queue is
 * on the socket". --max-queue-time answers a request that waited longer with
 * 503 at once, without running the application.
 *
 * The stamp is read only from peers whose X-Forwarded-For is believed (the
 * --forwarded-allow-ips rules; a Unix-socket peer always is). A stamp that is
 * malformed, ahead of our clock or absurdly old is counted and ignored, never
 * an error. Nothing here allocates or makes a system call: a request begins at
 * the worker's clock, read once per turn of its loop, and one more reading (a
 * vDSO call, as uv_hrtime) at its end gives its duration. */
#ifndef UNIXCORN_QUEUE_TIME_H
#define UNIXCORN_QUEUE_TIME_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "timing.h"

struct conn_env;
struct exchange;

/* A stamp may be this far ahead of our clock and count as no wait: the
 * proxy's clock and ours are read at different moments, or are two machines'
 * clocks. Further ahead, it is ignored. */
#define QUEUE_TIME_AHEAD_MAX_US 1000000u
/* No proxy holds a request this long: an older stamp is in another unit, or
 * forged, and ignored. */
#define QUEUE_TIME_OLDEST_US 3600000000u

/* The value of X-Request-Start, seen when the wall clock read now_us (µs since
 * the epoch): "t=" (optional), then seconds with a fraction ("1700000000.123")
 * or a whole number of seconds, milliseconds, microseconds or nanoseconds,
 * told apart by their size. STAMP_OK sets *queue_us. */
enum stamp_verdict queue_time_judge(const char *value, size_t len, uint64_t now_us,
                                    uint64_t *queue_us);

/* The wall clock's lead over the monotonic one (uv_hrtime), in ns: the worker
 * reads it once per heartbeat, and the wall time of an event is then its
 * monotonic time plus this, with no clock read per request. */
int64_t queue_time_wall_offset_ns(void);

/* At the end of a request's head: its queue time, counted (and kept for the
 * access log). True when it waited longer than --max-queue-time: it is to be
 * answered 503 without running the application (counted as shed). */
bool queue_time_at_head(struct conn_env *env, struct exchange *x);
/* A request answered, however: its duration, from the turn of the loop that
 * read its first byte (or the end of the request before it in that turn). */
void queue_time_at_end(struct conn_env *env, const struct exchange *x);

#endif

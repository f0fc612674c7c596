/* A test hook, for --max-worker-memory: a worker that grows. Variables whose
 * names start with UNIXCORN_DEBUG reach workers (handoff.h).
 *
 *   UNIXCORN_DEBUG_GROW_MIB=N     map and touch N MiB...
 *   UNIXCORN_DEBUG_GROW_AFTER=R   ...once the worker has answered R requests
 *                                 (default 0: at its first heartbeat)...
 *   UNIXCORN_DEBUG_GROW_BEATS=B   ...and let them go B heartbeats later
 *                                 (default 0: never): a spike.
 *
 * Once per worker. It runs from the heartbeat, never on a request's path. */
#ifndef UNIXCORN_DEBUG_GROW_H
#define UNIXCORN_DEBUG_GROW_H

#include <stddef.h>
#include <stdint.h>

struct debug_grow {
  size_t bytes; /* 0: off */
  uint64_t after;
  unsigned beats, held;
  void *mem;
  int done;
};

void debug_grow_init(struct debug_grow *g);
/* At each heartbeat, with the requests answered so far. */
void debug_grow_beat(struct debug_grow *g, uint64_t requests);
void debug_grow_release(struct debug_grow *g);

#endif

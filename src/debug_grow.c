#include "debug_grow.h"

#include <stdlib.h>
#include <sys/mman.h>

#include "log.h"

static uint64_t env_number(const char *name) {
  const char *v = getenv(name);
  return v != NULL ? strtoull(v, NULL, 10) : 0;
}

void debug_grow_init(struct debug_grow *g) {
  g->bytes = (size_t)env_number("UNIXCORN_DEBUG_GROW_MIB") << 20;
  g->after = env_number("UNIXCORN_DEBUG_GROW_AFTER");
  g->beats = (unsigned)env_number("UNIXCORN_DEBUG_GROW_BEATS");
  g->held = 0;
  g->mem = NULL;
  g->done = 0;
}

/* mmap rather than malloc, so that munmap gives the memory back at once; every
 * page written, so that all of it is resident. */
void debug_grow_beat(struct debug_grow *g, uint64_t requests) {
  if (g->mem != NULL && g->beats != 0 && ++g->held >= g->beats) {
    debug_grow_release(g);
    log_info("UNIXCORN_DEBUG_GROW_MIB: let go of %zu MiB", g->bytes >> 20);
  }
  if (g->bytes == 0 || g->done || requests < g->after)
    return;
  g->done = 1;
  g->mem =
      mmap(NULL, g->bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (g->mem == MAP_FAILED) {
    g->mem = NULL;
    return;
  }
  for (size_t i = 0; i < g->bytes; i += 4096)
    ((volatile char *)g->mem)[i] = 1;
  log_info("UNIXCORN_DEBUG_GROW_MIB: holding %zu MiB more", g->bytes >> 20);
}

void debug_grow_release(struct debug_grow *g) {
  if (g->mem != NULL)
    munmap(g->mem, g->bytes);
  g->mem = NULL;
}

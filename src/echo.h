/* The application: echoes each request body back. */
#ifndef UNIXCORN_ECHO_H
#define UNIXCORN_ECHO_H

#include <stdbool.h>

#include "config.h"
#include "handler.h"

struct echo_options {
  const char *tmp_dir; /* where bodies past SPOOL_MEMORY_MAX are spooled */
  bool stream;         /* --echo-stream: send the body back as it arrives */
  /* Tests only ($UNIXCORN_DEBUG_STALL_PATH): a request for this path blocks
   * the worker's loop for good, to exercise the master's --timeout. */
  const char *debug_stall_path;
};

extern const struct handler echo_handler;

void echo_options_init(struct echo_options *opt, const struct config *cfg);

#endif

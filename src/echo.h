/* The application: echoes each request body back. */
#ifndef UNIXCORN_ECHO_H
#define UNIXCORN_ECHO_H

#include <stdbool.h>

#include "handler.h"

struct echo_options {
  const char *tmp_dir; /* where bodies past SPOOL_MEMORY_MAX are spooled */
  bool stream;         /* --echo-stream: send the body back as it arrives */
};

extern const struct handler echo_handler;

#endif

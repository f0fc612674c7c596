/* What the files of the configuration share: config_options.c (the flags and
 * their help text), config.c (what each value means), config_bind.c
 * (addresses) and config_source.c (where settings come from). A flag of the
 * option table, and one setting applied to a struct config. */
#ifndef UNIXCORN_CONFIG_IMPL_H
#define UNIXCORN_CONFIG_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "errmsg.h"

/* Defaults that the flags' help text names too. */
#define DEFAULT_BIND "unix:/tmp/app.sock"
#define DEFAULT_FORWARDED_ALLOW "127.0.0.1,::1"

/* One per setting; an alias (--keep-alive) shares its flag's id. */
enum opt_id {
  OPT_BIND,
  OPT_WORKERS,
  OPT_TIMEOUT,
  OPT_MAX_REQUESTS,
  OPT_MAX_REQUESTS_JITTER,
  OPT_MAX_WORKER_MEMORY,
  OPT_MAX_WORKER_LIFETIME,
  OPT_MAX_WORKER_LIFETIME_JITTER,
  OPT_CONFIG,
  OPT_PID,
  OPT_CHECK_CONFIG,
  OPT_METRICS_BIND,
  OPT_BACKLOG,
  OPT_KEEPALIVE,
  OPT_HEADER_TIMEOUT,
  OPT_READ_TIMEOUT,
  OPT_GRACEFUL_TIMEOUT,
  OPT_SHUTDOWN_DELAY,
  OPT_MAX_QUEUE_TIME,
  OPT_LIMIT_LINE,
  OPT_LIMIT_FIELDS,
  OPT_LIMIT_FIELD_SIZE,
  OPT_LIMIT_BODY,
  OPT_TMP_DIR,
  OPT_ECHO_STREAM,
  OPT_APP,
  OPT_APP_ARG,
  OPT_THREADS,
  OPT_SOCKET_MODE,
  OPT_SOCKET_GROUP,
  OPT_FORWARDED_ALLOW,
  OPT_WORKER_CONNECTIONS,
  OPT_ALLOW_UID,
  OPT_ALLOW_GID,
  OPT_ACCESS_LOG,
  OPT_ACCESS_LOGFORMAT,
  OPT_ERROR_LOG,
  OPT_LOG_LEVEL,
  OPT_HELP,
  OPT_VERSION,
};

struct option_spec {
  const char *name;
  char short_name;
  enum opt_id id;
  const char *arg;  /* NULL: a switch */
  const char *help; /* NULL: an alias, listed under the first spelling */
};

/* Where a flag may be given, and what a reload (HUP) does with it. */
enum option_scope {
  SCOPE_ANY,     /* anywhere; a reload gives new workers the new value */
  SCOPE_FIXED,   /* anywhere; used once at start (--bind), a reload keeps it */
  SCOPE_COMMAND, /* what to do rather than how (--config, --help): not in a file,
                    and not handed to children */
};

/* NULL if there is no such flag. Aliases (--keep-alive) are entries too. */
const struct option_spec *config_find_long(const char *name, size_t len);
const struct option_spec *config_find_short(char c);
const char *config_option_name(const struct option_spec *o);
bool config_option_is_switch(const struct option_spec *o);
/* The same flag, under either of its spellings? */
bool config_same_option(const struct option_spec *a, const struct option_spec *b);
enum option_scope config_option_scope(const struct option_spec *o);

/* One setting; value is NULL for a switch given bare, or "true" or "false".
 * On CONFIG_ERROR, why holds the reason (without the flag's name). */
enum config_result config_apply(struct config *cfg, const struct option_spec *o,
                                const char *value, char *why, size_t whylen);
/* Digits only (no sign, space or prefix), at most max: 0, or -1. */
int config_parse_uint(const char *s, uint64_t max, uint64_t *out);

/* Splits text in place into words as a POSIX shell does, quotes and
 * backslashes included, with no expansion of any kind: UNIXCORN_CMD_ARGS.
 * Returns the number of words, or -1 after writing why. */
int config_split_words(char *text, char **words, int max, char *why, size_t whylen);

/* --bind's default, if no --bind was given. */
void config_add_default_bind(struct config *cfg);

#endif

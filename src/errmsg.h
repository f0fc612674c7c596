/* A reason for the caller, written into its buffer: the one helper behind the
 * `char *err, size_t errlen` parameters of the configuration, the access-log
 * format and the application loader. */
#ifndef UNIXCORN_ERRMSG_H
#define UNIXCORN_ERRMSG_H

#include <stddef.h>

/* Writes the formatted reason into err (cut to errlen bytes, NUL-terminated);
 * returns -1, so that `return errmsg(err, errlen, ...);` reports a failure. */
int errmsg(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif

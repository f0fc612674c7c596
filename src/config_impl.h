/* What config.c shares with the files that parse parts of a configuration
 * (config_bind.c). */
#ifndef UNIXCORN_CONFIG_IMPL_H
#define UNIXCORN_CONFIG_IMPL_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

/* Writes the reason into err; returns -1. */
int config_error(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Digits only (no sign, space or prefix), at most max: 0, or -1. */
int config_parse_uint(const char *s, uint64_t max, uint64_t *out);

#endif

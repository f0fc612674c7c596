/* A strict JSON syntax checker, for the fuzz target and the unit tests to
 * judge what the inspect application writes. Written apart from inspect.c
 * (its UTF-8 check decodes code points instead of using byte ranges), so the
 * two do not share a mistake. */
#ifndef UNIXCORN_TEST_JSON_CHECK_H
#define UNIXCORN_TEST_JSON_CHECK_H

#include <stdbool.h>
#include <stddef.h>

/* The deepest nesting json_valid follows; deeper input is refused. */
#define JSON_MAX_DEPTH 64

/* Whether s[0..len) is exactly one JSON text as RFC 8259 defines it:
 * whitespace around one value; strings of valid UTF-8 (RFC 3629) with no raw
 * control character and only the escapes the RFC names, \u escapes of
 * surrogates only in high-low pairs; numbers in the RFC's grammar; no
 * trailing commas, no comments, nothing after the value. */
bool json_valid(const char *s, size_t len);

#endif

/* Shared by http1.c (the request line, the body, and the order of things) and
 * http1_fields.c (the field section); not for the rest of the server. */
#ifndef UNIXCORN_HTTP1_IMPL_H
#define UNIXCORN_HTTP1_IMPL_H

#include <stdlib.h>

#include "http1.h"

#define FRAMING_RUN_MAX 8192 /* bytes between tokens: OWS, empty lines */

/* Records the first error of a message; returns HPE_USER. */
int http1_refuse(struct http1 *h, int status, const char *reason);

/* Keeps len bytes that llhttp took of the field section, after the request
 * line's parts in the request's buffer; refuses a line or a section that has
 * outgrown the limits. Returns 0 or HPE_USER. */
int http1_fields_keep(struct http1 *h, const char *data, size_t len);

/* Checks the kept section and fills the request's field list. whole: llhttp
 * found the empty line that ends it, which must be a CRLF; otherwise only the
 * lines that are all there are looked at, for an error before llhttp's.
 * Returns 0 or HPE_USER. */
int http1_fields_scan(struct http1 *h, bool whole);

/* Makes the whitespace before a field line's CR acceptable to llhttp; returns
 * how many of len bytes llhttp may have now (see http1_fields.c). */
size_t http1_tame_tabs(struct http1 *h, char *data, size_t len);

#endif

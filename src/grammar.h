/* The character classes of RFC 9110 and RFC 3986 that HTTP framing needs, and
 * the forms of a request target (RFC 9112, section 3.2) and of a Host field
 * value. Pure functions over bytes: no state, no allocation. */
#ifndef UNIXCORN_GRAMMAR_H
#define UNIXCORN_GRAMMAR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum {
  CHAR_TCHAR = 1 << 0,   /* token: field names, methods, chunk-ext names */
  CHAR_VALUE = 1 << 1,   /* field-vchar or SP/HTAB: field values */
  CHAR_TARGET = 1 << 2,  /* a request target's path and query (see grammar.c) */
  CHAR_REGNAME = 1 << 3, /* unreserved / sub-delims: reg-name, userinfo, IPvFuture */
  CHAR_QDTEXT = 1 << 4,  /* inside a quoted-string, other than '"' and '\' */
  CHAR_HEX = 1 << 5,
};

extern const uint8_t http_char_class[256];

static inline bool char_is(unsigned char c, unsigned cls) {
  return (http_char_class[c] & cls) != 0;
}

static inline bool is_ows(char c) {
  return c == ' ' || c == '\t';
}

/* Whether s is a token (RFC 9110, section 5.6.2): one or more tchars, as a
 * field name or a method is. */
bool is_token(const char *s, size_t len);

/* The first byte from p on that a field value cannot hold (a CTL other than
 * HTAB, or DEL), or end. Eight bytes at a time while none is below SP or is
 * DEL: a third of the instructions of a byte loop on the values of a request
 * and of its echo (callgrind). */
const char *field_value_end(const char *p, const char *end);

/* A list-valued field (#element, RFC 9110, section 5.6.1: elements between
 * commas, OWS around them, empty ones allowed) matched element by element as
 * its bytes arrive, against one element, ignoring case. */
struct list_match {
  const char *want;
  size_t pos;   /* bytes of the current element matched so far */
  bool matched; /* the current element equals want so far */
  bool in_element, ws_seen;
  unsigned wanted, others; /* elements that were want, and that were not */
  unsigned lines;          /* field lines fed */
  bool last_wanted;
};

void list_init(struct list_match *m, const char *want);
void list_feed(struct list_match *m, const char *s, size_t len);
/* The end of a field line ends an element too. */
void list_end_element(struct list_match *m);

enum target_form {
  TARGET_INVALID,
  TARGET_ORIGIN,    /* /path?query */
  TARGET_ABSOLUTE,  /* scheme://authority/path?query */
  TARGET_ASTERISK,  /* *, for OPTIONS */
  TARGET_AUTHORITY, /* host:port, for CONNECT */
};

/* Which form of RFC 9112, section 3.2, the target has. Absolute-form needs an
 * authority ("//"); an "http" or "https" one also needs a host and no userinfo
 * (RFC 9110, section 4.2). */
enum target_form target_form(const char *t, size_t len);

/* Where a target's path starts: after "scheme://authority" in absolute-form,
 * else at 0. Its query is what follows the first '?' from there. */
size_t target_path_start(const char *t, size_t len);

/* A Host field value: uri-host [ ":" port ], or empty (RFC 9112, 3.2). */
bool host_value_valid(const char *v, size_t len);

#endif

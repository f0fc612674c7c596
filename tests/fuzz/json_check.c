/* Recursive descent over RFC 8259's grammar; every function returns false at
 * the first byte that does not fit. */
#include "json_check.h"

#include <stdint.h>
#include <string.h>

struct cursor {
  const unsigned char *p, *end;
  int depth;
};

static bool value(struct cursor *c);

static bool at(const struct cursor *c, unsigned char ch) {
  return c->p < c->end && *c->p == ch;
}

static void skip_ws(struct cursor *c) {
  while (c->p < c->end &&
         (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r'))
    c->p++;
}

static bool literal(struct cursor *c, const char *word) {
  size_t n = strlen(word);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, word, n) != 0)
    return false;
  c->p += n;
  return true;
}

static bool digits(struct cursor *c) {
  const unsigned char *start = c->p;
  while (c->p < c->end && *c->p >= '0' && *c->p <= '9')
    c->p++;
  return c->p > start;
}

/* -? (0 | [1-9][0-9]*) (.[0-9]+)? ([eE][+-]?[0-9]+)? */
static bool number(struct cursor *c) {
  if (at(c, '-'))
    c->p++;
  if (at(c, '0'))
    c->p++;
  else if (c->p >= c->end || *c->p < '1' || *c->p > '9' || !digits(c))
    return false;
  if (at(c, '.')) {
    c->p++;
    if (!digits(c))
      return false;
  }
  if (at(c, 'e') || at(c, 'E')) {
    c->p++;
    if (at(c, '+') || at(c, '-'))
      c->p++;
    if (!digits(c))
      return false;
  }
  return true;
}

/* Four hex digits after "\u". */
static bool hex4(struct cursor *c, unsigned *out) {
  unsigned v = 0;
  if (c->end - c->p < 4)
    return false;
  for (int i = 0; i < 4; i++) {
    unsigned char h = *c->p++;
    unsigned d = h >= '0' && h <= '9'   ? h - '0'
                 : h >= 'a' && h <= 'f' ? h - 'a' + 10
                 : h >= 'A' && h <= 'F' ? h - 'A' + 10
                                        : 16;
    if (d == 16)
      return false;
    v = v << 4 | d;
  }
  *out = v;
  return true;
}

/* After the backslash. A high surrogate must be followed by an escaped low
 * one; a low one alone is refused. */
static bool escape(struct cursor *c) {
  unsigned u, low;
  if (c->p >= c->end)
    return false;
  unsigned char e = *c->p++;
  if (e != 'u')
    return strchr("\"\\/bfnrt", e) != NULL && e != '\0';
  if (!hex4(c, &u))
    return false;
  if (u >= 0xdc00 && u <= 0xdfff)
    return false;
  if (u < 0xd800 || u > 0xdbff)
    return true;
  return literal(c, "\\u") && hex4(c, &low) && low >= 0xdc00 && low <= 0xdfff;
}

/* One code point of UTF-8, decoded, then judged: the shortest form, no
 * surrogate, at most U+10FFFF. */
static bool utf8_char(struct cursor *c) {
  static const uint32_t min[] = {0, 0, 0x80, 0x800, 0x10000};
  unsigned char lead = *c->p++;
  int n = lead >= 0xf0 && lead <= 0xf7   ? 4
          : lead >= 0xe0 && lead <= 0xef ? 3
          : lead >= 0xc0 && lead <= 0xdf ? 2
                                         : 0;
  if (n == 0 || c->end - c->p < n - 1)
    return false;
  uint32_t cp = lead & (0x7f >> n);
  for (int i = 1; i < n; i++) {
    unsigned char b = *c->p++;
    if ((b & 0xc0) != 0x80)
      return false;
    cp = cp << 6 | (b & 0x3f);
  }
  return cp >= min[n] && cp <= 0x10ffff && (cp < 0xd800 || cp > 0xdfff);
}

static bool string(struct cursor *c) {
  if (!at(c, '"'))
    return false;
  c->p++;
  while (c->p < c->end) {
    unsigned char ch = *c->p;
    if (ch == '"') {
      c->p++;
      return true;
    }
    if (ch < 0x20)
      return false;
    if (ch == '\\') {
      c->p++;
      if (!escape(c))
        return false;
    } else if (ch >= 0x80) {
      if (!utf8_char(c))
        return false;
    } else {
      c->p++;
    }
  }
  return false;
}

/* The members of an object or the elements of an array, up to close. */
static bool members(struct cursor *c, unsigned char close, bool named) {
  c->p++;
  skip_ws(c);
  if (at(c, close)) {
    c->p++;
    return true;
  }
  for (;;) {
    if (named) {
      if (!string(c))
        return false;
      skip_ws(c);
      if (!at(c, ':'))
        return false;
      c->p++;
    }
    if (!value(c))
      return false;
    if (at(c, close)) {
      c->p++;
      return true;
    }
    if (!at(c, ','))
      return false;
    c->p++;
    skip_ws(c);
  }
}

/* A value with the whitespace around it. */
static bool value(struct cursor *c) {
  bool ok;
  skip_ws(c);
  if (c->p >= c->end)
    return false;
  switch (*c->p) {
  case '{':
  case '[':
    if (++c->depth > JSON_MAX_DEPTH)
      return false;
    ok = members(c, *c->p == '{' ? '}' : ']', *c->p == '{');
    c->depth--;
    break;
  case '"': ok = string(c); break;
  case 't': ok = literal(c, "true"); break;
  case 'f': ok = literal(c, "false"); break;
  case 'n': ok = literal(c, "null"); break;
  default: ok = number(c); break;
  }
  skip_ws(c);
  return ok;
}

bool json_valid(const char *s, size_t len) {
  struct cursor c = {(const unsigned char *)s, (const unsigned char *)s + len, 0};
  return value(&c) && c.p == c.end;
}

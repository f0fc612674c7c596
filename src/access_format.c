/* Compiling --access-logformat: Gunicorn's %(NAME)s atoms, the default line
 * and the JSON form become one table of ops (access_log.h), checked once, so
 * that writing a line never fails and never allocates. */
#include "access_log.h"

#include <stdio.h>
#include <string.h>

#include "errmsg.h"
#include "grammar.h"

#define DEFAULT_SPEC                                                                     \
  "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(B)s \"%(f)s\" \"%(a)s\" %(L)s"

static const struct {
  char name;
  uint8_t atom;
  bool number; /* may also be written %(X)d */
} letters[] = {
    {'h', ACCESS_CLIENT, false},       {'l', ACCESS_DASH, false},
    {'u', ACCESS_DASH, false},         {'t', ACCESS_TIME, false},
    {'r', ACCESS_REQUEST_LINE, false}, {'m', ACCESS_METHOD, false},
    {'U', ACCESS_PATH, false},         {'q', ACCESS_QUERY, false},
    {'H', ACCESS_PROTOCOL, false},     {'s', ACCESS_STATUS, true},
    {'b', ACCESS_BYTES_CLF, false},    {'B', ACCESS_BYTES, true},
    {'f', ACCESS_REFERER, false},      {'a', ACCESS_USER_AGENT, false},
    {'T', ACCESS_SECONDS, true},       {'D', ACCESS_MICROSECONDS, true},
    {'M', ACCESS_MILLISECONDS, true},  {'L', ACCESS_DECIMAL_SECONDS, false},
    {'p', ACCESS_PID, false},
};

/* unixcorn's own atoms: words, so they never clash with a letter Gunicorn adds. */
static const struct {
  const char *name;
  uint8_t atom;
} words[] = {
    {"request_id", ACCESS_REQUEST_ID},
    {"peer_pid", ACCESS_PEER_PID},
    {"peer_uid", ACCESS_PEER_UID},
    {"queue_time", ACCESS_QUEUE_TIME},
};

/* The JSON form: these keys, in this order, every one always present. */
static const struct {
  const char *key;
  uint8_t atom;
} json_keys[] = {
    {"time", ACCESS_ISO_TIME},
    {"request_id", ACCESS_REQUEST_ID},
    {"client", ACCESS_CLIENT},
    {"method", ACCESS_METHOD},
    {"target", ACCESS_TARGET},
    {"path", ACCESS_PATH},
    {"query", ACCESS_QUERY},
    {"protocol", ACCESS_PROTOCOL},
    {"status", ACCESS_STATUS},
    {"bytes", ACCESS_BYTES},
    {"duration_us", ACCESS_MICROSECONDS},
    {"queue_time", ACCESS_QUEUE_TIME},
    {"referer", ACCESS_REFERER},
    {"user_agent", ACCESS_USER_AGENT},
    {"host", ACCESS_HOST_FIELD},
    {"worker_pid", ACCESS_WORKER_PID},
    {"peer_pid", ACCESS_PEER_PID},
    {"peer_uid", ACCESS_PEER_UID},
};

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* An op, with its text (a literal, or a header name, lowercased). */
static int add_op(struct access_format *f, uint8_t atom, const char *s, size_t len) {
  if (f->nops == COUNT(f->ops) || f->text_len + len > sizeof f->text)
    return -1;
  struct access_op *op = &f->ops[f->nops++];
  *op = (struct access_op){
      .atom = atom, .off = (uint16_t)f->text_len, .len = (uint16_t)len};
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    f->text[f->text_len++] =
        atom != ACCESS_LITERAL && c >= 'A' && c <= 'Z' ? c | 0x20 : c;
  }
  return 0;
}

/* The least an op writes: a value may be cut short, never these. */
static size_t least(const struct access_format *f, const struct access_op *op) {
  switch (op->atom) {
  case ACCESS_LITERAL: return op->len;
  case ACCESS_QUERY: return f->json ? 4 : 0;
  case ACCESS_CLIENT:
  case ACCESS_DASH:
  case ACCESS_METHOD:
  case ACCESS_PATH:
  case ACCESS_REFERER:
  case ACCESS_USER_AGENT:
  case ACCESS_REQUEST_HEADER:
  case ACCESS_RESPONSE_HEADER:
  case ACCESS_REQUEST_ID:
  case ACCESS_TARGET:
  case ACCESS_HOST_FIELD: return f->json ? 4 : 1; /* null, or "-" */
  default: return ACCESS_FIXED_MAX;
  }
}

/* Each op's room for the ones after it, and the line's newline. */
static int reserve(struct access_format *f, char *err, size_t errlen) {
  size_t after = 1;
  for (size_t i = f->nops; i-- > 0;) {
    f->ops[i].after = (uint16_t)after;
    after += least(f, &f->ops[i]);
    if (after > ACCESS_LINE_MAX)
      return errmsg(err, errlen, "its fixed parts alone pass %d bytes", ACCESS_LINE_MAX);
  }
  return 0;
}

/* {name}i or {name}o: the op's text is the name. */
static int add_header_atom(struct access_format *f, const char *name, size_t len,
                           char *err, size_t errlen) {
  char kind = name[len - 1];
  if (kind == 'e')
    return errmsg(err, errlen,
                  "%%(%.*s)s: environment variables ({NAME}e) are not logged", (int)len,
                  name);
  if (name[len - 2] != '}' || (kind != 'i' && kind != 'o') ||
      !is_token(name + 1, len - 3))
    return errmsg(err, errlen, "%%(%.*s)s: expected {HEADER}i or {HEADER}o", (int)len,
                  name);
  return add_op(f, kind == 'i' ? ACCESS_REQUEST_HEADER : ACCESS_RESPONSE_HEADER, name + 1,
                len - 3);
}

/* Which atom NAME is, and whether it is always a number; -1 if none. */
static int atom_named(const char *name, size_t len, bool *number) {
  *number = false;
  for (size_t i = 0; len == 1 && i < COUNT(letters); i++)
    if (letters[i].name == name[0]) {
      *number = letters[i].number;
      return letters[i].atom;
    }
  for (size_t i = 0; len > 1 && i < COUNT(words); i++)
    if (strlen(words[i].name) == len && memcmp(words[i].name, name, len) == 0)
      return words[i].atom;
  return -1;
}

/* %(NAME)conv. */
static int add_atom(struct access_format *f, const char *name, size_t len, char conv,
                    char *err, size_t errlen) {
  bool number;
  int atom =
      len >= 3 && name[0] == '{' ? ACCESS_REQUEST_HEADER : atom_named(name, len, &number);
  if (atom < 0)
    return errmsg(err, errlen, "no atom %%(%.*s)%c (the atoms are in docs/logging.md)",
                  (int)len, name, conv);
  if (conv == 'd' && (atom == ACCESS_REQUEST_HEADER || !number))
    return errmsg(err, errlen, "%%(%.*s)d: not always a number; write %%(%.*s)s",
                  (int)len, name, (int)len, name);
  if (atom == ACCESS_REQUEST_HEADER)
    return add_header_atom(f, name, len, err, errlen);
  return add_op(f, (uint8_t)atom, NULL, 0);
}

/* Python's %-formatting, as Gunicorn applies it: %(NAME)s and %(NAME)d, %% for
 * a percent sign, anything else as it is. */
static int parse_spec(struct access_format *f, const char *spec, char *err,
                      size_t errlen) {
  char lit[ACCESS_FORMAT_MAX];
  size_t nlit = 0, atoms = 0;
  for (const char *p = spec; *p != '\0';) {
    unsigned char c = (unsigned char)*p;
    if (c != '%') {
      if (c < 0x20 && c != '\t')
        return errmsg(err, errlen, "a control character (0x%02x) cannot be in a line", c);
      lit[nlit++] = *p++;
      continue;
    }
    if (p[1] == '%') {
      lit[nlit++] = '%';
      p += 2;
      continue;
    }
    const char *close = p[1] == '(' ? strchr(p + 2, ')') : NULL;
    if (close == NULL || (close[1] != 's' && close[1] != 'd'))
      return errmsg(
          err, errlen,
          "at byte %zu: a '%%' starts %%(NAME)s or %%(NAME)d, or is written %%%%",
          (size_t)(p - spec) + 1);
    if (++atoms > ACCESS_ATOMS_MAX)
      return errmsg(err, errlen, "more than %d atoms", ACCESS_ATOMS_MAX);
    if (nlit > 0 && add_op(f, ACCESS_LITERAL, lit, nlit) < 0)
      return errmsg(err, errlen, "too many parts");
    if (add_atom(f, p + 2, (size_t)(close - p - 2), close[1], err, errlen) < 0)
      return -1;
    nlit = 0;
    p = close + 2;
  }
  return nlit > 0 ? add_op(f, ACCESS_LITERAL, lit, nlit) : 0;
}

static void compile_json(struct access_format *f) {
  char lit[32];
  for (size_t i = 0; i < COUNT(json_keys); i++) {
    int n = snprintf(lit, sizeof lit, "%s\"%s\":", i ? "," : "{", json_keys[i].key);
    add_op(f, ACCESS_LITERAL, lit, (size_t)n);
    add_op(f, json_keys[i].atom, NULL, 0);
  }
  add_op(f, ACCESS_LITERAL, "}", 1);
}

int access_format_compile(struct access_format *f, const char *spec, char *err,
                          size_t errlen) {
  memset(f, 0, offsetof(struct access_format, ops));
  if (spec != NULL && strcmp(spec, "json") == 0) {
    f->json = true;
    compile_json(f);
    return reserve(f, err, errlen);
  }
  if (spec != NULL && strlen(spec) >= ACCESS_FORMAT_MAX)
    return errmsg(err, errlen, "longer than %d bytes", ACCESS_FORMAT_MAX - 1);
  if (parse_spec(f, spec ? spec : DEFAULT_SPEC, err, errlen) < 0)
    return -1;
  if (spec == NULL)
    add_op(f, ACCESS_DEFAULT_TAIL, NULL, 0);
  return reserve(f, err, errlen);
}

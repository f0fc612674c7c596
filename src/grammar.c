#include "grammar.h"

#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

#define T CHAR_TCHAR
#define V CHAR_VALUE
#define P CHAR_TARGET
#define R CHAR_REGNAME
#define Q CHAR_QDTEXT
#define H CHAR_HEX

/* A target's path and query take every visible character but '#', and obs-text:
 * stricter than RFC 3986 would refuse browsers, which send '{', '|', '}', '^'
 * and '`' unencoded in queries (WHATWG URL), as nginx accepts them. */
const uint8_t http_char_class[256] = {
    ['\t'] = V | Q,
    [' '] = V | Q,
    ['!'] = T | V | P | R | Q,
    ['"'] = V | P,
    ['#'] = T | V | Q,
    ['$'] = T | V | P | R | Q,
    ['%'] = T | V | P | Q,
    ['&'] = T | V | P | R | Q,
    ['\''] = T | V | P | R | Q,
    ['('] = V | P | R | Q,
    [')'] = V | P | R | Q,
    ['*'] = T | V | P | R | Q,
    ['+'] = T | V | P | R | Q,
    [','] = V | P | R | Q,
    ['-'] = T | V | P | R | Q,
    ['.'] = T | V | P | R | Q,
    ['/'] = V | P | Q,
    ['0' ... '9'] = T | V | P | R | Q | H,
    [':'] = V | P | Q,
    [';'] = V | P | R | Q,
    ['<'] = V | P | Q,
    ['='] = V | P | R | Q,
    ['>'] = V | P | Q,
    ['?'] = V | P | Q,
    ['@'] = V | P | Q,
    ['A' ... 'F'] = T | V | P | R | Q | H,
    ['G' ... 'Z'] = T | V | P | R | Q,
    ['['] = V | P | Q,
    ['\\'] = V | P,
    [']'] = V | P | Q,
    ['^'] = T | V | P | Q,
    ['_'] = T | V | P | R | Q,
    ['`'] = T | V | P | Q,
    ['a' ... 'f'] = T | V | P | R | Q | H,
    ['g' ... 'z'] = T | V | P | R | Q,
    ['{'] = V | P | Q,
    ['|'] = T | V | P | Q,
    ['}'] = V | P | Q,
    ['~'] = T | V | P | R | Q,
    [0x80 ... 0xff] = V | P | Q,
};

#undef T
#undef V
#undef P
#undef R
#undef Q
#undef H

/* Characters of cls (or the character `also`) and pct-encoded triplets. */
static bool all_of(const char *s, const char *end, unsigned cls, int also) {
  for (; s < end; s++) {
    if (*s == '%') {
      if (end - s < 3 || !char_is((unsigned char)s[1], CHAR_HEX) ||
          !char_is((unsigned char)s[2], CHAR_HEX))
        return false;
      s += 2;
    } else if ((unsigned char)*s != also && !char_is((unsigned char)*s, cls)) {
      return false;
    }
  }
  return true;
}

/* IPvFuture = "v" 1*HEXDIG "." 1*( unreserved / sub-delims / ":" ) */
static bool ipvfuture_valid(const char *s, const char *end) {
  const char *p = s + 1;
  while (p < end && char_is((unsigned char)*p, CHAR_HEX))
    p++;
  if (p == s + 1 || p >= end || *p != '.' || p + 1 == end)
    return false;
  for (p++; p < end; p++)
    if (*p != ':' && !char_is((unsigned char)*p, CHAR_REGNAME))
      return false;
  return true;
}

/* The inside of "[...]": an IPv6 address or IPvFuture. */
static bool ip_literal_valid(const char *s, const char *end) {
  char text[INET6_ADDRSTRLEN];
  unsigned char bin[16];
  size_t n = (size_t)(end - s);
  if (n > 0 && (*s == 'v' || *s == 'V'))
    return ipvfuture_valid(s, end);
  if (n == 0 || n >= sizeof text)
    return false;
  memcpy(text, s, n);
  text[n] = '\0';
  return inet_pton(AF_INET6, text, bin) == 1;
}

/* port = *DIGIT; one that no TCP port could be is refused too. */
static bool port_valid(const char *s, const char *end, bool required) {
  unsigned long v = 0;
  if (s == end)
    return !required;
  for (; s < end; s++) {
    if (*s < '0' || *s > '9')
      return false;
    v = v * 10 + (unsigned long)(*s - '0');
    if (v > 65535)
      return false;
  }
  return true;
}

struct authority_rules {
  bool userinfo_allowed, host_required, port_required;
};

/* authority = [ userinfo "@" ] host [ ":" port ] (RFC 3986, section 3.2) */
static bool authority_valid(const char *s, const char *end,
                            const struct authority_rules *rules) {
  const char *at = memchr(s, '@', (size_t)(end - s)), *host = s, *host_end;
  if (at != NULL) {
    /* userinfo = *( unreserved / pct-encoded / sub-delims / ":" ) */
    if (!rules->userinfo_allowed || !all_of(s, at, CHAR_REGNAME, ':'))
      return false;
    host = at + 1;
  }
  const char *port = NULL;
  if (host < end && *host == '[') {
    const char *close = memchr(host, ']', (size_t)(end - host));
    if (close == NULL || !ip_literal_valid(host + 1, close))
      return false;
    host_end = close + 1;
    if (host_end < end && *host_end != ':')
      return false;
  } else {
    host_end = memchr(host, ':', (size_t)(end - host));
    if (host_end == NULL)
      host_end = end;
    if (!all_of(host, host_end, CHAR_REGNAME, -1))
      return false;
  }
  if (host_end < end)
    port = host_end + 1;
  if (rules->host_required && host_end == host)
    return false;
  return port ? port_valid(port, end, rules->port_required) : !rules->port_required;
}

/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ); returns its end. */
static const char *scheme_end(const char *t, const char *end) {
  const char *p = t;
  if (p == end || !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z')))
    return NULL;
  for (p++; p < end; p++) {
    char c = *p;
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '+' || c == '-' || c == '.'))
      break;
  }
  return p;
}

static bool path_and_query_valid(const char *s, const char *end) {
  for (; s < end; s++)
    if (!char_is((unsigned char)*s, CHAR_TARGET))
      return false;
  return true;
}

static bool is_http_scheme(const char *t, size_t len) {
  return (len == 4 && strncasecmp(t, "http", 4) == 0) ||
         (len == 5 && strncasecmp(t, "https", 5) == 0);
}

/* absolute-form, as scheme "://" authority path-abempty [ "?" query ]. A URI
 * without an authority ("mailto:x") names nothing an HTTP server could serve. */
static bool absolute_valid(const char *t, const char *scheme, const char *end) {
  const char *auth = scheme + 3, *auth_end = auth;
  while (auth_end < end && *auth_end != '/' && *auth_end != '?')
    auth_end++;
  bool http = is_http_scheme(t, (size_t)(scheme - t));
  struct authority_rules rules = {.userinfo_allowed = !http, .host_required = http};
  return authority_valid(auth, auth_end, &rules) && path_and_query_valid(auth_end, end);
}

enum target_form target_form(const char *t, size_t len) {
  const char *end = t + len;
  if (len == 0)
    return TARGET_INVALID;
  if (t[0] == '/')
    return path_and_query_valid(t, end) ? TARGET_ORIGIN : TARGET_INVALID;
  if (len == 1 && t[0] == '*')
    return TARGET_ASTERISK;
  const char *s = scheme_end(t, end);
  if (s != NULL && end - s >= 3 && memcmp(s, "://", 3) == 0)
    return absolute_valid(t, s, end) ? TARGET_ABSOLUTE : TARGET_INVALID;
  struct authority_rules rules = {.host_required = true, .port_required = true};
  return authority_valid(t, end, &rules) ? TARGET_AUTHORITY : TARGET_INVALID;
}

size_t target_path_start(const char *t, size_t len) {
  const char *sep = len > 0 ? memchr(t, ':', len) : NULL;
  if (sep == NULL || t[0] == '/' || t[0] == '*' || len - (size_t)(sep - t) < 3 ||
      memcmp(sep, "://", 3) != 0)
    return 0;
  size_t i = (size_t)(sep - t) + 3;
  while (i < len && t[i] != '/' && t[i] != '?')
    i++;
  return i;
}

bool host_value_valid(const char *v, size_t len) {
  struct authority_rules rules = {0};
  size_t i = 0;
  while (i < len && char_is((unsigned char)v[i], CHAR_REGNAME))
    i++; /* a plain name or IPv4 address: as good as every Host */
  if (i == len)
    return true;
  if (v[i] == ':')
    return port_valid(v + i + 1, v + len, false);
  return authority_valid(v, v + len, &rules);
}

void list_init(struct list_match *m, const char *want) {
  *m = (struct list_match){.want = want};
}

void list_end_element(struct list_match *m) {
  if (!m->in_element)
    return;
  m->last_wanted = m->matched && m->want[m->pos] == '\0';
  *(m->last_wanted ? &m->wanted : &m->others) += 1;
  m->in_element = false;
}

void list_feed(struct list_match *m, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (c == ',') {
      list_end_element(m);
    } else if (is_ows(c)) {
      m->ws_seen = m->in_element;
    } else {
      if (!m->in_element) {
        m->in_element = m->matched = true;
        m->ws_seen = false;
        m->pos = 0;
      }
      if (m->ws_seen || m->want[m->pos] == '\0' || (c | 0x20) != (m->want[m->pos] | 0x20))
        m->matched = false;
      else
        m->pos++;
    }
  }
}

bool is_token(const char *s, size_t len) {
  unsigned all = CHAR_TCHAR;
  for (size_t i = 0; i < len; i++)
    all &= http_char_class[(unsigned char)s[i]];
  return len > 0 && all != 0;
}

const char *field_value_end(const char *p, const char *end) {
  const uint64_t ones = 0x0101010101010101, highs = 0x8080808080808080;
  for (uint64_t w; end - p >= 8; p += 8) {
    memcpy(&w, p, sizeof w);
    uint64_t below_sp = (w - 0x20 * ones) & ~w, del = w ^ 0x7f * ones;
    if (((below_sp | ((del - ones) & ~del)) & highs) != 0)
      break; /* one of these eight: found below */
  }
  while (p < end && char_is((unsigned char)*p, CHAR_VALUE))
    p++;
  return p;
}

/* Writing an access-log line from a compiled format (access_format.c): each
 * value escaped for the text form or for JSON, cut to fit the line, straight
 * into the log's buffer. */
#include "access_log.h"

#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "grammar.h"
#include "log.h"
#include "request.h"

/* Bytes a value may take as written, escapes included, so that one long
 * field cannot crowd the others out of the line. */
#define CAP_CLIENT 256
#define CAP_METHOD 1024
#define CAP_TARGET 1536
#define CAP_REFERER 512 /* and the user agent */
#define CAP_VALUE 1024

/* Where a line is written: the value being written stops at end. */
struct sink {
  char *buf;
  size_t len, end;
};

static const char hex[] = "0123456789abcdef";

static bool room(const struct sink *k, size_t n) {
  return k->end - k->len >= n;
}

/* Clipped to the room left. */
static void put(struct sink *k, const char *s, size_t n) {
  if (n > k->end - k->len)
    n = k->end - k->len;
  memcpy(k->buf + k->len, s, n);
  k->len += n;
}

static void put_u64(struct sink *k, uint64_t v) {
  char digits[20], *p = digits + sizeof digits;
  do
    *--p = (char)('0' + v % 10);
  while ((v /= 10) != 0);
  put(k, p, (size_t)(digits + sizeof digits - p));
}

/* Bytes that stand for themselves in both forms: printable ASCII but the
 * quote and the backslash. */
static size_t plain_run(const char *s, size_t len) {
  size_t i = 0;
  while (i < len && (unsigned char)s[i] >= 0x20 && (unsigned char)s[i] < 0x7f &&
         s[i] != '"' && s[i] != '\\')
    i++;
  return i;
}

/* Returns false once the value is cut short. */
static bool put_run(struct sink *k, const char *s, size_t n) {
  bool whole = room(k, n);
  put(k, s, n);
  return whole;
}

/* The text form escapes any other byte as \xHH, as nginx does: a value can
 * neither end the line nor close its quotes. */
static void text_escaped(struct sink *k, const char *s, size_t len) {
  for (size_t i = 0; i < len; i++) {
    size_t run = plain_run(s + i, len - i);
    if (!put_run(k, s + i, run))
      return;
    if ((i += run) == len || !room(k, 4))
      return;
    unsigned char c = (unsigned char)s[i];
    char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
    put(k, esc, 4);
  }
}

/* The code point of a well-formed UTF-8 sequence at s (RFC 3629: no overlong
 * form, no surrogate, nothing past U+10FFFF), and its length; 0 if none. */
static size_t utf8_next(const unsigned char *s, size_t len, uint32_t *cp) {
  size_t n = s[0] >= 0xf0 ? 4 : s[0] >= 0xe0 ? 3 : 2;
  static const uint32_t least_cp[5] = {0, 0, 0x80, 0x800, 0x10000};
  if (s[0] < 0xc2 || s[0] > 0xf4 || len < n)
    return 0;
  *cp = s[0] & (0x7f >> n);
  for (size_t i = 1; i < n; i++) {
    if ((s[i] & 0xc0) != 0x80)
      return 0;
    *cp = *cp << 6 | (s[i] & 0x3f);
  }
  bool surrogate = *cp >= 0xd800 && *cp <= 0xdfff;
  return *cp < least_cp[n] || *cp > 0x10ffff || surrogate ? 0 : n;
}

/* \uXXXX (or \" and \\): for control characters, C1 controls and the line
 * and paragraph separators, which some viewers take as line ends. */
static bool json_escape(struct sink *k, uint32_t cp) {
  char esc[6] = {
      '\\', 'u', hex[cp >> 12 & 15], hex[cp >> 8 & 15], hex[cp >> 4 & 15], hex[cp & 15]};
  size_t n = 6;
  if (cp == '"' || cp == '\\')
    esc[1] = (char)cp, n = 2;
  if (!room(k, n))
    return false;
  put(k, esc, n);
  return true;
}

/* JSON text is UTF-8: well-formed sequences are kept, and each byte of any
 * other becomes U+FFFD, as Go's and Rust's encoders do, so every parser takes
 * the line (the text form keeps such bytes, as \xHH). */
static void json_escaped(struct sink *k, const char *s, size_t len) {
  const unsigned char *u = (const unsigned char *)s;
  for (size_t i = 0; i < len;) {
    size_t run = plain_run(s + i, len - i), n = 1;
    if (!put_run(k, s + i, run))
      return;
    if ((i += run) == len)
      return;
    uint32_t cp = u[i];
    if (cp >= 0x80 && (n = utf8_next(u + i, len - i, &cp)) == 0)
      cp = 0xfffd, n = 1;
    bool keep = cp >= 0xa0 && cp != 0x2028 && cp != 0x2029 && cp != 0xfffd;
    if (keep && !room(k, n))
      return; /* a sequence cut by the cap would not be UTF-8 */
    if (keep ? !put_run(k, s + i, n) : !json_escape(k, cp))
      return;
    i += n;
  }
}

/* Lowers the end of the room to cap bytes from here; returns the old end. */
static size_t cap_room(struct sink *k, size_t cap) {
  size_t end = k->end;
  if (k->len + cap < end)
    k->end = k->len + cap;
  return end;
}

/* A string value: an absent one is "-" in text (so is an empty one) and null
 * in JSON. At most cap bytes, however much room is left. */
static void put_string(struct sink *k, bool json, const char *s, size_t len, size_t cap) {
  size_t end = cap_room(k, cap);
  if (s == NULL || (len == 0 && !json)) {
    put(k, json ? "null" : "-", json ? 4 : 1);
  } else if (json) {
    k->end--; /* for the closing quote */
    put(k, "\"", 1);
    json_escaped(k, s, len);
    k->end++;
    put(k, "\"", 1);
  } else {
    text_escaped(k, s, len);
  }
  k->end = end;
}

/* ---- the atoms ---- */

static uint64_t own_pid(void) {
  static pid_t pid; /* each process is started with exec: it finds its own */
  if (pid == 0)
    pid = getpid();
  return (uint64_t)pid;
}

static void put_time(struct sink *k) {
  static struct cached_time clf;
  size_t len;
  const char *text = cached_strftime(&clf, "[%d/%b/%Y:%H:%M:%S +0000]", &len);
  put(k, text, len);
}

/* The JSON form's time: when the line is written, to the millisecond, in UTC. */
static void put_iso_time(struct sink *k) {
  static struct cached_time iso;
  struct timespec ts;
  size_t len;
  clock_gettime(CLOCK_REALTIME, &ts);
  const char *text = cached_strftime_at(&iso, "\"%Y-%m-%dT%H:%M:%S.", ts.tv_sec, &len);
  put(k, text, len);
  unsigned ms = (unsigned)(ts.tv_nsec / 1000000);
  char tail[5] = {(char)('0' + ms / 100), (char)('0' + ms / 10 % 10),
                  (char)('0' + ms % 10), 'Z', '"'};
  put(k, tail, sizeof tail);
}

/* Seconds with six decimals, as Gunicorn's L. */
static void put_seconds(struct sink *k, uint64_t us) {
  char frac[7] = {'.'};
  put_u64(k, us / 1000000);
  us %= 1000000;
  for (int i = 6; i > 0; i--, us /= 10)
    frac[i] = (char)('0' + us % 10);
  put(k, frac, sizeof frac);
}

/* HTTP/1.1, or the version the request gave (1.2 is served as 1.1). */
static void put_protocol(struct sink *k, bool json, const struct access_entry *e) {
  static const char open[] = "\"HTTP/";
  put(k, json ? open : open + 1, json ? 6 : 5);
  put_u64(k, e->version_major);
  put(k, ".", 1);
  put_u64(k, e->version_minor);
  if (json)
    put(k, "\"", 1);
}

/* method SP target SP protocol, each part cut short before the next. */
static void put_request_line(struct sink *k, const struct access_entry *e) {
  size_t end = k->end;
  k->end = end - 29; /* " - HTTP/" and two version numbers of 10 digits */
  put_string(k, false, e->method, e->method_len, CAP_METHOD);
  k->end = end - 27;
  put(k, " ", 1);
  put_string(k, false, e->target, e->target_len, CAP_TARGET);
  k->end = end;
  put(k, " ", 1);
  put_protocol(k, false, e);
}

/* The target's path without its query, as sent (not percent-decoded). */
static void put_path(struct sink *k, bool json, const struct access_entry *e) {
  const char *t = e->target;
  if (t == NULL) {
    put_string(k, json, NULL, 0, CAP_TARGET);
    return;
  }
  size_t start = target_path_start(t, e->target_len);
  const char *q = memchr(t + start, '?', e->target_len - start);
  size_t end = q ? (size_t)(q - t) : e->target_len;
  if (end == start) /* "http://host": its path is "/" */
    put_string(k, json, "/", 1, CAP_TARGET);
  else
    put_string(k, json, t + start, end - start, CAP_TARGET);
}

/* After the '?'. None is null in JSON, and nothing at all in text, as Gunicorn
 * writes an empty QUERY_STRING. */
static void put_query(struct sink *k, bool json, const struct access_entry *e) {
  const char *q = e->target ? memchr(e->target, '?', e->target_len) : NULL;
  size_t len = q ? e->target_len - (size_t)(q + 1 - e->target) : 0;
  if (json) {
    put_string(k, true, q ? q + 1 : NULL, len, CAP_TARGET);
  } else if (len > 0) {
    size_t end = cap_room(k, CAP_TARGET);
    text_escaped(k, q + 1, len);
    k->end = end;
  }
}

/* One more value for {name}i or {name}o: several are joined with ", ", as
 * RFC 9110 (section 5.3) allows; empty ones are left out. */
static void join(struct sink *k, size_t *n, const char *v, size_t len) {
  if (len == 0)
    return;
  if ((*n)++ > 0)
    put(k, ", ", 2);
  text_escaped(k, v, len);
}

static size_t request_fields(struct sink *k, const struct access_entry *e,
                             const char *name, size_t name_len) {
  const struct request *r = e->req;
  size_t n = 0;
  for (uint32_t i = 0; r != NULL && i < r->nlist; i++) {
    struct span fn = r->list[i].name, fv = r->list[i].value;
    if (fn.len == name_len && strncasecmp(r->fields.data + fn.off, name, name_len) == 0)
      join(k, &n, r->fields.data + fv.off, fv.len);
  }
  return n;
}

/* The application's fields ("Name: value\r\n", checked when it added them);
 * X-Request-ID is the server's unless the application set its own. */
static size_t response_fields(struct sink *k, const struct access_entry *e,
                              const char *name, size_t name_len) {
  const char *p = e->resp_fields, *eol;
  const char *end = p != NULL ? p + e->resp_fields_len : NULL; /* none yet: NULL */
  size_t n = 0;
  for (; p != NULL && (eol = memchr(p, '\r', (size_t)(end - p))) != NULL; p = eol + 2) {
    const char *colon = memchr(p, ':', (size_t)(eol - p));
    if (colon != NULL && (size_t)(colon - p) == name_len && colon + 2 <= eol &&
        strncasecmp(p, name, name_len) == 0)
      join(k, &n, colon + 2, (size_t)(eol - colon - 2));
  }
  if (n == 0 && name_len == 12 && memcmp(name, "x-request-id", 12) == 0)
    join(k, &n, e->request_id, e->request_id ? e->request_id_len : 0);
  return n;
}

static void put_header(struct sink *k, const struct access_format *f,
                       const struct access_op *op, const struct access_entry *e) {
  size_t end = cap_room(k, CAP_VALUE);
  const char *name = f->text + op->off;
  size_t n = op->atom == ACCESS_REQUEST_HEADER ? request_fields(k, e, name, op->len)
                                               : response_fields(k, e, name, op->len);
  if (n == 0)
    put(k, "-", 1);
  k->end = end;
}

/* The Host field, for the JSON form. */
static void put_host_field(struct sink *k, const struct access_entry *e) {
  const struct request *r = e->req;
  const char *host = r ? request_str(r, r->host) : NULL;
  put_string(k, true, host, host ? r->host.len : 0, CAP_CLIENT);
}

/* A Unix-socket peer's pid or uid; "-" or null for any other peer. */
static void put_peer_id(struct sink *k, bool json, const struct access_entry *e,
                        uint64_t id) {
  if (e->has_cred)
    put_u64(k, id);
  else
    put(k, json ? "null" : "-", json ? 4 : 1);
}

/* The default line's end: " pid=N uid=N" for a Unix-socket peer, then
 * " queue=S" for a request with a believed X-Request-Start. */
static void put_default_tail(struct sink *k, const struct access_entry *e) {
  if (e->has_cred) {
    put(k, " pid=", 5);
    put_u64(k, (uint64_t)e->pid);
    put(k, " uid=", 5);
    put_u64(k, e->uid);
  }
  if (e->queue_us >= 0) {
    put(k, " queue=", 7);
    put_seconds(k, (uint64_t)e->queue_us);
  }
}

static void put_queue_time(struct sink *k, bool json, const struct access_entry *e) {
  if (e->queue_us >= 0)
    put_seconds(k, (uint64_t)e->queue_us);
  else
    put(k, json ? "null" : "-", json ? 4 : 1);
}

static void put_atom(struct sink *k, const struct access_format *f,
                     const struct access_op *op, const struct access_entry *e) {
  bool json = f->json;
  uint64_t us = e->duration_us;
  switch (op->atom) {
  case ACCESS_LITERAL: put(k, f->text + op->off, op->len); break;
  case ACCESS_CLIENT: put_string(k, json, e->host, e->host_len, CAP_CLIENT); break;
  case ACCESS_DASH: put(k, "-", 1); break;
  case ACCESS_TIME: put_time(k); break;
  case ACCESS_REQUEST_LINE: put_request_line(k, e); break;
  case ACCESS_METHOD: put_string(k, json, e->method, e->method_len, CAP_METHOD); break;
  case ACCESS_PATH: put_path(k, json, e); break;
  case ACCESS_QUERY: put_query(k, json, e); break;
  case ACCESS_PROTOCOL: put_protocol(k, json, e); break;
  case ACCESS_STATUS: put_u64(k, e->status > 0 ? (uint64_t)e->status : 0); break;
  case ACCESS_BYTES_CLF:
    if (e->body_bytes == 0)
      put(k, "-", 1);
    else
      put_u64(k, e->body_bytes);
    break;
  case ACCESS_BYTES: put_u64(k, e->body_bytes); break;
  case ACCESS_REFERER:
    put_string(k, json, e->referer, e->referer_len, CAP_REFERER);
    break;
  case ACCESS_USER_AGENT:
    put_string(k, json, e->user_agent, e->user_agent_len, CAP_REFERER);
    break;
  case ACCESS_SECONDS: put_u64(k, us / 1000000); break;
  case ACCESS_MICROSECONDS: put_u64(k, us); break;
  case ACCESS_MILLISECONDS: put_u64(k, us / 1000); break;
  case ACCESS_DECIMAL_SECONDS: put_seconds(k, us); break;
  case ACCESS_PID:
    put(k, "<", 1);
    put_u64(k, own_pid());
    put(k, ">", 1);
    break;
  case ACCESS_REQUEST_HEADER:
  case ACCESS_RESPONSE_HEADER: put_header(k, f, op, e); break;
  case ACCESS_REQUEST_ID:
    put_string(k, json, e->request_id, e->request_id_len, CAP_VALUE);
    break;
  case ACCESS_PEER_PID: put_peer_id(k, json, e, (uint64_t)e->pid); break;
  case ACCESS_PEER_UID: put_peer_id(k, json, e, e->uid); break;
  case ACCESS_QUEUE_TIME: put_queue_time(k, json, e); break;
  case ACCESS_DEFAULT_TAIL: put_default_tail(k, e); break;
  case ACCESS_ISO_TIME: put_iso_time(k); break;
  case ACCESS_TARGET: put_string(k, json, e->target, e->target_len, CAP_TARGET); break;
  case ACCESS_HOST_FIELD: put_host_field(k, e); break;
  case ACCESS_WORKER_PID: put_u64(k, own_pid()); break;
  default: break;
  }
}

size_t access_format_write(const struct access_format *f, const struct access_entry *e,
                           char *out) {
  struct sink k = {.buf = out};
  for (size_t i = 0; i < f->nops; i++) {
    k.end = ACCESS_LINE_MAX - f->ops[i].after;
    put_atom(&k, f, &f->ops[i], e);
  }
  out[k.len++] = '\n';
  return k.len;
}

static struct access_format current;
static bool current_set;

int access_log_use(const char *spec, char *err, size_t errlen) {
  int rc = access_format_compile(&current, spec, err, errlen);
  current_set = rc == 0;
  return rc;
}

size_t access_log_line(const struct access_entry *e, char *out) {
  char err[128];
  if (!current_set) /* the default: it compiles */
    current_set = access_format_compile(&current, NULL, err, sizeof err) == 0;
  return access_format_write(&current, e, out);
}

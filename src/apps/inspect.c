/* The built-in application "inspect": every request is answered with 200 and
 * a JSON document (application/json) of the request as it arrived, so that
 * the upstream behind a proxy shows what the proxy really forwards. The
 * document is one line, its keys always in this order:
 *
 *   {"method": S, "target": S, "path": S, "query": S or null,
 *    "version": "HTTP/1.1", "headers": [[S, S], ...],
 *    "body": {"length": N, "sha256": "64 hex digits"},
 *    "peer": {"family": "unix" | "ipv4" | "ipv6", "address": S or null,
 *             "port": N or null, "pid": N or null, "uid": N or null,
 *             "gid": N or null},
 *    "client": S, "worker_pid": N}
 *
 * The headers are every field in the order received, duplicates kept, each
 * value without the whitespace around it (as unixcorn_header_at gives it).
 * path and query are the target's, not percent-decoded; query is null when
 * the target has no "?". The peer is the other end of the connection: its
 * address and port over TCP, its pid, uid and gid on a Unix socket; what does
 * not apply is null. client is unixcorn_client's: the X-Forwarded-For address
 * of a trusted peer.
 *
 * Every S is bytes from the request, kept exactly. HTTP allows any byte but
 * CR, LF and NUL in a field value, and a JSON string holds text, not bytes,
 * so S takes one of two forms that cannot be confused:
 *
 * - Bytes that are valid UTF-8 (RFC 3629: no overlong form, no surrogate,
 *   nothing past U+10FFFF): a JSON string of that text, with '"' and '\'
 *   escaped, and the controls U+0000 to U+001F and DEL written \u00XX.
 * - Any other bytes: {"latin1": "..."}, a string of one character per byte
 *   (U+0000 to U+00FF): escaped as above, and every byte above 0x7F written
 *   \u00XX too, so the string itself is ASCII and names each byte in hex.
 *
 * Either way the exact bytes come back, e.g. in Python:
 *
 *   s.encode("utf-8") if isinstance(s, str) else s["latin1"].encode("latin-1")
 *
 * The body is hashed as it arrives (UNIXCORN_APP_STREAM_BODY), with nettle's
 * SHA-256 in the request's state: a body of any size takes the same memory,
 * and nothing is spooled. The document is built once the body is complete,
 * and sent with a Content-Length. */
#include <nettle/sha2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <unixcorn/app.h>

#include "apps.h"
#include "bufpool.h"

/* A document of many long fields may be megabytes, and the server takes a
 * write only while less than 64 KiB of output waits: slices keep what it holds
 * at that mark plus one slice. */
#define WRITE_SLICE (16 * 1024)

/* The latin1 form's opening: the most a string adds around its bytes, with
 * the '"' and '}' that close it. */
#define LATIN1_OPEN "{\"latin1\": \""
#define STRING_OVERHEAD (sizeof LATIN1_OPEN + 2)

/* The response under way: a buffer of the server's, and a sticky error, so
 * building the document is a run of calls checked once at the end. */
struct doc {
  struct buf b;
  size_t sent;
  bool nomem;
};

static const char hex[] = "0123456789abcdef";

struct inspect { /* the request's state */
  struct sha256_ctx sha;
  uint64_t body_len;
  struct doc doc;
};

static char *room(struct doc *d, size_t n) {
  if (d->nomem || buf_reserve(&d->b, n) < 0) {
    d->nomem = true;
    return NULL;
  }
  return d->b.data + d->b.len;
}

static void put(struct doc *d, const char *text) {
  size_t n = strlen(text);
  char *p = room(d, n);
  if (p != NULL) {
    memcpy(p, text, n);
    d->b.len += n;
  }
}

/* A number, or null when it does not apply. */
static void put_num(struct doc *d, bool present, unsigned long long v) {
  char text[24];
  if (!present)
    put(d, "null");
  else if (snprintf(text, sizeof text, "%llu", v) > 0)
    put(d, text);
}

/* The length of the UTF-8 sequence at s, whose lead byte is above 0x7F, if
 * RFC 3629 allows it; 0 if not. The second byte's range is what rules out
 * overlong forms (E0, F0), surrogates (ED) and code points past U+10FFFF
 * (F4). */
static size_t utf8_sequence(const unsigned char *s, size_t left) {
  unsigned char c = s[0], lo = 0x80, hi = 0xbf;
  size_t n;
  if (c >= 0xc2 && c <= 0xdf)
    n = 2;
  else if (c >= 0xe0 && c <= 0xef)
    n = 3, lo = c == 0xe0 ? 0xa0 : lo, hi = c == 0xed ? 0x9f : hi;
  else if (c >= 0xf0 && c <= 0xf4)
    n = 4, lo = c == 0xf0 ? 0x90 : lo, hi = c == 0xf4 ? 0x8f : hi;
  else
    return 0;
  if (left < n || s[1] < lo || s[1] > hi)
    return 0;
  for (size_t i = 2; i < n; i++)
    if ((s[i] & 0xc0) != 0x80)
      return 0;
  return n;
}

static bool valid_utf8(const unsigned char *s, size_t len) {
  for (size_t i = 0, n; i < len; i += n)
    if ((n = s[i] < 0x80 ? 1 : utf8_sequence(s + i, len - i)) == 0)
      return false;
  return true;
}

/* The bytes inside a JSON string: at most 6 characters for each. as_text:
 * bytes above 0x7F go as they are (the bytes are valid UTF-8). */
static char *escape(char *p, const unsigned char *s, size_t len, bool as_text) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = s[i];
    if (c == '"' || c == '\\') {
      *p++ = '\\';
      *p++ = (char)c;
    } else if (c < 0x20 || c == 0x7f || (c >= 0x80 && !as_text)) {
      memcpy(p, "\\u00", 4);
      p[4] = hex[c >> 4];
      p[5] = hex[c & 15];
      p += 6;
    } else {
      *p++ = (char)c;
    }
  }
  return p;
}

/* Bytes of the request in one of the two forms above; null when absent. */
static void put_bytes(struct doc *d, unixcorn_str s) {
  const unsigned char *u = (const unsigned char *)s.ptr;
  if (s.ptr == NULL) {
    put(d, "null");
    return;
  }
  if (s.len > (SIZE_MAX - STRING_OVERHEAD) / 6) {
    d->nomem = true;
    return;
  }
  char *start = room(d, s.len * 6 + STRING_OVERHEAD), *p = start;
  if (p == NULL)
    return;
  bool text = valid_utf8(u, s.len);
  if (text)
    *p++ = '"';
  else
    p = mempcpy(p, LATIN1_OPEN, sizeof LATIN1_OPEN - 1);
  p = escape(p, u, s.len, text);
  *p++ = '"';
  if (!text)
    *p++ = '}';
  d->b.len += (size_t)(p - start);
}

static void put_text(struct doc *d, const char *text) {
  unixcorn_str s = {text, strlen(text)};
  put_bytes(d, s);
}

static void put_headers(struct doc *d, const unixcorn_request *r) {
  size_t count = unixcorn_header_count(r);
  put(d, ", \"headers\": [");
  for (size_t i = 0; i < count; i++) {
    unixcorn_str name, value;
    if (unixcorn_header_at(r, i, &name, &value) < 0)
      break;
    put(d, i == 0 ? "[" : ", [");
    put_bytes(d, name);
    put(d, ", ");
    put_bytes(d, value);
    put(d, "]");
  }
  put(d, "]");
}

static void put_body(struct doc *d, struct inspect *s) {
  uint8_t digest[SHA256_DIGEST_SIZE];
  char text[2 * SHA256_DIGEST_SIZE + 1];
  sha256_digest(&s->sha, sizeof digest, digest);
  for (size_t i = 0; i < sizeof digest; i++) {
    text[2 * i] = hex[digest[i] >> 4];
    text[2 * i + 1] = hex[digest[i] & 15];
  }
  text[sizeof text - 1] = '\0';
  put(d, ", \"body\": {\"length\": ");
  put_num(d, true, s->body_len);
  put(d, ", \"sha256\": \"");
  put(d, text);
  put(d, "\"}");
}

static void put_peer(struct doc *d, const unixcorn_request *r) {
  struct unixcorn_peer p;
  unixcorn_peer(r, &p);
  bool ip = p.family == AF_INET || p.family == AF_INET6;
  put(d, ", \"peer\": {\"family\": ");
  put(d, p.family == AF_INET    ? "\"ipv4\""
         : p.family == AF_INET6 ? "\"ipv6\""
                                : "\"unix\"");
  put(d, ", \"address\": ");
  if (ip)
    put_text(d, p.addr);
  else
    put(d, "null");
  put(d, ", \"port\": ");
  put_num(d, ip, p.port);
  put(d, ", \"pid\": ");
  put_num(d, p.has_cred, (unsigned long long)p.pid);
  put(d, ", \"uid\": ");
  put_num(d, p.has_cred, p.uid);
  put(d, ", \"gid\": ");
  put_num(d, p.has_cred, p.gid);
  put(d, "}");
}

static void build(struct doc *d, const unixcorn_request *r, struct inspect *s) {
  int version = unixcorn_http_version(r);
  char text[64];
  put(d, "{\"method\": ");
  put_bytes(d, unixcorn_method(r));
  put(d, ", \"target\": ");
  put_bytes(d, unixcorn_target(r));
  put(d, ", \"path\": ");
  put_bytes(d, unixcorn_path(r));
  put(d, ", \"query\": ");
  put_bytes(d, unixcorn_query(r));
  snprintf(text, sizeof text, ", \"version\": \"HTTP/%d.%d\"", version / 10,
           version % 10);
  put(d, text);
  put_headers(d, r);
  put_body(d, s);
  put_peer(d, r);
  put(d, ", \"client\": ");
  put_bytes(d, unixcorn_client(r));
  put(d, ", \"worker_pid\": ");
  put_num(d, true, (unsigned long long)getpid());
  put(d, "}\n");
}

/* What is left of the document, a slice at a time; on UNIXCORN_EAGAIN the
 * server calls on_writable, which comes back here. */
static int send_rest(unixcorn_request *r, struct doc *d) {
  while (d->sent < d->b.len) {
    size_t n = d->b.len - d->sent < WRITE_SLICE ? d->b.len - d->sent : WRITE_SLICE;
    int rc = unixcorn_write(r, d->b.data + d->sent, n);
    if (rc == UNIXCORN_EAGAIN)
      return 0;
    if (rc < 0)
      return rc;
    d->sent += n;
  }
  buf_release(&d->b); /* all of it is in the server's output */
  return unixcorn_end(r);
}

static int inspect_head(unixcorn_request *r) {
  struct inspect *s = unixcorn_request_state(r);
  sha256_init(&s->sha);
  return 0;
}

static int inspect_body(unixcorn_request *r, const char *data, size_t len) {
  struct inspect *s = unixcorn_request_state(r);
  sha256_update(&s->sha, len, (const uint8_t *)data);
  s->body_len += len;
  return 0;
}

static int inspect_end(unixcorn_request *r) {
  struct inspect *s = unixcorn_request_state(r);
  struct doc *d = &s->doc;
  build(d, r, s);
  if (d->nomem)
    return 500;
  int rc = unixcorn_respond(r, 200);
  if (rc == 0)
    rc = unixcorn_add_header(r, "Content-Type", 12, "application/json", 16);
  if (rc == 0)
    rc = unixcorn_set_length(r, d->b.len);
  if (rc == 0)
    rc = send_rest(r, d);
  return rc == 0 ? 0 : 500;
}

static void inspect_writable(unixcorn_request *r) {
  struct inspect *s = unixcorn_request_state(r);
  /* A failed write failed the request already: nothing more to do here. */
  send_rest(r, &s->doc);
}

static void inspect_done(unixcorn_request *r) {
  struct inspect *s = unixcorn_request_state(r);
  buf_release(&s->doc.b);
}

const struct unixcorn_app inspect_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "inspect",
    .flags = UNIXCORN_APP_STREAM_BODY,
    .request_size = sizeof(struct inspect),
    .on_request = inspect_head,
    .on_body = inspect_body,
    .on_body_end = inspect_end,
    .on_writable = inspect_writable,
    .on_done = inspect_done,
};

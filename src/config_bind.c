/* Listening addresses: --bind and --metrics-bind. */
#include "config.h"
#include "config_impl.h"

#include <string.h>

static int parse_unix(struct bind_addr *b, const char *path, char *err, size_t errlen) {
  size_t len = strlen(path);
  if (len == 0)
    return errmsg(err, errlen, "empty socket path in 'unix:%s'", path);
  if (len > UNIX_PATH_MAX_LEN) {
    snprintf(err, errlen,
             "socket path is %zu bytes; a Unix socket path holds at most %zu: %s", len,
             UNIX_PATH_MAX_LEN, path);
    return -1;
  }
  b->kind = BIND_UNIX;
  memcpy(b->path, path, len + 1);
  return 0;
}

static int parse_port(const char *s, uint16_t *port) {
  uint64_t v;
  if (config_parse_uint(s, 65535, &v) < 0)
    return -1;
  *port = (uint16_t)v;
  return 0;
}

int bind_addr_parse(struct bind_addr *b, const char *text, char *err, size_t errlen) {
  memset(b, 0, sizeof *b);
  if (strncmp(text, "unix:", 5) == 0)
    return parse_unix(b, text + 5, err, errlen);
  const char *host = text, *colon;
  size_t host_len;
  if (text[0] == '[') {
    const char *close = strchr(text, ']');
    if (close == NULL || close[1] != ':')
      return errmsg(err, errlen, "expected [IPV6]:PORT, got '%s'", text);
    host = text + 1;
    host_len = (size_t)(close - host);
    colon = close + 1;
  } else {
    colon = strrchr(text, ':');
    if (colon == NULL)
      return errmsg(err, errlen, "expected unix:PATH, HOST:PORT or [IPV6]:PORT, got '%s'",
                    text);
    host_len = (size_t)(colon - text);
    if (memchr(text, ':', host_len) != NULL)
      return errmsg(err, errlen, "IPv6 addresses go in brackets, as [::1]:PORT: '%s'",
                    text);
  }
  if (host_len >= sizeof b->host)
    return errmsg(err, errlen, "host name too long in '%s'", text);
  if (parse_port(colon + 1, &b->port) < 0)
    return errmsg(err, errlen, "bad port in '%s': expected 0 to 65535", text);
  b->kind = BIND_TCP;
  memcpy(b->host, host, host_len);
  b->host[host_len] = '\0';
  return 0;
}

void bind_addr_format(const struct bind_addr *b, char *out, size_t outlen) {
  if (b->kind == BIND_UNIX)
    snprintf(out, outlen, "unix:%s", b->path);
  else if (strchr(b->host, ':') != NULL)
    snprintf(out, outlen, "http://[%s]:%u", b->host, b->port);
  else
    snprintf(out, outlen, "http://%s:%u", b->host[0] ? b->host : "0.0.0.0", b->port);
}

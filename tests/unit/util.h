/* Helpers over driver output: parse the responses a conn sent. */
#ifndef UNIXCORN_TEST_UTIL_H
#define UNIXCORN_TEST_UTIL_H

#include <stdlib.h>
#include <string.h>

#include "driver.h"

struct parsed {
  int status;
  const char *head; /* points into the sent buffer */
  size_t head_len;
  const char *body;
  size_t body_len;
};

/* Parses the response starting at *pos (Content-Length or chunked bodies;
 * head_only for HEAD). Returns 0, or -1 if incomplete or malformed. */
static inline int next_response(const struct buf *sent, size_t *pos, struct parsed *r,
                                int head_only, char *dechunked, size_t cap) {
  memset(r, 0, sizeof *r);
  const char *start = sent->data + *pos, *end = sent->data + sent->len;
  const char *eoh = memmem(start, (size_t)(end - start), "\r\n\r\n", 4);
  if (sent->len <= *pos || eoh == NULL || strncmp(start, "HTTP/1.1 ", 9) != 0)
    return -1;
  r->status = atoi(start + 9);
  r->head = start;
  r->head_len = (size_t)(eoh + 4 - start);
  const char *body = eoh + 4;
  const char *cl = memmem(start, r->head_len, "Content-Length: ", 16);
  if (head_only || r->status == 100) {
    r->body = body;
    r->body_len = 0;
  } else if (cl != NULL) {
    r->body = body;
    r->body_len = strtoull(cl + 16, NULL, 10);
    if ((size_t)(end - body) < r->body_len)
      return -1;
    body += r->body_len;
  } else { /* chunked */
    size_t n = 0;
    for (;;) {
      char *after;
      size_t size = strtoull(body, &after, 16);
      if (after >= end || strncmp(after, "\r\n", 2) != 0 || n + size > cap)
        return -1;
      body = after + 2;
      if (size == 0)
        break;
      memcpy(dechunked + n, body, size);
      n += size;
      body += size + 2;
    }
    body += 2;
    r->body = dechunked;
    r->body_len = n;
  }
  *pos = (size_t)(body - sent->data);
  return 0;
}

static inline int head_has(const struct parsed *r, const char *line) {
  return memmem(r->head, r->head_len, line, strlen(line)) != NULL;
}

#endif

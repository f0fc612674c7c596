#include "respond.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <unixcorn/app.h>

#include "conn.h"
#include "exchange.h"
#include "grammar.h"

/* Fields the server writes itself, or which would change the framing: each
 * of its own length, so most names are told apart by length alone. */
static bool owned_field(const char *name, size_t len) {
  const char *owned;
  switch (len) {
  case 4: owned = "date"; break;
  case 6: owned = "server"; break;
  case 10: owned = (name[0] | 0x20) == 'c' ? "connection" : "keep-alive"; break;
  case 14: owned = "content-length"; break;
  case 17: owned = "transfer-encoding"; break;
  default: return false;
  }
  return strncasecmp(owned, name, len) == 0;
}

/* Whether every byte of s is of class cls. */
static bool all_of_class(const char *s, size_t len, unsigned cls) {
  unsigned all = cls;
  for (size_t i = 0; i < len; i++)
    all &= http_char_class[(unsigned char)s[i]];
  return all != 0;
}

uint64_t respond_pending(const struct exchange *x) {
  const struct conn *c = x->conn;
  return c->out.len - c->out_pos + x->file_left + x->after_file.len;
}

/* In on_body a write always has room: the connection reads no more while its
 * output is above the mark, so what one read's pieces add stays bounded, and
 * a streaming application never has to hold a piece back. */
bool respond_has_room(const struct exchange *x) {
  return x->in_on_body || respond_pending(x) <= CONN_OUT_HIGH_WATER;
}

/* Where body bytes go now: behind a file part that is still waiting, if any. */
static struct buf *tail(struct exchange *x) {
  return x->file_left > 0 ? &x->after_file : &x->conn->out;
}

int respond_start(struct exchange *x, int status) {
  if (x->response != RESPONSE_NONE)
    return UNIXCORN_ESTATE;
  if (status < 200 || status > 599)
    return UNIXCORN_EINVAL;
  x->status = status;
  x->response = RESPONSE_STARTED;
  x->fields.len = 0;
  return 0;
}

int respond_field(struct exchange *x, const char *name, size_t name_len,
                  const char *value, size_t value_len) {
  if (x->response != RESPONSE_STARTED)
    return UNIXCORN_ESTATE;
  if (name_len == 0 || !all_of_class(name, name_len, CHAR_TCHAR) ||
      !all_of_class(value, value_len, CHAR_VALUE) || owned_field(name, name_len))
    return UNIXCORN_EINVAL;
  if (buf_reserve(&x->fields, name_len + value_len + 4) < 0)
    return UNIXCORN_ENOMEM;
  buf_append(&x->fields, name, name_len);
  buf_append(&x->fields, ": ", 2);
  buf_append(&x->fields, value, value_len);
  buf_append(&x->fields, "\r\n", 2);
  if (name_len == 12 && strncasecmp(name, "x-request-id", 12) == 0)
    x->id.app_set = true; /* the application's own goes out instead */
  return 0;
}

int respond_length(struct exchange *x, uint64_t length) {
  if (x->response != RESPONSE_STARTED)
    return UNIXCORN_ESTATE;
  if (length > UINT64_MAX / 2)
    return UNIXCORN_EINVAL;
  x->length_declared = true;
  x->declared = length;
  return 0;
}

/* The head goes out: its framing follows from what the application said.
 * ended: the application ends the response without having written. */
static int send_head(struct exchange *x, bool ended) {
  struct conn *c = x->conn;
  bool http10 = x->req.version_minor == 0;
  uint64_t length;
  if (!status_has_body(x->status))
    length = x->status == 304 && x->length_declared ? x->declared : RESPONSE_NO_LENGTH;
  else if (x->length_declared)
    length = x->declared;
  else if (ended)
    length = 0;
  else if (http10)
    length = RESPONSE_UNTIL_CLOSE; /* HTTP/1.0 has no chunked coding */
  else
    length = RESPONSE_CHUNKED;
  if (length == RESPONSE_UNTIL_CLOSE)
    c->keep_alive = false;
  struct response_head h = {
      .status = x->status,
      .fields = x->fields.data,
      .fields_len = x->fields.len,
      .content_length = length,
      .close = !c->keep_alive,
      .keep_alive_10 = c->keep_alive && http10,
      .request_id = x->id.app_set ? NULL : x->id.text,
      .request_id_len = x->id.len,
  };
  if (response_head_format(&c->out, &h) < 0)
    return UNIXCORN_ENOMEM;
  x->chunked_out = length == RESPONSE_CHUNKED;
  x->response = RESPONSE_HEAD;
  return 0;
}

/* What may be written now, before the bytes themselves. */
static int body_allowed(struct exchange *x, uint64_t len) {
  if (x->response == RESPONSE_NONE || x->response == RESPONSE_ENDED)
    return UNIXCORN_ESTATE;
  if (len > 0 && !status_has_body(x->status))
    return UNIXCORN_ESTATE;
  if (x->length_declared && len > x->declared - x->body_given)
    return UNIXCORN_ELENGTH;
  if (x->response == RESPONSE_STARTED)
    return send_head(x, false);
  return 0;
}

static int chunk_size_line(struct buf *out, uint64_t len) {
  char line[24];
  int n = snprintf(line, sizeof line, "%llx\r\n", (unsigned long long)len);
  return buf_append(out, line, (size_t)n) < 0 ? UNIXCORN_ENOMEM : 0;
}

int respond_write(struct exchange *x, const void *data, size_t len) {
  if (!respond_has_room(x))
    return UNIXCORN_EAGAIN;
  int err = body_allowed(x, len);
  if (err < 0 || len == 0)
    return err;
  x->body_given += len;
  if (x->req.is_head)
    return 0;
  struct buf *out = tail(x);
  if (buf_reserve(out, len + 32) < 0)
    return UNIXCORN_ENOMEM;
  if (x->chunked_out)
    chunk_size_line(out, len);
  buf_append(out, data, len);
  if (x->chunked_out)
    buf_append(out, "\r\n", 2);
  x->body_sent += len;
  return 0;
}

int respond_file(struct exchange *x, int fd, uint64_t offset, uint64_t len) {
  if (x->file_left > 0 || !respond_has_room(x))
    return UNIXCORN_EAGAIN;
  int err = body_allowed(x, len);
  if (err < 0 || len == 0)
    return err;
  x->body_given += len;
  if (x->req.is_head)
    return 0;
  if (x->chunked_out && chunk_size_line(&x->conn->out, len) < 0)
    return UNIXCORN_ENOMEM;
  x->file_fd = fd;
  x->file_off = offset;
  x->file_left = len;
  x->body_sent += len;
  if (x->chunked_out && buf_append(&x->after_file, "\r\n", 2) < 0)
    return UNIXCORN_ENOMEM;
  return 0;
}

int respond_end(struct exchange *x) {
  if (x->response == RESPONSE_NONE || x->response == RESPONSE_ENDED)
    return UNIXCORN_ESTATE;
  if (x->length_declared && x->body_given != x->declared && status_has_body(x->status))
    return UNIXCORN_ELENGTH;
  if (x->response == RESPONSE_STARTED) {
    int err = send_head(x, true);
    if (err < 0)
      return err;
  }
  if (x->chunked_out && !x->req.is_head && buf_append(tail(x), "0\r\n\r\n", 5) < 0)
    return UNIXCORN_ENOMEM;
  x->response = RESPONSE_ENDED;
  return 0;
}

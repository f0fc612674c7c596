#include "respond.h"

#include <stdio.h>
#include <string.h>

#include <unixcorn/app.h>

#include "conn.h"
#include "exchange.h"

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

/* The head goes out: its framing follows from what the application said.
 * ended: the application ends the response without having written. */
static int send_head(struct exchange *x, bool ended) {
  struct conn *c = x->conn;
  bool http10 = x->req.version_minor == 0;
  const struct reply *r = &x->reply;
  uint64_t length;
  if (!status_has_body(r->status))
    length = r->status == 304 && r->length_declared ? r->declared : RESPONSE_NO_LENGTH;
  else if (r->length_declared)
    length = r->declared;
  else if (ended)
    length = 0;
  else if (http10)
    length = RESPONSE_UNTIL_CLOSE; /* HTTP/1.0 has no chunked coding */
  else
    length = RESPONSE_CHUNKED;
  if (length == RESPONSE_UNTIL_CLOSE)
    c->keep_alive = false;
  struct response_head h = {
      .status = r->status,
      .fields = r->fields.data,
      .fields_len = r->fields.len,
      .content_length = length,
      .close = !c->keep_alive,
      .keep_alive_10 = c->keep_alive && http10,
      .request_id = r->own_request_id ? NULL : x->id.text,
      .request_id_len = x->id.len,
  };
  if (response_head_format(&c->out, &h) < 0)
    return UNIXCORN_ENOMEM;
  x->chunked_out = length == RESPONSE_CHUNKED;
  x->reply.state = RESPONSE_HEAD;
  return 0;
}

/* Whether len body bytes may be written now; they are counted, and the head
 * goes out first. Returns 1 when they are, 0 when none go on the wire (none
 * given, or a HEAD request's), or an error. */
static int body_given(struct exchange *x, uint64_t len) {
  int err = reply_body_allowed(&x->reply, len);
  if (err == 0 && x->reply.state == RESPONSE_STARTED)
    err = send_head(x, false);
  if (err < 0 || len == 0)
    return err;
  x->reply.given += len;
  return !x->req.is_head;
}

static int chunk_size_line(struct buf *out, uint64_t len) {
  char line[24];
  int n = snprintf(line, sizeof line, "%llx\r\n", (unsigned long long)len);
  return buf_append(out, line, (size_t)n) < 0 ? UNIXCORN_ENOMEM : 0;
}

int respond_write(struct exchange *x, const void *data, size_t len) {
  return respond_has_room(x) ? respond_take(x, data, len) : UNIXCORN_EAGAIN;
}

int respond_take(struct exchange *x, const void *data, size_t len) {
  int err = body_given(x, len);
  if (err <= 0)
    return err;
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
  int err = body_given(x, len);
  if (err <= 0)
    return err;
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
  int err = reply_end_allowed(&x->reply);
  if (err == 0 && x->reply.state == RESPONSE_STARTED)
    err = send_head(x, true);
  if (err < 0)
    return err;
  if (x->chunked_out && !x->req.is_head && buf_append(tail(x), "0\r\n\r\n", 5) < 0)
    return UNIXCORN_ENOMEM;
  x->reply.state = RESPONSE_ENDED;
  return 0;
}

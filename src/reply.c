#include "reply.h"

#include <strings.h>

#include <unixcorn/app.h>

#include "grammar.h"
#include "response.h"

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

void reply_reset(struct reply *r) {
  r->status = 0;
  r->state = RESPONSE_NONE;
  r->length_declared = false;
  r->declared = r->given = 0;
  r->fields.len = 0;
  r->own_request_id = false;
}

int reply_start(struct reply *r, int status) {
  if (r->state != RESPONSE_NONE)
    return UNIXCORN_ESTATE;
  if (status < 200 || status > 599)
    return UNIXCORN_EINVAL;
  r->status = status;
  r->state = RESPONSE_STARTED;
  r->fields.len = 0;
  r->own_request_id = false;
  return 0;
}

int reply_field(struct reply *r, const char *name, size_t name_len, const char *value,
                size_t value_len) {
  if (r->state != RESPONSE_STARTED)
    return UNIXCORN_ESTATE;
  if (!is_token(name, name_len) ||
      field_value_end(value, value + value_len) != value + value_len ||
      owned_field(name, name_len))
    return UNIXCORN_EINVAL;
  if (buf_reserve(&r->fields, name_len + value_len + 4) < 0)
    return UNIXCORN_ENOMEM;
  buf_append(&r->fields, name, name_len);
  buf_append(&r->fields, ": ", 2);
  buf_append(&r->fields, value, value_len);
  buf_append(&r->fields, "\r\n", 2);
  if (name_len == 12 && strncasecmp(name, "x-request-id", 12) == 0)
    r->own_request_id = true;
  return 0;
}

int reply_length(struct reply *r, uint64_t length) {
  if (r->state != RESPONSE_STARTED)
    return UNIXCORN_ESTATE;
  if (length > UINT64_MAX / 2)
    return UNIXCORN_EINVAL;
  r->length_declared = true;
  r->declared = length;
  return 0;
}

int reply_body_allowed(const struct reply *r, uint64_t len) {
  if (r->state == RESPONSE_NONE || r->state == RESPONSE_ENDED)
    return UNIXCORN_ESTATE;
  if (len > 0 && !status_has_body(r->status))
    return UNIXCORN_ESTATE;
  if (r->length_declared && len > r->declared - r->given)
    return UNIXCORN_ELENGTH;
  return 0;
}

int reply_end_allowed(const struct reply *r) {
  if (r->state == RESPONSE_NONE || r->state == RESPONSE_ENDED)
    return UNIXCORN_ESTATE;
  if (r->length_declared && r->given != r->declared && status_has_body(r->status))
    return UNIXCORN_ELENGTH;
  return 0;
}

int reply_take_head(struct reply *dst, const struct reply *src) {
  int err = reply_start(dst, src->status);
  if (err == 0 && src->length_declared)
    err = reply_length(dst, src->declared);
  if (err == 0 && src->fields.len > 0 &&
      buf_append(&dst->fields, src->fields.data, src->fields.len) < 0)
    err = UNIXCORN_ENOMEM;
  if (err == 0)
    dst->own_request_id = src->own_request_id;
  return err;
}

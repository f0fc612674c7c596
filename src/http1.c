#include "http1.h"

#include <string.h>
#include <strings.h>

#define LOGGED_FIELD_MAX 1024      /* referer, user-agent, x-forwarded-for: for logs */
#define FRAMING_RUN_MAX 8192       /* bytes between tokens: OWS, chunk extensions */
#define BODY_FRAMING_MAX (1 << 20) /* chunk framing beyond the body's own size */

enum field_id {
  FIELD_OTHER,
  FIELD_HOST,
  FIELD_CONTENT_TYPE,
  FIELD_TRANSFER_ENCODING,
  FIELD_EXPECT,
  FIELD_REFERER,
  FIELD_USER_AGENT,
  FIELD_FORWARDED_FOR,
};

static const struct {
  const char *name;
  enum field_id id;
} known_fields[] = {
    {"host", FIELD_HOST},
    {"content-type", FIELD_CONTENT_TYPE},
    {"transfer-encoding", FIELD_TRANSFER_ENCODING},
    {"expect", FIELD_EXPECT},
    {"referer", FIELD_REFERER},
    {"user-agent", FIELD_USER_AGENT},
    {"x-forwarded-for", FIELD_FORWARDED_FOR},
};

static struct http1 *from_parser(llhttp_t *p) {
  return (struct http1 *)p->data;
}

static int fail(struct http1 *h, int status, const char *reason) {
  if (h->error_status == 0) {
    h->error_status = status;
    h->error_reason = reason;
  }
  return HPE_USER;
}

/* Framing bytes llhttp does not hand to a callback: every CR must be followed by
 * LF, no LF may stand alone, and no head line may start with whitespace. */
static int scan_gap(struct http1 *h, const char *end) {
  const char *p = h->scan_pos;
  if (end < p)
    return 0;
  h->gap_len += (size_t)(end - p);
  if (h->gap_len > FRAMING_RUN_MAX)
    return fail(h, 400, "Framing run too long");
  if (!h->in_head) {
    /* Chunk extensions are framing, not body: bound them too. */
    h->framing_len += (size_t)(end - p);
    if (h->framing_len > BODY_FRAMING_MAX + h->req->body_received)
      return fail(h, 400, "Too much chunk framing");
  }
  for (; p < end; p++) {
    char c = *p;
    if (h->pending_cr) {
      if (c != '\n')
        return fail(h, 400, "Bare CR in request framing");
      h->pending_cr = false;
      h->line_start = true;
    } else if (c == '\r') {
      h->pending_cr = true;
    } else if (c == '\n') {
      return fail(h, 400, "Bare LF in request framing");
    } else if (h->line_start && h->in_head && (c == ' ' || c == '\t')) {
      return fail(h, 400, "Obsolete line folding");
    } else {
      h->line_start = false;
    }
  }
  h->scan_pos = end;
  return 0;
}

/* A token starts at `at`: what came before it is framing. */
static int span_start(struct http1 *h, const char *at, size_t len) {
  if (scan_gap(h, at) != 0)
    return HPE_USER;
  if (h->pending_cr)
    return fail(h, 400, "Bare CR in request framing");
  h->line_start = false;
  h->scan_pos = at + len;
  h->gap_len = 0;
  return 0;
}

static int keep(struct http1 *h, struct span *s, const char *at, size_t len, size_t max) {
  struct buf *b = &h->req->fields;
  if (!h->value_started) {
    if (s->len != 0) { /* keep the first occurrence only */
      h->field_id = FIELD_OTHER;
      return 0;
    }
    s->off = (uint32_t)b->len;
  }
  if (s->len + len > max)
    len = s->len < max ? max - s->len : 0;
  if (buf_append(b, at, len) != 0)
    return fail(h, 500, "Out of memory");
  s->len += (uint32_t)len;
  return 0;
}

static int line_grow(struct http1 *h, size_t len) {
  h->line_len += len;
  if (h->limits->request_line && h->line_len > h->limits->request_line)
    return fail(h, 414, "Request line too long");
  return 0;
}

static int on_message_begin(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  struct request *r = h->req;
  r->fields.len = 0;
  r->method = r->target = r->content_type = (struct span){0, 0};
  r->referer = r->user_agent = r->forwarded_for = (struct span){0, 0};
  r->expect_continue = r->chunked = r->is_head = false;
  r->body_received = r->content_length = 0;
  h->line_len = h->field_len = h->nfields = 0;
  h->host_count = h->te_count = 0;
  h->in_head = true;
  h->in_request_line = true;
  h->version_seen = false;
  h->framing_len = 0;
  memset(h->line_tail, 0, sizeof h->line_tail);
  h->te_not_chunked = false;
  return 0;
}

static int on_method(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  if (span_start(h, at, len) || line_grow(h, len + (h->req->method.len == 0)))
    return HPE_USER;
  h->value_started = h->req->method.len != 0;
  return keep(h, &h->req->method, at, len, 64);
}

/* Exactly one SP between the parts of the request line (llhttp skips extra):
 * the gap before the target is " ", the one before the version " HTTP/". */
static int exact_gap_before(struct http1 *h, const char *at, bool first_piece,
                            size_t want) {
  if (scan_gap(h, at) != 0)
    return HPE_USER;
  return first_piece && h->gap_len != want ? fail(h, 400, "Malformed request line") : 0;
}

static bool has_ctl_or_space(const char *at, size_t len) {
  for (size_t i = 0; i < len; i++)
    if ((unsigned char)at[i] <= ' ' || at[i] == 0x7f)
      return true;
  return false;
}

static int on_url(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  if (exact_gap_before(h, at, h->req->target.len == 0, 1) || span_start(h, at, len) ||
      line_grow(h, len + (h->req->target.len == 0)))
    return HPE_USER;
  if (has_ctl_or_space(at, len))
    return fail(h, 400, "Invalid character in the request target");
  h->value_started = h->req->target.len != 0;
  return keep(h, &h->req->target, at, len, UINT32_MAX);
}

static int on_version_complete(llhttp_t *p) {
  from_parser(p)->in_request_line = false;
  return 0;
}

static int on_version(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  bool first_piece = !h->version_seen;
  h->version_seen = true;
  /* "HTTP/" counts towards the line's length, though llhttp treats it as
   * framing; the space before it was counted with the target. */
  return exact_gap_before(h, at, first_piece, 6) || span_start(h, at, len) ||
                 line_grow(h, len + (first_piece ? 5 : 0))
             ? HPE_USER
             : 0;
}

static int field_grow(struct http1 *h, size_t len) {
  h->field_len += len;
  if (h->limits->field_size && h->field_len > h->limits->field_size)
    return fail(h, 431, "Request header field too large");
  return 0;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  if (span_start(h, at, len) || field_grow(h, len))
    return HPE_USER;
  if (memchr(at, ' ', len) || memchr(at, '\t', len))
    return fail(h, 400, "Whitespace in header field name");
  for (size_t i = 0; i < len && h->field_name_len < sizeof h->field_name; i++)
    h->field_name[h->field_name_len++] = at[i];
  return 0;
}

static int on_header_field_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  if (h->field_name_len == 0)
    return fail(h, 400, "Empty header field name");
  if (++h->nfields > h->limits->fields)
    return fail(h, 431, "Too many request header fields");
  h->field_id = FIELD_OTHER;
  for (size_t i = 0; h->in_head && i < sizeof known_fields / sizeof known_fields[0];
       i++) {
    if (strlen(known_fields[i].name) == h->field_name_len &&
        strncasecmp(known_fields[i].name, h->field_name, h->field_name_len) == 0)
      h->field_id = known_fields[i].id;
  }
  h->field_name_len = 0;
  h->value_started = false;
  if (h->field_id == FIELD_HOST)
    h->host_count++;
  return 0;
}

static bool value_has_ctl(const char *at, size_t len) {
  for (size_t i = 0; i < len; i++) {
    unsigned char c = (unsigned char)at[i];
    if ((c < 0x20 && c != '\t') || c == 0x7f)
      return true;
  }
  return false;
}

/* Transfer-Encoding and Expect: only one exact value each is acceptable, so the
 * first bytes of the value tell us enough. */
static void collect_token(struct http1 *h, const char *at, size_t len) {
  for (size_t i = 0; i < len; i++) {
    if (h->token_len < sizeof h->token)
      h->token[h->token_len] = at[i];
    if (h->token_len <= sizeof h->token)
      h->token_len++;
  }
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  if (scan_gap(h, at) != 0)
    return HPE_USER;
  if (h->line_start) /* a value that begins a line continues the previous one */
    return fail(h, 400, "Obsolete line folding");
  if (span_start(h, at, len) || field_grow(h, len))
    return HPE_USER;
  if (value_has_ctl(at, len))
    return fail(h, 400, "Control character in header value");
  int rc = 0;
  switch (h->field_id) {
  case FIELD_CONTENT_TYPE:
    rc = keep(h, &h->req->content_type, at, len, UINT32_MAX);
    break;
  case FIELD_REFERER: rc = keep(h, &h->req->referer, at, len, LOGGED_FIELD_MAX); break;
  case FIELD_USER_AGENT:
    rc = keep(h, &h->req->user_agent, at, len, LOGGED_FIELD_MAX);
    break;
  case FIELD_FORWARDED_FOR:
    rc = keep(h, &h->req->forwarded_for, at, len, LOGGED_FIELD_MAX);
    break;
  case FIELD_TRANSFER_ENCODING:
  case FIELD_EXPECT: collect_token(h, at, len); break;
  default: break;
  }
  h->value_started = true;
  return rc;
}

static bool token_is(const struct http1 *h, const char *token) {
  size_t n = h->token_len;
  if (n > sizeof h->token)
    return false;
  while (n > 0 && (h->token[n - 1] == ' ' || h->token[n - 1] == '\t'))
    n--;
  return n == strlen(token) && strncasecmp(h->token, token, n) == 0;
}

static int on_header_value_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  if (h->field_id == FIELD_TRANSFER_ENCODING) {
    h->te_count++;
    h->te_not_chunked |= !token_is(h, "chunked");
  } else if (h->field_id == FIELD_EXPECT) {
    if (!token_is(h, "100-continue"))
      return fail(h, 417, "Unsupported Expect value");
    h->req->expect_continue = true;
  }
  h->field_len = 0;
  h->token_len = 0;
  h->field_id = FIELD_OTHER;
  return 0;
}

static int on_headers_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  h->in_head = false;
  h->event = HTTP1_HEAD_DONE;
  return HPE_PAUSED;
}

static int on_body(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  struct request *r = h->req;
  if (span_start(h, at, len))
    return HPE_USER;
  r->body_received += len;
  if (h->limits->body && r->body_received > h->limits->body)
    return fail(h, 413, "Request body too large");
  int status = h->on_body(h->owner, at, len);
  return status ? fail(h, status, "Could not store the request body") : 0;
}

/* A declared chunk that would cross the limit is refused before it is read. */
static int on_chunk_header(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  uint64_t limit = h->limits->body;
  if (limit &&
      (p->content_length > limit || h->req->body_received > limit - p->content_length))
    return fail(h, 413, "Request body too large");
  return 0;
}

static int on_message_complete(llhttp_t *p) {
  from_parser(p)->event = HTTP1_MESSAGE_DONE;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_message_begin = on_message_begin,
    .on_method = on_method,
    .on_url = on_url,
    .on_version = on_version,
    .on_version_complete = on_version_complete,
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_chunk_header = on_chunk_header,
    .on_message_complete = on_message_complete,
};

void http1_init(struct http1 *h, const struct http1_limits *limits, struct request *req,
                http1_body_cb on_body, void *owner) {
  memset(h, 0, sizeof *h);
  llhttp_init(&h->parser, HTTP_REQUEST, &settings);
  h->parser.data = h;
  h->limits = limits;
  h->req = req;
  h->on_body = on_body;
  h->owner = owner;
}

void http1_next(struct http1 *h) {
  llhttp_resume(&h->parser);
}

/* The head is in: what llhttp accepts but RFC 9112 (or this server) does not. */
static int check_head(struct http1 *h) {
  llhttp_t *p = &h->parser;
  struct request *r = h->req;
  if (h->pending_cr)
    return fail(h, 400, "Bare CR in request framing");
  if (p->http_major == 0)
    return fail(h, 400, "Request line without an HTTP version");
  if (p->http_major != 1)
    return fail(h, 505, "HTTP version not supported");
  if (h->host_count > 1 || (p->http_minor == 1 && h->host_count == 0))
    return fail(h, 400, "Exactly one Host header is required");
  if ((p->flags & F_TRANSFER_ENCODING) && !(p->flags & F_CHUNKED))
    return fail(h, 400, "Transfer-Encoding must end in chunked");
  if ((p->flags & F_CHUNKED) && (h->te_not_chunked || h->te_count > 1))
    return fail(h, 501, "Unsupported transfer coding");
  if (p->method == HTTP_CONNECT)
    return fail(h, 501, "CONNECT is not supported");
  r->version_major = p->http_major;
  r->version_minor = p->http_minor;
  r->is_head = p->method == HTTP_HEAD;
  r->chunked = (p->flags & F_CHUNKED) != 0;
  r->content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
  /* Upgrade is not offered: answer the request, then close. A chunked
   * HTTP/1.0 request must be followed by a close (RFC 9112, 6.1). */
  r->keep_alive = llhttp_should_keep_alive(p) != 0 && !p->upgrade &&
                  !(r->chunked && p->http_minor == 0);
  if (h->limits->body && !r->chunked && r->content_length > h->limits->body)
    return fail(h, 413, "Request body too large");
  if (!r->chunked && r->content_length == 0)
    r->expect_continue = false; /* nothing to continue with */
  return 0;
}

/* llhttp rejects HTTP/3.0 as malformed before reporting the version, so the
 * last bytes of the request line are kept to find the major digit. */
static void remember_line_tail(struct http1 *h, const char *data, size_t len) {
  size_t keep = sizeof h->line_tail;
  if (len >= keep) {
    memcpy(h->line_tail, data + len - keep, keep);
  } else {
    memmove(h->line_tail, h->line_tail + len, keep - len);
    memcpy(h->line_tail + keep - len, data, len);
  }
}

static bool newer_version(struct http1 *h, const char *data, const char *pos) {
  remember_line_tail(h, data, (size_t)(pos - data));
  const char *t = h->line_tail, *end = t + sizeof h->line_tail;
  for (const char *p = t; p + 5 < end; p++)
    if (memcmp(p, "HTTP/", 5) == 0)
      return p[5] >= '2' && p[5] <= '9';
  return false;
}

static enum http1_event parse_error(struct http1 *h, llhttp_errno_t err,
                                    const char *data) {
  if (h->error_status == 0) {
    const char *pos = llhttp_get_error_pos(&h->parser);
    bool newer = err == HPE_INVALID_VERSION && pos != NULL && newer_version(h, data, pos);
    if (err == HPE_PAUSED_H2_UPGRADE || newer)
      fail(h, 505, "HTTP version not supported");
    else
      fail(h, 400, llhttp_get_error_reason(&h->parser));
  }
  return HTTP1_ERROR;
}

enum http1_event http1_execute(struct http1 *h, const char *data, size_t len,
                               size_t *consumed) {
  h->scan_pos = data;
  h->event = HTTP1_NEED_MORE;
  llhttp_errno_t err = llhttp_execute(&h->parser, data, len);
  const char *end = data + len;
  if (err != HPE_OK)
    end = llhttp_get_error_pos(&h->parser);
  *consumed = (size_t)(end - data);
  if (err != HPE_OK && err != HPE_PAUSED && err != HPE_PAUSED_UPGRADE)
    return parse_error(h, err, data);
  if (scan_gap(h, end) != 0)
    return HTTP1_ERROR;
  if (h->in_request_line)
    remember_line_tail(h, data, *consumed);
  if (err == HPE_OK)
    return HTTP1_NEED_MORE;
  if (h->event == HTTP1_HEAD_DONE) {
    if (check_head(h) != 0)
      return HTTP1_ERROR;
    llhttp_resume(&h->parser); /* the pause only marked where the head ends */
  }
  return h->event;
}

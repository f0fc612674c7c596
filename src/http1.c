#include "http1_impl.h"

#include <string.h>

/* llhttp parses the header section only, from the state it is in after a
 * request line: llhttp 8.1 refuses methods it does not know and HTTP/1.2 to
 * 1.9, all of which RFC 9110 asks a server to take, so the real line is parsed
 * here. Two parsers are fed these lines once; every request gets a copy, a
 * memcpy instead of the ~500 instructions of parsing the line again
 * (callgrind). Nothing in them points into the line. */
static const char llhttp_line_11[] = "GET / HTTP/1.1\r\n";
static const char llhttp_line_10[] = "GET / HTTP/1.0\r\n";
static llhttp_t after_line[2]; /* [0]: HTTP/1.0, [1]: HTTP/1.1 and later */

enum phase { PHASE_LINE, PHASE_FIELDS, PHASE_LENGTH, PHASE_CHUNKED, PHASE_DONE };

enum line_state {
  LINE_START,    /* empty lines may come first (RFC 9112, section 2.2) */
  LINE_START_LF, /* the CR of an empty line was seen */
  LINE_METHOD,
  LINE_TARGET_START,
  LINE_TARGET,
  LINE_VERSION,
  LINE_LF,
};

int http1_refuse(struct http1 *h, int status, const char *reason) {
  if (h->error_status == 0) {
    h->error_status = status;
    h->error_reason = reason;
  }
  return HPE_USER;
}

/* ---- the request line ---- */

static int line_grow(struct http1 *h, size_t n) {
  h->line_len += n;
  if (h->limits->request_line && h->line_len > h->limits->request_line)
    return http1_refuse(h, 414, "Request line too long");
  return 0;
}

/* Appends at..at+len to span s, which grows at the end of the fields. */
static int append(struct http1 *h, struct span *s, const char *at, size_t len) {
  struct buf *b = &h->req->fields;
  if (len == 0)
    return 0;
  if (s->len == 0)
    s->off = (uint32_t)b->len;
  if (len > UINT32_MAX - s->len || buf_append(b, at, len) != 0)
    return http1_refuse(h, 500, "Out of memory");
  s->len += (uint32_t)len;
  return 0;
}

/* A run of bytes of one part of the line: it is counted, then kept. */
static int take_run(struct http1 *h, struct span *s, const char *from, const char *to) {
  return line_grow(h, (size_t)(to - from)) || append(h, s, from, (size_t)(to - from));
}

static bool span_is(const struct request *r, struct span s, const char *text) {
  return s.len == strlen(text) && memcmp(r->fields.data + s.off, text, s.len) == 0;
}

/* HTTP-version = "HTTP" "/" DIGIT "." DIGIT, case-sensitive. 1.x is served as
 * 1.1 when x > 1 (RFC 9110, section 2.5). */
static int version_done(struct http1 *h) {
  const char *v = h->version;
  if (h->version_len != 8 || memcmp(v, "HTTP/", 5) != 0 || v[5] < '0' || v[5] > '9' ||
      v[6] != '.' || v[7] < '0' || v[7] > '9')
    return http1_refuse(h, 400, "Invalid HTTP version");
  h->req->version_major = (unsigned)(v[5] - '0');
  h->req->version_minor = (unsigned)(v[7] - '0');
  return h->req->version_major == 1 ? 0
                                    : http1_refuse(h, 505, "HTTP version not supported");
}

/* The method and the target's form must agree (RFC 9112, section 3.2). */
static int line_done(struct http1 *h) {
  struct request *r = h->req;
  if (span_is(r, r->method, "CONNECT"))
    return http1_refuse(h, 501, "CONNECT is not supported");
  enum target_form form = target_form(request_str(r, r->target), r->target.len);
  if (form == TARGET_INVALID || form == TARGET_AUTHORITY ||
      (form == TARGET_ASTERISK && !span_is(r, r->method, "OPTIONS")))
    return http1_refuse(h, 400, "Invalid request target");
  r->is_head = span_is(r, r->method, "HEAD");
  h->parser = after_line[r->version_minor != 0];
  h->phase = PHASE_FIELDS;
  h->section_off = (uint32_t)r->fields.len;
  return 0;
}

static const char *skip(const char *p, const char *end, unsigned cls) {
  while (p < end && char_is((unsigned char)*p, cls))
    p++;
  return p;
}

/* The target's bytes: any but controls and SP here; target_form() then
 * decides whether they make a target. */
static const char *skip_target(const char *p, const char *end) {
  while (p < end && (unsigned char)*p > ' ' && *p != 0x7f)
    p++;
  return p;
}

static int empty_line_cr(struct http1 *h) {
  h->line_state = LINE_START_LF;
  return ++h->blank_len > FRAMING_RUN_MAX ? http1_refuse(h, 400, "Too many empty lines")
                                          : 0;
}

/* One step of the request line: consumes from *pp, up to end. Returns 0, or
 * HPE_USER on an error. */
static int line_step(struct http1 *h, const char **pp, const char *end) {
  struct request *r = h->req;
  const char *p = *pp, *q;
  switch (h->line_state) {
  case LINE_START:
    if (*p == '\r') {
      *pp = p + 1;
      return empty_line_cr(h);
    }
    if (!char_is((unsigned char)*p, CHAR_TCHAR))
      return http1_refuse(h, 400,
                          *p == '\n' ? "Bare LF in request framing" : "Invalid method");
    h->line_state = LINE_METHOD;
    return 0;
  case LINE_START_LF:
    h->line_state = LINE_START;
    *pp = p + 1;
    return *p == '\n' ? 0 : http1_refuse(h, 400, "Bare CR in request framing");
  case LINE_METHOD:
    q = *pp = skip(p, end, CHAR_TCHAR);
    if (take_run(h, &r->method, p, q) || q == end)
      return h->error_status ? HPE_USER : 0;
    if (*q != ' ')
      return http1_refuse(h, 400, "Invalid method");
    h->line_state = LINE_TARGET_START;
    *pp = q + 1;
    return line_grow(h, 1);
  case LINE_TARGET_START:
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return http1_refuse(h, 400,
                          *p == ' ' ? "Malformed request line"
                                    : "Invalid character in the request target");
    h->line_state = LINE_TARGET;
    return 0;
  case LINE_TARGET:
    q = *pp = skip_target(p, end);
    if (take_run(h, &r->target, p, q) || q == end)
      return h->error_status ? HPE_USER : 0;
    if (*q == '\r' || *q == '\n')
      return http1_refuse(h, 400, "Request line without an HTTP version");
    if (*q != ' ')
      return http1_refuse(h, 400, "Invalid character in the request target");
    h->line_state = LINE_VERSION;
    *pp = q + 1;
    return line_grow(h, 1);
  case LINE_VERSION:
    if (h->version_len == 0 && end - p >= 10 && memcmp(p, "HTTP/1.1\r\n", 10) == 0) {
      memcpy(h->version, p, 8); /* the usual line, in one step */
      h->version_len = 8;
      *pp = p + 9;
      h->line_state = LINE_LF;
      return line_grow(h, 8) || version_done(h);
    }
    *pp = p + 1;
    if (*p == '\r') {
      h->line_state = LINE_LF;
      return version_done(h);
    }
    if (*p == ' ' || *p == '\n' || h->version_len == sizeof h->version)
      return http1_refuse(h, 400,
                          *p == ' ' ? "Malformed request line" : "Invalid HTTP version");
    h->version[h->version_len++] = *p;
    return line_grow(h, 1);
  default: /* LINE_LF */
    *pp = p + 1;
    return *p == '\n' ? line_done(h) : http1_refuse(h, 400, "Bare CR in request framing");
  }
}

/* The usual line, whole in the input: method SP target SP HTTP/1.x CRLF,
 * within the limit, in one pass instead of a step per part (a third of the
 * line's ~450 instructions, callgrind). Anything else, a line cut by a read
 * too, goes through line_step. Returns where the fields start, end if the
 * line is refused, or NULL. */
static const char *whole_line(struct http1 *h, const char *data, const char *end) {
  struct request *r = h->req;
  const char *method_end = skip(data, end, CHAR_TCHAR);
  if (method_end == data || method_end == end || *method_end != ' ')
    return NULL;
  const char *target = method_end + 1, *v = skip_target(target, end);
  if (v == target || end - v < 11 || memcmp(v, " HTTP/1.", 8) != 0 ||
      (v[8] != '0' && v[8] != '1') || v[9] != '\r' || v[10] != '\n')
    return NULL;
  size_t line_len = (size_t)(v + 9 - data);
  if (h->limits->request_line && line_len > h->limits->request_line)
    return NULL;
  h->line_len = line_len;
  r->version_major = 1;
  r->version_minor = (unsigned)(v[8] - '0');
  if (append(h, &r->method, data, (size_t)(method_end - data)) ||
      append(h, &r->target, target, (size_t)(v - target)) || line_done(h))
    return end; /* refused */
  return v + 11;
}

static enum http1_event parse_line(struct http1 *h, const char *data, size_t len,
                                   size_t *used) {
  const char *p = data, *end = data + len;
  if (h->line_state == LINE_START && h->line_len == 0 &&
      (p = whole_line(h, data, end)) != NULL) {
    *used = (size_t)(p - data);
    return h->error_status ? HTTP1_ERROR : HTTP1_NEED_MORE;
  }
  p = data;
  while (p < end && h->phase == PHASE_LINE) {
    if (line_step(h, &p, end) != 0) {
      *used = len;
      return HTTP1_ERROR;
    }
  }
  *used = (size_t)(p - data);
  return HTTP1_NEED_MORE;
}

/* ---- header fields, on llhttp ---- */

/* llhttp stops at the end of the head: the body is framed here. */
static int on_headers_complete(llhttp_t *p) {
  (void)p;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {.on_headers_complete = on_headers_complete};

/* The head is in: what llhttp accepts but RFC 9112 (or this server) does not,
 * and how the body is framed. */
static int check_head(struct http1 *h) {
  llhttp_t *p = &h->parser;
  struct request *r = h->req;
  if (h->host_count > 1 || (r->version_minor >= 1 && h->host_count == 0))
    return http1_refuse(h, 400, "Exactly one Host header is required");
  if (!host_value_valid(request_str(r, r->host), r->host.len))
    return http1_refuse(h, 400, "Invalid Host header");
  if (h->te.lines != 0 && !h->te.last_wanted)
    return http1_refuse(h, 400, "Transfer-Encoding must end in chunked");
  if (h->te.wanted + h->te.others > 1)
    return http1_refuse(h, 501, "Unsupported transfer coding");
  if (h->expect.others != 0)
    return http1_refuse(h, 417, "Unsupported Expect value");
  r->chunked = h->te.lines != 0;
  r->expect_continue = h->expect.wanted != 0;
  r->content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
  /* Upgrade is not offered: answer the request, then close. A chunked
   * HTTP/1.0 request must be followed by a close (RFC 9112, 6.1). */
  r->client_closes = llhttp_should_keep_alive(p) == 0;
  r->keep_alive =
      !r->client_closes && !p->upgrade && !(r->chunked && r->version_minor == 0);
  if (h->limits->body && !r->chunked && r->content_length > h->limits->body)
    return http1_refuse(h, 413, "Request body too large");
  if (!r->chunked && r->content_length == 0)
    r->expect_continue = false; /* nothing to continue with */
  h->body_left = r->content_length;
  h->phase = r->chunked ? PHASE_CHUNKED : PHASE_LENGTH;
  chunked_init(&h->chunked, h->limits->field_size);
  return 0;
}

static enum http1_event parse_fields(struct http1 *h, char *data, size_t len,
                                     size_t *used) {
  len = http1_tame_tabs(h, data, len);
  llhttp_errno_t err = llhttp_execute(&h->parser, data, len);
  const char *end = err == HPE_OK ? data + len : llhttp_get_error_pos(&h->parser);
  *used = (size_t)(end - data);
  if (http1_fields_keep(h, data, *used) != 0)
    return HTTP1_ERROR;
  if (err == HPE_OK)
    return HTTP1_NEED_MORE;
  if (err != HPE_PAUSED) { /* an error of ours in an earlier line comes first */
    if (http1_fields_scan(h, false) == 0)
      http1_refuse(h, 400, llhttp_get_error_reason(&h->parser));
    return HTTP1_ERROR;
  }
  return http1_fields_scan(h, true) == 0 && check_head(h) == 0 ? HTTP1_HEAD_DONE
                                                               : HTTP1_ERROR;
}

/* ---- the body ---- */

static int deliver(struct http1 *h, const char *at, size_t len) {
  struct request *r = h->req;
  r->body_received += len;
  if (h->limits->body && r->body_received > h->limits->body)
    return http1_refuse(h, 413, "Request body too large");
  int status = h->on_body(h->owner, at, len);
  return status ? http1_refuse(h, status, "Could not store the request body") : 0;
}

static enum http1_event parse_length(struct http1 *h, const char *data, size_t len,
                                     size_t *used) {
  size_t n = len < h->body_left ? len : (size_t)h->body_left;
  *used = n;
  if (n > 0 && deliver(h, data, n) != 0)
    return HTTP1_ERROR;
  h->body_left -= n;
  if (h->body_left != 0)
    return HTTP1_NEED_MORE;
  h->phase = PHASE_DONE;
  return HTTP1_MESSAGE_DONE;
}

/* A declared chunk that would cross the limit is refused before it is read. */
static int chunk_fits(struct http1 *h, uint64_t size) {
  uint64_t limit = h->limits->body, received = h->req->body_received;
  if (limit && (size > limit || received > limit - size))
    return http1_refuse(h, 413, "Request body too large");
  return 0;
}

static enum http1_event parse_chunked(struct http1 *h, const char *data, size_t len,
                                      size_t *used) {
  size_t pos = 0, n, piece_len = 0;
  const char *piece = NULL;
  for (;;) {
    enum chunked_event ev =
        chunked_parse(&h->chunked, data + pos, len - pos, &n, &piece, &piece_len);
    pos += n;
    *used = pos;
    int rc = 0;
    switch (ev) {
    case CHUNKED_NEED_MORE: return HTTP1_NEED_MORE;
    case CHUNKED_SIZE: rc = chunk_fits(h, h->chunked.size); break;
    case CHUNKED_DATA: rc = deliver(h, piece, piece_len); break;
    case CHUNKED_TRAILER:
      if (++h->nfields > h->limits->fields)
        rc = http1_refuse(h, 431, "Too many request header fields");
      break;
    case CHUNKED_DONE: h->phase = PHASE_DONE; return HTTP1_MESSAGE_DONE;
    case CHUNKED_ERROR:
      http1_refuse(h, h->chunked.error_status, h->chunked.error_reason);
      return HTTP1_ERROR;
    }
    if (rc != 0)
      return HTTP1_ERROR;
  }
}

/* ---- the message ---- */

static void prepare_after_line(void) {
  static bool ready;
  static const char *const lines[2] = {llhttp_line_10, llhttp_line_11};
  if (ready)
    return;
  for (int i = 0; i < 2; i++) {
    llhttp_init(&after_line[i], HTTP_REQUEST, &settings);
    /* Transfer-Encoding is judged in check_head, element by element: llhttp
     * 8.1 would refuse the valid "chunked ,", whose last element is empty. */
    llhttp_set_lenient_transfer_encoding(&after_line[i], 1);
    if (llhttp_execute(&after_line[i], lines[i], strlen(lines[i])) != HPE_OK ||
        after_line[i]._span_pos0 != NULL)
      abort(); /* llhttp is not what this was written for */
  }
  ready = true;
}

static void begin_message(struct http1 *h) {
  struct request *r = h->req;
  r->fields.len = 0;
  r->method = r->target = r->host = r->content_type = (struct span){0, 0};
  r->nlist = 0;
  r->referer = r->user_agent = r->forwarded_for = r->request_start = (struct span){0, 0};
  r->expect_continue = r->chunked = r->is_head = r->client_closes = false;
  r->body_received = r->content_length = 0;
  r->version_major = r->version_minor = 0;
  h->phase = PHASE_LINE;
  h->line_state = LINE_START;
  h->line_len = h->blank_len = h->version_len = 0;
  h->nfields = h->host_count = 0;
  h->section_off = 0;
  h->line_kept = h->ows_carried = 0;
  h->error_status = 0;
  h->error_reason = NULL;
  list_init(&h->te, "chunked");
  list_init(&h->expect, "100-continue");
}

void http1_init(struct http1 *h, const struct http1_limits *limits, struct request *req,
                http1_body_cb on_body, void *owner) {
  prepare_after_line();
  h->limits = limits;
  h->req = req;
  h->on_body = on_body;
  h->owner = owner;
  begin_message(h);
}

void request_free(struct request *r) {
  buf_release(&r->fields);
  free(r->list);
  r->list = NULL;
  r->nlist = r->list_cap = 0;
}

void http1_next(struct http1 *h) {
  begin_message(h);
}

enum http1_event http1_execute(struct http1 *h, char *data, size_t len,
                               size_t *consumed) {
  size_t used = 0;
  enum http1_event ev = HTTP1_NEED_MORE;
  *consumed = 0;
  if (h->error_status != 0)
    return HTTP1_ERROR;
  if (h->phase == PHASE_LINE) {
    ev = parse_line(h, data, len, &used);
    *consumed = used;
    if (ev != HTTP1_NEED_MORE || h->phase == PHASE_LINE)
      return ev;
    data += used, len -= used;
  }
  switch (h->phase) {
  case PHASE_FIELDS: ev = parse_fields(h, data, len, &used); break;
  case PHASE_LENGTH: ev = parse_length(h, data, len, &used); break;
  case PHASE_CHUNKED: ev = parse_chunked(h, data, len, &used); break;
  default: return HTTP1_MESSAGE_DONE;
  }
  *consumed += used;
  return ev;
}

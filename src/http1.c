#include "http1.h"

#include <stdlib.h>
#include <string.h>

#include "grammar.h"

#define FRAMING_RUN_MAX 8192 /* bytes between tokens: OWS, empty lines */
#define OWS_HOLD_MAX 64      /* whitespace at the end of input kept for later */

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

enum field_id {
  FIELD_OTHER,
  FIELD_HOST,
  FIELD_CONTENT_TYPE,
  FIELD_TRANSFER_ENCODING,
  FIELD_EXPECT,
  FIELD_REFERER,
  FIELD_USER_AGENT,
  FIELD_FORWARDED_FOR,
  FIELD_REQUEST_START,
};

/* In the order of known_field's switch on their lengths. */
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
    {"x-request-start", FIELD_REQUEST_START},
};

static struct http1 *from_parser(llhttp_t *p) {
  return (struct http1 *)p->data;
}

static int refuse(struct http1 *h, int status, const char *reason) {
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
    return refuse(h, 414, "Request line too long");
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
    return refuse(h, 500, "Out of memory");
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
    return refuse(h, 400, "Invalid HTTP version");
  h->req->version_major = (unsigned)(v[5] - '0');
  h->req->version_minor = (unsigned)(v[7] - '0');
  return h->req->version_major == 1 ? 0 : refuse(h, 505, "HTTP version not supported");
}

/* The method and the target's form must agree (RFC 9112, section 3.2). */
static int line_done(struct http1 *h) {
  struct request *r = h->req;
  if (span_is(r, r->method, "CONNECT"))
    return refuse(h, 501, "CONNECT is not supported");
  enum target_form form = target_form(request_str(r, r->target), r->target.len);
  if (form == TARGET_INVALID || form == TARGET_AUTHORITY ||
      (form == TARGET_ASTERISK && !span_is(r, r->method, "OPTIONS")))
    return refuse(h, 400, "Invalid request target");
  r->is_head = span_is(r, r->method, "HEAD");
  h->parser = after_line[r->version_minor != 0];
  h->parser.data = h;
  h->phase = PHASE_FIELDS;
  h->line_start = true;
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
  return ++h->blank_len > FRAMING_RUN_MAX ? refuse(h, 400, "Too many empty lines") : 0;
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
      return refuse(h, 400, *p == '\n' ? "Bare LF in request framing" : "Invalid method");
    h->line_state = LINE_METHOD;
    return 0;
  case LINE_START_LF:
    h->line_state = LINE_START;
    *pp = p + 1;
    return *p == '\n' ? 0 : refuse(h, 400, "Bare CR in request framing");
  case LINE_METHOD:
    q = *pp = skip(p, end, CHAR_TCHAR);
    if (take_run(h, &r->method, p, q) || q == end)
      return h->error_status ? HPE_USER : 0;
    if (*q != ' ')
      return refuse(h, 400, "Invalid method");
    h->line_state = LINE_TARGET_START;
    *pp = q + 1;
    return line_grow(h, 1);
  case LINE_TARGET_START:
    if ((unsigned char)*p <= ' ' || *p == 0x7f)
      return refuse(h, 400,
                    *p == ' ' ? "Malformed request line"
                              : "Invalid character in the request target");
    h->line_state = LINE_TARGET;
    return 0;
  case LINE_TARGET:
    q = *pp = skip_target(p, end);
    if (take_run(h, &r->target, p, q) || q == end)
      return h->error_status ? HPE_USER : 0;
    if (*q == '\r' || *q == '\n')
      return refuse(h, 400, "Request line without an HTTP version");
    if (*q != ' ')
      return refuse(h, 400, "Invalid character in the request target");
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
      return refuse(h, 400,
                    *p == ' ' ? "Malformed request line" : "Invalid HTTP version");
    h->version[h->version_len++] = *p;
    return line_grow(h, 1);
  default: /* LINE_LF */
    *pp = p + 1;
    return *p == '\n' ? line_done(h) : refuse(h, 400, "Bare CR in request framing");
  }
}

static enum http1_event parse_line(struct http1 *h, const char *data, size_t len,
                                   size_t *used) {
  const char *p = data, *end = data + len;
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

/* Framing bytes llhttp does not hand to a callback: every CR must be followed by
 * LF, no LF may stand alone, and no head line may start with whitespace. */
static int scan_gap(struct http1 *h, const char *end) {
  const char *p = h->scan_pos;
  if (end <= p)
    return 0;
  h->gap_len += (size_t)(end - p);
  if (h->gap_len > FRAMING_RUN_MAX)
    return refuse(h, 400, "Framing run too long");
  if (!h->pending_cr && end - p == 2 && p[0] == '\r' && p[1] == '\n') {
    h->line_start = true; /* the usual gap between two field lines */
    h->scan_pos = end;
    return 0;
  }
  for (; p < end; p++) {
    char c = *p;
    if (h->pending_cr) {
      if (c != '\n')
        return refuse(h, 400, "Bare CR in request framing");
      h->pending_cr = false;
      h->line_start = true;
    } else if (c == '\r') {
      h->pending_cr = true;
    } else if (c == '\n') {
      return refuse(h, 400, "Bare LF in request framing");
    } else if (h->line_start && is_ows(c)) {
      return refuse(h, 400, "Obsolete line folding");
    } else {
      h->line_start = false;
    }
  }
  h->scan_pos = end;
  return 0;
}

/* A token starts at `at`: what came before it is framing. Returns 0 or
 * HPE_USER; *begins_line says whether the token starts a line. */
static int span_start(struct http1 *h, const char *at, size_t len, bool *begins_line) {
  if (scan_gap(h, at) != 0)
    return HPE_USER;
  if (h->pending_cr)
    return refuse(h, 400, "Bare CR in request framing");
  *begins_line = h->line_start;
  h->line_start = false;
  h->scan_pos = at + len;
  h->gap_len = 0;
  return 0;
}

static int field_grow(struct http1 *h, size_t len) {
  h->field_len += len;
  if (h->limits->field_size && h->field_len > h->limits->field_size)
    return refuse(h, 431, "Request header field too large");
  return 0;
}

/* llhttp 8.1 takes SP inside a name ("Ho st", "Host :"): every byte must be
 * a tchar. */
static int on_header_field(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  bool begins_line;
  if (span_start(h, at, len, &begins_line) || field_grow(h, len))
    return HPE_USER;
  unsigned all = CHAR_TCHAR;
  for (size_t i = 0; i < len; i++)
    all &= http_char_class[(unsigned char)at[i]];
  if (all == 0)
    return refuse(h, 400, "Invalid character in a header field name");
  return append(h, &h->field.name, at, len);
}

/* Field names are case-insensitive; tchars other than letters are unchanged
 * by | 0x20 or become characters no known name holds. Each known name has a
 * length of its own, but for the two X- names of 15, told apart by their
 * third letter. */
static enum field_id known_field(const char *name, size_t len) {
  size_t i;
  switch (len) {
  case 4: i = 0; break;
  case 12: i = 1; break;
  case 17: i = 2; break;
  case 6: i = 3; break;
  case 7: i = 4; break;
  case 10: i = 5; break;
  case 15: i = (name[2] | 0x20) == 'f' ? 6 : 7; break;
  default: return FIELD_OTHER;
  }
  for (size_t k = 0; k < len; k++)
    if ((name[k] | 0x20) != known_fields[i].name[k])
      return FIELD_OTHER;
  return known_fields[i].id;
}

static int on_header_field_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  const struct request *r = h->req;
  if (h->field.name.len == 0)
    return refuse(h, 400, "Empty header field name");
  if (++h->nfields > h->limits->fields)
    return refuse(h, 431, "Too many request header fields");
  h->field_id = known_field(r->fields.data + h->field.name.off, h->field.name.len);
  if (h->field_id == FIELD_HOST)
    h->host_count++;
  return 0;
}

/* Where this server keeps the first value of a field it reads. */
static struct span *known_span(struct http1 *h) {
  struct request *r = h->req;
  switch (h->field_id) {
  case FIELD_HOST: return &r->host;
  case FIELD_CONTENT_TYPE: return &r->content_type;
  case FIELD_REFERER: return &r->referer;
  case FIELD_USER_AGENT: return &r->user_agent;
  case FIELD_FORWARDED_FOR: return &r->forwarded_for;
  case FIELD_REQUEST_START: return &r->request_start;
  default: return NULL;
  }
}

/* The field is complete: it joins the list. */
static int push_field(struct http1 *h) {
  struct request *r = h->req;
  if (r->nlist == r->list_cap) {
    uint32_t cap = r->list_cap ? 2 * r->list_cap : 16;
    struct field *list = realloc(r->list, cap * sizeof *list);
    if (list == NULL)
      return refuse(h, 500, "Out of memory");
    r->list = list;
    r->list_cap = cap;
  }
  r->list[r->nlist++] = h->field;
  struct span *known = known_span(h);
  if (known != NULL && known->len == 0)
    *known = h->field.value;
  return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len) {
  struct http1 *h = from_parser(p);
  bool begins_line;
  if (len == 0) /* an empty value: llhttp reports it after the line's CRLF */
    return 0;
  /* llhttp refuses control characters in values itself. */
  if (span_start(h, at, len, &begins_line) || field_grow(h, len))
    return HPE_USER;
  if (begins_line) /* a value that begins a line continues the previous one */
    return refuse(h, 400, "Obsolete line folding");
  if (append(h, &h->field.value, at, len) != 0)
    return HPE_USER;
  if (h->field_id == FIELD_TRANSFER_ENCODING)
    list_feed(&h->te, at, len);
  else if (h->field_id == FIELD_EXPECT)
    list_feed(&h->expect, at, len);
  return 0;
}

/* field-value excludes the OWS around it; llhttp drops the leading OWS. */
static int on_header_value_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  struct span *v = &h->field.value;
  while (v->len > 0 && is_ows(h->req->fields.data[v->off + v->len - 1]))
    v->len--;
  if (h->field_id == FIELD_TRANSFER_ENCODING) {
    list_end_element(&h->te);
    h->te.lines++;
  } else if (h->field_id == FIELD_EXPECT) {
    list_end_element(&h->expect);
  }
  int rc = push_field(h);
  h->field = (struct field){{0, 0}, {0, 0}};
  h->field_len = 0;
  h->field_id = FIELD_OTHER;
  return rc;
}

static int on_headers_complete(llhttp_t *p) {
  struct http1 *h = from_parser(p);
  h->event = HTTP1_HEAD_DONE;
  return HPE_PAUSED;
}

static const llhttp_settings_t settings = {
    .on_header_field = on_header_field,
    .on_header_field_complete = on_header_field_complete,
    .on_header_value = on_header_value,
    .on_header_value_complete = on_header_value_complete,
    .on_headers_complete = on_headers_complete,
};

/* The head is in: what llhttp accepts but RFC 9112 (or this server) does not,
 * and how the body is framed. */
static int check_head(struct http1 *h) {
  llhttp_t *p = &h->parser;
  struct request *r = h->req;
  if (h->pending_cr)
    return refuse(h, 400, "Bare CR in request framing");
  if (h->host_count > 1 || (r->version_minor >= 1 && h->host_count == 0))
    return refuse(h, 400, "Exactly one Host header is required");
  if (!host_value_valid(request_str(r, r->host), r->host.len))
    return refuse(h, 400, "Invalid Host header");
  if (h->te.lines != 0 && !h->te.last_wanted)
    return refuse(h, 400, "Transfer-Encoding must end in chunked");
  if (h->te.wanted + h->te.others > 1)
    return refuse(h, 501, "Unsupported transfer coding");
  if (h->expect.others != 0)
    return refuse(h, 417, "Unsupported Expect value");
  r->chunked = h->te.lines != 0;
  r->expect_continue = h->expect.wanted != 0;
  r->content_length = (p->flags & F_CONTENT_LENGTH) ? p->content_length : 0;
  /* Upgrade is not offered: answer the request, then close. A chunked
   * HTTP/1.0 request must be followed by a close (RFC 9112, 6.1). */
  r->client_closes = llhttp_should_keep_alive(p) == 0;
  r->keep_alive =
      !r->client_closes && !p->upgrade && !(r->chunked && r->version_minor == 0);
  if (h->limits->body && !r->chunked && r->content_length > h->limits->body)
    return refuse(h, 413, "Request body too large");
  if (!r->chunked && r->content_length == 0)
    r->expect_continue = false; /* nothing to continue with */
  h->body_left = r->content_length;
  h->phase = r->chunked ? PHASE_CHUNKED : PHASE_LENGTH;
  chunked_init(&h->chunked, h->limits->field_size);
  return 0;
}

/* How much of data is head: up to the CRLF of the empty line that ends it,
 * which may have begun in earlier bytes (scan_gap followed those). */
static size_t head_part(const struct http1 *h, const char *data, size_t len) {
  if (h->pending_cr && h->line_start && len >= 1 && data[0] == '\n')
    return 1;
  if (h->pending_cr && !h->line_start && len >= 3 && memcmp(data, "\n\r\n", 3) == 0)
    return 3;
  if (h->line_start && !h->pending_cr && len >= 2 && memcmp(data, "\r\n", 2) == 0)
    return 2;
  const char *end = memmem(data, len, "\r\n\r\n", 4);
  return end ? (size_t)(end - data) + 4 : len;
}

/* The run of OWS that ends at end, back to data (and, if it reaches data,
 * the carried bytes of it passed on earlier). */
static size_t ows_run_before(const char *data, const char *end, size_t carried) {
  const char *p = end;
  while (p > data && is_ows(p[-1]))
    p--;
  return (size_t)(end - p) + (p == data ? carried : 0);
}

/* llhttp 8.1 refuses an HTAB after a Content-Length value, though it is OWS
 * (RFC 9110, section 5.6.3). OWS before a line's CR is framing, not part of
 * the value, so each HTAB in it becomes a SP. A run with an HTAB at the end of
 * the input may yet be followed by more of the value: it waits for the next
 * bytes. Runs of OWS_HOLD_MAX or more are left as they are, however the input
 * is cut. Returns how many bytes llhttp may have. */
static size_t tame_trailing_tabs(struct http1 *h, char *data, size_t len) {
  if (memchr(data, '\t', len) == NULL) { /* as nearly always */
    h->ows_carried = ows_run_before(data, data + len, h->ows_carried);
    return len;
  }
  size_t head = head_part(h, data, len), n = head;
  char *end = data + head;
  for (char *t = memchr(data, '\t', head); t != NULL;) {
    char *run_end = t;
    while (run_end < end && is_ows(*run_end))
      run_end++;
    size_t run = ows_run_before(data, run_end, h->ows_carried);
    if (run_end == end && head == len && run < OWS_HOLD_MAX) {
      n = (size_t)(t - data); /* from this HTAB on, wait */
      break;
    }
    if (run_end < end && *run_end == '\r' && run < OWS_HOLD_MAX)
      for (; t < run_end; t++)
        *t = *t == '\t' ? ' ' : *t;
    t = run_end < end ? memchr(run_end, '\t', (size_t)(end - run_end)) : NULL;
  }
  h->ows_carried = ows_run_before(data, data + n, h->ows_carried);
  return head == len ? n : len;
}

static enum http1_event parse_fields(struct http1 *h, char *data, size_t len,
                                     size_t *used) {
  h->scan_pos = data;
  h->event = HTTP1_NEED_MORE;
  len = tame_trailing_tabs(h, data, len);
  llhttp_errno_t err = llhttp_execute(&h->parser, data, len);
  const char *end = err == HPE_OK ? data + len : llhttp_get_error_pos(&h->parser);
  *used = (size_t)(end - data);
  if (err != HPE_OK && err != HPE_PAUSED) {
    refuse(h, 400, llhttp_get_error_reason(&h->parser));
    return HTTP1_ERROR;
  }
  if (scan_gap(h, end) != 0)
    return HTTP1_ERROR;
  if (err == HPE_OK)
    return HTTP1_NEED_MORE;
  return check_head(h) == 0 ? HTTP1_HEAD_DONE : HTTP1_ERROR;
}

/* ---- the body ---- */

static int deliver(struct http1 *h, const char *at, size_t len) {
  struct request *r = h->req;
  r->body_received += len;
  if (h->limits->body && r->body_received > h->limits->body)
    return refuse(h, 413, "Request body too large");
  int status = h->on_body(h->owner, at, len);
  return status ? refuse(h, status, "Could not store the request body") : 0;
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
    return refuse(h, 413, "Request body too large");
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
        rc = refuse(h, 431, "Too many request header fields");
      break;
    case CHUNKED_DONE: h->phase = PHASE_DONE; return HTTP1_MESSAGE_DONE;
    case CHUNKED_ERROR:
      refuse(h, h->chunked.error_status, h->chunked.error_reason);
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
  h->field_len = h->nfields = h->host_count = 0;
  h->field = (struct field){{0, 0}, {0, 0}};
  h->field_id = FIELD_OTHER;
  h->gap_len = h->ows_carried = 0;
  h->pending_cr = h->line_start = false;
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

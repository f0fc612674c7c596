/* The field section of a request head. llhttp reads it as it arrives, for the
 * framing it decides (Content-Length, Connection, Upgrade) and to find its end;
 * the section's bytes are kept, and once llhttp has found the empty line they
 * are checked against RFC 9112's grammar and split into the request's field
 * list in one pass here. One pass over a whole section, instead of four llhttp
 * callbacks per field with their state across reads, cut the fields' part of a
 * request from ~1,250 to ~850 instructions (callgrind, three fields). */
#include "http1_impl.h"

#include <string.h>

#define OWS_HOLD_MAX 64 /* whitespace at the end of input kept for later */

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

/* Where this server keeps the first value of a field it reads. */
static struct span *known_span(struct request *r, enum field_id id) {
  switch (id) {
  case FIELD_HOST: return &r->host;
  case FIELD_CONTENT_TYPE: return &r->content_type;
  case FIELD_REFERER: return &r->referer;
  case FIELD_USER_AGENT: return &r->user_agent;
  case FIELD_FORWARDED_FOR: return &r->forwarded_for;
  case FIELD_REQUEST_START: return &r->request_start;
  default: return NULL;
  }
}

static void feed_list(struct list_match *m, const char *value, size_t len) {
  list_feed(m, value, len);
  list_end_element(m);
}

/* A checked field line joins the list, and what this server reads of it is
 * taken. */
static int take_field(struct http1 *h, struct field f, size_t raw_len) {
  struct request *r = h->req;
  const char *name = r->fields.data + f.name.off, *value = r->fields.data + f.value.off;
  if (h->limits->field_size && f.name.len + raw_len > h->limits->field_size)
    return http1_refuse(h, 431, "Request header field too large");
  if (++h->nfields > h->limits->fields)
    return http1_refuse(h, 431, "Too many request header fields");
  if (r->nlist == r->list_cap) {
    uint32_t cap = r->list_cap ? 2 * r->list_cap : 16;
    struct field *list = realloc(r->list, cap * sizeof *list);
    if (list == NULL)
      return http1_refuse(h, 500, "Out of memory");
    r->list = list;
    r->list_cap = cap;
  }
  r->list[r->nlist++] = f;
  enum field_id id = known_field(name, f.name.len);
  if (id == FIELD_OTHER)
    return 0;
  if (id == FIELD_HOST)
    h->host_count++;
  if (id == FIELD_TRANSFER_ENCODING) {
    feed_list(&h->te, value, f.value.len);
    h->te.lines++;
  } else if (id == FIELD_EXPECT) {
    feed_list(&h->expect, value, f.value.len);
  }
  struct span *known = known_span(r, id);
  if (known != NULL && known->len == 0)
    *known = f.value;
  return 0;
}

/* One field line from p: field-name ":" OWS field-value OWS CRLF, where a
 * line that starts with whitespace is an obs-fold. Every line ends in an LF
 * before end, which stops each loop here. Returns where the next line starts,
 * or NULL (refused). */
static const char *field_line(struct http1 *h, const char *base, const char *p,
                              const char *end) {
  const char *name = p, *colon, *value, *value_end;
  if (is_ows(*p))
    return http1_refuse(h, 400, "Obsolete line folding"), NULL;
  while (char_is((unsigned char)*p, CHAR_TCHAR))
    p++;
  if (*p != ':' || p == name)
    return http1_refuse(h, 400,
                        *p == ':'    ? "Empty header field name"
                        : *p == '\n' ? "Bare LF in request framing"
                                     : "Invalid character in a header field name"),
           NULL;
  for (colon = p++; is_ows(*p); p++)
    ;
  value = p;
  p = field_value_end(p, end);
  if (*p != '\r')
    return http1_refuse(h, 400,
                        *p == '\n' ? "Bare LF in request framing"
                                   : "Invalid character in a header field value"),
           NULL;
  if (p[1] != '\n')
    return http1_refuse(h, 400, "Bare CR in request framing"), NULL;
  for (value_end = p; value_end > value && is_ows(value_end[-1]); value_end--)
    ;
  struct field f = {
      {(uint32_t)(name - base), (uint32_t)(colon - name)},
      {(uint32_t)(value - base), (uint32_t)(value_end - value)},
  };
  return take_field(h, f, (size_t)(p - value)) ? NULL : p + 2;
}

int http1_fields_scan(struct http1 *h, bool whole) {
  struct request *r = h->req;
  const char *base = r->fields.data, *p = base + h->section_off,
             *end = base + r->fields.len;
  if (whole) { /* llhttp 8.1 ends a section at a bare CR too (CVE-2023-30589) */
    if (end - p < 2 || end[-2] != '\r' || end[-1] != '\n')
      return http1_refuse(h, 400, "Bare CR in request framing");
  } else { /* only the lines that are all there */
    const char *lf = memrchr(p, '\n', (size_t)(end - p));
    end = lf ? lf + 1 : p;
  }
  while (p < end && *p != '\r')
    if ((p = field_line(h, base, p, end)) == NULL)
      return HPE_USER;
  if (whole && end - p != 2) /* the CRLF that ends the section is not on its own */
    return http1_refuse(h, 400, "Bare CR in request framing");
  return 0;
}

int http1_fields_keep(struct http1 *h, const char *data, size_t len) {
  struct buf *b = &h->req->fields;
  if (len == 0)
    return 0;
  if (len > UINT32_MAX - b->len || buf_append(b, data, len) != 0)
    return http1_refuse(h, 500, "Out of memory");
  /* A bound on what is kept before the section is checked: the line being
   * received may not outgrow a field with its framing, nor the section all
   * the fields it may have. */
  uint64_t field_max = h->limits->field_size;
  if (field_max == 0)
    return 0;
  field_max += FRAMING_RUN_MAX;
  const char *line = memrchr(data, '\n', len);
  h->line_kept = line ? (size_t)(data + len - line - 1) : h->line_kept + len;
  if (h->line_kept > field_max)
    return http1_refuse(h, 431, "Request header field too large");
  if (b->len - h->section_off > (h->limits->fields + 1) * field_max)
    return http1_refuse(h, 431, "Too many request header fields");
  return 0;
}

/* How much of data is head: up to the CRLF of the empty line that ends it,
 * which may have begun in the bytes kept before. The section follows the
 * request line's CRLF. */
static size_t head_part(const struct http1 *h, const char *data, size_t len) {
  const struct buf *f = &h->req->fields;
  size_t kept = f->len - h->section_off, n = 0, i;
  char window[6];
  for (i = 3; i > 0; i--)
    if (i <= kept)
      window[n++] = f->data[f->len - i];
    else if (i - kept <= 2)
      window[n++] = "\r\n"[2 - (i - kept)];
  size_t before = n;
  for (i = 0; i < len && i < 3; i++)
    window[n++] = data[i];
  const char *at = memmem(window, n, "\r\n\r\n", 4);
  if (at != NULL)
    return (size_t)(at - window) + 4 - before;
  at = memmem(data, len, "\r\n\r\n", 4);
  return at ? (size_t)(at - data) + 4 : len;
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
size_t http1_tame_tabs(struct http1 *h, char *data, size_t len) {
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

#include "chunked.h"

#include <stdbool.h>

#include "grammar.h"

/* chunk      = chunk-size [ chunk-ext ] CRLF chunk-data CRLF
 * chunk-ext  = *( BWS ";" BWS chunk-ext-name [ BWS "=" BWS chunk-ext-val ] )
 * chunk-ext-val = token / quoted-string
 * trailer-section = *( field-line CRLF ), then CRLF */
enum state {
  S_SIZE_START,      /* the first hex digit of a size */
  S_SIZE,            /* more digits, or what may follow a size */
  S_EXT_WS,          /* BWS after a size or a value: ";" must follow */
  S_EXT_NAME_WS,     /* BWS after a name: ";" or "=" */
  S_EXT_NAME_START,  /* BWS after ";", then a name */
  S_EXT_NAME,        /* in a name, or what may follow it */
  S_EXT_VALUE_START, /* BWS after "=", then a token or a quoted-string */
  S_EXT_TOKEN,       /* in a token value, or what may follow it */
  S_EXT_QUOTED,      /* in a quoted-string */
  S_EXT_QUOTED_PAIR, /* after a backslash in it */
  S_EXT_QUOTE_END,   /* after the closing quote */
  S_SIZE_LF,         /* the size line's CR was seen */
  S_DATA,
  S_DATA_CR,
  S_DATA_LF,
  S_TRAILER_START, /* a trailer field line, or the CRLF that ends the body */
  S_TRAILER_NAME,
  S_TRAILER_VALUE,
  S_TRAILER_LF,
  S_END_LF,
  S_DONE,
  S_ERROR,
};

void chunked_init(struct chunked *ch, uint64_t field_size_max) {
  *ch = (struct chunked){.state = S_SIZE_START, .field_size_max = field_size_max};
}

static enum chunked_event refuse(struct chunked *ch, int status, const char *reason) {
  ch->state = S_ERROR;
  ch->error_status = status;
  ch->error_reason = reason;
  return CHUNKED_ERROR;
}

/* A byte that has no place here: an LF alone is named as such. */
static enum chunked_event invalid(struct chunked *ch, unsigned char c, const char *what) {
  return refuse(ch, 400, c == '\n' ? "Bare LF in request framing" : what);
}

static enum chunked_event to(struct chunked *ch, int state) {
  ch->state = state;
  return CHUNKED_NEED_MORE;
}

static unsigned hex_value(unsigned char c) {
  return c <= '9' ? (unsigned)(c - '0') : (unsigned)((c | 0x20) - 'a' + 10);
}

/* After a size, a name or a value: more extensions, or the end of the line. */
static enum chunked_event after_element(struct chunked *ch, unsigned char c,
                                        bool after_name) {
  if (c == '\r')
    return to(ch, S_SIZE_LF);
  if (c == ';')
    return to(ch, S_EXT_NAME_START);
  if (c == '=' && after_name)
    return to(ch, S_EXT_VALUE_START);
  if (is_ows((char)c))
    return to(ch, after_name ? S_EXT_NAME_WS : S_EXT_WS);
  return invalid(ch, c, "Invalid chunk extension");
}

static enum chunked_event size_digit(struct chunked *ch, unsigned char c) {
  if (ch->size > UINT64_MAX >> 4)
    return refuse(ch, 400, "Chunk size too large");
  ch->size = ch->size << 4 | hex_value(c);
  return to(ch, S_SIZE);
}

/* One byte of a chunk-size line, before its CR. */
static enum chunked_event size_line(struct chunked *ch, unsigned char c) {
  if (c != '\r' && ++ch->line_len > CHUNK_LINE_MAX)
    return refuse(ch, 400, "Chunk extension too long");
  bool ows = is_ows((char)c), tchar = char_is(c, CHAR_TCHAR);
  switch (ch->state) {
  case S_SIZE_START:
    return char_is(c, CHAR_HEX) ? size_digit(ch, c)
                                : invalid(ch, c, "Invalid character in chunk size");
  case S_SIZE:
    if (char_is(c, CHAR_HEX))
      return size_digit(ch, c);
    return c == '\r' || c == ';' || ows
               ? after_element(ch, c, false)
               : invalid(ch, c, "Invalid character in chunk size");
  case S_EXT_WS:
  case S_EXT_NAME_WS:
    if (ows)
      return CHUNKED_NEED_MORE;
    return c == '\r' ? refuse(ch, 400, "Invalid chunk extension")
                     : after_element(ch, c, ch->state == S_EXT_NAME_WS);
  case S_EXT_NAME_START:
    return ows     ? CHUNKED_NEED_MORE
           : tchar ? to(ch, S_EXT_NAME)
                   : invalid(ch, c, "Invalid chunk extension");
  case S_EXT_VALUE_START:
    if (ows)
      return CHUNKED_NEED_MORE;
    if (c == '"')
      return to(ch, S_EXT_QUOTED);
    return tchar ? to(ch, S_EXT_TOKEN) : invalid(ch, c, "Invalid chunk extension");
  case S_EXT_NAME:
  case S_EXT_TOKEN:
    return tchar ? CHUNKED_NEED_MORE : after_element(ch, c, ch->state == S_EXT_NAME);
  case S_EXT_QUOTED:
    if (c == '"')
      return to(ch, S_EXT_QUOTE_END);
    if (c == '\\')
      return to(ch, S_EXT_QUOTED_PAIR);
    return char_is(c, CHAR_QDTEXT) ? CHUNKED_NEED_MORE
                                   : invalid(ch, c, "Invalid chunk extension");
  case S_EXT_QUOTED_PAIR: /* "\" ( HTAB / SP / VCHAR / obs-text ) */
    return char_is(c, CHAR_VALUE) ? to(ch, S_EXT_QUOTED)
                                  : invalid(ch, c, "Invalid chunk extension");
  default: /* S_EXT_QUOTE_END */ return after_element(ch, c, false);
  }
}

/* field-line = field-name ":" OWS field-value OWS; checked, then dropped. */
static enum chunked_event trailer_line(struct chunked *ch, unsigned char c) {
  if (c != '\r' && ++ch->line_len > ch->field_size_max && ch->field_size_max != 0)
    return refuse(ch, 431, "Request header field too large");
  switch (ch->state) {
  case S_TRAILER_START:
    if (c == '\r')
      return to(ch, S_END_LF);
    if (is_ows((char)c))
      return refuse(ch, 400, "Obsolete line folding");
    return char_is(c, CHAR_TCHAR) ? to(ch, S_TRAILER_NAME)
                                  : invalid(ch, c, "Invalid trailer field");
  case S_TRAILER_NAME:
    if (c == ':')
      return to(ch, S_TRAILER_VALUE);
    return char_is(c, CHAR_TCHAR) ? CHUNKED_NEED_MORE
                                  : invalid(ch, c, "Invalid trailer field");
  default: /* S_TRAILER_VALUE */
    if (c == '\r')
      return to(ch, S_TRAILER_LF);
    return char_is(c, CHAR_VALUE) ? CHUNKED_NEED_MORE
                                  : invalid(ch, c, "Control character in trailer field");
  }
}

/* The LF of a CRLF whose CR was seen. */
static enum chunked_event line_end(struct chunked *ch, unsigned char c) {
  if (c != '\n')
    return refuse(ch, 400, "Bare CR in request framing");
  ch->line_len = 0;
  switch (ch->state) {
  case S_SIZE_LF:
    if (ch->size == 0)
      return to(ch, S_TRAILER_START);
    ch->left = ch->size;
    ch->state = S_DATA;
    return CHUNKED_SIZE;
  case S_DATA_LF: ch->size = 0; return to(ch, S_SIZE_START);
  case S_TRAILER_LF: ch->state = S_TRAILER_START; return CHUNKED_TRAILER;
  default: ch->state = S_DONE; return CHUNKED_DONE; /* S_END_LF */
  }
}

static enum chunked_event framing_byte(struct chunked *ch, unsigned char c) {
  if (++ch->framing > CHUNK_FRAMING_MAX + ch->data_total)
    return refuse(ch, 400, "Too much chunk framing");
  switch (ch->state) {
  case S_SIZE_LF:
  case S_DATA_LF:
  case S_TRAILER_LF:
  case S_END_LF: return line_end(ch, c);
  case S_DATA_CR:
    return c == '\r' ? to(ch, S_DATA_LF)
                     : refuse(ch, 400, "Chunk data longer than its size");
  case S_TRAILER_START:
  case S_TRAILER_NAME:
  case S_TRAILER_VALUE: return trailer_line(ch, c);
  default: return size_line(ch, c);
  }
}

enum chunked_event chunked_parse(struct chunked *ch, const char *data, size_t len,
                                 size_t *used, const char **piece, size_t *piece_len) {
  const char *p = data, *end = data + len;
  enum chunked_event ev = CHUNKED_NEED_MORE;
  if (ch->state == S_ERROR || ch->state == S_DONE) {
    *used = 0;
    return ch->state == S_ERROR ? CHUNKED_ERROR : CHUNKED_DONE;
  }
  while (p < end && ev == CHUNKED_NEED_MORE) {
    if (ch->state == S_DATA) {
      size_t n = (size_t)(end - p) < ch->left ? (size_t)(end - p) : (size_t)ch->left;
      *piece = p;
      *piece_len = n;
      p += n;
      ch->left -= n;
      ch->data_total += n;
      if (ch->left == 0)
        ch->state = S_DATA_CR;
      ev = CHUNKED_DATA;
    } else {
      ev = framing_byte(ch, (unsigned char)*p++);
    }
  }
  *used = (size_t)(p - data);
  return ev;
}

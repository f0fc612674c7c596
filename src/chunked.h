/* The chunked transfer coding of a request body (RFC 9112, section 7.1),
 * decoded one event at a time: chunk sizes, data, trailer fields, the end.
 * Chunk extensions are checked against the grammar, whitespace included, and
 * then ignored, as a recipient must; so is the trailer section. Every framing
 * byte is checked: a bare CR or LF anywhere is an error (CVE-2023-30589). */
#ifndef UNIXCORN_CHUNKED_H
#define UNIXCORN_CHUNKED_H

#include <stddef.h>
#include <stdint.h>

/* Bytes of one chunk-size line (size and extensions) at most. */
#define CHUNK_LINE_MAX 8192
/* Framing bytes allowed beyond the body's own size: a body made mostly of
 * framing (one-byte chunks, long extensions) costs work for nothing. */
#define CHUNK_FRAMING_MAX (1u << 20)

enum chunked_event {
  CHUNKED_NEED_MORE, /* every byte was used: feed more */
  CHUNKED_SIZE,      /* the next chunk's size is known (size) */
  CHUNKED_DATA,      /* a piece of chunk data (*piece, *piece_len) */
  CHUNKED_TRAILER,   /* one more trailer field line */
  CHUNKED_DONE,      /* the body and its trailer section ended */
  CHUNKED_ERROR,     /* error_status and error_reason say why; stop here */
};

struct chunked {
  int state;
  uint64_t size;           /* of the current chunk */
  uint64_t left;           /* its data bytes not yet passed on */
  uint64_t data_total;     /* chunk data so far */
  uint64_t framing;        /* every other byte so far */
  uint64_t line_len;       /* of the current size or trailer line */
  uint64_t field_size_max; /* a trailer line's limit; 0: none */
  int error_status;        /* 400, or 431 for a trailer line over the limit */
  const char *error_reason;
};

void chunked_init(struct chunked *ch, uint64_t field_size_max);
/* Reads from data until an event; *used says how many bytes it took. */
enum chunked_event chunked_parse(struct chunked *ch, const char *data, size_t len,
                                 size_t *used, const char **piece, size_t *piece_len);

#endif

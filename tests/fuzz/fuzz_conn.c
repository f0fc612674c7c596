/* libFuzzer target: arbitrary client bytes through the connection state machine
 * the server runs (conn.c on http1.c and llhttp, with the echo application or
 * inspect, whose every document must be well-formed JSON), with its access
 * log (JSON with inspect, every atom of the text form with echo: each line
 * whole and escaped), driven as tests/unit/driver.c does, under small limits. The first
 * bytes choose the configuration, how the client cuts its writes, and two events at
 * chosen points: a timeout, a graceful stop, EOF, a client that stops or
 * resumes reading, a broken connection, or a burst of filler bytes (inputs are
 * short, and bodies past 16 KiB go to a temporary file).
 *
 * Input: HEADER_LEN bytes, then what the client sends. A shorter input is a
 * header padded with zeros, and no data.
 *   [0]      FLAG_* bits
 *   [1..3]   sizes of the client's writes, in turn (0: all the rest)
 *   [4], [5] first event: where (n/255 of the data) and what (enum event in
 *            the low 3 bits; for EV_FILL, the high 5 bits + 1 count 4 KiB)
 *   [6], [7] second event, no earlier than the first
 *
 * Broken invariants abort(). Where the cut cannot matter, the input is run a
 * second time with the data sent whole, and the answers must be the same: a
 * check that a cut defeats is a request that a proxy and unixcorn may frame
 * differently. Each run ends with everything released, so LeakSanitizer and the
 * open-descriptor check see what one connection leaks. */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "driver.h"
#include "exchange.h"
#include "json_check.h"
#include "log.h"

#define HEADER_LEN 8
#define NWRITES 3
#define NEVENTS 2
#define FILL_UNIT 4096
/* No runaway output: a minimal request gets a response about ten times its
 * size, and the one error response a connection may end with fits the slack. */
#define OUTPUT_PER_INPUT 16
/* inspect: about 500 bytes of head and document for the shortest request (16
 * bytes), and for a further byte at most 40: a byte of the target that is not
 * UTF-8 turns target and path into {"latin1": ...} forms, and is written as
 * \u00XX in each. */
#define INSPECT_OUTPUT_PER_INPUT 64
#define OUTPUT_SLACK 1024
/* Output held for a client that does not read: the README's 64 KiB high-water
 * mark, plus the echo of one read (64 KiB for a large body, conn.c's
 * BIG_BODY_READ) and a response head. */
#define HELD_OUTPUT_MAX (132 * 1024)

enum {
  FLAG_STREAM = 1 << 0,       /* --echo-stream */
  FLAG_NO_KEEPALIVE = 1 << 1, /* --keep-alive 0 */
  FLAG_UNLIMITED = 1 << 2,    /* no limit on request line, field size, body */
  FLAG_NO_TIMEOUTS = 1 << 3,  /* header and read timeouts 0 */
  FLAG_SLOW_READER = 1 << 4,  /* the client reads 1 to 16 bytes at a time */
  FLAG_PROXY = 1 << 5,        /* a trusted proxy: X-Forwarded-For is logged */
  FLAG_NO_TMP_DIR = 1 << 6,   /* bodies past 16 KiB cannot be spooled */
  FLAG_INSPECT = 1 << 7,      /* the inspect application instead of echo */
};

enum event {
  EV_NONE,
  EV_EXPIRE, /* the clock reaches the deadline: the server's timer fires */
  EV_STOP,   /* graceful stop (SIGTERM) */
  EV_EOF,    /* the client shuts down its sending side */
  EV_STALL,  /* the client stops reading */
  EV_RESUME, /* ...and reads again */
  EV_VANISH, /* the connection breaks: released as it stands */
  EV_FILL,   /* the client sends a burst of filler bytes */
};

struct fuzz {
  struct driver d;
  const char *data; /* what the client sends */
  size_t len, pos;
  size_t output_per_input;
  uint8_t writes[NWRITES];
  size_t nwrites;
  bool eof, vanished, was_done;
};

#define INVARIANT(cond) ((cond) ? (void)0 : broken(#cond, __LINE__))

static void broken(const char *what, int line) {
  fprintf(stderr, "fuzz_conn.c:%d: invariant broken: %s\n", line, what);
  abort();
}

static struct config fuzz_config(uint8_t flags) {
  struct config cfg;
  config_defaults(&cfg);
  cfg.tmp_dir = flags & FLAG_NO_TMP_DIR ? "/nonexistent/unixcorn-fuzz" : "/tmp";
  cfg.echo_stream = flags & FLAG_STREAM;
  if (flags & FLAG_INSPECT)
    cfg.app = "inspect";
  cfg.limit_request_line = 256;
  cfg.limit_request_fields = 16;
  cfg.limit_request_field_size = 256;
  cfg.limit_request_body = 64 * 1024;
  if (flags & FLAG_UNLIMITED)
    cfg.limit_request_line = cfg.limit_request_field_size = cfg.limit_request_body = 0;
  if (flags & FLAG_NO_KEEPALIVE)
    cfg.keepalive_ms = 0;
  if (flags & FLAG_NO_TIMEOUTS)
    cfg.header_timeout_ms = cfg.read_timeout_ms = 0;
  return cfg;
}

static void check(struct fuzz *f) {
  struct conn *c = &f->d.conn;
  const struct buf *out = &f->d.sent;
  size_t n = out->len < 9 ? out->len : 9;
  INVARIANT(n == 0 || memcmp(out->data, "HTTP/1.1 ", n) == 0);
  INVARIANT(out->len <= f->output_per_input * f->d.fed + OUTPUT_SLACK);
  /* Content-Type is copied into the response head: it has no limit of its own. */
  INVARIANT(c->out.len - c->out_pos <=
            HELD_OUTPUT_MAX + (c->x ? c->x->req.content_type.len : 0));
  char *p;
  INVARIANT(!(conn_done(c) || f->eof) || conn_read_window(c, &p) == 0);
  INVARIANT(!f->was_done || conn_done(c));
  f->was_done = conn_done(c);
  struct conn_output o;
  /* Stuck: nothing to send, no input wanted, yet not done. */
  INVARIANT(f->d.stalled || conn_done(c) || conn_output(c, &o) || conn_wants_input(c));
}

/* The client writes p in pieces of its chosen sizes; returns what was taken. */
static size_t send_bytes(struct fuzz *f, const char *p, size_t len) {
  size_t taken = 0;
  while (taken < len && !f->eof) {
    size_t n = f->writes[f->nwrites++ % NWRITES];
    if (n == 0 || n > len - taken)
      n = len - taken;
    size_t t = driver_feed(&f->d, p + taken, n, 0);
    taken += t;
    check(f);
    if (t < n)
      break; /* the connection takes nothing now */
  }
  return taken;
}

static void send_until(struct fuzz *f, size_t end) {
  if (end > f->pos)
    f->pos += send_bytes(f, f->data + f->pos, end - f->pos);
}

/* Sent as one write, cut as the client cuts its writes. What a stalled
 * connection does not take is dropped. */
static void send_fill(struct fuzz *f, uint8_t units) {
  static char fill[32 * FILL_UNIT];
  if (fill[0] == 0)
    memset(fill, 'x', sizeof fill);
  send_bytes(f, fill, ((size_t)units + 1) * FILL_UNIT);
}

/* As the server's timer: only a connection with a deadline expires. */
static void expire(struct fuzz *f) {
  uint64_t start, duration;
  conn_deadline(&f->d.conn, &start, &duration);
  if (duration == 0)
    return;
  uint64_t due = start + duration;
  if (due > f->d.env.now_ms)
    f->d.env.now_ms = due;
  conn_expire(&f->d.conn);
}

static void event(struct fuzz *f, uint8_t what) {
  struct driver *d = &f->d;
  switch ((enum event)(what & 7)) {
  case EV_NONE: break;
  case EV_EXPIRE: expire(f); break;
  case EV_STOP:
    d->env.stopping = true;
    conn_stop(&d->conn);
    break;
  case EV_EOF:
    if (!f->eof)
      conn_input_eof(&d->conn);
    f->eof = true;
    break;
  case EV_STALL: d->stalled = true; break;
  case EV_RESUME: d->stalled = false; break;
  case EV_VANISH: f->vanished = true; return;
  case EV_FILL: send_fill(f, what >> 3); break;
  }
  driver_drain(d);
  check(f);
}

static void run(struct fuzz *f, const uint8_t *events) {
  for (int i = 0; i < NEVENTS && !f->vanished; i++) {
    send_until(f, events[2 * i] * f->len / 255);
    event(f, events[2 * i + 1]);
  }
  if (f->vanished)
    return;
  f->d.stalled = false; /* the client reads to the end, then hangs up */
  send_until(f, f->len);
  event(f, EV_EOF);
  struct conn_output o;
  INVARIANT(conn_done(&f->d.conn) && !conn_output(&f->d.conn, &o));
}

/* Every atom there is, for the access log's text form. */
#define EVERY_ATOM                                                                       \
  "%(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(m)s %(U)s %(q)s %(H)s %(s)s %(b)s %(B)s "         \
  "\"%(f)s\" \"%(a)s\" %(T)s %(D)s %(M)s %(L)s %(p)s %({user-agent}i)s "                 \
  "%({x-request-id}i)s %({content-type}o)s %({x-request-id}o)s %(request_id)s "          \
  "%(peer_pid)s %(peer_uid)s"

static int access_fd = -1;

/* The error log goes to /dev/null, at the debug level: formatted, never seen.
 * The access log goes to a memory file, read after each connection. */
static void open_logs(void) {
  static bool opened;
  const char *failed;
  char path[64];
  if (opened)
    return;
  access_fd = memfd_create("fuzz-access-log", MFD_CLOEXEC);
  snprintf(path, sizeof path, "/proc/self/fd/%d", access_fd);
  if (access_fd < 0 || log_open("/dev/null", path, LOG_LEVEL_DEBUG, &failed) < 0)
    abort();
  opened = true;
}

/* What the connection logged: whole lines of at most ACCESS_LINE_MAX bytes,
 * each one JSON text (the JSON form), or printable ASCII alone (every atom in
 * the text form), whatever the client sent. */
static void check_access_log(bool json) {
  log_flush();
  off_t size = lseek(access_fd, 0, SEEK_END);
  char *text = malloc((size_t)size + 1);
  INVARIANT(size >= 0 && text != NULL && pread(access_fd, text, (size_t)size, 0) == size);
  for (const char *p = text, *end = text + size, *nl; p < end; p = nl + 1) {
    nl = memchr(p, '\n', (size_t)(end - p));
    INVARIANT(nl != NULL && nl - p < ACCESS_LINE_MAX);
    INVARIANT(!json || json_valid(p, (size_t)(nl - p)));
    for (const char *c = p; !json && c < nl; c++)
      INVARIANT(*c >= 0x20 && *c < 0x7f);
  }
  free(text);
  INVARIANT(ftruncate(access_fd, 0) == 0);
}

static int lowest_free_fd(void) {
  int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (fd >= 0)
    close(fd);
  return fd;
}

/* inspect: the body of every 200 that arrived whole is one JSON text, and
 * every other response is not JSON. Responses carry a Content-Length; an
 * error response ends the connection, so the reading stops there. A HEAD
 * request's response has no body, told by what follows: a document begins
 * with '{', a response with "HTTP/1.1 ". */
static void check_documents(const struct buf *out) {
  if (out->len == 0)
    return;
  const char *p = out->data, *end = out->data + out->len;
  while (p < end) {
    size_t n = end - p < 9 ? (size_t)(end - p) : 9;
    INVARIANT(memcmp(p, "HTTP/1.1 ", n) == 0);
    const char *eoh = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
    if (eoh == NULL)
      return; /* the connection broke before the client read all of it */
    size_t head_len = (size_t)(eoh + 4 - p);
    int status = atoi(p + 9);
    bool json = memmem(p, head_len, "\r\nContent-Type: application/json\r\n", 34) != NULL;
    const char *length = memmem(p, head_len, "\r\nContent-Length: ", 18);
    INVARIANT(json == (status == 200));
    p = eoh + 4;
    if (status < 200)
      continue;
    if (!json)
      return;
    INVARIANT(length != NULL);
    size_t body_len = strtoull(length + 18, NULL, 10);
    if (p == end || *p != '{')
      continue;
    if ((size_t)(end - p) < body_len)
      return;
    INVARIANT(json_valid(p, body_len));
    p += body_len;
  }
}

/* One connection from its first byte to its release; *sent gets its output. */
static void connection(const uint8_t *h, const char *data, size_t len, struct buf *sent) {
  struct config cfg = fuzz_config(h[0]);
  struct fuzz f = {.data = data, .len = len};
  f.output_per_input = h[0] & FLAG_INSPECT ? INSPECT_OUTPUT_PER_INPUT : OUTPUT_PER_INPUT;
  memcpy(f.writes, h + 1, NWRITES);
  char err[256];
  INVARIANT(access_log_use(h[0] & FLAG_INSPECT ? "json" : EVERY_ATOM, err, sizeof err) ==
            0);
  driver_init(&f.d, &cfg);
  if (h[0] & FLAG_SLOW_READER)
    f.d.read_slice = 1 + h[1] % 16;
  f.d.conn.peer.trusted = h[0] & FLAG_PROXY;
  run(&f, h + 1 + NWRITES);
  if (h[0] & FLAG_INSPECT)
    check_documents(&f.d.sent);
  *sent = f.d.sent;
  f.d.sent = (struct buf){0};
  driver_free(&f.d);
  check_access_log(h[0] & FLAG_INSPECT);
}

/* Whether the answers must be the same with the client's data sent whole:
 * a streamed echo is framed as the body's pieces arrive, and a client that
 * stops reading makes the connection take more or less of a write. */
static bool cut_is_invisible(const uint8_t *h) {
  return !(h[0] & FLAG_STREAM) && (h[1] | h[2] | h[3]) != 0 && (h[5] & 7) != EV_STALL &&
         (h[7] & 7) != EV_STALL;
}

static void mask_after(struct buf *b, const char *mark, char until) {
  size_t n = strlen(mark);
  char *p = b->data, *end = b->data + b->len;
  while ((p = memmem(p, (size_t)(end - p), mark, n)) != NULL)
    for (p += n; p < end && *p != until; p++)
      *p = '-';
}

/* What may depend on the cut: the Date, the request ID (a generated one is
 * another on every run), a 100 Continue that an error drops
 * unless it was read already, and which error a bad request gets (the check
 * that trips first: "HTTP/2.0%" gets 505 whole, 400 cut after the 0). An
 * error response, always the last, is cut to its "HTTP/1.1 ". */
static void normalize(struct buf *b) {
  static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
  char *p, *last = NULL;
  if (b->len == 0)
    return;
  while ((p = memmem(b->data, b->len, cont, sizeof cont - 1)) != NULL) {
    memmove(p, p + sizeof cont - 1, b->len - (size_t)(p - b->data) - (sizeof cont - 1));
    b->len -= sizeof cont - 1;
  }
  mask_after(b, "\r\nDate: ", '\r');
  mask_after(b, "\r\nX-Request-ID: ", '\r');
  for (p = b->data; (p = memmem(p, b->len - (size_t)(p - b->data), "HTTP/1.1 ", 9)); p++)
    last = p;
  if (last != NULL && last + 9 < b->data + b->len && last[9] >= '4')
    b->len = (size_t)(last + 9 - b->data);
}

static bool same_answers(struct buf *a, struct buf *b) {
  normalize(a);
  normalize(b);
  if (a->len == b->len && (a->len == 0 || memcmp(a->data, b->data, a->len) == 0))
    return true;
  fprintf(stderr, "as cut:\n%.*s\n\nsent whole:\n%.*s\n", (int)a->len, a->data,
          (int)b->len, b->data);
  return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  uint8_t h[HEADER_LEN] = {0};
  size_t hlen = size < HEADER_LEN ? size : HEADER_LEN;
  if (hlen > 0)
    memcpy(h, data, hlen);
  const char *text = (const char *)data + hlen;
  open_logs();
  int fd_before = lowest_free_fd();
  struct buf cut = {0}, whole = {0};
  connection(h, text, size - hlen, &cut);
  if (cut_is_invisible(h)) {
    memset(h + 1, 0, NWRITES);
    connection(h, text, size - hlen, &whole);
    INVARIANT(same_answers(&cut, &whole));
  }
  buf_release(&cut);
  buf_release(&whole);
  bufpool_drain();
  INVARIANT(lowest_free_fd() == fd_before); /* no descriptor leaked */
  return 0;
}

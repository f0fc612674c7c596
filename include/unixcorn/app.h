/* unixcorn/app.h: the interface between unixcorn and an application.
 *
 * An application is a shared object that exports one `struct unixcorn_app`
 * (by default under the name `unixcorn_app`), or one of the apps built into
 * unixcorn, which use this same interface. Build one with
 *
 *   cc -shared -fPIC app.c $(pkg-config --cflags unixcorn) -o app.so
 *
 * and serve it with `unixcorn ./app.so` (or `./app.so:SYMBOL`).
 *
 * THE MODEL
 *
 * Each worker process loads the application after it starts, calls its init
 * once, then hands it requests; fini runs when the worker exits in an orderly
 * way. Before anything binds, the server also runs init and fini once in a
 * short-lived process of their own, so an application that cannot start
 * stops the start with its error (and --check-config reports it). A worker serves many
 * connections at once on one event loop. A request reaches the application in one of two
 * ways, chosen by the descriptor:
 *
 * - An event application (the default) is called on the worker's event loop.
 *   Its callbacks must never block: while one runs, no other connection of
 *   the worker is served. It may answer at once, or write a long response in
 *   pieces, waiting for on_writable between them.
 * - A blocking application (UNIXCORN_APP_BLOCKING) is called on one of the
 *   worker's --threads pool threads, with the request complete. It may block
 *   (a database, a file, a computation); writes block while the client is
 *   slow to read. The event loop goes on serving meanwhile.
 *
 * Every request ends with exactly one on_done call, always on the worker's
 * event loop (so it must not block), once the response is out or the request
 * failed, after which the request pointer is invalid.
 *
 * THREADS
 *
 * A request belongs to one thread at a time: the event loop's for an event
 * application, the pool thread running on_request for a blocking one. Every
 * call that takes a unixcorn_request must be made on that thread; another
 * thread gets UNIXCORN_ETHREAD, and the request is failed. init and fini run
 * on the worker's main thread. The application's own data (app_data) is
 * shared by every request of the worker: a blocking application with
 * --threads above 1 must lock what it changes in it.
 *
 * MEMORY
 *
 * Strings the server hands out (unixcorn_str) are not NUL-terminated and stay
 * valid until on_done, unless a function says otherwise. Data the application
 * passes in is copied before the call returns, except the file descriptor
 * given to unixcorn_write_file, which must stay open until on_done.
 *
 * ERRORS
 *
 * Calls return 0, or one of the negative UNIXCORN_E* codes below. A call that
 * breaks this interface's rules (a bad status or header, answering twice,
 * more bytes than declared, the wrong thread, a response left unended) is
 * logged, one line per request naming the rule, and fails the request: the
 * server answers 500 if the response head has not gone out yet, and
 * otherwise closes the connection, so the client sees an incomplete
 * response; calls for the request then return UNIXCORN_ECLOSED. A response
 * that was complete before the rule was broken stands, and the connection
 * goes on. Other connections are never affected.
 *
 * Callbacks return 0, or an HTTP status from 400 to 599 to answer with (a
 * plain-text error response, when the head has not gone out yet; no log
 * line, as this is an answer, not a fault). Any other value is taken as 500.
 * A crash in the application takes its worker down: the worker logs the
 * request it ran and a backtrace, and the master starts another.
 */
#ifndef UNIXCORN_APP_H
#define UNIXCORN_APP_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this interface. The server refuses an application whose
 * descriptor carries another one. */
#define UNIXCORN_APP_VERSION 1

#define UNIXCORN_EINVAL (-1)  /* a bad argument: a status, a header name or value */
#define UNIXCORN_ESTATE (-2)  /* not now: answered twice, a header after the head */
#define UNIXCORN_ETHREAD (-3) /* called on a thread that does not own the request */
#define UNIXCORN_ELENGTH (-4) /* more body than unixcorn_set_length declared */
#define UNIXCORN_EAGAIN (-5)  /* event apps: the output is full; wait for on_writable */
#define UNIXCORN_ECLOSED (-6) /* the client is gone, or the request was failed */
#define UNIXCORN_ENOMEM (-7)

/* Descriptor flags. */
#define UNIXCORN_APP_BLOCKING (1u << 0)    /* on_request on a pool thread; may block */
#define UNIXCORN_APP_STREAM_BODY (1u << 1) /* event apps: the body as it arrives */

typedef struct unixcorn_request unixcorn_request;

/* Bytes owned by the server; not NUL-terminated. ptr is NULL when absent. */
typedef struct unixcorn_str {
  const char *ptr;
  size_t len;
} unixcorn_str;

struct unixcorn_app {
  /* UNIXCORN_APP_VERSION. */
  unsigned version;
  /* For log lines. */
  const char *name;
  /* UNIXCORN_APP_* flags. STREAM_BODY and BLOCKING do not combine. */
  unsigned flags;
  /* Bytes of zeroed state the server gives each request, from the first
   * callback to on_done: unixcorn_request_state(). */
  size_t request_size;

  /* Once per worker, before the first request (and once in the start-up
   * check, see THE MODEL). arg is the --app-arg text, or "". Set *app_data to
   * anything the requests should see (or leave it NULL). Returns 0, or
   * non-zero when the application cannot run: the start stops with that
   * error; after HUP, the workers running the previous code carry on. May be
   * NULL. */
  int (*init)(const char *arg, void **app_data);
  /* Once per worker, when it exits in an orderly way. May be NULL. */
  void (*fini)(void *app_data);

  /* The request is ready for the application. Without STREAM_BODY it is
   * complete (unixcorn_body gives the body); with it, only the head has
   * arrived, and the body follows in on_body calls. A blocking application
   * must end the response before it returns; an event application may end it
   * later, from on_writable. Required. */
  int (*on_request)(unixcorn_request *r);
  /* STREAM_BODY: the next piece of the body (data is valid during the call
   * only), then on_body_end once it is complete. NULL otherwise. Writes made
   * in on_body never get UNIXCORN_EAGAIN: the server reads no more of the
   * body while the output is full, so a piece can go straight back out in a
   * transformed form, and memory stays bounded for a body of any size. But
   * behind nginx, answer from on_body_end: nginx stops sending a request
   * body to its upstream once the response has begun. */
  int (*on_body)(unixcorn_request *r, const char *data, size_t len);
  int (*on_body_end)(unixcorn_request *r);
  /* Event applications: a write got UNIXCORN_EAGAIN, and the output has room
   * again. May be NULL for applications that never get UNIXCORN_EAGAIN (all
   * their writes fit in the server's output buffer, 64 KiB). */
  void (*on_writable)(unixcorn_request *r);
  /* The request is over: answered, failed, or abandoned by its client.
   * Release what the request holds. May be NULL. */
  void (*on_done)(unixcorn_request *r);
};

/* ---- the request ---- */

unixcorn_str unixcorn_method(const unixcorn_request *r);
/* The request target as sent: "/path?query", "http://host/path", "*". */
unixcorn_str unixcorn_target(const unixcorn_request *r);
/* The target's path ("*" for "*", "/" for "http://host"), and its query
 * without the "?" (ptr NULL when there is none). Neither is percent-decoded. */
unixcorn_str unixcorn_path(const unixcorn_request *r);
unixcorn_str unixcorn_query(const unixcorn_request *r);
/* 10 for HTTP/1.0, 11 for HTTP/1.1 (12 for 1.2, which is served as 1.1). */
int unixcorn_http_version(const unixcorn_request *r);

/* Header fields, in the order received, duplicates kept; values without the
 * whitespace around them. */
size_t unixcorn_header_count(const unixcorn_request *r);
/* The i-th field (0 <= i < count). Returns 0, or UNIXCORN_EINVAL. */
int unixcorn_header_at(const unixcorn_request *r, size_t i, unixcorn_str *name,
                       unixcorn_str *value);
/* The first field named name (ASCII case-insensitive) at index *from or
 * later: returns 1 with *value set and *from at its index plus one (so the
 * next call finds the next one), or 0 when there is none. */
int unixcorn_header_next(const unixcorn_request *r, const char *name, size_t *from,
                         unixcorn_str *value);

/* The body's length as the request declared it (Content-Length), 0 without
 * a body, or -1 when it comes chunked and only its end tells. */
int64_t unixcorn_content_length(const unixcorn_request *r);

/* Without STREAM_BODY, once on_request runs: the body is either in memory
 * (*mem, with *fd set to -1) or, past a small size, in a file the server owns
 * (*fd, readable from offset 0, with mem->ptr NULL). *len is its size either
 * way. The fd stays open until on_done; it may be given to
 * unixcorn_write_file. Returns 0, or UNIXCORN_ESTATE with STREAM_BODY. */
int unixcorn_body(const unixcorn_request *r, unixcorn_str *mem, int *fd, uint64_t *len);

struct unixcorn_peer {
  int family;    /* AF_UNIX, AF_INET or AF_INET6 */
  char addr[46]; /* the IP address as text; "" on a Unix socket */
  unsigned port; /* TCP only */
  int has_cred;  /* a Unix-socket peer whose credentials are known: */
  pid_t pid;     /* its process, user and group (SO_PEERCRED) */
  uid_t uid;
  gid_t gid;
};
/* The other end of the connection: on the usual set-up, nginx. */
void unixcorn_peer(const unixcorn_request *r, struct unixcorn_peer *out);
/* The client the request came from: the peer's address, or for a peer that
 * --forwarded-allow-ips trusts (every Unix-socket peer), the address its
 * X-Forwarded-For names. "unix" for a Unix-socket peer without one. */
unixcorn_str unixcorn_client(const unixcorn_request *r);
/* The request's ID: the X-Request-ID field of a peer that
 * --forwarded-allow-ips trusts (every Unix-socket peer), when it is 20 to 200
 * ASCII letters, digits, '+', '/', '=' or '-'; otherwise one the server made,
 * 32 hex digits unique to the request. The response carries it as
 * X-Request-ID, unless the application adds an X-Request-ID field of its own;
 * the access log and a worker's last words name the request by it. Put it in
 * your own log lines to find them again. Never absent, and the same on every
 * call. (Newer than the calls above: a server without it refuses, at load, an
 * application that calls it, naming the symbol.) */
unixcorn_str unixcorn_request_id(const unixcorn_request *r);

/* What init set, and the request's own state (request_size bytes). */
void *unixcorn_app_data(const unixcorn_request *r);
void *unixcorn_request_state(const unixcorn_request *r);

/* ---- the response ----
 *
 * unixcorn_respond first, then any unixcorn_add_header calls, then the body
 * with unixcorn_write and unixcorn_write_file, then unixcorn_end. The head
 * goes out with the first write, or with unixcorn_end. The server writes
 * Date, Server, Content-Length or Transfer-Encoding, and Connection itself;
 * for a HEAD request it sends the head alone, whatever is written.
 *
 * A blocking application's calls are checked on its thread, by the same
 * rules, and gathered there: the head and up to 64 KiB of body go to the
 * connection together, at unixcorn_end, at a write past those 64 KiB, at
 * unixcorn_write_file, or at a zero-length write (which sends what was
 * written so far at once, for a response that must not wait). Until then
 * the head and what was written have not gone out. */

/* Starts the response with status (200 to 599). Once per request. */
int unixcorn_respond(unixcorn_request *r, int status);
/* Adds a header field. Refused (UNIXCORN_EINVAL): a name that is not a token,
 * a value with CR, LF, NUL or another control character but HTAB, and the
 * fields the server owns (Content-Length, Transfer-Encoding, Connection, and
 * Date and Server, which it sets). Only before the head goes out. */
int unixcorn_add_header(unixcorn_request *r, const char *name, size_t name_len,
                        const char *value, size_t value_len);
/* Declares the body's length, before the first write: the response then
 * carries Content-Length, and exactly that many bytes must follow. Without
 * it, a body of unknown length is sent chunked (or, to an HTTP/1.0 client,
 * until the connection closes); a response ended without any write gets
 * Content-Length: 0. */
int unixcorn_set_length(unixcorn_request *r, uint64_t length);
/* Body bytes, copied. An event application gets UNIXCORN_EAGAIN, with nothing
 * taken, while more than the output buffer waits for the client; on_writable
 * then calls it back. A blocking application waits instead, in the write that
 * hands its bytes over (see above). A zero-length write takes nothing, and
 * sends the head if it has not gone out yet. */
int unixcorn_write(unixcorn_request *r, const void *data, size_t len);
/* len bytes of fd from offset, sent with sendfile(2) when the connection is
 * ready for them: the file must not shrink, and fd must stay open until
 * on_done. Same waiting rules as unixcorn_write. */
int unixcorn_write_file(unixcorn_request *r, int fd, uint64_t offset, uint64_t len);
/* The response is complete. With unixcorn_set_length, every declared byte
 * must have been written. A blocking application does not wait here: what it
 * held goes out while its thread goes on. */
int unixcorn_end(unixcorn_request *r);

/* One call for a whole response from memory: status, an optional
 * Content-Type (NULL: none), and the body. */
int unixcorn_send(unixcorn_request *r, int status, const char *content_type,
                  const void *body, size_t len);

/* ---- logging ---- */

#define UNIXCORN_LOG_DEBUG 0
#define UNIXCORN_LOG_INFO 1
#define UNIXCORN_LOG_WARNING 2
#define UNIXCORN_LOG_ERROR 3

/* A line in the server's error log, in its format, prefixed with the
 * application's name. Any thread. */
void unixcorn_log(int level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#ifdef __cplusplus
}
#endif

#endif

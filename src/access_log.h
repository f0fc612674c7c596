/* The access log's lines: Gunicorn's --access-logformat atoms, the default
 * line, or one JSON object, made from one finished request. No I/O and no
 * allocation: a format is compiled once into a fixed table, and a line is
 * written into a buffer of ACCESS_LINE_MAX bytes. log.c buffers and writes the
 * lines. The atoms, the JSON keys and the escaping are in docs/logging.md. */
#ifndef UNIXCORN_ACCESS_LOG_H
#define UNIXCORN_ACCESS_LOG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

struct request;

/* One finished request, as the access log sees it. Strings need not be
 * NUL-terminated; a NULL pointer is an absent value: "-", or null in JSON. */
struct access_entry {
  const char *host; /* the client (atom h): the peer, or its X-Forwarded-For */
  size_t host_len;
  const char *method, *target;
  size_t method_len, target_len;
  unsigned version_major, version_minor;
  int status;
  uint64_t body_bytes;
  const char *referer, *user_agent;
  size_t referer_len, user_agent_len;
  uint64_t duration_us;
  int has_cred; /* Unix-socket peer: pid and uid known from SO_PEERCRED */
  pid_t pid;
  uid_t uid;
  const char *request_id;
  size_t request_id_len;
  int64_t queue_us; /* queue time from X-Request-Start (queue_time.h); -1: none */
  const struct request *req; /* its header fields, for {name}i; or NULL */
  /* The response's fields the application set, each "Name: value\r\n". */
  const char *resp_fields;
  size_t resp_fields_len;
};

/* The longest line, its '\n' included: what one write(2) to a pipe keeps
 * whole (PIPE_BUF), so lines of different workers never interleave. */
#define ACCESS_LINE_MAX 4096
#define ACCESS_FORMAT_MAX 1024 /* bytes of a --access-logformat */
#define ACCESS_ATOMS_MAX 64

enum access_atom {
  ACCESS_LITERAL,
  ACCESS_CLIENT,          /* h */
  ACCESS_DASH,            /* l, u */
  ACCESS_TIME,            /* t */
  ACCESS_REQUEST_LINE,    /* r */
  ACCESS_METHOD,          /* m */
  ACCESS_PATH,            /* U */
  ACCESS_QUERY,           /* q */
  ACCESS_PROTOCOL,        /* H */
  ACCESS_STATUS,          /* s */
  ACCESS_BYTES_CLF,       /* b */
  ACCESS_BYTES,           /* B */
  ACCESS_REFERER,         /* f */
  ACCESS_USER_AGENT,      /* a */
  ACCESS_SECONDS,         /* T */
  ACCESS_MICROSECONDS,    /* D */
  ACCESS_MILLISECONDS,    /* M */
  ACCESS_DECIMAL_SECONDS, /* L */
  ACCESS_PID,             /* p */
  ACCESS_REQUEST_HEADER,  /* {name}i */
  ACCESS_RESPONSE_HEADER, /* {name}o */
  ACCESS_REQUEST_ID,      /* request_id */
  ACCESS_PEER_PID,        /* peer_pid */
  ACCESS_PEER_UID,        /* peer_uid */
  ACCESS_QUEUE_TIME,      /* queue_time: seconds, or "-" (null) without a stamp */
  ACCESS_DEFAULT_TAIL, /* the default line's " pid=N uid=N" and " queue=S", when known */
  ACCESS_ISO_TIME,     /* the JSON form's own */
  ACCESS_TARGET,
  ACCESS_HOST_FIELD,
  ACCESS_WORKER_PID,
};

/* The most an atom writes that is not an escaped value: a number, a time, the
 * default line's credentials and queue time, a request line's fixed part. */
#define ACCESS_FIXED_MAX 80

struct access_op {
  uint8_t atom;      /* enum access_atom */
  uint16_t off, len; /* literal text, or a header name, in access_format.text */
  uint16_t after;    /* bytes the ops after this one may need at least */
};

struct access_format {
  bool json;
  size_t nops, text_len;
  struct access_op ops[2 * ACCESS_ATOMS_MAX + 1]; /* atoms, and the text between */
  char text[ACCESS_FORMAT_MAX];
};

/* spec: NULL for the default line, "json", or a format of Gunicorn's atoms
 * such as '%(h)s "%(r)s" %(s)s %({x-forwarded-proto}i)s'. Returns 0, or -1
 * with the reason in err. */
int access_format_compile(struct access_format *f, const char *spec, char *err,
                          size_t errlen);
/* e's line, with its '\n', into out (ACCESS_LINE_MAX bytes). Returns its
 * length. Every value is escaped: no request can end the line early or forge
 * a field. */
size_t access_format_write(const struct access_format *f, const struct access_entry *e,
                           char *out);

/* The process's format, for access_log_line (the default line until then). */
int access_log_use(const char *spec, char *err, size_t errlen);
size_t access_log_line(const struct access_entry *e, char *out);

#endif

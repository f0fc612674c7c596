/* Command line: Gunicorn's flag names, parsed into one struct config. Pure: no
 * I/O beyond group-name lookup, so it is unit-tested directly. */
#ifndef UNIXCORN_CONFIG_H
#define UNIXCORN_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>
#include <sys/un.h>

#include "log.h"

#define CONFIG_MAX_BINDS 16
#define UNIX_PATH_MAX_LEN (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)
#define CONFIG_ERR_MAX 512
#define CONFIG_MAX_PROXIES 16
#define CONFIG_MAX_IDS 32
#define CONFIG_IP_MAX 46 /* INET6_ADDRSTRLEN */

enum bind_kind { BIND_UNIX, BIND_TCP };

struct bind_addr {
  enum bind_kind kind;
  char path[UNIX_PATH_MAX_LEN + 1]; /* BIND_UNIX */
  char host[256];                   /* BIND_TCP: numeric or name; "" = all */
  uint16_t port;
};

struct config {
  struct bind_addr binds[CONFIG_MAX_BINDS];
  size_t nbinds;
  uint64_t workers;
  uint64_t timeout_ms; /* a worker silent this long is killed; 0: never */
  uint64_t max_requests, max_requests_jitter;
  const char *pid_file;
  bool check_config;
  bool metrics_set;
  struct bind_addr metrics_bind;
  int backlog;
  uint64_t keepalive_ms;      /* 0: close after every response */
  uint64_t header_timeout_ms; /* 0: no limit */
  uint64_t read_timeout_ms;   /* 0: no limit */
  uint64_t graceful_timeout_ms;
  uint64_t limit_request_line; /* 0: unlimited, as in Gunicorn */
  uint64_t limit_request_fields;
  uint64_t limit_request_field_size;
  uint64_t limit_request_body;
  const char *tmp_dir;
  bool echo_stream;
  const char *app; /* APP: "echo", "inspect", PATH or PATH:SYMBOL */
  bool app_given;
  const char *app_arg; /* --app-arg, handed to the application's init */
  uint64_t threads;    /* --threads: a blocking application's threads per worker */
  mode_t socket_mode;
  bool socket_group_set;
  gid_t socket_gid;
  uint64_t worker_connections; /* open connections before accepting pauses */
  /* Unix-socket peers allowed by SO_PEERCRED; both lists empty: anyone. */
  uid_t allow_uid[CONFIG_MAX_IDS];
  gid_t allow_gid[CONFIG_MAX_IDS];
  size_t nallow_uid, nallow_gid;
  /* Peers whose X-Forwarded-For is believed (Unix-socket peers always are). */
  char forwarded_allow[CONFIG_MAX_PROXIES][CONFIG_IP_MAX];
  size_t nforwarded_allow;
  bool forwarded_allow_all;
  const char *access_logfile; /* NULL: off */
  const char *error_logfile;  /* NULL or "-": stderr */
  enum log_level log_level;
};

enum config_result { CONFIG_OK, CONFIG_HELP, CONFIG_VERSION, CONFIG_ERROR };

void config_defaults(struct config *cfg);
/* Parses argv over the defaults. On CONFIG_ERROR, err holds one line naming
 * the flag. Strings in cfg point into argv. */
enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t errlen);
void config_usage(FILE *out);
/* May a Unix-socket peer with these credentials connect? */
bool config_peer_allowed(const struct config *cfg, uid_t uid, gid_t gid);
/* Whether anything reads a Unix peer's SO_PEERCRED: --allow-uid/--allow-gid,
 * the access log, or an application other than echo. Reading it is a syscall
 * per connection. */
bool config_wants_peer_cred(const struct config *cfg);
/* Is a TCP peer at this address (inet_ntop form) a proxy we trust? */
bool config_proxy_trusted(const struct config *cfg, const char *ip);

/* "unix:PATH", "HOST:PORT", "[V6]:PORT", ":PORT". Returns 0 or -1 with err set. */
int bind_addr_parse(struct bind_addr *b, const char *text, char *err, size_t errlen);
/* "unix:/tmp/app.sock" or "http://127.0.0.1:8000", as Gunicorn logs it. */
void bind_addr_format(const struct bind_addr *b, char *out, size_t outlen);

#endif

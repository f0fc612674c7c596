/* Command line: Gunicorn's flag names, parsed into one struct config. Pure: no
 * I/O beyond group-name lookup, so it is unit-tested directly. The settings
 * may also come from UNIXCORN_CMD_ARGS and a file (config_source.c). */
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
#define CONFIG_MAX_SETTINGS 160
/* Flags read from the environment, as Gunicorn reads GUNICORN_CMD_ARGS. */
#define CONFIG_ENV_ARGS "UNIXCORN_CMD_ARGS"

enum bind_kind { BIND_UNIX, BIND_TCP };

struct bind_addr {
  enum bind_kind kind;
  char path[UNIX_PATH_MAX_LEN + 1]; /* BIND_UNIX */
  char host[256];                   /* BIND_TCP: numeric or name; "" = all */
  uint16_t port;
};

struct option_spec; /* one flag of the option table (config.c) */

/* Where a setting came from, from the weakest to the strongest. */
enum config_origin { CONFIG_FROM_FILE, CONFIG_FROM_ENV, CONFIG_FROM_ARGS };

/* One flag with its value as written: what a configuration was built from,
 * so that it can be handed to children and compared on a reload. */
struct config_setting {
  const struct option_spec *opt;
  const char *value; /* NULL: a switch given bare */
  enum config_origin origin;
  unsigned line; /* in the file */
};

struct config_settings {
  struct config_setting items[CONFIG_MAX_SETTINGS];
  size_t n;
  /* What values point into, besides argv: the file's text, a copy of
   * UNIXCORN_CMD_ARGS, and values kept from an earlier configuration. */
  char *texts[3];
};

struct config {
  struct bind_addr binds[CONFIG_MAX_BINDS];
  size_t nbinds;
  uint64_t workers;    /* 0 with workers_auto */
  bool workers_auto;   /* --workers auto: the master counts the CPUs (cpus.h) */
  uint64_t timeout_ms; /* a worker silent this long is killed; 0: never */
  uint64_t max_requests, max_requests_jitter;
  uint64_t max_worker_memory;      /* bytes of RSS; 0: no limit */
  uint64_t max_worker_lifetime_ms; /* 0: no limit */
  uint64_t max_worker_lifetime_jitter_ms;
  const char *config_file; /* -c: NULL, none */
  const char *pid_file;
  bool check_config;
  bool metrics_set;
  struct bind_addr metrics_bind;
  int backlog;
  uint64_t keepalive_ms;      /* 0: close after every response */
  uint64_t header_timeout_ms; /* 0: no limit */
  uint64_t read_timeout_ms;   /* 0: no limit */
  uint64_t graceful_timeout_ms;
  uint64_t shutdown_delay_ms;  /* after TERM, serve on this long while draining */
  uint64_t max_queue_time_ms;  /* shed what waited longer; 0: never */
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
  const char *access_logfile;   /* NULL: off */
  const char *access_logformat; /* NULL: the default line; "json"; or atoms */
  const char *error_logfile;    /* NULL or "-": stderr */
  enum log_level log_level;
  struct config_settings settings; /* what the values above were built from */
};

enum config_result { CONFIG_OK, CONFIG_HELP, CONFIG_VERSION, CONFIG_ERROR };

void config_defaults(struct config *cfg);
/* Parses argv over the defaults: the command line alone, as workers get it.
 * On CONFIG_ERROR, err holds one line naming the flag. Strings in cfg point
 * into argv. */
enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t errlen);
/* The master's configuration (config_source.c): the file named by -c (on the
 * command line, else in env_args), then env_args (UNIXCORN_CMD_ARGS; NULL:
 * none), then argv, each overriding the one before. On CONFIG_ERROR, err
 * names the file and line, or the variable, and the flag. Free with
 * config_free. */
enum config_result config_load(struct config *cfg, int argc, char **argv,
                               const char *env_args, char *err, size_t errlen);
/* After a reload: settings that cannot change without a restart (those bound
 * at start, as --bind) keep their values from old. The flags whose new value
 * is so ignored are listed in changed, e.g. "--bind, --pid" ("" if none).
 * Returns 0, or -1 when out of memory (fresh is then unchanged). */
int config_keep_fixed(struct config *fresh, const struct config *old, char *changed,
                      size_t changedlen);
/* The configuration as a command line for the processes the master starts:
 * argv0, then one --flag=value per setting. One block to free(); NULL when
 * out of memory. */
char **config_child_argv(const struct config *cfg, const char *argv0);
void config_free(struct config *cfg);
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

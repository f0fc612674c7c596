#include "config.h"
#include "config_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_BIND "unix:/tmp/app.sock"
#define DEFAULT_FORWARDED_ALLOW "127.0.0.1,::1"

static int parse_ip_list(struct config *cfg, const char *s);

void config_defaults(struct config *cfg) {
  const char *tmp = getenv("TMPDIR");
  memset(cfg, 0, sizeof *cfg);
  cfg->workers = 1;
  cfg->timeout_ms = 30000;
  cfg->backlog = 2048;
  cfg->keepalive_ms = 5000;
  cfg->header_timeout_ms = 10000;
  cfg->read_timeout_ms = 30000;
  cfg->graceful_timeout_ms = 30000;
  cfg->limit_request_line = 4094;
  cfg->limit_request_fields = 100;
  cfg->limit_request_field_size = 8190;
  cfg->limit_request_body = UINT64_C(1) << 30;
  cfg->tmp_dir = (tmp != NULL && tmp[0] != '\0') ? tmp : "/tmp";
  cfg->socket_mode = 0666;
  cfg->app = "echo";
  cfg->app_arg = "";
  cfg->threads = 1;
  cfg->worker_connections = 1000;
  cfg->log_level = LOG_LEVEL_INFO;
  const char *allow = getenv("FORWARDED_ALLOW_IPS"); /* as Gunicorn */
  if (allow == NULL || parse_ip_list(cfg, allow) < 0)
    parse_ip_list(cfg, DEFAULT_FORWARDED_ALLOW);
}

int config_error(char *err, size_t errlen, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(err, errlen, fmt, ap);
  va_end(ap);
  return -1;
}

/* Digits only (no sign, space or prefix), in base 10 or 8, at most max. */
static int parse_number(const char *s, int base, uint64_t max, uint64_t *out) {
  char *end;
  if (*s < '0' || *s > (base == 8 ? '7' : '9'))
    return -1;
  errno = 0;
  unsigned long long v = strtoull(s, &end, base);
  if (errno != 0 || *end != '\0' || v > max)
    return -1;
  *out = v;
  return 0;
}

int config_parse_uint(const char *s, uint64_t max, uint64_t *out) {
  return parse_number(s, 10, max, out);
}

/* ---- value parsers: each returns 0, or -1 after writing the reason ---- */

/* Bytes with an optional binary suffix: 1048576, 1024K, 1M, 1G. */
static int parse_bytes(const char *s, uint64_t *out) {
  char digits[32];
  size_t len = strlen(s);
  unsigned shift = 0;
  if (len == 0 || len >= sizeof digits)
    return -1;
  memcpy(digits, s, len + 1);
  switch (digits[len - 1]) {
  case 'k':
  case 'K': shift = 10; break;
  case 'm':
  case 'M': shift = 20; break;
  case 'g':
  case 'G': shift = 30; break;
  default: break;
  }
  if (shift != 0)
    digits[len - 1] = '\0';
  uint64_t v;
  if (config_parse_uint(digits, UINT64_MAX >> shift, &v) < 0)
    return -1;
  *out = v << shift;
  return 0;
}

static int parse_seconds(const char *s, uint64_t *ms) {
  char *end;
  if ((*s < '0' || *s > '9') && *s != '.')
    return -1;
  errno = 0;
  double v = strtod(s, &end);
  if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0 || v > 86400.0 * 365)
    return -1;
  *ms = (uint64_t)llround(v * 1000.0);
  if (*ms == 0 && v > 0)
    *ms = 1;
  return 0;
}

static int parse_mode(const char *s, mode_t *mode) {
  uint64_t v;
  if (parse_number(s, 8, 0777, &v) < 0)
    return -1;
  *mode = (mode_t)v;
  return 0;
}

/* A user or group, by name or number (uid_t and gid_t are both unsigned int). */
static int parse_id(const char *s, bool user, unsigned *id) {
  uint64_t v;
  struct passwd *pw = user ? getpwnam(s) : NULL;
  struct group *gr = user ? NULL : getgrnam(s);
  if (pw != NULL || gr != NULL) {
    *id = pw ? pw->pw_uid : gr->gr_gid;
    return 0;
  }
  if (config_parse_uint(s, (unsigned)-2, &v) < 0)
    return -1;
  *id = (unsigned)v;
  return 0;
}

/* "127.0.0.1,::1" or "*". Addresses are kept in inet_ntop's canonical form. */
static int parse_ip_list(struct config *cfg, const char *s) {
  cfg->nforwarded_allow = 0;
  cfg->forwarded_allow_all = false;
  while (*s != '\0') {
    size_t len = strcspn(s, ",");
    char item[64];
    unsigned char bin[sizeof(struct in6_addr)];
    while (len > 0 && *s == ' ')
      s++, len--;
    while (len > 0 && s[len - 1] == ' ')
      len--;
    if (len == 0 || len >= sizeof item || cfg->nforwarded_allow == CONFIG_MAX_PROXIES)
      return -1;
    memcpy(item, s, len);
    item[len] = '\0';
    char *out = cfg->forwarded_allow[cfg->nforwarded_allow];
    if (strcmp(item, "*") == 0)
      cfg->forwarded_allow_all = true;
    else if (inet_pton(AF_INET, item, bin) == 1)
      inet_ntop(AF_INET, bin, out, CONFIG_IP_MAX), cfg->nforwarded_allow++;
    else if (inet_pton(AF_INET6, item, bin) == 1)
      inet_ntop(AF_INET6, bin, out, CONFIG_IP_MAX), cfg->nforwarded_allow++;
    else
      return -1;
    s += strcspn(s, ",");
    s += *s == ',';
  }
  return 0;
}

bool config_proxy_trusted(const struct config *cfg, const char *ip) {
  if (cfg->forwarded_allow_all)
    return true;
  for (size_t i = 0; i < cfg->nforwarded_allow; i++)
    if (strcmp(cfg->forwarded_allow[i], ip) == 0)
      return true;
  return false;
}

/* "www-data,1000": names or numbers, appended to ids. */
static int parse_id_list(const char *s, unsigned *ids, size_t *n, bool users) {
  char item[256];
  while (*s != '\0') {
    size_t len = strcspn(s, ",");
    if (len == 0 || len >= sizeof item || *n == CONFIG_MAX_IDS)
      return -1;
    memcpy(item, s, len);
    item[len] = '\0';
    if (parse_id(item, users, &ids[*n]) < 0)
      return -1;
    (*n)++;
    s += len + (s[len] == ',');
  }
  return 0;
}

static bool id_in(const unsigned *ids, size_t n, unsigned id) {
  for (size_t i = 0; i < n; i++)
    if (ids[i] == id)
      return true;
  return false;
}

bool config_peer_allowed(const struct config *cfg, uid_t uid, gid_t gid) {
  if (cfg->nallow_uid == 0 && cfg->nallow_gid == 0)
    return true;
  return id_in(cfg->allow_uid, cfg->nallow_uid, uid) ||
         id_in(cfg->allow_gid, cfg->nallow_gid, gid);
}

bool config_wants_peer_cred(const struct config *cfg) {
  /* echo never asks for its peer; any other application may (unixcorn_peer). */
  return cfg->nallow_uid != 0 || cfg->nallow_gid != 0 || cfg->access_logfile != NULL ||
         (cfg->app != NULL && strcmp(cfg->app, "echo") != 0);
}

/* Compiled here only to find its faults: each process compiles its own. */
static int access_format_check(const char *spec, char *err, size_t errlen) {
  struct access_format f;
  return access_format_compile(&f, spec, err, errlen);
}

static int parse_level(const char *s, enum log_level *level) {
  static const char *const names[] = {"debug", "info", "warning", "error", "critical"};
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcasecmp(s, names[i]) == 0) {
      *level = (enum log_level)i;
      return 0;
    }
  }
  return -1;
}

/* ---- the option table ---- */

enum opt_id {
  OPT_BIND,
  OPT_WORKERS,
  OPT_TIMEOUT,
  OPT_MAX_REQUESTS,
  OPT_MAX_REQUESTS_JITTER,
  OPT_MAX_WORKER_MEMORY,
  OPT_MAX_WORKER_LIFETIME,
  OPT_MAX_WORKER_LIFETIME_JITTER,
  OPT_CONFIG,
  OPT_PID,
  OPT_CHECK_CONFIG,
  OPT_METRICS_BIND,
  OPT_BACKLOG,
  OPT_KEEPALIVE,
  OPT_HEADER_TIMEOUT,
  OPT_READ_TIMEOUT,
  OPT_GRACEFUL_TIMEOUT,
  OPT_SHUTDOWN_DELAY,
  OPT_MAX_QUEUE_TIME,
  OPT_LIMIT_LINE,
  OPT_LIMIT_FIELDS,
  OPT_LIMIT_FIELD_SIZE,
  OPT_LIMIT_BODY,
  OPT_TMP_DIR,
  OPT_ECHO_STREAM,
  OPT_APP,
  OPT_APP_ARG,
  OPT_THREADS,
  OPT_SOCKET_MODE,
  OPT_SOCKET_GROUP,
  OPT_FORWARDED_ALLOW,
  OPT_WORKER_CONNECTIONS,
  OPT_ALLOW_UID,
  OPT_ALLOW_GID,
  OPT_ACCESS_LOG,
  OPT_ACCESS_LOGFORMAT,
  OPT_ERROR_LOG,
  OPT_LOG_LEVEL,
  OPT_HELP,
  OPT_VERSION,
};

struct option_spec {
  const char *name;
  char short_name;
  enum opt_id id;
  const char *arg;  /* NULL: a switch */
  const char *help; /* NULL: an alias, listed under the first spelling */
};

static const struct option_spec options[] = {
    {"bind", 'b', OPT_BIND, "ADDR",
     "Listen on ADDR: unix:PATH, HOST:PORT or [IPV6]:PORT; repeatable, e.g.\n"
     "--bind unix:/run/unixcorn/app.sock --bind 127.0.0.1:8000.\n"
     "Default: " DEFAULT_BIND},
    {"workers", 'w', OPT_WORKERS, "N",
     "Worker processes, each with its own event loop, all accepting on the\n"
     "same sockets; 'auto': one per CPU this process may use (its CPU\n"
     "affinity and its cgroup's cpu.max quota, rounded up),\n"
     "e.g. --workers auto or --workers 4. Default: 1"},
    {"timeout", 't', OPT_TIMEOUT, "SECONDS",
     "A worker whose event loop is stuck this long, or whose blocking\n"
     "application has held one request this long, is aborted (it logs what\n"
     "it was doing) and replaced; 0 = never. E.g. --timeout 60. Default: 30"},
    {"graceful-timeout", 0, OPT_GRACEFUL_TIMEOUT, "SECONDS",
     "On SIGTERM or a reload, how long in-flight requests may take to\n"
     "finish. E.g. --graceful-timeout 60. Default: 30"},
    {"shutdown-delay", 0, OPT_SHUTDOWN_DELAY, "SECONDS",
     "After SIGTERM, serve on as usual this long while /healthz on\n"
     "--metrics-bind answers 503 (a load balancer takes the server out),\n"
     "then stop gracefully. A second TERM, or INT, cuts it short.\n"
     "E.g. --shutdown-delay 5. Default: 0"},
    {"max-queue-time", 0, OPT_MAX_QUEUE_TIME, "SECONDS",
     "Answer 503 with Retry-After, without running the application, a\n"
     "request that waited longer since its proxy's X-Request-Start stamp\n"
     "(from trusted peers: --forwarded-allow-ips).\n"
     "E.g. --max-queue-time 10; 0 = never. Default: 0"},
    {"max-requests", 0, OPT_MAX_REQUESTS, "N",
     "A worker finishes its requests and is replaced after about N\n"
     "requests, e.g. --max-requests 1000; 0 = never. Default: 0"},
    {"max-requests-jitter", 0, OPT_MAX_REQUESTS_JITTER, "N",
     "Adds up to N to each worker's --max-requests, so they do not all\n"
     "restart together, e.g. --max-requests-jitter 100. Default: 0"},
    {"max-worker-memory", 0, OPT_MAX_WORKER_MEMORY, "SIZE",
     "A worker whose RSS stays above SIZE (K, M or G suffix) for 5\n"
     "heartbeats in a row (1 s) is replaced: a new one starts, then the old\n"
     "one finishes its requests. E.g. --max-worker-memory 512M; 0 = never.\n"
     "Default: 0"},
    {"max-worker-lifetime", 0, OPT_MAX_WORKER_LIFETIME, "SECONDS",
     "Replace each worker after it has run this long, the same way, one at\n"
     "a time. E.g. --max-worker-lifetime 3600; 0 = never. Default: 0"},
    {"max-worker-lifetime-jitter", 0, OPT_MAX_WORKER_LIFETIME_JITTER, "SECONDS",
     "Adds up to SECONDS at random to each worker's lifetime, so they do\n"
     "not all come due together, e.g. --max-worker-lifetime-jitter 600.\n"
     "Default: 0"},
    {"config", 'c', OPT_CONFIG, "FILE",
     "Read settings from FILE, e.g. -c /etc/unixcorn/unixcorn.conf: one\n"
     "'flag = value' a line with the long flag names, as 'workers = 4';\n"
     "'#' starts a comment. The command line wins over\n"
     "$" CONFIG_ENV_ARGS " (flags, quoted as for a shell), which wins over\n"
     "the file. HUP reads both again."},
    {"pid", 'p', OPT_PID, "FILE",
     "Write the master's pid to FILE, e.g. --pid /run/unixcorn/unixcorn.pid."},
    {"check-config", 0, OPT_CHECK_CONFIG, NULL,
     "Check the flags, $" CONFIG_ENV_ARGS ", the --config file and the\n"
     "APP (loaded, its init run in a throwaway process), then exit. E.g.\n"
     "unixcorn -c /etc/unixcorn/unixcorn.conf --check-config ./app.so"},
    {"metrics-bind", 0, OPT_METRICS_BIND, "ADDR",
     "Serve Prometheus metrics on ADDR (as for --bind), e.g.\n"
     "--metrics-bind 127.0.0.1:9100 or unix:/tmp/app-metrics.sock. The\n"
     "master binds it; a process of its own, not a worker, serves it.\n"
     "Default: off"},
    {"backlog", 0, OPT_BACKLOG, "N",
     "Listen queue length; the kernel caps it at net.core.somaxconn.\n"
     "E.g. --backlog 4096. Default: 2048"},
    {"keepalive", 0, OPT_KEEPALIVE, "SECONDS",
     "Idle time allowed between requests on a kept-alive connection;\n"
     "0 closes after every response. E.g. --keepalive 65 behind a load\n"
     "balancer that keeps idle connections 60 s. Default: 5"},
    {"keep-alive", 0, OPT_KEEPALIVE, "SECONDS", NULL},
    {"header-timeout", 0, OPT_HEADER_TIMEOUT, "SECONDS",
     "The whole request head must arrive within this time (else 408).\n"
     "E.g. --header-timeout 5. Default: 10"},
    {"read-timeout", 0, OPT_READ_TIMEOUT, "SECONDS",
     "Longest stall while reading a body or writing a response.\n"
     "E.g. --read-timeout 60. Default: 30"},
    {"limit-request-line", 0, OPT_LIMIT_LINE, "N",
     "Longest request line in bytes (else 414); 0 = unlimited.\n"
     "E.g. --limit-request-line 8190. Default: 4094"},
    {"limit-request-fields", 0, OPT_LIMIT_FIELDS, "N",
     "Most header fields in a request (else 431).\n"
     "E.g. --limit-request-fields 200. Default: 100"},
    {"limit-request-field_size", 0, OPT_LIMIT_FIELD_SIZE, "N",
     "Largest header field, name and value, in bytes (else 431);\n"
     "0 = unlimited. E.g. --limit-request-field_size 16380. Default: 8190"},
    {"limit-request-field-size", 0, OPT_LIMIT_FIELD_SIZE, "N", NULL},
    {"limit-request-body", 0, OPT_LIMIT_BODY, "BYTES",
     "Largest request body (else 413), with an optional K, M or G suffix;\n"
     "0 = unlimited. Also bounds the disk a spooled body uses.\n"
     "E.g. --limit-request-body 10M. Default: 1G"},
    {"tmp-dir", 0, OPT_TMP_DIR, "DIR",
     "Where bodies too large for memory are spooled, as unlinked files,\n"
     "e.g. --tmp-dir /var/tmp where /tmp is a tmpfs (in memory).\n"
     "Default: $TMPDIR, else /tmp"},
    {"echo-stream", 0, OPT_ECHO_STREAM, NULL,
     "Echo each body back as it arrives (chunked) instead of after it is\n"
     "complete. Only for clients that read while they send; see the\n"
     "README."},
    {"app", 0, OPT_APP, "APP",
     "The application, as the APP argument is, e.g. --app /srv/app.so;\n"
     "in a --config file, 'app = /srv/app.so'. Default: echo"},
    {"app-arg", 0, OPT_APP_ARG, "TEXT",
     "Handed to the application's init, as it is, e.g. --app-arg /srv/www\n"
     "(the directory examples/static_files.c serves). Default: empty"},
    {"threads", 0, OPT_THREADS, "N",
     "Threads per worker for a blocking application (one that may block on\n"
     "a database, a file, a computation): up to N of its requests run at\n"
     "once, while the worker's event loop goes on serving.\n"
     "E.g. --threads 8. Default: 1"},
    {"socket-mode", 0, OPT_SOCKET_MODE, "OCTAL",
     "Permissions of Unix socket files, e.g. --socket-mode 0660 to let in\n"
     "only the owner and --socket-group. Default: 0666"},
    {"socket-group", 0, OPT_SOCKET_GROUP, "GROUP",
     "Group owning Unix socket files, e.g. --socket-group www-data (the\n"
     "group of nginx's user on Debian)."},
    {"forwarded-allow-ips", 0, OPT_FORWARDED_ALLOW, "IPS",
     "Comma-separated proxy addresses whose X-Forwarded-For is logged as\n"
     "the client address, or '*' for any, e.g.\n"
     "--forwarded-allow-ips 10.0.0.5,10.0.0.6. Peers on a Unix socket are\n"
     "always trusted: the socket's permissions decide who can connect.\n"
     "Default: $FORWARDED_ALLOW_IPS, else " DEFAULT_FORWARDED_ALLOW},
    {"worker-connections", 0, OPT_WORKER_CONNECTIONS, "N",
     "Most connections a worker keeps open at once; beyond it new ones\n"
     "wait in the listen queue. E.g. --worker-connections 4096.\n"
     "Default: 1000"},
    {"allow-uid", 0, OPT_ALLOW_UID, "USERS",
     "Comma-separated users (names or uids) allowed to connect on a Unix\n"
     "socket, checked with SO_PEERCRED; others are closed at once.\n"
     "E.g. --allow-uid www-data,1000. Default: anyone"},
    {"allow-gid", 0, OPT_ALLOW_GID, "GROUPS",
     "Like --allow-uid, for the peer's primary group. A peer passes if its\n"
     "uid or its gid is allowed. E.g. --allow-gid www-data."},
    {"access-logfile", 0, OPT_ACCESS_LOG, "FILE",
     "Write an access log line per request to FILE; '-' is stdout, e.g.\n"
     "--access-logfile /var/log/unixcorn/access.log. Default: off"},
    {"access-logformat", 0, OPT_ACCESS_LOGFORMAT, "FORMAT",
     "The access log's line, of Gunicorn's atoms, e.g. --access-logformat\n"
     "'%(h)s \"%(r)s\" %(s)s %(request_id)s %({x-forwarded-proto}i)s'; or\n"
     "'json', one JSON object a line. Default: the combined format, the\n"
     "request time, and a Unix-socket peer's pid and uid. Atoms, JSON keys\n"
     "and request IDs: docs/logging.md"},
    {"error-logfile", 0, OPT_ERROR_LOG, "FILE",
     "Error log; '-' is stderr.\n"
     "E.g. --error-logfile /var/log/unixcorn/error.log. Default: -"},
    {"log-level", 0, OPT_LOG_LEVEL, "LEVEL",
     "debug, info, warning, error or critical, e.g. --log-level warning.\n"
     "Default: info"},
    {"help", 'h', OPT_HELP, NULL, "Show this help and exit."},
    {"version", 'v', OPT_VERSION, NULL, "Show the version and exit."},
};
#define NOPTIONS (sizeof options / sizeof options[0])

void config_usage(FILE *out) {
  fputs("Usage: unixcorn [OPTIONS] [APP]\n\n"
        "An HTTP/1.1 application server in the spirit of Gunicorn, for running behind\n"
        "nginx on a Unix socket.\n\n"
        "APP is what each worker serves:\n"
        "  echo              each request body comes back as the response (default)\n"
        "  inspect           a JSON document of the request as it arrived\n"
        "  PATH[:SYMBOL]     an application in a shared object (./app.so), which\n"
        "                    exports a struct unixcorn_app named SYMBOL (default\n"
        "                    unixcorn_app); see unixcorn/app.h and the\n"
        "                    README's \"Writing an app\". HUP loads it anew.\n\n"
        "Options:\n",
        out);
  for (size_t i = 0; i < NOPTIONS; i++) {
    const struct option_spec *o = &options[i];
    if (o->help == NULL)
      continue;
    char left[80];
    int n = o->short_name
                ? snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name)
                : snprintf(left, sizeof left, "      --%s", o->name);
    for (size_t j = i + 1; j < NOPTIONS; j++)
      if (options[j].id == o->id && options[j].help == NULL)
        n += snprintf(left + n, sizeof left - (size_t)n, ", --%s", options[j].name);
    if (o->arg)
      snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
    fprintf(out, "%s\n", left);
    for (const char *line = o->help; *line;) {
      const char *nl = strchr(line, '\n');
      int len = nl ? (int)(nl - line) : (int)strlen(line);
      fprintf(out, "          %.*s\n", len, line);
      line += len + (nl != NULL);
    }
  }
  fputs("\nSignals to the master (as Gunicorn): TERM graceful stop, INT and QUIT quick\n"
        "stop, HUP read the configuration again, start new workers with it, then\n"
        "retire the old, TTIN and TTOU one worker more or less, USR1 reopen log\n"
        "files, USR2 upgrade the binary in place, WINCH stop the workers but keep the\n"
        "master (ignored in a terminal, which sends WINCH when its window is\n"
        "resized).\n",
        out);
}

const struct option_spec *config_find_long(const char *name, size_t len) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
      return &options[i];
  return NULL;
}

const struct option_spec *config_find_short(char c) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (options[i].short_name == c)
      return &options[i];
  return NULL;
}

static int apply_bind(struct config *cfg, const char *v, char *err, size_t errlen) {
  if (cfg->nbinds == CONFIG_MAX_BINDS)
    return config_error(err, errlen, "at most %d addresses", CONFIG_MAX_BINDS);
  return bind_addr_parse(&cfg->binds[cfg->nbinds++], v, err, errlen);
}

static int apply_value(struct config *cfg, enum opt_id id, const char *v, char *err,
                       size_t errlen) {
  uint64_t n;
  switch (id) {
  case OPT_BIND: return apply_bind(cfg, v, err, errlen);
  case OPT_WORKERS:
    cfg->workers_auto = strcmp(v, "auto") == 0;
    if (cfg->workers_auto) {
      cfg->workers = 0;
      return 0;
    }
    return config_parse_uint(v, 1024, &cfg->workers) < 0 || cfg->workers == 0 ? -1 : 0;
  case OPT_TIMEOUT: return parse_seconds(v, &cfg->timeout_ms);
  case OPT_MAX_REQUESTS: return config_parse_uint(v, UINT32_MAX, &cfg->max_requests);
  case OPT_MAX_REQUESTS_JITTER:
    return config_parse_uint(v, UINT32_MAX, &cfg->max_requests_jitter);
  case OPT_MAX_WORKER_MEMORY: return parse_bytes(v, &cfg->max_worker_memory);
  case OPT_MAX_WORKER_LIFETIME: return parse_seconds(v, &cfg->max_worker_lifetime_ms);
  case OPT_MAX_WORKER_LIFETIME_JITTER:
    return parse_seconds(v, &cfg->max_worker_lifetime_jitter_ms);
  case OPT_CONFIG: cfg->config_file = v; return v[0] == '\0' ? -1 : 0;
  case OPT_PID: cfg->pid_file = v; return v[0] == '\0' ? -1 : 0;
  case OPT_METRICS_BIND:
    cfg->metrics_set = true;
    return bind_addr_parse(&cfg->metrics_bind, v, err, errlen);
  case OPT_BACKLOG:
    if (config_parse_uint(v, 65535, &n) < 0 || n == 0)
      return config_error(err, errlen, "expected a number from 1 to 65535, got '%s'", v);
    cfg->backlog = (int)n;
    return 0;
  case OPT_KEEPALIVE: return parse_seconds(v, &cfg->keepalive_ms);
  case OPT_HEADER_TIMEOUT: return parse_seconds(v, &cfg->header_timeout_ms);
  case OPT_READ_TIMEOUT: return parse_seconds(v, &cfg->read_timeout_ms);
  case OPT_GRACEFUL_TIMEOUT: return parse_seconds(v, &cfg->graceful_timeout_ms);
  case OPT_SHUTDOWN_DELAY: return parse_seconds(v, &cfg->shutdown_delay_ms);
  case OPT_MAX_QUEUE_TIME: return parse_seconds(v, &cfg->max_queue_time_ms);
  case OPT_LIMIT_LINE: return config_parse_uint(v, UINT32_MAX, &cfg->limit_request_line);
  case OPT_LIMIT_FIELDS: return config_parse_uint(v, 65535, &cfg->limit_request_fields);
  case OPT_LIMIT_FIELD_SIZE:
    return config_parse_uint(v, UINT32_MAX, &cfg->limit_request_field_size);
  case OPT_LIMIT_BODY: return parse_bytes(v, &cfg->limit_request_body);
  case OPT_TMP_DIR: cfg->tmp_dir = v; return v[0] == '\0' ? -1 : 0;
  case OPT_APP:
    cfg->app = v;
    cfg->app_given = true;
    return v[0] == '\0' ? config_error(err, errlen, "an empty APP") : 0;
  case OPT_APP_ARG: cfg->app_arg = v; return 0;
  case OPT_THREADS:
    return config_parse_uint(v, 1024, &cfg->threads) < 0 || cfg->threads == 0 ? -1 : 0;
  case OPT_SOCKET_MODE: return parse_mode(v, &cfg->socket_mode);
  case OPT_SOCKET_GROUP:
    cfg->socket_group_set = true;
    return parse_id(v, false, &cfg->socket_gid) < 0
               ? config_error(err, errlen, "no such group: '%s'", v)
               : 0;
  case OPT_FORWARDED_ALLOW: return parse_ip_list(cfg, v);
  case OPT_WORKER_CONNECTIONS:
    return config_parse_uint(v, 1000000, &cfg->worker_connections) < 0 ||
                   cfg->worker_connections == 0
               ? -1
               : 0;
  case OPT_ALLOW_UID: return parse_id_list(v, cfg->allow_uid, &cfg->nallow_uid, true);
  case OPT_ALLOW_GID: return parse_id_list(v, cfg->allow_gid, &cfg->nallow_gid, false);
  case OPT_ACCESS_LOG: cfg->access_logfile = v; return v[0] == '\0' ? -1 : 0;
  case OPT_ACCESS_LOGFORMAT:
    cfg->access_logformat = v;
    return access_format_check(v, err, errlen);
  case OPT_ERROR_LOG: cfg->error_logfile = v; return v[0] == '\0' ? -1 : 0;
  case OPT_LOG_LEVEL: return parse_level(v, &cfg->log_level);
  default: return -1;
  }
}

/* Reasons for values that failed without saying why. */
static const char *expected_for(enum opt_id id) {
  switch (id) {
  case OPT_WORKERS: return "a number from 1 to 1024, or auto";
  case OPT_THREADS: return "a number from 1 to 1024";
  case OPT_TIMEOUT:
  case OPT_MAX_WORKER_LIFETIME:
  case OPT_MAX_WORKER_LIFETIME_JITTER:
  case OPT_KEEPALIVE:
  case OPT_HEADER_TIMEOUT:
  case OPT_READ_TIMEOUT:
  case OPT_GRACEFUL_TIMEOUT:
  case OPT_SHUTDOWN_DELAY:
  case OPT_MAX_QUEUE_TIME: return "a number of seconds, like 5 or 0.5";
  case OPT_LIMIT_BODY:
  case OPT_MAX_WORKER_MEMORY: return "a size in bytes, like 1048576 or 64M";
  case OPT_ECHO_STREAM:
  case OPT_CHECK_CONFIG: return "true or false";
  case OPT_SOCKET_MODE: return "an octal mode from 0 to 0777, like 0660";
  case OPT_LOG_LEVEL: return "debug, info, warning, error or critical";
  case OPT_FORWARDED_ALLOW: return "IP addresses separated by commas, or '*'";
  case OPT_WORKER_CONNECTIONS: return "a number from 1 to 1000000";
  case OPT_ALLOW_UID: return "user names or uids separated by commas";
  case OPT_ALLOW_GID: return "group names or gids separated by commas";
  case OPT_PID:
  case OPT_CONFIG:
  case OPT_TMP_DIR:
  case OPT_ACCESS_LOG:
  case OPT_ERROR_LOG: return "a path";
  default: return "a whole number";
  }
}

const char *config_option_name(const struct option_spec *o) {
  return o->name;
}

bool config_option_is_switch(const struct option_spec *o) {
  return o->arg == NULL;
}

bool config_same_option(const struct option_spec *a, const struct option_spec *b) {
  return a->id == b->id;
}

enum option_scope config_option_scope(const struct option_spec *o) {
  switch (o->id) {
  case OPT_BIND:
  case OPT_PID:
  case OPT_METRICS_BIND:
  case OPT_BACKLOG:
  case OPT_SOCKET_MODE:
  case OPT_SOCKET_GROUP:
  case OPT_ERROR_LOG: return SCOPE_FIXED; /* bound or opened by the master at start */
  case OPT_CONFIG:
  case OPT_CHECK_CONFIG:
  case OPT_HELP:
  case OPT_VERSION: return SCOPE_COMMAND;
  default: return SCOPE_ANY;
  }
}

/* A switch is on when given bare; a file spells it out. */
static int apply_switch(struct config *cfg, enum opt_id id, const char *v) {
  bool on = v == NULL || strcmp(v, "true") == 0;
  if (!on && strcmp(v, "false") != 0)
    return -1;
  if (id == OPT_CHECK_CONFIG)
    cfg->check_config = on;
  else
    cfg->echo_stream = on;
  return 0;
}

enum config_result config_apply(struct config *cfg, const struct option_spec *o,
                                const char *value, char *why, size_t whylen) {
  if (o->id == OPT_HELP || o->id == OPT_VERSION)
    return o->id == OPT_HELP ? CONFIG_HELP : CONFIG_VERSION;
  why[0] = '\0';
  int rc = o->arg == NULL ? apply_switch(cfg, o->id, value)
                          : apply_value(cfg, o->id, value, why, whylen);
  if (rc == 0)
    return CONFIG_OK;
  if (why[0] == '\0')
    snprintf(why, whylen, "expected %s, got '%.200s'", expected_for(o->id),
             value ? value : "");
  return CONFIG_ERROR;
}

void config_add_default_bind(struct config *cfg) {
  if (cfg->nbinds == 0) /* cannot fail: a constant */
    bind_addr_parse(&cfg->binds[cfg->nbinds++], DEFAULT_BIND, NULL, 0);
}

#include "config.h"
#include "config_impl.h"

#include <arpa/inet.h>
#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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

static int apply_bind(struct config *cfg, const char *v, char *err, size_t errlen) {
  if (cfg->nbinds == CONFIG_MAX_BINDS)
    return errmsg(err, errlen, "at most %d addresses", CONFIG_MAX_BINDS);
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
      return errmsg(err, errlen, "expected a number from 1 to 65535, got '%s'", v);
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
    return v[0] == '\0' ? errmsg(err, errlen, "an empty APP") : 0;
  case OPT_APP_ARG: cfg->app_arg = v; return 0;
  case OPT_THREADS:
    return config_parse_uint(v, 1024, &cfg->threads) < 0 || cfg->threads == 0 ? -1 : 0;
  case OPT_SOCKET_MODE: return parse_mode(v, &cfg->socket_mode);
  case OPT_SOCKET_GROUP:
    cfg->socket_group_set = true;
    return parse_id(v, false, &cfg->socket_gid) < 0
               ? errmsg(err, errlen, "no such group: '%s'", v)
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

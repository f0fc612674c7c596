/* Error log (Gunicorn's format, written at once) and access log (buffered,
 * flushed once per event-loop iteration so a busy server makes one write(2)
 * for many requests). */
#ifndef UNIXCORN_LOG_H
#define UNIXCORN_LOG_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

enum log_level {
  LOG_LEVEL_DEBUG,
  LOG_LEVEL_INFO,
  LOG_LEVEL_WARNING,
  LOG_LEVEL_ERROR,
  LOG_LEVEL_CRITICAL
};

/* Opens the logs; a NULL or "-" error path means stderr, "-" access path means
 * stdout, NULL access path disables access logging. Returns 0 or -errno, with
 * the failing path in *failed. */
int log_open(const char *error_path, const char *access_path, enum log_level level,
             const char **failed);
/* A reload's --log-level. */
void log_set_level(enum log_level level);
/* Reopens files by path (after logrotate moved them). */
int log_reopen(void);
void log_close(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
#define log_debug(...) log_msg(LOG_LEVEL_DEBUG, __VA_ARGS__)
#define log_info(...) log_msg(LOG_LEVEL_INFO, __VA_ARGS__)
#define log_warning(...) log_msg(LOG_LEVEL_WARNING, __VA_ARGS__)
#define log_error(...) log_msg(LOG_LEVEL_ERROR, __VA_ARGS__)
int log_enabled(enum log_level level);
/* The error log's descriptor, for a signal handler's last words. */
int log_error_fd(void);

/* One finished request, as the access log sees it. Strings need not be
 * NUL-terminated; a NULL pointer is logged as "-". */
struct access_entry {
  const char *host;
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
  int64_t queue_us; /* queue time from X-Request-Start; -1: none */
};

/* strftime of the current UTC second, redone only when the second changes. */
struct cached_time {
  time_t sec;
  size_t len;
  char text[64];
};
const char *cached_strftime(struct cached_time *c, const char *fmt, size_t *len);

int log_access_enabled(void);
void log_access(const struct access_entry *e);
void log_flush(void);

#endif

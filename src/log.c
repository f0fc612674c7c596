#include "log.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define ACCESS_BUF_SIZE (64 * 1024)
#define ACCESS_LINE_MAX 4096

struct log_file {
  const char *path; /* NULL: the standard stream in fd */
  int fd;
  int std_fd;
};

static struct log_file error_log = {NULL, STDERR_FILENO, STDERR_FILENO};
static struct log_file access_log = {NULL, -1, STDOUT_FILENO};
static enum log_level min_level = LOG_LEVEL_INFO;
static char access_buf[ACCESS_BUF_SIZE];
static size_t access_len;

static const char *const level_names[] = {"DEBUG", "INFO", "WARNING", "ERROR",
                                          "CRITICAL"};

static int open_log_file(struct log_file *lf) {
  if (lf->path == NULL) {
    lf->fd = lf->std_fd;
    return 0;
  }
  int fd = open(lf->path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0)
    return -errno;
  if (lf->fd >= 0 && lf->fd != lf->std_fd)
    close(lf->fd);
  lf->fd = fd;
  return 0;
}

static const char *path_or_std(const char *path) {
  return (path == NULL || strcmp(path, "-") == 0) ? NULL : path;
}

int log_open(const char *error_path, const char *access_path, enum log_level level,
             const char **failed) {
  int err;
  min_level = level;
  error_log.path = path_or_std(error_path);
  if ((err = open_log_file(&error_log)) < 0) {
    *failed = error_path;
    return err;
  }
  if (access_path == NULL)
    return 0;
  access_log.path = path_or_std(access_path);
  if ((err = open_log_file(&access_log)) < 0) {
    *failed = access_path;
    return err;
  }
  return 0;
}

void log_set_level(enum log_level level) {
  min_level = level;
}

int log_reopen(void) {
  int err = open_log_file(&error_log);
  if (access_log.fd >= 0) {
    log_flush();
    int aerr = open_log_file(&access_log);
    if (err == 0)
      err = aerr;
  }
  return err;
}

void log_close(void) {
  log_flush();
  if (access_log.fd >= 0 && access_log.fd != access_log.std_fd)
    close(access_log.fd);
  if (error_log.fd != error_log.std_fd)
    close(error_log.fd);
  access_log.fd = -1;
  error_log.fd = error_log.std_fd;
}

int log_error_fd(void) {
  return error_log.fd;
}

int log_enabled(enum log_level level) {
  return level >= min_level;
}

static void write_all(int fd, const char *p, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, p, n);
    if (w < 0 && errno == EINTR)
      continue;
    if (w <= 0)
      return; /* nowhere left to report a failing log */
    p += w;
    n -= (size_t)w;
  }
}

void log_msg(enum log_level level, const char *fmt, ...) {
  if (level < min_level)
    return;
  char line[2048];
  time_t now = time(NULL);
  struct tm tm;
  gmtime_r(&now, &tm);
  size_t n = strftime(line, sizeof line, "[%Y-%m-%d %H:%M:%S +0000] ", &tm);
  n += (size_t)snprintf(line + n, sizeof line - n, "[%ld] [%s] ", (long)getpid(),
                        level_names[level]);
  va_list ap;
  va_start(ap, fmt);
  int m = vsnprintf(line + n, sizeof line - n - 1, fmt, ap);
  va_end(ap);
  n = (m < 0) ? n : (n + (size_t)m < sizeof line - 1 ? n + (size_t)m : sizeof line - 2);
  line[n++] = '\n';
  write_all(error_log.fd, line, n);
}

int log_access_enabled(void) {
  return access_log.fd >= 0;
}

/* Several workers share the access log. A write of up to PIPE_BUF bytes to a
 * pipe is atomic, so each write ends on a line boundary within that size and
 * lines from different workers never interleave. */
void log_flush(void) {
  size_t off = 0;
  while (access_log.fd >= 0 && off < access_len) {
    size_t n = access_len - off;
    if (n > PIPE_BUF) {
      n = PIPE_BUF;
      while (n > 0 && access_buf[off + n - 1] != '\n')
        n--;
      if (n == 0)
        n = PIPE_BUF;
    }
    write_all(access_log.fd, access_buf + off, n);
    off += n;
  }
  access_len = 0;
}

/* Appends a quoted field, escaping what would let a client forge log lines. */
static size_t put_quoted(char *out, size_t room, const char *s, size_t len) {
  static const char hex[] = "0123456789abcdef";
  size_t n = 0;
  if (s == NULL) {
    s = "-";
    len = 1;
  }
  for (size_t i = 0; i < len && n + 4 < room; i++) {
    unsigned char ch = (unsigned char)s[i];
    if (ch == '"' || ch == '\\' || ch < 0x20 || ch >= 0x7f) {
      out[n++] = '\\';
      out[n++] = 'x';
      out[n++] = hex[ch >> 4];
      out[n++] = hex[ch & 15];
    } else {
      out[n++] = (char)ch;
    }
  }
  return n;
}

const char *cached_strftime(struct cached_time *c, const char *fmt, size_t *len) {
  time_t now = time(NULL);
  if (c->len == 0 || now != c->sec) {
    struct tm tm;
    gmtime_r(&now, &tm);
    c->len = strftime(c->text, sizeof c->text, fmt, &tm);
    c->sec = now;
  }
  *len = c->len;
  return c->text;
}

static size_t put_time(char *out, size_t room) {
  static struct cached_time clock;
  size_t len;
  const char *text = cached_strftime(&clock, "[%d/%b/%Y:%H:%M:%S +0000]", &len);
  size_t n = len < room ? len : room;
  memcpy(out, text, n);
  return n;
}

#define APPEND(...)                                                                      \
  do {                                                                                   \
    int m_ = snprintf(line + n, sizeof line - n, __VA_ARGS__);                           \
    n = (m_ < 0 || (size_t)m_ >= sizeof line - n) ? sizeof line - 1 : n + (size_t)m_;    \
  } while (0)

/* Combined log format, then the request time in seconds, then for Unix-socket
 * peers the client's pid and uid, then the queue time (queue_time.h) of a
 * request that had one. */
void log_access(const struct access_entry *e) {
  if (access_log.fd < 0)
    return;
  char line[ACCESS_LINE_MAX];
  size_t n = put_quoted(line, 256, e->host, e->host_len);
  APPEND(" - - ");
  n += put_time(line + n, sizeof line - n);
  APPEND(" \"");
  n += put_quoted(line + n, 1024, e->method, e->method_len);
  APPEND(" ");
  n += put_quoted(line + n, 1536, e->target, e->target_len);
  APPEND(" HTTP/%u.%u\" %d %llu \"", e->version_major, e->version_minor, e->status,
         (unsigned long long)e->body_bytes);
  n += put_quoted(line + n, 512, e->referer, e->referer_len);
  APPEND("\" \"");
  n += put_quoted(line + n, 512, e->user_agent, e->user_agent_len);
  APPEND("\" %llu.%06llu", (unsigned long long)(e->duration_us / 1000000),
         (unsigned long long)(e->duration_us % 1000000));
  if (e->has_cred)
    APPEND(" pid=%ld uid=%lu", (long)e->pid, (unsigned long)e->uid);
  if (e->queue_us >= 0)
    APPEND(" queue=%llu.%06llu", (unsigned long long)(e->queue_us / 1000000),
           (unsigned long long)(e->queue_us % 1000000));
  line[n++] = '\n';
  if (access_len + n > sizeof access_buf)
    log_flush();
  memcpy(access_buf + access_len, line, n);
  access_len += n;
}

/* A blocking application: serves the files of one directory.
 *
 *   cc -shared -fPIC static_files.c $(pkg-config --cflags unixcorn) -o static_files.so
 *   unixcorn --threads 8 --app-arg /srv/www ./static_files.so
 *   curl --unix-socket /tmp/app.sock http://localhost/index.html
 *
 * open(2) and fstat(2) on a cold or network disk can block for milliseconds:
 * a blocking application runs each request on one of the worker's --threads
 * threads, so the event loop goes on serving other connections meanwhile.
 * The file itself goes out with sendfile(2) (unixcorn_write_file). HEAD gets
 * the same head without the body: the server sees to that. */
#define _GNU_SOURCE /* O_PATH */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <unixcorn/app.h>

struct site {
  int dir; /* the served directory, opened once */
};

static int site_init(const char *arg, void **data) {
  struct site *s = malloc(sizeof *s);
  if (s == NULL)
    return ENOMEM;
  s->dir = open(arg[0] ? arg : ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (s->dir < 0) {
    unixcorn_log(UNIXCORN_LOG_ERROR, "cannot open --app-arg directory '%s': %s", arg,
                 strerror(errno));
    free(s);
    return errno;
  }
  *data = s;
  return 0;
}

static void site_fini(void *data) {
  struct site *s = data;
  close(s->dir);
  free(s);
}

/* A path this example serves: "/" followed by names of letters, digits and
 * "._-", none starting with a dot (no "..", no hidden files). Into name,
 * without the leading "/"; "/" and ".../" name index.html. */
static int safe_name(unixcorn_str path, char *name, size_t size) {
  if (path.len == 0 || path.ptr[0] != '/' || path.len + 11 > size)
    return 0;
  size_t n = 0;
  for (size_t i = 1; i < path.len; i++) {
    char ch = path.ptr[i];
    int start = path.ptr[i - 1] == '/';
    if (ch == '/' ? start
                  : !(strchr("._-", ch) || (ch >= 'a' && ch <= 'z') ||
                      (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9')))
      return 0;
    if (start && ch == '.')
      return 0;
    name[n++] = ch;
  }
  if (n == 0 || name[n - 1] == '/')
    memcpy(name + n, "index.html", 10), n += 10;
  name[n] = '\0';
  return 1;
}

static const char *content_type(const char *name) {
  static const char *types[][2] = {
      {".html", "text/html; charset=utf-8"},
      {".css", "text/css"},
      {".js", "text/javascript"},
      {".json", "application/json"},
      {".txt", "text/plain; charset=utf-8"},
      {".png", "image/png"},
      {".svg", "image/svg+xml"},
      {".jpg", "image/jpeg"},
  };
  const char *dot = strrchr(name, '.');
  for (size_t i = 0; dot != NULL && i < sizeof types / sizeof types[0]; i++)
    if (strcmp(dot, types[i][0]) == 0)
      return types[i][1];
  return "application/octet-stream";
}

/* The open file stays with the request until on_done: sendfile reads it
 * after on_request has returned. The state starts zeroed, and on_done comes
 * even for a request whose on_request never ran (its client left early). */
struct file {
  int fd;
  int open;
};

static int serve(unixcorn_request *r) {
  struct site *s = unixcorn_app_data(r);
  struct file *f = unixcorn_request_state(r);
  unixcorn_str method = unixcorn_method(r);
  char name[1024];
  struct stat st;
  if (!(method.len == 3 && memcmp(method.ptr, "GET", 3) == 0) &&
      !(method.len == 4 && memcmp(method.ptr, "HEAD", 4) == 0)) {
    unixcorn_respond(r, 405);
    unixcorn_add_header(r, "Allow", 5, "GET, HEAD", 9);
    return unixcorn_end(r) == 0 ? 0 : 500;
  }
  if (!safe_name(unixcorn_path(r), name, sizeof name))
    return 404;
  f->fd = openat(s->dir, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (f->fd < 0)
    return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 404 : 403;
  f->open = 1;
  if (fstat(f->fd, &st) < 0 || !S_ISREG(st.st_mode))
    return 404;
  const char *type = content_type(name);
  int rc = unixcorn_respond(r, 200);
  if (rc == 0)
    rc = unixcorn_add_header(r, "Content-Type", 12, type, strlen(type));
  if (rc == 0)
    rc = unixcorn_set_length(r, (uint64_t)st.st_size);
  if (rc == 0 && st.st_size > 0)
    rc = unixcorn_write_file(r, f->fd, 0, (uint64_t)st.st_size);
  if (rc == 0)
    rc = unixcorn_end(r);
  return rc == 0 ? 0 : 500;
}

static void done(unixcorn_request *r) {
  struct file *f = unixcorn_request_state(r);
  if (f->open)
    close(f->fd);
}

const struct unixcorn_app unixcorn_app = {
    .version = UNIXCORN_APP_VERSION,
    .name = "static_files",
    .flags = UNIXCORN_APP_BLOCKING,
    .request_size = sizeof(struct file),
    .init = site_init,
    .fini = site_fini,
    .on_request = serve,
    .on_done = done,
};

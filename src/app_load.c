/* Which application a worker serves: `unixcorn [OPTIONS] [APP]`, where APP is a
 * built-in name or a shared object, PATH or PATH:SYMBOL. */
#include "app_load.h"

#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "apps/apps.h"
#include "app_pool.h"
#include "errmsg.h"
#include "log.h"

#define DEFAULT_SYMBOL "unixcorn_app"

static const struct unixcorn_app *builtin(const char *name, const struct config *cfg) {
  if (strcmp(name, "echo") == 0)
    return cfg->echo_stream ? &echo_stream_app : &echo_app;
  if (strcmp(name, "inspect") == 0)
    return &inspect_app;
  return NULL;
}

/* "PATH:SYMBOL" when PATH names a file; else the whole text is the path. */
static void split(const char *spec, char *path, size_t pathlen, const char **symbol) {
  const char *colon = strrchr(spec, ':');
  struct stat st;
  snprintf(path, pathlen, "%s", spec);
  *symbol = DEFAULT_SYMBOL;
  if (colon != NULL && colon[1] != '\0' && (size_t)(colon - spec) < pathlen) {
    path[colon - spec] = '\0';
    if (stat(path, &st) == 0 && stat(spec, &st) != 0) {
      *symbol = colon + 1;
      return;
    }
    snprintf(path, pathlen, "%s", spec);
  }
}

static int check(const struct unixcorn_app *d, const char *what, char *err,
                 size_t errlen) {
  if (d->version != UNIXCORN_APP_VERSION)
    return errmsg(err, errlen,
                  "APP %s is built for version %u of the application interface; this "
                  "unixcorn serves version %d (rebuild it against this unixcorn's "
                  "unixcorn/app.h)",
                  what, d->version, UNIXCORN_APP_VERSION);
  if (d->on_request == NULL)
    return errmsg(err, errlen, "APP %s has no on_request callback", what);
  if ((d->flags & UNIXCORN_APP_BLOCKING) && (d->flags & UNIXCORN_APP_STREAM_BODY))
    return errmsg(err, errlen,
                  "APP %s asks for a blocking application with a streamed body, which "
                  "this interface does not offer",
                  what);
  if ((d->flags & ~(UNIXCORN_APP_BLOCKING | UNIXCORN_APP_STREAM_BODY)) != 0)
    return errmsg(err, errlen, "APP %s has flags this unixcorn does not know: %#x", what,
                  d->flags);
  return 0;
}

static int open_shared(struct app *a, const char *spec, char *err, size_t errlen) {
  char path[4096];
  const char *symbol;
  struct stat st;
  split(spec, path, sizeof path, &symbol);
  if (stat(path, &st) < 0)
    return errmsg(err, errlen,
                  "APP %s: %s (an APP is echo, inspect, or a shared "
                  "object: ./app.so or ./app.so:SYMBOL)",
                  path, strerror(errno));
  /* A bare name would be looked up in the library path: "app.so" means the file. */
  char local[4100];
  if (strchr(path, '/') == NULL)
    snprintf(local, sizeof local, "./%s", path);
  else
    snprintf(local, sizeof local, "%s", path);
  a->dl = dlopen(local, RTLD_NOW | RTLD_LOCAL);
  if (a->dl == NULL)
    return errmsg(err, errlen, "APP %s is not a shared object this process can load: %s",
                  path, dlerror());
  a->desc = dlsym(a->dl, symbol);
  if (a->desc == NULL)
    return errmsg(err, errlen,
                  "APP %s exports no %s (an application exports a struct unixcorn_app; "
                  "see unixcorn/app.h)",
                  path, symbol);
  snprintf(a->name, sizeof a->name, "%.250s", spec);
  return 0;
}

int app_load(struct app *a, const struct config *cfg, char *err, size_t errlen) {
  memset(a, 0, sizeof *a);
  a->tmp_dir = cfg->tmp_dir;
  a->desc = builtin(cfg->app, cfg);
  if (a->desc != NULL)
    snprintf(a->name, sizeof a->name, "%s", cfg->app);
  else if (open_shared(a, cfg->app, err, errlen) < 0) {
    app_unload(a);
    return -1;
  }
  if (check(a->desc, a->name, err, errlen) < 0) {
    app_unload(a);
    return -1;
  }
  return 0;
}

int app_init(struct app *a, const struct config *cfg, char *err, size_t errlen) {
  int rc = a->desc->init ? a->desc->init(cfg->app_arg, &a->data) : 0;
  if (rc != 0)
    return errmsg(err, errlen, "APP %s: its init failed (it returned %d)", a->name, rc);
  a->initialized = true;
  return 0;
}

void app_use(struct app *a, const struct unixcorn_app *desc, void *data,
             const char *tmp_dir) {
  memset(a, 0, sizeof *a);
  a->desc = desc;
  a->data = data;
  a->tmp_dir = tmp_dir;
  snprintf(a->name, sizeof a->name, "%s", desc->name);
}

void app_unload(struct app *a) {
  if (a->initialized && a->desc->fini != NULL)
    a->desc->fini(a->data);
  a->initialized = false;
  if (a->dl != NULL)
    dlclose(a->dl);
  a->dl = NULL;
}

static int load_only(const struct config *cfg, char *err, size_t errlen) {
  struct app a;
  if (app_load(&a, cfg, err, errlen) < 0)
    return -1;
  app_unload(&a);
  return 0;
}

/* In a child: load, init, fini. The child's process, not the master, holds
 * whatever init opens (a database connection, a file) and takes it away. */
static void init_in_child(const struct config *cfg, int report) {
  char err[1024];
  struct app a;
  int rc =
      app_load(&a, cfg, err, sizeof err) < 0 ? 1 : app_init(&a, cfg, err, sizeof err);
  if (rc != 0) {
    ssize_t n = write(report, err, strlen(err));
    (void)n;
  }
  app_unload(&a);
  _exit(rc != 0);
}

static int init_check(const struct config *cfg, char *err, size_t errlen) {
  int fds[2], status;
  if (pipe2(fds, O_CLOEXEC) < 0)
    return errmsg(err, errlen, "APP %s: cannot check it: %s", cfg->app, strerror(errno));
  pid_t pid = fork();
  if (pid == 0) {
    close(fds[0]);
    init_in_child(cfg, fds[1]);
  }
  close(fds[1]);
  if (pid < 0) {
    close(fds[0]);
    return errmsg(err, errlen, "APP %s: cannot check it: %s", cfg->app, strerror(errno));
  }
  ssize_t n, got = 0;
  while ((n = read(fds[0], err + got, errlen - 1 - (size_t)got)) > 0 &&
         (size_t)(got += n) < errlen - 1)
    ;
  err[got] = '\0';
  close(fds[0]);
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
    ;
  if (WIFSIGNALED(status))
    return errmsg(err, errlen, "APP %s: its init crashed (%s)", cfg->app,
                  strsignal(WTERMSIG(status)));
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

int app_check(const struct config *cfg, bool with_init, char *err, size_t errlen) {
  if (builtin(cfg->app, cfg) != NULL || !with_init)
    return load_only(cfg, err, errlen);
  return init_check(cfg, err, errlen);
}

/* How the master starts processes (workers, the metrics process, a new master
 * on USR2): the environment and descriptors that handoff.h describes. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"
#include "master_impl.h"

extern char **environ;

static bool passed_on(const char *var) {
  return strncmp(var, HANDOFF_ENV_PREFIX, strlen(HANDOFF_ENV_PREFIX)) != 0 ||
         strncmp(var, HANDOFF_ENV_KEPT_PREFIX, strlen(HANDOFF_ENV_KEPT_PREFIX)) == 0;
}

/* Taken once, after start-up has removed what it read (master_open_listeners), so a
 * spawn allocates nothing: each one fills the room left at the end. */
int master_spawn_init(struct master *m) {
  size_t n = 0;
  while (environ[n] != NULL)
    n++;
  m->child_env = calloc(n + SPAWN_ENV_MAX + 1, sizeof *m->child_env);
  if (m->child_env == NULL)
    return -ENOMEM;
  for (size_t i = 0; i < n; i++)
    if (passed_on(environ[i]))
      m->child_env[m->child_nenv++] = environ[i];
  return 0;
}

const char *master_spawn_own_var(const char *name) {
  size_t len = strlen(name);
  for (char **v = environ; *v != NULL; v++)
    if (strncmp(*v, name, len) == 0 && (*v)[len] == '=')
      return *v;
  return NULL;
}

void master_spawn_free(struct master *m) {
  free(m->child_env);
  m->child_env = NULL;
}

void master_spawn_add_listeners(const struct master *m, struct spawn *s) {
  for (size_t i = 0; i < m->nlisteners; i++)
    s->fds[s->nfds++] = m->listeners[i].fd;
}

int master_spawn(struct master *m, uv_process_t *proc, const struct spawn *s) {
  uv_stdio_container_t stdio[3 + SPAWN_FDS_MAX];
  int n = 0;
  stdio[n++].flags = UV_IGNORE;
  for (int fd = 1; fd <= 2; fd++, n++) {
    stdio[n].flags = UV_INHERIT_FD;
    stdio[n].data.fd = fd;
  }
  for (size_t i = 0; i < s->nfds; i++, n++) {
    stdio[n].flags = UV_INHERIT_FD;
    stdio[n].data.fd = s->fds[i];
  }
  for (size_t i = 0; i <= SPAWN_ENV_MAX; i++) /* the NULL after them included */
    m->child_env[m->child_nenv + i] = i < s->nenv ? (char *)s->env[i] : NULL;
  uv_process_options_t opt = {
      .exit_cb = s->exit_cb,
      .file = s->file,
      .args = s->args != NULL ? s->args : m->child_argv,
      .env = m->child_env,
      .stdio = stdio,
      .stdio_count = n,
  };
  return uv_spawn(&m->loop, proc, &opt);
}

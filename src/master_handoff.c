/* What passes from one master to the next: the listening sockets a master
 * starts with (from an old master's USR2, from systemd, or bound here), the
 * USR2 upgrade that starts a new master, and the pid file, which follows the
 * master that serves. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "handoff.h"
#include "log.h"
#include "master_impl.h"

/* ---- start-up ---- */

static int inherited_count(const char *var, bool check_pid) {
  const char *v = getenv(var);
  if (v == NULL)
    return 0;
  if (check_pid) {
    const char *pid = getenv("LISTEN_PID");
    if (pid == NULL || strtol(pid, NULL, 10) != (long)getpid())
      return 0;
  }
  long n = strtol(v, NULL, 10);
  return n > 0 && n <= CONFIG_MAX_BINDS ? (int)n : 0;
}

/* Did the old master (USR2) create socket file i? Systemd's are nobody's. */
static bool owned_by_old(const char *mask, size_t i) {
  return strlen(mask) > i && mask[i] == '1';
}

int master_open_listeners(struct master *m) {
  char err[CONFIG_ERR_MAX + 128];
  int upgraded = inherited_count(HANDOFF_INHERIT_LISTENERS, false);
  int activated = upgraded ? 0 : inherited_count("LISTEN_FDS", true);
  unsetenv(HANDOFF_INHERIT_LISTENERS);
  if (upgraded)
    m->old_master = getppid();
  unsetenv("LISTEN_FDS");
  unsetenv("LISTEN_PID");
  unsetenv("LISTEN_FDNAMES");
  int inherited = upgraded + activated;
  m->upgraded = upgraded > 0;
  char owned[CONFIG_MAX_BINDS + 1] = "";
  if (upgraded && getenv(HANDOFF_INHERIT_OWNED))
    snprintf(owned, sizeof owned, "%s", getenv(HANDOFF_INHERIT_OWNED));
  unsetenv(HANDOFF_INHERIT_OWNED);
  if (activated)
    log_info("Using %d sockets from systemd; --bind is ignored", activated);
  for (size_t i = 0; i < (inherited ? (size_t)inherited : m->cfg->nbinds); i++) {
    struct listener *l = &m->listeners[i];
    int rc = inherited ? listener_adopt(l, HANDOFF_FIRST_FD + (int)i,
                                        owned_by_old(owned, i), err, sizeof err)
                       : listener_open(l, &m->cfg->binds[i], m->cfg, err, sizeof err);
    if (rc < 0) {
      log_error("%s", err);
      return -1;
    }
    m->nlisteners++;
  }
  return 0;
}

/* ---- USR2 ---- */

/* The pid file follows the master that serves: PATH.oldbin names the old one
 * during an upgrade, and PATH again after a rollback. */
static void rename_pid_file(struct master *m, bool to_oldbin) {
  if (m->pid_file == NULL)
    return;
  if (to_oldbin) {
    snprintf(m->pid_file_old, sizeof m->pid_file_old, "%s.oldbin", m->pid_file);
    if (rename(m->pid_file, m->pid_file_old) < 0)
      m->pid_file_old[0] = '\0';
  } else if (m->pid_file_old[0] != '\0' && rename(m->pid_file_old, m->pid_file) == 0) {
    m->pid_file_old[0] = '\0';
  }
}

static void on_upgrade_exit(uv_process_t *proc, int64_t status, int term_signal) {
  struct master *m = proc->data;
  log_error("The new master (pid:%d) exited (code %d, signal %d); this one carries on",
            proc->pid, (int)status, term_signal);
  m->upgrade_running = false;
  rename_pid_file(m, false);
  uv_close((uv_handle_t *)proc, NULL);
}

/* USR2: exec the binary found at argv[0] (possibly a new one) as a second
 * master that inherits the listening sockets; TERM to this one completes the
 * switch, TERM to the new one rolls it back. The socket path never disappears
 * and is never bound again. */
void master_upgrade(struct master *m) {
  char count[64], owned[64] = HANDOFF_INHERIT_OWNED "=", metrics[64];
  size_t mask_at = strlen(owned);
  if (m->upgrade_running || m->stopping) {
    log_warning("USR2 ignored: %s", m->stopping ? "stopping" : "an upgrade is under way");
    return;
  }
  snprintf(count, sizeof count, HANDOFF_INHERIT_LISTENERS "=%zu", m->nlisteners);
  for (size_t i = 0; i < m->nlisteners; i++) /* which socket files are ours to remove */
    owned[mask_at + i] = m->listeners[i].owns_path ? '1' : '0';
  struct spawn s = {.exit_cb = on_upgrade_exit,
                    .file = m->argv[0],
                    .args = m->argv, /* it reads its configuration itself */
                    .env = {count, owned},
                    .nenv = 2};
  const char *env_args = master_spawn_own_var(CONFIG_ENV_ARGS);
  if (env_args != NULL)
    s.env[s.nenv++] = env_args;
  master_spawn_add_listeners(m, &s);
  master_hand_over_metrics(m, &s, metrics, sizeof metrics);
  m->upgrade.data = m;
  rename_pid_file(m, true); /* before the new master writes its own */
  int err = master_spawn(m, &m->upgrade, &s);
  if (err < 0) {
    log_error("cannot start the new master %s: %s", m->argv[0], uv_strerror(err));
    rename_pid_file(m, false);
    uv_close((uv_handle_t *)&m->upgrade, NULL);
    return;
  }
  m->upgrade_running = true;
  log_info("Upgrading: new master started with pid %d; send TERM to %ld to finish",
           m->upgrade.pid, (long)getpid());
}

/* ---- the pid file ---- */

int master_write_pid_file(const struct master *m) {
  const char *path = m->pid_file;
  char line[32];
  if (path == NULL)
    return 0;
  int n = snprintf(line, sizeof line, "%ld\n", (long)getpid());
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0 || write(fd, line, (size_t)n) != n) {
    log_error("cannot write the pid file %s: %s", path, strerror(errno));
    if (fd >= 0)
      close(fd);
    return -1;
  }
  close(fd);
  return 0;
}

/* Only while it still names this process: a new master (USR2) may have
 * written its own since. */
void master_remove_pid_file(const struct master *m) {
  char line[32] = "";
  if (m->pid_file == NULL)
    return;
  const char *path = m->pid_file_old[0] ? m->pid_file_old : m->pid_file;
  FILE *f = fopen(path, "r");
  if (f == NULL)
    return;
  bool ours =
      fgets(line, sizeof line, f) != NULL && strtol(line, NULL, 10) == (long)getpid();
  fclose(f);
  if (ours)
    unlink(path);
}

/* The configuration the master runs with: the number --workers auto comes
 * to, the command line its children get, and HUP's reload.
 *
 * Children get the configuration as a command line of its settings
 * (config_child_argv), not the master's own: a worker never reads the file or
 * UNIXCORN_CMD_ARGS itself (its environment has no UNIXCORN_CMD_ARGS), so it
 * runs with exactly what the master last loaded, and a file edited since, but
 * not yet reloaded with HUP, changes nothing. */
#include <errno.h>
#include <stdlib.h>

#include "app_load.h"
#include "cpus.h"
#include "log.h"
#include "master_impl.h"

int master_config_init(struct master *m) {
  m->child_argv = config_child_argv(m->cfg, m->argv[0]);
  return m->child_argv != NULL ? 0 : -ENOMEM;
}

static void free_owned(struct master *m) {
  if (m->cfg_owned != NULL)
    config_free(m->cfg_owned);
  free(m->cfg_owned);
  m->cfg_owned = NULL;
}

void master_config_free(struct master *m) {
  free(m->child_argv);
  m->child_argv = NULL;
  free_owned(m);
}

uint64_t master_workers_wanted(const struct config *cfg) {
  struct cpu_count c;
  if (!cfg->workers_auto)
    return cfg->workers;
  cpus_count(&c);
  if (c.quota != 0 && c.quota < c.affinity)
    log_info("--workers auto: %u workers, for the %u CPUs of the cgroup's cpu.max quota "
             "(%s in %s; the CPU affinity allows %u)",
             c.n, c.quota, c.quota_text, c.quota_dir, c.affinity);
  else
    log_info("--workers auto: %u workers, for the %u CPUs of the CPU affinity "
             "(sched_getaffinity; %s)",
             c.n, c.affinity,
             c.quota ? "the cgroup's cpu.max quota allows as many or more"
                     : "no cgroup cpu.max quota");
  return c.n;
}

/* Swaps fresh in, with its command line for children. */
static void adopt(struct master *m, struct config *fresh, char **child_argv) {
  const struct config *old = m->cfg;
  bool workers_changed = fresh->workers_auto || fresh->workers != old->workers;
  free(m->child_argv);
  m->child_argv = child_argv;
  m->cfg = fresh;
  free_owned(m);
  m->cfg_owned = fresh;
  log_set_level(fresh->log_level);
  /* TTIN and TTOU hold until the setting itself changes. */
  if (workers_changed)
    m->target = master_workers_wanted(fresh);
}

int master_reload_config(struct master *m) {
  char err[CONFIG_ERR_MAX + 300], changed[256];
  char **child_argv = NULL;
  struct config *fresh = malloc(sizeof *fresh);
  enum config_result r = CONFIG_ERROR;
  snprintf(err, sizeof err, "out of memory");
  if (fresh != NULL)
    r = config_load(fresh, m->argc, m->argv, getenv(CONFIG_ENV_ARGS), err, sizeof err);
  if (r != CONFIG_OK) { /* the file, since argv and the environment are as they were */
    log_error("Reloading the configuration failed; keeping the settings in use: %s", err);
    free(fresh);
    return 0;
  }
  if (app_check(fresh, false, err, sizeof err) < 0) { /* the new code, or a new APP */
    log_error("HUP ignored: %s; the running workers keep serving", err);
    config_free(fresh);
    free(fresh);
    return -1;
  }
  if (config_keep_fixed(fresh, m->cfg, changed, sizeof changed) < 0 ||
      (child_argv = config_child_argv(fresh, m->argv[0])) == NULL) {
    log_error("Reloading the configuration failed; keeping the settings in use: out "
              "of memory");
    config_free(fresh);
    free(fresh);
    return 0;
  }
  if (changed[0] != '\0')
    log_warning("Reload: %s changed, ignored until a restart (the master uses them "
                "only at start)",
                changed);
  log_info("Reloaded the configuration%s%s", fresh->config_file ? " from " : "",
           fresh->config_file ? fresh->config_file : "");
  adopt(m, fresh, child_argv);
  return 0;
}

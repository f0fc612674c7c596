/* unixcorn: an HTTP/1.1 application server for running behind nginx on a Unix
 * socket. The same binary is the master (master.c) and, started by it with
 * HANDOFF_WORKER set, each worker (worker.c), or with HANDOFF_METRICS set, the
 * metrics process (metrics_server.c). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "app_load.h"
#include "handoff.h"
#include "master.h"
#include "metrics_server.h"
#include "worker.h"
#include "spool.h"
#include "version.h"

/* A worker finds its listeners, then its heartbeat socket (handoff.h). */
static int run_worker(const struct config *cfg) {
  const char *n = getenv(HANDOFF_WORKER_LISTENERS);
  struct worker_setup ws = {.first_fd = HANDOFF_FIRST_FD, .nlisteners = n ? atoi(n) : 0};
  ws.heartbeat_fd = ws.first_fd + ws.nlisteners;
  if (ws.nlisteners <= 0 || ws.nlisteners > CONFIG_MAX_BINDS) {
    log_error(HANDOFF_WORKER " is set without listening sockets; it is only for "
                             "workers that a unixcorn master starts");
    return WORKER_BOOT_FAILED;
  }
  static struct app app;
  char err[CONFIG_ERR_MAX + 300];
  if (app_load(&app, cfg, err, sizeof err) < 0 ||
      app_init(&app, cfg, err, sizeof err) < 0) {
    log_error("%s", err);
    app_unload(&app);
    return WORKER_BOOT_FAILED;
  }
  struct worker_role role = {.name = "worker", .app = &app, .recycles = true};
  int rc = worker_run(cfg, &ws, &role);
  app_unload(&app);
  return rc;
}

/* The metrics process finds its socket, then the shared counters (handoff.h). */
static int run_metrics(const struct config *cfg, const char *master_pid) {
  struct metrics_setup ms = {.listen_fd = HANDOFF_FIRST_FD,
                             .shm_fd = HANDOFF_FIRST_FD + 1,
                             .master_pid = (pid_t)strtol(master_pid, NULL, 10)};
  if (ms.master_pid <= 0) { /* 1 is a master that runs as a container's init */
    log_error(HANDOFF_METRICS " is only for the metrics process that a unixcorn "
                              "master starts");
    return WORKER_BOOT_FAILED;
  }
  return metrics_server_run(cfg, &ms);
}

/* A child takes its configuration from its command line alone, which its
 * master wrote (config_child_argv); the master also reads the --config file
 * and UNIXCORN_CMD_ARGS. Returns an exit status, or -1 to go on. */
static int configure(struct config *cfg, bool child, int argc, char **argv) {
  char err[CONFIG_ERR_MAX];
  config_defaults(cfg);
  enum config_result r =
      child ? config_parse(cfg, argc, argv, err, sizeof err)
            : config_load(cfg, argc, argv, getenv(CONFIG_ENV_ARGS), err, sizeof err);
  switch (r) {
  case CONFIG_HELP: config_usage(stdout); return 0;
  case CONFIG_VERSION: printf("unixcorn %s\n", unixcorn_version_full); return 0;
  case CONFIG_ERROR: fprintf(stderr, "unixcorn: %s\n", err); return 2;
  default: return -1;
  }
}

/* Logs and the spool directory, which every process opens for itself. */
static int open_files(const struct config *cfg, bool child) {
  const char *failed = NULL;
  int rc = log_open(cfg->error_logfile, cfg->access_logfile, cfg->log_level, &failed);
  if (rc < 0) {
    fprintf(stderr, "unixcorn: cannot open log file %s: %s\n", failed, strerror(-rc));
    return child ? WORKER_BOOT_FAILED : 1;
  }
  char why[CONFIG_ERR_MAX];
  if (access_log_use(cfg->access_logformat, why, sizeof why) < 0) { /* checked before */
    log_error("--access-logformat: %s", why);
    return child ? WORKER_BOOT_FAILED : 1;
  }
  rc = spool_check_dir(cfg->tmp_dir);
  if (rc < 0) {
    log_error("--tmp-dir %s: cannot create temporary files there: %s", cfg->tmp_dir,
              strerror(-rc));
    return child ? WORKER_BOOT_FAILED : 1;
  }
  return 0;
}

int main(int argc, char **argv) {
  static struct config cfg; /* large, and alive as long as the process */
  const char *metrics = getenv(HANDOFF_METRICS);
  bool child = getenv(HANDOFF_WORKER) != NULL || metrics != NULL;
  int rc = configure(&cfg, child, argc, argv);
  if (rc >= 0)
    return rc;
  rc = open_files(&cfg, child);
  if (rc != 0)
    goto out;
  if (!child) { /* a bad APP stops the start before anything binds */
    char why[CONFIG_ERR_MAX + 300];
    if (app_check(&cfg, true, why, sizeof why) < 0) {
      log_error("%s", why);
      rc = 1;
      goto out;
    }
  }
  if (cfg.check_config) {
    fprintf(stderr, "unixcorn: the configuration is valid\n");
    goto out;
  }
  signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a crash */
  if (metrics != NULL)
    rc = run_metrics(&cfg, metrics);
  else
    rc = child ? run_worker(&cfg) : master_run(&cfg, argv);
out:
  log_close();
  config_free(&cfg);
  return rc;
}

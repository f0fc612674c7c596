#include "metrics_server.h"

#include <string.h>
#include <unistd.h>

#include "app_load.h"
#include "apps/apps.h"
#include "app_load.h"
#include "apps/apps.h"
#include "log.h"
#include "metrics.h"
#include "metrics_shm.h"
#include "worker.h"

static int read_snapshot(void *ctx, struct metrics_snapshot *out) {
  return metrics_shm_read(ctx, out);
}

int metrics_server_run(const struct config *cfg, const struct metrics_setup *setup) {
  const struct metrics_shm *shm;
  int rc = metrics_shm_map(&shm, setup->shm_fd);
  close(setup->shm_fd); /* the mapping stays */
  if (rc < 0) {
    log_error("metrics: cannot map the master's counters: %s", strerror(-rc));
    return WORKER_BOOT_FAILED;
  }
  struct metrics_source src = {read_snapshot, (void *)shm};
  struct worker_setup ws = {
      .first_fd = setup->listen_fd, .nlisteners = 1, .heartbeat_fd = -1};
  struct app app;
  app_use(&app, &metrics_app, &src, cfg->tmp_dir);
  struct worker_role role = {.name = "metrics process", .app = &app};
  rc = worker_run(cfg, &ws, &role);
  metrics_shm_unmap(shm);
  return rc;
}

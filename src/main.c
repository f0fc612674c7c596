/* unixcorn: an HTTP/1.1 application server for running behind nginx on a Unix
 * socket. main() only parses the command line and sets up logging; the server
 * lives in server.c. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "log.h"
#include "server.h"
#include "spool.h"

int main(int argc, char **argv) {
  struct config cfg;
  char err[CONFIG_ERR_MAX];
  config_defaults(&cfg);
  switch (config_parse(&cfg, argc, argv, err, sizeof err)) {
  case CONFIG_HELP: config_usage(stdout); return 0;
  case CONFIG_VERSION: printf("unixcorn %s\n", UNIXCORN_VERSION); return 0;
  case CONFIG_ERROR: fprintf(stderr, "unixcorn: %s\n", err); return 2;
  case CONFIG_OK: break;
  }
  const char *failed = NULL;
  int rc = log_open(cfg.error_logfile, cfg.access_logfile, cfg.log_level, &failed);
  if (rc < 0) {
    fprintf(stderr, "unixcorn: cannot open log file %s: %s\n", failed, strerror(-rc));
    return 1;
  }
  rc = spool_check_dir(cfg.tmp_dir);
  if (rc < 0) {
    log_error("--tmp-dir %s: cannot create temporary files there: %s", cfg.tmp_dir,
              strerror(-rc));
    log_close();
    return 1;
  }
  signal(SIGPIPE, SIG_IGN); /* a vanished client is an EPIPE, not a crash */
  rc = server_run(&cfg);
  log_close();
  return rc;
}

/* Which application a worker serves (APP: a built-in name, or a shared object
 * as PATH or PATH:SYMBOL), its init and its fini. */
#ifndef UNIXCORN_APP_LOAD_H
#define UNIXCORN_APP_LOAD_H

#include <stdbool.h>
#include <stddef.h>

#include "app.h"
#include "config.h"

/* Finds cfg->app and checks its descriptor. Returns 0, or -1 with one line in
 * err. */
int app_load(struct app *a, const struct config *cfg, char *err, size_t errlen);
/* Calls its init with --app-arg. Returns 0, or -1 with one line in err. */
int app_init(struct app *a, const struct config *cfg, char *err, size_t errlen);
/* fini if init ran, then unloads a shared object. */
void app_unload(struct app *a);
/* A built-in application with its data set by the server (no init). */
void app_use(struct app *a, const struct unixcorn_app *desc, void *data,
             const char *tmp_dir);
/* In the master, before anything binds: loads the application and, with
 * with_init, runs its init and fini in a short-lived child process (so what
 * init opens never lives in the master). A bad APP thus stops the start with
 * one line. Returns 0, or -1 with err. */
int app_check(const struct config *cfg, bool with_init, char *err, size_t errlen);

#endif

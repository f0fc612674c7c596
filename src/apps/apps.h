/* The applications built into unixcorn, each a struct unixcorn_app like any
 * other: `unixcorn echo`, `unixcorn inspect`, and the metrics endpoint that
 * the metrics process serves. */
#ifndef UNIXCORN_APPS_H
#define UNIXCORN_APPS_H

#include <unixcorn/app.h>

extern const struct unixcorn_app echo_app;
extern const struct unixcorn_app echo_stream_app; /* echo with --echo-stream */
extern const struct unixcorn_app inspect_app;     /* a JSON document of each request */
extern const struct unixcorn_app metrics_app;     /* app data: a metrics_source */

#endif

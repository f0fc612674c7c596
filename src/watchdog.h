/* A worker's last words: when its master finds it stalled (no heartbeat for
 * --timeout), it sends SIGABRT. The handler runs on the stalled thread, so it
 * can log the requests in flight and a backtrace of where the loop is stuck. */
#ifndef UNIXCORN_WATCHDOG_H
#define UNIXCORN_WATCHDOG_H

struct worker;

void watchdog_install(struct worker *wk);

#endif

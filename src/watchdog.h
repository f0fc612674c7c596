/* A worker's last words. When its master finds it stalled (no heartbeat, or a
 * request held by a blocking application, for --timeout), it sends SIGABRT;
 * when the application crashes (SIGSEGV, SIGBUS, SIGFPE, SIGILL, abort), the
 * signal comes from the fault. Either way the handler runs on the thread that
 * was stuck or crashed, logs the requests in flight, the one it was running
 * first, and a backtrace, and the process dies: the master starts another. */
#ifndef UNIXCORN_WATCHDOG_H
#define UNIXCORN_WATCHDOG_H

struct worker;
struct exchange;

void watchdog_install(struct worker *wk);
/* The calling thread runs application code for x (NULL: no more). */
void watchdog_enter_app(const struct exchange *x);

#endif

#include "watchdog.h"

#include <execinfo.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "client.h"
#include "exchange.h"
#include "log.h"
#include "worker.h"

static struct worker *watched;

static void say(int fd, const char *s, size_t n) {
  while (n > 0) {
    ssize_t w = write(fd, s, n);
    if (w <= 0)
      return;
    s += w;
    n -= (size_t)w;
  }
}

static void dump_request(int fd, const struct conn *c) {
  const struct request *r = &c->x->req;
  char line[600], from[PEER_TEXT_MAX];
  int n =
      snprintf(line, sizeof line, "  in flight: %.*s %.*s (from %s)\n",
               (int)r->method.len, r->method.len ? request_str(r, r->method) : "",
               (int)(r->target.len < 512 ? r->target.len : 512),
               r->target.len ? request_str(r, r->target) : "", peer_text(&c->peer, from));
  if (n > 0)
    say(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* Not async-signal-safe in the strict sense (snprintf, backtrace): the process
 * is about to die anyway, and what it says is worth the risk. */
static void on_abort(int sig) {
  int fd = log_error_fd();
  char head[160];
  int n =
      snprintf(head, sizeof head,
               "[%ld] [CRITICAL] Worker timed out (SIGABRT from the master); its loop "
               "was stuck here:\n",
               (long)getpid());
  say(fd, head, (size_t)n);
  for (struct client *cl = watched ? watched->conns.clients : NULL; cl != NULL;
       cl = cl->next)
    if (conn_busy(&cl->conn) && cl->conn.x != NULL)
      dump_request(fd, &cl->conn);
  void *frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), fd);
  signal(sig, SIG_DFL);
  raise(sig);
}

void watchdog_install(struct worker *wk) {
  void *frame;
  watched = wk;
  backtrace(&frame, 1); /* loads libgcc now, not inside the handler */
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_abort;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGABRT, &sa, NULL);
}

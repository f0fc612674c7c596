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

/* One line a request, with its ID, to find it in the access log and the
 * proxy's (the ID is assigned once the head is in: "-" before). */
static void dump_request(int fd, const char *label, const struct exchange *x) {
  const struct request *r = &x->req;
  char line[1024], from[PEER_TEXT_MAX];
  int n = snprintf(line, sizeof line, "  %s: %.*s %.*s (from %s) request_id=%s\n", label,
                   (int)(r->method.len < 64 ? r->method.len : 64),
                   r->method.len ? request_str(r, r->method) : "",
                   (int)(r->target.len < 512 ? r->target.len : 512),
                   r->target.len ? request_str(r, r->target) : "",
                   peer_text(&x->peer, from), x->id.len ? x->id.text : "-");
  if (n > 0)
    say(fd, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
}

/* The request the current thread runs application code for, if any. */
static _Thread_local const struct exchange *current;

void watchdog_enter_app(const struct exchange *x) {
  current = x;
}

static const char *why(int sig, const siginfo_t *info) {
  if (sig == SIGABRT && info->si_code == SI_USER && info->si_pid == getppid())
    return "timed out (SIGABRT from the master)";
  switch (sig) {
  case SIGSEGV: return "crashed (SIGSEGV)";
  case SIGBUS: return "crashed (SIGBUS)";
  case SIGFPE: return "crashed (SIGFPE)";
  case SIGILL: return "crashed (SIGILL)";
  default: return "crashed (SIGABRT)";
  }
}

/* Not async-signal-safe in the strict sense (snprintf, backtrace): the process
 * is about to die anyway, and what it says is worth the risk. It runs on the
 * thread that was stuck or crashed: the backtrace shows where. */
static void last_words(int sig, siginfo_t *info, void *ucontext) {
  (void)ucontext;
  int fd = log_error_fd();
  char head[200];
  int n = snprintf(head, sizeof head, "[%ld] [CRITICAL] Worker %s; it was here:\n",
                   (long)getpid(), why(sig, info));
  say(fd, head, (size_t)n);
  if (current != NULL)
    dump_request(fd, "in the application, on this thread", current);
  for (struct client *cl = watched ? watched->conns.clients : NULL; cl != NULL;
       cl = cl->next) {
    const struct exchange *x = cl->conn.x;
    if (conn_busy(&cl->conn) && x != NULL && x != current)
      dump_request(
          fd, x->on_thread ? "in the application, on a pool thread" : "in flight", x);
  }
  void *frames[64];
  backtrace_symbols_fd(frames, backtrace(frames, 64), fd);
  signal(sig, SIG_DFL);
  raise(sig);
}

void watchdog_install(struct worker *wk) {
  static const int fatal[] = {SIGABRT, SIGSEGV, SIGBUS, SIGFPE, SIGILL};
  static char alt_stack[64 * 1024]; /* a stack overflow leaves none to run on */
  void *frame;
  watched = wk;
  backtrace(&frame, 1); /* loads libgcc now, not inside the handler */
  stack_t ss = {.ss_sp = alt_stack, .ss_size = sizeof alt_stack};
  sigaltstack(&ss, NULL);
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_sigaction = last_words;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESETHAND;
  sigemptyset(&sa.sa_mask);
  for (size_t i = 0; i < sizeof fatal / sizeof fatal[0]; i++)
    sigaction(fatal[i], &sa, NULL);
}

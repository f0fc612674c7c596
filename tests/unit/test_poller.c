/* The worker's epoll set: a socket leaves it when closed, even once the
 * process has forked and a child still holds a copy of the socket. */
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "poller.h"

static int calls;

static void on_ready(struct poller_entry *e, int status, int events) {
  (void)e, (void)status, (void)events;
  calls++;
}

static void on_batch_done(struct poller *p) {
  (void)p;
}

/* Turns the loop until the set has had a chance to report. */
static void turn(struct poller *p) {
  for (int i = 0; i < 5; i++)
    poller_turn(p, 10);
}

static void test_closed_socket_reports_nothing_after_a_fork(void) {
  uv_loop_t loop;
  struct poller p;
  struct poller_entry e = {0};
  int sv[2];
  CHECK(uv_loop_init(&loop) == 0);
  CHECK(poller_init(&p, &loop, on_ready, on_batch_done) == 0);
  CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, sv) == 0);
  CHECK(poller_set(&p, &e, sv[0], UV_READABLE) == 0);
  CHECK(write(sv[1], "x", 1) == 1);
  turn(&p);
  CHECK(calls > 0); /* watched: reported */

  pid_t child = fork(); /* as an application's system() would */
  if (child == 0) {
    pause();
    _exit(0);
  }
  poller_forget(&p, &e, sv[0]);
  close(sv[0]);
  calls = 0;
  CHECK(write(sv[1], "y", 1) == 1);
  turn(&p);
  CHECK(calls == 0); /* the child's copy must not keep it in the set */

  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
  close(sv[1]);
  poller_close(&p);
  uv_run(&loop, UV_RUN_NOWAIT);
  CHECK(uv_loop_close(&loop) == 0);
}

int main(void) {
  RUN(test_closed_socket_reports_nothing_after_a_fork);
  return CHECK_DONE();
}

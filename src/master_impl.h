/* The master's state, shared by master.c, master_spawn.c and master_metrics.c. */
#ifndef UNIXCORN_MASTER_IMPL_H
#define UNIXCORN_MASTER_IMPL_H

#include <limits.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "config.h"
#include "heartbeat.h"
#include "listener.h"
#include "metrics.h"
#include "metrics_shm.h"

/* Children run this very binary, even once a new one replaced it on disk. */
#define SELF_EXE "/proc/self/exe"

struct master;

struct child {
  uv_process_t proc;
  uv_poll_t beat;
  struct master *m;
  struct child *next;
  int beat_fd;
  int open_handles;
  unsigned generation;
  bool booted, retiring, exited;
  bool beat_open; /* beat is a live handle */
  uint64_t spawned_ms, last_beat_ms, abort_sent_ms;
  struct worker_report report;
};

/* --metrics-bind: the socket the master binds, the counters it shares, and the
 * process that serves them (master_metrics.c). The master itself never runs
 * the connection code: a bad request can take down only that process. */
enum metrics_proc_state { METRICS_DOWN, METRICS_RUNNING, METRICS_CLOSING };

struct master_metrics {
  bool on;
  struct listener sock;
  struct metrics_shm *shm;
  int shm_fd;
  struct metrics_snapshot snap; /* as last published; queues refreshed on ticks */
  uv_process_t proc;
  enum metrics_proc_state state;
  uint64_t spawned_ms, not_before_ms, backoff_ms;
};

struct master {
  uv_loop_t loop;
  const struct config *cfg;
  char **argv;
  struct listener listeners[CONFIG_MAX_BINDS];
  size_t nlisteners;
  struct child *workers;
  uint64_t target; /* workers wanted */
  unsigned generation;
  uv_signal_t signals[9];
  uv_timer_t tick;
  bool stopping, quick, finished, ready_sent, reloading;
  uint64_t stop_deadline_ms;
  unsigned boot_failures;
  int exit_code;
  uv_process_t upgrade;
  bool upgrade_running;
  bool upgraded;                /* started by an old master's USR2 */
  pid_t old_master;             /* ...which is this process */
  uint64_t spawn_not_before_ms; /* backoff after workers crash young */
  const char *pid_file;
  char pid_file_old[PATH_MAX];
  struct worker_report retired; /* counters of workers gone */
  uint64_t restarts[RESTART_REASONS];
  struct master_metrics metrics;
  char **child_env; /* environ without our variables, room left at the end */
  size_t child_nenv;
};

void master_add_counters(struct worker_report *sum, const struct worker_report *r);
/* Runs once the last child is gone, if the master is stopping. */
void master_maybe_finish(struct master *m);

/* ---- master_spawn.c ---- */

#define SPAWN_ENV_MAX 3
#define SPAWN_FDS_MAX (CONFIG_MAX_BINDS + 1)

/* A child: file runs with the master's argv, its environment plus env, and
 * fds as descriptors HANDOFF_FIRST_FD onwards (stdin ignored, stdout and
 * stderr shared). */
struct spawn {
  uv_exit_cb exit_cb;
  const char *file;
  const char *env[SPAWN_ENV_MAX];
  size_t nenv;
  int fds[SPAWN_FDS_MAX];
  size_t nfds;
};

/* Takes the environment children get; call before any spawn. Returns 0 or
 * -ENOMEM. */
int master_spawn_init(struct master *m);
void master_spawn_free(struct master *m);
/* Returns 0 or a libuv error, after which proc must still be closed. */
int master_spawn(struct master *m, uv_process_t *proc, const struct spawn *s);

/* ---- master_metrics.c: --metrics-bind ---- */

/* Binds the socket (or takes it over from an old master) and creates the
 * shared counters. Returns 0 (also when not asked for) or -1. */
int master_open_metrics(struct master *m);
/* The socket, on a stop: new scrapes are refused. keep_file: another master
 * still serves on it (USR2). */
void master_close_metrics_socket(struct master *m, bool keep_file);
/* The shared counters, at exit. */
void master_close_metrics(struct master *m);
/* Hands the socket to a new master (USR2): its descriptor and the variable,
 * written into var. */
void master_hand_over_metrics(struct master *m, struct spawn *s, char *var, size_t len);
/* Publishes the counters; queues: read the listen queues again as well. */
void master_publish_metrics(struct master *m, bool queues);
/* Every tick: publish, start the metrics process if it is due, and kill it
 * once a stop has lasted past its deadline. */
void master_tick_metrics(struct master *m);
void master_signal_metrics(struct master *m, int sig);
/* Is there a metrics process (or its handle) to wait for? */
bool master_metrics_running(const struct master *m);

#endif

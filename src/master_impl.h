/* The master's state, shared by master.c and the master_*.c files. */
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
  bool beat_open;      /* beat is a live handle */
  bool replacing;      /* due for recycling: no longer counted; TERM once replaced */
  unsigned over_beats; /* heartbeats in a row over --max-worker-memory */
  uint64_t spawned_ms, last_beat_ms, abort_sent_ms;
  uint64_t lifetime_ms; /* --max-worker-lifetime with its jitter; 0: none */
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
  const struct config *cfg; /* the caller's, or cfg_owned after a reload */
  struct config *cfg_owned;
  char **argv; /* as started: for an upgrade (USR2) and for a reload */
  int argc;
  char **child_argv; /* the configuration, for workers and the metrics process */
  struct listener listeners[CONFIG_MAX_BINDS];
  size_t nlisteners;
  struct child *workers;
  uint64_t target; /* workers wanted */
  unsigned generation;
  uv_signal_t signals[9];
  uv_timer_t tick;
  bool stopping, quick, finished, ready_sent, reloading;
  bool draining;          /* TERM came; stopping follows after --shutdown-delay */
  uv_timer_t drain_timer; /* master_drain.c */
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
/* Brings the workers to the target: starts, replaces, retires. */
void master_maintain(struct master *m);
/* Is w one of the workers the target counts (not retiring, not replaced)? */
bool master_serving(const struct master *m, const struct child *w);
/* Runs once the last child is gone, if the master is stopping. */
void master_maybe_finish(struct master *m);
/* Stops the workers: gracefully (TERM, up to --graceful-timeout), or quick. */
void master_begin_stop(struct master *m, bool quick, const char *why);
/* Is another master (USR2) serving on our sockets? Then a stop leaves their
 * files, and needs no --shutdown-delay. */
bool master_partner_alive(struct master *m);

/* ---- master_spawn.c ---- */

#define SPAWN_ENV_MAX 4
#define SPAWN_FDS_MAX (CONFIG_MAX_BINDS + 1)

/* A child: file runs with args (NULL: the master's child_argv), its
 * environment plus env, and fds as descriptors HANDOFF_FIRST_FD onwards (stdin
 * ignored, stdout and stderr shared). */
struct spawn {
  uv_exit_cb exit_cb;
  const char *file;
  char **args;
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
/* Adds the listening sockets to s's descriptors, in the master's order. */
void master_spawn_add_listeners(const struct master *m, struct spawn *s);
/* "NAME=value" as the master's own environment has it, or NULL: for one of
 * our variables that children do not get, but a new master (USR2) must. */
const char *master_spawn_own_var(const char *name);

/* ---- master_handoff.c: sockets at start-up, USR2, the pid file ---- */

/* The listening sockets: from an old master (USR2) or from systemd
 * (LISTEN_FDS), else bound from --bind. Returns 0, or -1 once logged. */
int master_open_listeners(struct master *m);
/* USR2: starts a new master on this binary, which inherits the sockets. */
void master_upgrade(struct master *m);
/* --pid: written at start-up. Returns 0 (also without --pid), or -1 once
 * logged. */
int master_write_pid_file(const struct master *m);
void master_remove_pid_file(const struct master *m);

/* ---- master_config.c: the configuration, --workers auto, HUP ---- */

/* The command line children get. Returns 0 or -ENOMEM. */
int master_config_init(struct master *m);
void master_config_free(struct master *m);
/* --workers, with auto counted (and logged) now. */
uint64_t master_workers_wanted(const struct config *cfg);
/* HUP: reads the configuration again. On an error it logs it and keeps the
 * settings it has; settings that cannot change until a restart are logged
 * and kept. Returns -1 when the APP it names cannot be loaded: the HUP is
 * then ignored, and the running workers go on with the code they have. */
int master_reload_config(struct master *m);

/* ---- master_recycle.c: --max-worker-memory, --max-worker-lifetime ---- */

void master_recycle_spawned(struct master *m, struct child *w);
/* After each heartbeat of w. */
void master_recycle_beat(struct master *m, struct child *w);
void master_recycle_tick(struct master *m, uint64_t now);
/* Why a worker that the master neither stopped nor replaced is gone. */
enum restart_reason master_restart_reason(const struct child *w, int64_t status,
                                          int term_signal);

/* ---- master_drain.c: --shutdown-delay ---- */

void master_drain_init(struct master *m);
/* TERM: true when it starts the delay (the stop comes when it ends); false
 * when the stop is to begin now (no delay, or a second TERM). */
bool master_drain_on_term(struct master *m);
/* The stop began: the delay, if any, is over. */
void master_drain_end(struct master *m);
void master_drain_close(struct master *m);

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

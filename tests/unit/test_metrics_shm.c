/* The counters the master shares with the metrics process: what is published
 * is what is read, never torn while a writer in another process publishes,
 * never waited for forever, and never writable from the reader's side. */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "metrics_shm.h"

/* A snapshot whose every counter is k: a torn one mixes two values. */
static void fill(struct metrics_snapshot *s, uint64_t k) {
  memset(s, 0, sizeof *s);
  for (size_t i = 0; i < STATUS_CLASSES; i++)
    s->total.responses[i] = k;
  s->total.bytes_in = s->total.bytes_out = s->total.in_flight = k;
  s->total.connections = k;
  s->busy_workers = s->idle_workers = (unsigned)k;
  for (size_t i = 0; i < RESTART_REASONS; i++)
    s->restarts[i] = k;
  s->nqueues = k % (CONFIG_MAX_BINDS + 1);
  for (size_t i = 0; i < s->nqueues; i++) {
    snprintf(s->queues[i].name, sizeof s->queues[i].name, "unix:/q%llu",
             (unsigned long long)k);
    s->queues[i].depth = s->queues[i].max = (uint32_t)k;
  }
}

static bool consistent(const struct metrics_snapshot *s) {
  struct metrics_snapshot want;
  fill(&want, s->total.bytes_in);
  return memcmp(&want, s, sizeof want) == 0;
}

struct pair {
  struct metrics_shm *w;
  const struct metrics_shm *r;
  int fd;
};

static void open_pair(struct pair *p) {
  CHECK(metrics_shm_create(&p->w, &p->fd) == 0);
  CHECK(metrics_shm_map(&p->r, p->fd) == 0);
}

static void close_pair(struct pair *p) {
  metrics_shm_unmap(p->r);
  metrics_shm_unmap(p->w);
  close(p->fd);
}

static void test_nothing_before_the_first_snapshot(void) {
  struct pair p;
  struct metrics_snapshot s;
  open_pair(&p);
  CHECK(metrics_shm_read(p.r, &s) == -EAGAIN);
  close_pair(&p);
}

static void test_read_what_was_published(void) {
  struct pair p;
  struct metrics_snapshot in, out;
  open_pair(&p);
  for (uint64_t k = 1; k <= 40; k++) {
    fill(&in, k);
    metrics_shm_publish(p.w, &in);
    CHECK(metrics_shm_read(p.r, &out) == 0);
    CHECK(memcmp(&in, &out, sizeof in) == 0);
  }
  close_pair(&p);
}

static void test_bad_queue_count_is_refused(void) {
  struct pair p;
  struct metrics_snapshot s;
  open_pair(&p);
  fill(&s, 1);
  s.nqueues = CONFIG_MAX_BINDS + 1;
  metrics_shm_publish(p.w, &s);
  CHECK(metrics_shm_read(p.r, &s) == -EIO);
  close_pair(&p);
}

/* A writer that stopped half-way (its sequence number odd, the first word of
 * the mapping) makes the reader give up, not spin. */
static void test_a_write_left_half_done_is_not_waited_for(void) {
  struct pair p;
  struct metrics_snapshot s;
  open_pair(&p);
  fill(&s, 3);
  metrics_shm_publish(p.w, &s);
  *(volatile uint64_t *)(void *)p.w += 1;
  CHECK(metrics_shm_read(p.r, &s) == -EAGAIN);
  close_pair(&p);
}

static void test_the_reader_cannot_write(void) {
  struct pair p;
  open_pair(&p);
  void *rw = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, p.fd, 0);
  CHECK(rw == MAP_FAILED && errno == EPERM);
  CHECK(ftruncate(p.fd, 0) < 0);
  CHECK(write(p.fd, "x", 1) < 0);
  close_pair(&p);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* The master in one process publishing as fast as it can, the metrics process
 * in this one reading: every snapshot read is one that was written. */
static void test_never_torn_across_processes(void) {
  struct pair p;
  struct metrics_snapshot s;
  open_pair(&p);
  fill(&s, 1);
  metrics_shm_publish(p.w, &s);
  pid_t writer = fork();
  if (writer == 0) {
    for (uint64_t k = 2;; k++) {
      fill(&s, k);
      metrics_shm_publish(p.w, &s);
    }
  }
  CHECK(writer > 0);
  uint64_t reads = 0, torn = 0, last = 0, changes = 0;
  for (double end = now_s() + 0.5; now_s() < end;) {
    if (metrics_shm_read(p.r, &s) != 0)
      continue;
    reads++;
    torn += !consistent(&s);
    changes += s.total.bytes_in != last;
    last = s.total.bytes_in;
  }
  kill(writer, SIGKILL);
  waitpid(writer, NULL, 0);
  printf("     %llu reads, %llu snapshots seen\n", (unsigned long long)reads,
         (unsigned long long)changes);
  CHECK(reads > 1000);
  CHECK(changes > 10);
  CHECK(torn == 0);
  close_pair(&p);
}

int main(void) {
  RUN(test_nothing_before_the_first_snapshot);
  RUN(test_read_what_was_published);
  RUN(test_bad_queue_count_is_refused);
  RUN(test_a_write_left_half_done_is_not_waited_for);
  RUN(test_the_reader_cannot_write);
  RUN(test_never_torn_across_processes);
  return CHECK_DONE();
}

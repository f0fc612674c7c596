#include "metrics_shm.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* A reader that finds a write under way tries again this often, yielding in
 * between, before it gives up: a write is a copy of a few KiB, so only a
 * writer that stopped half-way (killed, or SIGSTOPped) lasts that long. */
#define READ_TRIES 100

/* The snapshot travels as 64-bit words, each stored and loaded atomically:
 * the seqlock's data accesses race by design, and C11 defines that race only
 * for atomic objects. Relaxed order is enough for them; the fences around the
 * sequence number order them (Boehm, "Can seqlocks get along with programming
 * language memory models?", 2012). */
#define WORDS ((sizeof(struct metrics_snapshot) + 7) / 8)

/* Atomics shared between processes must not be emulated with a lock, which
 * would live in each process's own memory. */
_Static_assert(ATOMIC_LLONG_LOCK_FREE == 2, "64-bit atomics must be lock-free");

struct metrics_shm {
  /* Odd while the master writes; 0 until its first snapshot. */
  _Atomic uint64_t seq;
  _Atomic uint64_t words[WORDS];
};

int metrics_shm_create(struct metrics_shm **shm, int *fd) {
  int err = 0;
  *fd = memfd_create("unixcorn-metrics", MFD_CLOEXEC | MFD_ALLOW_SEALING);
  if (*fd < 0)
    return -errno;
  void *p = MAP_FAILED;
  if (ftruncate(*fd, sizeof **shm) < 0 ||
      (p = mmap(NULL, sizeof **shm, PROT_READ | PROT_WRITE, MAP_SHARED, *fd, 0)) ==
          MAP_FAILED) {
    err = -errno;
    goto out;
  }
  /* A fixed size means no mapping can ever reach past the end of the file
   * (SIGBUS). FUTURE_WRITE (Linux 5.1) keeps this mapping writable but refuses
   * any new writable one, even through /proc/PID/fd: the metrics process can
   * only read. */
  if (fcntl(*fd, F_ADD_SEALS,
            F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_FUTURE_WRITE | F_SEAL_SEAL) < 0 &&
      fcntl(*fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
    err = -errno;
    goto out;
  }
  *shm = p;
out:
  if (err < 0) {
    if (p != MAP_FAILED)
      munmap(p, sizeof **shm);
    close(*fd);
    *fd = -1;
  }
  return err;
}

void metrics_shm_publish(struct metrics_shm *shm, const struct metrics_snapshot *s) {
  uint64_t words[WORDS] = {0};
  memcpy(words, s, sizeof *s);
  uint64_t seq = atomic_load_explicit(&shm->seq, memory_order_relaxed);
  atomic_store_explicit(&shm->seq, seq + 1, memory_order_relaxed);
  /* A reader that sees any word below also sees the odd number above. */
  atomic_thread_fence(memory_order_release);
  for (size_t i = 0; i < WORDS; i++)
    atomic_store_explicit(&shm->words[i], words[i], memory_order_relaxed);
  atomic_store_explicit(&shm->seq, seq + 2, memory_order_release);
}

int metrics_shm_map(const struct metrics_shm **shm, int fd) {
  struct stat st;
  if (fstat(fd, &st) < 0)
    return -errno;
  /* The same binary on both sides, so a size mismatch is not ours. */
  if ((size_t)st.st_size != sizeof **shm)
    return -EINVAL;
  void *p = mmap(NULL, sizeof **shm, PROT_READ, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED)
    return -errno;
  *shm = p;
  return 0;
}

/* The master is trusted, but what indexes or ends a string is checked all the
 * same: a bad snapshot must not make the reader overrun. */
static int check(struct metrics_snapshot *s) {
  if (s->nqueues > CONFIG_MAX_BINDS)
    return -EIO;
  for (size_t i = 0; i < s->nqueues; i++)
    s->queues[i].name[sizeof s->queues[i].name - 1] = '\0';
  return 0;
}

/* One attempt: 0 if no write overlapped it. */
static int try_read(const struct metrics_shm *shm, uint64_t *words) {
  uint64_t seq = atomic_load_explicit(&shm->seq, memory_order_acquire);
  if (seq == 0 || seq % 2 == 1)
    return -EAGAIN;
  for (size_t i = 0; i < WORDS; i++)
    words[i] = atomic_load_explicit(&shm->words[i], memory_order_relaxed);
  /* The words are read before the number is read again. */
  atomic_thread_fence(memory_order_acquire);
  return atomic_load_explicit(&shm->seq, memory_order_relaxed) == seq ? 0 : -EAGAIN;
}

int metrics_shm_read(const struct metrics_shm *shm, struct metrics_snapshot *out) {
  uint64_t words[WORDS];
  for (int i = 0; i < READ_TRIES; i++) {
    if (try_read(shm, words) == 0) {
      memcpy(out, words, sizeof *out);
      return check(out);
    }
    if (atomic_load_explicit(&shm->seq, memory_order_relaxed) == 0)
      return -EAGAIN; /* nothing published yet: no use waiting */
    sched_yield();
  }
  return -EAGAIN;
}

void metrics_shm_unmap(const struct metrics_shm *shm) {
  munmap((void *)shm, sizeof *shm);
}

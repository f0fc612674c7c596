/* The counters the master shares with its metrics process: one struct
 * metrics_snapshot in a memfd, which the master maps read-write and publishes
 * to under a seqlock, and the metrics process maps read-only. The reader never
 * blocks the writer, and a snapshot it gets is never torn. */
#ifndef UNIXCORN_METRICS_SHM_H
#define UNIXCORN_METRICS_SHM_H

#include "metrics.h"

struct metrics_shm;

/* The master's side. *fd is what a reader maps: the memfd, sealed so that
 * its size never changes and no one else can map it writable. Both return 0
 * or -errno. */
int metrics_shm_create(struct metrics_shm **shm, int *fd);
void metrics_shm_publish(struct metrics_shm *shm, const struct metrics_snapshot *s);

/* The metrics process's side: maps fd read-only (and leaves fd open). */
int metrics_shm_map(const struct metrics_shm **shm, int fd);
/* The last snapshot published: 0, or -EAGAIN when none is yet, or when the
 * writer stays in the middle of one (it died there, or is stopped). */
int metrics_shm_read(const struct metrics_shm *shm, struct metrics_snapshot *out);

void metrics_shm_unmap(const struct metrics_shm *shm);

#endif

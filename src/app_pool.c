#include "app_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bufpool.h"
#include "conn.h"
#include "exchange.h"
#include "watchdog.h"

/* One thread of the pool. It waits on cond for the hand-overs of its request
 * that it waits for (app_pool_hand_over). */
struct pool_thread {
  struct app_pool *pool;
  pthread_t id;
  pthread_cond_t cond;
  struct exchange *x;  /* the request it runs, or NULL */
  uint64_t started_ms; /* when it took x */
};

/* The exchanges' fields for the pool (exchange.h) are under lock. A request
 * is posted, once at a time, when its thread hands a call over or returns;
 * the loop takes the posts one by one. */
struct app_pool {
  const struct app *app;
  uv_loop_t *loop;
  uv_async_t wake; /* threads to the loop: something is posted */
  pthread_mutex_t lock;
  pthread_cond_t work;                 /* a request is queued, or the pool stops */
  pthread_cond_t posted_cond;          /* something is posted, while the pool stops */
  struct exchange *queue, *queue_tail; /* complete requests waiting for a thread */
  struct exchange *posted;             /* requests with something for the loop */
  bool stopping;
  size_t nthreads;
  struct pool_thread threads[];
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Under the lock: x goes on the loop's list, unless it is there already.
 * Returns whether the loop must be woken for it. */
static bool post(struct app_pool *p, struct exchange *x) {
  if (x->posted)
    return false;
  x->posted = true;
  x->pool_next = p->posted;
  p->posted = x;
  if (p->stopping) /* no loop: app_pool_destroy takes it */
    pthread_cond_signal(&p->posted_cond);
  return !p->stopping;
}

/* ---- on a pool thread ---- */

/* Under the lock: the next request, once there is one; NULL once the pool
 * stops. */
static struct exchange *next_request(struct pool_thread *t) {
  struct app_pool *p = t->pool;
  while (p->queue == NULL && !p->stopping)
    pthread_cond_wait(&p->work, &p->lock);
  struct exchange *x = p->queue;
  if (x != NULL) {
    p->queue = x->pool_next;
    if (p->queue == NULL)
      p->queue_tail = NULL;
    x->thread = t;
    t->x = x;
    t->started_ms = now_ms();
  }
  return x;
}

/* The lock is held but around on_request: a thread that returns takes the
 * next request in the same turn. Once returned, x is the loop's, and the
 * thread goes on without waiting for the loop to take it back. */
static void *run_thread(void *arg) {
  struct pool_thread *t = arg;
  struct app_pool *p = t->pool;
  struct exchange *x;
  pthread_mutex_lock(&p->lock);
  while ((x = next_request(t)) != NULL) {
    pthread_mutex_unlock(&p->lock);
    watchdog_enter_app(x);
    int rc = p->app->desc->on_request((unixcorn_request *)x);
    watchdog_enter_app(NULL);
    pthread_mutex_lock(&p->lock);
    x->returned = true;
    x->returned_rc = rc;
    t->x = NULL;
    if (post(p, x)) { /* a system call: not under the lock */
      pthread_mutex_unlock(&p->lock);
      uv_async_send(&p->wake);
      pthread_mutex_lock(&p->lock);
    }
  }
  pthread_mutex_unlock(&p->lock);
  bufpool_drain(); /* this thread's own free blocks (bufpool.c) */
  return NULL;
}

int app_pool_claim(struct exchange *x) {
  struct pool_thread *t = x->thread;
  if (t == NULL || !pthread_equal(pthread_self(), t->id)) {
    atomic_store(&x->thread_misuse, 1); /* the loop fails the request: it owns x */
    return UNIXCORN_ETHREAD;
  }
  if (x->stage.unwaited) {
    struct app_pool *p = t->pool;
    pthread_mutex_lock(&p->lock);
    while (x->handed != NULL)
      pthread_cond_wait(&t->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
    x->stage.unwaited = false;
  }
  return 0;
}

int app_pool_hand_over(struct exchange *x, struct app_call *call, bool wait) {
  struct pool_thread *t = x->thread;
  struct app_pool *p = t->pool;
  pthread_mutex_lock(&p->lock);
  if (p->stopping) { /* the loop is gone, and the connection with it */
    pthread_mutex_unlock(&p->lock);
    return UNIXCORN_ECLOSED;
  }
  x->handed = x->to_run = call;
  x->stage.unwaited = !wait;
  if (post(p, x)) {
    pthread_mutex_unlock(&p->lock);
    uv_async_send(&p->wake);
    if (!wait)
      return 0;
    pthread_mutex_lock(&p->lock);
  }
  while (wait && x->handed != NULL)
    pthread_cond_wait(&t->cond, &p->lock);
  pthread_mutex_unlock(&p->lock);
  return wait ? call->result : 0;
}

/* ---- on the event loop ---- */

static void answer(struct app_pool *p, struct exchange *x, int result) {
  pthread_mutex_lock(&p->lock);
  x->handed->result = result;
  x->handed = NULL;
  pthread_mutex_unlock(&p->lock);
  pthread_cond_signal(&x->thread->cond);
}

/* Runs a hand-over; one that finds the output full waits, with the thread,
 * until app_pool_writable. */
static void run_call(struct app_pool *p, struct exchange *x, struct app_call *call) {
  int rc = app_call_run(x, call);
  if (rc == UNIXCORN_EAGAIN) {
    x->app_waiting = true;
    return;
  }
  answer(p, x, rc);
}

/* The thread's on_request returned: the request is the loop's again, with
 * what the thread staged but did not end (the rules then fail it). */
static void take_back(struct app_pool *p, struct exchange *x, int rc) {
  if (x->conn != NULL && stage_pending(&x->stage))
    app_call_run(x, &x->stage.flush);
  stage_trim(&x->stage);
  x->on_thread = false;
  x->thread = NULL;
  app_outcome(x, rc);
  if (x->conn == NULL) { /* its client went away meanwhile */
    app_done(p->app, x);
    exchange_give_back(x);
  }
}

/* What a post brings the loop: a hand-over to run, a return. */
struct post {
  struct exchange *x;
  struct app_call *run;
  bool returned;
  int rc;
};

#define POSTS_AT_ONCE 64

/* Under the lock: up to POSTS_AT_ONCE posts. Posted again meanwhile, a
 * request waits for the next turn. */
static size_t take_posts(struct app_pool *p, struct post *out) {
  size_t n = 0;
  for (struct exchange *x; n < POSTS_AT_ONCE && (x = p->posted) != NULL; n++) {
    p->posted = x->pool_next;
    out[n] = (struct post){x, x->to_run, x->returned, x->returned_rc};
    x->posted = x->returned = false;
    x->to_run = NULL;
  }
  return n;
}

static void take_post(struct app_pool *p, const struct post *post) {
  struct exchange *x = post->x;
  struct conn *c = x->conn; /* x may be given back below */
  if (post->run != NULL)
    run_call(p, x, post->run);
  if (post->returned)
    take_back(p, x, post->rc);
  if (c == NULL)
    return;
  conn_app_progress(c);
  if (c->env->wake != NULL)
    c->env->wake(c);
}

static void on_wake(uv_async_t *h) {
  struct app_pool *p = h->data;
  struct post posts[POSTS_AT_ONCE];
  size_t n;
  do {
    pthread_mutex_lock(&p->lock);
    n = take_posts(p, posts);
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < n; i++)
      take_post(p, &posts[i]);
  } while (n == POSTS_AT_ONCE);
}

int app_pool_start(struct app_pool *p, struct exchange *x) {
  if (p == NULL)
    return -ENOSYS;
  x->on_thread = true;
  x->thread = NULL;
  x->handed = x->to_run = NULL;
  x->posted = x->returned = false;
  atomic_store(&x->thread_misuse, 0);
  atomic_store(&x->calls_closed, false);
  stage_reset(&x->stage);
  x->pool_next = NULL;
  pthread_mutex_lock(&p->lock);
  if (p->queue_tail)
    p->queue_tail->pool_next = x;
  else
    p->queue = x;
  p->queue_tail = x;
  pthread_mutex_unlock(&p->lock);
  pthread_cond_signal(&p->work);
  return 0;
}

/* The thread waits for x->handed meanwhile: the loop alone changes it. */
void app_pool_writable(struct app_pool *p, struct exchange *x) {
  if (x->handed != NULL)
    run_call(p, x, x->handed);
}

/* Without a connection, no room comes: the call runs again, and finds it
 * gone. A hand-over not yet taken finds it gone when it is. */
void app_pool_detached(struct app_pool *p, struct exchange *x) {
  if (x->app_waiting) {
    x->app_waiting = false;
    app_pool_writable(p, x);
  }
}

uint64_t app_pool_oldest_ms(struct app_pool *p) {
  uint64_t oldest = 0, now = now_ms();
  if (p == NULL)
    return 0;
  pthread_mutex_lock(&p->lock);
  for (size_t i = 0; i < p->nthreads; i++)
    if (p->threads[i].x != NULL && now - p->threads[i].started_ms > oldest)
      oldest = now - p->threads[i].started_ms;
  pthread_mutex_unlock(&p->lock);
  return oldest;
}

int app_pool_create(struct app_pool **out, uv_loop_t *loop, const struct app *app,
                    size_t nthreads) {
  struct app_pool *p = calloc(1, sizeof *p + nthreads * sizeof p->threads[0]);
  if (p == NULL)
    return -ENOMEM;
  p->app = app;
  p->loop = loop;
  pthread_mutex_init(&p->lock, NULL);
  pthread_cond_init(&p->work, NULL);
  pthread_cond_init(&p->posted_cond, NULL);
  int err = uv_async_init(loop, &p->wake, on_wake);
  if (err < 0) {
    free(p);
    return err;
  }
  p->wake.data = p;
  for (size_t i = 0; i < nthreads; i++) {
    struct pool_thread *t = &p->threads[i];
    t->pool = p;
    pthread_cond_init(&t->cond, NULL);
    if ((err = pthread_create(&t->id, NULL, run_thread, t)) != 0)
      break;
    p->nthreads++;
  }
  *out = p;
  return err == 0 ? 0 : -err;
}

void app_pool_close(struct app_pool *p) {
  if (p != NULL && !uv_is_closing((uv_handle_t *)&p->wake))
    uv_close((uv_handle_t *)&p->wake, NULL);
}

/* Under the lock, once the loop stopped: a hand-over waited for gets
 * UNIXCORN_ECLOSED, as its connection is gone. */
static void refuse(struct exchange *x) {
  if (x->handed == NULL)
    return;
  x->handed->result = UNIXCORN_ECLOSED;
  x->handed = x->to_run = NULL;
  pthread_cond_signal(&x->thread->cond);
}

/* Under the lock: refuses what the threads wait for, and says whether any
 * still runs a request. */
static bool refuse_all(struct app_pool *p) {
  bool busy = false;
  for (size_t i = 0; i < p->nthreads; i++) {
    if (p->threads[i].x != NULL) {
      refuse(p->threads[i].x);
      busy = true;
    }
  }
  return busy;
}

void app_pool_destroy(struct app_pool *p) {
  if (p == NULL)
    return;
  pthread_mutex_lock(&p->lock);
  p->stopping = true;
  pthread_cond_broadcast(&p->work);
  /* Requests still on threads belong to connections already closed: each
   * returns, and is taken back here, on what was the loop's thread. */
  for (;;) {
    bool busy = refuse_all(p);
    struct exchange *x = p->posted;
    if (x == NULL && !busy)
      break;
    if (x == NULL) {
      pthread_cond_wait(&p->posted_cond, &p->lock);
      continue;
    }
    p->posted = x->pool_next;
    x->posted = false;
    refuse(x);
    if (x->returned) {
      pthread_mutex_unlock(&p->lock);
      take_back(p, x, x->returned_rc);
      pthread_mutex_lock(&p->lock);
    }
  }
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < p->nthreads; i++)
    pthread_join(p->threads[i].id, NULL);
  for (size_t i = 0; i < p->nthreads; i++)
    pthread_cond_destroy(&p->threads[i].cond);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->posted_cond);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

#include "app_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conn.h"
#include "exchange.h"
#include "watchdog.h"

/* One thread of the pool. While it runs a request's on_request, the request's
 * response calls come here (call), and it waits on cond for the loop to run
 * them. */
struct pool_thread {
  struct app_pool *pool;
  pthread_t id;
  pthread_cond_t cond;
  struct exchange *x;    /* the request it runs, or NULL */
  struct app_call *call; /* the call it waits on, or NULL */
  bool call_done;
  int returned;        /* on_request's value, once it returned */
  uint64_t started_ms; /* when it took x */
  struct pool_thread *next_call, *next_finished;
};

struct app_pool {
  const struct app *app;
  uv_loop_t *loop;
  uv_async_t wake; /* threads to the loop: calls to run, requests finished */
  pthread_mutex_t lock;
  pthread_cond_t work;                 /* a request is queued, or the pool stops */
  pthread_cond_t returned;             /* a thread returned, while the pool stops */
  struct exchange *queue, *queue_tail; /* complete requests waiting for a thread */
  struct pool_thread *calls, *finished;
  bool stopping;
  size_t nthreads;
  struct pool_thread threads[];
};

static uint64_t now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* ---- on a pool thread ---- */

static struct exchange *next_request(struct pool_thread *t) {
  struct app_pool *p = t->pool;
  pthread_mutex_lock(&p->lock);
  while (p->queue == NULL && !p->stopping)
    pthread_cond_wait(&p->work, &p->lock);
  struct exchange *x = p->queue;
  if (x != NULL) {
    p->queue = x->pool_next;
    if (p->queue == NULL)
      p->queue_tail = NULL;
    t->x = x;
    t->started_ms = now_ms();
  }
  pthread_mutex_unlock(&p->lock);
  return x;
}

static void *run_thread(void *arg) {
  struct pool_thread *t = arg;
  struct app_pool *p = t->pool;
  struct exchange *x;
  while ((x = next_request(t)) != NULL) {
    x->thread = t;
    watchdog_enter_app(x);
    int rc = p->app->desc->on_request((unixcorn_request *)x);
    watchdog_enter_app(NULL);
    pthread_mutex_lock(&p->lock);
    t->returned = rc;
    t->next_finished = p->finished;
    p->finished = t;
    bool stopping = p->stopping; /* the loop is gone: app_pool_destroy waits */
    pthread_cond_signal(&p->returned);
    pthread_mutex_unlock(&p->lock);
    if (!stopping)
      uv_async_send(&p->wake);
    /* The loop clears t->x once it has taken the request back. */
    pthread_mutex_lock(&p->lock);
    while (t->x != NULL)
      pthread_cond_wait(&t->cond, &p->lock);
    pthread_mutex_unlock(&p->lock);
  }
  return NULL;
}

int app_pool_call(struct exchange *x, struct app_call *call) {
  struct pool_thread *t = x->thread;
  if (t == NULL || !pthread_equal(pthread_self(), t->id)) {
    x->thread_misuse = 1; /* the loop fails the request: it owns x */
    return UNIXCORN_ETHREAD;
  }
  struct app_pool *p = t->pool;
  pthread_mutex_lock(&p->lock);
  if (p->stopping) { /* the loop is gone, and the connection with it */
    pthread_mutex_unlock(&p->lock);
    return UNIXCORN_ECLOSED;
  }
  t->call = call;
  t->call_done = false;
  t->next_call = p->calls;
  p->calls = t;
  pthread_mutex_unlock(&p->lock);
  uv_async_send(&p->wake);
  pthread_mutex_lock(&p->lock);
  while (!t->call_done)
    pthread_cond_wait(&t->cond, &p->lock);
  pthread_mutex_unlock(&p->lock);
  return call->result;
}

/* ---- on the event loop ---- */

static void answer(struct pool_thread *t, int result) {
  struct app_pool *p = t->pool;
  pthread_mutex_lock(&p->lock);
  t->call->result = result;
  t->call = NULL;
  t->call_done = true;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&p->lock);
}

/* Runs a thread's call; a write that finds the output full waits, with the
 * thread, until app_pool_writable. */
static void run_call(struct pool_thread *t) {
  struct exchange *x = t->x;
  int rc = app_call_run(x, t->call);
  if (rc == UNIXCORN_EAGAIN) {
    x->app_waiting = true;
    return;
  }
  answer(t, rc);
}

/* The thread's on_request returned: the request is the loop's again. */
static void take_back(struct pool_thread *t) {
  struct app_pool *p = t->pool;
  struct exchange *x = t->x;
  x->on_thread = false;
  x->thread = NULL;
  app_outcome(x, t->returned);
  pthread_mutex_lock(&p->lock);
  t->x = NULL;
  pthread_cond_signal(&t->cond);
  pthread_mutex_unlock(&p->lock);
  if (x->conn == NULL) { /* its client went away meanwhile */
    app_done(p->app, x);
    exchange_give_back(x);
  }
}

static void progress(struct exchange *x) {
  struct conn *c = x->conn;
  if (c == NULL)
    return;
  conn_app_progress(c);
  if (c->env->wake != NULL)
    c->env->wake(c);
}

static void on_wake(uv_async_t *h) {
  struct app_pool *p = h->data;
  pthread_mutex_lock(&p->lock);
  struct pool_thread *calls = p->calls, *finished = p->finished;
  p->calls = p->finished = NULL;
  pthread_mutex_unlock(&p->lock);
  for (struct pool_thread *t = calls, *next; t != NULL; t = next) {
    next = t->next_call;
    run_call(t);
    progress(t->x);
  }
  for (struct pool_thread *t = finished, *next; t != NULL; t = next) {
    next = t->next_finished;
    struct exchange *x = t->x;
    take_back(t);
    progress(x);
  }
}

int app_pool_start(struct app_pool *p, struct exchange *x) {
  if (p == NULL)
    return -ENOSYS;
  x->on_thread = true;
  x->thread_misuse = 0;
  x->pool_next = NULL;
  pthread_mutex_lock(&p->lock);
  if (p->queue_tail)
    p->queue_tail->pool_next = x;
  else
    p->queue = x;
  p->queue_tail = x;
  pthread_cond_signal(&p->work);
  pthread_mutex_unlock(&p->lock);
  return 0;
}

void app_pool_writable(struct app_pool *p, struct exchange *x) {
  (void)p;
  struct pool_thread *t = x->thread;
  if (t != NULL && t->call != NULL)
    run_call(t);
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
  pthread_cond_init(&p->returned, NULL);
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

/* Calls left waiting when the loop stopped: their connections are gone. */
static void refuse_waiting_calls(struct app_pool *p) {
  for (size_t i = 0; i < p->nthreads; i++) {
    struct pool_thread *t = &p->threads[i];
    if (t->call != NULL && !t->call_done) {
      t->call->result = UNIXCORN_ECLOSED;
      t->call = NULL;
      t->call_done = true;
      pthread_cond_signal(&t->cond);
    }
  }
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
    refuse_waiting_calls(p);
    size_t busy = 0;
    for (size_t i = 0; i < p->nthreads; i++)
      busy += p->threads[i].x != NULL;
    struct pool_thread *finished = p->finished;
    p->finished = NULL;
    if (busy == 0)
      break;
    if (finished == NULL) {
      pthread_cond_wait(&p->returned, &p->lock);
      continue;
    }
    pthread_mutex_unlock(&p->lock);
    for (struct pool_thread *t = finished, *next; t != NULL; t = next) {
      next = t->next_finished;
      take_back(t);
    }
    pthread_mutex_lock(&p->lock);
  }
  pthread_mutex_unlock(&p->lock);
  for (size_t i = 0; i < p->nthreads; i++)
    pthread_join(p->threads[i].id, NULL);
  for (size_t i = 0; i < p->nthreads; i++)
    pthread_cond_destroy(&p->threads[i].cond);
  pthread_cond_destroy(&p->work);
  pthread_cond_destroy(&p->returned);
  pthread_mutex_destroy(&p->lock);
  free(p);
}

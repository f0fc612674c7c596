#include "exchange.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "app.h"
#include "log.h"

/* Exchanges kept for reuse: as many as requests are usually under way at once
 * in one worker; beyond it they go back to malloc. A spare keeps its buffers
 * (the request's fields and their list, the response's fields): the next
 * request needs them. */
#define EXCHANGES_SPARE_MAX 64

uint64_t exchange_clock_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

struct exchange *exchange_take(struct conn_env *env, struct conn *c,
                               http1_body_cb on_body) {
  struct exchange *x = env->spare;
  if (x != NULL) {
    env->spare = x->next_spare;
    env->nspare--;
  } else if ((x = malloc(sizeof *x + env->app->desc->request_size)) != NULL) {
    x->req = (struct request){0};
    x->reply.fields = x->after_file = (struct buf){0};
    x->stage.reply.fields = x->stage.body = (struct buf){0};
    spool_init(&x->body); /* given back reset, by app_done */
  } else {
    return NULL;
  }
  x->env = env;
  x->conn = c;
  http1_init(&x->http, &env->limits, &x->req, on_body, c);
  reply_reset(&x->reply);
  x->chunked_out = false;
  x->body_sent = 0;
  x->after_file.len = 0;
  x->file_fd = -1;
  x->file_off = x->file_left = 0;
  x->peer = c->peer;
  x->client[0] = '\0';
  x->app_active = x->app_waiting = x->app_failed = x->rule_logged = x->on_thread =
      x->in_on_body = false;
  x->thread_misuse = 0;
  x->calls_closed = false;
  x->fail_status = 0;
  x->fail_reason = NULL;
  x->start_ns = log_access_enabled() ? exchange_clock_ns() : 0;
  x->id.len = 0;
  x->begin_ns = env->now_ns;
  x->queue_us = -1;
  memset(x->app_state, 0, env->app->desc->request_size);
  return x;
}

static void exchange_free(struct exchange *x) {
  request_free(&x->req);
  buf_release(&x->reply.fields);
  buf_release(&x->after_file);
  stage_release(&x->stage);
  free(x);
}

void exchange_give_back(struct exchange *x) {
  struct conn_env *env = x->env;
  if (env->nspare >= EXCHANGES_SPARE_MAX) {
    exchange_free(x);
    return;
  }
  x->next_spare = env->spare;
  env->spare = x;
  env->nspare++;
}

void exchange_free_spares(struct conn_env *env) {
  while (env->spare != NULL) {
    struct exchange *x = env->spare;
    env->spare = x->next_spare;
    exchange_free(x);
  }
  env->nspare = 0;
}

/* The client: for a trusted proxy, the last X-Forwarded-For entry, which that
 * proxy appended itself (the earlier ones are whatever the client claimed). */
const char *exchange_client(struct exchange *x, size_t *len) {
  const struct request *r = &x->req;
  const char *xff = request_str(r, r->forwarded_for);
  size_t end = r->forwarded_for.len, start;
  while (end > 0 && (xff[end - 1] == ' ' || xff[end - 1] == ','))
    end--;
  for (start = end; start > 0 && xff[start - 1] != ',' && xff[start - 1] != ' ';)
    start--;
  if (x->peer.trusted && start < end) {
    *len = end - start;
    return xff + start;
  }
  if (x->client[0] == '\0') {
    const char *own = peer_text(&x->peer, x->client);
    if (own != x->client)
      strcpy(x->client, own);
  }
  *len = strlen(x->client);
  return x->client;
}

#include "app_pool.h"

#include <errno.h>

#include "exchange.h"

int app_pool_start(struct app_pool *p, struct exchange *x) {
  (void)p, (void)x;
  return -ENOSYS;
}

void app_pool_writable(struct app_pool *p, struct exchange *x) {
  (void)p, (void)x;
}

int app_pool_call(struct exchange *x, struct app_call *call) {
  (void)x, (void)call;
  return UNIXCORN_ECLOSED;
}

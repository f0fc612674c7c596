#include "request_id.h"

#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "request.h"

static const char hex_digits[] = "0123456789abcdef";

/* The last id made: this process's random half, then a count, in hex. */
static char last[REQUEST_ID_FRESH_LEN];
static bool seeded;

static void put_hex64(char out[16], uint64_t v) {
  for (int i = 15; i >= 0; i--, v >>= 4)
    out[i] = hex_digits[v & 15];
}

/* Once per process: workers are started with exec, so each draws its own. */
static void seed(void) {
  uint64_t r;
  if (getrandom(&r, sizeof r, GRND_NONBLOCK) != (ssize_t)sizeof r) {
    struct timespec ts; /* entropy not ready yet (early boot): still distinct */
    clock_gettime(CLOCK_REALTIME, &ts);
    r = ((uint64_t)getpid() << 40) ^ (uint64_t)ts.tv_sec << 20 ^ (uint64_t)ts.tv_nsec;
  }
  put_hex64(last, r);
  put_hex64(last + 16, 0);
  seeded = true;
}

/* The count goes up in its hex digits, as an odometer does: most ids change
 * one digit, where formatting all sixteen took ~60 instructions. */
static void fresh(struct request_id *id) {
  if (!seeded)
    seed();
  for (size_t i = REQUEST_ID_FRESH_LEN - 1; i >= 16; i--) {
    char d = last[i];
    last[i] = d == 'f' ? '0' : d == '9' ? 'a' : (char)(d + 1);
    if (d != 'f')
      break;
  }
  memcpy(id->text, last, sizeof last);
  id->text[REQUEST_ID_FRESH_LEN] = '\0';
  id->len = REQUEST_ID_FRESH_LEN;
}

bool request_id_sane(const char *s, size_t len) {
  if (len < REQUEST_ID_MIN || len > REQUEST_ID_MAX)
    return false;
  for (size_t i = 0; i < len; i++) {
    char c = s[i];
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
          c == '+' || c == '/' || c == '=' || c == '-'))
      return false;
  }
  return true;
}

/* The value of r's first X-Request-ID field, or NULL. */
static const char *first_field(const struct request *r, size_t *len) {
  for (uint32_t i = 0; i < r->nlist; i++) {
    struct span n = r->list[i].name;
    if (n.len == 12 && strncasecmp(r->fields.data + n.off, "x-request-id", 12) == 0) {
      *len = r->list[i].value.len;
      return r->fields.data + r->list[i].value.off;
    }
  }
  return NULL;
}

void request_id_assign(struct request_id *id, const struct request *r, bool trusted) {
  size_t len = 0;
  const char *given = trusted ? first_field(r, &len) : NULL;
  if (given == NULL || !request_id_sane(given, len)) {
    fresh(id);
    return;
  }
  memcpy(id->text, given, len);
  id->text[len] = '\0';
  id->len = (uint8_t)len;
}

/* A minimal test harness: CHECK records a failure and goes on; RUN runs one
 * test function and names it; main returns non-zero if anything failed. */
#ifndef UNIXCORN_TEST_CHECK_H
#define UNIXCORN_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_failures;

#define CHECK(cond)                                                                      \
  do {                                                                                   \
    if (!(cond)) {                                                                       \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);           \
      check_failures++;                                                                  \
    }                                                                                    \
  } while (0)

#define CHECK_STR(a, b)                                                                  \
  do {                                                                                   \
    const char *a_ = (a), *b_ = (b);                                                     \
    if (strcmp(a_, b_) != 0) {                                                           \
      fprintf(stderr, "%s:%d: '%s' != '%s'\n", __FILE__, __LINE__, a_, b_);              \
      check_failures++;                                                                  \
    }                                                                                    \
  } while (0)

#define RUN(fn)                                                                          \
  do {                                                                                   \
    int before_ = check_failures;                                                        \
    fn();                                                                                \
    printf("%s %s\n", check_failures == before_ ? "ok  " : "FAIL", #fn);                 \
  } while (0)

#define CHECK_DONE() (check_failures ? (printf("%d failures\n", check_failures), 1) : 0)

#endif

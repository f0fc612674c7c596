/* The request-target forms and Host values of RFC 9112, section 3.2, on
 * RFC 3986's grammar. */
#include "check.h"
#include "grammar.h"

static const struct {
  const char *target;
  enum target_form form;
} targets[] = {
    {"/", TARGET_ORIGIN},
    {"/a/b;p/%7e?q=1&r=/?", TARGET_ORIGIN},
    {"/?{\"a\":1}|^`", TARGET_ORIGIN}, /* as browsers send queries */
    {"/caf\xc3\xa9", TARGET_ORIGIN},
    {"/a#frag", TARGET_INVALID},
    {"*", TARGET_ASTERISK},
    {"**", TARGET_INVALID},
    {"http://x", TARGET_ABSOLUTE},
    {"http://x/", TARGET_ABSOLUTE},
    {"HTTP://X:80/p?q", TARGET_ABSOLUTE},
    {"https://x?q", TARGET_ABSOLUTE},
    {"http://x:/", TARGET_ABSOLUTE},
    {"http://x:65535/", TARGET_ABSOLUTE},
    {"http://x:65536/", TARGET_INVALID},
    {"http://x:8a/", TARGET_INVALID},
    {"http://[::1]/", TARGET_ABSOLUTE},
    {"http://[::ffff:1.2.3.4]:8/", TARGET_ABSOLUTE},
    {"http://[v7.a:b]/", TARGET_ABSOLUTE},
    {"http://[v7.]/", TARGET_INVALID},
    {"http://[vz.a]/", TARGET_INVALID},
    {"http://[::1/", TARGET_INVALID},
    {"http://[::1]x/", TARGET_INVALID},
    {"http://[1:2:3]/", TARGET_INVALID},
    {"http://]x/", TARGET_INVALID},
    {"http://a[b/", TARGET_INVALID},
    {"http://a%41b/", TARGET_ABSOLUTE},
    {"http://a%4/", TARGET_INVALID},
    {"http://a b/", TARGET_INVALID},
    {"http:///p", TARGET_INVALID},   /* RFC 9110, 4.2.1: http needs a host */
    {"http://u@x/", TARGET_INVALID}, /* ...and userinfo is refused */
    {"ftp://u:p@x/f", TARGET_ABSOLUTE},
    {"file:///etc", TARGET_ABSOLUTE},
    {"s://]ufd/:", TARGET_INVALID},
    {"1http://x/", TARGET_INVALID},
    {"mailto:a@b", TARGET_INVALID}, /* no authority: nothing to serve */
    {"x:80", TARGET_AUTHORITY},
    {"[::1]:443", TARGET_AUTHORITY},
    {"x", TARGET_INVALID},
    {"x:", TARGET_INVALID},
    {"a/b", TARGET_INVALID},
    {"", TARGET_INVALID},
};

static void test_target_forms(void) {
  for (size_t i = 0; i < sizeof targets / sizeof targets[0]; i++) {
    enum target_form got = target_form(targets[i].target, strlen(targets[i].target));
    if (got != targets[i].form) {
      fprintf(stderr, "target_form(\"%s\") = %d, want %d\n", targets[i].target, got,
              targets[i].form);
      check_failures++;
    }
  }
}

static void test_host_values(void) {
  static const char *const valid[] = {
      "",         "x",      "example.com",    "example.com.",
      "x:80",     "x:",     "127.0.0.1:8080", "[::1]",
      "[::1]:80", "[v1.x]", "a%20b",          "!$&'()*+,;=",
      "-._~",
  };
  static const char *const invalid[] = {
      "u@x", "x]",    "[x",  "[::1", "x/y",    "x?y",     "x#y",
      "x:y", "x:1:2", "a b", "a%2",  "[::1]x", "x:99999",
  };
  for (size_t i = 0; i < sizeof valid / sizeof valid[0]; i++)
    if (!host_value_valid(valid[i], strlen(valid[i])))
      fprintf(stderr, "refused Host: %s\n", valid[i]), check_failures++;
  for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
    if (host_value_valid(invalid[i], strlen(invalid[i])))
      fprintf(stderr, "accepted Host: %s\n", invalid[i]), check_failures++;
}

/* The classes against RFC 9110's definitions, character by character. */
static void test_char_classes(void) {
  const char *tchar = "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz"
                      "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
  for (int c = 0; c < 256; c++) {
    bool want_tchar = c != 0 && strchr(tchar, c) != NULL;
    bool want_value = c == '\t' || (c >= ' ' && c != 0x7f);
    bool want_qdtext = c == '\t' || c == ' ' || c == 0x21 || (c >= 0x23 && c <= 0x5b) ||
                       (c >= 0x5d && c <= 0x7e) || c >= 0x80;
    CHECK(char_is((unsigned char)c, CHAR_TCHAR) == want_tchar);
    CHECK(char_is((unsigned char)c, CHAR_VALUE) == want_value);
    CHECK(char_is((unsigned char)c, CHAR_QDTEXT) == want_qdtext);
  }
}

/* #element lists: each line's value fed in pieces, a line end ends an element. */
static void test_list_elements(void) {
  static const struct {
    const char *lines[2];
    unsigned wanted, others;
    bool last_wanted;
  } cases[] = {
      {{"chunked", NULL}, 1, 0, true},
      {{"Chunked ,", NULL}, 1, 0, true},
      {{", ,chunked", NULL}, 1, 0, true},
      {{"gzip, chunked", NULL}, 1, 1, true},
      {{"gzip", "chunked"}, 1, 1, true},
      {{"chunked", "gzip"}, 1, 1, false},
      {{"chunked;x=1", NULL}, 0, 1, false},
      {{"chun ked", NULL}, 0, 1, false},
      {{"chunkedx", NULL}, 0, 1, false},
      {{"chunke", NULL}, 0, 1, false},
      {{"", NULL}, 0, 0, false},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct list_match m;
    list_init(&m, "chunked");
    for (size_t l = 0; l < 2 && cases[i].lines[l]; l++) {
      const char *v = cases[i].lines[l];
      for (size_t k = 0; v[k] != '\0'; k++) /* a byte at a time */
        list_feed(&m, v + k, 1);
      list_end_element(&m);
    }
    if (m.wanted != cases[i].wanted || m.others != cases[i].others ||
        m.last_wanted != cases[i].last_wanted) {
      fprintf(stderr, "list %zu: wanted %u others %u last %d\n", i, m.wanted, m.others,
              m.last_wanted);
      check_failures++;
    }
  }
}

/* The word-at-a-time scan stops where a byte loop over the class would: every
 * byte value, at every position of a value longer than two words. */
static void test_field_value_end(void) {
  char v[19];
  for (int c = 0; c < 256; c++)
    for (size_t at = 0; at < sizeof v; at++) {
      memset(v, 'a', sizeof v);
      v[at] = (char)c;
      size_t want = char_is((unsigned char)c, CHAR_VALUE) ? sizeof v : at;
      if ((size_t)(field_value_end(v, v + sizeof v) - v) != want) {
        fprintf(stderr, "byte 0x%02x at %zu: stopped wrongly\n", c, at);
        check_failures++;
      }
    }
}

/* A token is one or more tchars; any other byte, anywhere, makes it not one. */
static void test_tokens(void) {
  CHECK(is_token("X-Request-ID", 12));
  CHECK(is_token("!", 1));
  CHECK(!is_token("", 0));
  char t[5];
  for (int c = 0; c < 256; c++)
    for (size_t at = 0; at < sizeof t; at++) {
      memset(t, 'a', sizeof t);
      t[at] = (char)c;
      CHECK(is_token(t, sizeof t) == char_is((unsigned char)c, CHAR_TCHAR));
    }
}

int main(void) {
  RUN(test_target_forms);
  RUN(test_tokens);
  RUN(test_field_value_end);
  RUN(test_host_values);
  RUN(test_char_classes);
  RUN(test_list_elements);
  return CHECK_DONE();
}

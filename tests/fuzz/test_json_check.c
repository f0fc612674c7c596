/* The fuzz target's JSON checker: what RFC 8259 allows passes, and each kind
 * of mistake an escaping bug could make is caught. */
#include "check.h"
#include "json_check.h"

#define VALID(lit) CHECK(json_valid(lit, sizeof lit - 1))
#define INVALID(lit) CHECK(!json_valid(lit, sizeof lit - 1))

static void test_values(void) {
  VALID("{}");
  VALID(" [ ] ");
  VALID("\r\n\t0\n");
  VALID("{\"a\": [1, -0, 0.5, -12.25e+3, 1E-2, true, false, null, \"\"], \"b\": {}}");
  VALID("[[[[[]]]]]");
  INVALID("");
  INVALID(" ");
  INVALID("{} {}");
  INVALID("{\"a\": 1,}");
  INVALID("[1,]");
  INVALID("[,1]");
  INVALID("{\"a\" 1}");
  INVALID("{1: 2}");
  INVALID("{\"a\": 1");
  INVALID("[1 2]");
  INVALID("tru");
  INVALID("nul");
  INVALID("True");
  INVALID("/* c */ 1");
}

static void test_numbers(void) {
  INVALID("01");
  INVALID("+1");
  INVALID("-");
  INVALID("1.");
  INVALID(".5");
  INVALID("1e");
  INVALID("1e+");
  INVALID("0x10");
  INVALID("NaN");
  INVALID("Infinity");
  VALID("123456789012345678901234567890");
}

static void test_strings(void) {
  VALID("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t \\u00e9 \\uD83D\\uDE00\"");
  VALID("\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80 \xf4\x8f\xbf\xbf\"");
  VALID("\"\x7f\""); /* DEL is no control to JSON */
  INVALID("\"a");
  INVALID("\"a\\\"");
  INVALID("\"\\x41\"");
  INVALID("\"\\u00g0\"");
  INVALID("\"\\u00e\"");
  INVALID("\"\x01\"");
  INVALID("\"\t\"");
  INVALID("\"\n\"");
  INVALID("'a'");
  /* Surrogate escapes: only high then low. */
  INVALID("\"\\ud800\"");
  INVALID("\"\\udc00\"");
  INVALID("\"\\ud800\\u0041\"");
  INVALID("\"\\ud800x\"");
  /* Bytes that are not UTF-8. */
  INVALID("\"\x80\"");
  INVALID("\"\xc3\"");
  INVALID("\"\xc3(\"");
  INVALID("\"\xc0\xaf\"");             /* overlong '/' */
  INVALID("\"\xe0\x80\xaf\"");         /* overlong, 3 bytes */
  INVALID("\"\xf0\x80\x80\xaf\"");     /* overlong, 4 bytes */
  INVALID("\"\xed\xa0\x80\"");         /* a surrogate, encoded */
  INVALID("\"\xf4\x90\x80\x80\"");     /* past U+10FFFF */
  INVALID("\"\xf8\x88\x80\x80\x80\""); /* 5 bytes */
  INVALID("\"\xff\"");
  INVALID("\"\xe2\x82\"");
  /* A NUL inside the text is a raw control. */
  CHECK(!json_valid("\"\0\"", 3));
}

static void test_depth(void) {
  char deep[2 * JSON_MAX_DEPTH + 2];
  for (int n = JSON_MAX_DEPTH; n <= JSON_MAX_DEPTH + 1; n++) {
    memset(deep, '[', (size_t)n);
    memset(deep + n, ']', (size_t)n);
    CHECK(json_valid(deep, 2 * (size_t)n) == (n <= JSON_MAX_DEPTH));
  }
}

int main(void) {
  RUN(test_values);
  RUN(test_numbers);
  RUN(test_strings);
  RUN(test_depth);
  return CHECK_DONE();
}

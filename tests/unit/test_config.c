#include "config.h"

#include "check.h"

static struct config cfg;
static char err[CONFIG_ERR_MAX];

static enum config_result parse(const char *a1, const char *a2, const char *a3) {
  char *argv[] = {"unixcorn", (char *)a1, (char *)a2, (char *)a3, NULL};
  int argc = 1 + (a1 != NULL) + (a2 != NULL) + (a3 != NULL);
  config_defaults(&cfg);
  err[0] = '\0';
  return config_parse(&cfg, argc, argv, err, sizeof err);
}

static void test_defaults(void) {
  CHECK(parse(NULL, NULL, NULL) == CONFIG_OK);
  CHECK(cfg.nbinds == 1);
  CHECK(cfg.binds[0].kind == BIND_UNIX);
  CHECK_STR(cfg.binds[0].path, "/tmp/app.sock");
  CHECK(cfg.backlog == 2048);
  CHECK(cfg.keepalive_ms == 5000 && cfg.header_timeout_ms == 10000);
  CHECK(cfg.read_timeout_ms == 30000 && cfg.graceful_timeout_ms == 30000);
  CHECK(cfg.limit_request_line == 4094 && cfg.limit_request_fields == 100);
  CHECK(cfg.limit_request_field_size == 8190);
  CHECK(cfg.limit_request_body == 1073741824);
  CHECK(cfg.socket_mode == 0666 && !cfg.socket_group_set);
  CHECK(cfg.access_logfile == NULL && !cfg.echo_stream);
}

static void test_bind_forms(void) {
  static const struct {
    const char *text;
    enum bind_kind kind;
    const char *host_or_path;
    unsigned port;
    const char *formatted;
  } cases[] = {
      {"unix:/tmp/x.sock", BIND_UNIX, "/tmp/x.sock", 0, "unix:/tmp/x.sock"},
      {"127.0.0.1:8000", BIND_TCP, "127.0.0.1", 8000, "http://127.0.0.1:8000"},
      {"[::1]:9000", BIND_TCP, "::1", 9000, "http://[::1]:9000"},
      {":80", BIND_TCP, "", 80, "http://0.0.0.0:80"},
      {"localhost:0", BIND_TCP, "localhost", 0, "http://localhost:0"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    struct bind_addr b;
    char out[300];
    CHECK(bind_addr_parse(&b, cases[i].text, err, sizeof err) == 0);
    CHECK(b.kind == cases[i].kind);
    CHECK_STR(b.kind == BIND_UNIX ? b.path : b.host, cases[i].host_or_path);
    CHECK(b.port == cases[i].port);
    bind_addr_format(&b, out, sizeof out);
    CHECK_STR(out, cases[i].formatted);
  }
}

/* The limit's reason carries the number itself (a printf-like helper that
 * took only strings once printed garbage here). */
static void test_too_many_binds(void) {
  char *argv[2 * CONFIG_MAX_BINDS + 3] = {"unixcorn"};
  char paths[CONFIG_MAX_BINDS + 1][32];
  int argc = 1;
  for (int i = 0; i <= CONFIG_MAX_BINDS; i++) {
    snprintf(paths[i], sizeof paths[i], "unix:/tmp/b%d.sock", i);
    argv[argc++] = "--bind";
    argv[argc++] = paths[i];
  }
  config_defaults(&cfg);
  CHECK(config_parse(&cfg, argc, argv, err, sizeof err) == CONFIG_ERROR);
  CHECK_STR(err, "--bind: at most 16 addresses");
}

static void test_bind_errors(void) {
  char long_path[200] = "unix:/tmp/";
  memset(long_path + 10, 'a', 120);
  const char *bad[] = {"unix:",  "localhost",     "host:port", "[::1",       "[::1]",
                       "::1:80", "1.2.3.4:70000", "1.2.3.4:",  "1.2.3.4:-1", long_path};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    struct bind_addr b;
    err[0] = '\0';
    CHECK(bind_addr_parse(&b, bad[i], err, sizeof err) < 0);
    CHECK(err[0] != '\0');
  }
  CHECK(parse("-b", long_path, NULL) == CONFIG_ERROR);
  CHECK(strstr(err, "--bind") == err && strstr(err, "at most 107") != NULL);
}

static void test_values(void) {
  CHECK(parse("--keepalive=0.5", "--limit-request-body", "64M") == CONFIG_OK);
  CHECK(cfg.keepalive_ms == 500 && cfg.limit_request_body == 64u << 20);
  CHECK(parse("--keep-alive", "2", "--echo-stream") == CONFIG_OK);
  CHECK(cfg.keepalive_ms == 2000 && cfg.echo_stream);
  CHECK(parse("--limit-request-field-size", "100", NULL) == CONFIG_OK);
  CHECK(cfg.limit_request_field_size == 100);
  CHECK(parse("--limit-request-field_size=0", "--socket-mode", "0600") == CONFIG_OK);
  CHECK(cfg.limit_request_field_size == 0 && cfg.socket_mode == 0600);
  CHECK(parse("-bunix:/a", "-b", "unix:/b") == CONFIG_OK);
  CHECK(cfg.nbinds == 2 && strcmp(cfg.binds[1].path, "/b") == 0);
  CHECK(parse("--socket-group", "0", "--log-level=warning") == CONFIG_OK);
  CHECK(cfg.socket_group_set && cfg.socket_gid == 0 &&
        cfg.log_level == LOG_LEVEL_WARNING);
  CHECK(parse("--help", NULL, NULL) == CONFIG_HELP);
  CHECK(parse("-v", NULL, NULL) == CONFIG_VERSION);
}

static void test_forwarded_allow_ips(void) {
  CHECK(parse(NULL, NULL, NULL) == CONFIG_OK);
  CHECK(config_proxy_trusted(&cfg, "127.0.0.1") && config_proxy_trusted(&cfg, "::1"));
  CHECK(!config_proxy_trusted(&cfg, "10.0.0.1"));
  CHECK(parse("--forwarded-allow-ips", " 10.0.0.1 , 0:0:0:0:0:0:0:2", NULL) == CONFIG_OK);
  CHECK(config_proxy_trusted(&cfg, "10.0.0.1") && config_proxy_trusted(&cfg, "::2"));
  CHECK(!config_proxy_trusted(&cfg, "127.0.0.1"));
  CHECK(parse("--forwarded-allow-ips=*", NULL, NULL) == CONFIG_OK);
  CHECK(config_proxy_trusted(&cfg, "192.0.2.9"));
  CHECK(parse("--forwarded-allow-ips", "1.2.3", NULL) == CONFIG_ERROR);
  CHECK(parse("--forwarded-allow-ips", "1.2.3.4,,", NULL) == CONFIG_ERROR);
}

/* APP is the one positional argument, anywhere among the options. */
static void test_app_argument(void) {
  CHECK(parse(NULL, NULL, NULL) == CONFIG_OK);
  CHECK_STR(cfg.app, "echo");
  CHECK_STR(cfg.app_arg, "");
  CHECK(cfg.threads == 1);
  CHECK(parse("inspect", NULL, NULL) == CONFIG_OK);
  CHECK_STR(cfg.app, "inspect");
  CHECK(parse("--threads", "4", "./app.so:my_app") == CONFIG_OK);
  CHECK_STR(cfg.app, "./app.so:my_app");
  CHECK(cfg.threads == 4);
  CHECK(parse("./app.so", "--app-arg=db=/tmp/x", NULL) == CONFIG_OK);
  CHECK_STR(cfg.app_arg, "db=/tmp/x");
  CHECK(parse("--threads", "0", NULL) == CONFIG_ERROR);
  CHECK(parse("a.so", "b.so", NULL) == CONFIG_ERROR);
}

static void test_errors_name_the_flag(void) {
  static const struct {
    const char *a1, *a2, *flag;
  } cases[] = {
      {"--backlog", "abc", "--backlog:"},
      {"--backlog", "-1", "--backlog:"},
      {"--backlog", "0", "--backlog:"},
      {"--keepalive", "soon", "--keepalive:"},
      {"--read-timeout", "-2", "--read-timeout:"},
      {"--limit-request-body", "12X", "--limit-request-body:"},
      {"--socket-mode", "0800", "--socket-mode:"},
      {"--socket-mode", "rw", "--socket-mode:"},
      {"--socket-group", "no-such-group-here", "--socket-group:"},
      {"--log-level", "loud", "--log-level:"},
      {"--no-such-flag", NULL, "--no-such-flag:"},
      {"--echo-stream=yes", NULL, "--echo-stream:"},
      {"--bind", NULL, "--bind:"},
      {"echo", "stray", "stray:"}, /* one APP only */
      {"-x", NULL, "-x:"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    CHECK(parse(cases[i].a1, cases[i].a2, NULL) == CONFIG_ERROR);
    if (strncmp(err, cases[i].flag, strlen(cases[i].flag)) != 0) {
      fprintf(stderr, "error for %s %s: '%s'\n", cases[i].a1, cases[i].a2, err);
      check_failures++;
    }
    CHECK(strchr(err, '\n') == NULL);
  }
}

int main(void) {
  RUN(test_defaults);
  RUN(test_app_argument);
  RUN(test_bind_forms);
  RUN(test_bind_errors);
  RUN(test_too_many_binds);
  RUN(test_values);
  RUN(test_forwarded_allow_ips);
  RUN(test_errors_name_the_flag);
  return CHECK_DONE();
}

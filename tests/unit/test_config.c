#include "config.h"
#include "config_impl.h"

#include <stdlib.h>
#include <unistd.h>

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

static void test_recycling_and_auto(void) {
  CHECK(parse("--max-worker-memory", "512M", "--max-worker-lifetime=3600") == CONFIG_OK);
  CHECK(cfg.max_worker_memory == 512u << 20 && cfg.max_worker_lifetime_ms == 3600000);
  CHECK(cfg.max_worker_lifetime_jitter_ms == 0);
  CHECK(parse("--max-worker-lifetime-jitter", "0.5", NULL) == CONFIG_OK);
  CHECK(cfg.max_worker_lifetime_jitter_ms == 500 && cfg.max_worker_memory == 0);
  CHECK(parse("--workers", "auto", NULL) == CONFIG_OK);
  CHECK(cfg.workers_auto && cfg.workers == 0);
  CHECK(parse("-w", "auto", "--workers=3") == CONFIG_OK);
  CHECK(!cfg.workers_auto && cfg.workers == 3);
  CHECK(parse("--max-worker-memory", "lots", NULL) == CONFIG_ERROR);
  CHECK_STR(err, "--max-worker-memory: expected a size in bytes, like 1048576 or 64M, "
                 "got 'lots'");
  CHECK(parse("--workers", "Auto", NULL) == CONFIG_ERROR);
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

/* ---- sources: the file, UNIXCORN_CMD_ARGS, precedence ---- */

static char conf_path[64];

static void write_conf(const char *text) {
  snprintf(conf_path, sizeof conf_path, "/tmp/uc-unit-conf-%ld", (long)getpid());
  FILE *f = fopen(conf_path, "w");
  CHECK(f != NULL);
  if (f != NULL) {
    fputs(text, f);
    fclose(f);
  }
}

/* Loads with -c conf_path (when with_file), env_args, then a1 and a2. */
static enum config_result load(bool with_file, const char *env_args, const char *a1,
                               const char *a2) {
  char *argv[6] = {"unixcorn"};
  int argc = 1;
  if (with_file) {
    argv[argc++] = "-c";
    argv[argc++] = conf_path;
  }
  if (a1 != NULL)
    argv[argc++] = (char *)a1;
  if (a2 != NULL)
    argv[argc++] = (char *)a2;
  config_free(&cfg);
  err[0] = '\0';
  return config_load(&cfg, argc, argv, env_args, err, sizeof err);
}

static void test_file_lines(void) {
  write_conf("# unixcorn\n"
             "\n"
             "workers = 3   # one per CPU\n"
             "  bind=unix:/tmp/a.sock\r\n"
             "bind = 127.0.0.1:8000\n"
             "echo-stream = true\n"
             "keep-alive = 2\n"
             "limit-request-body = 64M\n"
             "tmp-dir = /var/tmp/with#hash\n"
             "max-worker-memory = 1G");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  CHECK(cfg.workers == 3 && cfg.echo_stream && cfg.keepalive_ms == 2000);
  CHECK(cfg.nbinds == 2 && cfg.binds[1].port == 8000);
  CHECK_STR(cfg.binds[0].path, "/tmp/a.sock");
  CHECK_STR(cfg.tmp_dir, "/var/tmp/with#hash");
  CHECK(cfg.limit_request_body == 64u << 20 && cfg.max_worker_memory == 1u << 30);
  CHECK_STR(cfg.config_file, conf_path);
  write_conf("echo-stream = false\n");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  CHECK(!cfg.echo_stream && cfg.nbinds == 1);
  CHECK_STR(cfg.binds[0].path, "/tmp/app.sock");
  write_conf("");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
}

static void test_file_errors_name_file_and_line(void) {
  static const struct {
    const char *text, *error; /* error after "FILE:" */
  } cases[] = {
      {"workers = 2\nworkers = many\n",
       "2: workers: expected a number from 1 to 1024, or auto, got 'many'"},
      {"\n\nwrokers = 2\n", "3: wrokers: unknown setting; see unixcorn --help"},
      {"workers 2\n", "1: expected 'flag = value', e.g. 'workers = 4'"},
      {"--workers = 2\n",
       "1: --workers: write flags without their dashes, as 'workers = ...'"},
      {"echo-stream = yes\n", "1: echo-stream: expected true or false, got 'yes'"},
      {"echo-stream\n", "1: expected 'flag = value', e.g. 'workers = 4'"},
      {"config = /etc/other.conf\n", "1: config: only on the command line or in "
                                     "UNIXCORN_CMD_ARGS"},
      {"help = true\n", "1: help: only on the command line or in UNIXCORN_CMD_ARGS"},
      {"# w\nbind = localhost\n",
       "2: bind: expected unix:PATH, HOST:PORT or [IPV6]:PORT, got 'localhost'"},
      {"bind = unix:\n", "1: bind: empty socket path in 'unix:'"},
  };
  char want[CONFIG_ERR_MAX];
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    write_conf(cases[i].text);
    CHECK(load(true, NULL, "--workers", "1") == CONFIG_ERROR);
    snprintf(want, sizeof want, "%s:%s", conf_path, cases[i].error);
    CHECK_STR(err, want);
  }
  unlink(conf_path);
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_ERROR);
  snprintf(want, sizeof want, "--config: cannot read %s: No such file or directory",
           conf_path);
  CHECK_STR(err, want);
}

static void test_env_args_split_like_a_shell(void) {
  static const struct {
    const char *text;
    int n;
    const char *words[4];
  } cases[] = {
      {"  --workers   2\t", 2, {"--workers", "2"}},
      {"--tmp-dir '/tmp/a b'", 2, {"--tmp-dir", "/tmp/a b"}},
      {"--tmp-dir=\"/tmp/a b\"", 1, {"--tmp-dir=/tmp/a b"}},
      {"a\\ b 'c\\d' \"e\\\"f\\g\"", 3, {"a b", "c\\d", "e\"f\\g"}},
      {"'it'\"'\"'s' ''", 2, {"it's", ""}},
      {"a\\\nb", 1, {"ab"}},
      {"", 0, {NULL}},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char text[128], *words[8], why[128];
    snprintf(text, sizeof text, "%s", cases[i].text);
    int n = config_split_words(text, words, 8, why, sizeof why);
    CHECK(n == cases[i].n);
    for (int w = 0; w < n && n == cases[i].n; w++)
      CHECK_STR(words[w], cases[i].words[w]);
  }
  char text[64] = "--bind 'unix:/tmp/x", *words[4], why[128];
  CHECK(config_split_words(text, words, 4, why, sizeof why) < 0);
  CHECK_STR(why, "a ' quote is not closed");
  snprintf(text, sizeof text, "a b c d e");
  CHECK(config_split_words(text, words, 4, why, sizeof why) < 0);
  CHECK(load(false, "--workers 2 --tmp-dir '/tmp/a dir'", NULL, NULL) == CONFIG_OK);
  CHECK(cfg.workers == 2);
  CHECK_STR(cfg.tmp_dir, "/tmp/a dir");
  CHECK(load(false, "--workers \"2", NULL, NULL) == CONFIG_ERROR);
  CHECK_STR(err, "UNIXCORN_CMD_ARGS: a \" quote is not closed");
  CHECK(load(false, "--workers=none", NULL, NULL) == CONFIG_ERROR);
  CHECK_STR(err, "UNIXCORN_CMD_ARGS: --workers: expected a number from 1 to 1024, or "
                 "auto, got 'none'");
  CHECK(load(false, "--no-such", NULL, NULL) == CONFIG_ERROR);
  CHECK_STR(err, "UNIXCORN_CMD_ARGS: --no-such: unknown option; see unixcorn --help");
}

/* The command line over the environment over the file, flag by flag; a
 * repeatable flag is taken whole from the strongest source that gives it. */
static void test_precedence(void) {
  write_conf("workers = 3\nkeepalive = 7\nbind = unix:/tmp/f1.sock\n"
             "bind = unix:/tmp/f2.sock\nlog-level = debug\n");
  CHECK(load(true, "--workers 2 --keepalive 6", "--workers", "1") == CONFIG_OK);
  CHECK(cfg.workers == 1 && cfg.keepalive_ms == 6000 && cfg.log_level == LOG_LEVEL_DEBUG);
  CHECK(cfg.nbinds == 2);
  CHECK(load(true, "--workers 2", NULL, NULL) == CONFIG_OK);
  CHECK(cfg.workers == 2 && cfg.keepalive_ms == 7000);
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  CHECK(cfg.workers == 3);
  CHECK(load(true, "--bind unix:/tmp/e.sock", NULL, NULL) == CONFIG_OK);
  CHECK(cfg.nbinds == 1);
  CHECK_STR(cfg.binds[0].path, "/tmp/e.sock");
  CHECK(load(true, "--bind unix:/tmp/e.sock", "-b", "unix:/tmp/c.sock") == CONFIG_OK);
  CHECK(cfg.nbinds == 1);
  CHECK_STR(cfg.binds[0].path, "/tmp/c.sock");
  /* -c itself: the command line's over the environment's */
  char env_args[128];
  snprintf(env_args, sizeof env_args, "-c %s", conf_path);
  CHECK(load(false, env_args, NULL, NULL) == CONFIG_OK);
  CHECK(cfg.workers == 3);
  CHECK(load(false, env_args, "--config", "/nonexistent/x.conf") == CONFIG_ERROR);
  CHECK(strstr(err, "/nonexistent/x.conf") != NULL);
  /* a bad value is an error even where a stronger source overrides it */
  write_conf("workers = lots\n");
  CHECK(load(true, NULL, "--workers", "2") == CONFIG_ERROR);
  CHECK(load(true, NULL, "--help", NULL) == CONFIG_HELP);
  unlink(conf_path);
}

/* What the master hands its children: the same configuration, from the
 * command line alone. */
static void test_child_argv_round_trip(void) {
  static struct config child;
  char why[CONFIG_ERR_MAX];
  write_conf("echo-stream = true\nbind = unix:/tmp/r1.sock\nbind = unix:/tmp/r2.sock\n"
             "max-worker-memory = 96M\ntmp-dir = /tmp/a b\n");
  CHECK(load(true, "--workers auto --max-worker-lifetime 60", "--keepalive", "0.25") ==
        CONFIG_OK);
  char **argv = config_child_argv(&cfg, "/usr/bin/unixcorn");
  int argc = 0;
  while (argv[argc] != NULL)
    argc++;
  CHECK_STR(argv[0], "/usr/bin/unixcorn");
  for (int i = 1; i < argc; i++)
    CHECK(strncmp(argv[i], "--config", 8) != 0);
  config_defaults(&child);
  CHECK(config_parse(&child, argc, argv, why, sizeof why) == CONFIG_OK);
  CHECK(child.workers_auto && child.echo_stream && child.keepalive_ms == 250);
  CHECK(child.max_worker_memory == 96u << 20 && child.max_worker_lifetime_ms == 60000);
  CHECK(child.nbinds == 2 && strcmp(child.binds[1].path, "/tmp/r2.sock") == 0);
  CHECK_STR(child.tmp_dir, "/tmp/a b");
  CHECK(child.config_file == NULL);
  free(argv);
  write_conf("echo-stream = false\n");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  argv = config_child_argv(&cfg, "unixcorn");
  CHECK(argv[1] == NULL); /* off is the default: nothing to say */
  free(argv);
  unlink(conf_path);
}

/* A reload keeps what the master used only at start, and says which. */
static void test_reload_keeps_fixed_settings(void) {
  static struct config old;
  char changed[128];
  write_conf("bind = unix:/tmp/old.sock\nworkers = 2\npid = /tmp/old.pid\n");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  old = cfg;
  memset(&cfg, 0, sizeof cfg); /* old owns the texts now */
  write_conf("bind = unix:/tmp/new.sock\nbind = unix:/tmp/new2.sock\nworkers = 4\n"
             "metrics-bind = unix:/tmp/m.sock\n");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  CHECK(config_keep_fixed(&cfg, &old, changed, sizeof changed) == 0);
  CHECK_STR(changed, "--bind, --metrics-bind, --pid");
  CHECK(cfg.workers == 4 && cfg.nbinds == 1 && !cfg.metrics_set);
  CHECK_STR(cfg.binds[0].path, "/tmp/old.sock");
  CHECK_STR(cfg.pid_file, "/tmp/old.pid");
  config_free(&old);
  old = cfg; /* and again, from what was kept */
  memset(&cfg, 0, sizeof cfg);
  write_conf("bind = unix:/tmp/old.sock\nworkers = 5\npid = /tmp/old.pid\n");
  CHECK(load(true, NULL, NULL, NULL) == CONFIG_OK);
  CHECK(config_keep_fixed(&cfg, &old, changed, sizeof changed) == 0);
  CHECK_STR(changed, "");
  CHECK(cfg.workers == 5);
  CHECK_STR(cfg.pid_file, "/tmp/old.pid");
  config_free(&old);
  unlink(conf_path);
}

int main(void) {
  RUN(test_defaults);
  RUN(test_app_argument);
  RUN(test_bind_forms);
  RUN(test_bind_errors);
  RUN(test_too_many_binds);
  RUN(test_values);
  RUN(test_recycling_and_auto);
  RUN(test_forwarded_allow_ips);
  RUN(test_errors_name_the_flag);
  RUN(test_file_lines);
  RUN(test_file_errors_name_file_and_line);
  RUN(test_env_args_split_like_a_shell);
  RUN(test_precedence);
  RUN(test_child_argv_round_trip);
  RUN(test_reload_keeps_fixed_settings);
  config_free(&cfg);
  return CHECK_DONE();
}

/* The flags: their names, spellings and help text (the table that --help,
 * the man page and the --config file's keys all come from), and lookups in
 * it. What each value means is config.c's. */
#include "config_impl.h"

#include <stdio.h>
#include <string.h>

static const struct option_spec options[] = {
    {"bind", 'b', OPT_BIND, "ADDR",
     "Listen on ADDR: unix:PATH, HOST:PORT or [IPV6]:PORT; repeatable, e.g.\n"
     "--bind unix:/run/unixcorn/app.sock --bind 127.0.0.1:8000.\n"
     "Default: " DEFAULT_BIND},
    {"workers", 'w', OPT_WORKERS, "N",
     "Worker processes, each with its own event loop, all accepting on the\n"
     "same sockets; 'auto': one per CPU this process may use (its CPU\n"
     "affinity and its cgroup's cpu.max quota, rounded up),\n"
     "e.g. --workers auto or --workers 4. Default: 1"},
    {"timeout", 't', OPT_TIMEOUT, "SECONDS",
     "A worker whose event loop is stuck this long, or whose blocking\n"
     "application has held one request this long, is aborted (it logs what\n"
     "it was doing) and replaced; 0 = never. E.g. --timeout 60. Default: 30"},
    {"graceful-timeout", 0, OPT_GRACEFUL_TIMEOUT, "SECONDS",
     "On SIGTERM or a reload, how long in-flight requests may take to\n"
     "finish. E.g. --graceful-timeout 60. Default: 30"},
    {"shutdown-delay", 0, OPT_SHUTDOWN_DELAY, "SECONDS",
     "After SIGTERM, serve on as usual this long while /healthz on\n"
     "--metrics-bind answers 503 (a load balancer takes the server out),\n"
     "then stop gracefully. A second TERM, or INT, cuts it short.\n"
     "E.g. --shutdown-delay 5. Default: 0"},
    {"max-queue-time", 0, OPT_MAX_QUEUE_TIME, "SECONDS",
     "Answer 503 with Retry-After, without running the application, a\n"
     "request that waited longer since its proxy's X-Request-Start stamp\n"
     "(from trusted peers: --forwarded-allow-ips).\n"
     "E.g. --max-queue-time 10; 0 = never. Default: 0"},
    {"max-requests", 0, OPT_MAX_REQUESTS, "N",
     "A worker finishes its requests and is replaced after about N\n"
     "requests, e.g. --max-requests 1000; 0 = never. Default: 0"},
    {"max-requests-jitter", 0, OPT_MAX_REQUESTS_JITTER, "N",
     "Adds up to N to each worker's --max-requests, so they do not all\n"
     "restart together, e.g. --max-requests-jitter 100. Default: 0"},
    {"max-worker-memory", 0, OPT_MAX_WORKER_MEMORY, "SIZE",
     "A worker whose RSS stays above SIZE (K, M or G suffix) for 5\n"
     "heartbeats in a row (1 s) is replaced: a new one starts, then the old\n"
     "one finishes its requests. E.g. --max-worker-memory 512M; 0 = never.\n"
     "Default: 0"},
    {"max-worker-lifetime", 0, OPT_MAX_WORKER_LIFETIME, "SECONDS",
     "Replace each worker after it has run this long, the same way, one at\n"
     "a time. E.g. --max-worker-lifetime 3600; 0 = never. Default: 0"},
    {"max-worker-lifetime-jitter", 0, OPT_MAX_WORKER_LIFETIME_JITTER, "SECONDS",
     "Adds up to SECONDS at random to each worker's lifetime, so they do\n"
     "not all come due together, e.g. --max-worker-lifetime-jitter 600.\n"
     "Default: 0"},
    {"config", 'c', OPT_CONFIG, "FILE",
     "Read settings from FILE, e.g. -c /etc/unixcorn/unixcorn.conf: one\n"
     "'flag = value' a line with the long flag names, as 'workers = 4';\n"
     "'#' starts a comment. The command line wins over\n"
     "$" CONFIG_ENV_ARGS " (flags, quoted as for a shell), which wins over\n"
     "the file. HUP reads both again."},
    {"pid", 'p', OPT_PID, "FILE",
     "Write the master's pid to FILE, e.g. --pid /run/unixcorn/unixcorn.pid."},
    {"check-config", 0, OPT_CHECK_CONFIG, NULL,
     "Check the flags, $" CONFIG_ENV_ARGS ", the --config file and the\n"
     "APP (loaded, its init run in a throwaway process), then exit. E.g.\n"
     "unixcorn -c /etc/unixcorn/unixcorn.conf --check-config ./app.so"},
    {"metrics-bind", 0, OPT_METRICS_BIND, "ADDR",
     "Serve Prometheus metrics on ADDR (as for --bind), e.g.\n"
     "--metrics-bind 127.0.0.1:9100 or unix:/tmp/app-metrics.sock. The\n"
     "master binds it; a process of its own, not a worker, serves it.\n"
     "Default: off"},
    {"backlog", 0, OPT_BACKLOG, "N",
     "Listen queue length; the kernel caps it at net.core.somaxconn.\n"
     "E.g. --backlog 4096. Default: 2048"},
    {"keepalive", 0, OPT_KEEPALIVE, "SECONDS",
     "Idle time allowed between requests on a kept-alive connection;\n"
     "0 closes after every response. E.g. --keepalive 65 behind a load\n"
     "balancer that keeps idle connections 60 s. Default: 5"},
    {"keep-alive", 0, OPT_KEEPALIVE, "SECONDS", NULL},
    {"header-timeout", 0, OPT_HEADER_TIMEOUT, "SECONDS",
     "The whole request head must arrive within this time (else 408).\n"
     "E.g. --header-timeout 5. Default: 10"},
    {"read-timeout", 0, OPT_READ_TIMEOUT, "SECONDS",
     "Longest stall while reading a body or writing a response.\n"
     "E.g. --read-timeout 60. Default: 30"},
    {"limit-request-line", 0, OPT_LIMIT_LINE, "N",
     "Longest request line in bytes (else 414); 0 = unlimited.\n"
     "E.g. --limit-request-line 8190. Default: 4094"},
    {"limit-request-fields", 0, OPT_LIMIT_FIELDS, "N",
     "Most header fields in a request (else 431).\n"
     "E.g. --limit-request-fields 200. Default: 100"},
    {"limit-request-field_size", 0, OPT_LIMIT_FIELD_SIZE, "N",
     "Largest header field, name and value, in bytes (else 431);\n"
     "0 = unlimited. E.g. --limit-request-field_size 16380. Default: 8190"},
    {"limit-request-field-size", 0, OPT_LIMIT_FIELD_SIZE, "N", NULL},
    {"limit-request-body", 0, OPT_LIMIT_BODY, "BYTES",
     "Largest request body (else 413), with an optional K, M or G suffix;\n"
     "0 = unlimited. Also bounds the disk a spooled body uses.\n"
     "E.g. --limit-request-body 10M. Default: 1G"},
    {"tmp-dir", 0, OPT_TMP_DIR, "DIR",
     "Where bodies too large for memory are spooled, as unlinked files,\n"
     "e.g. --tmp-dir /var/tmp where /tmp is a tmpfs (in memory).\n"
     "Default: $TMPDIR, else /tmp"},
    {"echo-stream", 0, OPT_ECHO_STREAM, NULL,
     "Echo each body back as it arrives (chunked) instead of after it is\n"
     "complete. Only for clients that read while they send; see the\n"
     "README."},
    {"app", 0, OPT_APP, "APP",
     "The application, as the APP argument is, e.g. --app /srv/app.so;\n"
     "in a --config file, 'app = /srv/app.so'. Default: echo"},
    {"app-arg", 0, OPT_APP_ARG, "TEXT",
     "Handed to the application's init, as it is, e.g. --app-arg /srv/www\n"
     "(the directory examples/static_files.c serves). Default: empty"},
    {"threads", 0, OPT_THREADS, "N",
     "Threads per worker for a blocking application (one that may block on\n"
     "a database, a file, a computation): up to N of its requests run at\n"
     "once, while the worker's event loop goes on serving.\n"
     "E.g. --threads 8. Default: 1"},
    {"socket-mode", 0, OPT_SOCKET_MODE, "OCTAL",
     "Permissions of Unix socket files, e.g. --socket-mode 0660 to let in\n"
     "only the owner and --socket-group. Default: 0666"},
    {"socket-group", 0, OPT_SOCKET_GROUP, "GROUP",
     "Group owning Unix socket files, e.g. --socket-group www-data (the\n"
     "group of nginx's user on Debian)."},
    {"forwarded-allow-ips", 0, OPT_FORWARDED_ALLOW, "IPS",
     "Comma-separated proxy addresses whose X-Forwarded-For is logged as\n"
     "the client address, or '*' for any, e.g.\n"
     "--forwarded-allow-ips 10.0.0.5,10.0.0.6. Peers on a Unix socket are\n"
     "always trusted: the socket's permissions decide who can connect.\n"
     "Default: $FORWARDED_ALLOW_IPS, else " DEFAULT_FORWARDED_ALLOW},
    {"worker-connections", 0, OPT_WORKER_CONNECTIONS, "N",
     "Most connections a worker keeps open at once; beyond it new ones\n"
     "wait in the listen queue. E.g. --worker-connections 4096.\n"
     "Default: 1000"},
    {"allow-uid", 0, OPT_ALLOW_UID, "USERS",
     "Comma-separated users (names or uids) allowed to connect on a Unix\n"
     "socket, checked with SO_PEERCRED; others are closed at once.\n"
     "E.g. --allow-uid www-data,1000. Default: anyone"},
    {"allow-gid", 0, OPT_ALLOW_GID, "GROUPS",
     "Like --allow-uid, for the peer's primary group. A peer passes if its\n"
     "uid or its gid is allowed. E.g. --allow-gid www-data."},
    {"access-logfile", 0, OPT_ACCESS_LOG, "FILE",
     "Write an access log line per request to FILE; '-' is stdout, e.g.\n"
     "--access-logfile /var/log/unixcorn/access.log. Default: off"},
    {"access-logformat", 0, OPT_ACCESS_LOGFORMAT, "FORMAT",
     "The access log's line, of Gunicorn's atoms, e.g. --access-logformat\n"
     "'%(h)s \"%(r)s\" %(s)s %(request_id)s %({x-forwarded-proto}i)s'; or\n"
     "'json', one JSON object a line. Default: the combined format, the\n"
     "request time, and a Unix-socket peer's pid and uid. Atoms, JSON keys\n"
     "and request IDs: docs/logging.md"},
    {"error-logfile", 0, OPT_ERROR_LOG, "FILE",
     "Error log; '-' is stderr.\n"
     "E.g. --error-logfile /var/log/unixcorn/error.log. Default: -"},
    {"log-level", 0, OPT_LOG_LEVEL, "LEVEL",
     "debug, info, warning, error or critical, e.g. --log-level warning.\n"
     "Default: info"},
    {"help", 'h', OPT_HELP, NULL, "Show this help and exit."},
    {"version", 'v', OPT_VERSION, NULL, "Show the version and exit."},
};
#define NOPTIONS (sizeof options / sizeof options[0])

void config_usage(FILE *out) {
  fputs("Usage: unixcorn [OPTIONS] [APP]\n\n"
        "An HTTP/1.1 application server in the spirit of Gunicorn, for running behind\n"
        "nginx on a Unix socket.\n\n"
        "APP is what each worker serves:\n"
        "  echo              each request body comes back as the response (default)\n"
        "  inspect           a JSON document of the request as it arrived\n"
        "  PATH[:SYMBOL]     an application in a shared object (./app.so), which\n"
        "                    exports a struct unixcorn_app named SYMBOL (default\n"
        "                    unixcorn_app); see unixcorn/app.h and the\n"
        "                    README's \"Writing an app\". HUP loads it anew.\n\n"
        "Options:\n",
        out);
  for (size_t i = 0; i < NOPTIONS; i++) {
    const struct option_spec *o = &options[i];
    if (o->help == NULL)
      continue;
    char left[80];
    int n = o->short_name
                ? snprintf(left, sizeof left, "  -%c, --%s", o->short_name, o->name)
                : snprintf(left, sizeof left, "      --%s", o->name);
    for (size_t j = i + 1; j < NOPTIONS; j++)
      if (options[j].id == o->id && options[j].help == NULL)
        n += snprintf(left + n, sizeof left - (size_t)n, ", --%s", options[j].name);
    if (o->arg)
      snprintf(left + n, sizeof left - (size_t)n, " %s", o->arg);
    fprintf(out, "%s\n", left);
    for (const char *line = o->help; *line;) {
      const char *nl = strchr(line, '\n');
      int len = nl ? (int)(nl - line) : (int)strlen(line);
      fprintf(out, "          %.*s\n", len, line);
      line += len + (nl != NULL);
    }
  }
  fputs("\nSignals to the master (as Gunicorn): TERM graceful stop, INT and QUIT quick\n"
        "stop, HUP read the configuration again, start new workers with it, then\n"
        "retire the old, TTIN and TTOU one worker more or less, USR1 reopen log\n"
        "files, USR2 upgrade the binary in place, WINCH stop the workers but keep the\n"
        "master (ignored in a terminal, which sends WINCH when its window is\n"
        "resized).\n",
        out);
}

const struct option_spec *config_find_long(const char *name, size_t len) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (strlen(options[i].name) == len && strncmp(options[i].name, name, len) == 0)
      return &options[i];
  return NULL;
}

const struct option_spec *config_find_short(char c) {
  for (size_t i = 0; i < NOPTIONS; i++)
    if (options[i].short_name == c)
      return &options[i];
  return NULL;
}

const char *config_option_name(const struct option_spec *o) {
  return o->name;
}

bool config_option_is_switch(const struct option_spec *o) {
  return o->arg == NULL;
}

bool config_same_option(const struct option_spec *a, const struct option_spec *b) {
  return a->id == b->id;
}

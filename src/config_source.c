/* Where a configuration comes from, and which source wins: the file named by
 * --config, then UNIXCORN_CMD_ARGS, then the command line, each overriding
 * the ones before flag by flag. A repeatable flag (--bind) is taken whole
 * from the strongest source that gives it, as Gunicorn does, rather than
 * merged across sources.
 *
 * Each source is checked alone as it is read, so an error names its file and
 * line, or the variable. What wins is kept as the configuration's settings:
 * the master hands them to the processes it starts as their command line, and
 * compares them on a reload. */
#include "config.h"
#include "config_impl.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_WORDS (2 * CONFIG_MAX_SETTINGS)

enum text { TEXT_FILE, TEXT_ENV, TEXT_KEPT };

/* A source being read: where it is, for errors, and the source applied alone
 * to scratch, which checks each value as it comes. */
struct source {
  enum config_origin origin;
  const char *path;
  unsigned line;
  struct config *scratch;
  struct config_settings *set;
  bool app_given; /* the one positional argument, APP, came */
};

/* Names where the error is: "--flag: why", "UNIXCORN_CMD_ARGS: --flag: why",
 * "FILE:LINE: flag: why" (flag NULL: the line as a whole). */
static enum config_result fail(const struct source *src, const char *flag,
                               const char *why, char *err, size_t errlen) {
  char where[CONFIG_ERR_MAX] = "";
  if (src->origin == CONFIG_FROM_FILE)
    snprintf(where, sizeof where, "%.300s:%u: ", src->path, src->line);
  else if (src->origin == CONFIG_FROM_ENV)
    snprintf(where, sizeof where, CONFIG_ENV_ARGS ": ");
  snprintf(err, errlen, "%s%s%s%s", where, flag ? flag : "", flag ? ": " : "", why);
  return CONFIG_ERROR;
}

static enum config_result add(struct source *src, const struct option_spec *o,
                              const char *value, const char *flag, char *err,
                              size_t errlen) {
  char why[CONFIG_ERR_MAX];
  enum config_result r = config_apply(src->scratch, o, value, why, sizeof why);
  if (r == CONFIG_ERROR)
    return fail(src, flag, why, err, errlen);
  if (r != CONFIG_OK)
    return r; /* --help, --version */
  if (src->set->n == CONFIG_MAX_SETTINGS)
    return fail(src, flag, "too many settings", err, errlen);
  src->set->items[src->set->n++] =
      (struct config_setting){o, value, src->origin, src->line};
  return CONFIG_OK;
}

/* ---- flags: the command line and UNIXCORN_CMD_ARGS ---- */

/* Splits args[*i] into its option and value (from "=VALUE", the rest of a
 * short cluster, or the next argument) and adds it. */
static enum config_result add_flag(struct source *src, int n, char **args, int *i,
                                   char *err, size_t errlen) {
  const char *arg = args[*i], *value = NULL;
  const struct option_spec *o = NULL;
  char flag[80];
  if (arg[0] == '-' && arg[1] == '-' && arg[2] != '\0') {
    const char *eq = strchr(arg + 2, '=');
    size_t len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
    o = config_find_long(arg + 2, len);
    value = eq ? eq + 1 : NULL;
    snprintf(flag, sizeof flag, "--%.*s", (int)(len < 60 ? len : 60), arg + 2);
  } else if (arg[0] == '-' && arg[1] != '\0' && arg[1] != '-') {
    o = config_find_short(arg[1]);
    value = arg[2] ? arg + 2 : NULL;
    snprintf(flag, sizeof flag, "-%c", arg[1]);
  } else if (!src->app_given) { /* the one positional argument: APP */
    src->app_given = true;
    return add(src, config_find_long("app", 3), arg, "APP", err, errlen);
  } else {
    snprintf(flag, sizeof flag, "%.60s", arg);
    return fail(src, flag, "a second APP (unixcorn serves one application)", err, errlen);
  }
  if (o == NULL)
    return fail(src, flag, "unknown option; see unixcorn --help", err, errlen);
  if (config_option_is_switch(o) && value != NULL)
    return fail(src, flag, "takes no value", err, errlen);
  if (!config_option_is_switch(o) && value == NULL) {
    if (*i + 1 >= n)
      return fail(src, flag, "missing value", err, errlen);
    value = args[++*i];
  }
  snprintf(flag, sizeof flag, "--%s", config_option_name(o));
  return add(src, o, value, flag, err, errlen);
}

static enum config_result add_flags(struct source *src, int n, char **args, char *err,
                                    size_t errlen) {
  for (int i = 0; i < n; i++) {
    enum config_result r = add_flag(src, n, args, &i, err, errlen);
    if (r != CONFIG_OK)
      return r;
  }
  return CONFIG_OK;
}

/* A backslash outside single quotes keeps the next character; inside double
 * quotes only before $ ` " \ or a newline, as in sh. A newline so escaped
 * joins lines. Returns the character to keep, or '\0' for none. */
static char unescape(char quote, char **r) {
  char next = **r;
  if (next == '\0' || (quote == '"' && strchr("$`\"\\\n", next) == NULL))
    return '\\';
  (*r)++;
  return next == '\n' ? '\0' : next;
}

int config_split_words(char *text, char **words, int max, char *why, size_t whylen) {
  char *r = text, *w = text;
  int n = 0;
  for (;;) {
    while (isspace((unsigned char)*r))
      r++;
    if (*r == '\0')
      return n;
    if (n == max)
      return errmsg(why, whylen, "more than %d words", max);
    char quote = 0;
    words[n++] = w;
    while (*r != '\0' && (quote || !isspace((unsigned char)*r))) {
      char c = *r++;
      if (c == quote)
        quote = 0;
      else if (quote == 0 && (c == '\'' || c == '"'))
        quote = c;
      else if (c == '\\' && quote != '\'' && (c = unescape(quote, &r)) == '\0')
        continue;
      else
        *w++ = c;
    }
    if (quote)
      return errmsg(why, whylen, "a %c quote is not closed", quote);
    if (*r != '\0')
      r++; /* w may stand on the space that ended the word */
    *w++ = '\0';
  }
}

static enum config_result add_env(struct source *src, const char *env_args, char *err,
                                  size_t errlen) {
  char *words[MAX_WORDS], why[CONFIG_ERR_MAX];
  char *text = strdup(env_args);
  if (text == NULL)
    return fail(src, NULL, "out of memory", err, errlen);
  src->set->texts[TEXT_ENV] = text;
  int n = config_split_words(text, words, MAX_WORDS, why, sizeof why);
  if (n < 0)
    return fail(src, NULL, why, err, errlen);
  return add_flags(src, n, words, err, errlen);
}

/* ---- the file: "flag = value" lines ---- */

static char *trim(char *s) {
  while (isspace((unsigned char)*s))
    s++;
  char *end = s + strlen(s);
  while (end > s && isspace((unsigned char)end[-1]))
    *--end = '\0';
  return s;
}

/* '#' at the start or after a space begins a comment. */
static void cut_comment(char *line) {
  for (char *p = line; *p != '\0'; p++) {
    if (*p == '#' && (p == line || isspace((unsigned char)p[-1]))) {
      *p = '\0';
      return;
    }
  }
}

static enum config_result add_line(struct source *src, char *line, char *err,
                                   size_t errlen) {
  char why[CONFIG_ERR_MAX];
  cut_comment(line);
  line = trim(line);
  if (*line == '\0')
    return CONFIG_OK;
  char *eq = strchr(line, '=');
  if (eq == NULL)
    return fail(src, NULL, "expected 'flag = value', e.g. 'workers = 4'", err, errlen);
  *eq = '\0';
  char *key = trim(line), *value = trim(eq + 1);
  const struct option_spec *o = config_find_long(key, strlen(key));
  if (key[0] == '-')
    snprintf(why, sizeof why, "write flags without their dashes, as '%s = ...'",
             key + strspn(key, "-"));
  else if (o == NULL)
    snprintf(why, sizeof why, "unknown setting; see unixcorn --help");
  else if (config_option_scope(o) == SCOPE_COMMAND)
    snprintf(why, sizeof why, "only on the command line or in " CONFIG_ENV_ARGS);
  else
    return add(src, o, value, key, err, errlen);
  return fail(src, key, why, err, errlen);
}

/* The whole file at once (getdelim up to a NUL, which a text file has
 * none of), split into lines in place. */
static enum config_result add_file(struct source *src, char *err, size_t errlen) {
  char *text = NULL;
  size_t cap = 0;
  FILE *f = fopen(src->path, "re");
  ssize_t len = f != NULL ? getdelim(&text, &cap, '\0', f) : -1;
  if (f == NULL || (len < 0 && ferror(f))) {
    snprintf(err, errlen, "--config: cannot read %.300s: %s", src->path, strerror(errno));
    free(text);
    if (f != NULL)
      fclose(f);
    return CONFIG_ERROR;
  }
  fclose(f);
  src->set->texts[TEXT_FILE] = text;
  for (char *line = len > 0 ? text : NULL, *next; line != NULL; line = next) {
    next = strchr(line, '\n');
    if (next != NULL)
      *next++ = '\0';
    src->line++;
    enum config_result r = add_line(src, line, err, errlen);
    if (r != CONFIG_OK)
      return r;
  }
  return CONFIG_OK;
}

/* ---- precedence ---- */

static const char *last_value(const struct config_settings *set,
                              const struct option_spec *o, enum config_origin origin) {
  const char *v = NULL;
  for (size_t i = 0; i < set->n; i++)
    if (set->items[i].origin == origin && config_same_option(set->items[i].opt, o))
      v = set->items[i].value;
  return v;
}

static bool overridden(const struct config_settings *set,
                       const struct config_setting *s) {
  for (size_t i = 0; i < set->n; i++)
    if (set->items[i].origin > s->origin && config_same_option(set->items[i].opt, s->opt))
      return true;
  return false;
}

/* Keeps each flag's settings from the strongest source that gives it. */
static void keep_winners(struct config_settings *set) {
  size_t n = 0;
  for (size_t i = 0; i < set->n; i++)
    if (!overridden(set, &set->items[i]))
      set->items[n++] = set->items[i];
  set->n = n;
}

/* cfg from the defaults and set, which cfg then owns. Each setting was
 * checked as it was read. */
static void build(struct config *cfg, const struct config_settings *set) {
  char why[CONFIG_ERR_MAX];
  config_defaults(cfg);
  for (size_t i = 0; i < set->n; i++)
    config_apply(cfg, set->items[i].opt, set->items[i].value, why, sizeof why);
  config_add_default_bind(cfg);
  cfg->settings = *set;
}

static void free_texts(struct config_settings *set) {
  for (size_t i = 0; i < sizeof set->texts / sizeof set->texts[0]; i++) {
    free(set->texts[i]);
    set->texts[i] = NULL;
  }
}

void config_free(struct config *cfg) {
  free_texts(&cfg->settings);
  cfg->settings.n = 0;
}

enum config_result config_parse(struct config *cfg, int argc, char **argv, char *err,
                                size_t errlen) {
  struct source src = {.origin = CONFIG_FROM_ARGS, .scratch = cfg, .set = &cfg->settings};
  enum config_result r = add_flags(&src, argc - 1, argv + 1, err, errlen);
  if (r == CONFIG_OK)
    config_add_default_bind(cfg);
  return r;
}

/* Reads one source into set, checked alone: text is the file's path, or the
 * variable's value. */
static enum config_result read_source(struct config_settings *set,
                                      enum config_origin origin, const char *text,
                                      char **argv, int argc, char *err, size_t errlen) {
  struct config scratch;
  config_defaults(&scratch);
  struct source src = {.origin = origin, .path = text, .scratch = &scratch, .set = set};
  switch (origin) {
  case CONFIG_FROM_FILE: return add_file(&src, err, errlen);
  case CONFIG_FROM_ENV: return add_env(&src, text, err, errlen);
  default: return add_flags(&src, argc - 1, argv + 1, err, errlen);
  }
}

enum config_result config_load(struct config *cfg, int argc, char **argv,
                               const char *env_args, char *err, size_t errlen) {
  struct config_settings set = {.n = 0};
  const struct option_spec *config_flag = config_find_long("config", 6);
  config_defaults(cfg);
  enum config_result r =
      read_source(&set, CONFIG_FROM_ARGS, NULL, argv, argc, err, errlen);
  if (r == CONFIG_OK && env_args != NULL)
    r = read_source(&set, CONFIG_FROM_ENV, env_args, NULL, 0, err, errlen);
  const char *path = last_value(&set, config_flag, CONFIG_FROM_ARGS);
  if (path == NULL)
    path = last_value(&set, config_flag, CONFIG_FROM_ENV);
  if (r == CONFIG_OK && path != NULL)
    r = read_source(&set, CONFIG_FROM_FILE, path, NULL, 0, err, errlen);
  if (r != CONFIG_OK) {
    free_texts(&set);
    return r;
  }
  keep_winners(&set);
  build(cfg, &set);
  return CONFIG_OK;
}

/* ---- what a reload keeps, what children get ---- */

static bool same_text(const char *a, const char *b) {
  return a == b || (a != NULL && b != NULL && strcmp(a, b) == 0);
}

/* The index of the next setting of o in set from i on; set->n if none. */
static size_t next_of(const struct config_settings *set, const struct option_spec *o,
                      size_t i) {
  while (i < set->n && !config_same_option(set->items[i].opt, o))
    i++;
  return i;
}

static bool same_values(const struct config_settings *a, const struct config_settings *b,
                        const struct option_spec *o) {
  for (size_t i = next_of(a, o, 0), j = next_of(b, o, 0);;
       i = next_of(a, o, i + 1), j = next_of(b, o, j + 1)) {
    if (i == a->n || j == b->n)
      return i == a->n && j == b->n;
    if (!same_text(a->items[i].value, b->items[j].value))
      return false;
  }
}

static bool fixed(const struct config_setting *s) {
  return config_option_scope(s->opt) == SCOPE_FIXED;
}

/* Appends to changed each fixed flag of a whose values differ in b, once;
 * those b has too only when b is not done (compared from its side already). */
static void list_changed(const struct config_settings *a, const struct config_settings *b,
                         bool b_done, char *changed, size_t len) {
  for (size_t i = 0; i < a->n; i++) {
    const struct option_spec *o = a->items[i].opt;
    if (!fixed(&a->items[i]) || next_of(a, o, 0) < i || same_values(a, b, o) ||
        (b_done && next_of(b, o, 0) < b->n))
      continue;
    size_t used = strlen(changed);
    snprintf(changed + used, len - used, "%s--%s", used ? ", " : "",
             config_option_name(o));
  }
}

/* Copies the fixed settings of from into set, their values into kept. */
static void copy_fixed(struct config_settings *set, const struct config_settings *from,
                       char *kept) {
  for (size_t i = 0; i < from->n && set->n < CONFIG_MAX_SETTINGS; i++) {
    const struct config_setting *s = &from->items[i];
    if (!fixed(s))
      continue;
    set->items[set->n] = *s;
    if (s->value != NULL) {
      set->items[set->n].value = strcpy(kept, s->value);
      kept += strlen(kept) + 1;
    }
    set->n++;
  }
}

int config_keep_fixed(struct config *fresh, const struct config *old, char *changed,
                      size_t changedlen) {
  const struct config_settings *was = &old->settings;
  struct config_settings set = fresh->settings;
  size_t bytes = 1;
  changed[0] = '\0';
  list_changed(&set, was, false, changed, changedlen);
  list_changed(was, &set, true, changed, changedlen);
  for (size_t i = 0; i < was->n; i++)
    if (fixed(&was->items[i]) && was->items[i].value != NULL)
      bytes += strlen(was->items[i].value) + 1;
  char *kept = malloc(bytes);
  if (kept == NULL)
    return -1;
  set.n = 0;
  for (size_t i = 0; i < fresh->settings.n; i++)
    if (!fixed(&fresh->settings.items[i]))
      set.items[set.n++] = fresh->settings.items[i];
  copy_fixed(&set, was, kept);
  free(set.texts[TEXT_KEPT]); /* held only fixed values, all replaced */
  set.texts[TEXT_KEPT] = kept;
  build(fresh, &set);
  return 0;
}

/* Switches go bare when on, and not at all when off (their default). */
static bool handed_on(const struct config_setting *s) {
  return config_option_scope(s->opt) != SCOPE_COMMAND &&
         !(config_option_is_switch(s->opt) && same_text(s->value, "false"));
}

char **config_child_argv(const struct config *cfg, const char *argv0) {
  const struct config_settings *set = &cfg->settings;
  size_t bytes = (set->n + 2) * sizeof(char *) + strlen(argv0) + 1;
  for (size_t i = 0; i < set->n; i++)
    bytes += strlen(config_option_name(set->items[i].opt)) + 4 +
             (set->items[i].value ? strlen(set->items[i].value) : 0);
  char **argv = malloc(bytes);
  if (argv == NULL)
    return NULL;
  char *p = (char *)(argv + set->n + 2);
  size_t n = 0;
  argv[n++] = strcpy(p, argv0);
  p += strlen(p) + 1;
  for (size_t i = 0; i < set->n; i++) {
    const struct config_setting *s = &set->items[i];
    if (!handed_on(s))
      continue;
    bool bare = config_option_is_switch(s->opt);
    argv[n++] = p;
    p += sprintf(p, "--%s%s%s", config_option_name(s->opt), bare ? "" : "=",
                 bare ? "" : s->value) +
         1;
  }
  argv[n] = NULL;
  return argv;
}

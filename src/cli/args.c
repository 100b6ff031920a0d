/* Option parsing and value conversions with range checks. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int cli_error(int code, const char *format, ...)
{
  va_list args;
  va_start(args, format);
  fputs("bn: error: ", stderr);
  vfprintf(stderr, format, args);
  fputc('\n', stderr);
  va_end(args);
  return code;
}

int cli_parse(int argc, char **argv, int first, const cli_option *opts, const char **positional,
              int max_positional, int *npositional, int *help)
{
  int only_positional = 0;
  *npositional = 0;
  *help = 0;
  for (int i = first; i < argc; i++) {
    const char *arg = argv[i];
    if (only_positional || arg[0] != '-' || strcmp(arg, "-") == 0) {
      if (*npositional >= max_positional)
        return cli_error(CLI_USAGE, "unexpected argument '%s'", arg);
      positional[(*npositional)++] = arg;
      continue;
    }
    if (strcmp(arg, "--") == 0) {
      only_positional = 1;
      continue;
    }
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      *help = 1;
      continue;
    }
    if (strncmp(arg, "--", 2) != 0)
      return cli_error(CLI_USAGE, "unknown option '%s' (options start with --)", arg);
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t len = eq ? (size_t)(eq - name) : strlen(name);
    const cli_option *o = opts;
    while (o->name && !(strlen(o->name) == len && strncmp(o->name, name, len) == 0))
      o++;
    if (!o->name)
      return cli_error(CLI_USAGE, "unknown option '--%.*s' (see --help)", (int)len, name);
    if (!o->takes_value) {
      if (eq)
        return cli_error(CLI_USAGE, "option '--%s' takes no value", o->name);
      *o->flag = 1;
      continue;
    }
    if (eq) {
      *o->value = eq + 1;
    } else {
      if (i + 1 >= argc)
        return cli_error(CLI_USAGE, "option '--%s' needs a value", o->name);
      *o->value = argv[++i];
    }
  }
  return CLI_OK;
}

int cli_u64(const char *option, const char *text, uint64_t *out)
{
  char *end;
  errno = 0;
  if (!text || !*text || *text == '-' || *text == '+')
    return cli_error(CLI_USAGE, "%s: '%s' is not a non-negative integer", option,
                     text ? text : "");
  unsigned long long v = strtoull(text, &end, 10);
  if (*end || errno == ERANGE)
    return cli_error(CLI_USAGE, "%s: '%s' is not a non-negative integer", option, text);
  *out = (uint64_t)v;
  return CLI_OK;
}

int cli_size(const char *option, const char *text, size_t lo, size_t hi, size_t *out)
{
  uint64_t v = 0;
  if (cli_u64(option, text, &v) != CLI_OK)
    return CLI_USAGE;
  if (v < lo || v > hi)
    return cli_error(CLI_USAGE, "%s: %s is out of range [%zu, %zu]", option, text, lo, hi);
  *out = (size_t)v;
  return CLI_OK;
}

int cli_double(const char *option, const char *text, double lo, double hi, int lo_open,
               double *out)
{
  char *end;
  errno = 0;
  double v = text && *text ? strtod(text, &end) : NAN;
  if (!text || !*text || *end || errno == ERANGE || !isfinite(v))
    return cli_error(CLI_USAGE, "%s: '%s' is not a finite number", option, text ? text : "");
  if (v < lo || v > hi || (lo_open && v == lo))
    return cli_error(CLI_USAGE, "%s: %s is out of range %c%g, %g]", option, text,
                     lo_open ? '(' : '[', lo, hi);
  *out = v;
  return CLI_OK;
}

int cli_size_list(const char *option, const char *text, size_t *sizes, size_t max, size_t *count)
{
  *count = 0;
  if (!*text || strcmp(text, "none") == 0)
    return CLI_OK;
  const char *p = text;
  while (1) {
    char item[32];
    size_t len = strcspn(p, ",");
    if (len == 0 || len >= sizeof item)
      return cli_error(CLI_USAGE, "%s: '%s' is not a comma-separated list of sizes", option,
                       text);
    if (*count >= max)
      return cli_error(CLI_USAGE, "%s: at most %zu hidden layers", option, max);
    memcpy(item, p, len);
    item[len] = '\0';
    if (cli_size(option, item, 1, 1u << 20, &sizes[*count]) != CLI_OK)
      return CLI_USAGE;
    (*count)++;
    if (!p[len])
      return CLI_OK;
    p += len + 1;
  }
}

int cli_choice(const char *option, const char *text, const char *const *names, int n)
{
  for (int i = 0; i < n; i++)
    if (strcmp(text, names[i]) == 0)
      return i;
  fprintf(stderr, "bn: error: %s: unknown value '%s' (one of:", option, text);
  for (int i = 0; i < n; i++)
    fprintf(stderr, " %s", names[i]);
  fputs(")\n", stderr);
  return -1;
}

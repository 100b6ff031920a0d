/* CSV input for `bn predict`: one sample per row, comma-separated numbers
 * taken as they are (no scaling). Empty lines are skipped; a first row that
 * does not parse as numbers is a header. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* Parse one row into row[0..features); returns the number of values, or -1
 * when a field is not a finite number (*bad points at it). */
static long parse_row(char *line, size_t features, float *row, char **bad)
{
  size_t n = 0;
  char *p = line;
  while (1) {
    while (*p == ' ' || *p == '\t')
      p++;
    char *end;
    errno = 0;
    float v = strtof(p, &end);
    if (end == p || errno == ERANGE || !isfinite(v)) {
      *bad = p;
      return -1;
    }
    if (n < features)
      row[n] = v;
    n++;
    p = end;
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n')
      p++;
    if (*p == '\0')
      return (long)n;
    if (*p != ',') {
      *bad = p;
      return -1;
    }
    p++;
  }
}

int csv_read(const char *path, size_t features, float **x, size_t *count, char *err,
             size_t errcap)
{
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  size_t cap = 1024, n = 0, lineno = 0;
  float *data = malloc(cap * features * sizeof *data);
  char *line = NULL;
  size_t linecap = 0;
  int rc = CLI_OK;
  if (!data) {
    snprintf(err, errcap, "%s: out of memory", path);
    rc = CLI_FAIL;
  }
  while (rc == CLI_OK && getline(&line, &linecap, f) >= 0) {
    lineno++;
    if (strspn(line, " \t\r\n") == strlen(line))
      continue;
    if (n == cap) {
      float *bigger = cap < SIZE_MAX / 2 / features / sizeof *data
                          ? realloc(data, 2 * cap * features * sizeof *data)
                          : NULL;
      if (!bigger) {
        snprintf(err, errcap, "%s: out of memory", path);
        rc = CLI_FAIL;
        break;
      }
      data = bigger;
      cap *= 2;
    }
    char *bad = NULL;
    long got = parse_row(line, features, data + n * features, &bad);
    if (got < 0 && n == 0 && lineno == 1)
      continue; /* header */
    if (got < 0) {
      snprintf(err, errcap, "%s:%zu: '%.20s' is not a finite number", path, lineno, bad);
      rc = CLI_FAIL;
    } else if ((size_t)got != features) {
      snprintf(err, errcap, "%s:%zu: %ld values, the model takes %zu", path, lineno, got,
               features);
      rc = CLI_FAIL;
    } else {
      n++;
    }
  }
  if (rc == CLI_OK && ferror(f)) {
    snprintf(err, errcap, "%s: read error", path);
    rc = CLI_FAIL;
  }
  if (rc == CLI_OK && n == 0) {
    snprintf(err, errcap, "%s: no samples", path);
    rc = CLI_FAIL;
  }
  free(line);
  if (f != stdin)
    fclose(f);
  if (rc != CLI_OK) {
    free(data);
    return rc;
  }
  *x = data;
  *count = n;
  return CLI_OK;
}

/* CSV tables: one sample per row, comma-separated numbers, optionally one
 * label column and a header row.
 *
 * Nothing is dropped or added silently. The first row is a header only when
 * one of its fields is text (non-empty and not a number) or --header says
 * so; a first row of numbers is data, even when a number is NaN, out of
 * range or a field is empty (then it is an error like any other row). Every
 * row has the first row's field count. A UTF-8 byte-order mark at the
 * start, CRLF line ends, and blank lines before the first row and at the
 * end of the file are accepted; a blank line between rows is an error, so
 * sample i is always line first_line + i. Errors name the file and the
 * line, counting every line of the file. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* The fields of one line, split in place (quotes and blanks trimmed). */
typedef struct fields {
  char **at;
  size_t count, cap;
} fields;

static char *trim(char *s)
{
  while (*s == ' ' || *s == '\t')
    s++;
  size_t len = strlen(s);
  while (len && (s[len - 1] == ' ' || s[len - 1] == '\t'))
    s[--len] = '\0';
  if (len >= 2 && s[0] == '"' && s[len - 1] == '"') {
    s[len - 1] = '\0';
    s++;
  }
  return s;
}

static int split(char *line, fields *f)
{
  f->count = 0;
  for (char *p = line;; p++) {
    if (f->count == f->cap) {
      size_t cap = f->cap ? 2 * f->cap : 64;
      char **bigger = cap < SIZE_MAX / sizeof *bigger ? realloc(f->at, cap * sizeof *bigger) : NULL;
      if (!bigger)
        return 0;
      f->at = bigger;
      f->cap = cap;
    }
    char *comma = strchr(p, ',');
    if (comma)
      *comma = '\0';
    f->at[f->count++] = trim(p);
    if (!comma)
      return 1;
    p = comma;
  }
}

/* A field that strtod reads completely (inf and nan included). */
static int is_number(const char *s, double *value)
{
  char *end;
  errno = 0;
  *value = strtod(s, &end);
  return end != s && *end == '\0';
}

static int is_blank(const char *s)
{
  return s[strspn(s, " \t")] == '\0';
}

/* The column --label names: a header name, or a position (0 first, -1 last). */
static int label_column(const char *label, const fields *first, int has_header, long *column,
                        const char *path, size_t line, char *err, size_t errcap)
{
  char *end;
  errno = 0;
  long index = strtol(label, &end, 10);
  long ncols = (long)first->count;
  if (end != label && *end == '\0' && errno == 0) {
    if (index < -ncols || index >= ncols) {
      snprintf(err, errcap, "%s: --label %s: the rows have %ld fields (columns 0 to %ld, or -1 "
               "for the last)", path, label, ncols, ncols - 1);
      return CLI_FAIL;
    }
    *column = index < 0 ? ncols + index : index;
    return CLI_OK;
  }
  if (!has_header) {
    snprintf(err, errcap, "%s: --label %s names a column, but the file has no header row "
             "(give the column's position, 0 first, -1 last)", path, label);
    return CLI_FAIL;
  }
  for (size_t c = 0; c < first->count; c++)
    if (strcmp(first->at[c], label) == 0) {
      *column = (long)c;
      return CLI_OK;
    }
  snprintf(err, errcap, "%s:%zu: no column is named '%s'", path, line, label);
  return CLI_FAIL;
}

/* One field as a float feature or a double label; the reason on failure. */
static const char *parse_value(const char *s, double *v)
{
  if (!*s)
    return "is empty (a doubled or trailing comma?)";
  if (!is_number(s, v))
    return "is not a number";
  if (errno == ERANGE && fabs(*v) > 1)
    *v = DBL_MAX; /* beyond double: out of float's range too, not "infinite" */
  /* Subnormal and underflowing values are kept (as float they round towards 0). */
  return value_problem(*v);
}

/* Growing arrays of features and labels. */
typedef struct grow {
  float *x;
  double *labels;
  size_t n, cap;
} grow;

static int reserve(grow *g, size_t features, int with_label)
{
  if (g->n < g->cap)
    return 1;
  size_t cap = g->cap ? 2 * g->cap : 1024;
  if (cap > SIZE_MAX / sizeof(double) / (features + 1))
    return 0;
  float *x = realloc(g->x, cap * features * sizeof *x);
  if (!x)
    return 0;
  g->x = x;
  if (with_label) {
    double *l = realloc(g->labels, cap * sizeof *l);
    if (!l)
      return 0;
    g->labels = l;
  }
  g->cap = cap;
  return 1;
}

int csv_read(const char *path, csv_header header, const char *label, table *out, char *err,
             size_t errcap)
{
  memset(out, 0, sizeof *out);
  FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "r");
  if (!f) {
    snprintf(err, errcap, "%s: %s", path, strerror(errno));
    return CLI_FAIL;
  }
  char *line = NULL;
  size_t linecap = 0, lineno = 0, blank_line = 0, ncols = 0, first_data = 0;
  long label_col = -1;
  fields fl = {NULL, 0, 0};
  grow g = {NULL, NULL, 0, 0};
  int rc = CLI_OK;
  ssize_t len;
  while (rc == CLI_OK && (len = getline(&line, &linecap, f)) >= 0) {
    lineno++;
    char *text = line;
    if ((size_t)len != strlen(line)) {
      snprintf(err, errcap, "%s:%zu: holds a NUL byte (not a text file?)", path, lineno);
      rc = CLI_FAIL;
      break;
    }
    if (lineno == 1 && strncmp(text, "\xEF\xBB\xBF", 3) == 0)
      text += 3; /* UTF-8 byte-order mark */
    size_t tl = strlen(text);
    if (tl && text[tl - 1] == '\n')
      text[--tl] = '\0';
    if (tl && text[tl - 1] == '\r')
      text[--tl] = '\0';
    if (is_blank(text)) {
      if (first_data && !blank_line)
        blank_line = lineno;
      continue;
    }
    if (blank_line) {
      snprintf(err, errcap, "%s:%zu: blank line between rows (blank lines are accepted only "
               "before the first row and at the end)", path, blank_line);
      rc = CLI_FAIL;
      break;
    }
    if (!split(text, &fl)) {
      snprintf(err, errcap, "%s:%zu: out of memory", path, lineno);
      rc = CLI_FAIL;
      break;
    }
    if (!first_data) { /* the first row */
      ncols = fl.count;
      int is_header = header == CSV_HEADER_YES;
      double v;
      for (size_t c = 0; header == CSV_HEADER_AUTO && c < fl.count; c++)
        if (*fl.at[c] && !is_number(fl.at[c], &v))
          is_header = 1;
      if (label && label_column(label, &fl, is_header, &label_col, path, lineno, err,
                                errcap) != CLI_OK) {
        rc = CLI_FAIL;
        break;
      }
      if (ncols - (label_col >= 0) == 0) {
        snprintf(err, errcap, "%s:%zu: no feature column (only the label)", path, lineno);
        rc = CLI_FAIL;
        break;
      }
      first_data = is_header ? lineno + 1 : lineno;
      if (is_header)
        continue;
    }
    if (fl.count != ncols) {
      snprintf(err, errcap, "%s:%zu: %zu fields, the first row has %zu", path, lineno, fl.count,
               ncols);
      rc = CLI_FAIL;
      break;
    }
    size_t features = ncols - (label_col >= 0);
    if (!reserve(&g, features, label_col >= 0)) {
      snprintf(err, errcap, "%s:%zu: out of memory", path, lineno);
      rc = CLI_FAIL;
      break;
    }
    float *row = g.x + g.n * features;
    for (size_t c = 0; c < ncols; c++) {
      double v;
      const char *why = parse_value(fl.at[c], &v);
      if (why) {
        snprintf(err, errcap, "%s:%zu: field %zu ('%.24s') %s", path, lineno, c + 1, fl.at[c],
                 why);
        rc = CLI_FAIL;
        break;
      }
      if ((long)c == label_col)
        g.labels[g.n] = v;
      else
        *row++ = (float)v;
    }
    g.n++;
  }
  if (rc == CLI_OK && ferror(f)) {
    snprintf(err, errcap, "%s: read error", path);
    rc = CLI_FAIL;
  }
  if (rc == CLI_OK && g.n == 0) {
    snprintf(err, errcap, "%s: no samples%s", path, first_data ? " (only a header row)" : "");
    rc = CLI_FAIL;
  }
  free(line);
  free(fl.at);
  if (f != stdin)
    fclose(f);
  if (rc != CLI_OK) {
    free(g.x);
    free(g.labels);
    return rc;
  }
  out->x = g.x;
  out->labels = label_col >= 0 ? g.labels : NULL;
  out->n = g.n;
  out->features = ncols - (label_col >= 0);
  out->label_cols = label_col >= 0;
  out->first_line = first_data;
  out->path = path;
  out->label_path = path;
  return CLI_OK;
}

/* Per-epoch metrics: kept in memory for --plot, written as CSV for
 * --history, read back by `bn plot`. The CSV's held-out columns are named
 * test_* or val_* after the set they were measured on. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

/* "epoch,train_loss,train_accuracy,HELD_loss,HELD_accuracy,seconds" */
static void header_text(const char *held_out, char *out, size_t cap)
{
  snprintf(out, cap, "epoch,train_loss,train_accuracy,%s_loss,%s_accuracy,seconds", held_out,
           held_out);
}

int history_append(run_history *h, const run_history_row *row)
{
  if (h->n == h->cap) {
    size_t cap = h->cap ? 2 * h->cap : 64;
    run_history_row *rows = realloc(h->rows, cap * sizeof *rows);
    if (!rows)
      return cli_error(CLI_FAIL, "out of memory keeping the history");
    h->rows = rows;
    h->cap = cap;
  }
  h->rows[h->n++] = *row;
  return CLI_OK;
}

void history_free(run_history *h)
{
  free(h->rows);
  h->rows = NULL;
  h->n = h->cap = 0;
}

void history_write_header(FILE *f, const char *held_out)
{
  char header[128];
  header_text(held_out, header, sizeof header);
  fprintf(f, "%s\n", header);
}

void history_write_row(FILE *f, const run_history_row *r)
{
  fprintf(f, "%zu,%.6f,%.6f,%.6f,%.6f,%.3f\n", r->epoch, r->train_loss, r->train_accuracy,
          r->held_loss, r->held_accuracy, r->seconds);
}

static int header_matches(const char *line, const char *held_out)
{
  char expected[128];
  header_text(held_out, expected, sizeof expected);
  return strcmp(line, expected) == 0;
}

int history_read(const char *path, run_history *h)
{
  memset(h, 0, sizeof *h);
  FILE *f = fopen(path, "r");
  if (!f)
    return cli_error(CLI_FAIL, "cannot read the history %s: %s", path, strerror(errno));
  char line[512];
  int rc = CLI_FAIL;
  size_t lineno = 1;
  if (!fgets(line, sizeof line, f)) {
    cli_error(CLI_FAIL, "%s is empty (expected a CSV written by bn train --history)", path);
    goto out;
  }
  line[strcspn(line, "\r\n")] = '\0';
  if (header_matches(line, "test"))
    strcpy(h->held_out, "test");
  else if (header_matches(line, "val"))
    strcpy(h->held_out, "val");
  else {
    cli_error(CLI_FAIL, "%s:1: not a header written by bn train --history: '%.60s'", path, line);
    goto out;
  }
  while (fgets(line, sizeof line, f)) {
    lineno++;
    line[strcspn(line, "\r\n")] = '\0';
    if (!*line)
      continue;
    run_history_row r;
    int used = 0;
    if (sscanf(line, "%zu,%lf,%lf,%lf,%lf,%lf%n", &r.epoch, &r.train_loss, &r.train_accuracy,
               &r.held_loss, &r.held_accuracy, &r.seconds, &used) != 6 ||
        line[used] || !isfinite(r.train_loss) || !isfinite(r.train_accuracy) ||
        isinf(r.held_loss) || isinf(r.held_accuracy)) {
      /* held-out values are nan when the run had no held-out set */
      cli_error(CLI_FAIL, "%s:%zu: expected 6 finite numbers (nan allowed in the held-out "
                "columns): '%.60s'", path, lineno, line);
      goto out;
    }
    if (history_append(h, &r) != CLI_OK)
      goto out;
  }
  if (ferror(f)) {
    cli_error(CLI_FAIL, "cannot read the history %s: %s", path, strerror(errno));
    goto out;
  }
  if (h->n == 0) {
    cli_error(CLI_FAIL, "%s has a header but no epochs", path);
    goto out;
  }
  rc = CLI_OK;
out:
  fclose(f);
  if (rc != CLI_OK)
    history_free(h);
  return rc;
}

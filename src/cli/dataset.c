/* Datasets: IDX directories (DIR/PREFIX-images-idx3-ubyte(.gz) and
 * DIR/PREFIX-labels-idx1-ubyte(.gz), as Fashion-MNIST and MNIST ship them;
 * pixels become floats in [0, 1]) and tables read from CSV or .npy files
 * (values as they are). Labels are checked against the head: class indices
 * for softmax, targets in [0, 1] for sigmoid units. */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE /* madvise's MADV_HUGEPAGE (Linux) */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "cli.h"

const char *cli_default_data(void)
{
  const char *env = getenv("BN_DATA");
  return env && *env ? env : CLI_DEFAULT_DATA;
}

void dataset_free(dataset *d)
{
  if (d) {
    free(d->x);
    free(d->y);
    free(d->t);
    memset(d, 0, sizeof *d);
  }
}

void table_free(table *t)
{
  if (t) {
    free(t->x);
    free(t->labels);
    memset(t, 0, sizeof *t);
  }
}

const char *value_problem(double v)
{
  if (isnan(v))
    return "is NaN (the data must be finite)";
  if (isinf(v))
    return "is infinite (the data must be finite)";
  if (fabs(v) > FLT_MAX)
    return "is outside float's range (|x| > 3.4e38)";
  return NULL;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int is_npy_path(const char *path)
{
  return ends_with(path, ".npy");
}

int is_csv_path(const char *path)
{
  return strcmp(path, "-") == 0 || ends_with(path, ".csv");
}

int table_read(const table_source *src, table *out, char *err, size_t errcap)
{
  if (is_npy_path(src->file)) {
    if (src->label) {
      snprintf(err, errcap, "--label selects a CSV column; the labels of %s come from a "
               "separate .npy file", src->file);
      return CLI_FAIL;
    }
    return npy_table(src->file, src->labels, out, err, errcap);
  }
  if (src->labels) {
    snprintf(err, errcap, "%s: a CSV file holds its labels in a column (see --label); a "
             "separate labels file is for .npy features", src->file);
    return CLI_FAIL;
  }
  return csv_read(src->file, src->header, src->label, out, err, errcap);
}

int cli_header_mode(int header, int no_header, csv_header *out)
{
  if (header && no_header)
    return cli_error(CLI_USAGE, "--header and --no-header exclude each other");
  *out = header ? CSV_HEADER_YES : no_header ? CSV_HEADER_NO : CSV_HEADER_AUTO;
  return CLI_OK;
}

/* "FILE:LINE" for a CSV row, "FILE: sample I" for a .npy one. */
static void where(const table *t, size_t i, char *buf, size_t cap)
{
  if (t->first_line)
    snprintf(buf, cap, "%s:%zu", t->label_path, t->first_line + i);
  else
    snprintf(buf, cap, "%s: sample %zu", t->label_path, i);
}

/* Labels of the table as the head wants them: int32 classes (softmax) or
 * float targets in [0, 1] (sigmoid), the first `limit` samples (0: all). */
static int from_table(table *t, bn_mlp_head head, size_t limit, dataset *out)
{
  char at[4200];
  if (!t->labels)
    return cli_error(CLI_FAIL, "%s: no labels (give --label for a CSV column or a labels "
                     ".npy file)", t->path);
  size_t n = limit && limit < t->n ? limit : t->n, k = t->label_cols;
  if (head == BN_MLP_HEAD_SOFTMAX && k != 1)
    return cli_error(CLI_FAIL, "%s: %zu label columns; a softmax head takes one class index per "
                     "sample", t->label_path, k);
  if (head == BN_MLP_HEAD_SOFTMAX)
    out->y = malloc(n * sizeof *out->y);
  else
    out->t = malloc(n * k * sizeof *out->t);
  if (!out->y && !out->t)
    return cli_error(CLI_FAIL, "out of memory for %zu labels", n * k);
  for (size_t i = 0; i < n * k; i++) {
    double v = t->labels[i];
    if (head == BN_MLP_HEAD_SOFTMAX) {
      if (!(v >= 0 && v <= CLI_MAX_CLASS && v == floor(v))) {
        where(t, i, at, sizeof at);
        return cli_error(CLI_FAIL, "%s: label %.9g is not a class index (an integer in [0, %d])",
                         at, v, CLI_MAX_CLASS);
      }
      out->y[i] = (int32_t)v;
      if (out->y[i] > out->max_label)
        out->max_label = out->y[i];
    } else {
      if (!(v >= 0 && v <= 1)) {
        where(t, i / k, at, sizeof at);
        return cli_error(CLI_FAIL, "%s: target %.9g is outside [0, 1] (the sigmoid head's "
                         "binary cross-entropy needs 0/1 labels or probabilities)", at, v);
      }
      out->t[i] = (float)v;
    }
  }
  out->x = t->x;
  t->x = NULL;
  out->n = n;
  out->features = t->features;
  out->targets = head == BN_MLP_HEAD_SOFTMAX ? 0 : k;
  return CLI_OK;
}

/* IDX labels as sigmoid targets: only 0 and 1. */
static int idx_targets(dataset *d)
{
  d->t = malloc(d->n * sizeof *d->t);
  if (!d->t)
    return cli_error(CLI_FAIL, "out of memory for %zu labels", d->n);
  for (size_t i = 0; i < d->n; i++) {
    if (d->y[i] > 1)
      return cli_error(CLI_FAIL, "label %d of sample %zu: a sigmoid head needs 0/1 labels",
                       (int)d->y[i], i);
    d->t[i] = (float)d->y[i];
  }
  d->targets = 1;
  return CLI_OK;
}

int dataset_open(const data_source *src, const char *idx_prefix, size_t limit, bn_mlp_head head,
                 dataset *out)
{
  memset(out, 0, sizeof *out);
  int rc;
  if (!src->table.file) {
    rc = dataset_load(src->dir ? src->dir : cli_default_data(), idx_prefix, limit, out);
    if (rc == CLI_OK && head == BN_MLP_HEAD_SIGMOID)
      rc = idx_targets(out);
  } else {
    table t;
    char err[4608];
    if (table_read(&src->table, &t, err, sizeof err) != CLI_OK)
      return cli_error(CLI_FAIL, "%s", err);
    rc = from_table(&t, head, limit, out);
    table_free(&t);
  }
  if (rc != CLI_OK)
    dataset_free(out);
  return rc;
}

void pixels_to_floats(const unsigned char *data, size_t count, float *out)
{
  for (size_t i = 0; i < count; i++)
    out[i] = (float)data[i] * (1.0f / 255.0f);
}

/* Huge pages for arrays of 2 MiB and more: the first write to each 4 KiB
 * page is a page fault, and Fashion-MNIST's 188 MB of floats took 0.5-1 s
 * of faults on the benchmark machine (a virtual one) against 0.02-0.05 s
 * with huge pages (docs/performance.md, "End to end"). The advice is only
 * a hint: without transparent huge pages it changes nothing. */
#define HUGE_PAGE ((size_t)2 << 20)

float *cli_float_array(size_t count)
{
  if (count > SIZE_MAX / sizeof(float))
    return NULL;
  size_t bytes = count ? count * sizeof(float) : sizeof(float);
#ifdef MADV_HUGEPAGE
  if (bytes >= HUGE_PAGE) {
    void *p = NULL;
    if (posix_memalign(&p, HUGE_PAGE, bytes) != 0)
      return NULL;
    (void)madvise(p, bytes, MADV_HUGEPAGE);
    return p;
  }
#endif
  return malloc(bytes);
}

/* DIR/NAME.gz if it exists, else DIR/NAME; 0 if neither. */
static int find(const char *dir, const char *name, char *path, size_t cap)
{
  snprintf(path, cap, "%s/%s.gz", dir, name);
  if (access(path, F_OK) == 0)
    return 1;
  snprintf(path, cap, "%s/%s", dir, name);
  if (access(path, F_OK) == 0)
    return 1;
  snprintf(path, cap, "%s/%s.gz", dir, name);
  return 0;
}

int dataset_load(const char *dir, const char *prefix, size_t limit, dataset *out)
{
  memset(out, 0, sizeof *out);
  char images[4096], labels[4096], name[64], err[4608];
  snprintf(name, sizeof name, "%s-images-idx3-ubyte", prefix);
  int have_images = find(dir, name, images, sizeof images);
  snprintf(name, sizeof name, "%s-labels-idx1-ubyte", prefix);
  int have_labels = find(dir, name, labels, sizeof labels);
  if (!have_images || !have_labels) {
    const char *missing = !have_images ? images : labels;
    const int is_default = strcmp(dir, cli_default_data()) == 0;
    if (is_default && strcmp(dir, CLI_DEFAULT_DATA) != 0) /* a stale BN_DATA, not a missing package */
      return cli_error(CLI_FAIL,
                       "%s is missing: BN_DATA=%s should hold %s-images-idx3-ubyte[.gz] and "
                       "%s-labels-idx1-ubyte[.gz].\n"
                       "  Point BN_DATA or --data at such a directory, or unset BN_DATA to use "
                       "Fashion-MNIST in " CLI_DEFAULT_DATA " (apt-get install %s).",
                       missing, dir, prefix, prefix, CLI_DATA_PACKAGE);
    if (is_default)
      return cli_error(CLI_FAIL,
                       "Fashion-MNIST is not installed here: %s is missing.\n"
                       "  Install the Debian package: apt-get install %s\n"
                       "  or point --data at a directory holding %s-images-idx3-ubyte.gz and "
                       "%s-labels-idx1-ubyte.gz (gzipped or not).",
                       missing, CLI_DATA_PACKAGE, prefix, prefix);
    return cli_error(CLI_FAIL, "%s is missing (--data %s should hold %s-images-idx3-ubyte[.gz] "
                               "and %s-labels-idx1-ubyte[.gz])",
                     missing, dir, prefix, prefix);
  }
  idx_file img, lab;
  if (idx_read_pixels(images, 2, 3, limit, &img, &out->x, err, sizeof err) != CLI_OK)
    return cli_error(CLI_FAIL, "%s", err);
  if (idx_read(labels, 1, 1, &lab, err, sizeof err) != CLI_OK) {
    dataset_free(out);
    return cli_error(CLI_FAIL, "%s", err);
  }
  int rc = CLI_OK;
  if (img.count != lab.count) {
    rc = cli_error(CLI_FAIL, "%s holds %zu images but %s holds %zu labels", images, img.count,
                   labels, lab.count);
    goto out;
  }
  size_t n = limit && limit < img.count ? limit : img.count;
  out->n = n;
  out->features = img.item;
  out->y = malloc(n * sizeof *out->y);
  if (!out->y) {
    rc = cli_error(CLI_FAIL, "out of memory for %zu samples", n);
    goto out;
  }
  for (size_t i = 0; i < n; i++) {
    out->y[i] = lab.data[i];
    if (out->y[i] > out->max_label)
      out->max_label = out->y[i];
  }
out:
  idx_free(&img);
  idx_free(&lab);
  if (rc != CLI_OK)
    dataset_free(out);
  return rc;
}

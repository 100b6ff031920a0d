/* `bn eval` (accuracy and loss; the confusion matrix for softmax, precision
 * and recall for one sigmoid unit) and `bn predict` (classes and
 * probabilities for IDX, CSV or .npy input). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *const EVAL_USAGE =
    "usage: bn eval MODEL [--data DIR | --test FILE [--test-labels FILE]] [options]\n"
    "\n"
    "Evaluate MODEL on DIR/t10k-images-idx3-ubyte[.gz] and DIR/t10k-labels-idx1-ubyte[.gz]\n"
    "(default $BN_DATA or " CLI_DEFAULT_DATA ") or on FILE: a CSV file (labels in\n"
    "the last column, or --label) or a .npy array of features with its labels in\n"
    "--test-labels FILE.npy. Prints accuracy and mean loss, and the confusion matrix\n"
    "(rows: true class, columns: predicted class); for one sigmoid unit also\n"
    "precision and recall of class 1.\n"
    "\n"
    CLI_HELP_LABEL
    CLI_HELP_HEADER;

static const char *const PREDICT_USAGE =
    "usage: bn predict MODEL INPUT [--output FILE] [--probabilities] [--limit N] [options]\n"
    "\n"
    "Classify the samples of INPUT: a .npy array (samples x features), rows of\n"
    "comma-separated numbers when INPUT ends in .csv (or is -, standard input),\n"
    "both used as they are, or else an IDX file of images (gzipped or not; pixels\n"
    "scaled to [0, 1]). Writes CSV to standard output or FILE (replaced atomically):\n"
    "index,class and, with --probabilities, one column per output; index is the\n"
    "sample's position in INPUT, from 0.\n"
    "\n"
    "  --output FILE         write the CSV to FILE instead of standard output\n"
    "  --probabilities       add the columns p0,p1,... (one per output)\n"
    "  --limit N             classify only the first N samples (default: all)\n"
    "  --label NAME|INDEX    a CSV column to skip (the labels; default: none)\n"
    CLI_HELP_HEADER;

/* Probabilities of every sample (outputs x n). */
static int predict_all(bn_mlp *m, size_t n, const float *x, size_t ld, float **probs,
                       size_t *outputs)
{
  bn_mlp_architecture(m, NULL, NULL, outputs, NULL, NULL, NULL, NULL);
  size_t C = *outputs;
  *probs = malloc(n * C * sizeof **probs);
  if (!*probs)
    return cli_error(CLI_FAIL, "out of memory");
  bn_status st = bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, n, x, ld, *probs, C);
  if (st != BN_OK) {
    free(*probs);
    *probs = NULL;
    return cli_error(CLI_FAIL, "prediction failed: %s", bn_mlp_last_error(m));
  }
  return CLI_OK;
}

/* Class predicted for a sample (argmax; for one sigmoid unit, p >= 0.5). */
static size_t predicted_class(const float *p, size_t C)
{
  if (C == 1)
    return p[0] >= 0.5f;
  size_t best = 0;
  for (size_t c = 1; c < C; c++)
    if (p[c] > p[best])
      best = c;
  return best;
}

static double ratio(size_t a, size_t b)
{
  return b ? (double)a / (double)b : 0.0;
}

static void print_confusion(const size_t *confusion, size_t classes)
{
  printf("confusion matrix (rows: true class, columns: predicted class):\n      ");
  for (size_t c = 0; c < classes; c++)
    printf(" %6zu", c);
  printf("   recall\n");
  for (size_t r = 0; r < classes; r++) {
    size_t total = 0;
    printf("%6zu", r);
    for (size_t c = 0; c < classes; c++) {
      printf(" %6zu", confusion[r * classes + c]);
      total += confusion[r * classes + c];
    }
    printf("   %.4f\n", ratio(confusion[r * classes + r], total));
  }
}

/* The data options that eval and predict share with train. */
typedef struct input_opts {
  const char *label;
  int header, no_header;
} input_opts;

int cmd_eval(int argc, char **argv)
{
  data_source src = {NULL, {NULL, NULL, NULL, CSV_HEADER_AUTO}};
  input_opts in = {NULL, 0, 0};
  const char *pos[1];
  const cli_option opts[] = {{"data", 1, &src.dir, NULL},
                             {"test", 1, &src.table.file, NULL},
                             {"test-labels", 1, &src.table.labels, NULL},
                             {"label", 1, &in.label, NULL},
                             {"header", 0, NULL, &in.header},
                             {"no-header", 0, NULL, &in.no_header},
                             {NULL, 0, NULL, NULL}};
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 1, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(EVAL_USAGE, stdout);
    return CLI_OK;
  }
  if (npos != 1)
    return cli_error(CLI_USAGE, "bn eval needs a MODEL (see bn eval --help)");
  if (src.dir && src.table.file)
    return cli_error(CLI_USAGE, "--data and --test exclude each other");
  if (!src.table.file && (src.table.labels || in.label || in.header || in.no_header))
    return cli_error(CLI_USAGE, "--test-labels, --label and --header go with --test FILE");
  if (cli_header_mode(in.header, in.no_header, &src.table.header) != CLI_OK)
    return CLI_USAGE;
  if (src.table.file && !is_npy_path(src.table.file))
    src.table.label = in.label ? in.label : "-1";
  else
    src.table.label = in.label;
  bn_mlp *m;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  size_t inputs, outputs;
  bn_mlp_head head;
  bn_mlp_architecture(m, &inputs, NULL, &outputs, NULL, NULL, &head, NULL);
  dataset test;
  if (dataset_open(&src, "t10k", 0, head, &test) != CLI_OK) {
    bn_mlp_destroy(m);
    return CLI_FAIL;
  }
  const char *data = src.table.file ? src.table.file : src.dir ? src.dir : cli_default_data();
  int rc = CLI_FAIL;
  float *probs = NULL;
  size_t *confusion = NULL;
  size_t classes = head == BN_MLP_HEAD_SOFTMAX ? outputs : 2;
  if (inputs != test.features) {
    cli_error(CLI_FAIL, "the model takes %zu inputs, %s has %zu features per sample", inputs,
              data, test.features);
    goto out;
  }
  if (head == BN_MLP_HEAD_SIGMOID && test.targets != outputs) {
    cli_error(CLI_FAIL, "the model has %zu sigmoid outputs, %s has %zu label columns", outputs,
              data, test.targets);
    goto out;
  }
  if (head == BN_MLP_HEAD_SOFTMAX && (size_t)test.max_label >= classes) {
    cli_error(CLI_FAIL, "a label (%d) is outside the model's %zu classes", (int)test.max_label,
              classes);
    goto out;
  }
  float loss, accuracy;
  bn_status st = bn_mlp_evaluate(m, test.n, test.x, test.features, test.y, test.t, &loss,
                                 &accuracy);
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "evaluation failed: %s", bn_mlp_last_error(m));
    goto out;
  }
  if (predict_all(m, test.n, test.x, test.features, &probs, &outputs) != CLI_OK)
    goto out;
  printf("model: %s\n", pos[0]);
  printf("data: %s (%zu test samples)\n", data, test.n);
  printf("accuracy %.4f  loss %.4f\n", (double)accuracy, (double)loss);
  if (head == BN_MLP_HEAD_SIGMOID && outputs > 1) {
    printf("(accuracy over all %zu sigmoid units: p >= 0.5 against target >= 0.5)\n", outputs);
    rc = CLI_OK;
    goto out;
  }
  confusion = calloc(classes * classes, sizeof *confusion);
  if (!confusion) {
    cli_error(CLI_FAIL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < test.n; i++) {
    size_t truth = test.y ? (size_t)test.y[i] : test.t[i] >= 0.5f;
    confusion[truth * classes + predicted_class(probs + i * outputs, outputs)]++;
  }
  if (head == BN_MLP_HEAD_SIGMOID) {
    size_t tp = confusion[3], fp = confusion[1], fn = confusion[2];
    printf("precision %.4f  recall %.4f  (class 1: p >= 0.5; target >= 0.5; "
           "%zu true positives, %zu false positives, %zu false negatives)\n",
           ratio(tp, tp + fp), ratio(tp, tp + fn), tp, fp, fn);
  }
  print_confusion(confusion, classes);
  rc = CLI_OK;
out:
  free(confusion);
  free(probs);
  dataset_free(&test);
  bn_mlp_destroy(m);
  return rc;
}

/* INPUT's samples as floats (features x n). */
static int read_input(const char *path, const input_opts *in, size_t inputs, float **x,
                      size_t *n)
{
  char err[4608];
  if (is_csv_path(path) || is_npy_path(path)) {
    table_source src = {path, NULL, in->label, CSV_HEADER_AUTO};
    table t;
    if (cli_header_mode(in->header, in->no_header, &src.header) != CLI_OK)
      return CLI_USAGE;
    if (table_read(&src, &t, err, sizeof err) != CLI_OK)
      return cli_error(CLI_FAIL, "%s", err);
    if (t.features != inputs) {
      if (t.first_line)
        cli_error(CLI_FAIL, "%s:%zu: %zu values, the model takes %zu", path, t.first_line,
                  t.features, inputs);
      else
        cli_error(CLI_FAIL, "%s: samples of %zu values, the model takes %zu", path, t.features,
                  inputs);
      table_free(&t);
      return CLI_FAIL;
    }
    *x = t.x;
    *n = t.n;
    t.x = NULL;
    table_free(&t);
    return CLI_OK;
  }
  if (in->label || in->header || in->no_header)
    return cli_error(CLI_USAGE, "--label and --header apply to CSV input");
  idx_file img;
  if (idx_read_pixels(path, 1, 3, 0, &img, x, err, sizeof err) != CLI_OK)
    return cli_error(CLI_FAIL, "%s", err);
  if (img.item != inputs) {
    free(*x);
    *x = NULL;
    return cli_error(CLI_FAIL, "%s: samples of %zu values, the model takes %zu", path, img.item,
                     inputs);
  }
  *n = img.count;
  return CLI_OK;
}

int cmd_predict(int argc, char **argv)
{
  const char *output = NULL, *limit_text = "0", *pos[2];
  int with_probs = 0;
  input_opts in = {NULL, 0, 0};
  const cli_option opts[] = {{"output", 1, &output, NULL},
                             {"probabilities", 0, NULL, &with_probs},
                             {"limit", 1, &limit_text, NULL},
                             {"label", 1, &in.label, NULL},
                             {"header", 0, NULL, &in.header},
                             {"no-header", 0, NULL, &in.no_header},
                             {NULL, 0, NULL, NULL}};
  int npos, help;
  size_t limit;
  if (cli_parse(argc, argv, 2, opts, pos, 2, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(PREDICT_USAGE, stdout);
    return CLI_OK;
  }
  if (npos != 2)
    return cli_error(CLI_USAGE, "bn predict needs a MODEL and an INPUT (see bn predict --help)");
  if (cli_size("--limit", limit_text, 0, SIZE_MAX, &limit) != CLI_OK)
    return CLI_USAGE;
  if (output && !*output)
    return cli_error(CLI_USAGE, "--output: empty path");
  bn_mlp *m;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  size_t inputs, n = 0, outputs = 0;
  bn_mlp_architecture(m, &inputs, NULL, NULL, NULL, NULL, NULL, NULL);
  float *x = NULL, *probs = NULL;
  char err[4608];
  atomic_file file = {NULL, NULL, NULL};
  int rc = read_input(pos[1], &in, inputs, &x, &n);
  if (rc != CLI_OK)
    goto done;
  rc = CLI_FAIL;
  if (limit && limit < n)
    n = limit;
  if (predict_all(m, n, x, inputs, &probs, &outputs) != CLI_OK)
    goto done;
  if (output && atomic_open(output, &file, err, sizeof err) != CLI_OK) {
    cli_error(CLI_FAIL, "%s", err);
    goto done;
  }
  FILE *out = output ? file.f : stdout;
  fputs("index,class", out);
  for (size_t c = 0; with_probs && c < outputs; c++)
    fprintf(out, ",p%zu", c);
  fputc('\n', out);
  for (size_t i = 0; i < n; i++) {
    const float *p = probs + i * outputs;
    fprintf(out, "%zu,%zu", i, predicted_class(p, outputs));
    for (size_t c = 0; with_probs && c < outputs; c++)
      fprintf(out, ",%.6g", (double)p[c]);
    fputc('\n', out);
  }
  if (output && atomic_commit(&file, err, sizeof err) != CLI_OK)
    cli_error(CLI_FAIL, "%s", err);
  else if (!output && (fflush(stdout) != 0 || ferror(stdout)))
    cli_error(CLI_FAIL, "cannot write the predictions to standard output: %s", strerror(errno));
  else
    rc = CLI_OK;
done:
  if (file.f)
    atomic_abort(&file);
  free(x);
  free(probs);
  bn_mlp_destroy(m);
  return rc;
}

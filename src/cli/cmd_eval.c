/* `bn eval` (test accuracy, loss, confusion matrix) and `bn predict`
 * (classes and probabilities for IDX or CSV input). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *const EVAL_USAGE =
    "usage: bn eval MODEL [--data DIR]\n"
    "\n"
    "Evaluate MODEL on DIR/t10k-images-idx3-ubyte[.gz] and DIR/t10k-labels-idx1-ubyte[.gz]\n"
    "(default $BN_DATA or " CLI_DEFAULT_DATA "): accuracy, mean loss, confusion matrix\n"
    "(rows: true class, columns: predicted class).\n";

static const char *const PREDICT_USAGE =
    "usage: bn predict MODEL INPUT [--output FILE] [--probabilities] [--limit N]\n"
    "\n"
    "Classify the samples of INPUT: an IDX file of images (gzipped or not; pixels\n"
    "scaled to [0, 1]) or, when INPUT ends in .csv (or is -, standard input), rows\n"
    "of comma-separated numbers used as they are. Writes CSV to standard output or\n"
    "FILE: index,class and, with --probabilities, one column per class.\n";

/* Classes predicted for samples (argmax; for one sigmoid unit, p >= 0.5). */
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
    return cli_error(CLI_FAIL, "prediction failed: %s", bn_mlp_last_error(m));
  }
  return CLI_OK;
}

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

int cmd_eval(int argc, char **argv)
{
  const char *data = NULL, *pos[1];
  const cli_option opts[] = {{"data", 1, &data, NULL}, {NULL, 0, NULL, NULL}};
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 1, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(EVAL_USAGE, stdout);
    return CLI_OK;
  }
  if (npos != 1)
    return cli_error(CLI_USAGE, "bn eval needs a MODEL (see bn eval --help)");
  if (!data)
    data = cli_default_data();
  bn_mlp *m;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  dataset test;
  if (dataset_load(data, "t10k", 0, &test) != CLI_OK) {
    bn_mlp_destroy(m);
    return CLI_FAIL;
  }
  int rc = CLI_FAIL;
  float *probs = NULL;
  size_t *confusion = NULL, inputs, outputs;
  bn_mlp_head head;
  bn_mlp_architecture(m, &inputs, NULL, &outputs, NULL, NULL, &head, NULL);
  size_t classes = head == BN_MLP_HEAD_SOFTMAX ? outputs : 2;
  if (inputs != test.features) {
    cli_error(CLI_FAIL, "the model takes %zu inputs, the images have %zu pixels", inputs,
              test.features);
    goto out;
  }
  if (head == BN_MLP_HEAD_SIGMOID && outputs != 1) {
    cli_error(CLI_FAIL, "bn eval handles softmax models and single sigmoid units");
    goto out;
  }
  if ((size_t)test.max_label >= classes) {
    cli_error(CLI_FAIL, "a label (%d) is outside the model's %zu classes", (int)test.max_label,
              classes);
    goto out;
  }
  float loss, accuracy;
  bn_status st;
  if (head == BN_MLP_HEAD_SOFTMAX) {
    st = bn_mlp_evaluate(m, test.n, test.x, test.features, test.y, NULL, &loss, &accuracy);
  } else {
    float *t = malloc(test.n * sizeof *t);
    for (size_t i = 0; t && i < test.n; i++)
      t[i] = (float)test.y[i];
    st = t ? bn_mlp_evaluate(m, test.n, test.x, test.features, NULL, t, &loss, &accuracy)
           : BN_ERR_OUT_OF_MEMORY;
    free(t);
  }
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "evaluation failed: %s", bn_mlp_last_error(m));
    goto out;
  }
  if (predict_all(m, test.n, test.x, test.features, &probs, &outputs) != CLI_OK)
    goto out;
  confusion = calloc(classes * classes, sizeof *confusion);
  if (!confusion) {
    cli_error(CLI_FAIL, "out of memory");
    goto out;
  }
  for (size_t i = 0; i < test.n; i++)
    confusion[(size_t)test.y[i] * classes + predicted_class(probs + i * outputs, outputs)]++;
  printf("model: %s\n", pos[0]);
  printf("data: %s (%zu test samples)\n", data, test.n);
  printf("accuracy %.4f  loss %.4f\n", (double)accuracy, (double)loss);
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
    printf("   %.4f\n", total ? (double)confusion[r * classes + r] / (double)total : 0.0);
  }
  rc = CLI_OK;
out:
  free(confusion);
  free(probs);
  dataset_free(&test);
  bn_mlp_destroy(m);
  return rc;
}

static int ends_with(const char *s, const char *suffix)
{
  size_t a = strlen(s), b = strlen(suffix);
  return a >= b && strcmp(s + a - b, suffix) == 0;
}

int cmd_predict(int argc, char **argv)
{
  const char *output = NULL, *limit_text = "0", *pos[2];
  int with_probs = 0;
  const cli_option opts[] = {{"output", 1, &output, NULL},
                             {"probabilities", 0, NULL, &with_probs},
                             {"limit", 1, &limit_text, NULL},
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
  bn_mlp *m;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  size_t inputs, n = 0, outputs = 0;
  bn_mlp_architecture(m, &inputs, NULL, NULL, NULL, NULL, NULL, NULL);
  float *x = NULL, *probs = NULL;
  char err[4608];
  int rc = CLI_FAIL;
  FILE *out = stdout;
  if (strcmp(pos[1], "-") == 0 || ends_with(pos[1], ".csv")) {
    if (csv_read(pos[1], inputs, &x, &n, err, sizeof err) != CLI_OK) {
      cli_error(CLI_FAIL, "%s", err);
      goto done;
    }
  } else {
    idx_file img;
    if (idx_read(pos[1], 1, 3, &img, err, sizeof err) != CLI_OK) {
      cli_error(CLI_FAIL, "%s", err);
      goto done;
    }
    if (img.item != inputs) {
      cli_error(CLI_FAIL, "%s: samples of %zu values, the model takes %zu", pos[1], img.item,
                inputs);
      idx_free(&img);
      goto done;
    }
    n = img.count;
    x = pixels_to_floats(img.data, n * inputs);
    idx_free(&img);
    if (!x) {
      cli_error(CLI_FAIL, "out of memory");
      goto done;
    }
  }
  if (limit && limit < n)
    n = limit;
  if (predict_all(m, n, x, inputs, &probs, &outputs) != CLI_OK)
    goto done;
  if (output && !(out = fopen(output, "w"))) {
    cli_error(CLI_FAIL, "cannot write %s: %s", output, strerror(errno));
    out = stdout;
    goto done;
  }
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
  rc = CLI_OK;
done:
  if (out != stdout && fclose(out) != 0 && rc == CLI_OK)
    rc = cli_error(CLI_FAIL, "cannot write %s", output);
  free(x);
  free(probs);
  bn_mlp_destroy(m);
  return rc;
}

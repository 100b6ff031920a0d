/* `bn info` (architecture, parameter count, format version, training
 * settings) and `bn fold` (the inference form without BatchNorm). */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const char *const INFO_USAGE =
    "usage: bn info MODEL\n\nPrint MODEL's architecture, parameter count, format version and "
    "training settings.\n";
static const char *const FOLD_USAGE =
    "usage: bn fold MODEL OUT\n\nFold every BatchNorm of MODEL into the dense layers and save "
    "the\nresulting network (same predictions in inference mode, no BatchNorm) to OUT.\n";

/* The header fields that the loaded handle does not keep: version, flags, size. */
static int read_header(const char *path, unsigned *version, unsigned *flags,
                       unsigned long long *size)
{
  unsigned char h[24];
  FILE *f = fopen(path, "rb");
  if (!f)
    return 0;
  size_t got = fread(h, 1, sizeof h, f);
  fclose(f);
  if (got != sizeof h)
    return 0;
  *version = (unsigned)h[8] | (unsigned)h[9] << 8 | (unsigned)h[10] << 16 | (unsigned)h[11] << 24;
  *flags = (unsigned)h[12] | (unsigned)h[13] << 8;
  *size = 0;
  for (int i = 7; i >= 0; i--)
    *size = *size << 8 | h[16 + i];
  return 1;
}

int cmd_info(int argc, char **argv)
{
  const char *pos[1];
  const cli_option opts[] = {{NULL, 0, NULL, NULL}};
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 1, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(INFO_USAGE, stdout);
    return CLI_OK;
  }
  if (npos != 1)
    return cli_error(CLI_USAGE, "bn info needs a MODEL (see bn info --help)");
  bn_mlp *m;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  unsigned version = 0, flags = 0;
  unsigned long long size = 0;
  read_header(pos[0], &version, &flags, &size);
  size_t inputs, layers, outputs, params, sizes[1024];
  bn_activation act;
  bn_mlp_placement pl;
  bn_mlp_head head;
  unsigned mflags;
  bn_mlp_architecture(m, &inputs, &layers, &outputs, &act, &pl, &head, &mflags);
  bn_mlp_hidden_sizes(m, sizes, layers);
  bn_mlp_parameter_count(m, &params);
  char arch[2048];
  cli_describe(m, arch, sizeof arch);
  printf("model: %s (%llu bytes, format version %u)\n", pos[0], size, version);
  printf("architecture: %s\n", arch);
  printf("  layer 0: input (%zu features)%s\n", inputs,
         (mflags & BN_MLP_INPUT_BATCHNORM) ? ", BatchNorm" : "");
  size_t in = inputs;
  for (size_t i = 0; i <= layers; i++) {
    size_t out = i < layers ? sizes[i] : outputs;
    int bias = i == layers || pl != BN_MLP_BN_BEFORE;
    printf("  layer %zu: dense %zu -> %zu%s", i + 1, in, out, bias ? "" : " (no bias)");
    if (i == layers)
      printf(", %s\n", head == BN_MLP_HEAD_SOFTMAX ? "softmax + cross-entropy"
                                                   : "sigmoid + binary cross-entropy");
    else if (pl == BN_MLP_BN_BEFORE)
      printf(", BatchNorm, %s\n", cli_activation_name(act));
    else if (pl == BN_MLP_BN_AFTER)
      printf(", %s, BatchNorm\n", cli_activation_name(act));
    else
      printf(", %s\n", cli_activation_name(act));
    in = out;
  }
  printf("parameters: %zu trainable\n", params);
  double opt, lr, mom, wd, steps, eps, factor;
  bn_mlp_get_parameter(m, BN_MLP_OPTIMIZER, &opt);
  bn_mlp_get_parameter(m, BN_MLP_LEARNING_RATE, &lr);
  bn_mlp_get_parameter(m, BN_MLP_MOMENTUM_COEF, &mom);
  bn_mlp_get_parameter(m, BN_MLP_WEIGHT_DECAY, &wd);
  bn_mlp_get_parameter(m, BN_MLP_STEP, &steps);
  bn_mlp_get_parameter(m, BN_MLP_BN_EPSILON, &eps);
  bn_mlp_get_parameter(m, BN_MLP_BN_UPDATE_FACTOR, &factor);
  printf("optimizer: %s, learning rate %g, momentum %g, weight decay %g\n",
         cli_optimizer_name((int)opt), lr, mom, wd);
  printf("optimizer state: %s\n", (flags & 2u) ? "saved" : "not saved");
  if (flags & 2u)
    printf("steps taken: %.0f\n", steps);
  printf("BatchNorm: eps %g, running-statistics factor %g\n", eps, factor);
  bn_mlp_destroy(m);
  return CLI_OK;
}

int cmd_fold(int argc, char **argv)
{
  const char *pos[2];
  const cli_option opts[] = {{NULL, 0, NULL, NULL}};
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 2, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(FOLD_USAGE, stdout);
    return CLI_OK;
  }
  if (npos != 2)
    return cli_error(CLI_USAGE, "bn fold needs a MODEL and an OUT path (see bn fold --help)");
  bn_mlp *m, *f = NULL;
  if (cli_load_model(pos[0], &m) != CLI_OK)
    return CLI_FAIL;
  int rc = CLI_FAIL;
  bn_status st = bn_mlp_fold_batchnorm(m, &f);
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "cannot fold: %s", bn_mlp_last_error(m));
  } else if ((st = bn_mlp_save(f, pos[1], 0)) != BN_OK) {
    cli_error(CLI_FAIL, "cannot save: %s", bn_mlp_last_error(f));
  } else {
    size_t before, after;
    char arch[2048];
    bn_mlp_parameter_count(m, &before);
    bn_mlp_parameter_count(f, &after);
    cli_describe(f, arch, sizeof arch);
    printf("folded: %s\nparameters: %zu -> %zu; saved to %s\n", arch, before, after, pos[1]);
    rc = CLI_OK;
  }
  bn_mlp_destroy(f);
  bn_mlp_destroy(m);
  return rc;
}

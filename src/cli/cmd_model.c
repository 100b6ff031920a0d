/* `bn info` (architecture, parameter count, format version, training
 * settings, bn train's recipe) and `bn fold` (the inference form without BatchNorm). */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const char *const INFO_USAGE =
    "usage: bn info MODEL\n\nPrint MODEL's architecture, parameter count, format version, "
    "training\nsettings and, for bn train's files, the run's recipe and progress.\n";
static const char *const FOLD_USAGE =
    "usage: bn fold MODEL OUT\n\nFold every BatchNorm of MODEL into the dense layers and save "
    "the\nresulting network (same predictions in inference mode, no BatchNorm) to OUT.\n";

/* The recipe of a bn train run and how far it got. */
static void print_recipe(const train_record *r)
{
  printf("recipe: %zu epoch%s (%zu done%s), batch %zu, seed %llu", r->epochs,
         cli_plural(r->epochs), r->epochs_done,
         r->partial_epoch ? " and part of the next" : "", r->batch_size,
         (unsigned long long)r->seed);
  if (r->text[TR_INIT])
    printf(", init %s", r->text[TR_INIT]);
  if (r->text[TR_HEAD_INIT] && (!r->text[TR_INIT] || strcmp(r->text[TR_HEAD_INIT],
                                                            r->text[TR_INIT]) != 0))
    printf(" (head %s)", r->text[TR_HEAD_INIT]);
  printf("%s%s\n", r->recompute_stats ? ", statistics recomputed" : "",
         r->save_optimizer ? ", optimizer state kept" : "");
  printf("data:");
  for (int i = TR_DATA; i <= TR_VALIDATION_SPLIT; i++)
    if (r->text[i] && !(i == TR_LIMIT && strcmp(r->text[i], "0") == 0))
      printf(" %s %s", train_record_key(i), r->text[i]);
  printf("\n");
  if (r->epochs_done < r->epochs)
    printf("resumable: bn train --resume continues with epoch %zu\n", r->epochs_done + 1);
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
  unsigned version = 0;
  unsigned contents = 0;
  uint64_t size = 0;
  char msg[512];
  bn_status st = bn_mlp_read_file_header(pos[0], &version, &contents, &size, msg, sizeof msg);
  if (st != BN_OK) {
    bn_mlp_destroy(m);
    return cli_error(CLI_FAIL, "cannot read the model's header: %s [%s]", msg,
                     bn_status_string(st));
  }
  size_t inputs, layers, outputs, params, input_bn = 0;
  bn_activation act;
  bn_mlp_placement pl;
  bn_mlp_head head;
  bn_mlp_architecture(m, &inputs, &layers, &outputs, &act, &pl, &head, NULL);
  bn_mlp_parameter_count(m, &params);
  bn_mlp_tensor_size(m, 0, BN_MLP_GAMMA, &input_bn);
  char arch[2048];
  cli_describe(m, arch, sizeof arch);
  printf("model: %s (%llu bytes, format version %u)\n", pos[0], (unsigned long long)size,
         (unsigned)version);
  printf("architecture: %s\n", arch);
  printf("  layer 0: input (%zu features)%s\n", inputs, input_bn ? ", BatchNorm" : "");
  size_t in = inputs;
  for (size_t i = 1; i <= layers + 1; i++) {
    size_t weights = 0, bias = 0, bn = 0;
    bn_mlp_tensor_size(m, i, BN_MLP_WEIGHT, &weights);
    bn_mlp_tensor_size(m, i, BN_MLP_BIAS, &bias);
    bn_mlp_tensor_size(m, i, BN_MLP_GAMMA, &bn);
    const size_t out = weights / in;
    printf("  layer %zu: dense %zu -> %zu%s", i, in, out, bias ? "" : " (no bias)");
    if (i == layers + 1)
      printf("%s, %s\n", bn ? ", BatchNorm" : "",
             head == BN_MLP_HEAD_SOFTMAX ? "softmax + cross-entropy"
                                         : "sigmoid + binary cross-entropy");
    else if (bn && pl == BN_MLP_BN_BEFORE)
      printf(", BatchNorm, %s\n", cli_activation_name(act));
    else if (bn)
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
  train_record rec;
  char why[256];
  const int has_record = (contents & BN_MLP_FILE_TRAINING_RECORD) != 0;
  const int recipe = has_record && train_record_load(m, &rec, why, sizeof why) == CLI_OK;
  if (recipe) /* the base rate of the recipe, not the scheduled one of the last step */
    printf("optimizer: %s, learning rate %g (%s schedule; last step %g), momentum %g, weight "
           "decay %g\n", cli_optimizer_name((int)opt), rec.lr,
           rec.text[TR_SCHEDULE] ? rec.text[TR_SCHEDULE] : "constant", lr, mom, wd);
  else
    printf("optimizer: %s, learning rate %g, momentum %g, weight decay %g\n",
           cli_optimizer_name((int)opt), lr, mom, wd);
  const int saved = (contents & BN_MLP_FILE_OPTIMIZER) != 0;
  printf("optimizer state: %s\n", saved ? "saved" : "not saved");
  if (saved)
    printf("steps taken: %.0f\n", steps);
  printf("BatchNorm: eps %g, running-statistics factor %g\n", eps, factor);
  if (recipe) {
    print_recipe(&rec);
    train_record_free(&rec);
  } else if (has_record) {
    printf("training record: not one of bn train's (%s)\n", why);
  }
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

/* What the commands share about models: loading with a readable error, and
 * names for the enums. */
#include <stdio.h>
#include <string.h>
#include "cli.h"

int cli_load_model(const char *path, bn_mlp **out)
{
  char msg[512];
  bn_status st = bn_mlp_load(out, path, msg, sizeof msg);
  if (st != BN_OK)
    return cli_error(CLI_FAIL, "cannot load the model: %s [%s]", msg, bn_status_string(st));
  return CLI_OK;
}

const char *cli_activation_name(bn_activation a)
{
  switch (a) {
  case BN_ACT_RELU: return "relu";
  case BN_ACT_ELU: return "elu";
  case BN_ACT_SIGMOID: return "sigmoid";
  case BN_ACT_TANH: return "tanh";
  default: return "?";
  }
}

const char *cli_plural(size_t n)
{
  return n == 1 ? "" : "s";
}

const char *cli_optimizer_name(int kind)
{
  switch (kind) {
  case BN_MLP_SGD: return "sgd";
  case BN_MLP_MOMENTUM: return "momentum";
  case BN_MLP_NESTEROV: return "nesterov";
  case BN_MLP_ADAM: return "adam";
  default: return "?";
  }
}

const char *cli_placement_name(bn_mlp_placement p)
{
  switch (p) {
  case BN_MLP_BN_BEFORE: return "before";
  case BN_MLP_BN_AFTER: return "after";
  default: return "none";
  }
}

void cli_describe(const bn_mlp *m, char *out, size_t cap)
{
  size_t inputs, layers, outputs, sizes[64];
  bn_activation act;
  bn_mlp_placement pl;
  bn_mlp_head head;
  unsigned flags;
  bn_mlp_architecture(m, &inputs, &layers, &outputs, &act, &pl, &head, &flags);
  size_t shown = layers < 64 ? layers : 64;
  if (layers <= 64)
    bn_mlp_hidden_sizes(m, sizes, layers);
  size_t len = (size_t)snprintf(out, cap, "%zu%s%s", inputs,
                                (flags & BN_MLP_STANDARDIZE) ? " -> standardize" : "",
                                (flags & BN_MLP_INPUT_BATCHNORM) ? " -> BN" : "");
  for (size_t i = 0; i < shown && len < cap; i++) {
    const char *a = cli_activation_name(act);
    if (pl == BN_MLP_BN_BEFORE)
      len += (size_t)snprintf(out + len, cap - len, " -> %zu (BN, %s)", sizes[i], a);
    else if (pl == BN_MLP_BN_AFTER)
      len += (size_t)snprintf(out + len, cap - len, " -> %zu (%s, BN)", sizes[i], a);
    else
      len += (size_t)snprintf(out + len, cap - len, " -> %zu (%s)", sizes[i], a);
  }
  if (len < cap)
    snprintf(out + len, cap - len, " -> %zu %s%s%s", outputs,
             (flags & BN_MLP_HEAD_BATCHNORM) ? "(BN) " : "",
             head == BN_MLP_HEAD_SOFTMAX ? "softmax" : "sigmoid",
             (flags & BN_MLP_RENORM) ? "; every BN renormalizing" : "");
}

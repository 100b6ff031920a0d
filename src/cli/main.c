/* bn: train, evaluate, inspect and fold BatchNorm MLPs (see docs/cli.md). */
#include <stdio.h>
#include <string.h>
#include "cli.h"

static const char *const USAGE =
    "usage: bn COMMAND [options]\n"
    "\n"
    "commands:\n"
    "  train            train an MLP (Fashion-MNIST, or CSV / .npy files) and save it\n"
    "  eval MODEL       test accuracy, loss and confusion matrix\n"
    "  predict MODEL INPUT   classify IDX images, CSV rows or a .npy array\n"
    "  info MODEL       architecture, parameter count, format version\n"
    "  fold MODEL OUT   fold BatchNorm into the dense layers for inference\n"
    "  plot HISTORY.csv -o PNG   draw the learning curves of a training run\n"
    "\n"
    "  bn COMMAND --help   options of a command\n"
    "  bn --version        versions of the program and of libbn\n"
    "\n"
    "Exit status: 0 success, 1 failure (missing or damaged files, bad data),\n"
    "2 usage error (unknown option, value out of range), 128 + N when bn train\n"
    "was ended by signal N (130: Ctrl-C), after saving the model.\n";

int main(int argc, char **argv)
{
  if (argc < 2)
    return fputs(USAGE, stderr), CLI_USAGE;
  const char *cmd = argv[1];
  if (strcmp(cmd, "--help") == 0 || strcmp(cmd, "-h") == 0 || strcmp(cmd, "help") == 0) {
    fputs(USAGE, stdout);
    return CLI_OK;
  }
  if (strcmp(cmd, "--version") == 0 || strcmp(cmd, "version") == 0) {
    printf("bn %s (libbn %s, model format %u)\n", BN_VERSION_STRING, bn_version_string(),
           BN_MLP_FORMAT_VERSION);
    return CLI_OK;
  }
  static const struct {
    const char *name;
    int (*run)(int, char **);
  } commands[] = {{"train", cmd_train}, {"eval", cmd_eval}, {"predict", cmd_predict},
                  {"info", cmd_info},   {"fold", cmd_fold},       {"plot", cmd_plot}};
  for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
    if (strcmp(cmd, commands[i].name) == 0)
      return commands[i].run(argc, argv);
  return cli_error(CLI_USAGE, "unknown command '%s' (see bn --help)", cmd);
}

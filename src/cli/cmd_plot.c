/* `bn plot HISTORY.csv -o curves.png`: learning curves from a history CSV. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *const USAGE =
    "usage: bn plot HISTORY.csv -o PNG [options]\n"
    "\n"
    "Draw the loss and the accuracy per epoch, training and held-out (validation or\n"
    "test), from a CSV written by bn train --history, as a PNG image.\n"
    "\n"
    "  -o, --output PNG      the image to write (required)\n"
    "  --width N             width in pixels (default 1000)\n"
    "  --height N            height in pixels (default 420)\n";

int cli_plot_size(const char *width, const char *height, int *w, int *h)
{
  size_t sw, sh;
  if (cli_size("--width", width, 200, 8000, &sw) || cli_size("--height", height, 150, 8000, &sh))
    return CLI_USAGE;
  *w = (int)sw;
  *h = (int)sh;
  return CLI_OK;
}

int cmd_plot(int argc, char **argv)
{
  const char *output = NULL, *width = CLI_PLOT_WIDTH, *height = CLI_PLOT_HEIGHT;
  const cli_option opts[] = {{"output", 1, &output, NULL},
                             {"width", 1, &width, NULL},
                             {"height", 1, &height, NULL},
                             {NULL, 0, NULL, NULL}};
  /* "-o" is the one short option of the program: the name every plotting
   * tool gives the output. */
  char **args = malloc((size_t)argc * sizeof *args);
  if (!args)
    return cli_error(CLI_FAIL, "out of memory");
  for (int i = 0; i < argc; i++)
    args[i] = strcmp(argv[i], "-o") == 0 ? (char *)"--output" : argv[i];
  const char *pos[1];
  int npos, help;
  int rc = cli_parse(argc, args, 2, opts, pos, 1, &npos, &help);
  free(args);
  if (rc != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(USAGE, stdout);
    return CLI_OK;
  }
  int w, h;
  if (npos != 1 || !output)
    return cli_error(CLI_USAGE, "plot needs a HISTORY.csv and -o PNG (see bn plot --help)");
  if (cli_plot_size(width, height, &w, &h) != CLI_OK)
    return CLI_USAGE;
  if (!plot_available)
    return plot_history(NULL, output, w, h);
  run_history hist;
  if (history_read(pos[0], &hist) != CLI_OK)
    return CLI_FAIL;
  rc = plot_history(&hist, output, w, h);
  if (rc == CLI_OK)
    printf("%zu epoch%s plotted to %s (%dx%d)\n", hist.n, cli_plural(hist.n), output, w, h);
  history_free(&hist);
  return rc;
}

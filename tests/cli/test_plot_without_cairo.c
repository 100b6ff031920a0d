/* A bn built without cairo: plot.c compiled without BN_HAVE_CAIRO reports
 * that it cannot plot, as a failure with a message, and writes nothing. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include "cli.h"

static void says_it_cannot_plot(void **state)
{
  (void)state;
  assert_int_equal(plot_available, 0);
  const char *path = "plot-without-cairo.png";
  unlink(path);
  /* The message goes to stderr: catch it in a file. */
  fflush(stderr);
  FILE *log = freopen("plot-without-cairo.log", "w+", stderr);
  assert_non_null(log);
  assert_int_equal(plot_history(NULL, path, 1000, 420), CLI_FAIL);
  fflush(log);
  rewind(log);
  char line[256] = "";
  assert_non_null(fgets(line, sizeof line, log));
  assert_non_null(strstr(line, "bn: error: cannot draw plot-without-cairo.png: this bn was "
                               "built without cairo"));
  assert_int_equal(access(path, F_OK), -1);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(says_it_cannot_plot)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

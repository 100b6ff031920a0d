/* The progress line fits the terminal: at 40, 80 and 120 columns (and
 * absurdly narrow ones) it is never wider than columns - 1, keeps the most
 * useful fields, and the width comes from $COLUMNS when there is no tty. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "cli.h"

static const progress_view TRAINING = {3, 10, 0.5, 0.4321f, 0.8765f, 37012.0, 754.0, NULL, NULL};

static size_t line_at(const progress_view *v, int columns, char *out, size_t cap)
{
  size_t len = progress_format(v, columns, out, cap);
  assert_int_equal(len, strlen(out));
  assert_true(len <= (size_t)(columns > 1 ? columns - 1 : 1));
  return len;
}

static void wide_terminal_shows_every_field(void **state)
{
  (void)state;
  char line[256];
  line_at(&TRAINING, 120, line, sizeof line);
  assert_string_equal(line, "epoch 3/10 [###############...............] 50%  loss 0.4321  "
                            "acc 0.8765  37012 samples/s  ETA 12:34");
}

static void eighty_columns_narrow_the_bar(void **state)
{
  (void)state;
  char line[256];
  assert_int_equal(line_at(&TRAINING, 80, line, sizeof line), 79);
  assert_string_equal(line, "epoch 3/10 [####.....] 50%  loss 0.4321  acc 0.8765  37012 samples/s  "
                            "ETA 12:34");
  /* Narrower than the fields with the shortest bar: the rate goes first. */
  line_at(&TRAINING, 75, line, sizeof line);
  assert_string_equal(line, "epoch 3/10 [##########...........] 50%  loss 0.4321  "
                            "acc 0.8765  ETA 12:34");
}

static void forty_columns_keep_epoch_bar_and_loss(void **state)
{
  (void)state;
  char line[256];
  line_at(&TRAINING, 40, line, sizeof line);
  assert_string_equal(line, "epoch 3/10 [####.....] 50%  loss 0.4321");
}

static void every_width_fits(void **state)
{
  (void)state;
  char line[256];
  progress_view v = TRAINING;
  v.epoch = 100000;
  v.epochs = 100000;
  for (int columns = 0; columns <= 200; columns++) {
    size_t len = line_at(&v, columns, line, sizeof line);
    if (columns > 16)
      assert_memory_equal(line, "epoch 100000/100", 16);
    if (columns > 1)
      assert_true(len > 0);
  }
  /* A buffer smaller than the line is never overrun. */
  char small[12];
  assert_int_equal(progress_format(&v, 200, small, sizeof small), sizeof small - 1);
  assert_string_equal(small, "epoch 10000");
}

static void evaluation_phase_replaces_the_metrics(void **state)
{
  (void)state;
  char line[256];
  progress_view v = TRAINING;
  v.fraction = 1.0;
  v.phase = "evaluating";
  v.detail = "10000 test samples";
  line_at(&v, 80, line, sizeof line);
  assert_non_null(strstr(line, "[##########"));
  assert_non_null(strstr(line, "100%  evaluating  10000 test samples"));
  assert_null(strstr(line, "loss"));
  /* On 40 columns the detail goes, what is under way stays. */
  line_at(&v, 40, line, sizeof line);
  assert_string_equal(line, "epoch 3/10 [#########] 100%  evaluating");
}

static void columns_come_from_the_environment_without_a_tty(void **state)
{
  (void)state;
  int fd = -1; /* not a terminal: TIOCGWINSZ fails */
  setenv("COLUMNS", "57", 1);
  assert_int_equal(progress_columns(fd), 57);
  setenv("COLUMNS", "wide", 1);
  assert_int_equal(progress_columns(fd), 80);
  unsetenv("COLUMNS");
  assert_int_equal(progress_columns(fd), 80);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(wide_terminal_shows_every_field),
    cmocka_unit_test(eighty_columns_narrow_the_bar),
    cmocka_unit_test(forty_columns_keep_epoch_bar_and_loss),
    cmocka_unit_test(every_width_fits),
    cmocka_unit_test(evaluation_phase_replaces_the_metrics),
    cmocka_unit_test(columns_come_from_the_environment_without_a_tty),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Output/input aliasing rule shared by every kernel: an output is either
 * exactly its input (same pointer and leading dimension) or shares no
 * element with it. Checked against a brute-force element-set intersection
 * for every offset of the output within one buffer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bn/bn.h>

static int brute_force_overlap(size_t rows, size_t cols, size_t ld, size_t offset)
{
  /* x occupies offsets i + j*ld; y the same shifted by offset */
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++) {
      size_t e = i + j * ld;
      if (e < offset)
        continue;
      size_t rel = e - offset;
      if (rel % ld < rows && rel / ld < cols)
        return 1;
    }
  return 0;
}

static void every_offset_follows_the_rule(void **state)
{
  (void)state;
  static const size_t shapes[][3] = {{3, 4, 3}, {3, 4, 6}, {3, 4, 7}, {2, 5, 5}, {4, 3, 9}, {1, 6, 2}};
  float buf[256];
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
    size_t rows = shapes[s][0], cols = shapes[s][1], ld = shapes[s][2];
    size_t span = (cols - 1) * ld + rows;
    for (size_t off = 0; off + span <= 128; off++) {
      for (size_t k = 0; k < 256; k++)
        buf[k] = (float)k;
      int expect_ok = off == 0 || !brute_force_overlap(rows, cols, ld, off);
      bn_status st = bn_activation_forward(BN_ACT_IDENTITY, 0.0f, rows, cols, buf, ld,
                                           buf + off, ld);
      if (expect_ok != (st == BN_OK))
        fail_msg("rows %zu cols %zu ld %zu offset %zu: status %d, expected %s", rows, cols, ld,
                 off, (int)st, expect_ok ? "ok" : "rejected");
      bn_status bst = bn_batchnorm_forward_training(rows, cols, buf, ld, NULL, NULL, 1e-5f, 0,
                                                    buf + off, ld, NULL, NULL, NULL);
      if (cols >= 2 && expect_ok != (bst == BN_OK))
        fail_msg("batchnorm: rows %zu cols %zu ld %zu offset %zu: status %d", rows, cols, ld,
                 off, (int)bst);
    }
  }
}

static void different_leading_dimensions_must_be_disjoint(void **state)
{
  (void)state;
  float buf[64] = {0};
  /* y = x + 1 element, ld 4 vs 5: spans meet, so refused even if the
   * element sets might not intersect */
  assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0.0f, 2, 3, buf, 4, buf + 1, 5),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0.0f, 2, 3, buf, 4, buf, 5),
                   BN_ERR_INVALID_ARGUMENT);
  /* disjoint spans are fine */
  assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0.0f, 2, 3, buf, 4, buf + 32, 5), BN_OK);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_offset_follows_the_rule),
    cmocka_unit_test(different_leading_dimensions_must_be_disjoint),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

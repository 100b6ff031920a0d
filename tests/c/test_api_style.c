/* The API conventions of docs/architecture.md ("Conventions") that can be
 * checked by a compiler: moved declarations still come with the headers
 * that used to declare them, and superseded names are aliases with the
 * same value. This file includes only bn/batchnorm.h and bn/dense.h (not
 * bn/bn.h), as a program written before the move did. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <bn/batchnorm.h>
#include <bn/dense.h>

/* bn_mode moved to bn/mode.h and bn_init to bn/init.h; the old headers
 * include the new ones, so these names are still declared here. */
static void moved_declarations_come_with_the_old_headers(void **state)
{
  (void)state;
  bn_mode mode = BN_MODE_INFERENCE;
  bn_init scheme = BN_INIT_GLOROT_NORMAL;
  assert_int_equal(mode, 2);
  assert_int_equal(BN_MODE_TRAINING, 1);
  assert_int_equal(scheme, 3);
  assert_int_equal(BN_INIT_ZEROS, 0);
  assert_int_equal(BN_INIT_HE_NORMAL, 1);
  assert_int_equal(BN_INIT_GLOROT_UNIFORM, 2);
}

/* One fused-ReLU flag: the kernels' old name is an alias of the layer's,
 * and the layer's value never changed (state blobs store it). */
static void fused_relu_has_one_value(void **state)
{
  (void)state;
  assert_int_equal(BN_KERNEL_FUSE_RELU, BN_BATCHNORM_FUSE_RELU);
  assert_int_equal(BN_BATCHNORM_FUSE_RELU, 1u << 5);
  unsigned layer_flags = BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT |
                         BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_CUMULATIVE_AVERAGE |
                         BN_BATCHNORM_BIASED_RUNNING_VAR;
  assert_int_equal(layer_flags & BN_BATCHNORM_FUSE_RELU, 0);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(moved_declarations_come_with_the_old_headers),
      cmocka_unit_test(fused_relu_has_one_value),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The API conventions of docs/architecture.md ("Conventions") that are not
 * about one function: moved declarations still come with the headers that
 * used to declare them, superseded flag names are aliases with the same
 * value, and every backward takes dx = NULL. This file includes only
 * bn/batchnorm.h and bn/dense.h (not bn/bn.h), as a program written before
 * the move did. */
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

/* Every backward takes dx = NULL and then computes only the parameter
 * gradients, the same ones as with dx: the BatchNorm layer, the three
 * BatchNorm kernels and the dense layer. */
static void every_backward_takes_a_null_dx(void **state)
{
  (void)state;
  enum { F = 3, N = 4 };
  const float x[F * N] = {1, -2, 3, 4, 5, -6, 7, 8, 0.5f, -1, 2, 3},
              dy[F * N] = {0.5f, 1, -1, 2, 0.25f, 3, -2, 1, 1, 0, 1, -1},
              gamma[F] = {1.5f, -1, 2}, beta[F] = {0.5f, 0, -1}, mean[F] = {1, 2, 3},
              var[F] = {1, 4, 2};
  float y[F * N], dx[F * N], sm[F], si[F], r[F], d[F], g1[F], b1[F], g2[F], b2[F];
  assert_int_equal(bn_batchnorm_forward_training(F, N, x, F, gamma, beta, 1e-5f, 0, y, F, sm,
                                                 si, NULL), BN_OK);
  assert_int_equal(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm, si, gamma, beta, 0,
                                                  dx, F, g1, b1), BN_OK);
  assert_int_equal(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm, si, gamma, beta, 0,
                                                  NULL, 0, g2, b2), BN_OK);
  assert_memory_equal(g1, g2, sizeof g1);
  assert_memory_equal(b1, b2, sizeof b1);
  assert_int_equal(bn_batchnorm_backward_inference(F, N, x, F, dy, F, mean, var, gamma, beta,
                                                   1e-5f, BN_BATCHNORM_FUSE_RELU, dx, F, g1, b1),
                   BN_OK);
  assert_int_equal(bn_batchnorm_backward_inference(F, N, x, F, dy, F, mean, var, gamma, beta,
                                                   1e-5f, BN_BATCHNORM_FUSE_RELU, NULL, 0, g2,
                                                   b2), BN_OK);
  assert_memory_equal(g1, g2, sizeof g1);
  assert_memory_equal(b1, b2, sizeof b1);
  assert_int_equal(bn_batchnorm_renorm_forward_training(F, N, x, F, gamma, beta, 1e-5f, 0, mean,
                                                        var, 2.0f, 1.0f, y, F, sm, si, NULL, r,
                                                        d), BN_OK);
  assert_int_equal(bn_batchnorm_renorm_backward_training(F, N, x, F, dy, F, sm, si, r, d, gamma,
                                                         beta, 0, dx, F, g1, b1), BN_OK);
  assert_int_equal(bn_batchnorm_renorm_backward_training(F, N, x, F, dy, F, sm, si, r, d, gamma,
                                                         beta, 0, NULL, 0, g2, b2), BN_OK);
  assert_memory_equal(g1, g2, sizeof g1);
  /* dy is still required and checked */
  assert_int_equal(bn_batchnorm_backward_training(F, N, x, F, NULL, F, sm, si, gamma, beta, 0,
                                                  NULL, 0, g2, b2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_batchnorm_backward_inference(F, N, x, F, dy, F - 1, mean, var, gamma,
                                                   beta, 1e-5f, 0, NULL, 0, g2, b2),
                   BN_ERR_INVALID_ARGUMENT);

  bn_batchnorm *bn = NULL;
  assert_int_equal(bn_batchnorm_create(&bn, F, 0), BN_OK);
  assert_int_equal(bn_batchnorm_forward(bn, BN_MODE_TRAINING, N, x, F, y, F), BN_OK);
  assert_int_equal(bn_batchnorm_backward(bn, N, x, F, dy, F, NULL, 0), BN_OK);
  assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DGAMMA, g2, F), BN_OK);
  assert_int_equal(bn_batchnorm_backward(bn, N, x, F, dy, F, dx, F), BN_OK);
  assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DGAMMA, g1, F), BN_OK);
  assert_memory_equal(g1, g2, sizeof g1);
  bn_batchnorm_destroy(bn);

  bn_dense *dense = NULL;
  float w[F * F] = {1, 2, 3, 4, 5, 6, 7, 8, 9}, dw1[F * F], dw2[F * F];
  assert_int_equal(bn_dense_create(&dense, F, F, 0), BN_OK);
  assert_int_equal(bn_dense_set(dense, BN_DENSE_WEIGHT, w, F * F), BN_OK);
  assert_int_equal(bn_dense_backward(dense, N, x, F, dy, F, dx, F), BN_OK);
  assert_int_equal(bn_dense_get(dense, BN_DENSE_DWEIGHT, dw1, F * F), BN_OK);
  assert_int_equal(bn_dense_backward(dense, N, x, F, dy, F, NULL, 0), BN_OK);
  assert_int_equal(bn_dense_get(dense, BN_DENSE_DWEIGHT, dw2, F * F), BN_OK);
  assert_memory_equal(dw1, dw2, sizeof dw1);
  bn_dense_destroy(dense);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(moved_declarations_come_with_the_old_headers),
      cmocka_unit_test(fused_relu_has_one_value),
      cmocka_unit_test(every_backward_takes_a_null_dx),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The fused BatchNorm+ReLU (BN_KERNEL_FUSE_RELU in the kernels,
 * BN_BATCHNORM_FUSE_RELU in the layer) is bit for bit the composition
 * BatchNorm -> bn_activation_forward(RELU) and, backwards,
 * bn_activation_backward(RELU) -> BatchNorm backward. Compared with memcmp:
 * any difference, even of one ulp or of the sign of a zero, fails. Finite
 * inputs only (on NaN they differ by design: the fused ReLU maps NaN to 0,
 * bn_activation_forward keeps NaN). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/batchnorm.h>
#include <bn/batchnorm_kernels.h>
#include <bn/activations.h>
#include "testing.h"

typedef struct problem {
  size_t F, N, ld;
} problem;

static const problem problems[] = {{1, 2, 1}, {7, 5, 9}, {16, 33, 16}, {37, 64, 40}, {3, 257, 5}};

static float *floats(size_t n)
{
  float *p = calloc(n, sizeof *p);
  assert_non_null(p);
  return p;
}

static void assert_columns_equal(const float *a, const float *b, size_t F, size_t N, size_t ld)
{
  for (size_t j = 0; j < N; j++)
    assert_memory_equal(a + j * ld, b + j * ld, F * sizeof(float));
}

static void test_kernels(void **state)
{
  (void)state;
  test_rng r = {51};
  for (size_t p = 0; p < sizeof problems / sizeof problems[0]; p++)
    for (int affine = 0; affine < 2; affine++) {
      const size_t F = problems[p].F, N = problems[p].N, ld = problems[p].ld, n = ld * N;
      float *x = floats(n), *dy = floats(n), *y0 = floats(n), *y1 = floats(n), *g = floats(n);
      float *dx0 = floats(n), *dx1 = floats(n);
      float gamma[64], beta[64], mean[64], invstd[64], mean1[64], invstd1[64], var[64];
      float dg0[64], db0[64], dg1[64], db1[64], rmean[64], rvar[64];
      test_fill(&r, x, F, N, ld, 1.0, 2.0);
      test_fill(&r, dy, F, N, ld, 0.0, 1.0);
      for (size_t f = 0; f < F; f++) {
        gamma[f] = (float)(1.0 + 0.5 * test_rng_normal(&r));
        beta[f] = (float)(0.5 * test_rng_normal(&r));
        rmean[f] = (float)test_rng_normal(&r);
        rvar[f] = (float)(0.5 + test_rng_uniform(&r));
      }
      const float *gm = affine ? gamma : NULL, *bt = affine ? beta : NULL;
      const float eps = 1e-5f;

      /* training forward */
      assert_int_equal(bn_batchnorm_forward_training(F, N, x, ld, gm, bt, eps, 0, y0, ld, mean,
                                                     invstd, var), BN_OK);
      assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0, F, N, y0, ld, y0, ld), BN_OK);
      assert_int_equal(bn_batchnorm_forward_training(F, N, x, ld, gm, bt, eps, BN_KERNEL_FUSE_RELU,
                                                     y1, ld, mean1, invstd1, NULL), BN_OK);
      assert_columns_equal(y0, y1, F, N, ld);
      assert_memory_equal(mean, mean1, F * sizeof(float));
      assert_memory_equal(invstd, invstd1, F * sizeof(float));
      /* training backward */
      assert_int_equal(bn_activation_backward(BN_ACT_RELU, 0, F, N, y0, ld, dy, ld, g, ld), BN_OK);
      assert_int_equal(bn_batchnorm_backward_training(F, N, x, ld, g, ld, mean, invstd, gm, bt, 0,
                                                      dx0, ld, dg0, db0), BN_OK);
      assert_int_equal(bn_batchnorm_backward_training(F, N, x, ld, dy, ld, mean, invstd, gm, bt,
                                                      BN_KERNEL_FUSE_RELU, dx1, ld, dg1, db1), BN_OK);
      assert_columns_equal(dx0, dx1, F, N, ld);
      assert_memory_equal(dg0, dg1, F * sizeof(float));
      assert_memory_equal(db0, db1, F * sizeof(float));

      /* inference forward and backward */
      assert_int_equal(bn_batchnorm_forward_inference(F, N, x, ld, rmean, rvar, gm, bt, eps, 0, y0,
                                                      ld), BN_OK);
      assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0, F, N, y0, ld, y0, ld), BN_OK);
      assert_int_equal(bn_batchnorm_forward_inference(F, N, x, ld, rmean, rvar, gm, bt, eps,
                                                      BN_KERNEL_FUSE_RELU, y1, ld), BN_OK);
      assert_columns_equal(y0, y1, F, N, ld);
      assert_int_equal(bn_activation_backward(BN_ACT_RELU, 0, F, N, y0, ld, dy, ld, g, ld), BN_OK);
      assert_int_equal(bn_batchnorm_backward_inference(F, N, x, ld, g, ld, rmean, rvar, gm, bt, eps,
                                                       0, dx0, ld, dg0, db0), BN_OK);
      assert_int_equal(bn_batchnorm_backward_inference(F, N, x, ld, dy, ld, rmean, rvar, gm, bt,
                                                       eps, BN_KERNEL_FUSE_RELU, dx1, ld, dg1, db1),
                       BN_OK);
      assert_columns_equal(dx0, dx1, F, N, ld);
      assert_memory_equal(dg0, dg1, F * sizeof(float));
      assert_memory_equal(db0, db1, F * sizeof(float));
      free(x), free(dy), free(y0), free(y1), free(g), free(dx0), free(dx1);
    }
}

static void layer_vectors_equal(bn_batchnorm *a, bn_batchnorm *b, size_t F, unsigned flags)
{
  static const bn_batchnorm_tensor ids[] = {BN_BATCHNORM_RUNNING_MEAN, BN_BATCHNORM_RUNNING_VAR,
                                            BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA};
  float va[64], vb[64];
  for (size_t k = 0; k < 4; k++) {
    if ((ids[k] == BN_BATCHNORM_DGAMMA && (flags & BN_BATCHNORM_NO_SCALE)) ||
        (ids[k] == BN_BATCHNORM_DBETA && (flags & BN_BATCHNORM_NO_SHIFT)))
      continue;
    assert_int_equal(bn_batchnorm_get(a, ids[k], va, F), BN_OK);
    assert_int_equal(bn_batchnorm_get(b, ids[k], vb, F), BN_OK);
    assert_memory_equal(va, vb, F * sizeof(float));
  }
}

static void test_layer(void **state)
{
  (void)state;
  test_rng r = {52};
  for (size_t p = 0; p < sizeof problems / sizeof problems[0]; p++)
    for (unsigned flags = 0; flags <= (BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT); flags++) {
      const size_t F = problems[p].F, N = problems[p].N, ld = problems[p].ld, n = ld * N;
      bn_batchnorm *plain = NULL, *fused = NULL;
      assert_int_equal(bn_batchnorm_create(&plain, F, flags), BN_OK);
      assert_int_equal(bn_batchnorm_create(&fused, F, flags | BN_BATCHNORM_FUSE_RELU), BN_OK);
      float gamma[64], beta[64];
      for (size_t f = 0; f < F; f++) {
        gamma[f] = (float)(1.0 + 0.5 * test_rng_normal(&r));
        beta[f] = (float)(0.5 * test_rng_normal(&r));
      }
      if (!(flags & BN_BATCHNORM_NO_SCALE)) {
        bn_batchnorm_set(plain, BN_BATCHNORM_GAMMA, gamma, F);
        bn_batchnorm_set(fused, BN_BATCHNORM_GAMMA, gamma, F);
      }
      if (!(flags & BN_BATCHNORM_NO_SHIFT)) {
        bn_batchnorm_set(plain, BN_BATCHNORM_BETA, beta, F);
        bn_batchnorm_set(fused, BN_BATCHNORM_BETA, beta, F);
      }
      float *x = floats(n), *dy = floats(n), *y0 = floats(n), *y1 = floats(n), *g = floats(n);
      float *dx0 = floats(n), *dx1 = floats(n);
      for (int step = 0; step < 3; step++) {
        const bn_mode mode = step < 2 ? BN_MODE_TRAINING : BN_MODE_INFERENCE;
        test_fill(&r, x, F, N, ld, -0.5, 1.5);
        test_fill(&r, dy, F, N, ld, 0.0, 1.0);
        assert_int_equal(bn_batchnorm_forward(plain, mode, N, x, ld, y0, ld), BN_OK);
        assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0, F, N, y0, ld, y0, ld), BN_OK);
        assert_int_equal(bn_batchnorm_forward(fused, mode, N, x, ld, y1, ld), BN_OK);
        assert_columns_equal(y0, y1, F, N, ld);
        assert_int_equal(bn_activation_backward(BN_ACT_RELU, 0, F, N, y0, ld, dy, ld, g, ld), BN_OK);
        assert_int_equal(bn_batchnorm_backward(plain, N, x, ld, g, ld, dx0, ld), BN_OK);
        assert_int_equal(bn_batchnorm_backward(fused, N, x, ld, dy, ld, dx1, ld), BN_OK);
        assert_columns_equal(dx0, dx1, F, N, ld);
        layer_vectors_equal(plain, fused, F, flags);
      }
      free(x), free(dy), free(y0), free(y1), free(g), free(dx0), free(dx1);
      bn_batchnorm_destroy(plain);
      bn_batchnorm_destroy(fused);
    }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_kernels),
    cmocka_unit_test(test_layer),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

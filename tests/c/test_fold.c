/* Folding an inference-mode BatchNorm into the preceding dense layer: the
 * folded layer computes Dense -> BatchNorm(inference) on random layers with
 * and without dense bias, BN scale and BN shift; the folded parameters are
 * the double-precision formulas rounded once; the errors. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/dense.h>
#include <bn/batchnorm.h>
#include "testing.h"

enum { IN = 9, OUT = 6, B = 13, LDX = 11, LDY = 7 };

static void set_random(test_rng *r, bn_batchnorm *bn, bn_batchnorm_tensor which, double mean,
                       double sd, int positive)
{
  float v[OUT];
  for (int f = 0; f < OUT; f++) {
    double z = mean + sd * test_rng_normal(r);
    v[f] = (float)(positive ? fabs(z) : z);
  }
  assert_int_equal(bn_batchnorm_set(bn, which, v, OUT), BN_OK);
}

static bn_dense *random_dense(test_rng *r, unsigned flags)
{
  bn_dense *d = NULL;
  float w[IN * OUT], b[OUT];
  assert_int_equal(bn_dense_create(&d, IN, OUT, flags), BN_OK);
  test_fill(r, w, IN * OUT, 1, IN * OUT, 0.0, 0.5);
  test_fill(r, b, OUT, 1, OUT, 1.0, 2.0);
  assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, w, IN * OUT), BN_OK);
  if (!(flags & BN_DENSE_NO_BIAS))
    assert_int_equal(bn_dense_set(d, BN_DENSE_BIAS, b, OUT), BN_OK);
  return d;
}

static void test_fold_equivalence(void **state)
{
  (void)state;
  test_rng r = {41};
  for (unsigned dflags = 0; dflags <= BN_DENSE_NO_BIAS; dflags++)
    for (unsigned bflags = 0; bflags <= (BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT); bflags++)
      for (int trial = 0; trial < 3; trial++) {
        bn_dense *d = random_dense(&r, dflags), *f = NULL;
        bn_batchnorm *bn = NULL;
        assert_int_equal(bn_batchnorm_create(&bn, OUT, bflags), BN_OK);
        assert_int_equal(bn_batchnorm_set_eps(bn, trial == 2 ? 1e-3f : 1e-5f), BN_OK);
        set_random(&r, bn, BN_BATCHNORM_RUNNING_MEAN, 1.0, 2.0, 0);
        set_random(&r, bn, BN_BATCHNORM_RUNNING_VAR, 0.0, 3.0, 1);
        if (!(bflags & BN_BATCHNORM_NO_SCALE))
          set_random(&r, bn, BN_BATCHNORM_GAMMA, 1.0, 0.5, 0);
        if (!(bflags & BN_BATCHNORM_NO_SHIFT))
          set_random(&r, bn, BN_BATCHNORM_BETA, 0.0, 1.0, 0);
        assert_int_equal(bn_dense_fold_batchnorm(d, bn, &f), BN_OK);
        assert_non_null(f);
        unsigned ff = 1;
        bn_dense_flags(f, &ff);
        assert_true(ff == 0); /* always a bias */

        float x[LDX * B], h[LDY * B], y1[LDY * B], y2[LDY * B];
        test_fill(&r, x, IN, B, LDX, 0.5, 2.0);
        assert_int_equal(bn_dense_forward(d, B, x, LDX, h, LDY), BN_OK);
        assert_int_equal(bn_batchnorm_forward(bn, BN_MODE_INFERENCE, B, h, LDY, y1, LDY), BN_OK);
        assert_int_equal(bn_dense_forward(f, B, x, LDX, y2, LDY), BN_OK);
        double ymax = 0.0;
        for (int j = 0; j < B; j++)
          for (int o = 0; o < OUT; o++)
            ymax = fmax(ymax, fabs((double)y1[o + j * LDY]));
        for (int j = 0; j < B; j++)
          for (int o = 0; o < OUT; o++) {
            double a = y1[o + j * LDY], c = y2[o + j * LDY];
            assert_true(fabs(a - c) <= 1e-5 * fmax(fabs(a), 1e-2 * ymax));
          }

        /* The folded parameters are the formulas in double, rounded once. */
        float w[IN * OUT], b[OUT] = {0}, w2[IN * OUT], b2[OUT], mean[OUT], var[OUT],
              gamma[OUT], beta[OUT], eps;
        bn_dense_get(d, BN_DENSE_WEIGHT, w, IN * OUT);
        if (!dflags)
          bn_dense_get(d, BN_DENSE_BIAS, b, OUT);
        bn_dense_get(f, BN_DENSE_WEIGHT, w2, IN * OUT);
        bn_dense_get(f, BN_DENSE_BIAS, b2, OUT);
        bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_MEAN, mean, OUT);
        bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_VAR, var, OUT);
        bn_batchnorm_get_eps(bn, &eps);
        for (int o = 0; o < OUT; o++)
          gamma[o] = 1.0f, beta[o] = 0.0f;
        if (!(bflags & BN_BATCHNORM_NO_SCALE))
          bn_batchnorm_get(bn, BN_BATCHNORM_GAMMA, gamma, OUT);
        if (!(bflags & BN_BATCHNORM_NO_SHIFT))
          bn_batchnorm_get(bn, BN_BATCHNORM_BETA, beta, OUT);
        for (int o = 0; o < OUT; o++) {
          double s = (double)gamma[o] / sqrt((double)var[o] + (double)eps);
          for (int i = 0; i < IN; i++)
            assert_true(w2[o * IN + i] == (float)((double)w[o * IN + i] * s));
          assert_true(b2[o] == (float)(((double)b[o] - mean[o]) * s + beta[o]));
        }
        /* Neither input changed. */
        float again[IN * OUT];
        bn_dense_get(d, BN_DENSE_WEIGHT, again, IN * OUT);
        assert_memory_equal(again, w, sizeof w);
        bn_dense_destroy(f);
        bn_dense_destroy(d);
        bn_batchnorm_destroy(bn);
      }
}

/* A BatchNorm trained for a few batches (running statistics from data, the
 * PyTorch-style unbiased running variance) folds just the same. */
static void test_fold_after_training(void **state)
{
  (void)state;
  test_rng r = {42};
  bn_dense *d = random_dense(&r, BN_DENSE_NO_BIAS), *f = NULL;
  bn_batchnorm *bn = NULL;
  assert_int_equal(bn_batchnorm_create(&bn, OUT, 0), BN_OK);
  set_random(&r, bn, BN_BATCHNORM_GAMMA, 1.0, 0.3, 0);
  set_random(&r, bn, BN_BATCHNORM_BETA, 0.0, 0.3, 0);
  float x[LDX * B], h[LDY * B], y1[LDY * B], y2[LDY * B];
  for (int step = 0; step < 20; step++) {
    test_fill(&r, x, IN, B, LDX, 3.0, 2.0);
    bn_dense_forward(d, B, x, LDX, h, LDY);
    assert_int_equal(bn_batchnorm_forward(bn, BN_MODE_TRAINING, B, h, LDY, h, LDY), BN_OK);
  }
  assert_int_equal(bn_dense_fold_batchnorm(d, bn, &f), BN_OK);
  test_fill(&r, x, IN, B, LDX, 3.0, 2.0);
  bn_dense_forward(d, B, x, LDX, h, LDY);
  bn_batchnorm_forward(bn, BN_MODE_INFERENCE, B, h, LDY, y1, LDY);
  bn_dense_forward(f, B, x, LDX, y2, LDY);
  for (int j = 0; j < B; j++)
    for (int o = 0; o < OUT; o++) {
      double a = y1[o + j * LDY], c = y2[o + j * LDY];
      assert_true(fabs(a - c) <= 1e-5 * fmax(fabs(a), 1e-2));
    }
  bn_dense_destroy(f);
  bn_dense_destroy(d);
  bn_batchnorm_destroy(bn);
}

static void test_fold_errors(void **state)
{
  (void)state;
  test_rng r = {43};
  bn_dense *d = random_dense(&r, 0), *f = (bn_dense *)1;
  bn_batchnorm *bn = NULL, *wrong = NULL, *nostats = NULL, *relu = NULL;
  assert_int_equal(bn_batchnorm_create(&bn, OUT, 0), BN_OK);
  assert_int_equal(bn_batchnorm_create(&wrong, OUT + 1, 0), BN_OK);
  assert_int_equal(bn_batchnorm_create(&nostats, OUT, BN_BATCHNORM_NO_RUNNING_STATS), BN_OK);
  assert_int_equal(bn_batchnorm_create(&relu, OUT, BN_BATCHNORM_FUSE_RELU), BN_OK);
  assert_int_equal(bn_dense_fold_batchnorm(d, wrong, &f), BN_ERR_SHAPE_MISMATCH);
  assert_null(f);
  assert_true(strlen(bn_dense_last_error(d)) > 0);
  assert_int_equal(bn_dense_fold_batchnorm(d, nostats, &f), BN_ERR_WRONG_STATE);
  assert_true(strstr(bn_dense_last_error(d), "running statistics") != NULL);
  assert_int_equal(bn_dense_fold_batchnorm(d, relu, &f), BN_ERR_UNSUPPORTED);
  assert_true(strstr(bn_dense_last_error(d), "ReLU") != NULL);
  assert_int_equal(bn_dense_fold_batchnorm(NULL, bn, &f), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_fold_batchnorm(d, NULL, &f), BN_ERR_INVALID_ARGUMENT);
  assert_null(f);
  assert_int_equal(bn_dense_fold_batchnorm(d, bn, NULL), BN_ERR_INVALID_ARGUMENT);
  /* A fold that overflows float is refused rather than producing infinities. */
  float w[IN * OUT], tiny[OUT];
  for (int k = 0; k < IN * OUT; k++)
    w[k] = 3e38f;
  for (int o = 0; o < OUT; o++)
    tiny[o] = 0.0f;
  bn_dense_set(d, BN_DENSE_WEIGHT, w, IN * OUT);
  bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_VAR, tiny, OUT); /* scale 1/sqrt(1e-5) */
  assert_int_equal(bn_dense_fold_batchnorm(d, bn, &f), BN_ERR_NON_FINITE);
  assert_null(f);
  bn_dense_destroy(d);
  bn_batchnorm_destroy(bn);
  bn_batchnorm_destroy(wrong);
  bn_batchnorm_destroy(nostats);
  bn_batchnorm_destroy(relu);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_fold_equivalence),
    cmocka_unit_test(test_fold_after_training),
    cmocka_unit_test(test_fold_errors),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

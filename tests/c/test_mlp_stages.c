/* The stages of issue 9 beyond one training step (those are checked against
 * the float64 reference in test_mlp.c): the standardizer stage's fitting,
 * its errors and what fit and init do with it; folding networks with a
 * standardizer and a head BatchNorm; population statistics of the head's
 * BatchNorm; tensor queries; renorm under its schedule equal to plain
 * BatchNorm. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/bn.h>
#include "testing.h"

enum { I = 4, C = 3, N = 64 };
#include "mlp_testing.h"

/* Features of very different means and spreads (a standardizer matters),
 * up to a mean 1e6 times the spread. */
static void data(float *x, int32_t *labels, uint64_t seed)
{
  test_rng g = {seed};
  const double mean[I] = {100, -3, 0.5, 1e4}, sd[I] = {10, 0.1, 1, 0.01};
  test_fill_rows(&g, x, I, N, I, mean, sd);
  for (size_t n = 0; n < N; n++)
    labels[n] = (int32_t)((x[n * I] > 100.0f) + (x[1 + n * I] > -3.0f));
}

/* The same with means at most 10 spreads from 0: folding a standardizer
 * into float weights is exact to rounding only there (W x/s - W c/s rounds
 * relative to |x|/s; see docs/standardizer.md). */
static void moderate_data(float *x, int32_t *labels, uint64_t seed)
{
  test_rng g = {seed};
  const double mean[I] = {5, -3, 0.5, 20}, sd[I] = {2, 0.5, 1, 4};
  test_fill_rows(&g, x, I, N, I, mean, sd);
  for (size_t n = 0; n < N; n++)
    labels[n] = (int32_t)((x[n * I] > 5.0f) + (x[1 + n * I] > -3.0f));
}

static void test_standardizer_errors(void **state)
{
  (void)state;
  float x[I * N], out[C * N];
  int32_t labels[N];
  data(x, labels, 1);
  /* no stage */
  bn_mlp *plain = test_small_mlp(0, 1);
  const bn_standardizer *s = (const bn_standardizer *)1;
  assert_int_equal(bn_mlp_fit_standardizer(plain, N, x, I), BN_ERR_WRONG_STATE);
  assert_non_null(strstr(bn_mlp_last_error(plain), "BN_MLP_STANDARDIZE"));
  assert_int_equal(bn_mlp_partial_fit_standardizer(plain, N, x, I), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_mlp_standardizer(plain, &s), BN_ERR_WRONG_STATE);
  assert_null(s);
  bn_mlp_destroy(plain);
  /* not fitted: every forward refuses, naming the call to make */
  bn_mlp *m = test_small_mlp(BN_MLP_STANDARDIZE, 1);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, out, C),
                   BN_ERR_WRONG_STATE);
  assert_non_null(strstr(bn_mlp_last_error(m), "bn_mlp_fit_standardizer"));
  assert_int_equal(bn_mlp_train_step(m, N, x, I, labels, NULL, NULL), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_mlp_evaluate(m, N, x, I, labels, NULL, NULL, NULL), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_mlp_recompute_statistics(m, N, x, I), BN_ERR_WRONG_STATE);
  bn_mlp *f = (bn_mlp *)1;
  assert_int_equal(bn_mlp_fold_batchnorm(m, &f), BN_ERR_WRONG_STATE);
  assert_null(f);
  /* bad data: nothing changes */
  assert_int_equal(bn_mlp_fit_standardizer(m, 0, x, I), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_fit_standardizer(m, N, NULL, I), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_fit_standardizer(m, N, x, I - 1), BN_ERR_INVALID_ARGUMENT);
  float bad[I * N];
  memcpy(bad, x, sizeof bad);
  bad[I * 7 + 2] = NAN;
  assert_int_equal(bn_mlp_fit_standardizer(m, N, bad, I), BN_ERR_NON_FINITE);
  assert_int_equal(bn_mlp_standardizer(m, &s), BN_OK);
  uint64_t count = 99;
  assert_int_equal(bn_standardizer_count(s, &count), BN_OK);
  assert_int_equal(count, 0);
  assert_int_equal(bn_mlp_fit_standardizer(NULL, N, x, I), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_standardizer(NULL, &s), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_standardizer(m, NULL), BN_ERR_INVALID_ARGUMENT);
  /* unknown creation flags */
  bn_mlp *u = (bn_mlp *)1;
  const size_t hidden[1] = {5};
  assert_int_equal(bn_mlp_create(&u, I, hidden, 1, C, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, 1u << 9),
                   BN_ERR_INVALID_ARGUMENT);
  assert_null(u);
  bn_mlp_destroy(m);
}

/* fit() fits an unfitted stage over its data (the statistics of x computed
 * here), keeps a fitted one, and init() keeps it too. */
static void test_fit_fits_the_standardizer(void **state)
{
  (void)state;
  float x[I * N];
  int32_t labels[N];
  data(x, labels, 2);
  bn_mlp *m = test_small_mlp(BN_MLP_STANDARDIZE | BN_MLP_INPUT_BATCHNORM, 3);
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 4);
  assert_int_equal(bn_mlp_fit(m, N, x, I, labels, NULL, 16, 1, &shuffle, NULL, NULL), BN_OK);
  const bn_standardizer *s;
  assert_int_equal(bn_mlp_standardizer(m, &s), BN_OK);
  double mean[I], scale[I];
  assert_int_equal(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, mean, I), BN_OK);
  assert_int_equal(bn_standardizer_get(s, BN_STANDARDIZER_SCALE, scale, I), BN_OK);
  for (size_t f = 0; f < I; f++) {
    double mu = 0, v = 0;
    for (size_t n = 0; n < N; n++)
      mu += x[f + n * I];
    mu /= N;
    for (size_t n = 0; n < N; n++)
      v += (x[f + n * I] - mu) * (x[f + n * I] - mu);
    assert_true(fabs(mean[f] - mu) <= 1e-12 * fabs(mu));
    assert_true(fabs(scale[f] - sqrt(v / N)) <= 1e-9 * sqrt(v / N));
  }
  /* A second fit on other data keeps the fitted statistics. */
  float y[I * N];
  data(y, labels, 5);
  assert_int_equal(bn_mlp_fit(m, N, y, I, labels, NULL, 16, 1, &shuffle, NULL, NULL), BN_OK);
  double again[I];
  assert_int_equal(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, again, I), BN_OK);
  assert_memory_equal(again, mean, sizeof mean);
  bn_rng rng;
  bn_rng_seed(&rng, 1);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, again, I), BN_OK);
  assert_memory_equal(again, mean, sizeof mean);
  bn_mlp_destroy(m);
}

static bn_mlp *trained(bn_mlp_placement placement, unsigned flags, const float *x,
                       const int32_t *labels)
{
  const size_t hidden[2] = {7, 5};
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 2, C, BN_ACT_ELU, placement, BN_MLP_HEAD_SOFTMAX,
                                 flags),
                   BN_OK);
  bn_rng rng, shuffle;
  bn_rng_seed(&rng, 11);
  bn_rng_seed(&shuffle, 12);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0.01), BN_OK);
  assert_int_equal(bn_mlp_fit(m, N, x, I, labels, NULL, 16, 3, &shuffle, NULL, NULL), BN_OK);
  return m;
}

static double worst_diff(const float *a, const float *b, size_t n)
{
  double worst = 0;
  for (size_t i = 0; i < n; i++)
    worst = fmax(worst, fabs((double)a[i] - b[i]) / (1 + fabs((double)a[i])));
  return worst;
}

/* Folding absorbs the standardizer (into the first dense layer, after the
 * input BatchNorm) and the head's BatchNorm: the folded network has neither
 * and predicts the same logits to float rounding. */
static void test_fold_standardizer_and_head(void **state)
{
  (void)state;
  float x[I * N], p1[C * N], p2[C * N];
  int32_t labels[N];
  moderate_data(x, labels, 3);
  const bn_mlp_placement placements[3] = {BN_MLP_BN_NONE, BN_MLP_BN_BEFORE, BN_MLP_BN_AFTER};
  const unsigned flags[4] = {BN_MLP_STANDARDIZE, BN_MLP_HEAD_BATCHNORM,
                             BN_MLP_STANDARDIZE | BN_MLP_INPUT_BATCHNORM | BN_MLP_HEAD_BATCHNORM,
                             BN_MLP_STANDARDIZE | BN_MLP_HEAD_BATCHNORM | BN_MLP_RENORM};
  for (int k = 0; k < 12; k++) {
    bn_mlp *m = trained(placements[k % 3], flags[k / 3], x, labels), *f = NULL;
    assert_int_equal(bn_mlp_fold_batchnorm(m, &f), BN_OK);
    unsigned fflags = 99;
    assert_int_equal(bn_mlp_architecture(f, NULL, NULL, NULL, NULL, NULL, NULL, &fflags), BN_OK);
    assert_int_equal(fflags, 0);
    assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, p1, C), BN_OK);
    assert_int_equal(bn_mlp_predict(f, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, p2, C), BN_OK);
    if (!(worst_diff(p1, p2, C * N) <= 1e-5))
      fail_msg("case %d: folded logits differ by %.3g", k, worst_diff(p1, p2, C * N));
    bn_mlp_destroy(f);
    bn_mlp_destroy(m);
  }
}

/* The head's BatchNorm gets population statistics like the others:
 * inference over the data then equals one training-mode batch of it. */
static void test_head_population_statistics(void **state)
{
  (void)state;
  float x[I * N], pi[C * N], pt[C * N];
  int32_t labels[N];
  data(x, labels, 4);
  bn_mlp *m = trained(BN_MLP_BN_AFTER, BN_MLP_HEAD_BATCHNORM | BN_MLP_STANDARDIZE, x, labels);
  assert_int_equal(bn_mlp_recompute_statistics(m, N, x, I), BN_OK);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, pi, C), BN_OK);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_TRAINING, BN_MLP_LOGITS, N, x, I, pt, C), BN_OK);
  if (!(worst_diff(pt, pi, C * N) <= 2e-4))
    fail_msg("inference vs whole-batch logits differ by %.3g", worst_diff(pt, pi, C * N));
  bn_mlp_destroy(m);
}

static void test_tensors_and_counts(void **state)
{
  (void)state;
  bn_mlp *m = test_small_mlp(BN_MLP_HEAD_BATCHNORM | BN_MLP_STANDARDIZE, 1);
  size_t n = 99, params = 0;
  assert_int_equal(bn_mlp_tensor_size(m, 2, BN_MLP_BIAS, &n), BN_OK);
  assert_int_equal(n, 0); /* the head's dense layer has no bias */
  assert_int_equal(bn_mlp_tensor_size(m, 2, BN_MLP_GAMMA, &n), BN_OK);
  assert_int_equal(n, C);
  assert_int_equal(bn_mlp_tensor_size(m, 0, BN_MLP_GAMMA, &n), BN_OK);
  assert_int_equal(n, 0); /* the standardizer has no trainable tensor */
  assert_int_equal(bn_mlp_parameter_count(m, &params), BN_OK);
  /* W1 (5x4), BN1 gamma/beta (5+5), W2 (3x5), head BN gamma/beta (3+3) */
  assert_int_equal(params, 20 + 10 + 15 + 6);
  float gamma[C] = {1.5f, 0.5f, 2.0f}, back[C];
  assert_int_equal(bn_mlp_set(m, 2, BN_MLP_GAMMA, gamma, C), BN_OK);
  assert_int_equal(bn_mlp_get(m, 2, BN_MLP_GAMMA, back, C), BN_OK);
  assert_memory_equal(back, gamma, sizeof gamma);
  bn_mlp_destroy(m);
}

/* Under the schedule, renorm is plain BatchNorm for its first 5000 steps
 * (r = 1, d = 0): the same parameters bit for bit. */
static void test_renorm_schedule_starts_plain(void **state)
{
  (void)state;
  float x[I * N];
  int32_t labels[N];
  data(x, labels, 6);
  const unsigned flags = BN_MLP_INPUT_BATCHNORM | BN_MLP_HEAD_BATCHNORM;
  bn_mlp *a = trained(BN_MLP_BN_BEFORE, flags, x, labels);
  bn_mlp *b = trained(BN_MLP_BN_BEFORE, flags | BN_MLP_RENORM, x, labels);
  float wa[7 * I], wb[7 * I];
  assert_int_equal(bn_mlp_get(a, 1, BN_MLP_WEIGHT, wa, 7 * I), BN_OK);
  assert_int_equal(bn_mlp_get(b, 1, BN_MLP_WEIGHT, wb, 7 * I), BN_OK);
  assert_memory_equal(wa, wb, sizeof wa);
  float ga[C], gb[C];
  assert_int_equal(bn_mlp_get(a, 3, BN_MLP_GAMMA, ga, C), BN_OK);
  assert_int_equal(bn_mlp_get(b, 3, BN_MLP_GAMMA, gb, C), BN_OK);
  assert_memory_equal(ga, gb, sizeof ga);
  /* with fixed limits that bind, training differs */
  bn_mlp_destroy(b);
  const size_t hidden[2] = {7, 5};
  assert_int_equal(bn_mlp_create(&b, I, hidden, 2, C, BN_ACT_ELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, flags | BN_MLP_RENORM),
                   BN_OK);
  bn_rng rng, shuffle;
  bn_rng_seed(&rng, 11);
  bn_rng_seed(&shuffle, 12);
  assert_int_equal(bn_mlp_init(b, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(b, BN_MLP_LEARNING_RATE, 0.01), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(b, BN_MLP_RENORM_SCHEDULE, 0), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(b, BN_MLP_RENORM_RMAX, 1.5), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(b, BN_MLP_RENORM_DMAX, 1.0), BN_OK);
  assert_int_equal(bn_mlp_fit(b, N, x, I, labels, NULL, 16, 3, &shuffle, NULL, NULL), BN_OK);
  assert_int_equal(bn_mlp_get(b, 1, BN_MLP_WEIGHT, wb, 7 * I), BN_OK);
  assert_true(memcmp(wa, wb, sizeof wa) != 0);
  bn_mlp_destroy(a);
  bn_mlp_destroy(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_standardizer_errors),
    cmocka_unit_test(test_fit_fits_the_standardizer),
    cmocka_unit_test(test_fold_standardizer_and_head),
    cmocka_unit_test(test_head_population_statistics),
    cmocka_unit_test(test_tensors_and_counts),
    cmocka_unit_test(test_renorm_schedule_starts_plain),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

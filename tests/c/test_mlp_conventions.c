/* BN_MLP_BIASED_RUNNING_VAR: every BatchNorm of the network keeps the biased
 * batch variance in its running variance (Keras), and a model file keeps
 * the choice. Checked on the input BatchNorm after one step against the
 * closed form computed here in double:
 *   running_var = (1 - 0.1)*1 + 0.1 * var_batch * (N/(N-1) unless biased). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "testing.h"

enum { IN = 5, HIDDEN = 4, CLASSES = 3, N = 8 };

static void make_batch(float *x, int32_t *labels)
{
  test_rng r = {7};
  test_fill(&r, x, IN, N, IN, 2.0, 3.0);
  for (size_t j = 0; j < N; j++)
    labels[j] = (int32_t)(j % CLASSES);
}

static bn_mlp *trained_once(unsigned flags, const float *x, const int32_t *labels)
{
  const size_t hidden[] = {HIDDEN};
  bn_mlp *m = NULL;
  bn_rng rng;
  float loss;
  assert_int_equal(bn_mlp_create(&m, IN, hidden, 1, CLASSES, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM | flags),
                   BN_OK);
  assert_int_equal(bn_rng_seed(&rng, 3), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, N, x, IN, labels, NULL, &loss), BN_OK);
  return m;
}

static void expected_running_var(const float *x, int biased, double *out)
{
  for (size_t f = 0; f < IN; f++) {
    double mean = 0.0, m2 = 0.0;
    for (size_t j = 0; j < N; j++)
      mean += x[f + j * IN];
    mean /= N;
    for (size_t j = 0; j < N; j++)
      m2 += (x[f + j * IN] - mean) * (x[f + j * IN] - mean);
    double var = m2 / N * (biased ? 1.0 : (double)N / (N - 1));
    out[f] = 0.9 * 1.0 + 0.1 * var;
  }
}

static void running_variance_follows_the_flag(void **state)
{
  (void)state;
  float x[IN * N], rv[IN];
  int32_t labels[N];
  double want[IN];
  make_batch(x, labels);
  for (int biased = 0; biased <= 1; biased++) {
    bn_mlp *m = trained_once(biased ? BN_MLP_BIASED_RUNNING_VAR : 0u, x, labels);
    assert_int_equal(bn_mlp_get(m, 0, BN_MLP_RUNNING_VAR, rv, IN), BN_OK);
    expected_running_var(x, biased, want);
    for (size_t f = 0; f < IN; f++)
      if (fabs(rv[f] - want[f]) > 1e-6 * want[f])
        fail_msg("biased=%d feature %zu: running var %.9g, expected %.9g", biased, f,
                 (double)rv[f], want[f]);
    bn_mlp_destroy(m);
  }
}

static void model_files_keep_the_flag(void **state)
{
  (void)state;
  float x[IN * N], a[HIDDEN], b[HIDDEN], loss;
  int32_t labels[N];
  make_batch(x, labels);
  bn_mlp *m = trained_once(BN_MLP_BIASED_RUNNING_VAR, x, labels), *copy = NULL;
  size_t size = 0;
  assert_int_equal(bn_mlp_serialized_size(m, 0, &size), BN_OK);
  void *blob = malloc(size);
  assert_non_null(blob);
  assert_int_equal(bn_mlp_serialize(m, 0, blob, size, NULL), BN_OK);
  assert_int_equal(bn_mlp_deserialize(&copy, blob, size, NULL, 0), BN_OK);
  /* one more identical step on both: the hidden BatchNorm's running
   * variance only agrees if the copy uses the biased update too */
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 1e-3), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(copy, BN_MLP_LEARNING_RATE, 1e-3), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, BN_MLP_SGD), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(copy, BN_MLP_OPTIMIZER, BN_MLP_SGD), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, N, x, IN, labels, NULL, &loss), BN_OK);
  assert_int_equal(bn_mlp_train_step(copy, N, x, IN, labels, NULL, &loss), BN_OK);
  assert_int_equal(bn_mlp_get(m, 1, BN_MLP_RUNNING_VAR, a, HIDDEN), BN_OK);
  assert_int_equal(bn_mlp_get(copy, 1, BN_MLP_RUNNING_VAR, b, HIDDEN), BN_OK);
  assert_memory_equal(a, b, sizeof a);
  /* and differs from the unbiased network's */
  bn_mlp *unbiased = trained_once(0, x, labels);
  float c[HIDDEN];
  assert_int_equal(bn_mlp_get(unbiased, 1, BN_MLP_RUNNING_VAR, c, HIDDEN), BN_OK);
  float first[HIDDEN];
  bn_mlp *biased = trained_once(BN_MLP_BIASED_RUNNING_VAR, x, labels);
  assert_int_equal(bn_mlp_get(biased, 1, BN_MLP_RUNNING_VAR, first, HIDDEN), BN_OK);
  int differs = 0;
  for (size_t i = 0; i < HIDDEN; i++)
    differs |= first[i] != c[i];
  assert_true(differs);
  bn_mlp_destroy(biased);
  bn_mlp_destroy(unbiased);
  bn_mlp_destroy(copy);
  bn_mlp_destroy(m);
  free(blob);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(running_variance_follows_the_flag),
    cmocka_unit_test(model_files_keep_the_flag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

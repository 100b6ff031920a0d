/* Hostile inputs for every public function of bn/mlp.h: NULL pointers,
 * zero and overflowing sizes, leading dimensions below the row count,
 * unknown enums and flags, labels and targets out of range, non-finite
 * values, tunables out of bounds. Every rejection leaves the model as it was
 * and a message in the handle. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bn/bn.h>
#include <bn/mlp.h>
#include "testing.h"

#define I 4
#define C 3
#define N 6
#include "mlp_testing.h"

static bn_mlp *make(unsigned flags)
{
  return test_small_mlp(flags, 1);
}

static unsigned char *snapshot(const bn_mlp *m, size_t *size)
{
  assert_int_equal(bn_mlp_serialized_size(m, BN_MLP_SAVE_OPTIMIZER, size), BN_OK);
  unsigned char *b = malloc(*size);
  assert_int_equal(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, b, *size, NULL), BN_OK);
  return b;
}

static void assert_unchanged(const bn_mlp *m, const unsigned char *before, size_t size)
{
  size_t now;
  unsigned char *b = snapshot(m, &now);
  assert_int_equal(now, size);
  assert_memory_equal(b, before, size);
  free(b);
}

#define REJECT(call, status)                                                                  \
  do {                                                                                        \
    assert_int_equal((call), (status));                                                       \
    assert_true(bn_mlp_last_error(m)[0] != '\0');                                             \
  } while (0)

static void test_create_rejects(void **state)
{
  (void)state;
  const size_t hidden[2] = {5, 0}, huge[2] = {SIZE_MAX / 2, SIZE_MAX / 2};
  bn_mlp *m = (bn_mlp *)(uintptr_t)1;
  const bn_mlp_head SM = BN_MLP_HEAD_SOFTMAX;
  assert_int_equal(bn_mlp_create(NULL, I, hidden, 1, C, BN_ACT_RELU, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, 0, hidden, 1, C, BN_ACT_RELU, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_null(m);
  assert_int_equal(bn_mlp_create(&m, I, NULL, 1, C, BN_ACT_RELU, 0, SM, 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 2, C, BN_ACT_RELU, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT); /* a zero width */
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, 1, BN_ACT_RELU, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT); /* softmax over one class */
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, 0, BN_ACT_RELU, 0, BN_MLP_HEAD_SIGMOID, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_SOFTMAX, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_IDENTITY, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, (bn_activation)77, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_RELU, (bn_mlp_placement)3, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_RELU, 0, (bn_mlp_head)0, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_RELU, 0, SM, 1u << 7),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, I, hidden, 2000, C, BN_ACT_RELU, 0, SM, 0),
                   BN_ERR_INVALID_ARGUMENT);
  bn_status st = bn_mlp_create(&m, I, huge, 2, C, BN_ACT_RELU, 0, SM, 0);
  assert_true(st == BN_ERR_SIZE_OVERFLOW);
  assert_null(m);
  st = bn_mlp_create(&m, SIZE_MAX, hidden, 1, C, BN_ACT_RELU, 0, SM, 0);
  assert_true(st == BN_ERR_SIZE_OVERFLOW || st == BN_ERR_OUT_OF_MEMORY);
  assert_null(m);
  bn_mlp_destroy(NULL);
  assert_non_null(bn_mlp_last_error(NULL));
}

static void test_queries_reject(void **state)
{
  (void)state;
  bn_mlp *m = make(0);
  size_t sizes[2], count;
  assert_int_equal(bn_mlp_architecture(NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_architecture(m, NULL, NULL, NULL, NULL, NULL, NULL, NULL), BN_OK);
  REJECT(bn_mlp_hidden_sizes(m, sizes, 2), BN_ERR_SHAPE_MISMATCH);
  REJECT(bn_mlp_hidden_sizes(m, NULL, 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_hidden_sizes(NULL, sizes, 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_parameter_count(NULL, &count), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_parameter_count(m, NULL), BN_ERR_INVALID_ARGUMENT);
  bn_rng rng;
  bn_rng_seed(&rng, 1);
  REJECT(bn_mlp_init(m, (bn_init)9, &rng), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_init(m, BN_INIT_HE_NORMAL, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_init(NULL, BN_INIT_HE_NORMAL, &rng), BN_ERR_INVALID_ARGUMENT);
  bn_rng zero = {{0, 0, 0, 0}}; /* never seeded */
  size_t size;
  unsigned char *before = snapshot(m, &size);
  assert_true(bn_mlp_init(m, BN_INIT_HE_NORMAL, &zero) != BN_OK);
  assert_unchanged(m, before, size);
  free(before);
  assert_int_equal(bn_mlp_set_batch_callback(NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  bn_mlp_destroy(m);
}

static void test_parameters_reject(void **state)
{
  (void)state;
  bn_mlp *m = make(BN_MLP_INPUT_BATCHNORM);
  size_t size;
  unsigned char *before = snapshot(m, &size);
  REJECT(bn_mlp_set_parameter(m, (bn_mlp_param)0, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, (bn_mlp_param)99, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, 0), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, 5), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, 2.5), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, -1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, NAN), BN_ERR_NON_FINITE);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, INFINITY), BN_ERR_NON_FINITE);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_MOMENTUM_COEF, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_ADAM_BETA2, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_ADAM_EPSILON, 0), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, -0.1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_DECAY_ALL, 2), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_ELU_ALPHA, 1e-50), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_BN_EPSILON, 0), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_BN_UPDATE_FACTOR, 1.5), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_STEP, -1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set_parameter(m, BN_MLP_STEP, 0.5), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_parameter(NULL, BN_MLP_STEP, 0), BN_ERR_INVALID_ARGUMENT);
  assert_unchanged(m, before, size);
  free(before);
  double v, lo, hi;
  REJECT(bn_mlp_get_parameter(m, (bn_mlp_param)99, &v), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_get_parameter(m, BN_MLP_STEP, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_get_parameter(NULL, BN_MLP_STEP, &v), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_parameter_bounds((bn_mlp_param)0, &lo, &hi), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_parameter_bounds(BN_MLP_STEP, NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_parameter_bounds(BN_MLP_OPTIMIZER, &lo, &hi), BN_OK);
  assert_true(lo == BN_MLP_SGD && hi == BN_MLP_ADAM);
  /* Every parameter's bounds are accepted where closed, and its value round-trips. */
  for (int p = BN_MLP_OPTIMIZER; p <= BN_MLP_STEP; p++) {
    assert_int_equal(bn_mlp_parameter_bounds((bn_mlp_param)p, &lo, &hi), BN_OK);
    assert_true(lo <= hi);
    assert_int_equal(bn_mlp_get_parameter(m, (bn_mlp_param)p, &v), BN_OK);
    assert_true(v >= lo && v <= hi);
    assert_int_equal(bn_mlp_set_parameter(m, (bn_mlp_param)p, v), BN_OK);
  }
  bn_mlp_destroy(m);
}

static void test_tensors_reject(void **state)
{
  (void)state;
  bn_mlp *m = make(0);
  float buf[64] = {0};
  size_t size;
  unsigned char *before = snapshot(m, &size);
  REJECT(bn_mlp_get(m, 0, BN_MLP_GAMMA, buf, I), BN_ERR_WRONG_STATE); /* no input BN */
  REJECT(bn_mlp_get(m, 3, BN_MLP_WEIGHT, buf, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_get(m, 1, (bn_mlp_tensor)0, buf, 1), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_get(m, 1, BN_MLP_WEIGHT, buf, 19), BN_ERR_SHAPE_MISMATCH);
  REJECT(bn_mlp_get(m, 1, BN_MLP_WEIGHT, NULL, 20), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_get(m, 1, BN_MLP_BIAS, buf, 5), BN_ERR_WRONG_STATE);
  REJECT(bn_mlp_get(m, 2, BN_MLP_GAMMA, buf, 3), BN_ERR_WRONG_STATE);
  REJECT(bn_mlp_get(m, 2, BN_MLP_RUNNING_MEAN, buf, 3), BN_ERR_WRONG_STATE);
  REJECT(bn_mlp_get(m, 1, BN_MLP_DGAMMA, buf, 5), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_mlp_get(NULL, 1, BN_MLP_WEIGHT, buf, 20), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set(m, 1, BN_MLP_DWEIGHT, buf, 20), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set(m, 1, BN_MLP_WEIGHT, NULL, 20), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_set(m, 1, BN_MLP_WEIGHT, buf, 21), BN_ERR_SHAPE_MISMATCH);
  buf[3] = NAN;
  REJECT(bn_mlp_set(m, 1, BN_MLP_WEIGHT, buf, 20), BN_ERR_NON_FINITE);
  buf[3] = -1;
  REJECT(bn_mlp_set(m, 1, BN_MLP_RUNNING_VAR, buf, 5), BN_ERR_INVALID_ARGUMENT);
  buf[3] = INFINITY;
  REJECT(bn_mlp_set(m, 1, BN_MLP_GAMMA, buf, 5), BN_ERR_NON_FINITE);
  assert_int_equal(bn_mlp_set(NULL, 1, BN_MLP_WEIGHT, buf, 20), BN_ERR_INVALID_ARGUMENT);
  assert_unchanged(m, before, size);
  free(before);
  bn_mlp_destroy(m);
}

static void test_training_rejects(void **state)
{
  (void)state;
  bn_mlp *m = make(BN_MLP_INPUT_BATCHNORM);
  float x[I * N], targets[N], loss = -7;
  int32_t labels[N] = {0, 1, 2, 0, 1, 2};
  test_rng g = {5};
  test_fill(&g, x, I, N, I, 0, 1);
  for (size_t n = 0; n < N; n++)
    targets[n] = 0.5f;
  size_t size;
  unsigned char *before = snapshot(m, &size);
  REJECT(bn_mlp_train_step(m, N, NULL, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, 0, x, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, N, x, I - 1, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, SIZE_MAX, x, SIZE_MAX / 2, labels, NULL, &loss),
         BN_ERR_SIZE_OVERFLOW);
  REJECT(bn_mlp_train_step(m, N, x, I, NULL, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, N, x, I, labels, targets, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, 1, x, I, labels, NULL, &loss), BN_ERR_BATCH_TOO_SMALL);
  labels[4] = 3;
  REJECT(bn_mlp_train_step(m, N, x, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  labels[4] = -1;
  REJECT(bn_mlp_train_step(m, N, x, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  labels[4] = INT32_MIN;
  REJECT(bn_mlp_train_step(m, N, x, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  labels[4] = 1;
  assert_true(loss == -7.0f);
  assert_int_equal(bn_mlp_train_step(NULL, N, x, I, labels, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  assert_unchanged(m, before, size);
  /* A NaN input: the BatchNorm refuses the batch; parameters, moments and
   * the step count are unchanged. */
  x[5] = NAN;
  REJECT(bn_mlp_train_step(m, N, x, I, labels, NULL, &loss), BN_ERR_NON_FINITE);
  assert_unchanged(m, before, size);
  x[5] = 0;
  /* fit's own arguments */
  REJECT(bn_mlp_fit(m, N, x, I, labels, NULL, 0, 1, NULL, NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_fit(m, N, x, I, labels, NULL, 1, 1, NULL, NULL, NULL), BN_ERR_BATCH_TOO_SMALL);
  REJECT(bn_mlp_fit(m, 0, x, I, labels, NULL, 2, 1, NULL, NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  labels[0] = 5;
  REJECT(bn_mlp_fit(m, N, x, I, labels, NULL, 2, 1, NULL, NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  labels[0] = 0;
  assert_int_equal(bn_mlp_fit(NULL, N, x, I, labels, NULL, 2, 1, NULL, NULL, NULL),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_fit(m, N, x, I, labels, NULL, 2, 0, NULL, NULL, NULL), BN_OK);
  assert_unchanged(m, before, size);
  free(before);
  bn_mlp_destroy(m);

  /* The sigmoid head checks its targets. */
  const size_t hidden[1] = {3};
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, 1, BN_ACT_TANH, BN_MLP_BN_NONE,
                                 BN_MLP_HEAD_SIGMOID, 0),
                   BN_OK);
  REJECT(bn_mlp_train_step(m, N, x, I, NULL, NULL, &loss), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_train_step(m, N, x, I, labels, targets, &loss), BN_ERR_INVALID_ARGUMENT);
  targets[2] = 1.5f;
  REJECT(bn_mlp_train_step(m, N, x, I, NULL, targets, &loss), BN_ERR_INVALID_ARGUMENT);
  targets[2] = NAN;
  REJECT(bn_mlp_train_step(m, N, x, I, NULL, targets, &loss), BN_ERR_NON_FINITE);
  targets[2] = 1.0f;
  /* Without BatchNorm, one sample is a valid batch. */
  assert_int_equal(bn_mlp_train_step(m, 1, x, I, NULL, targets, &loss), BN_OK);
  bn_mlp_destroy(m);
  /* Overflow: weights near FLT_MAX make the logits infinite; the step reports
   * it and changes no parameter. */
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, 1, BN_ACT_ELU, BN_MLP_BN_NONE,
                                 BN_MLP_HEAD_SIGMOID, 0),
                   BN_OK);
  float w[3 * I];
  for (size_t k = 0; k < 3 * I; k++)
    w[k] = 3e38f;
  assert_int_equal(bn_mlp_set(m, 1, BN_MLP_WEIGHT, w, 3 * I), BN_OK);
  assert_int_equal(bn_mlp_set(m, 2, BN_MLP_WEIGHT, w, 3), BN_OK);
  for (size_t k = 0; k < I * N; k++)
    x[k] = 10.0f;
  before = snapshot(m, &size);
  REJECT(bn_mlp_train_step(m, N, x, I, NULL, targets, &loss), BN_ERR_NON_FINITE);
  assert_unchanged(m, before, size);
  free(before);
  bn_mlp_destroy(m);
}

static void test_inference_rejects(void **state)
{
  (void)state;
  bn_mlp *m = make(BN_MLP_INPUT_BATCHNORM);
  float x[I * N], out[C * N], loss, acc;
  int32_t labels[N] = {0, 1, 2, 0, 1, 2};
  test_rng g = {6};
  test_fill(&g, x, I, N, I, 0, 1);
  const bn_mode INF = BN_MODE_INFERENCE;
  REJECT(bn_mlp_predict(m, (bn_mode)0, BN_MLP_LOGITS, N, x, I, out, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, (bn_mlp_output)0, N, x, I, out, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, 0, x, I, out, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, N, NULL, I, out, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, N, x, I, NULL, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, N, x, 3, out, C), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, N, x, I, out, 2), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_predict(m, INF, BN_MLP_LOGITS, SIZE_MAX / 4, x, SIZE_MAX / 8, out, C),
         BN_ERR_SIZE_OVERFLOW);
  REJECT(bn_mlp_predict(m, BN_MODE_TRAINING, BN_MLP_LOGITS, 1, x, I, out, C),
         BN_ERR_BATCH_TOO_SMALL);
  assert_int_equal(bn_mlp_predict(NULL, INF, BN_MLP_LOGITS, N, x, I, out, C),
                   BN_ERR_INVALID_ARGUMENT);
  /* One sample in inference mode is fine; NaN inputs propagate. */
  assert_int_equal(bn_mlp_predict(m, INF, BN_MLP_PROBABILITIES, 1, x, I, out, C), BN_OK);
  assert_true(fabs(out[0] + out[1] + out[2] - 1.0f) < 1e-6);
  x[0] = NAN;
  assert_int_equal(bn_mlp_predict(m, INF, BN_MLP_LOGITS, 1, x, I, out, C), BN_OK);
  assert_true(isnan(out[0]));
  REJECT(bn_mlp_evaluate(m, N, x, I, labels, NULL, &loss, &acc), BN_ERR_NON_FINITE);
  x[0] = 0;
  REJECT(bn_mlp_evaluate(m, N, x, I, NULL, NULL, &loss, &acc), BN_ERR_INVALID_ARGUMENT);
  labels[1] = 7;
  REJECT(bn_mlp_evaluate(m, N, x, I, labels, NULL, &loss, &acc), BN_ERR_INVALID_ARGUMENT);
  labels[1] = 1;
  REJECT(bn_mlp_evaluate(m, 0, x, I, labels, NULL, &loss, &acc), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_evaluate(NULL, N, x, I, labels, NULL, &loss, &acc),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_evaluate(m, N, x, I, labels, NULL, NULL, NULL), BN_OK);
  /* Statistics and folding. */
  REJECT(bn_mlp_recompute_statistics(m, 1, x, I), BN_ERR_BATCH_TOO_SMALL);
  REJECT(bn_mlp_recompute_statistics(m, N, NULL, I), BN_ERR_INVALID_ARGUMENT);
  REJECT(bn_mlp_recompute_statistics(m, N, x, 2), BN_ERR_INVALID_ARGUMENT);
  size_t size;
  unsigned char *before = snapshot(m, &size);
  x[7] = INFINITY;
  REJECT(bn_mlp_recompute_statistics(m, N, x, I), BN_ERR_NON_FINITE);
  assert_unchanged(m, before, size);
  free(before);
  assert_int_equal(bn_mlp_recompute_statistics(NULL, N, x, I), BN_ERR_INVALID_ARGUMENT);
  bn_mlp *f = (bn_mlp *)(uintptr_t)1;
  REJECT(bn_mlp_fold_batchnorm(m, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_fold_batchnorm(NULL, &f), BN_ERR_INVALID_ARGUMENT);
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_create_rejects),
    cmocka_unit_test(test_queries_reject),
    cmocka_unit_test(test_parameters_reject),
    cmocka_unit_test(test_tensors_reject),
    cmocka_unit_test(test_training_rejects),
    cmocka_unit_test(test_inference_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The update keeps the largest magnitudes of the parameters and moments it
 * wrote, so the next step reads only the gradients before its finiteness
 * bound (src/model/train.c). Checked: after steps of every rule the kept
 * maxima equal a fresh pass over the arrays, bit for bit; every other
 * writer of parameters or moments (set, init, a new optimizer, loading into
 * a handle) makes the next step measure them again; set_parameter of
 * anything else keeps them (a learning-rate schedule sets the rate before
 * every step), and the bound still stops an update that overflows. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "../../src/model/mlp_internal.h"

enum { I = 5, C = 3, N = 8 };

static bn_mlp *make(int optimizer)
{
  static const size_t hidden[1] = {4};
  bn_mlp *m = NULL;
  bn_rng rng;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, C, BN_ACT_TANH, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM),
                   BN_OK);
  assert_int_equal(bn_rng_seed(&rng, 7), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, optimizer), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, 0.01), BN_OK);
  return m;
}

/* One step on a fixed batch: its status. */
static bn_status step(bn_mlp *m)
{
  float x[I * N], loss;
  int32_t labels[N];
  for (size_t k = 0; k < I * N; k++)
    x[k] = (float)((k * 37u) % 11u) / 5.0f - 1.0f;
  for (size_t j = 0; j < N; j++)
    labels[j] = (int32_t)(j % C);
  return bn_mlp_train_step(m, N, x, I, labels, NULL, &loss);
}

static void steps(bn_mlp *m, int count)
{
  for (int s = 0; s < count; s++)
    assert_int_equal(step(m), BN_OK);
}

/* The kept maxima equal a fresh pass over every segment, bit for bit. */
static void assert_kept_is_fresh(const bn_mlp *m)
{
  assert_true(m->extent_kept);
  for (size_t k = 0; k < m->nseg; k++) {
    const bni_segment *s = &m->seg[k];
    bni_opt_extent fresh;
    bni_optimizer_extent(&m->opt, s->param, s->grad, m->moment1 + s->offset,
                         m->moment2 + s->offset, s->count, &fresh);
    assert_true(fresh.param > 0.0f);
    assert_true(s->kept.param == fresh.param);
    assert_true(s->kept.m1 == fresh.m1);
    assert_true(s->kept.m2 == fresh.m2);
    if (m->opt.kind != BN_MLP_SGD)
      assert_true(fresh.m1 > 0.0f);
  }
}

static void kept_maxima_equal_a_fresh_pass(void **state)
{
  (void)state;
  static const int rules[4] = {BN_MLP_SGD, BN_MLP_MOMENTUM, BN_MLP_NESTEROV, BN_MLP_ADAM};
  for (int r = 0; r < 4; r++) {
    bn_mlp *m = make(rules[r]);
    steps(m, 5);
    assert_kept_is_fresh(m);
    bn_mlp_destroy(m);
  }
}

static void other_writers_forget_the_maxima(void **state)
{
  (void)state;
  bn_mlp *m = make(BN_MLP_ADAM);
  assert_false(m->extent_kept);
  steps(m, 1);
  assert_true(m->extent_kept);
  float w[4 * I];
  for (size_t k = 0; k < 4 * I; k++)
    w[k] = 1e6f; /* larger than any kept maximum */
  assert_int_equal(bn_mlp_set(m, 1, BN_MLP_WEIGHT, w, 4 * I), BN_OK);
  assert_false(m->extent_kept);
  steps(m, 1);
  assert_true(m->extent_kept);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, BN_MLP_MOMENTUM), BN_OK);
  assert_false(m->extent_kept);
  steps(m, 1);
  assert_true(m->extent_kept);
  bn_rng rng;
  assert_int_equal(bn_rng_seed(&rng, 8), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_GLOROT_UNIFORM, &rng), BN_OK);
  assert_false(m->extent_kept);
  steps(m, 2);
  size_t size = 0;
  assert_int_equal(bn_mlp_serialized_size(m, BN_MLP_SAVE_OPTIMIZER, &size), BN_OK);
  void *blob = malloc(size);
  assert_non_null(blob);
  assert_int_equal(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, blob, size, NULL), BN_OK);
  bn_mlp *other = make(BN_MLP_ADAM);
  steps(other, 1);
  assert_true(other->extent_kept);
  assert_int_equal(bn_mlp_deserialize_into(other, blob, size), BN_OK);
  assert_false(other->extent_kept);
  free(blob);
  bn_mlp_destroy(other);
  bn_mlp_destroy(m);
}

/* Parameters that write neither the parameters nor the moments keep the
 * maxima, which then still equal a fresh pass; an update that the new
 * setting makes overflow is refused from the kept maxima alone, leaving
 * the parameters and the moments as they were. */
static void parameters_keep_the_maxima(void **state)
{
  (void)state;
  static const bn_mlp_param kept[] = {BN_MLP_LEARNING_RATE, BN_MLP_ADAM_BETA1, BN_MLP_ADAM_BETA2,
                                      BN_MLP_ADAM_EPSILON,  BN_MLP_WEIGHT_DECAY, BN_MLP_STEP,
                                      BN_MLP_BN_EPSILON,    BN_MLP_BN_UPDATE_FACTOR};
  static const double value[] = {0.01, 0.8, 0.99, 1e-6, 0.001, 0, 1e-4, 0.2};
  bn_mlp *m = make(BN_MLP_ADAM);
  for (size_t p = 0; p < sizeof kept / sizeof *kept; p++) {
    steps(m, 1);
    assert_int_equal(bn_mlp_set_parameter(m, kept[p], value[p]), BN_OK);
    assert_kept_is_fresh(m);
  }
  /* head weights near 1e33, kept by one step at a small rate; then a
   * decay that scales them by 1 - lr*wd = 1 - 1e6, past FLT_MAX */
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, BN_MLP_SGD), BN_OK);
  float w[C * 4], before[C * 4], after[C * 4];
  for (size_t k = 0; k < C * 4; k++)
    w[k] = (k % 2 ? 1e33f : -1e33f) / (float)(k + 1);
  assert_int_equal(bn_mlp_set(m, 2, BN_MLP_WEIGHT, w, C * 4), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 1e-3), BN_OK);
  steps(m, 1);
  assert_true(m->extent_kept);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 1e3), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, 1e3), BN_OK);
  assert_true(m->extent_kept);
  assert_int_equal(bn_mlp_get(m, 2, BN_MLP_WEIGHT, before, C * 4), BN_OK);
  assert_int_equal(step(m), BN_ERR_NON_FINITE);
  assert_int_equal(bn_mlp_get(m, 2, BN_MLP_WEIGHT, after, C * 4), BN_OK);
  for (size_t k = 0; k < C * 4; k++)
    assert_true(before[k] == after[k]);
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(kept_maxima_equal_a_fresh_pass),
    cmocka_unit_test(other_writers_forget_the_maxima),
    cmocka_unit_test(parameters_keep_the_maxima),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

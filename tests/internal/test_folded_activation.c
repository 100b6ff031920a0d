/* bni_batchnorm_forward_activation and bni_batchnorm_backward_activation
 * (src/layers/batchnorm_rows.h): the BatchNorm forward with an activation
 * inside its normalize pass gives bit for bit bn_batchnorm_forward then
 * bn_activation_forward; the backward with the activation's backward folded
 * into its passes gives bit for bit what bn_activation_backward followed by
 * bn_batchnorm_backward gives (dx, dgamma, dbeta and the status), for ReLU,
 * ELU, sigmoid, tanh and identity, after a training and an inference
 * forward, with NaN and infinities in the activation's output and in its
 * gradient, columns ld > F apart, on one thread and split over two, once on
 * each instruction-set path this CPU runs (isa_caps.h; BN_ISA is read on
 * every call). dbeta is also checked against a float64 sum of act'(post)*da
 * written here. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bn/activations.h>
#include <bn/batchnorm.h>
#include "../../src/kernels/batchnorm_loops.h"
#include "../../src/layers/batchnorm_rows.h"
#include "../c/support/testing.h"
#include "isa_caps.h"

/* The shape of the cases: small (tails of every vector width, columns
 * split over two threads), or beyond the loops' prefetch and
 * streaming-store thresholds (test_large). */
static size_t F = 37, LD = 42, N = 50;

/* The layer's gamma and beta: 0.5..1.5 and -0.5..0.5. */
static void set_affine(test_rng *rng, bn_batchnorm *const *layers, size_t count)
{
  float *gamma = malloc(sizeof(float) * F), *beta = malloc(sizeof(float) * F);
  assert_non_null(gamma);
  assert_non_null(beta);
  for (size_t f = 0; f < F; f++) {
    gamma[f] = (float)(0.5 + test_rng_uniform(rng));
    beta[f] = (float)(test_rng_uniform(rng) - 0.5);
  }
  for (size_t k = 0; k < count; k++) {
    assert_int_equal(bn_batchnorm_set(layers[k], BN_BATCHNORM_GAMMA, gamma, F), BN_OK);
    assert_int_equal(bn_batchnorm_set(layers[k], BN_BATCHNORM_BETA, beta, F), BN_OK);
  }
  free(gamma);
  free(beta);
}

static const float ALPHA = 0.7f;

/* act'(post)*da in float64, from the activation's definition. */
static double reference_grad(bn_activation act, double post, double da)
{
  switch (act) {
  case BN_ACT_RELU:
    return post > 0.0 ? da : 0.0;
  case BN_ACT_ELU:
    return post > 0.0 ? da : da * (post + (double)ALPHA);
  case BN_ACT_SIGMOID:
    return da * post * (1.0 - post);
  case BN_ACT_TANH:
    return da * (1.0 - post * post);
  default:
    return da;
  }
}

/* Non-finite values: 1 where ReLU masks them out (da beside post <= 0,
 * post = -inf), so the result stays finite; 2 anywhere. */
static void spoil(int hostile, bn_activation act, float *post, float *da)
{
  static const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (size_t k = 0; k < 12; k++) {
    size_t i = (k * 7 + 3) % F + ((k * 13 + 5) % N) * LD;
    if (hostile == 2) {
      (k % 2 ? post : da)[i] = bad[k % 3];
    } else if (act == BN_ACT_RELU) {
      if (post[i] <= 0.0f)
        da[i] = bad[k % 3];
      else if (k % 4 == 0)
        post[i] = -INFINITY;
    }
  }
}

static void run_case(bn_activation act, bn_mode mode, int hostile, unsigned threads)
{
  test_rng rng = {11u + (unsigned)act * 5u + (unsigned)hostile};
  const size_t size = (size_t)LD * N;
  float *x = malloc(sizeof(float) * size), *post = malloc(sizeof(float) * size);
  float *da = malloc(sizeof(float) * size), *g1 = malloc(sizeof(float) * size);
  float *g2 = malloc(sizeof(float) * size);
  float *dg1 = malloc(sizeof(float) * F), *db1 = malloc(sizeof(float) * F);
  float *dg2 = malloc(sizeof(float) * F), *db2 = malloc(sizeof(float) * F);
  assert_true(dg1 && db1 && dg2 && db2);
  assert_non_null(x);
  assert_non_null(post);
  assert_non_null(da);
  assert_non_null(g1);
  assert_non_null(g2);
  test_fill(&rng, x, F, N, LD, 3.0, 2.0); /* rows F..LD-1 are NaN: never read */
  test_fill(&rng, da, F, N, LD, 0.0, 1.0);
  bn_batchnorm *bn = NULL;
  assert_int_equal(bn_batchnorm_create(&bn, F, 0), BN_OK);
  assert_int_equal(bn_batchnorm_set_threads(bn, threads), BN_OK);
  set_affine(&rng, &bn, 1);
  /* the training forward first, so that an inference forward has running statistics */
  assert_int_equal(bn_batchnorm_forward(bn, BN_MODE_TRAINING, N, x, LD, post, LD), BN_OK);
  if (mode == BN_MODE_INFERENCE)
    assert_int_equal(bn_batchnorm_forward(bn, mode, N, x, LD, post, LD), BN_OK);
  assert_int_equal(bn_activation_forward(act, ALPHA, F, N, post, LD, post, LD), BN_OK);
  spoil(hostile, act, post, da);

  /* unfused, in place as the MLP ran it */
  memcpy(g1, da, sizeof(float) * size);
  assert_int_equal(bn_activation_backward(act, ALPHA, F, N, post, LD, g1, LD, g1, LD), BN_OK);
  bn_status st1 = bn_batchnorm_backward(bn, N, x, LD, g1, LD, g1, LD);
  if (st1 == BN_OK) {
    assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DGAMMA, dg1, F), BN_OK);
    assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DBETA, db1, F), BN_OK);
  }
  /* folded, in place */
  memcpy(g2, da, sizeof(float) * size);
  bn_status st2 = bni_batchnorm_backward_activation(bn, N, x, LD, act, ALPHA, post, LD, g2, LD,
                                                    g2, LD);
  assert_int_equal(st2, st1);
  if (hostile == 2 && mode == BN_MODE_TRAINING) /* the inference backward has no check */
    assert_int_equal(st1, BN_ERR_NON_FINITE);
  else
    assert_int_equal(st1, BN_OK);
  if (st1 == BN_OK) {
    assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DGAMMA, dg2, F), BN_OK);
    assert_int_equal(bn_batchnorm_get(bn, BN_BATCHNORM_DBETA, db2, F), BN_OK);
    assert_memory_equal(g1, g2, sizeof(float) * size); /* padding rows included */
    assert_memory_equal(dg1, dg2, sizeof(float) * F);
    assert_memory_equal(db1, db2, sizeof(float) * F);
    for (size_t f = 0; hostile < 2 && f < F; f++) {
      double ref = 0.0, mag = 0.0;
      for (size_t j = 0; j < N; j++) {
        double t = reference_grad(act, (double)post[f + j * LD], (double)da[f + j * LD]);
        ref += t;
        mag += fabs(t);
      }
      assert_true(fabs((double)db2[f] - ref) <= 1e-5 * (mag + 1.0));
    }
  }
  bn_batchnorm_destroy(bn);
  free(x);
  free(post);
  free(da);
  free(g1);
  free(g2);
  free(dg1);
  free(db1);
  free(dg2);
  free(db2);
}

/* The forward: bni_batchnorm_forward_activation against bn_batchnorm_forward
 * then bn_activation_forward, on two layers alike; NaN and infinities in x
 * for an inference forward (a training forward refuses them: both must). */
static void forward_case(bn_activation act, bn_mode mode, int hostile, unsigned threads)
{
  test_rng rng = {23u + (unsigned)act * 3u + (unsigned)hostile};
  const size_t size = (size_t)LD * N;
  float *x = malloc(sizeof(float) * size), *y1 = malloc(sizeof(float) * size);
  float *y2 = malloc(sizeof(float) * size);
  assert_non_null(x);
  assert_non_null(y1);
  assert_non_null(y2);
  test_fill(&rng, x, F, N, LD, -0.5, 3.0);
  bn_batchnorm *a = NULL, *b = NULL;
  assert_int_equal(bn_batchnorm_create(&a, F, 0), BN_OK);
  assert_int_equal(bn_batchnorm_create(&b, F, 0), BN_OK);
  bn_batchnorm *both[2] = {a, b};
  set_affine(&rng, both, 2);
  for (int k = 0; k < 2; k++) {
    assert_int_equal(bn_batchnorm_set_threads(both[k], threads), BN_OK);
    if (mode == BN_MODE_INFERENCE) /* running statistics from a clean batch */
      assert_int_equal(bn_batchnorm_forward(both[k], BN_MODE_TRAINING, N, x, LD, y1, LD), BN_OK);
  }
  static const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (size_t k = 0; hostile && k < 9; k++)
    x[(k * 7 + 2) % F + ((k * 11 + 1) % N) * LD] = bad[k % 3];
  memset(y1, 0x5a, sizeof(float) * size);
  memset(y2, 0x5a, sizeof(float) * size);
  bn_status st1 = bn_batchnorm_forward(a, mode, N, x, LD, y1, LD);
  if (st1 == BN_OK)
    assert_int_equal(bn_activation_forward(act, ALPHA, F, N, y1, LD, y1, LD), BN_OK);
  bn_status st2 = bni_batchnorm_forward_activation(b, mode, N, x, LD, act, ALPHA, y2, LD);
  assert_int_equal(st2, st1);
  assert_int_equal(st1, hostile && mode == BN_MODE_TRAINING ? BN_ERR_NON_FINITE : BN_OK);
  if (st1 == BN_OK) {
    assert_memory_equal(y1, y2, sizeof(float) * size); /* padding rows untouched by both */
    for (size_t k = 0; hostile && k < 9; k++) { /* NaN in, NaN out: never ReLU's 0 */
      size_t i = (k * 7 + 2) % F + ((k * 11 + 1) % N) * LD;
      if (k % 3 == 0)
        assert_true(isnan(y2[i]));
    }
  }
  bn_batchnorm_destroy(a);
  bn_batchnorm_destroy(b);
  free(x);
  free(y1);
  free(y2);
}

static void run_all(unsigned threads)
{
  static const bn_activation acts[] = {BN_ACT_RELU, BN_ACT_ELU, BN_ACT_SIGMOID, BN_ACT_TANH,
                                       BN_ACT_IDENTITY};
  isa_caps caps;
  isa_caps_begin(&caps);
  while (isa_caps_next(&caps)) {
    if (!isa_caps_is_new(&caps, bni_bn_loops_select()))
      continue;
    for (size_t a = 0; a < sizeof acts / sizeof *acts; a++)
      for (int hostile = 0; hostile <= 2; hostile++) {
        run_case(acts[a], BN_MODE_TRAINING, hostile, threads);
        run_case(acts[a], BN_MODE_INFERENCE, hostile, threads);
        forward_case(acts[a], BN_MODE_TRAINING, hostile > 0, threads);
        forward_case(acts[a], BN_MODE_INFERENCE, hostile > 0, threads);
      }
  }
}

static void test_one_thread(void **state)
{
  (void)state;
  run_all(1);
}

static void test_two_threads(void **state)
{
  (void)state;
  setenv("BN_PARALLEL_MIN_ELEMENTS", "1", 1); /* split this small batch */
  run_all(2);
  unsetenv("BN_PARALLEL_MIN_ELEMENTS");
}

/* One thread, F x N beyond the prefetch (16 MiB) and streaming-store
 * (32 MiB) thresholds of batchnorm_loops.inc, so the folded activations
 * also take the chunked, prefetching and streaming walks. */
static void test_large(void **state)
{
  (void)state;
  if (getenv("BN_TEST_UNDER_MEMCHECK")) /* for time: tests/valgrind.cmake */
    skip();
  F = 1024, LD = 1040, N = 8200;
  isa_caps caps;
  isa_caps_begin(&caps);
  while (isa_caps_next(&caps)) {
    if (!isa_caps_is_new(&caps, bni_bn_loops_select()))
      continue;
    run_case(BN_ACT_RELU, BN_MODE_TRAINING, 1, 1);
    run_case(BN_ACT_TANH, BN_MODE_TRAINING, 0, 1);
    forward_case(BN_ACT_RELU, BN_MODE_INFERENCE, 1, 1);
    forward_case(BN_ACT_SIGMOID, BN_MODE_TRAINING, 0, 1);
  }
  F = 37, LD = 42, N = 50;
}

static void test_refuses_softmax(void **state)
{
  (void)state;
  bn_batchnorm *bn = NULL;
  assert_int_equal(bn_batchnorm_create(&bn, F, 0), BN_OK);
  assert_false(bni_batchnorm_folds_activation(bn, BN_ACT_SOFTMAX));
  assert_true(bni_batchnorm_folds_activation(bn, BN_ACT_TANH));
  float v[37 * 2] = {0};
  assert_int_equal(bni_batchnorm_backward_activation(bn, 2, v, F, BN_ACT_SOFTMAX, 0.0f, v, F,
                                                     v, F, v, F),
                   BN_ERR_INVALID_ARGUMENT);
  bn_batchnorm_destroy(bn);
  assert_int_equal(bn_batchnorm_create(&bn, F, BN_BATCHNORM_FUSE_RELU), BN_OK);
  assert_false(bni_batchnorm_folds_activation(bn, BN_ACT_RELU));
  bn_batchnorm_destroy(bn);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_one_thread),
    cmocka_unit_test(test_two_threads),
    cmocka_unit_test(test_large),
    cmocka_unit_test(test_refuses_softmax),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The training backward with dx == NULL (src/kernels/batchnorm_algorithms.h):
 * only the reductions run, dgamma and dbeta equal those of the full backward
 * bit for bit and a float64 reference to 1e-6, with and without the fused
 * ReLU, on one thread and split over chunks. The layer's backward relies on
 * it when nobody needs the input gradient. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "../../src/kernels/batchnorm_algorithms.h"
#include "../c/support/testing.h"

enum { F = 37, N = 301 };

/* dbeta = sum dy*mask, dgamma = sum dy*mask*xhat in float64, from the
 * statistics the forward saved (the mask is the library's own y > 0). */
static void reference(const float *x, const float *dy, const float *y, int relu,
                      double *dgamma, double *dbeta)
{
  for (size_t f = 0; f < F; f++) {
    double mean = 0.0, var = 0.0;
    for (size_t j = 0; j < N; j++)
      mean += x[f + j * F];
    mean /= N;
    for (size_t j = 0; j < N; j++)
      var += (x[f + j * F] - mean) * (x[f + j * F] - mean);
    double invstd = 1.0 / sqrt(var / N + 1e-3);
    dgamma[f] = dbeta[f] = 0.0;
    for (size_t j = 0; j < N; j++) {
      double g = relu && !(y[f + j * F] > 0.0f) ? 0.0 : dy[f + j * F];
      dbeta[f] += g;
      dgamma[f] += g * (x[f + j * F] - mean) * invstd;
    }
  }
}

static void run_case(int relu, unsigned threads)
{
  test_rng rng = {7u + (unsigned)relu};
  float *x = malloc(sizeof(float) * F * N), *dy = malloc(sizeof(float) * F * N);
  float *y = malloc(sizeof(float) * F * N), *dx = malloc(sizeof(float) * F * N);
  float gamma[F], beta[F], sm[F], si[F], dg1[F], db1[F], dg2[F], db2[F];
  double residual[F], ref_dg[F], ref_db[F], work[BNI_BN_WORK_PER_FEATURE * F];
  double *partials =
      malloc(sizeof(double) * BNI_BN_PARTIAL_ROWS * bni_bn_line_elements(F, sizeof(double)) * threads);
  assert_non_null(x);
  assert_non_null(dy);
  assert_non_null(y);
  assert_non_null(dx);
  assert_non_null(partials);
  test_fill(&rng, x, F, N, F, 1e4, 1e-2); /* the cancellation case */
  test_fill(&rng, dy, F, N, F, 0.0, 1.0);
  for (size_t f = 0; f < F; f++) {
    gamma[f] = (float)(0.5 + test_rng_uniform(&rng));
    beta[f] = (float)(test_rng_uniform(&rng) - 0.5);
  }
  const bni_bn_exec ex = {bni_bn_loops_select(), threads, threads > 1 ? partials : NULL, NULL};
  assert_int_equal(bni_bn_forward_training(&ex, F, N, x, F, gamma, beta, 1e-3f, relu, y, F, sm,
                                           si, NULL, NULL, residual, work),
                   BN_OK);
  assert_int_equal(bni_bn_backward_training(&ex, F, N, x, F, dy, F, sm, si, residual, gamma,
                                            beta, relu, dx, F, dg1, db1, work),
                   BN_OK);
  assert_int_equal(bni_bn_backward_training(&ex, F, N, x, F, dy, F, sm, si, residual, gamma,
                                            beta, relu, NULL, F, dg2, db2, work),
                   BN_OK);
  reference(x, dy, y, relu, ref_dg, ref_db);
  for (size_t f = 0; f < F; f++) {
    assert_memory_equal(&dg1[f], &dg2[f], sizeof(float));
    assert_memory_equal(&db1[f], &db2[f], sizeof(float));
    double scale = fabs(ref_dg[f]) + sqrt((double)N); /* sums of N unit terms */
    assert_true(fabs(dg2[f] - ref_dg[f]) <= 1e-6 * scale);
    assert_true(fabs(db2[f] - ref_db[f]) <= 1e-6 * (fabs(ref_db[f]) + sqrt((double)N)));
  }
  free(x);
  free(dy);
  free(y);
  free(dx);
  free(partials);
}

static void reductions_only(void **state)
{
  (void)state;
  run_case(0, 1);
  run_case(1, 1);
}

static void reductions_only_in_chunks(void **state)
{
  (void)state;
  setenv("BN_PARALLEL_MIN_ELEMENTS", "64", 1);
  run_case(0, 3);
  run_case(1, 3);
  unsetenv("BN_PARALLEL_MIN_ELEMENTS");
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(reductions_only),
    cmocka_unit_test(reductions_only_in_chunks),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

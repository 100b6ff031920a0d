/* Fused losses: values and gradients against float64 references and finite
 * differences, stability at logits of magnitude 1e4, label and target
 * validation before anything is written, aliasing and hostile arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/losses.h>
#include "testing.h"

#define C 5
#define N 7
#define LD 8
#define SENTINEL -777.0f

static double ref_softmax_ce(const float *z, size_t ld, const int32_t *labels, double *grad)
{
  double total = 0.0;
  for (size_t j = 0; j < N; j++) {
    double m = -INFINITY, s = 0.0;
    for (size_t c = 0; c < C; c++)
      m = fmax(m, (double)z[c + j * ld]);
    for (size_t c = 0; c < C; c++)
      s += exp((double)z[c + j * ld] - m);
    double lse = m + log(s);
    total += lse - (double)z[(size_t)labels[j] + j * ld];
    for (size_t c = 0; c < C; c++)
      grad[c + j * C] = (exp((double)z[c + j * ld] - lse) - (c == (size_t)labels[j])) / N;
  }
  return total / N;
}

static double ref_bce(size_t rows, size_t cols, const float *z, const float *t, size_t ld,
                      double *grad)
{
  double total = 0.0, n = (double)rows * (double)cols;
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++) {
      double v = z[i + j * ld], tt = t[i + j * ld];
      total += fmax(v, 0.0) - v * tt + log1p(exp(-fabs(v)));
      grad[i + j * rows] = (1.0 / (1.0 + exp(-v)) - tt) / n;
    }
  return total / n;
}

static void fill_sentinel(float *m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    m[i] = SENTINEL;
}

static int all_sentinel(const float *m, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (m[i] != SENTINEL)
      return 0;
  return 1;
}

static void test_softmax_ce_reference(void **state)
{
  (void)state;
  test_rng r = {11};
  float z[LD * N], d[LD * N], loss = 0;
  int32_t labels[N] = {0, 4, 2, 4, 0, 1, 3}; /* labels at 0 and C-1 included */
  double grad[C * N];
  test_fill(&r, z, C, N, LD, 0.5, 3.0);
  fill_sentinel(d, LD * N);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, d, LD), BN_OK);
  double ref = ref_softmax_ce(z, LD, labels, grad);
  assert_true(fabs((double)loss - ref) <= 1e-7 * fabs(ref));
  assert_true(test_err(d, LD, grad, C, N, 1e-9, 1.2e-7) <= 1.0);
  for (size_t j = 0; j < N; j++)
    for (size_t c = C; c < LD; c++)
      assert_true(d[c + j * LD] == SENTINEL);
  /* Without dlogits: the same loss. */
  float loss2 = 0;
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss2, NULL, 0), BN_OK);
  assert_true(loss2 == loss);
  /* In place over the logits. */
  float zz[LD * N];
  memcpy(zz, z, sizeof z);
  assert_int_equal(bn_softmax_cross_entropy(C, N, zz, LD, labels, &loss2, zz, LD), BN_OK);
  assert_true(loss2 == loss);
  for (size_t j = 0; j < N; j++)
    assert_memory_equal(zz + j * LD, d + j * LD, C * sizeof(float));
}

static void test_softmax_ce_finite_differences(void **state)
{
  (void)state;
  test_rng r = {12};
  float z[LD * N], d[LD * N], zp[LD * N], loss;
  int32_t labels[N] = {1, 2, 3, 4, 0, 0, 4};
  test_fill(&r, z, C, N, LD, 0.0, 1.0);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, d, LD), BN_OK);
  const float h = 1e-2f;
  for (size_t j = 0; j < N; j++)
    for (size_t c = 0; c < C; c++) {
      float lp, lm;
      memcpy(zp, z, sizeof z);
      zp[c + j * LD] = z[c + j * LD] + h;
      bn_softmax_cross_entropy(C, N, zp, LD, labels, &lp, NULL, 0);
      zp[c + j * LD] = z[c + j * LD] - h;
      bn_softmax_cross_entropy(C, N, zp, LD, labels, &lm, NULL, 0);
      double fd = ((double)lp - (double)lm) / (2.0 * (double)h);
      assert_true(fabs(fd - (double)d[c + j * LD]) <= 2e-5 + 1e-3 * fabs(fd));
    }
}

static void test_softmax_ce_stability(void **state)
{
  (void)state;
  /* Columns: a confident right answer, a confident wrong one, all equal,
   * ties at +1e4. */
  float z[4 * 3] = {1e4f, -1e4f, 0.0f, 1e4f, -1e4f, 0.0f, -2e4f, -2e4f, -2e4f, 1e4f, 1e4f, -1e4f};
  int32_t labels[4] = {0, 1, 2, 1};
  float d[12], loss;
  assert_int_equal(bn_softmax_cross_entropy(3, 4, z, 3, labels, &loss, d, 3), BN_OK);
  double expect = (0.0 + 2e4 + log(3.0) + log(2.0)) / 4.0;
  assert_true(isfinite(loss) && fabs((double)loss - expect) <= 1e-7 * expect);
  const float q = 0.25f, third = (float)(1.0 / 3.0 / 4.0), eighth = 0.125f;
  const float want[12] = {0.0f, 0.0f, 0.0f, q, -q, 0.0f, third, third, (float)((1.0 / 3.0 - 1.0) / 4.0),
                          eighth, -eighth, 0.0f};
  for (int i = 0; i < 12; i++)
    assert_true(d[i] == want[i]);
  /* A single class: loss 0, gradient 0. */
  float one = 5e3f, g = 1.0f, l1 = 1.0f;
  int32_t zero = 0;
  assert_int_equal(bn_softmax_cross_entropy(1, 1, &one, 1, &zero, &l1, &g, 1), BN_OK);
  assert_true(l1 == 0.0f && g == 0.0f);
}

static void test_softmax_ce_rejects(void **state)
{
  (void)state;
  float z[LD * N] = {0}, d[LD * N], loss = SENTINEL;
  static const int32_t bad[] = {-1, C, INT32_MAX, INT32_MIN};
  for (size_t b = 0; b < sizeof bad / sizeof bad[0]; b++) {
    int32_t labels[N] = {0, 1, 2, 3, 4, 0, 0};
    labels[N - 1] = bad[b]; /* last: earlier columns would be written if not validated first */
    fill_sentinel(d, LD * N);
    assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, d, LD),
                     BN_ERR_INVALID_ARGUMENT);
    assert_true(loss == SENTINEL && all_sentinel(d, LD * N));
  }
  int32_t labels[N] = {0, 1, 2, 3, 4, 0, 0};
  const float nonfinite[] = {NAN, INFINITY, -INFINITY};
  for (size_t k = 0; k < 3; k++) {
    float zz[LD * N] = {0};
    zz[C - 1 + (N - 1) * LD] = nonfinite[k];
    fill_sentinel(d, LD * N);
    assert_int_equal(bn_softmax_cross_entropy(C, N, zz, LD, labels, &loss, d, LD),
                     BN_ERR_NON_FINITE);
    assert_true(loss == SENTINEL && all_sentinel(d, LD * N));
  }
  /* NaN in the padding rows is never read. */
  float zp[LD * N];
  test_rng r = {5};
  test_fill(&r, zp, C, N, LD, 0.0, 1.0);
  assert_int_equal(bn_softmax_cross_entropy(C, N, zp, LD, labels, &loss, NULL, 0), BN_OK);
  loss = SENTINEL;
  fill_sentinel(d, LD * N);
  const size_t big = SIZE_MAX / 2;
  assert_int_equal(bn_softmax_cross_entropy(C, N, NULL, LD, labels, &loss, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, NULL, &loss, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, NULL, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(0, N, z, LD, labels, &loss, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, 0, z, LD, labels, &loss, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, C - 1, labels, &loss, d, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, d, C - 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, z + 1, LD), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, LD, labels, &loss, z, LD - 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_softmax_cross_entropy(C, big, z, LD, labels, &loss, d, LD), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_softmax_cross_entropy(C, N, z, big, labels, &loss, d, LD), BN_ERR_SIZE_OVERFLOW);
  assert_true(loss == SENTINEL && all_sentinel(d, LD * N));
}

static void test_bce_reference_and_fd(void **state)
{
  (void)state;
  test_rng r = {21};
  const size_t O = 3, M = 6, L = 4;
  float z[4 * 6], t[4 * 6], d[4 * 6], zp[4 * 6], loss;
  double grad[3 * 6];
  test_fill(&r, z, O, M, L, 0.0, 3.0);
  for (size_t i = 0; i < L * M; i++)
    t[i] = (i % L) < O ? (float)test_rng_uniform(&r) : NAN; /* soft targets; NaN padding */
  t[0] = 0.0f, t[1] = 1.0f;
  fill_sentinel(d, L * M);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(O, M, z, L, t, &loss, d, L), BN_OK);
  double ref = ref_bce(O, M, z, t, L, grad);
  assert_true(fabs((double)loss - ref) <= 1e-7 * ref);
  assert_true(test_err(d, L, grad, O, M, 1e-9, 1.2e-7) <= 1.0);
  for (size_t j = 0; j < M; j++)
    assert_true(d[O + j * L] == SENTINEL);
  const float h = 1e-2f;
  for (size_t j = 0; j < M; j++)
    for (size_t i = 0; i < O; i++) {
      float lp, lm;
      memcpy(zp, z, sizeof z);
      zp[i + j * L] = z[i + j * L] + h;
      bn_sigmoid_binary_cross_entropy(O, M, zp, L, t, &lp, NULL, 0);
      zp[i + j * L] = z[i + j * L] - h;
      bn_sigmoid_binary_cross_entropy(O, M, zp, L, t, &lm, NULL, 0);
      double fd = ((double)lp - (double)lm) / (2.0 * (double)h);
      assert_true(fabs(fd - (double)d[i + j * L]) <= 2e-5 + 1e-3 * fabs(fd));
    }
  /* In place over the logits, and over the targets. */
  float a[4 * 6], loss2;
  memcpy(a, z, sizeof z);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(O, M, a, L, t, &loss2, a, L), BN_OK);
  assert_true(loss2 == loss);
  for (size_t j = 0; j < M; j++)
    assert_memory_equal(a + j * L, d + j * L, O * sizeof(float));
  memcpy(a, t, sizeof t);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(O, M, z, L, a, &loss2, a, L), BN_OK);
  assert_true(loss2 == loss);
  for (size_t j = 0; j < M; j++)
    assert_memory_equal(a + j * L, d + j * L, O * sizeof(float));
}

static void test_bce_stability(void **state)
{
  (void)state;
  float z[4] = {1e4f, -1e4f, 1e4f, -1e4f}, t[4] = {1, 0, 0, 1}, d[4], loss;
  assert_int_equal(bn_sigmoid_binary_cross_entropy(1, 4, z, 1, t, &loss, d, 1), BN_OK);
  assert_true(loss == 5e3f); /* (0 + 0 + 1e4 + 1e4)/4 */
  assert_true(d[0] == 0.0f && d[1] == 0.0f && d[2] == 0.25f && d[3] == -0.25f);
  float zero[2] = {0.0f, 0.0f}, half[2] = {0.5f, 1.0f};
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 1, zero, 2, half, &loss, d, 2), BN_OK);
  assert_true(fabs((double)loss - log(2.0)) < 1e-7 && d[0] == 0.0f && d[1] == -0.25f);
  /* Tiny losses keep their relative accuracy (log1p form). */
  float z30 = 30.0f, one = 1.0f;
  assert_int_equal(bn_sigmoid_binary_cross_entropy(1, 1, &z30, 1, &one, &loss, NULL, 0), BN_OK);
  assert_true(fabs((double)loss - log1p(exp(-30.0))) <= 1e-7 * log1p(exp(-30.0)));
}

static void test_bce_rejects(void **state)
{
  (void)state;
  float z[8] = {0}, t[8] = {0, 1, 0, 1, 0, 1, 0, 1}, d[8], loss = SENTINEL;
  const float bad[] = {-0.001f, 1.001f, NAN, INFINITY, -INFINITY};
  for (size_t b = 0; b < 5; b++) {
    float tt[8];
    memcpy(tt, t, sizeof t);
    tt[7] = bad[b];
    fill_sentinel(d, 8);
    assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, tt, &loss, d, 2),
                     BN_ERR_INVALID_ARGUMENT);
    assert_true(loss == SENTINEL && all_sentinel(d, 8));
  }
  for (size_t b = 2; b < 5; b++) {
    float zz[8] = {0};
    zz[7] = bad[b];
    assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, zz, 2, t, &loss, d, 2),
                     BN_ERR_NON_FINITE);
    assert_true(loss == SENTINEL && all_sentinel(d, 8));
  }
  const size_t big = SIZE_MAX / 2;
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, NULL, 2, t, &loss, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, NULL, &loss, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, t, NULL, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(0, 4, z, 2, t, &loss, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 0, z, 2, t, &loss, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 1, t, &loss, d, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, t, &loss, d, 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, t, &loss, z + 1, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, t, &loss, t + 3, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, 4, z, 2, t, &loss, t, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(2, big, z, 2, t, &loss, d, 2), BN_ERR_SIZE_OVERFLOW);
  assert_true(loss == SENTINEL && all_sentinel(d, 8));
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_softmax_ce_reference),
    cmocka_unit_test(test_softmax_ce_finite_differences),
    cmocka_unit_test(test_softmax_ce_stability),
    cmocka_unit_test(test_softmax_ce_rejects),
    cmocka_unit_test(test_bce_reference_and_fd),
    cmocka_unit_test(test_bce_stability),
    cmocka_unit_test(test_bce_rejects),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

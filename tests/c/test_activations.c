/* Activations: values and gradients against float64 references and finite
 * differences, stability at large |x|, in-place use, NaN propagation and
 * hostile arguments. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/activations.h>
#include "testing.h"

#define F 7
#define N 5
#define LD 9 /* padding rows hold NaN (test_fill) */
#define SENTINEL 12345.0f

static const bn_activation all_acts[] = {BN_ACT_IDENTITY, BN_ACT_RELU, BN_ACT_ELU,
                                         BN_ACT_SIGMOID, BN_ACT_TANH, BN_ACT_SOFTMAX};
static const float alpha = 0.7f;

/* float64 reference of the forward, column j of x (dense, ld = F). */
static void ref_forward(bn_activation act, const double *x, double *y)
{
  if (act == BN_ACT_SOFTMAX) {
    double m = x[0], s = 0.0;
    for (int f = 1; f < F; f++)
      m = fmax(m, x[f]);
    for (int f = 0; f < F; f++)
      s += exp(x[f] - m);
    for (int f = 0; f < F; f++)
      y[f] = exp(x[f] - m) / s;
    return;
  }
  for (int f = 0; f < F; f++) {
    double v = x[f];
    switch (act) {
    case BN_ACT_IDENTITY: y[f] = v; break;
    case BN_ACT_RELU: y[f] = v > 0 ? v : 0; break;
    case BN_ACT_ELU: y[f] = v > 0 ? v : (double)alpha * expm1(v); break;
    case BN_ACT_SIGMOID: y[f] = 1.0 / (1.0 + exp(-v)); break;
    case BN_ACT_TANH: y[f] = tanh(v); break;
    default: break;
    }
  }
}

/* float64 reference of dx = J^T dy from x itself (not from y). */
static void ref_backward(bn_activation act, const double *x, const double *dy, double *dx)
{
  double y[F];
  ref_forward(act, x, y);
  if (act == BN_ACT_SOFTMAX) {
    double dot = 0.0;
    for (int f = 0; f < F; f++)
      dot += y[f] * dy[f];
    for (int f = 0; f < F; f++)
      dx[f] = y[f] * (dy[f] - dot);
    return;
  }
  for (int f = 0; f < F; f++) {
    double v = x[f], d = 1.0;
    switch (act) {
    case BN_ACT_RELU: d = v > 0; break;
    case BN_ACT_ELU: d = v > 0 ? 1.0 : (double)alpha * exp(v); break;
    case BN_ACT_SIGMOID: d = y[f] * (1.0 - y[f]); break;
    case BN_ACT_TANH: d = 1.0 - y[f] * y[f]; break;
    default: break;
    }
    dx[f] = dy[f] * d;
  }
}

static void column(const float *m, size_t ld, size_t j, double *out)
{
  for (int f = 0; f < F; f++)
    out[f] = (double)m[f + j * ld];
}

/* No element of the padding rows of m changed from `pad` (NaN compares by bits). */
static int padding_intact(const float *m, size_t rows, size_t cols, size_t ld, float pad)
{
  for (size_t j = 0; j < cols; j++)
    for (size_t i = rows; i < ld; i++)
      if (memcmp(&m[i + j * ld], &pad, sizeof pad) != 0)
        return 0;
  return 1;
}

static void test_values_and_gradients(void **state)
{
  (void)state;
  test_rng r = {1};
  float x[LD * N], y[LD * N], dy[LD * N], dx[LD * N];
  for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++) {
    bn_activation act = all_acts[a];
    test_fill(&r, x, F, N, LD, 0.0, 2.0);
    test_fill(&r, dy, F, N, LD, 0.0, 1.0);
    for (size_t i = 0; i < LD * N; i++)
      y[i] = dx[i] = SENTINEL;
    assert_int_equal(bn_activation_forward(act, alpha, F, N, x, LD, y, LD), BN_OK);
    assert_int_equal(bn_activation_backward(act, alpha, F, N, y, LD, dy, LD, dx, LD), BN_OK);
    assert_true(padding_intact(y, F, N, LD, SENTINEL));
    assert_true(padding_intact(dx, F, N, LD, SENTINEL));
    for (size_t j = 0; j < N; j++) {
      double xc[F], dyc[F], yr[F], dxr[F];
      column(x, LD, j, xc);
      column(dy, LD, j, dyc);
      ref_forward(act, xc, yr);
      ref_backward(act, xc, dyc, dxr);
      /* Forward: one rounding from double. */
      assert_true(test_err(y + j * LD, LD, yr, F, 1, 1e-30, 1.2e-7) <= 1.0);
      /* Backward goes through the float y: its rounding (relative 6e-8)
       * enters the derivative, scaled by at most |dy|. */
      double tol = 0.0;
      for (int f = 0; f < F; f++)
        tol = fmax(tol, fabs(dyc[f]));
      assert_true(test_err(dx + j * LD, LD, dxr, F, 1, 4e-7 * tol, 4e-7) <= 1.0);
    }
  }
}

/* Central differences of L = sum_{f,j} w[f,j] * act(x)[f,j] through the
 * library's own float forward, against the library's backward with dy = w. */
static void test_finite_differences(void **state)
{
  (void)state;
  test_rng r = {2};
  float x[LD * N], y[LD * N], w[LD * N], dx[LD * N], xp[LD * N], yp[LD * N];
  const float h = 1e-2f;
  for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++) {
    bn_activation act = all_acts[a];
    test_fill(&r, x, F, N, LD, 0.0, 1.5);
    test_fill(&r, w, F, N, LD, 0.0, 1.0);
    for (size_t i = 0; i < LD * N; i++) /* keep kinks (0 for ReLU/ELU) out of reach of h */
      if (fabsf(x[i]) < 4 * h)
        x[i] = x[i] < 0 ? -4 * h : 4 * h;
    assert_int_equal(bn_activation_forward(act, alpha, F, N, x, LD, y, LD), BN_OK);
    assert_int_equal(bn_activation_backward(act, alpha, F, N, y, LD, w, LD, dx, LD), BN_OK);
    for (size_t j = 0; j < N; j++)
      for (size_t f = 0; f < F; f++) {
        double l[2];
        for (int s = 0; s < 2; s++) {
          memcpy(xp, x, sizeof x);
          xp[f + j * LD] += s ? h : -h;
          bn_activation_forward(act, alpha, F, N, xp, LD, yp, LD);
          l[s] = 0.0;
          for (size_t k = 0; k < F; k++)
            l[s] += (double)w[k + j * LD] * (double)yp[k + j * LD];
        }
        double fd = (l[1] - l[0]) / (2.0 * (double)h);
        assert_true(fabs(fd - (double)dx[f + j * LD]) <= 2e-4 + 1e-3 * fabs(fd));
      }
  }
}

static void test_stability(void **state)
{
  (void)state;
  float x[4] = {1e4f, -1e4f, 88.8f, -104.0f}, y[4], dx[4], ones[4] = {1, 1, 1, 1};
  assert_int_equal(bn_activation_forward(BN_ACT_SIGMOID, 0, 4, 1, x, 4, y, 4), BN_OK);
  assert_true(y[0] == 1.0f && y[1] == 0.0f && y[2] == 1.0f && y[3] >= 0.0f && y[3] < 1e-44f);
  assert_int_equal(bn_activation_backward(BN_ACT_SIGMOID, 0, 4, 1, y, 4, ones, 4, dx, 4), BN_OK);
  assert_true(dx[0] == 0.0f && dx[1] == 0.0f);
  assert_int_equal(bn_activation_forward(BN_ACT_TANH, 0, 4, 1, x, 4, y, 4), BN_OK);
  assert_true(y[0] == 1.0f && y[1] == -1.0f);
  assert_int_equal(bn_activation_forward(BN_ACT_ELU, 0.5f, 4, 1, x, 4, y, 4), BN_OK);
  assert_true(y[0] == 1e4f && y[1] == -0.5f && y[2] == 88.8f && y[3] == -0.5f);
  assert_int_equal(bn_activation_backward(BN_ACT_ELU, 0.5f, 4, 1, y, 4, ones, 4, dx, 4), BN_OK);
  assert_true(dx[0] == 1.0f && dx[1] == 0.0f);
  /* Softmax with logits of magnitude 1e4: finite, sums to 1, the largest wins. */
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 4, 1, x, 4, y, 4), BN_OK);
  assert_true(y[0] == 1.0f && y[1] == 0.0f && y[2] == 0.0f && y[3] == 0.0f);
  float big[3] = {1e4f, 1e4f, -1e4f};
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 3, 1, big, 3, y, 3), BN_OK);
  assert_true(y[0] == 0.5f && y[1] == 0.5f && y[2] == 0.0f);
  /* All-equal logits give the uniform distribution exactly. */
  float eq[4] = {-3e4f, -3e4f, -3e4f, -3e4f};
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 4, 1, eq, 4, y, 4), BN_OK);
  for (int i = 0; i < 4; i++)
    assert_true(y[i] == 0.25f);
  /* One feature: softmax is 1, its gradient 0. */
  float one = 7.0f, yo, g = 3.0f, dxo;
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 1, 1, &one, 1, &yo, 1), BN_OK);
  assert_true(yo == 1.0f);
  assert_int_equal(bn_activation_backward(BN_ACT_SOFTMAX, 0, 1, 1, &yo, 1, &g, 1, &dxo, 1), BN_OK);
  assert_true(dxo == 0.0f);
}

static void test_in_place(void **state)
{
  (void)state;
  test_rng r = {3};
  float x[LD * N], y[LD * N], dy[LD * N], dx[LD * N], buf[LD * N];
  for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++) {
    bn_activation act = all_acts[a];
    test_fill(&r, x, F, N, LD, 0.0, 2.0);
    test_fill(&r, dy, F, N, LD, 0.0, 1.0);
    assert_int_equal(bn_activation_forward(act, alpha, F, N, x, LD, y, LD), BN_OK);
    memcpy(buf, x, sizeof x);
    assert_int_equal(bn_activation_forward(act, alpha, F, N, buf, LD, buf, LD), BN_OK);
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(buf + j * LD, y + j * LD, F * sizeof(float));
    assert_int_equal(bn_activation_backward(act, alpha, F, N, y, LD, dy, LD, dx, LD), BN_OK);
    memcpy(buf, dy, sizeof dy); /* dx over dy */
    assert_int_equal(bn_activation_backward(act, alpha, F, N, y, LD, buf, LD, buf, LD), BN_OK);
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(buf + j * LD, dx + j * LD, F * sizeof(float));
    memcpy(buf, y, sizeof y); /* dx over y */
    assert_int_equal(bn_activation_backward(act, alpha, F, N, buf, LD, dy, LD, buf, LD), BN_OK);
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(buf + j * LD, dx + j * LD, F * sizeof(float));
  }
}

static void test_non_finite_propagates(void **state)
{
  (void)state;
  float x[6] = {NAN, 1.0f, -1.0f, 2.0f, INFINITY, -INFINITY}, y[6], dx[6];
  float dy[6] = {1, 1, 1, 1, 1, 1};
  assert_int_equal(bn_activation_forward(BN_ACT_RELU, 0, 6, 1, x, 6, y, 6), BN_OK);
  assert_true(isnan(y[0]) && y[1] == 1.0f && y[2] == 0.0f && y[4] == INFINITY && y[5] == 0.0f);
  assert_int_equal(bn_activation_backward(BN_ACT_RELU, 0, 6, 1, y, 6, dy, 6, dx, 6), BN_OK);
  assert_true(isnan(dx[0]) && dx[1] == 1.0f && dx[2] == 0.0f);
  for (size_t a = 0; a < sizeof all_acts / sizeof all_acts[0]; a++) {
    assert_int_equal(bn_activation_forward(all_acts[a], alpha, 6, 1, x, 6, y, 6), BN_OK);
    assert_true(isnan(y[0]));
  }
  /* Softmax: a column with NaN or +inf is NaN; other columns are unaffected. */
  float m[6] = {NAN, 0.0f, 0.0f, 0.0f}, s[6];
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 2, 2, m, 2, s, 2), BN_OK);
  assert_true(isnan(s[0]) && isnan(s[1]) && s[2] == 0.5f && s[3] == 0.5f);
  float inf[2] = {INFINITY, 1.0f};
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 2, 1, inf, 2, s, 2), BN_OK);
  assert_true(isnan(s[0]) && isnan(s[1]));
  float minf[2] = {-INFINITY, 1.0f};
  assert_int_equal(bn_activation_forward(BN_ACT_SOFTMAX, 0, 2, 1, minf, 2, s, 2), BN_OK);
  assert_true(s[0] == 0.0f && s[1] == 1.0f);
}

static void test_hostile(void **state)
{
  (void)state;
  float x[64] = {0}, y[64], dy[64] = {0};
  const size_t big = SIZE_MAX / 2;
  for (size_t i = 0; i < 64; i++)
    y[i] = SENTINEL;
#define FWD(act, a, f, n, px, ldx, py, ldy) bn_activation_forward(act, a, f, n, px, ldx, py, ldy)
#define BWD(act, a, f, n, py, ldy, pdy, lddy, pdx, lddx)                                       \
  bn_activation_backward(act, a, f, n, py, ldy, pdy, lddy, pdx, lddx)
  assert_int_equal(FWD((bn_activation)99, 1, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD((bn_activation)-1, 1, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_ELU, 0.0f, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_ELU, -1.0f, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_ELU, NAN, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_ELU, INFINITY, 4, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_ELU, NAN, 4, 4, y, 4, dy, 4, x, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, NAN, 4, 4, x, 4, y, 4), BN_OK); /* alpha ignored */
  for (size_t i = 0; i < 64; i++)
    y[i] = SENTINEL;
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, NULL, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, x, 4, NULL, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 0, 4, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 0, x, 4, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, x, 3, y, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, x, 4, y, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 3, x, 4, x, 5), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, x, 4, x + 1, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_SOFTMAX, 0, 4, 4, x, 4, x + 15, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, big, x, 4, y, 4), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(FWD(BN_ACT_RELU, 0, 4, 4, x, big, y, 4), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(FWD(BN_ACT_RELU, 0, SIZE_MAX, 1, x, SIZE_MAX, y, SIZE_MAX), BN_ERR_SIZE_OVERFLOW);
  for (size_t i = 0; i < 64; i++)
    assert_true(y[i] == SENTINEL); /* nothing written by any failing call */
  float *dx = y;
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, NULL, 4, dy, 4, dx, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, NULL, 4, dx, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, dy, 4, NULL, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, dy, 2, dx, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, dy, 4, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, dy, 4, dy + 2, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 4, x, 4, dy, 4, x + 2, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, 3, x, 4, dy, 4, dy, 5), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD((bn_activation)6, 0, 4, 4, x, 4, dy, 4, dx, 4), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(BWD(BN_ACT_TANH, 0, 4, big, x, 4, dy, 4, dx, 4), BN_ERR_SIZE_OVERFLOW);
  for (size_t i = 0; i < 64; i++)
    assert_true(y[i] == SENTINEL);
#undef FWD
#undef BWD
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_values_and_gradients),
    cmocka_unit_test(test_finite_differences),
    cmocka_unit_test(test_stability),
    cmocka_unit_test(test_in_place),
    cmocka_unit_test(test_non_finite_propagates),
    cmocka_unit_test(test_hostile),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

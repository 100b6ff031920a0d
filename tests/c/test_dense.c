/* Dense layer: forward and backward against float64 references and finite
 * differences (odd shapes, ld > rows with NaN padding), seeded
 * initialization pinned by literals, tensor access, hostile inputs, and the
 * state blob (round trip, truncation at every length, corruption at every
 * byte). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/dense.h>
#include "testing.h"
#include "blob_testing.h"

#define SENTINEL 4321.0f

static float *alloc_floats(size_t n)
{
  float *p = malloc(n * sizeof *p);
  assert_non_null(p);
  return p;
}

/* A layer with random W and b (N(0,1)/sqrt(in)). */
static bn_dense *random_layer(test_rng *r, size_t in, size_t out, unsigned flags)
{
  bn_dense *d = NULL;
  assert_int_equal(bn_dense_create(&d, in, out, flags), BN_OK);
  float *w = alloc_floats(in * out), *b = alloc_floats(out);
  test_fill(r, w, in * out, 1, in * out, 0.0, 1.0 / sqrt((double)in));
  test_fill(r, b, out, 1, out, 0.0, 1.0);
  assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, w, in * out), BN_OK);
  if (!(flags & BN_DENSE_NO_BIAS))
    assert_int_equal(bn_dense_set(d, BN_DENSE_BIAS, b, out), BN_OK);
  free(w);
  free(b);
  return d;
}

typedef struct shape {
  size_t in, out, batch, ldx, ldy;
} shape;

static const shape shapes[] = {
  {1, 1, 1, 1, 1},   {7, 5, 3, 9, 6},    {5, 7, 11, 5, 7},  {33, 17, 9, 40, 19},
  {3, 64, 2, 3, 65}, {100, 3, 31, 101, 3}, {16, 16, 16, 16, 16},
};

static void test_forward_backward_reference(void **state)
{
  (void)state;
  test_rng r = {31};
  for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++)
    for (unsigned flags = 0; flags <= BN_DENSE_NO_BIAS; flags++) {
      const shape sh = shapes[s];
      bn_dense *d = random_layer(&r, sh.in, sh.out, flags);
      const size_t I = sh.in, O = sh.out, B = sh.batch;
      float *x = alloc_floats(sh.ldx * B), *y = alloc_floats(sh.ldy * B);
      float *dy = alloc_floats(sh.ldy * B), *dx = alloc_floats(sh.ldx * B);
      float *w = alloc_floats(I * O), *b = alloc_floats(O), *dw = alloc_floats(I * O),
            *db = alloc_floats(O);
      test_fill(&r, x, I, B, sh.ldx, 0.3, 1.0);
      test_fill(&r, dy, O, B, sh.ldy, 0.0, 1.0);
      for (size_t i = 0; i < sh.ldy * B; i++)
        y[i] = SENTINEL;
      for (size_t i = 0; i < sh.ldx * B; i++)
        dx[i] = SENTINEL;
      assert_int_equal(bn_dense_forward(d, B, x, sh.ldx, y, sh.ldy), BN_OK);
      assert_int_equal(bn_dense_backward(d, B, x, sh.ldx, dy, sh.ldy, dx, sh.ldx), BN_OK);
      assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, w, I * O), BN_OK);
      assert_int_equal(bn_dense_get(d, BN_DENSE_DWEIGHT, dw, I * O), BN_OK);
      if (flags & BN_DENSE_NO_BIAS) {
        for (size_t o = 0; o < O; o++)
          b[o] = 0.0f;
      } else {
        assert_int_equal(bn_dense_get(d, BN_DENSE_BIAS, b, O), BN_OK);
        assert_int_equal(bn_dense_get(d, BN_DENSE_DBIAS, db, O), BN_OK);
      }
      /* float64 references; tolerances scale with sum |terms| (GEMM rounding). */
      double *yr = malloc(O * B * sizeof *yr), *ym = malloc(O * B * sizeof *ym);
      double *dxr = malloc(I * B * sizeof *dxr), *dxm = malloc(I * B * sizeof *dxm);
      double *dwr = malloc(I * O * sizeof *dwr), *dwm = malloc(I * O * sizeof *dwm);
      assert_true(yr && ym && dxr && dxm && dwr && dwm);
      for (size_t j = 0; j < B; j++)
        for (size_t o = 0; o < O; o++) {
          double acc = b[o], mag = fabs((double)b[o]);
          for (size_t i = 0; i < I; i++) {
            acc += (double)w[o * I + i] * x[i + j * sh.ldx];
            mag += fabs((double)w[o * I + i] * x[i + j * sh.ldx]);
          }
          yr[o + j * O] = acc, ym[o + j * O] = mag;
        }
      for (size_t j = 0; j < B; j++)
        for (size_t i = 0; i < I; i++) {
          double acc = 0, mag = 0;
          for (size_t o = 0; o < O; o++) {
            acc += (double)w[o * I + i] * dy[o + j * sh.ldy];
            mag += fabs((double)w[o * I + i] * dy[o + j * sh.ldy]);
          }
          dxr[i + j * I] = acc, dxm[i + j * I] = mag;
        }
      for (size_t o = 0; o < O; o++)
        for (size_t i = 0; i < I; i++) {
          double acc = 0, mag = 0;
          for (size_t j = 0; j < B; j++) {
            acc += (double)dy[o + j * sh.ldy] * x[i + j * sh.ldx];
            mag += fabs((double)dy[o + j * sh.ldy] * x[i + j * sh.ldx]);
          }
          dwr[o * I + i] = acc, dwm[o * I + i] = mag;
        }
      const double eps = 1.2e-7;
      for (size_t j = 0; j < B; j++) {
        for (size_t o = 0; o < O; o++)
          assert_true(fabs(y[o + j * sh.ldy] - yr[o + j * O]) <=
                      eps * (2.0 + (double)I) * ym[o + j * O] + 1e-30);
        for (size_t o = O; o < sh.ldy; o++)
          assert_true(y[o + j * sh.ldy] == SENTINEL);
        for (size_t i = 0; i < I; i++)
          assert_true(fabs(dx[i + j * sh.ldx] - dxr[i + j * I]) <=
                      eps * (2.0 + (double)O) * dxm[i + j * I] + 1e-30);
        for (size_t i = I; i < sh.ldx; i++)
          assert_true(dx[i + j * sh.ldx] == SENTINEL);
      }
      for (size_t k = 0; k < I * O; k++)
        assert_true(fabs(dw[k] - dwr[k]) <= eps * (2.0 + (double)B) * dwm[k] + 1e-30);
      if (!(flags & BN_DENSE_NO_BIAS))
        for (size_t o = 0; o < O; o++) {
          double acc = 0, mag = 0;
          for (size_t j = 0; j < B; j++)
            acc += dy[o + j * sh.ldy], mag += fabs((double)dy[o + j * sh.ldy]);
          assert_true(fabs(db[o] - acc) <= eps * mag + 1e-30);
        }
      /* dx = NULL skips one product and leaves the parameter gradients as they were. */
      float *dw2 = alloc_floats(I * O);
      assert_int_equal(bn_dense_backward(d, B, x, sh.ldx, dy, sh.ldy, NULL, 0), BN_OK);
      assert_int_equal(bn_dense_get(d, BN_DENSE_DWEIGHT, dw2, I * O), BN_OK);
      assert_memory_equal(dw, dw2, I * O * sizeof *dw);
      free(dw2);
      free(yr), free(ym), free(dxr), free(dxm), free(dwr), free(dwm);
      free(x), free(y), free(dy), free(dx), free(w), free(b), free(dw), free(db);
      bn_dense_destroy(d);
    }
}

/* L = sum_{o,j} g[o,j] * y[o,j]: central differences through the float
 * forward, for every weight, bias and input of a small layer. */
static void test_finite_differences(void **state)
{
  (void)state;
  test_rng r = {32};
  enum { I = 4, O = 3, B = 5, LDX = 6, LDY = 4 };
  bn_dense *d = random_layer(&r, I, O, 0);
  float x[LDX * B], g[LDY * B], y[LDY * B], dx[LDX * B], w[I * O], b[O], dw[I * O], db[O];
  test_fill(&r, x, I, B, LDX, 0.0, 1.0);
  test_fill(&r, g, O, B, LDY, 0.0, 1.0);
  assert_int_equal(bn_dense_backward(d, B, x, LDX, g, LDY, dx, LDX), BN_OK);
  bn_dense_get(d, BN_DENSE_WEIGHT, w, I * O);
  bn_dense_get(d, BN_DENSE_BIAS, b, O);
  bn_dense_get(d, BN_DENSE_DWEIGHT, dw, I * O);
  bn_dense_get(d, BN_DENSE_DBIAS, db, O);
  const float h = 1e-2f;
#define LOSS(out)                                                                              \
  do {                                                                                         \
    assert_int_equal(bn_dense_forward(d, B, x, LDX, y, LDY), BN_OK);                           \
    out = 0.0;                                                                                 \
    for (size_t j_ = 0; j_ < B; j_++)                                                          \
      for (size_t o_ = 0; o_ < O; o_++)                                                        \
        out += (double)g[o_ + j_ * LDY] * y[o_ + j_ * LDY];                                    \
  } while (0)
  for (size_t k = 0; k < I * O + O + I * B; k++) {
    float *p, saved;
    float *param = NULL;
    size_t idx = 0;
    double lp, lm, grad;
    if (k < I * O)
      param = w, idx = k, grad = dw[k];
    else if (k < I * O + O)
      param = b, idx = k - I * O, grad = db[idx];
    else {
      size_t e = k - I * O - O;
      idx = (e % I) + (e / I) * LDX;
      param = NULL, grad = dx[idx];
    }
    p = param ? &param[idx] : &x[idx];
    saved = *p;
    *p = saved + h;
    if (param)
      bn_dense_set(d, param == w ? BN_DENSE_WEIGHT : BN_DENSE_BIAS, param, param == w ? I * O : O);
    LOSS(lp);
    *p = saved - h;
    if (param)
      bn_dense_set(d, param == w ? BN_DENSE_WEIGHT : BN_DENSE_BIAS, param, param == w ? I * O : O);
    LOSS(lm);
    *p = saved;
    if (param)
      bn_dense_set(d, param == w ? BN_DENSE_WEIGHT : BN_DENSE_BIAS, param, param == w ? I * O : O);
    double fd = (lp - lm) / (2.0 * (double)h);
    assert_true(fabs(fd - grad) <= 1e-4 + 1e-3 * fabs(grad));
  }
#undef LOSS
  bn_dense_destroy(d);
}

/* Weights of a 3 -> 2 layer from seed 2024, generated when bn_rng was
 * written. They must be the same bits on every machine. */
static void test_init_literals(void **state)
{
  (void)state;
  static const float expect[3][6] = {
    {0x1.495312p-1f, -0x1.09aeap-1f, 0x1.07c424p-4f, 0x1.0bf17ap-3f, 0x1.6ae03p-1f, 0x1.e23fe8p-2f},
    {-0x1.f24874p-1f, 0x1.3c7226p-1f, -0x1.e00a92p-1f, -0x1.7db57ap-1f, 0x1.32f6a4p-1f,
     -0x1.1e2fa2p-1f},
    {0x1.fe2ff4p-2f, -0x1.9b97ccp-2f, 0x1.989ff2p-5f, 0x1.9f188ep-4f, 0x1.191514p-1f,
     0x1.758c8ap-2f},
  };
  const bn_init schemes[3] = {BN_INIT_HE_NORMAL, BN_INIT_GLOROT_UNIFORM, BN_INIT_GLOROT_NORMAL};
  bn_dense *d = NULL;
  assert_int_equal(bn_dense_create(&d, 3, 2, 0), BN_OK);
  for (int s = 0; s < 3; s++) {
    bn_rng rng;
    float w[6], b[2] = {1, 1}, ones[2] = {1, 1};
    bn_dense_set(d, BN_DENSE_BIAS, ones, 2);
    bn_rng_seed(&rng, 2024);
    assert_int_equal(bn_dense_init(d, schemes[s], &rng), BN_OK);
    assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, w, 6), BN_OK);
    assert_memory_equal(w, expect[s], sizeof w);
    assert_int_equal(bn_dense_get(d, BN_DENSE_BIAS, b, 2), BN_OK);
    assert_true(b[0] == 0.0f && b[1] == 0.0f);
  }
  /* He normal draws W[k] = (float)(sqrt(2/in) * normal_k) in memory order. */
  bn_rng rng, ref;
  bn_rng_seed(&rng, 9);
  bn_rng_seed(&ref, 9);
  assert_int_equal(bn_dense_init(d, BN_INIT_HE_NORMAL, &rng), BN_OK);
  float w[6];
  bn_dense_get(d, BN_DENSE_WEIGHT, w, 6);
  for (int k = 0; k < 6; k++) {
    double z;
    bn_rng_normal(&ref, &z);
    assert_true(w[k] == (float)(sqrt(2.0 / 3.0) * z));
  }
  assert_memory_equal(&rng, &ref, sizeof rng); /* exactly one normal per weight */
  /* Zeros needs no generator. */
  assert_int_equal(bn_dense_init(d, BN_INIT_ZEROS, NULL), BN_OK);
  bn_dense_get(d, BN_DENSE_WEIGHT, w, 6);
  for (int k = 0; k < 6; k++)
    assert_true(w[k] == 0.0f);
  bn_dense_destroy(d);
}

static void test_init_statistics(void **state)
{
  (void)state;
  enum { I = 200, O = 300 };
  bn_dense *d = NULL;
  assert_int_equal(bn_dense_create(&d, I, O, BN_DENSE_NO_BIAS), BN_OK);
  float *w = alloc_floats(I * O);
  const struct {
    bn_init scheme;
    double var, bound;
  } cases[] = {
    {BN_INIT_HE_NORMAL, 2.0 / I, INFINITY},
    {BN_INIT_GLOROT_NORMAL, 2.0 / (I + O), INFINITY},
    {BN_INIT_GLOROT_UNIFORM, 2.0 / (I + O), 0x1.0p0 * 0.10954451150103323}, /* sqrt(6/500) */
  };
  for (int c = 0; c < 3; c++) {
    bn_rng rng;
    bn_rng_seed(&rng, (uint64_t)c + 100);
    assert_int_equal(bn_dense_init(d, cases[c].scheme, &rng), BN_OK);
    bn_dense_get(d, BN_DENSE_WEIGHT, w, I * O);
    double s1 = 0, s2 = 0, amax = 0;
    for (size_t k = 0; k < I * O; k++)
      s1 += w[k], s2 += (double)w[k] * w[k], amax = fmax(amax, fabs((double)w[k]));
    double mean = s1 / (I * O), var = s2 / (I * O) - mean * mean;
    assert_true(fabs(mean) < 5.0 * sqrt(cases[c].var / (I * O)));
    assert_true(fabs(var / cases[c].var - 1.0) < 0.02); /* 60000 draws: ~3.5 standard errors */
    assert_true(amax <= cases[c].bound);
  }
  free(w);
  bn_dense_destroy(d);
}

static void test_tensors(void **state)
{
  (void)state;
  bn_dense *d = NULL, *nb = NULL;
  assert_int_equal(bn_dense_create(&d, 3, 2, 0), BN_OK);
  assert_int_equal(bn_dense_create(&nb, 3, 2, BN_DENSE_NO_BIAS), BN_OK);
  size_t in = 0, out = 0;
  unsigned flags = 99;
  assert_int_equal(bn_dense_shape(d, &in, &out), BN_OK);
  assert_true(in == 3 && out == 2);
  assert_int_equal(bn_dense_shape(d, NULL, &out), BN_OK);
  assert_int_equal(bn_dense_shape(d, &in, NULL), BN_OK);
  assert_int_equal(bn_dense_shape(NULL, &in, &out), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_flags(nb, &flags), BN_OK);
  assert_true(flags == BN_DENSE_NO_BIAS);
  assert_int_equal(bn_dense_flags(NULL, &flags), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_flags(d, NULL), BN_ERR_INVALID_ARGUMENT);
  float w[6] = {1, 2, 3, 4, 5, 6}, got[6] = {0}, b[2] = {7, 8};
  assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, w, 6), BN_OK);
  assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, got, 6), BN_OK);
  assert_memory_equal(w, got, sizeof w);
  /* W is (out x in) row-major: y[o] = sum_i W[o*in + i] x[i] + b[o]. */
  float x[3] = {1, 10, 100}, y[2];
  assert_int_equal(bn_dense_set(d, BN_DENSE_BIAS, b, 2), BN_OK);
  assert_int_equal(bn_dense_forward(d, 1, x, 3, y, 2), BN_OK);
  assert_true(y[0] == 7 + 321 && y[1] == 8 + 654);
  /* Errors leave the layer unchanged and say why. */
  assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, w, 5), BN_ERR_SHAPE_MISMATCH);
  assert_true(strlen(bn_dense_last_error(d)) > 0);
  assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, got, 7), BN_ERR_SHAPE_MISMATCH);
  assert_int_equal(bn_dense_get(d, BN_DENSE_DWEIGHT, got, 6), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_dense_get(d, BN_DENSE_DBIAS, got, 2), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_dense_set(d, BN_DENSE_DWEIGHT, w, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_set(d, BN_DENSE_DBIAS, b, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_set(d, (bn_dense_tensor)0, w, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_get(d, (bn_dense_tensor)9, got, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, NULL, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, NULL, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_set(NULL, BN_DENSE_WEIGHT, w, 6), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_get(NULL, BN_DENSE_WEIGHT, got, 6), BN_ERR_INVALID_ARGUMENT);
  const float bad[3] = {NAN, INFINITY, -INFINITY};
  for (int k = 0; k < 3; k++) {
    float wb[6] = {9, 9, 9, 9, 9, 9};
    wb[5] = bad[k];
    assert_int_equal(bn_dense_set(d, BN_DENSE_WEIGHT, wb, 6), BN_ERR_NON_FINITE);
  }
  assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, got, 6), BN_OK);
  assert_memory_equal(w, got, sizeof w);
  assert_int_equal(bn_dense_set(nb, BN_DENSE_BIAS, b, 2), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_dense_get(nb, BN_DENSE_BIAS, got, 2), BN_ERR_WRONG_STATE);
  float dy[2] = {1, 1};
  assert_int_equal(bn_dense_backward(nb, 1, x, 3, dy, 2, NULL, 0), BN_OK);
  assert_int_equal(bn_dense_get(nb, BN_DENSE_DBIAS, got, 2), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_dense_get(nb, BN_DENSE_DWEIGHT, got, 6), BN_OK);
  /* Init errors: nothing changes. */
  bn_rng zero;
  memset(&zero, 0, sizeof zero);
  assert_int_equal(bn_dense_init(d, BN_INIT_HE_NORMAL, &zero), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_dense_init(d, BN_INIT_HE_NORMAL, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_init(d, (bn_init)4, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_init(NULL, BN_INIT_ZEROS, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_get(d, BN_DENSE_WEIGHT, got, 6), BN_OK);
  assert_memory_equal(w, got, sizeof w);
  assert_true(strcmp(bn_dense_last_error(NULL), "") != 0);
  bn_dense_destroy(d);
  bn_dense_destroy(nb);
  bn_dense_destroy(NULL);
}

static void test_hostile(void **state)
{
  (void)state;
  bn_dense *d = (bn_dense *)1;
  assert_int_equal(bn_dense_create(NULL, 3, 2, 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_create(&d, 0, 2, 0), BN_ERR_INVALID_ARGUMENT);
  assert_null(d);
  assert_int_equal(bn_dense_create(&d, 3, 0, 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_create(&d, 3, 2, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_create(&d, (size_t)INT_MAX + 1, 1, 0), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_create(&d, 1, (size_t)INT_MAX + 1, 0), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_create(&d, SIZE_MAX, SIZE_MAX, 0), BN_ERR_SIZE_OVERFLOW);
  /* 2 * (2^31-1)^2 floats do not fit 64-bit size_t in bytes. (An allocation
   * failure is not provoked here: ASan aborts on huge requests.) */
  if (sizeof(size_t) == 8)
    assert_int_equal(bn_dense_create(&d, INT_MAX, INT_MAX, 0), BN_ERR_SIZE_OVERFLOW);
  assert_null(d);

  assert_int_equal(bn_dense_create(&d, 3, 2, 0), BN_OK);
  float x[64] = {0}, y[64], dy[64] = {0}, dx[64];
  for (int i = 0; i < 64; i++)
    y[i] = dx[i] = SENTINEL;
  const size_t big = (size_t)INT_MAX + 1;
  assert_int_equal(bn_dense_forward(NULL, 2, x, 3, y, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, NULL, 3, y, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, x, 3, NULL, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 0, x, 3, y, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, x, 2, y, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, x, 3, y, 1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, x, 3, x + 5, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, 2, x, 3, x, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_forward(d, big, x, 3, y, 2), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_forward(d, 1, x, big, y, 2), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_forward(d, 1, x, 3, y, big), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_forward(d, SIZE_MAX / 2, x, 3, y, 2), BN_ERR_SIZE_OVERFLOW);
  assert_true(strstr(bn_dense_last_error(d), "INT_MAX") != NULL ||
              strstr(bn_dense_last_error(d), "overflow") != NULL);
  assert_int_equal(bn_dense_backward(NULL, 2, x, 3, dy, 2, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, NULL, 3, dy, 2, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 3, NULL, 2, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 0, x, 3, dy, 2, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 2, dy, 2, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 3, dy, 1, dx, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 3, dy, 2, dx, 2), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 3, dy, 2, x + 2, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, 2, x, 3, dy, 2, dy, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_backward(d, big, x, 3, dy, 2, dx, 3), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_backward(d, 1, x, 3, dy, big, dx, 3), BN_ERR_SIZE_OVERFLOW);
  assert_int_equal(bn_dense_backward(d, 1, x, 3, dy, 2, dx, big), BN_ERR_SIZE_OVERFLOW);
  float got[6];
  assert_int_equal(bn_dense_get(d, BN_DENSE_DWEIGHT, got, 6), BN_ERR_WRONG_STATE);
  for (int i = 0; i < 64; i++)
    assert_true(y[i] == SENTINEL && dx[i] == SENTINEL);
  /* Non-finite inputs propagate. */
  float xn[3] = {NAN, 0, 0}, w[6] = {1, 1, 1, 1, 1, 1};
  bn_dense_set(d, BN_DENSE_WEIGHT, w, 6);
  assert_int_equal(bn_dense_forward(d, 1, xn, 3, y, 2), BN_OK);
  assert_true(isnan(y[0]) && isnan(y[1]));
  bn_dense_destroy(d);
}

/* ---- state blob ---------------------------------------------------------- */

static void test_state_round_trip(void **state)
{
  (void)state;
  test_rng r = {33};
  for (unsigned flags = 0; flags <= BN_DENSE_NO_BIAS; flags++) {
    bn_dense *a = random_layer(&r, 5, 3, flags), *b = NULL;
    size_t size = 0, written = 0;
    assert_int_equal(bn_dense_serialized_size(a, &size), BN_OK);
    assert_true(size == 32 + 4 * (15 + (flags ? 0 : 3)) + 4);
    unsigned char *blob = malloc(size + 1), *blob2 = malloc(size);
    assert_int_equal(bn_dense_serialize(a, blob, size - 1, &written), BN_ERR_BAD_SIZE);
    assert_int_equal(bn_dense_serialize(a, blob, size + 1, &written), BN_OK);
    assert_true(written == size);
    assert_memory_equal(blob, "BNDN", 4);
    assert_true(blob_crc32(blob, size - 4) ==
                ((uint32_t)blob[size - 4] | (uint32_t)blob[size - 3] << 8 |
                 (uint32_t)blob[size - 2] << 16 | (uint32_t)blob[size - 1] << 24));
    /* Load into a layer of the other bias kind: flags come from the blob. */
    assert_int_equal(bn_dense_create(&b, 5, 3, flags ^ BN_DENSE_NO_BIAS), BN_OK);
    assert_int_equal(bn_dense_deserialize(b, blob, size), BN_OK);
    unsigned fb;
    bn_dense_flags(b, &fb);
    assert_true(fb == flags);
    assert_int_equal(bn_dense_serialize(b, blob2, size, NULL), BN_OK);
    assert_memory_equal(blob, blob2, size);
    float wa[15], wb[15];
    bn_dense_get(a, BN_DENSE_WEIGHT, wa, 15);
    bn_dense_get(b, BN_DENSE_WEIGHT, wb, 15);
    assert_memory_equal(wa, wb, sizeof wa);

    /* Truncation at every length, and one byte too many. */
    for (size_t n = 0; n < size; n++)
      assert_int_not_equal(bn_dense_deserialize(b, blob, n), BN_OK);
    blob[size] = 0;
    assert_int_equal(bn_dense_deserialize(b, blob, size + 1), BN_ERR_BAD_SIZE);
    /* Corruption at every byte (three patterns): always rejected, layer unchanged. */
    for (size_t i = 0; i < size; i++)
      for (int pat = 0; pat < 3; pat++) {
        static const unsigned char flips[3] = {0x01, 0x80, 0xFF};
        blob[i] ^= flips[pat];
        assert_int_not_equal(bn_dense_deserialize(b, blob, size), BN_OK);
        blob[i] ^= flips[pat];
      }
    assert_int_equal(bn_dense_serialize(b, blob2, size, NULL), BN_OK);
    assert_memory_equal(blob, blob2, size);

    /* Specific statuses, in the documented order. */
    unsigned char *c = malloc(size);
    memcpy(c, blob, size);
    c[0] = 'X';
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_BAD_MAGIC);
    memcpy(c, blob, size);
    c[4] = 2;
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_VERSION_MISMATCH);
    memcpy(c, blob, size);
    c[8] = 6; /* in = 6: the size no longer matches */
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_BAD_SIZE);
    memcpy(c, blob, size);
    c[40] ^= 1;
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_CHECKSUM);
    memcpy(c, blob, size);
    c[24] |= 2; /* unknown flag */
    blob_reseal(c, size);
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_BAD_FORMAT);
    memcpy(c, blob, size);
    c[28] = 1; /* reserved */
    blob_reseal(c, size);
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_BAD_FORMAT);
    memcpy(c, blob, size);
    const float nan = NAN;
    memcpy(c + size - 8, &nan, 4); /* last value (little-endian hosts) */
    blob_reseal(c, size);
    assert_int_equal(bn_dense_deserialize(b, c, size), BN_ERR_BAD_FORMAT);
    assert_int_equal(bn_dense_serialize(b, blob2, size, NULL), BN_OK);
    assert_memory_equal(blob, blob2, size);
    bn_dense *other = NULL;
    assert_int_equal(bn_dense_create(&other, 3, 5, flags), BN_OK); /* same size, other shape */
    assert_int_equal(bn_dense_deserialize(other, blob, size), BN_ERR_SHAPE_MISMATCH);
    bn_dense_destroy(other);

    assert_int_equal(bn_dense_deserialize(NULL, blob, size), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_dense_deserialize(b, NULL, size), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_dense_serialize(NULL, blob, size, NULL), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_dense_serialize(b, NULL, size, NULL), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_dense_serialized_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_dense_serialized_size(b, NULL), BN_ERR_INVALID_ARGUMENT);
    free(c), free(blob), free(blob2);
    bn_dense_destroy(a);
    bn_dense_destroy(b);
  }
}

/* The superseded state names are the same functions as serialize /
 * deserialize / serialized_size; NULL arguments are argument errors. */
static void test_state_aliases(void **state)
{
  (void)state;
  test_rng r = {34};
  bn_dense *a = random_layer(&r, 4, 2, 0), *b = NULL;
  assert_int_equal(bn_dense_create(&b, 4, 2, 0), BN_OK);
  size_t size = 0, old_size = 0;
  assert_int_equal(bn_dense_serialized_size(a, &size), BN_OK);
  assert_int_equal(bn_dense_state_size(a, &old_size), BN_OK);
  assert_true(size == old_size && size == 32 + 4 * (8 + 2) + 4);
  unsigned char *b1 = malloc(size), *b2 = malloc(size), *b3 = malloc(size);
  assert_int_equal(bn_dense_serialize(a, b1, size, NULL), BN_OK);
  assert_int_equal(bn_dense_save_state(a, b2, size, NULL), BN_OK);
  assert_memory_equal(b1, b2, size);
  assert_int_equal(bn_dense_save_state(a, b2, size - 1, NULL), BN_ERR_BAD_SIZE);
  assert_int_equal(bn_dense_load_state(b, b1, size), BN_OK);
  assert_int_equal(bn_dense_serialize(b, b3, size, NULL), BN_OK);
  assert_memory_equal(b1, b3, size);
  b1[4] = 9;
  assert_int_equal(bn_dense_load_state(b, b1, size), BN_ERR_VERSION_MISMATCH);
  assert_int_equal(bn_dense_deserialize(b, b1, size), BN_ERR_VERSION_MISMATCH);
  assert_int_equal(bn_dense_serialized_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_serialized_size(a, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_true(bn_dense_last_error(a)[0] != '\0');
  assert_int_equal(bn_dense_serialize(NULL, b2, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_serialize(a, NULL, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_deserialize(NULL, b3, size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_deserialize(b, NULL, size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_state_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_load_state(b, NULL, size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_dense_serialize(b, b2, size, NULL), BN_OK);
  assert_memory_equal(b2, b3, size); /* b unchanged by the failures */
  free(b1);
  free(b2);
  free(b3);
  bn_dense_destroy(a);
  bn_dense_destroy(b);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_forward_backward_reference),
    cmocka_unit_test(test_finite_differences),
    cmocka_unit_test(test_init_literals),
    cmocka_unit_test(test_init_statistics),
    cmocka_unit_test(test_tensors),
    cmocka_unit_test(test_hostile),
    cmocka_unit_test(test_state_round_trip),
    cmocka_unit_test(test_state_aliases),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The input standardizer (bn/standardizer.h) as a specification: statistics
 * and transforms against a long-double reference written here, the
 * cancellation case (mean 1e4, standard deviation 1e-2), constant features,
 * chunked partial_fit against one fit, the options, NaN and infinity, zero
 * and mismatched sizes, and the state blob: its documented bytes, a lossless
 * round trip, and rejection of every truncation, corrupted byte and forged
 * content. Rejected blobs are read from heap buffers of exactly their size,
 * so under ASan an out-of-bounds read fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <float.h>

#include "testing.h"
#include "blob_testing.h"

/* Documented blob layout, version 1 (little-endian). */
enum {
  OFF_MAGIC = 0,
  OFF_VERSION = 4,
  OFF_FEATURES = 8,
  OFF_OPTIONS = 16,
  OFF_RESERVED = 20,
  OFF_COUNT = 24,
  OFF_MEANS = 32
};
#define TWO_POW_53 ((uint64_t)1 << 53)

/* ---- reference ------------------------------------------------------------ */

/* Two-pass statistics of a float matrix in long double, and the scale
 * scikit-learn derives from them (1 where the variance is rounding noise). */
typedef struct ref_stats {
  double *mean, *var, *scale;
} ref_stats;

static ref_stats ref_of(const float *x, size_t F, size_t n, size_t ld)
{
  ref_stats r = {test_doubles(F), test_doubles(F), test_doubles(F)};
  for (size_t f = 0; f < F; f++) {
    long double sum = 0.0L, sq = 0.0L;
    for (size_t j = 0; j < n; j++)
      sum += (long double)x[f + j * ld];
    const long double mean = sum / (long double)n;
    for (size_t j = 0; j < n; j++) {
      const long double d = (long double)x[f + j * ld] - mean;
      sq += d * d;
    }
    r.mean[f] = (double)mean;
    r.var[f] = (double)(sq / (long double)n);
    const double bound_noise = (double)n * r.mean[f] * DBL_EPSILON;
    const int constant =
        r.var[f] <= (double)n * DBL_EPSILON * r.var[f] + bound_noise * bound_noise;
    r.scale[f] = constant ? 1.0 : sqrt(r.var[f]);
  }
  return r;
}

static void ref_free(ref_stats *r)
{
  free(r->mean);
  free(r->var);
  free(r->scale);
}

/* max over f of |got - want| / (atol + rtol*|want|). */
static double vec_err(const double *got, const double *want, size_t F, double atol, double rtol)
{
  double worst = 0.0;
  for (size_t f = 0; f < F; f++) {
    double e = fabs(got[f] - want[f]) / (atol + rtol * fabs(want[f]));
    if (!(e <= worst))
      worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

static double *get_vector(const bn_standardizer *s, bn_standardizer_vector which, size_t F)
{
  double *v = test_doubles(F);
  assert_ok(bn_standardizer_get(s, which, v, F));
  return v;
}

/* Five features of very different kinds; the third is the cancellation case. */
enum { F5 = 5 };
static const double MEANS[F5] = {0.0, -3.5, 1e4, 250.0, 1e-3};
static const double SDS[F5] = {1.0, 0.25, 1e-2, 40.0, 1e-5};

static float *data5(size_t n, size_t ld, uint64_t seed)
{
  test_rng rng = {seed};
  float *x = test_floats(ld * n);
  test_fill_rows(&rng, x, F5, n, ld, MEANS, SDS); /* NaN padding */
  return x;
}

static bn_standardizer *fitted5(const float *x, size_t n, size_t ld)
{
  bn_standardizer *s = NULL;
  assert_ok(bn_standardizer_create(&s, F5));
  assert_ok(bn_standardizer_fit(s, n, x, ld));
  return s;
}

BLOB_SNAPSHOT_FN(snapshot, bn_standardizer, bn_standardizer_serialized_size,
                 bn_standardizer_serialize)

static void assert_unchanged(const bn_standardizer *s, const unsigned char *before, size_t size)
{
  size_t now_size = 0;
  unsigned char *now = snapshot(s, &now_size);
  assert_int_equal(now_size, size);
  assert_memory_equal(now, before, size);
  free(now);
}

/* ---- statistics ------------------------------------------------------------ */

static void fit_matches_reference(void **state)
{
  (void)state;
  const size_t n = 1000, ld = 7;
  float *x = data5(n, ld, 1);
  bn_standardizer *s = fitted5(x, n, ld);
  ref_stats r = ref_of(x, F5, n, ld);
  double *mean = get_vector(s, BN_STANDARDIZER_MEAN, F5);
  double *var = get_vector(s, BN_STANDARDIZER_VAR, F5);
  double *scale = get_vector(s, BN_STANDARDIZER_SCALE, F5);
  /* mean: a few double roundings of the feature's magnitude */
  for (size_t f = 0; f < F5; f++)
    assert_within(fabs(mean[f] - r.mean[f]) / (fabs(r.mean[f]) + sqrt(r.var[f])), 1e-13);
  assert_within(vec_err(var, r.var, F5, 0.0, 1e-12), 1.0);
  assert_within(vec_err(scale, r.scale, F5, 0.0, 1e-12), 1.0);
  uint64_t count = 0;
  assert_ok(bn_standardizer_count(s, &count));
  assert_int_equal(count, n);
  /* the cancellation feature: the spread survives a mean 1e6 times larger */
  assert_within(fabs(scale[2] - SDS[2]) / SDS[2], 0.1);
  free(mean), free(var), free(scale);
  ref_free(&r);
  bn_standardizer_destroy(s);
  free(x);
}

/* x + 1e4 with x ~ N(0, 1e-2): the statistics of the shifted float data equal
 * the reference to double precision, where E[x^2] - E[x]^2 would lose all of
 * the variance (1e8 against 1e-4). */
static void mean_dwarfing_spread_is_accurate(void **state)
{
  (void)state;
  const size_t F = 3, n = 4096;
  const double mean[3] = {1e4, -1e4, 1e4}, sd[3] = {1e-2, 1e-2, 3e-2};
  test_rng rng = {7};
  float *x = test_floats(F * n);
  test_fill_rows(&rng, x, F, n, F, mean, sd);
  bn_standardizer *s = NULL;
  assert_ok(bn_standardizer_create(&s, F));
  assert_ok(bn_standardizer_fit(s, n, x, F));
  ref_stats r = ref_of(x, F, n, F);
  double *var = get_vector(s, BN_STANDARDIZER_VAR, F);
  assert_within(vec_err(var, r.var, F, 0.0, 1e-9), 1.0);
  /* and the standardized data have mean 0 and variance 1 */
  float *y = test_floats(F * n);
  assert_ok(bn_standardizer_transform(s, n, x, F, y, F));
  ref_stats ry = ref_of(y, F, n, F);
  for (size_t f = 0; f < F; f++) {
    assert_within(fabs(ry.mean[f]), 1e-6);
    assert_within(fabs(ry.var[f] - 1.0), 1e-6);
  }
  free(var), free(y), free(x);
  ref_free(&r), ref_free(&ry);
  bn_standardizer_destroy(s);
}

static void constant_features_are_only_centered(void **state)
{
  (void)state;
  const size_t F = 3, n = 50;
  float *x = test_floats(F * n);
  test_rng rng = {3};
  for (size_t j = 0; j < n; j++) {
    x[0 + j * F] = 3.7f;                          /* constant */
    x[1 + j * F] = 1e4f;                          /* constant, large */
    x[2 + j * F] = (float)test_rng_normal(&rng); /* varying */
  }
  bn_standardizer *s = NULL;
  assert_ok(bn_standardizer_create(&s, F));
  /* in three chunks, so the merge keeps a constant feature exactly constant */
  assert_ok(bn_standardizer_partial_fit(s, 10, x, F));
  assert_ok(bn_standardizer_partial_fit(s, 17, x + 10 * F, F));
  assert_ok(bn_standardizer_partial_fit(s, 23, x + 27 * F, F));
  double *mean = get_vector(s, BN_STANDARDIZER_MEAN, F);
  double *var = get_vector(s, BN_STANDARDIZER_VAR, F);
  double *scale = get_vector(s, BN_STANDARDIZER_SCALE, F);
  assert_true(mean[0] == (double)3.7f && mean[1] == 1e4);
  assert_true(var[0] == 0.0 && var[1] == 0.0 && var[2] > 0.1);
  assert_true(scale[0] == 1.0 && scale[1] == 1.0 && scale[2] == sqrt(var[2]));
  float *y = test_floats(F * n);
  assert_ok(bn_standardizer_transform(s, n, x, F, y, F));
  for (size_t j = 0; j < n; j++)
    assert_true(y[0 + j * F] == 0.0f && y[1 + j * F] == 0.0f);
  free(mean), free(var), free(scale), free(y), free(x);
  bn_standardizer_destroy(s);
}

/* Chunks of sizes 1, 7, 100, 392 give the statistics of one fit over all
 * 500 samples, to 1e-12; a partial_fit on an unfitted handle is a fit, bit
 * for bit. */
static void partial_fit_equals_one_fit(void **state)
{
  (void)state;
  const size_t n = 500, ld = 6;
  const size_t chunks[] = {1, 7, 100, 392};
  float *x = data5(n, ld, 11);
  bn_standardizer *whole = fitted5(x, n, ld), *parts = NULL, *first = NULL;
  assert_ok(bn_standardizer_create(&parts, F5));
  size_t start = 0;
  for (size_t c = 0; c < sizeof chunks / sizeof *chunks; c++) {
    assert_ok(bn_standardizer_partial_fit(parts, chunks[c], x + start * ld, ld));
    start += chunks[c];
  }
  assert_int_equal(start, n);
  uint64_t count = 0;
  assert_ok(bn_standardizer_count(parts, &count));
  assert_int_equal(count, n);
  static const bn_standardizer_vector which[] = {BN_STANDARDIZER_MEAN, BN_STANDARDIZER_VAR,
                                                 BN_STANDARDIZER_SCALE};
  /* The merge's cross term uses the difference of chunk means, each rounded
   * to a double: its relative error in the variance is about
   * 2*eps*(mean/sd)*(delta/sd), with delta/sd ~ 0.1 for these chunks; that
   * is ~1e-11 for the cancellation feature (mean/sd = 1e6; still far below
   * float data's resolution); elsewhere 1e-12 holds. */
  for (size_t k = 0; k < 3; k++) {
    double *a = get_vector(whole, which[k], F5), *b = get_vector(parts, which[k], F5);
    for (size_t f = 0; f < F5; f++) {
      const double conditioning = fabs(MEANS[f]) / SDS[f];
      if (which[k] == BN_STANDARDIZER_MEAN)
        assert_within(fabs(a[f] - b[f]) / (fabs(a[f]) + SDS[f]), 1e-12);
      else
        assert_within(fabs(a[f] - b[f]) / fabs(a[f]),
                      1e-12 + 0.25 * DBL_EPSILON * conditioning);
    }
    free(a), free(b);
  }
  assert_ok(bn_standardizer_create(&first, F5));
  assert_ok(bn_standardizer_partial_fit(first, n, x, ld));
  size_t size_a, size_b;
  unsigned char *a = snapshot(whole, &size_a), *b = snapshot(first, &size_b);
  assert_int_equal(size_a, size_b);
  assert_memory_equal(a, b, size_a);
  /* and a fit after partial fits starts over */
  assert_ok(bn_standardizer_fit(parts, n, x, ld));
  assert_unchanged(parts, a, size_a);
  free(a), free(b), free(x);
  bn_standardizer_destroy(whole);
  bn_standardizer_destroy(parts);
  bn_standardizer_destroy(first);
}

/* ---- transforms ----------------------------------------------------------- */

/* y against (x - mean)/scale in double, within one float rounding; padding untouched. */
static void transform_matches_reference(void **state)
{
  (void)state;
  const size_t n = 300, ldx = 5, ldy = 9;
  float *x = data5(n, ldx, 5);
  bn_standardizer *s = fitted5(x, n, ldx);
  ref_stats r = ref_of(x, F5, n, ldx);
  float *y = test_floats(ldy * n);
  test_set(y, ldy * n, -7.0f);
  assert_ok(bn_standardizer_transform(s, n, x, ldx, y, ldy));
  assert_int_equal(test_padding_changed(y, F5, n, ldy, -7.0f), 0);
  double *want = test_doubles(F5 * n);
  for (size_t j = 0; j < n; j++)
    for (size_t f = 0; f < F5; f++)
      want[f + j * F5] = ((double)x[f + j * ldx] - r.mean[f]) / r.scale[f];
  assert_within(test_err(y, ldy, want, F5, n, 1e-6, 1.2e-7), 1.0);
  /* the inverse brings x back within float rounding of its magnitude */
  float *back = test_floats(ldx * n);
  test_set(back, ldx * n, -7.0f);
  assert_ok(bn_standardizer_inverse_transform(s, n, y, ldy, back, ldx));
  double *xd = test_to_double(x, F5, n, ldx);
  double *mag = test_doubles(F5 * n);
  for (size_t j = 0; j < n; j++)
    for (size_t f = 0; f < F5; f++)
      mag[f + j * F5] = fabs(xd[f + j * F5]) + r.scale[f] * fabs(want[f + j * F5]);
  assert_within(test_err_mag(back, ldx, xd, mag, F5, n), 2.5e-7);
  free(x), free(y), free(want), free(back), free(xd), free(mag);
  ref_free(&r);
  bn_standardizer_destroy(s);
}

/* In place (same buffer, same ld) equals out of place bit for bit; a partial
 * overlap is refused. */
static void in_place_and_aliasing(void **state)
{
  (void)state;
  const size_t n = 64, ld = 5;
  float *x = data5(n, ld, 9);
  bn_standardizer *s = fitted5(x, n, ld);
  float *y = test_floats(ld * n), *inplace = test_floats(ld * n);
  memcpy(inplace, x, ld * n * sizeof *x);
  memcpy(y, x, ld * n * sizeof *x);
  float *out = test_floats(ld * n);
  assert_ok(bn_standardizer_transform(s, n, x, ld, out, ld));
  assert_ok(bn_standardizer_transform(s, n, inplace, ld, inplace, ld));
  for (size_t j = 0; j < n; j++)
    assert_memory_equal(out + j * ld, inplace + j * ld, F5 * sizeof(float));
  assert_ok(bn_standardizer_inverse_transform(s, n, inplace, ld, inplace, ld));
  assert_ok(bn_standardizer_inverse_transform(s, n, out, ld, y, ld));
  for (size_t j = 0; j < n; j++)
    assert_memory_equal(y + j * ld, inplace + j * ld, F5 * sizeof(float));
  /* shifted by one sample: overlapping without being the same buffer */
  assert_status(bn_standardizer_transform(s, n - 1, x, ld, x + ld, ld), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_inverse_transform(s, n - 1, x + ld, ld, x, ld),
                BN_ERR_INVALID_ARGUMENT);
  /* same pointer, other ld */
  assert_status(bn_standardizer_transform(s, 2, x, ld, x, ld + 1), BN_ERR_INVALID_ARGUMENT);
  assert_true(strlen(bn_standardizer_last_error(s)) > 0);
  free(x), free(y), free(inplace), free(out);
  bn_standardizer_destroy(s);
}

/* with_mean and with_std switch the center and the scale, and nothing else. */
static void options_change_the_transform_only(void **state)
{
  (void)state;
  const size_t n = 40, ld = 5;
  float *x = data5(n, ld, 13);
  bn_standardizer *s = fitted5(x, n, ld);
  ref_stats r = ref_of(x, F5, n, ld);
  size_t size;
  unsigned char *before = snapshot(s, &size);
  float *y = test_floats(ld * n);
  double *want = test_doubles(F5 * n);
  for (int with_mean = 0; with_mean <= 1; with_mean++)
    for (int with_std = 0; with_std <= 1; with_std++) {
      assert_ok(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, with_mean));
      assert_ok(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_STD, with_std));
      double got_mean = -1, got_std = -1;
      assert_ok(bn_standardizer_get_parameter(s, BN_STANDARDIZER_WITH_MEAN, &got_mean));
      assert_ok(bn_standardizer_get_parameter(s, BN_STANDARDIZER_WITH_STD, &got_std));
      assert_true(got_mean == with_mean && got_std == with_std);
      for (size_t j = 0; j < n; j++)
        for (size_t f = 0; f < F5; f++)
          want[f + j * F5] = ((double)x[f + j * ld] - (with_mean ? r.mean[f] : 0.0)) /
                             (with_std ? r.scale[f] : 1.0);
      assert_ok(bn_standardizer_transform(s, n, x, ld, y, ld));
      assert_within(test_err(y, ld, want, F5, n, 1e-6, 1.2e-7), 1.0);
      if (!with_mean && !with_std)
        for (size_t j = 0; j < n; j++)
          assert_memory_equal(y + j * ld, x + j * ld, F5 * sizeof(float));
    }
  /* the statistics are untouched (the options are on again, as saved) */
  assert_unchanged(s, before, size);
  double lo = -1, hi = -1;
  assert_ok(bn_standardizer_parameter_bounds(BN_STANDARDIZER_WITH_STD, &lo, &hi));
  assert_true(lo == 0.0 && hi == 1.0);
  assert_status(bn_standardizer_parameter_bounds((bn_standardizer_param)99, &lo, &hi),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_parameter_bounds(BN_STANDARDIZER_WITH_MEAN, NULL, &hi),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, 0.5),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, 2.0),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_STD, NAN),
                BN_ERR_NON_FINITE);
  assert_status(bn_standardizer_set_parameter(s, (bn_standardizer_param)0, 1.0),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get_parameter(s, (bn_standardizer_param)3, &lo),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get_parameter(s, BN_STANDARDIZER_WITH_STD, NULL),
                BN_ERR_INVALID_ARGUMENT);
  assert_unchanged(s, before, size);
  free(before), free(x), free(y), free(want);
  ref_free(&r);
  bn_standardizer_destroy(s);
}

/* ---- hostile input ---------------------------------------------------------- */

static void non_finite_data_is_refused_and_changes_nothing(void **state)
{
  (void)state;
  const size_t n = 20, ld = 5;
  const float bad[] = {NAN, INFINITY, -INFINITY};
  float *x = data5(n, ld, 17);
  bn_standardizer *s = fitted5(x, n, ld), *fresh = NULL;
  assert_ok(bn_standardizer_create(&fresh, F5));
  size_t size;
  unsigned char *before = snapshot(s, &size);
  float *dirty = test_floats(ld * n);
  for (size_t k = 0; k < 3; k++) {
    memcpy(dirty, x, ld * n * sizeof *x);
    dirty[3 + 11 * ld] = bad[k];
    assert_status(bn_standardizer_fit(s, n, dirty, ld), BN_ERR_NON_FINITE);
    assert_non_null(strstr(bn_standardizer_last_error(s), "feature 3"));
    assert_status(bn_standardizer_partial_fit(s, n, dirty, ld), BN_ERR_NON_FINITE);
    assert_unchanged(s, before, size);
    assert_status(bn_standardizer_partial_fit(fresh, n, dirty, ld), BN_ERR_NON_FINITE);
    uint64_t count = 1;
    assert_ok(bn_standardizer_count(fresh, &count));
    assert_int_equal(count, 0);
    /* the transforms carry non-finite values through by IEEE arithmetic */
    float *y = test_floats(ld * n);
    assert_ok(bn_standardizer_transform(s, n, dirty, ld, y, ld));
    assert_true(isnan(bad[k]) ? isnan(y[3 + 11 * ld])
                              : (isinf(y[3 + 11 * ld]) && (y[3 + 11 * ld] > 0) == (bad[k] > 0)));
    assert_true(isfinite(y[2 + 11 * ld]) && isfinite(y[3 + 10 * ld]));
    free(y);
  }
  free(before), free(x), free(dirty);
  bn_standardizer_destroy(s);
  bn_standardizer_destroy(fresh);
}

static void unfitted_handle_refuses_to_transform(void **state)
{
  (void)state;
  bn_standardizer *s = NULL;
  assert_ok(bn_standardizer_create(&s, 2));
  float x[4] = {1, 2, 3, 4}, y[4];
  double v[2];
  uint64_t count = 9;
  assert_ok(bn_standardizer_count(s, &count));
  assert_int_equal(count, 0);
  assert_status(bn_standardizer_transform(s, 2, x, 2, y, 2), BN_ERR_WRONG_STATE);
  assert_status(bn_standardizer_inverse_transform(s, 2, x, 2, y, 2), BN_ERR_WRONG_STATE);
  assert_status(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, v, 2), BN_ERR_WRONG_STATE);
  assert_non_null(strstr(bn_standardizer_last_error(s), "not fitted"));
  /* one sample fits: mean = the sample, variance 0, scale 1 */
  assert_ok(bn_standardizer_fit(s, 1, x, 2));
  assert_ok(bn_standardizer_get(s, BN_STANDARDIZER_SCALE, v, 2));
  assert_true(v[0] == 1.0 && v[1] == 1.0);
  assert_ok(bn_standardizer_transform(s, 2, x, 2, y, 2));
  assert_true(y[0] == 0.0f && y[1] == 0.0f && y[2] == 2.0f && y[3] == 2.0f);
  bn_standardizer_destroy(s);
}

static void zero_null_and_mismatched_sizes(void **state)
{
  (void)state;
  float x[12] = {0}, y[12];
  double v[3];
  bn_standardizer *s = NULL;
  assert_status(bn_standardizer_create(NULL, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_create(&s, 0), BN_ERR_INVALID_ARGUMENT);
  assert_null(s);
  assert_status(bn_standardizer_create(&s, SIZE_MAX / 4), BN_ERR_SIZE_OVERFLOW);
  assert_null(s);
  assert_ok(bn_standardizer_create(&s, 3));
  size_t features = 0;
  assert_ok(bn_standardizer_features(s, &features));
  assert_int_equal(features, 3);
  /* zero samples */
  assert_status(bn_standardizer_fit(s, 0, x, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_partial_fit(s, 0, x, 3), BN_ERR_INVALID_ARGUMENT);
  /* ld < F, NULL data */
  assert_status(bn_standardizer_fit(s, 4, x, 2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_fit(s, 4, NULL, 3), BN_ERR_INVALID_ARGUMENT);
  /* counts past 2^53 are refused before any data is read (x is never dereferenced) */
  assert_status(bn_standardizer_partial_fit(s, (size_t)TWO_POW_53 + 1, x, 3),
                BN_ERR_SIZE_OVERFLOW);
  /* an extent beyond size_t */
  assert_status(bn_standardizer_fit(s, SIZE_MAX / 2, x, 3), BN_ERR_SIZE_OVERFLOW);
  uint64_t count = 9;
  assert_ok(bn_standardizer_count(s, &count));
  assert_int_equal(count, 0);
  for (size_t i = 0; i < 12; i++)
    x[i] = (float)i;
  assert_ok(bn_standardizer_fit(s, 4, x, 3));
  assert_status(bn_standardizer_transform(s, 0, x, 3, y, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_transform(s, 4, x, 2, y, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_transform(s, 4, x, 3, y, 2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_transform(s, 4, x, 3, NULL, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_inverse_transform(s, 4, NULL, 3, y, 3),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, v, 2), BN_ERR_SHAPE_MISMATCH);
  assert_status(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, NULL, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get(s, (bn_standardizer_vector)4, v, 3),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_count(s, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_features(s, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_serialized_size(s, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_serialize(s, NULL, 100, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_deserialize(s, NULL, 100), BN_ERR_INVALID_ARGUMENT);
  /* a NULL handle everywhere */
  assert_status(bn_standardizer_features(NULL, &features), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_fit(NULL, 4, x, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_partial_fit(NULL, 4, x, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_transform(NULL, 4, x, 3, y, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_inverse_transform(NULL, 4, x, 3, y, 3),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_count(NULL, &count), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get(NULL, BN_STANDARDIZER_MEAN, v, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_set_parameter(NULL, BN_STANDARDIZER_WITH_MEAN, 1),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_get_parameter(NULL, BN_STANDARDIZER_WITH_MEAN, v),
                BN_ERR_INVALID_ARGUMENT);
  size_t size;
  assert_status(bn_standardizer_serialized_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_serialize(NULL, y, sizeof y, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_deserialize(NULL, y, sizeof y), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_standardizer_create_from_bytes(NULL, y, sizeof y, NULL, 0), BN_ERR_INVALID_ARGUMENT);
  bn_standardizer *other = (bn_standardizer *)1;
  char message[64] = "unchanged";
  assert_status(bn_standardizer_create_from_bytes(&other, NULL, 10, message, sizeof message),
                BN_ERR_INVALID_ARGUMENT);
  assert_null(other);
  assert_string_equal(message, "buffer is NULL");
  assert_non_null(bn_standardizer_last_error(NULL));
  bn_standardizer_destroy(NULL);
  bn_standardizer_destroy(s);
}

/* ---- state blob --------------------------------------------------------------- */

static void blob_has_documented_format(void **state)
{
  (void)state;
  const size_t n = 30, ld = 5;
  float *x = data5(n, ld, 21);
  bn_standardizer *s = fitted5(x, n, ld);
  assert_ok(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, 0));
  size_t size;
  unsigned char *blob = snapshot(s, &size);
  assert_int_equal(size, 36 + 16 * F5);
  assert_memory_equal(blob + OFF_MAGIC, "BNSD", 4);
  assert_int_equal(blob_get_u32(blob + OFF_VERSION), 1);
  assert_int_equal(blob_get_u64(blob + OFF_FEATURES), F5);
  assert_int_equal(blob_get_u32(blob + OFF_OPTIONS), 2); /* with_std only */
  assert_int_equal(blob_get_u32(blob + OFF_RESERVED), 0);
  assert_int_equal(blob_get_u64(blob + OFF_COUNT), n);
  double *mean = get_vector(s, BN_STANDARDIZER_MEAN, F5);
  double *var = get_vector(s, BN_STANDARDIZER_VAR, F5);
  for (size_t f = 0; f < F5; f++) {
    assert_true(blob_get_f64(blob + OFF_MEANS + 8 * f) == mean[f]);
    const double m2 = blob_get_f64(blob + OFF_MEANS + 8 * (F5 + f));
    assert_true(m2 / (double)n == var[f]);
  }
  assert_int_equal(blob_get_u32(blob + size - 4), blob_crc32(blob, size - 4));
  free(mean), free(var), free(blob), free(x);
  bn_standardizer_destroy(s);
}

/* Save, load elsewhere, continue: the copy continues bit for bit like the original. */
static void round_trip_continues_exactly(void **state)
{
  (void)state;
  const size_t n = 90, ld = 5;
  float *x = data5(n, ld, 23);
  bn_standardizer *s = NULL, *t = NULL, *u = NULL;
  assert_ok(bn_standardizer_create(&s, F5));
  assert_ok(bn_standardizer_partial_fit(s, 40, x, ld));
  assert_ok(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_STD, 0));
  size_t size;
  unsigned char *blob = snapshot(s, &size);
  assert_ok(bn_standardizer_create(&t, F5));
  assert_ok(bn_standardizer_deserialize(t, blob, size));
  assert_ok(bn_standardizer_create_from_bytes(&u, blob, size, NULL, 0));
  assert_unchanged(t, blob, size);
  assert_unchanged(u, blob, size);
  double with_std = 1;
  assert_ok(bn_standardizer_get_parameter(u, BN_STANDARDIZER_WITH_STD, &with_std));
  assert_true(with_std == 0.0);
  assert_ok(bn_standardizer_partial_fit(s, n - 40, x + 40 * ld, ld));
  assert_ok(bn_standardizer_partial_fit(u, n - 40, x + 40 * ld, ld));
  free(blob);
  blob = snapshot(s, &size);
  assert_unchanged(u, blob, size);
  float *ys = test_floats(ld * n), *yu = test_floats(ld * n);
  assert_ok(bn_standardizer_transform(s, n, x, ld, ys, ld));
  assert_ok(bn_standardizer_transform(u, n, x, ld, yu, ld));
  for (size_t j = 0; j < n; j++)
    assert_memory_equal(ys + j * ld, yu + j * ld, F5 * sizeof(float));
  /* an unfitted state round-trips too, and stays unfitted */
  bn_standardizer *empty = NULL;
  assert_ok(bn_standardizer_create(&empty, F5));
  free(blob);
  blob = snapshot(empty, &size);
  assert_ok(bn_standardizer_deserialize(t, blob, size));
  uint64_t count = 1;
  assert_ok(bn_standardizer_count(t, &count));
  assert_int_equal(count, 0);
  assert_status(bn_standardizer_transform(t, n, x, ld, ys, ld), BN_ERR_WRONG_STATE);
  /* capacity */
  assert_status(bn_standardizer_serialize(s, blob, size - 1, NULL), BN_ERR_BAD_SIZE);
  free(blob), free(x), free(ys), free(yu);
  bn_standardizer_destroy(s);
  bn_standardizer_destroy(t);
  bn_standardizer_destroy(u);
  bn_standardizer_destroy(empty);
}

/* Load a copy of blob[0..size) held in a heap buffer of exactly size bytes. */
static bn_status load_exact(bn_standardizer *s, const unsigned char *blob, size_t size)
{
  unsigned char *copy = malloc(size ? size : 1);
  assert_non_null(copy);
  if (size)
    memcpy(copy, blob, size);
  bn_status st = bn_standardizer_deserialize(s, copy, size);
  bn_standardizer *created = NULL;
  bn_status created_st = bn_standardizer_create_from_bytes(&created, copy, size, NULL, 0);
  /* both readers agree, except that only an existing handle has a feature count to mismatch */
  if (st != BN_ERR_SHAPE_MISMATCH)
    assert_int_equal(created_st, st);
  bn_standardizer_destroy(created);
  free(copy);
  return st;
}

static void truncated_padded_and_corrupted_blobs_are_rejected(void **state)
{
  (void)state;
  const size_t n = 12, ld = 5;
  float *x = data5(n, ld, 29);
  bn_standardizer *s = fitted5(x, n, ld), *target = NULL;
  assert_ok(bn_standardizer_create(&target, F5));
  assert_ok(bn_standardizer_fit(target, n / 2, x, ld));
  size_t size, target_size;
  unsigned char *blob = snapshot(s, &size), *target_before = snapshot(target, &target_size);
  for (size_t cut = 0; cut < size; cut++)
    assert_status(load_exact(target, blob, cut), BN_ERR_BAD_SIZE);
  unsigned char *longer = calloc(size + 8, 1);
  assert_non_null(longer);
  memcpy(longer, blob, size);
  assert_status(load_exact(target, longer, size + 8), BN_ERR_BAD_SIZE);
  for (size_t i = 0; i < size; i++)
    for (unsigned bit = 0; bit < 8; bit += 3) {
      blob[i] ^= (unsigned char)(1u << bit);
      bn_status st = load_exact(target, blob, size);
      blob[i] ^= (unsigned char)(1u << bit);
      const bn_status want = i < OFF_VERSION      ? BN_ERR_BAD_MAGIC
                             : i < OFF_FEATURES   ? BN_ERR_VERSION_MISMATCH
                             : i < OFF_OPTIONS    ? BN_ERR_BAD_SIZE
                                                  : BN_ERR_CHECKSUM;
      assert_status(st, want);
    }
  assert_unchanged(target, target_before, target_size);
  free(longer), free(blob), free(target_before), free(x);
  bn_standardizer_destroy(s);
  bn_standardizer_destroy(target);
}

/* Well-formed blobs (correct CRC) whose content is invalid. */
static void forged_content_is_rejected(void **state)
{
  (void)state;
  const size_t n = 12, ld = 5;
  float *x = data5(n, ld, 31);
  bn_standardizer *s = fitted5(x, n, ld), *target = NULL, *other = NULL;
  assert_ok(bn_standardizer_create(&target, F5));
  size_t size, target_size;
  unsigned char *good = snapshot(s, &size), *target_before = snapshot(target, &target_size);
  unsigned char *blob = malloc(size);
  assert_non_null(blob);
  enum { OPTIONS, RESERVED, COUNT_BIG, COUNT_ZERO, MEAN_NAN, MEAN_INF, M2_NEG, M2_NAN,
         VERSION, KINDS };
  for (int kind = 0; kind < KINDS; kind++) {
    memcpy(blob, good, size);
    bn_status want = BN_ERR_BAD_FORMAT;
    switch (kind) {
    case OPTIONS: blob_put_u32(blob + OFF_OPTIONS, 4); break;
    case RESERVED: blob_put_u32(blob + OFF_RESERVED, 1); break;
    case COUNT_BIG: blob_put_u64(blob + OFF_COUNT, TWO_POW_53 + 1); break;
    case COUNT_ZERO: blob_put_u64(blob + OFF_COUNT, 0); break; /* nonzero vectors */
    case MEAN_NAN: blob_put_f64(blob + OFF_MEANS + 8, NAN); break;
    case MEAN_INF: blob_put_f64(blob + OFF_MEANS, -INFINITY); break;
    case M2_NEG: blob_put_f64(blob + OFF_MEANS + 8 * (F5 + 2), -1e-30); break;
    case M2_NAN: blob_put_f64(blob + OFF_MEANS + 8 * (2 * F5 - 1), NAN); break;
    case VERSION: blob_put_u32(blob + OFF_VERSION, 2), want = BN_ERR_VERSION_MISMATCH; break;
    }
    blob_reseal(blob, size);
    assert_status(load_exact(target, blob, size), want);
  }
  assert_unchanged(target, target_before, target_size);
  /* feature counts: another handle's, and zero */
  assert_ok(bn_standardizer_create(&other, F5 + 1));
  assert_status(bn_standardizer_deserialize(other, good, size), BN_ERR_SHAPE_MISMATCH);
  unsigned char zero[36];
  memcpy(zero, good, 32);
  blob_put_u64(zero + OFF_FEATURES, 0);
  blob_reseal(zero, sizeof zero);
  bn_standardizer *created = NULL;
  char why[128];
  assert_status(bn_standardizer_create_from_bytes(&created, zero, sizeof zero, why, sizeof why),
                BN_ERR_BAD_FORMAT);
  assert_null(created);
  assert_non_null(strstr(why, "0 features"));
  /* the message of a damaged blob names the damage, truncated to the buffer */
  zero[20] ^= 1; /* the reserved field: the checksum no longer matches */
  char tiny[8];
  assert_status(bn_standardizer_create_from_bytes(&created, zero, sizeof zero, tiny, sizeof tiny),
                BN_ERR_CHECKSUM);
  assert_int_equal(strlen(tiny), sizeof tiny - 1);
  /* a count of exactly 2^53 loads, and then no sample more fits */
  memcpy(blob, good, size);
  blob_put_u64(blob + OFF_COUNT, TWO_POW_53);
  blob_reseal(blob, size);
  assert_ok(bn_standardizer_deserialize(target, blob, size));
  assert_status(bn_standardizer_partial_fit(target, 1, x, ld), BN_ERR_SIZE_OVERFLOW);
  assert_unchanged(target, blob, size);
  /* moments near the double range load (they are finite), but adding data
   * whose mean is far from them would overflow M2: refused, nothing changes
   * (a fuzzer found the state then failing its own round trip) */
  memcpy(blob, good, size);
  blob_put_f64(blob + OFF_MEANS, -1e300);
  blob_put_f64(blob + OFF_MEANS + 8 * F5, 1e308);
  blob_reseal(blob, size);
  assert_ok(bn_standardizer_deserialize(target, blob, size));
  assert_status(bn_standardizer_partial_fit(target, n, x, ld), BN_ERR_NON_FINITE);
  assert_unchanged(target, blob, size);
  free(blob), free(good), free(target_before), free(x);
  bn_standardizer_destroy(s);
  bn_standardizer_destroy(target);
  bn_standardizer_destroy(other);
}

/* A version-1 blob as docs/formats.md shows it (2 features fitted on the
 * samples (1, 2) and (3, 4)): blobs written today must keep loading. */
static void version_1_fixture_loads(void **state)
{
  (void)state;
  static const unsigned char fixture[68] = {
      0x42, 0x4e, 0x53, 0x44, 0x01, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, /* BNSD, 1, F = 2 */
      0x03, 0, 0, 0, 0, 0, 0, 0, 0x02, 0, 0, 0, 0, 0, 0, 0, /* options 3, reserved, count 2 */
      0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0x08, 0x40, /* mean 2, 3 */
      0, 0, 0, 0, 0, 0, 0, 0x40, 0, 0, 0, 0, 0, 0, 0, 0x40,    /* M2 2, 2 */
      0x0f, 0x16, 0xf6, 0x88};                                 /* CRC-32 */
  bn_standardizer *s = NULL;
  assert_ok(bn_standardizer_create_from_bytes(&s, fixture, sizeof fixture, NULL, 0));
  double mean[2], var[2];
  assert_ok(bn_standardizer_get(s, BN_STANDARDIZER_MEAN, mean, 2));
  assert_ok(bn_standardizer_get(s, BN_STANDARDIZER_VAR, var, 2));
  assert_true(mean[0] == 2.0 && mean[1] == 3.0 && var[0] == 1.0 && var[1] == 1.0);
  const float x[4] = {1, 2, 3, 4};
  float y[4];
  assert_ok(bn_standardizer_transform(s, 2, x, 2, y, 2));
  assert_true(y[0] == -1.0f && y[1] == -1.0f && y[2] == 1.0f && y[3] == 1.0f);
  /* and today's writer produces exactly these bytes */
  bn_standardizer *t = NULL;
  assert_ok(bn_standardizer_create(&t, 2));
  assert_ok(bn_standardizer_fit(t, 2, x, 2));
  unsigned char written[68];
  assert_ok(bn_standardizer_serialize(t, written, sizeof written, NULL));
  assert_memory_equal(written, fixture, sizeof fixture);
  bn_standardizer_destroy(s);
  bn_standardizer_destroy(t);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(fit_matches_reference),
      cmocka_unit_test(mean_dwarfing_spread_is_accurate),
      cmocka_unit_test(constant_features_are_only_centered),
      cmocka_unit_test(partial_fit_equals_one_fit),
      cmocka_unit_test(transform_matches_reference),
      cmocka_unit_test(in_place_and_aliasing),
      cmocka_unit_test(options_change_the_transform_only),
      cmocka_unit_test(non_finite_data_is_refused_and_changes_nothing),
      cmocka_unit_test(unfitted_handle_refuses_to_transform),
      cmocka_unit_test(zero_null_and_mismatched_sizes),
      cmocka_unit_test(blob_has_documented_format),
      cmocka_unit_test(round_trip_continues_exactly),
      cmocka_unit_test(version_1_fixture_loads),
      cmocka_unit_test(truncated_padded_and_corrupted_blobs_are_rejected),
      cmocka_unit_test(forged_content_is_rejected),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

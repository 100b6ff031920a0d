/* The (count, mean, M2) merge of src/core/moments.h: merging the moments of
 * shards of unequal sizes (1, 2, 100, 28 columns) in any order gives the
 * moments of the whole, checked against a long-double two-pass reference of
 * the concatenation, with a mean that dwarfs the spread (1e4 vs 1e-2). */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include "../../src/core/moments.h"

enum { F = 3, LD = 5, N = 131 };

static float data[LD * N];

static void fill(void)
{
  uint32_t s = 12345u;
  for (size_t i = 0; i < LD * N; i++) {
    s = s * 1664525u + 1013904223u;
    const double u = (double)(s >> 8) / 16777216.0 - 0.5;
    const size_t f = i % LD;
    data[i] = (float)(f == 0 ? 1e4 + 1e-2 * u : f == 1 ? -3.0 + 2.0 * u : 1e-3 * u);
  }
}

static void reference(size_t f, size_t from, size_t to, double *mean, double *m2)
{
  long double s = 0, q = 0;
  for (size_t j = from; j < to; j++)
    s += data[f + j * LD];
  const long double m = s / (long double)(to - from);
  for (size_t j = from; j < to; j++) {
    const long double d = data[f + j * LD] - m;
    q += d * d;
  }
  *mean = (double)m;
  *m2 = (double)q;
}

static void shards_merge_to_the_whole(void **state)
{
  (void)state;
  fill();
  static const size_t sizes[] = {1, 2, 100, 28}; /* sums to N */
  double mean[F], m2[F], count = 0, smean[F], sm2[F];
  size_t from = 0;
  for (size_t s = 0; s < 4; s++) {
    bni_moments_of_columns(F, sizes[s], data + from * LD, LD, smean, sm2);
    bni_moments_merge(F, count, mean, m2, (double)sizes[s], smean, sm2);
    count += (double)sizes[s];
    from += sizes[s];
  }
  assert_int_equal((int)count, N);
  for (size_t f = 0; f < F; f++) {
    double rm, rm2;
    reference(f, 0, N, &rm, &rm2);
    assert_true(fabs(mean[f] - rm) <= 1e-12 * fabs(rm) + 1e-15);
    assert_true(fabs(m2[f] - rm2) <= 1e-9 * rm2);
  }
}

static void empty_set_is_the_identity(void **state)
{
  (void)state;
  fill();
  double mean[F], m2[F], bmean[F] = {NAN, NAN, NAN}, bm2[F] = {NAN, NAN, NAN};
  bni_moments_of_columns(F, 7, data, LD, mean, m2);
  double keep_mean[F], keep_m2[F];
  for (size_t f = 0; f < F; f++)
    keep_mean[f] = mean[f], keep_m2[f] = m2[f];
  bni_moments_merge(F, 7, mean, m2, 0, bmean, bm2);
  for (size_t f = 0; f < F; f++) {
    assert_true(mean[f] == keep_mean[f]);
    assert_true(m2[f] == keep_m2[f]);
  }
  double emean[F], em2[F];
  bni_moments_merge(F, 0, emean, em2, 7, keep_mean, keep_m2);
  for (size_t f = 0; f < F; f++) {
    assert_true(emean[f] == keep_mean[f]);
    assert_true(em2[f] == keep_m2[f]);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(shards_merge_to_the_whole),
    cmocka_unit_test(empty_set_is_the_identity),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

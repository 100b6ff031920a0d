#ifndef BN_TESTING_H
#define BN_TESTING_H

/* Shared helpers for the C tests: a deterministic generator, matrices in
 * the library's layout, and float64 comparisons. cmocka must be included by
 * the test file before this header. */

#include <math.h>
#include <stddef.h>
#include <stdint.h>

/* splitmix64: deterministic on every platform. */
typedef struct test_rng {
  uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r)
{
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static inline double test_rng_uniform(test_rng *r)
{
  return (double)(test_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* standard normal (Box-Muller) */
static inline double test_rng_normal(test_rng *r)
{
  double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Fill a rows x cols matrix (leading dimension ld) with mean + sd*N(0,1);
 * the padding rows between rows and ld get NaN, so a kernel that reads them
 * poisons its result. */
static inline void test_fill(test_rng *r, float *m, size_t rows, size_t cols, size_t ld,
                             double mean, double sd)
{
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < ld; i++)
      m[i + j * ld] = i < rows ? (float)(mean + sd * test_rng_normal(r)) : NAN;
}

/* max |a - b| / (atol + rtol*|b|) over a rows x cols matrix vs a dense
 * double reference (leading dimension rows); <= 1 means within tolerance. */
static inline double test_err(const float *a, size_t lda, const double *b, size_t rows,
                              size_t cols, double atol, double rtol)
{
  double worst = 0.0;
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++) {
      double ref = b[i + j * rows];
      double e = fabs((double)a[i + j * lda] - ref) / (atol + rtol * fabs(ref));
      if (!(e <= worst)) /* NaN counts as worst */
        worst = isnan(e) ? INFINITY : e;
    }
  return worst;
}

#endif

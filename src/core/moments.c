#include <math.h>
#include "checks.h"
#include "moments.h"

/* One feature of the merge of b into a with a non-empty: wb = count_b / n is
 * b's weight in the mean, cross = count_a * wb the cross term's na*nb/n. */
static inline void merge_feature(double wb, double cross, double mean_a, double m2_a,
                                 double mean_b, double m2_b, double *mean, double *m2)
{
  const double delta = mean_b - mean_a;
  *mean = mean_a + delta * wb;
  *m2 = m2_a + m2_b + delta * delta * cross;
}

void bni_moments_merge(size_t features, double count_a, double *mean_a, double *m2_a,
                       double count_b, const double *mean_b, const double *m2_b)
{
  if (count_b == 0.0)
    return;
  if (count_a == 0.0) {
    for (size_t f = 0; f < features; f++) {
      mean_a[f] = mean_b[f];
      m2_a[f] = m2_b[f];
    }
    return;
  }
  const double wb = count_b / (count_a + count_b), cross = count_a * wb;
  for (size_t f = 0; f < features; f++)
    merge_feature(wb, cross, mean_a[f], m2_a[f], mean_b[f], m2_b[f], &mean_a[f], &m2_a[f]);
}

static int merge_is_finite(size_t features, double count_a, const double *mean_a,
                           const double *m2_a, double count_b, const double *mean_b,
                           const double *m2_b)
{
  if (!isfinite(count_a + count_b))
    return 0;
  if (count_a == 0.0 || count_b == 0.0)
    return 1; /* the union is one of the two sets, finite when checked */
  const double wb = count_b / (count_a + count_b), cross = count_a * wb;
  for (size_t f = 0; f < features; f++) {
    double mean, m2;
    merge_feature(wb, cross, mean_a[f], m2_a[f], mean_b[f], m2_b[f], &mean, &m2);
    if (!isfinite(mean) || !isfinite(m2))
      return 0;
  }
  return 1;
}

int bni_moments_merge_finite(size_t features, double count_a, double *mean_a, double *m2_a,
                             double count_b, const double *mean_b, const double *m2_b)
{
  if (!merge_is_finite(features, count_a, mean_a, m2_a, count_b, mean_b, m2_b))
    return 0;
  bni_moments_merge(features, count_a, mean_a, m2_a, count_b, mean_b, m2_b);
  return 1;
}

void bni_moments_of_columns(size_t features, size_t n, const float *x, size_t ld, double *mean,
                            double *m2)
{
  for (size_t f = 0; f < features; f++)
    mean[f] = 0.0;
  for (size_t j = 0; j < n; j++)
    for (size_t f = 0; f < features; f++)
      mean[f] += (double)x[f + j * ld];
  for (size_t f = 0; f < features; f++) {
    mean[f] /= (double)n;
    m2[f] = 0.0;
  }
  for (size_t j = 0; j < n; j++)
    for (size_t f = 0; f < features; f++) {
      const double d = (double)x[f + j * ld] - mean[f];
      m2[f] += d * d;
    }
}

bn_status bni_check_moments(bni_error *err, size_t features, double count, double min_count,
                            const double *mean, const double *m2)
{
  if (!isfinite(count))
    return bni_fail(err, BN_ERR_NON_FINITE, "count is not finite");
  if (!(count >= min_count))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "count %g is below %g", count, min_count);
  /* an empty set's mean and M2 are never read, so they may be uninitialized */
  if (count == 0.0)
    return mean && m2 ? BN_OK : bni_fail(err, BN_ERR_INVALID_ARGUMENT, "mean or m2 is NULL");
  bn_status st = bni_check_finite_doubles(err, "mean", mean, features);
  if (st == BN_OK)
    st = bni_check_finite_doubles(err, "m2", m2, features);
  for (size_t f = 0; st == BN_OK && f < features; f++)
    if (m2[f] < 0.0)
      st = bni_fail(err, BN_ERR_INVALID_ARGUMENT, "m2[%zu] is negative", f);
  return st;
}

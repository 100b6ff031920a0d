#include "moments.h"

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
  const double total = count_a + count_b;
  /* weight of b in the mean, and the cross term's factor na*nb/n */
  const double wb = count_b / total, cross = count_a * wb;
  for (size_t f = 0; f < features; f++) {
    const double delta = mean_b[f] - mean_a[f];
    mean_a[f] += delta * wb;
    m2_a[f] += m2_b[f] + delta * delta * cross;
  }
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

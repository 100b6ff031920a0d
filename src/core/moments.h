#ifndef BNI_MOMENTS_H
#define BNI_MOMENTS_H

/* Per-feature moments of a set of samples as (count, mean, M2), M2 being the
 * sum of squared deviations from the mean, all in double. Two such sets merge
 * exactly (Chan, Golub and LeVeque's pairwise update), whatever their sizes,
 * so statistics of blocks, threads, chunks or processes combine into those of
 * the whole without ever forming E[x^2] - E[x]^2. This is the one place the
 * merge rule lives: the standardizer's partial_fit, the blocked training
 * forward and the statistics of distributed shards all call it. */

#include <stddef.h>
#include "error.h"

/* Merge the set (count_b, mean_b[f], m2_b[f]) into (count_a, mean_a[f],
 * m2_a[f]) for f < features; the caller's count becomes count_a + count_b.
 * A set with count 0 is the identity (its mean and M2 are not read). */
void bni_moments_merge(size_t features, double count_a, double *mean_a, double *m2_a,
                       double count_b, const double *mean_b, const double *m2_b);

/* bni_moments_merge() of these finite sets when the union's moments are
 * finite too (a union can overflow: delta^2 of far-apart means), checked
 * before anything is written: returns 1 when merged, 0 with a unchanged. */
int bni_moments_merge_finite(size_t features, double count_a, double *mean_a, double *m2_a,
                             double count_b, const double *mean_b, const double *m2_b);

/* Moments of the columns of a (features x n) float matrix with leading
 * dimension ld, n >= 1: two passes in double (mean, then centered squares),
 * so a mean that dwarfs the spread costs no accuracy. Writes mean[f] and
 * m2[f]; the count is n. */
void bni_moments_of_columns(size_t features, size_t n, const float *x, size_t ld, double *mean,
                            double *m2);

/* Checks a (count, mean, M2) set arriving from outside: count finite and
 * >= min_count, mean and m2 non-NULL and finite, every m2 >= 0. */
bn_status bni_check_moments(bni_error *err, size_t features, double count, double min_count,
                            const double *mean, const double *m2);

#endif

#ifndef BNI_CHECKS_H
#define BNI_CHECKS_H

/* Argument checks shared by every public entry point. Each returns BN_OK or
 * records the problem in err (which may be NULL) and returns its status. */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "error.h"

/* A (rows x cols) float matrix with leading dimension ld: non-NULL, non-empty,
 * ld >= rows, and its last element addressable in size_t bytes. */
bn_status bni_check_matrix(bni_error *err, const char *name, const void *data,
                           size_t rows, size_t cols, size_t ld);

/* A vector of n floats that must be non-NULL and all finite. */
bn_status bni_check_finite_vector(bni_error *err, const char *name, const float *v, size_t n);

/* The same for n doubles. */
bn_status bni_check_finite_doubles(bni_error *err, const char *name, const double *v, size_t n);

/* eps for the square root: finite and > 0. */
bn_status bni_check_eps(bni_error *err, float eps);

/* Whether the memory spans of two matrices that passed bni_check_matrix
 * (first element to last, padding included) share any byte. */
int bni_overlap(const void *a, size_t rows_a, size_t cols_a, size_t lda, const void *b,
                size_t rows_b, size_t cols_b, size_t ldb);

/* An output matrix that is either exactly its input (same pointer and ld:
 * in place) or whose memory span is disjoint from the input's. Both are
 * (rows x cols) and already checked with bni_check_matrix. */
bn_status bni_check_alias(bni_error *err, const char *in_name, const float *in, size_t ldin,
                          const char *out_name, const float *out, size_t ldout, size_t rows,
                          size_t cols);

/* a * b without overflow; returns 0 and leaves *out alone on overflow. */
static inline int bni_mul_size(size_t a, size_t b, size_t *out)
{
  if (a != 0 && b > SIZE_MAX / a)
    return 0;
  *out = a * b;
  return 1;
}

/* The same in 64 bits, for sizes read from files (which may exceed size_t):
 * a * b and *acc += v without overflow; return 0 and change nothing on
 * overflow. */
static inline int bni_mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
  if (a != 0 && b > UINT64_MAX / a)
    return 0;
  *out = a * b;
  return 1;
}

static inline int bni_add_u64(uint64_t *acc, uint64_t v)
{
  if (v > UINT64_MAX - *acc)
    return 0;
  *acc += v;
  return 1;
}

#endif

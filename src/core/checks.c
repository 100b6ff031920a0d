#include <math.h>
#include "checks.h"

bn_status bni_check_matrix(bni_error *err, const char *name, const void *data,
                           size_t rows, size_t cols, size_t ld)
{
  if (!data)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", name);
  if (rows == 0 || cols == 0)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s has a zero size (%zu x %zu)", name, rows, cols);
  if (ld < rows)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT,
                    "%s: leading dimension %zu is smaller than its %zu rows", name, ld, rows);
  size_t span;
  if (!bni_mul_size(cols - 1, ld, &span) || span > SIZE_MAX - rows ||
      span + rows > SIZE_MAX / sizeof(float))
    return bni_fail(err, BN_ERR_SIZE_OVERFLOW,
                    "%s: %zu columns with leading dimension %zu overflow size_t", name, cols, ld);
  return BN_OK;
}

/* v (n floats, or n doubles when `doubles`): present, every element finite. */
static bn_status check_finite(bni_error *err, const char *name, const void *v, size_t n,
                              int doubles)
{
  if (!v)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", name);
  for (size_t i = 0; i < n; i++)
    if (!isfinite(doubles ? ((const double *)v)[i] : (double)((const float *)v)[i]))
      return bni_fail(err, BN_ERR_NON_FINITE, "%s[%zu] is not finite", name, i);
  return BN_OK;
}

bn_status bni_check_finite_vector(bni_error *err, const char *name, const float *v, size_t n)
{
  return check_finite(err, name, v, n, 0);
}

bn_status bni_check_finite_doubles(bni_error *err, const char *name, const double *v, size_t n)
{
  return check_finite(err, name, v, n, 1);
}

bn_status bni_check_eps(bni_error *err, float eps)
{
  if (!isfinite(eps))
    return bni_fail(err, BN_ERR_NON_FINITE, "eps is not finite");
  if (!(eps > 0.0f))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "eps must be > 0 (got %g)", (double)eps);
  return BN_OK;
}

int bni_overlap(const void *a, size_t rows_a, size_t cols_a, size_t lda, const void *b,
                size_t rows_b, size_t cols_b, size_t ldb)
{
  uintptr_t pa = (uintptr_t)a, pb = (uintptr_t)b;
  uintptr_t ea = pa + ((cols_a - 1) * lda + rows_a) * sizeof(float);
  uintptr_t eb = pb + ((cols_b - 1) * ldb + rows_b) * sizeof(float);
  if (!(pa < eb && pb < ea))
    return 0; /* disjoint spans */
  /* Spans meet. With one shape and leading dimension, columns may still
   * interleave without sharing an element (x and y side by side in a wider
   * array): element offsets differ by d = k*ld + t with |k| < cols and
   * |t| < rows exactly when they collide. Anything else is treated as an
   * overlap. */
  if (rows_a != rows_b || cols_a != cols_b || lda != ldb || (pa - pb) % sizeof(float) != 0)
    return 1;
  const size_t ld = lda, rows = rows_a, cols = cols_a;
  size_t d = (pa > pb ? pa - pb : pb - pa) / sizeof(float);
  size_t k = d / ld, t = d % ld; /* d = k*ld + t, 0 <= t < ld */
  if (k < cols && t < rows)
    return 1; /* column k of one meets rows [0, rows - t) of the other */
  if (k + 1 < cols && ld - t < rows)
    return 1; /* d = (k+1)*ld - (ld - t): the next column, shifted up */
  return 0;
}

bn_status bni_check_alias(bni_error *err, const char *in_name, const float *in, size_t ldin,
                          const char *out_name, const float *out, size_t ldout, size_t rows,
                          size_t cols)
{
  if (in == out && ldin == ldout)
    return BN_OK;
  if (bni_overlap(in, rows, cols, ldin, out, rows, cols, ldout))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT,
                    "%s overlaps %s without being the same buffer and leading dimension",
                    out_name, in_name);
  return BN_OK;
}

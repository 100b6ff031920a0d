#ifndef BNI_BLAS_H
#define BNI_BLAS_H

/* Every GEMM of libbn goes through bni_sgemm (and every GEMV through bni_sgemv): OpenBLAS's column-major
 * cblas_sgemm with at most a bounded number of libbn's calls inside OpenBLAS
 * at once (see blas.c for why; docs/reliability.md for the measurements). */

#include <cblas.h>

void bni_sgemm(enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc);

/* y = alpha*op(A) x + beta*y (column-major A of m x n, unit strides), through
 * the same gate: a one-column product without GEMM's packing of A. */
void bni_sgemv(enum CBLAS_TRANSPOSE trans, int m, int n, float alpha, const float *a, int lda,
               const float *x, float beta, float *y);

/* The bound: OpenBLAS's compiled MAX_THREADS (from openblas_get_config),
 * BNI_BLAS_FALLBACK_CALLERS when the configuration does not say. */
unsigned bni_blas_max_callers(void);

#define BNI_BLAS_FALLBACK_CALLERS 16u

#endif /* BNI_BLAS_H */

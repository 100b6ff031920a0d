/* The input BatchNorm's backward without the input gradient.
 *
 * The network never returns d(loss)/dx, so the input BatchNorm needs only
 * dgamma and dbeta, and the first dense layer's dX = W1^T dZ1 (the largest
 * GEMM of the step's backward) is never formed: with xhat the normalized
 * input and y = gamma*xhat + beta the BatchNorm's output,
 *   G = dZ1 xhat^T                (in place of dW1 = dZ1 y^T, the same GEMM)
 *   dW1 = G diag(gamma) + s beta^T     s = the row sums of dZ1 (= db1)
 *   dgamma_f = sum_k W1[k,f] G[k,f],   dbeta = W1^T s
 * docs/math.md section 8 derives it. */
#include <string.h>
#include "mlp_internal.h"
#include "input_batchnorm_loops.h"
#include "../core/blas.h"
#include "../kernels/batchnorm_loops.h"
#include "../layers/batchnorm_rows.h"
#include "../layers/dense_internal.h"

const bni_ibn_loops *bni_ibn_loops_select(void)
{
  switch (bni_isa_select()) {
#if defined(__x86_64__) || defined(__i386__)
  case BNI_ISA_AVX512: return &bni_ibn_loops_avx512;
  case BNI_ISA_AVX2: return &bni_ibn_loops_avx2;
#endif
  default: return &bni_ibn_loops_generic;
  }
}

bn_status bni_mlp_input_batchnorm_backward(bn_mlp *m, size_t n, const float *x, size_t ldx,
                                           const float *dz, size_t lddz, float *xhat)
{
  bn_batchnorm *bn = m->input_bn;
  bn_dense *dense = m->stage[0].dense;
  const size_t F = m->stage[0].in, H = m->stage[0].out; /* features, hidden units */
  bn_status st = bni_batchnorm_normalized(bn, n, x, ldx, xhat, F);
  if (st != BN_OK)
    return st;
  float *restrict dw = bni_dense_dweight(dense);
  const float *restrict w = bni_dense_weight_const(dense);
  /* G (in x out column-major = out x in row-major, dW1's layout) = xhat dZ1^T */
  bni_sgemm(CblasNoTrans, CblasTrans, (int)F, (int)H, (int)n, 1.0f, xhat, (int)F, dz, (int)lddz,
            0.0f, dw, (int)F);
  double *restrict dgamma = m->sums, *restrict dbeta = m->sums + F, *restrict s = m->sums + 2 * F;
  memset(m->sums, 0, (2 * F + H) * sizeof *m->sums);
  for (size_t j = 0; j < n; j++) {
    const float *restrict dzj = dz + j * lddz;
    for (size_t k = 0; k < H; k++)
      s[k] += (double)dzj[k];
  }
  bni_ibn_loops_select()->weight_pass(H, F, w, dw, s, bni_batchnorm_gamma(bn),
                                      bni_batchnorm_beta(bn), dgamma, dbeta);
  float *dg = bni_batchnorm_dgamma(bn), *db = bni_batchnorm_dbeta(bn);
  for (size_t f = 0; f < F; f++) {
    dg[f] = (float)dgamma[f];
    db[f] = (float)dbeta[f];
  }
  unsigned flags = 0;
  bn_dense_flags(dense, &flags);
  if (!(flags & BN_DENSE_NO_BIAS)) {
    float *bias_grad = bni_dense_dbias(dense);
    for (size_t k = 0; k < H; k++)
      bias_grad[k] = (float)s[k];
  }
  return BN_OK;
}

#ifndef BNI_INPUT_BATCHNORM_LOOPS_H
#define BNI_INPUT_BATCHNORM_LOOPS_H

/* The element loop of the input BatchNorm's backward (input_batchnorm.c),
 * compiled once per instruction set like the optimizer's loops
 * (input_batchnorm_loops.inc in input_batchnorm_loops_generic.c, _avx2.c,
 * _avx512.c) and chosen with the kernels' (BN_ISA caps it). Sums in double
 * in the same order on every path: every path gives the same bits. */

#include <stddef.h>

typedef struct bni_ibn_loops {
  /* Over the H x F weights w (row-major) and G = xhat dZ^T in g (same
   * layout), with s the H row sums of dZ: dgamma[f] += sum_k w[k,f] g[k,f],
   * dbeta[f] += sum_k w[k,f] s[k] (k in order), and g[k,f] becomes
   * g[k,f] gamma[f] + s[k] beta[f] (dW). */
  void (*weight_pass)(size_t H, size_t F, const float *w, float *g, const double *s,
                      const float *gamma, const float *beta, double *dgamma, double *dbeta);
  const char *name;
} bni_ibn_loops;

extern const bni_ibn_loops bni_ibn_loops_generic;
#if defined(__x86_64__) || defined(__i386__)
extern const bni_ibn_loops bni_ibn_loops_avx2;
extern const bni_ibn_loops bni_ibn_loops_avx512;
#endif

const bni_ibn_loops *bni_ibn_loops_select(void);

#endif

#ifndef BNI_BATCHNORM_LOOPS_H
#define BNI_BATCHNORM_LOOPS_H

/* The element loops of the batch-normalization kernels. Each loop streams the
 * sample columns one after another (features contiguous) and works across
 * features, so it vectorizes without striding ld across the batch. Reductions
 * accumulate per feature in double, in sample order, so two loops that
 * reduce the same data give bit-identical sums.
 *
 * The same source (batchnorm_loops.inc) is compiled once per instruction set
 * (generic x86-64 or portable C; AVX2+FMA; AVX-512 F/VL/BW/DQ+FMA);
 * bni_bn_loops_select() picks the widest the CPU supports at run time. The
 * AVX2 and AVX-512 paths evaluate the same expressions (one fused
 * multiply-add where BNI_FMA is used, no other contraction) and give
 * bit-identical results; the generic path rounds a*b+c twice. */

#include <stddef.h>

/* How a backward loop recomputes the forward output to apply a fused ReLU
 * mask (dy is zeroed where y <= 0). */
enum bni_relu_mask {
  BNI_MASK_NONE = 0,
  BNI_MASK_CENTERED = 1, /* y = fma(x - m, scale, shift): the training forward */
  BNI_MASK_AFFINE = 2    /* y = fma(x, scale, shift): the inference forward */
};

typedef struct bni_bn_loops {
  const char *name;
  /* s[f] = sum_j x[f,j] */
  void (*sum)(size_t F, size_t N, const float *x, size_t ldx, double *s);
  /* s1[f] = sum_j d, s2[f] = sum_j d*d with d = x[f,j] - m[f] in double */
  void (*centered_sums)(size_t F, size_t N, const float *x, size_t ldx, const float *m,
                        double *s1, double *s2);
  /* y = fma(x - m, scale, shift), then max(0, .) if relu */
  void (*normalize)(size_t F, size_t N, const float *x, size_t ldx, const float *m,
                    const float *scale, const float *shift, int relu, float *y, size_t ldy);
  /* y = fma(x, scale, shift), then max(0, .) if relu */
  void (*affine)(size_t F, size_t N, const float *x, size_t ldx, const float *scale,
                 const float *shift, int relu, float *y, size_t ldy);
  /* With g = dy masked as `mask` says (using m, scale, shift) and d = x - m
   * in double: sg = sum g, sd = sum d, sgd = sum g*d. sd may be NULL. */
  void (*grad_sums)(size_t F, size_t N, const float *x, size_t ldx, const float *dy, size_t lddy,
                    const float *m, int mask, const float *scale, const float *shift,
                    double *sg, double *sd, double *sgd);
  /* dx = fma(a, g, fma(nk, x - m, c0)) with g = dy masked as `mask` says;
   * with nk == NULL (constant statistics), dx = a*g and c0 is not read. */
  void (*grad_input)(size_t F, size_t N, const float *x, size_t ldx, const float *dy, size_t lddy,
                     const float *m, int mask, const float *scale, const float *shift,
                     const float *a, const float *nk, const float *c0, float *dx, size_t lddx);
} bni_bn_loops;

extern const bni_bn_loops bni_bn_loops_generic;
#if defined(__x86_64__) || defined(__i386__)
extern const bni_bn_loops bni_bn_loops_avx2;
extern const bni_bn_loops bni_bn_loops_avx512;
#endif

/* The loops for this CPU. The environment variable BN_ISA caps the choice
 * (for testing every path on one machine): BN_ISA=generic forces the
 * portable loops, BN_ISA=avx2 the AVX2 loops (if the CPU has AVX2+FMA). */
const bni_bn_loops *bni_bn_loops_select(void);

#endif

#ifndef BNI_OPTIMIZER_LOOPS_H
#define BNI_OPTIMIZER_LOOPS_H

/* The optimizer's element loops, compiled once per instruction set like the
 * BatchNorm kernels' (optimizer_loops.inc in optimizer_loops_generic.c,
 * _avx2.c, _avx512.c) and chosen with them: bni_opt_loops_select() takes
 * the path bni_isa_select() takes, so BN_ISA caps both.
 *
 * The arithmetic is PyTorch's and is stated in docs/math.md, section 9:
 * float elements, coefficients computed once per update in double and
 * rounded to float, one float operation at a time in a fixed order, never
 * fused (-ffp-contract=off; the AVX2 and AVX-512 loops are intrinsics, one
 * per operation; IEEE square root and division are correctly rounded in
 * scalar and vector form): every path gives the same bits. */

#include <stddef.h>

/* The coefficients of one update, shared by every element (docs/math.md,
 * section 9): shrink = 1 - lr*decay, c1 = 1 - b1, c2 = 1 - b2, and Adam's
 * step and eps already multiplied by sqrt(1 - b2^t). */
typedef struct bni_opt_rule {
  int kind; /* bn_mlp_optimizer */
  size_t moments;
  float shrink, lr, mu, b1, c1, b2, c2, step, eps;
} bni_opt_rule;

/* The largest magnitudes of one tensor's parameters, gradients and moments
 * (the moments the rule has; 0 otherwise), and whether every gradient is
 * finite: what the finiteness bound of an update needs. */
typedef struct bni_opt_extent {
  float param, grad, m1, m2;
  int grad_finite;
} bni_opt_extent;

typedef struct bni_opt_loops {
  /* One pass over the n values of each array the rule reads. */
  void (*extent)(const float *param, const float *grad, const float *m1, const float *m2,
                 size_t moments, size_t n, bni_opt_extent *out);
  /* The gradients' part of an extent alone (grad, grad_finite; the rest 0). */
  void (*grad_extent)(const float *grad, size_t n, bni_opt_extent *out);
  /* The rule over n elements: commit writes param, m1, m2 and, when `after`
   * is not NULL, their new largest magnitudes into after->param, m1, m2 (the
   * next update's extent without reading them again); !commit only checks
   * that every new value would be finite (0 when one is not). */
  int (*apply)(const bni_opt_rule *r, float *param, const float *grad, float *m1, float *m2,
               size_t n, int commit, bni_opt_extent *after);
  const char *name;
} bni_opt_loops;

extern const bni_opt_loops bni_opt_loops_generic;
#if defined(__x86_64__) || defined(__i386__)
extern const bni_opt_loops bni_opt_loops_avx2;
extern const bni_opt_loops bni_opt_loops_avx512;
#endif

const bni_opt_loops *bni_opt_loops_select(void);

#endif

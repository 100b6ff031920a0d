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

/* What a backward loop does to dy before using it as the gradient g of the
 * BatchNorm's output: nothing; the fused ReLU's mask (dy zeroed where the
 * recomputed output y <= 0); or the backward of an activation that follows
 * the BatchNorm, from that activation's output (the pass's y, ldy; alpha
 * for ELU), g = act'(y)*dy exactly as bn_activation_backward computes it
 * (activation_math.h). */
enum bni_grad_mask {
  BNI_MASK_NONE = 0,
  BNI_MASK_CENTERED = 1, /* y = fma(x - m, scale, shift): both forwards */
  BNI_MASK_RELU_OUT,
  BNI_MASK_ELU_OUT,
  BNI_MASK_SIGMOID_OUT,
  BNI_MASK_TANH_OUT
};

/* Does this mask read an activation's output (the pass's y)? */
static inline int bni_mask_reads_y(int mask)
{
  return mask >= BNI_MASK_RELU_OUT;
}

/* The passes of the algorithms, each one loop over the batch. The
 * reductions come first (bni_bn_pass_reduces). */
typedef enum bni_bn_pass_kind {
  BNI_PASS_MOMENTS,       /* the N columns' moments in double, x read once: mean
                             s3 + s1, s3 a sample of x (a float, exact in
                             double), and s2 = M2, the sum of squared deviations */
  BNI_PASS_GRAD_SUMS,     /* with g = dy masked as `flag` says (using m, scale, shift, or y):
                             s1 = sum g, s2 = sum d (skipped when NULL), s3 = sum g*d */
  BNI_PASS_NORMALIZE,     /* out = fma(x - m, scale, shift), then max(0, .) if flag is
                             BNI_MASK_CENTERED, or the forward of the activation
                             a BNI_MASK_*_OUT flag names (alpha: ELU's) */
  BNI_PASS_GRAD_INPUT,    /* out = fma(a, g, fma(nk, x - m, c0)) with g = dy masked as
                             `flag` says; with nk == NULL (constant statistics),
                             out = a*g and c0 is not read */
  BNI_PASS_KINDS
} bni_bn_pass_kind;

/* Does a pass of this kind reduce (write s1..s3) rather than write out? */
static inline int bni_bn_pass_reduces(bni_bn_pass_kind kind)
{
  return kind < BNI_PASS_NORMALIZE;
}

/* One loop call over F features and N sample columns: its kind and its
 * arguments; members its kind does not use are ignored. flag is the ReLU
 * switch of normalize and the bni_grad_mask of the gradients. */
typedef struct bni_bn_pass {
  bni_bn_pass_kind kind;
  size_t F, N;
  const float *x;
  size_t ldx;
  const float *dy;
  size_t lddy;
  const float *m, *scale, *shift, *a, *nk, *c0;
  int flag;
  const float *y; /* an activation's output (bni_mask_reads_y), ldy apart */
  size_t ldy;
  float alpha; /* ELU's */
  float *out;
  size_t ldout;
  double *s1, *s2, *s3;
} bni_bn_pass;

/* One instruction set's loops: loop[kind] runs a pass of that kind. */
typedef struct bni_bn_loops {
  const char *name;
  void (*loop[BNI_PASS_KINDS])(const bni_bn_pass *p);
} bni_bn_loops;

extern const bni_bn_loops bni_bn_loops_generic;
#if defined(__x86_64__) || defined(__i386__)
extern const bni_bn_loops bni_bn_loops_avx2;
extern const bni_bn_loops bni_bn_loops_avx512;
#endif

/* The instruction sets libbn's loops are compiled for. */
typedef enum bni_isa { BNI_ISA_GENERIC, BNI_ISA_AVX2, BNI_ISA_AVX512 } bni_isa;

/* The widest of them this CPU (and OS) runs. The environment variable BN_ISA
 * caps the choice (for testing every path on one machine): BN_ISA=generic
 * forces the portable loops, BN_ISA=avx2 the AVX2 loops (if the CPU has
 * AVX2+FMA). Every family of per-ISA loops (these, the optimizer's, the
 * input BatchNorm's) selects by it, so one run uses one path throughout. */
bni_isa bni_isa_select(void);

/* The BatchNorm loops of bni_isa_select(). */
const bni_bn_loops *bni_bn_loops_select(void);

#endif

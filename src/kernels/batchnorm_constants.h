#ifndef BNI_BATCHNORM_CONSTANTS_H
#define BNI_BATCHNORM_CONSTANTS_H

/* A BatchNorm feature as an affine map: the one place where gamma, beta and
 * the feature's statistics become the scale and shift of
 *   y = scale*(x - c) + shift,
 * for the training and inference algorithms and for folding a BatchNorm into
 * a dense layer (src/layers/fold.c, src/model/fold.c). A change of the
 * normalization itself (Batch Renormalization's per-feature r and d, say)
 * is made here and reaches all of them. Everything is in double; callers
 * round once. */

#include <math.h>

typedef struct bni_bn_affine {
  double scale, shift;
} bni_bn_affine;

/* 1/sqrt(var + eps). */
static inline double bni_bn_invstd(double var, double eps)
{
  return 1.0 / sqrt(var + eps);
}

/* scale = gamma*invstd and shift = beta - offset*scale: the constants that
 * normalize x around c when the feature's mean is c + offset (offset is the
 * mean itself for c = 0, the float mean's rounding residual in training). */
static inline bni_bn_affine bni_bn_scale_shift(double gamma, double beta, double offset,
                                               double invstd)
{
  bni_bn_affine t;
  t.scale = gamma * invstd;
  t.shift = beta - offset * t.scale;
  return t;
}

#endif

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

/* Batch Renormalization (Ioffe 2017): the batch's normalization corrected
 * towards the running statistics, xhat = xhat_B*r + d with
 *   r = clip(sigma_B/sigma, 1/rmax, rmax),  d = clip((mu_B - mu)/sigma, -dmax, dmax),
 * sigma_B = sqrt(var_B + eps), sigma = sqrt(running_var + eps), mu = the
 * running mean (both before this batch updates them). r and d are constants
 * of the backward. */
typedef struct bni_bn_renorm_rd {
  double r, d;
} bni_bn_renorm_rd;

static inline double bni_bn_clip(double v, double lo, double hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

static inline bni_bn_renorm_rd bni_bn_renorm_correction(double batch_mean, double batch_var,
                                                        double running_mean,
                                                        double running_var, double eps,
                                                        double rmax, double dmax)
{
  double sigma = sqrt(running_var + eps);
  bni_bn_renorm_rd c;
  c.r = bni_bn_clip(sqrt(batch_var + eps) / sigma, 1.0 / rmax, rmax);
  c.d = bni_bn_clip((batch_mean - running_mean) / sigma, -dmax, dmax);
  return c;
}

/* gamma*(xhat_B*r + d) + beta is plain BatchNorm with gamma' = gamma*r and
 * beta' = beta + gamma*d: with r = 1 and d = 0 both are exact, so a renorm
 * with rmax = 1 and dmax = 0 is bit for bit plain BatchNorm. */
static inline void bni_bn_renorm_gamma_beta(double *gamma, double *beta, double r, double d)
{
  *beta += *gamma * d;
  *gamma *= r;
}

/* gamma's gradient under Batch Renormalization, from the sums over the batch
 * of dy*xhat_B and dy: sum dy*(xhat_B*r + d). */
static inline double bni_bn_renorm_dgamma(double sum_dy_xhat, double sum_dy, double r, double d)
{
  return r * sum_dy_xhat + d * sum_dy;
}

#endif

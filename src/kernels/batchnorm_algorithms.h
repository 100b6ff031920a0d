#ifndef BNI_BATCHNORM_ALGORITHMS_H
#define BNI_BATCHNORM_ALGORITHMS_H

/* The batch-normalization algorithms over validated arguments. The public
 * kernels (batchnorm_kernels.c) validate, allocate the scratch and run on the
 * calling thread (bni_bn_exec_serial); the BatchNorm layer validates, owns
 * its scratch and may run its passes over threads (see batchnorm_parallel.h). */

#include <stddef.h>
#include <bn/status.h>
#include "batchnorm_loops.h"
#include "batchnorm_parallel.h"

/* Scratch every algorithm below needs, in doubles (7 per feature). */
#define BNI_BN_WORK_PER_FEATURE 7

/* The four algorithms below run each pass as ex says (loops, threads and
 * partial-sum rows; a one-thread exec runs every pass on the calling thread).
 * With more than one chunk the statistics and reduced gradients may differ
 * from one chunk's in the last bits (another grouping of the sums); they are
 * deterministic for a given F, N and ex->threads. */

/* A one-thread exec over these loops (what the public kernels use). */
static inline bni_bn_exec bni_bn_exec_serial(const bni_bn_loops *loops)
{
  bni_bn_exec ex = {loops, 1, NULL};
  return ex;
}

/* Training forward. Writes y; any of saved_mean, saved_invstd, mean, var,
 * residual may be NULL. mean/var are the exact batch statistics in double;
 * residual is mean - saved_mean (what a fused-ReLU backward needs to
 * recompute y bit-exactly). Returns BN_ERR_NON_FINITE before writing
 * anything when a statistic is not finite. */
bn_status bni_bn_forward_training(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                  size_t ldx, const float *gamma, const float *beta, float eps,
                                  int relu, float *y, size_t ldy, float *saved_mean,
                                  float *saved_invstd, double *mean, double *var,
                                  double *residual, double *work);

/* Batch Renormalization's part of a training forward: the running
 * statistics before this batch and the limits in; the corrections r and d
 * (F floats each, what the backward needs) out. */
typedef struct bni_bn_renorm {
  const float *running_mean, *running_var;
  double rmax, dmax; /* rmax >= 1, dmax >= 0 */
  float *r, *d;
} bni_bn_renorm;

/* The training forward with Batch Renormalization (renorm NULL: plain, as
 * bni_bn_forward_training): y = gamma*(xhat_B*r + d) + beta. The saved and
 * returned statistics are the batch's, as in the plain forward. */
bn_status bni_bn_forward_training_renorm(const bni_bn_exec *ex, size_t F, size_t N,
                                         const float *x, size_t ldx, const float *gamma,
                                         const float *beta, float eps, int relu,
                                         const bni_bn_renorm *renorm, float *y, size_t ldy,
                                         float *saved_mean, float *saved_invstd, double *mean,
                                         double *var, double *residual, double *work);

/* Inference forward: y = fma(x, scale, shift) with per-feature constants. */
void bni_bn_forward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                              size_t ldx, const float *mean, const float *var,
                              const float *gamma, const float *beta, float eps, int relu,
                              float *y, size_t ldy, double *work);

/* Full backward of the training forward. residual may be NULL (it is then
 * measured from x). dgamma/dbeta may be NULL. dx may be NULL: then only the
 * reductions run (dgamma, dbeta) and the element pass is skipped. Returns
 * BN_ERR_NON_FINITE before writing anything when the reduced sums are not
 * finite. */
bn_status bni_bn_backward_training(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                   size_t ldx, const float *dy, size_t lddy,
                                   const float *saved_mean, const float *saved_invstd,
                                   const double *residual, const float *gamma,
                                   const float *beta, int relu, float *dx, size_t lddx,
                                   float *dgamma, float *dbeta, double *work);

/* The backward of bni_bn_forward_training_renorm, r and d held constant
 * (both NULL: plain, as bni_bn_backward_training):
 * dx = (gamma*r*invstd)*(dy - mean(dy) - xhat_B*mean(dy*xhat_B)),
 * dgamma = r*sum(dy*xhat_B) + d*sum(dy), dbeta = sum(dy). */
bn_status bni_bn_backward_training_renorm(const bni_bn_exec *ex, size_t F, size_t N,
                                          const float *x, size_t ldx, const float *dy,
                                          size_t lddy, const float *saved_mean,
                                          const float *saved_invstd, const double *residual,
                                          const float *gamma, const float *beta,
                                          const float *r, const float *d, int relu, float *dx,
                                          size_t lddx, float *dgamma, float *dbeta,
                                          double *work);

/* Backward with constant statistics. dgamma/dbeta may be NULL. */
void bni_bn_backward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                               size_t ldx, const float *dy, size_t lddy, const float *mean,
                               const float *var, const float *gamma, const float *beta,
                               float eps, int relu, float *dx, size_t lddx, float *dgamma,
                               float *dbeta, double *work);

#endif

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
#include "row_lines.h"

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
  bni_bn_exec ex = {loops, 1, NULL, NULL};
  return ex;
}

/* An activation after the BatchNorm that an algorithm folds into its
 * passes. A forward applies it to its output (y = act(BatchNorm(x)), bit for
 * bit bn_activation_forward's values); a backward takes dy as the gradient
 * of the activation's output y (ldy apart) and uses g = act'(y)*dy, bit for
 * bit what bn_activation_backward writes (activation_math.h). mask is one of
 * the BNI_MASK_*_OUT of batchnorm_loops.h, alpha ELU's; a forward ignores y.
 * The algorithms below take one (or NULL) when relu is 0. */
typedef struct bni_bn_act {
  int mask;
  const float *y;
  size_t ldy;
  float alpha;
} bni_bn_act;

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
                                         const bni_bn_act *act, const bni_bn_renorm *renorm,
                                         float *y, size_t ldy, float *saved_mean,
                                         float *saved_invstd, double *mean, double *var,
                                         double *residual, double *work);

/* Inference forward: y = fma(x - mean, scale, shift) with per-feature
 * constants (the centered value, so a large mean does not cancel). */
void bni_bn_forward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                              size_t ldx, const float *mean, const float *var,
                              const float *gamma, const float *beta, float eps, int relu,
                              const bni_bn_act *act, float *y, size_t ldy, double *work);

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
                                          const float *r, const float *d, int relu,
                                          const bni_bn_act *act, float *dx, size_t lddx,
                                          float *dgamma, float *dbeta, double *work);

/* Backward with constant statistics. dgamma/dbeta may be NULL. */
void bni_bn_backward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                               size_t ldx, const float *dy, size_t lddy, const float *mean,
                               const float *var, const float *gamma, const float *beta,
                               float eps, int relu, const bni_bn_act *act, float *dx,
                               size_t lddx, float *dgamma, float *dbeta, double *work);

/* ---- sharded training (statistics of a batch spread over shards) ---------- */

/* Training forward normalizing with given statistics of the whole batch
 * (count samples, per-feature mean and M2 in double), of which x is one
 * shard of N columns: the training forward (with Batch Renormalization when
 * renorm is given, r and d then from these statistics) after its statistics.
 * saved_mean is the float-rounded mean, residual the rounding left over, so
 * the backward below measures deviations from the same float mean on every
 * shard; var (may be NULL) receives M2/count. Returns BN_ERR_NON_FINITE
 * before writing anything when a statistic is not finite. */
bn_status bni_bn_forward_given_moments(const bni_bn_exec *ex, size_t F, size_t N,
                                       const float *x, size_t ldx, const float *gamma,
                                       const float *beta, float eps, int relu,
                                       const bni_bn_renorm *renorm, double count,
                                       const double *mean, const double *m2, float *y,
                                       size_t ldy, float *saved_mean, float *saved_invstd,
                                       double *var, double *residual, double *work);

/* This shard's per-feature gradient reductions after such a forward (or a
 * training forward): sum_dy = sum g and sum_dy_xhat = sum g*xhat (xhat the
 * batch-normalized x, before Batch Renormalization's r and d), g being dy
 * masked by the fused ReLU (whose output r and d, when given, shape). Both
 * are linear in the columns, so summing them over shards gives the whole
 * batch's. Returns BN_ERR_NON_FINITE before writing when a sum is not
 * finite. */
bn_status bni_bn_backward_sums(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                               size_t ldx, const float *dy, size_t lddy,
                               const float *saved_mean, const float *saved_invstd,
                               const double *residual, const float *gamma, const float *beta,
                               const float *r, const float *d, int relu, double *sum_dy,
                               double *sum_dy_xhat, double *work);

/* dx of this shard from the whole batch's count and reductions:
 * dx = gamma*r*invstd/count * (count*g - sum_dy - xhat*sum_dy_xhat), r = 1
 * without Batch Renormalization (r and d NULL). */
void bni_bn_backward_given_sums(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                size_t ldx, const float *dy, size_t lddy,
                                const float *saved_mean, const float *saved_invstd,
                                const double *residual, const float *gamma, const float *beta,
                                const float *r, const float *d, int relu, double count,
                                const double *sum_dy,
                                const double *sum_dy_xhat, float *dx, size_t lddx,
                                double *work);

#endif

#ifndef BN_BATCHNORM_KERNELS_H
#define BN_BATCHNORM_KERNELS_H

/** @file bn/batchnorm_kernels.h
 *  @brief Stateless batch-normalization kernels on caller-owned memory.
 *
 *  Layout: every matrix is column-major (features x batch) with a leading
 *  dimension ld >= features; element (f, j) is at m[f + j*ld]. One sample is
 *  one contiguous column, so a C-ordered array of shape (batch, features) is
 *  the same bytes with ld = features.
 *
 *  Formulas (N = batch, per feature f):
 *    mean = sum_j x / N,  var = sum_j (x - mean)^2 / N  (biased),
 *    invstd = 1 / sqrt(var + eps),  y = gamma * (x - mean) * invstd + beta.
 *  Statistics are accumulated in double, as deviations from one of the
 *  batch's samples, which bounds their cancellation (docs/math.md, section 5).
 *
 *  Aliasing: an output may be the same buffer as the input of the same shape
 *  and leading dimension (y == x, dx == dy); otherwise the memory spans of
 *  the matrices must be disjoint (BN_ERR_INVALID_ARGUMENT).
 *
 *  Thread-safety: the kernels keep no state; concurrent calls are safe as long
 *  as their output buffers do not overlap. Each kernel runs on the calling
 *  thread only (the BatchNorm layer can split its passes over threads, see
 *  bn_batchnorm_set_threads() in bn/batchnorm.h). Each call allocates a small
 *  scratch buffer of at most 8*features doubles (BN_ERR_OUT_OF_MEMORY if
 *  that fails), except the *_ws variants, which take that scratch from the caller
 *  (bn_batchnorm_workspace_size()) and allocate nothing.
 *
 *  Errors: the kernels have no handle, so they report the status only (no
 *  message; see docs/errors.md). BN_ERR_INVALID_ARGUMENT for a NULL required pointer, zero
 *  features or batch, ld < features, unknown flags, or eps <= 0;
 *  BN_ERR_NON_FINITE for an eps that is NaN or infinite;
 *  BN_ERR_SIZE_OVERFLOW when the span ld*(batch-1)+features, in bytes,
 *  overflows size_t.
 *  On any error the outputs are left unmodified. */

#include <stddef.h>
#include <bn/status.h>

BN_EXTERN_C_BEGIN

/** Kernel flags (bitwise OR). Unknown bits are rejected. */
enum bn_batchnorm_kernel_flags {
  /** Apply ReLU to the output (y = max(0, bn(x))) in the same pass; the
   *  backward then applies the ReLU mask inside the BN backward. Equal bit
   *  for bit to the BN kernel followed by bn_activation_forward(BN_ACT_RELU)
   *  on finite data; a NaN (inference only: training refuses non-finite
   *  input) becomes 0 here but stays NaN through the separate ReLU.
   *
   *  One name and one value for the kernels and the layer: it is also the
   *  creation flag of bn_batchnorm_create() (bn/batchnorm.h). The kernels
   *  still accept the value 1u << 0, which BN_KERNEL_FUSE_RELU had in
   *  libbn 1.0, with the same meaning, so programs built then keep working. */
  BN_BATCHNORM_FUSE_RELU = 1u << 5,
  /** Superseded alias of BN_BATCHNORM_FUSE_RELU (the same value). */
  BN_KERNEL_FUSE_RELU = BN_BATCHNORM_FUSE_RELU
};

/** @brief Training-mode forward: normalize with the batch's own statistics.
 *
 *  @param features      rows F (> 0).
 *  @param batch         columns N (>= 2; N == 1 gives BN_ERR_BATCH_TOO_SMALL).
 *  @param x             input, F x N, leading dimension ldx.
 *  @param ldx           >= features.
 *  @param gamma         scale, F values, or NULL for 1.
 *  @param beta          shift, F values, or NULL for 0.
 *  @param eps           added to the variance; finite and > 0.
 *  @param flags         0 or BN_BATCHNORM_FUSE_RELU.
 *  @param y             output, F x N, leading dimension ldy (may be x if ldy == ldx).
 *  @param ldy           >= features.
 *  @param saved_mean    out: F batch means for the backward, or NULL.
 *  @param saved_invstd  out: F values 1/sqrt(var+eps) for the backward, or NULL.
 *  @param batch_var     out: F biased batch variances (for running statistics), or NULL.
 *  @return BN_OK; BN_ERR_NON_FINITE if any feature's mean or variance is not
 *          finite (the input held NaN or infinity; nothing is written);
 *          the errors listed in the file description.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_forward_training(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *y, size_t ldy,
    float *saved_mean, float *saved_invstd, float *batch_var);

/** @brief Inference-mode forward with given statistics.
 *
 *  Precomputes per feature scale = gamma/sqrt(var+eps) (in double, rounded
 *  once), then computes y = (x - mean)*scale + beta per element: the
 *  centered value keeps full accuracy when the mean dwarfs the spread
 *  (mean 1e4, std 1e-2: within 1e-5). Any batch >= 1 is accepted. Non-finite inputs
 *  propagate to the outputs by IEEE arithmetic (no check, no error).
 *
 *  @param features, batch, x, ldx  input as in bn_batchnorm_forward_training (batch >= 1).
 *  @param mean   F means (required).
 *  @param var    F variances (required; each >= 0, else BN_ERR_INVALID_ARGUMENT).
 *  @param gamma  F scales or NULL for 1.   @param beta  F shifts or NULL for 0.
 *  @param eps    finite and > 0.           @param flags 0 or BN_BATCHNORM_FUSE_RELU.
 *  @param y      output F x N (may be x if ldy == ldx).  @param ldy >= features.
 *  @return BN_OK or an error from the file description; BN_ERR_NON_FINITE if
 *          mean, var, gamma or beta hold a non-finite value.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_forward_inference(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *mean, const float *var,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *y, size_t ldy);

/** @brief Exact backward of the training-mode forward.
 *
 *  With xhat = (x - mean)*invstd and g = gamma (1 when NULL):
 *    dbeta  = sum_j dy,   dgamma = sum_j dy*xhat,
 *    dx     = g*invstd/N * (N*dy - dbeta - xhat*dgamma).
 *  The mean and variance terms are included. With BN_BATCHNORM_FUSE_RELU, dy is
 *  first masked by (y > 0), y being recomputed bit-exactly from x, so beta
 *  must be the same as in the forward.
 *
 *  The saved mean may be the float-rounded batch mean: the kernel measures
 *  the rounding residual sum_j (x - saved_mean)/N in double and corrects for
 *  it, so inputs with a large mean and a small spread keep full accuracy.
 *
 *  @param features, batch  as in the forward (batch >= 2).
 *  @param x, ldx           the forward's input.
 *  @param dy, lddy         gradient of the loss w.r.t. y, F x N.
 *  @param saved_mean       F values from the training forward (required).
 *  @param saved_invstd     F values from the training forward (required).
 *  @param gamma            F scales or NULL for 1.
 *  @param beta             F shifts or NULL for 0 (only read with BN_BATCHNORM_FUSE_RELU).
 *  @param flags            the forward's flags.
 *  @param dx, lddx         out: gradient w.r.t. x, F x N (may be dy if lddx == lddy);
 *                          or NULL (lddx ignored) when only dgamma and dbeta are wanted.
 *  @param dgamma           out: F values, or NULL.
 *  @param dbeta            out: F values, or NULL.
 *  @return BN_OK; BN_ERR_NON_FINITE if a reduced sum is not finite (dy or x
 *          held NaN or infinity; nothing is written); errors of the file description.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_backward_training(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd,
    const float *gamma, const float *beta, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta);

/** @brief Backward of the inference-mode forward: statistics are constants.
 *
 *  dx = dy * gamma * invstd with invstd = 1/sqrt(var+eps); optionally
 *  dgamma = sum_j dy*xhat and dbeta = sum_j dy (double accumulation).
 *  With BN_BATCHNORM_FUSE_RELU, dy is masked by (y > 0), y recomputed from x.
 *
 *  @param features, batch   sizes (batch >= 1).
 *  @param x, ldx            the forward's input (required).
 *  @param dy, lddy          incoming gradient.
 *  @param mean, var         the statistics the forward used (required).
 *  @param gamma, beta       as in the forward (NULL for 1 and 0).
 *  @param eps, flags        as in the forward.
 *  @param dx, lddx          out: gradient (may be dy if lddx == lddy); or NULL
 *                           (lddx ignored) when only dgamma and dbeta are wanted.
 *  @param dgamma, dbeta     out: F values each, or NULL.
 *  @return BN_OK or an error of the file description; BN_ERR_NON_FINITE
 *          when mean, var, gamma or beta hold a non-finite value. A
 *          non-finite dy or x propagates into the outputs without an error.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_backward_inference(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *mean, const float *var,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta);

/** @brief Bytes of workspace the *_ws kernels need for this feature count.
 *
 *  The *_ws variants of the kernels take their scratch from the caller
 *  instead of allocating it on every call (like oneDNN's user scratchpad):
 *  the four plain kernels, the two Batch Renormalization kernels and
 *  bn_batchnorm_moments(). The size depends on the feature count only
 *  (8*features doubles), so one buffer serves every one of them on that
 *  many features, whatever the batch.
 *
 *  @param features  F (> 0).
 *  @param bytes     out: the size in bytes.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (zero features, NULL bytes);
 *          BN_ERR_SIZE_OVERFLOW (the size does not fit in size_t).
 *  @par Thread-safety
 *  Keeps no state. */
BN_API bn_status bn_batchnorm_workspace_size(size_t features, size_t *bytes);

/** @brief bn_batchnorm_forward_training() on caller workspace, returning the residual.
 *
 *  Computes exactly what bn_batchnorm_forward_training() computes, with the
 *  same arguments and statuses, and allocates nothing. Additionally returns
 *  the mean's rounding residual (exact batch mean minus saved_mean, in
 *  double), which bn_batchnorm_backward_training_ws() takes so that a
 *  fused-ReLU backward does not read x once more to measure it.
 *
 *  @param features, batch, x, ldx, gamma, beta, eps, flags, y, ldy,
 *         saved_mean, saved_invstd, batch_var
 *                          as in bn_batchnorm_forward_training().
 *  @param residual         out: F doubles, or NULL.
 *  @param workspace        scratch of at least bn_batchnorm_workspace_size()
 *                          bytes, aligned for double; its contents are not
 *                          kept (required).
 *  @param workspace_bytes  the workspace's size.
 *  @return as bn_batchnorm_forward_training(); also BN_ERR_INVALID_ARGUMENT
 *          for a NULL or misaligned workspace and BN_ERR_SHAPE_MISMATCH for
 *          one that is too small; never BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_forward_training_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *y, size_t ldy,
    float *saved_mean, float *saved_invstd, float *batch_var, double *residual,
    void *workspace, size_t workspace_bytes);

/** @brief bn_batchnorm_forward_inference() on caller workspace.
 *
 *  Same arguments, results and statuses as bn_batchnorm_forward_inference();
 *  allocates nothing.
 *
 *  @param features, batch, x, ldx, mean, var, gamma, beta, eps, flags, y, ldy
 *                          as in bn_batchnorm_forward_inference().
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws().
 *  @return as bn_batchnorm_forward_inference(); the workspace statuses of
 *          bn_batchnorm_forward_training_ws().
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_forward_inference_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *mean, const float *var,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *y, size_t ldy,
    void *workspace, size_t workspace_bytes);

/** @brief bn_batchnorm_backward_training() on caller workspace, with the forward's residual.
 *
 *  Same results and statuses as bn_batchnorm_backward_training(); allocates
 *  nothing. With the residual that bn_batchnorm_forward_training_ws()
 *  returned for this x, the fused-ReLU backward rebuilds the forward's
 *  output from it instead of measuring it with an extra pass over x (the
 *  backward then reads x and dy twice each, as without the ReLU). With
 *  residual NULL it is measured, as bn_batchnorm_backward_training() does.
 *
 *  @param features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd, gamma,
 *         beta, flags, dx, lddx, dgamma, dbeta
 *                          as in bn_batchnorm_backward_training().
 *  @param residual         F doubles from bn_batchnorm_forward_training_ws()
 *                          on this x (finite), or NULL.
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws().
 *  @return as bn_batchnorm_backward_training(); BN_ERR_NON_FINITE also for a
 *          non-finite residual; the workspace statuses of
 *          bn_batchnorm_forward_training_ws().
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_backward_training_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd, const double *residual,
    const float *gamma, const float *beta, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta,
    void *workspace, size_t workspace_bytes);

/** @brief bn_batchnorm_backward_inference() on caller workspace.
 *
 *  Same arguments, results and statuses as bn_batchnorm_backward_inference();
 *  allocates nothing.
 *
 *  @param features, batch, x, ldx, dy, lddy, mean, var, gamma, beta, eps,
 *         flags, dx, lddx, dgamma, dbeta
 *                          as in bn_batchnorm_backward_inference().
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws().
 *  @return as bn_batchnorm_backward_inference(); the workspace statuses of
 *          bn_batchnorm_forward_training_ws().
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_backward_inference_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *mean, const float *var,
    const float *gamma, const float *beta, float eps, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta,
    void *workspace, size_t workspace_bytes);

/** @brief Training-mode forward with Batch Renormalization (Ioffe 2017).
 *
 *  Normalizes with the batch statistics corrected towards given running
 *  statistics (per feature; the running values are those *before* this
 *  batch updates them):
 *    sigma_B = sqrt(var + eps) (biased batch variance), sigma = sqrt(running_var + eps),
 *    r = clip(sigma_B / sigma, 1/rmax, rmax),
 *    d = clip((mean - running_mean) / sigma, -dmax, dmax),
 *    y = gamma * ((x - mean) / sigma_B * r + d) + beta.
 *  r and d are computed in double and returned rounded to float; the output
 *  uses the rounded values, so bn_batchnorm_renorm_backward_training() can
 *  rebuild it bit for bit. With rmax = 1 and dmax = 0 (r = 1, d = 0) the
 *  output equals bn_batchnorm_forward_training()'s bit for bit. The running
 *  statistics are not updated here: update them from batch_var exactly as
 *  for plain BatchNorm. See docs/math.md.
 *
 *  @param features, batch, x, ldx, gamma, beta, eps, flags, y, ldy,
 *         saved_mean, saved_invstd, batch_var
 *                       as in bn_batchnorm_forward_training() (the saved
 *                       statistics are the batch's own).
 *  @param running_mean  F values (required, finite).
 *  @param running_var   F values (required, finite, >= 0).
 *  @param rmax          >= 1 and finite.
 *  @param dmax          >= 0 and finite.
 *  @param r             out: F values of r (required: the backward needs them).
 *  @param d             out: F values of d (required).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (also rmax < 1, dmax < 0, a
 *          negative running variance, r or d NULL); BN_ERR_NON_FINITE (a
 *          non-finite rmax, dmax or running statistic, or non-finite batch
 *          statistics: nothing is written); BN_ERR_BATCH_TOO_SMALL; the
 *          errors listed in the file description.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_renorm_forward_training(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *gamma, const float *beta, float eps, unsigned flags,
    const float *running_mean, const float *running_var, float rmax, float dmax,
    float *y, size_t ldy,
    float *saved_mean, float *saved_invstd, float *batch_var, float *r, float *d);

/** @brief bn_batchnorm_renorm_forward_training() on caller workspace, returning the residual.
 *
 *  Computes exactly what bn_batchnorm_renorm_forward_training() computes,
 *  with the same arguments and statuses, and allocates nothing. Like
 *  bn_batchnorm_forward_training_ws(), it also returns the mean's rounding
 *  residual, which bn_batchnorm_renorm_backward_training_ws() takes.
 *
 *  @param features, batch, x, ldx, gamma, beta, eps, flags, running_mean,
 *         running_var, rmax, dmax, y, ldy, saved_mean, saved_invstd,
 *         batch_var, r, d
 *                          as in bn_batchnorm_renorm_forward_training().
 *  @param residual         out: F doubles, or NULL (as in bn_batchnorm_forward_training_ws()).
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws().
 *  @return as bn_batchnorm_renorm_forward_training(); the workspace
 *          statuses of bn_batchnorm_forward_training_ws(); never
 *          BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_renorm_forward_training_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *gamma, const float *beta, float eps, unsigned flags,
    const float *running_mean, const float *running_var, float rmax, float dmax,
    float *y, size_t ldy,
    float *saved_mean, float *saved_invstd, float *batch_var, float *r, float *d,
    double *residual,
    void *workspace, size_t workspace_bytes);

/** @brief Backward of bn_batchnorm_renorm_forward_training(), r and d held constant.
 *
 *  With xhat_B = (x - mean)*invstd and g = gamma (1 when NULL):
 *    dx     = g*r*invstd * (dy - mean_j(dy) - xhat_B*mean_j(dy*xhat_B)),
 *    dgamma = r*sum_j dy*xhat_B + d*sum_j dy,   dbeta = sum_j dy.
 *  With BN_BATCHNORM_FUSE_RELU, dy is first masked by (y > 0), y recomputed
 *  bit-exactly from x, r and d.
 *
 *  @param features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd,
 *         gamma, beta, flags, dx, lddx, dgamma, dbeta
 *                  as in bn_batchnorm_backward_training() (dx may be NULL).
 *  @param r, d     the F values each the forward returned (required; finite, r > 0).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (also r or d NULL, r <= 0);
 *          BN_ERR_NON_FINITE (r or d non-finite, or non-finite reduced sums:
 *          nothing is written); BN_ERR_BATCH_TOO_SMALL; errors of the file description.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_renorm_backward_training(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd, const float *r, const float *d,
    const float *gamma, const float *beta, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta);

/** @brief bn_batchnorm_renorm_backward_training() on caller workspace, with the forward's residual.
 *
 *  Same results and statuses as bn_batchnorm_renorm_backward_training();
 *  allocates nothing. The residual plays the part it plays in
 *  bn_batchnorm_backward_training_ws(): with the one
 *  bn_batchnorm_renorm_forward_training_ws() returned for this x, the
 *  fused-ReLU backward does not read x to measure it; with NULL it is
 *  measured.
 *
 *  @param features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd, r, d,
 *         gamma, beta, flags, dx, lddx, dgamma, dbeta
 *                          as in bn_batchnorm_renorm_backward_training().
 *  @param residual         F doubles from bn_batchnorm_renorm_forward_training_ws()
 *                          on this x (finite), or NULL.
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws().
 *  @return as bn_batchnorm_renorm_backward_training(); BN_ERR_NON_FINITE
 *          also for a non-finite residual; the workspace statuses of
 *          bn_batchnorm_forward_training_ws().
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_renorm_backward_training_ws(
    size_t features, size_t batch,
    const float *x, size_t ldx,
    const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd, const float *r, const float *d,
    const double *residual,
    const float *gamma, const float *beta, unsigned flags,
    float *dx, size_t lddx,
    float *dgamma, float *dbeta,
    void *workspace, size_t workspace_bytes);

/** @brief A batch shard's per-feature moments: mean and M2 in double.
 *
 *  M2[f] = sum_j (x[f,j] - mean[f])^2, the sum of squared deviations; with
 *  the count (batch) these are the (count, mean, M2) triple that
 *  bn_moments_merge() combines exactly, so shards held by different threads,
 *  processes or machines give the statistics of their union. Two passes in
 *  double (the mean, then the centered squares), so a mean that dwarfs the
 *  spread costs no accuracy. One sample (batch 1) is a valid shard (M2 = 0).
 *
 *  @param features  rows F (> 0).
 *  @param batch     columns N (> 0).
 *  @param x, ldx    the shard, F x N, leading dimension ldx >= F.
 *  @param mean      out: F doubles.
 *  @param m2        out: F doubles (>= 0).
 *  @return BN_OK; BN_ERR_NON_FINITE when a moment is not finite (x holds NaN
 *          or infinity, or values whose squares overflow; nothing is
 *          written); BN_ERR_OUT_OF_MEMORY (a scratch of 2F doubles); the
 *          errors of the file description (NULL mean or m2 included).
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_batchnorm_moments(size_t features, size_t batch, const float *x, size_t ldx,
                                      double *mean, double *m2);

/** @brief bn_batchnorm_moments() on caller workspace.
 *
 *  Same arguments, results and statuses as bn_batchnorm_moments(), except
 *  that it allocates nothing (never BN_ERR_OUT_OF_MEMORY).
 *
 *  @param features, batch, x, ldx, mean, m2  as in bn_batchnorm_moments().
 *  @param workspace, workspace_bytes  as in bn_batchnorm_forward_training_ws()
 *                          (bn_batchnorm_workspace_size() bytes).
 *  @return as bn_batchnorm_moments(); the workspace statuses of
 *          bn_batchnorm_forward_training_ws().
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs and
 *  workspaces do not overlap. */
BN_API bn_status bn_batchnorm_moments_ws(size_t features, size_t batch, const float *x,
                                         size_t ldx, double *mean, double *m2, void *workspace,
                                         size_t workspace_bytes);

/** @brief Merge the moments of set b into those of set a, exactly.
 *
 *  With n = count_a + count_b and delta = mean_b - mean_a, per feature:
 *    mean_a += delta * count_b / n,
 *    m2_a   += m2_b + delta^2 * count_a * count_b / n
 *  (Chan, Golub and LeVeque's pairwise update), which never forms
 *  E[x^2] - E[x]^2. The caller carries the count: after the call the merged
 *  set has count_a + count_b samples. Merging shards in any grouping gives
 *  the statistics of their union up to double rounding; a set with count 0
 *  is the identity (its mean and M2 are not read). Variance of the union:
 *  m2_a / n (biased) or m2_a / (n - 1).
 *
 *  @param features  F (> 0).
 *  @param count_a   samples of set a (finite, >= 0).
 *  @param mean_a    in/out: F means of set a, then of the union.
 *  @param m2_a      in/out: F sums of squared deviations of set a, then of the union.
 *  @param count_b   samples of set b (finite, >= 0).
 *  @param mean_b    F means of set b (may alias nothing in a).
 *  @param m2_b      F sums of squared deviations of set b (each >= 0).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL pointer, zero features,
 *          negative count, negative M2); BN_ERR_NON_FINITE (a count, mean or
 *          M2 that is not finite, or a union whose moments overflow).
 *          On error mean_a and m2_a are unchanged. Allocates nothing.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_moments_merge(size_t features, double count_a, double *mean_a, double *m2_a,
                                  double count_b, const double *mean_b, const double *m2_b);

BN_EXTERN_C_END

#endif /* BN_BATCHNORM_KERNELS_H */

/* Public stateless kernels: validate, borrow scratch, run the algorithm. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <bn/batchnorm_kernels.h>
#include "../core/checks.h"
#include "../core/params.h"
#include "../core/moments.h"
#include "batchnorm_algorithms.h"

/* The fused ReLU's bits: BN_BATCHNORM_FUSE_RELU, and 1u << 0, the value
 * BN_KERNEL_FUSE_RELU had in libbn 1.0, which programs built then still pass. */
#define FUSE_RELU_BITS ((unsigned)BN_BATCHNORM_FUSE_RELU | 1u)

static bn_status check_flags(unsigned flags)
{
  return (flags & ~FUSE_RELU_BITS) ? BN_ERR_INVALID_ARGUMENT : BN_OK;
}

/* x and its output have the same shape; the output may be x itself (same
 * leading dimension) or memory disjoint from it. */
static bn_status check_pair(const float *in, size_t ldin, const float *out, size_t ldout,
                            size_t F, size_t N)
{
  bn_status st = bni_check_matrix(NULL, "input", in, F, N, ldin);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "output", out, F, N, ldout);
  if (st == BN_OK)
    st = bni_check_alias(NULL, "input", in, ldin, "output", out, ldout, F, N);
  return st;
}

/* A backward's dy and its dx (which may be NULL: no input gradient wanted). */
static bn_status check_gradients(const float *dy, size_t lddy, const float *dx, size_t lddx,
                                 size_t F, size_t N)
{
  return dx ? check_pair(dy, lddy, dx, lddx, F, N) : bni_check_matrix(NULL, "dy", dy, F, N, lddy);
}

/* The scratch of every kernel: the algorithms' rows and a row of F doubles
 * for the batch variance. */
#define WORK_DOUBLES_PER_FEATURE (BNI_BN_WORK_PER_FEATURE + 1)

static int work_bytes(size_t F, size_t *bytes)
{
  return bni_mul_size(F, WORK_DOUBLES_PER_FEATURE * sizeof(double), bytes);
}

static double *alloc_work(size_t F)
{
  size_t n;
  return work_bytes(F, &n) ? bni_bn_alloc_rows(n) : NULL;
}

bn_status bn_batchnorm_workspace_size(size_t features, size_t *bytes)
{
  if (features == 0 || !bytes)
    return BN_ERR_INVALID_ARGUMENT;
  return work_bytes(features, bytes) ? BN_OK : BN_ERR_SIZE_OVERFLOW;
}

/* A caller's workspace: present, aligned for doubles, large enough. */
static bn_status check_workspace(size_t F, const void *workspace, size_t workspace_bytes)
{
  size_t need;
  if (!workspace || (uintptr_t)workspace % _Alignof(double) != 0)
    return BN_ERR_INVALID_ARGUMENT;
  if (!work_bytes(F, &need))
    return BN_ERR_SIZE_OVERFLOW;
  return workspace_bytes < need ? BN_ERR_SHAPE_MISMATCH : BN_OK;
}

/* ---- training forward -------------------------------------------------------- */

static bn_status check_forward_training(size_t features, size_t batch, const float *x,
                                        size_t ldx, float eps, unsigned flags, const float *y,
                                        size_t ldy)
{
  bn_status st = check_pair(x, ldx, y, ldy, features, batch);
  if (st == BN_OK)
    st = check_flags(flags);
  if (st == BN_OK)
    st = bni_check_eps(NULL, eps);
  if (st == BN_OK && batch < 2)
    st = BN_ERR_BATCH_TOO_SMALL;
  return st;
}

/* Both training forwards, plain (renorm NULL) and renormalized, on checked
 * arguments. */
static bn_status run_forward_training(size_t features, size_t batch, const float *x, size_t ldx,
                                      const float *gamma, const float *beta, float eps,
                                      unsigned flags, const bni_bn_renorm *renorm, float *y,
                                      size_t ldy, float *saved_mean, float *saved_invstd,
                                      float *batch_var, double *residual, double *work)
{
  double *var = work + BNI_BN_WORK_PER_FEATURE * features;
  const bni_bn_exec serial = bni_bn_exec_serial(bni_bn_loops_select());
  bn_status st = bni_bn_forward_training_renorm(
      &serial, features, batch, x, ldx, gamma, beta, eps, (flags & FUSE_RELU_BITS) != 0, NULL,
      renorm, y, ldy, saved_mean, saved_invstd, NULL, batch_var ? var : NULL, residual, work);
  if (st == BN_OK && batch_var)
    for (size_t f = 0; f < features; f++)
      batch_var[f] = (float)var[f];
  return st;
}

static bn_status forward_training(size_t features, size_t batch, const float *x, size_t ldx,
                                  const float *gamma, const float *beta, float eps,
                                  unsigned flags, const bni_bn_renorm *renorm, float *y,
                                  size_t ldy, float *saved_mean, float *saved_invstd,
                                  float *batch_var)
{
  bn_status st = check_forward_training(features, batch, x, ldx, eps, flags, y, ldy);
  if (st != BN_OK)
    return st;
  double *work = alloc_work(features);
  if (!work)
    return BN_ERR_OUT_OF_MEMORY;
  st = run_forward_training(features, batch, x, ldx, gamma, beta, eps, flags, renorm, y, ldy,
                            saved_mean, saved_invstd, batch_var, NULL, work);
  free(work);
  return st;
}

bn_status bn_batchnorm_forward_training(size_t features, size_t batch, const float *x,
                                        size_t ldx, const float *gamma, const float *beta,
                                        float eps, unsigned flags, float *y, size_t ldy,
                                        float *saved_mean, float *saved_invstd,
                                        float *batch_var)
{
  return forward_training(features, batch, x, ldx, gamma, beta, eps, flags, NULL, y, ldy,
                          saved_mean, saved_invstd, batch_var);
}

/* Both training forwards on caller workspace, plain (renorm NULL) and
 * renormalized. */
static bn_status forward_training_ws(size_t features, size_t batch, const float *x, size_t ldx,
                                     const float *gamma, const float *beta, float eps,
                                     unsigned flags, const bni_bn_renorm *renorm, float *y,
                                     size_t ldy, float *saved_mean, float *saved_invstd,
                                     float *batch_var, double *residual, void *workspace,
                                     size_t workspace_bytes)
{
  bn_status st = check_forward_training(features, batch, x, ldx, eps, flags, y, ldy);
  if (st == BN_OK)
    st = check_workspace(features, workspace, workspace_bytes);
  if (st != BN_OK)
    return st;
  return run_forward_training(features, batch, x, ldx, gamma, beta, eps, flags, renorm, y, ldy,
                              saved_mean, saved_invstd, batch_var, residual, workspace);
}

bn_status bn_batchnorm_forward_training_ws(size_t features, size_t batch, const float *x,
                                           size_t ldx, const float *gamma, const float *beta,
                                           float eps, unsigned flags, float *y, size_t ldy,
                                           float *saved_mean, float *saved_invstd,
                                           float *batch_var, double *residual, void *workspace,
                                           size_t workspace_bytes)
{
  return forward_training_ws(features, batch, x, ldx, gamma, beta, eps, flags, NULL, y, ldy,
                             saved_mean, saved_invstd, batch_var, residual, workspace,
                             workspace_bytes);
}

/* ---- inference forward ------------------------------------------------------- */

static bn_status check_statistics(size_t F, const float *mean, const float *var,
                                  const float *gamma, const float *beta)
{
  if (!mean || !var)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = bni_check_finite_vector(NULL, "mean", mean, F);
  if (st == BN_OK)
    st = bni_check_finite_vector(NULL, "var", var, F);
  if (st == BN_OK && gamma)
    st = bni_check_finite_vector(NULL, "gamma", gamma, F);
  if (st == BN_OK && beta)
    st = bni_check_finite_vector(NULL, "beta", beta, F);
  for (size_t f = 0; st == BN_OK && f < F; f++)
    if (var[f] < 0.0f)
      st = BN_ERR_INVALID_ARGUMENT;
  return st;
}

/* The arguments shared by both constant-statistics kernels. */
static bn_status check_constant_statistics(size_t F, unsigned flags, float eps,
                                           const float *mean, const float *var,
                                           const float *gamma, const float *beta)
{
  bn_status st = check_flags(flags);
  if (st == BN_OK)
    st = bni_check_eps(NULL, eps);
  if (st == BN_OK)
    st = check_statistics(F, mean, var, gamma, beta);
  return st;
}

static bn_status check_forward_inference(size_t features, size_t batch, const float *x,
                                         size_t ldx, const float *mean, const float *var,
                                         const float *gamma, const float *beta, float eps,
                                         unsigned flags, const float *y, size_t ldy)
{
  bn_status st = check_pair(x, ldx, y, ldy, features, batch);
  if (st == BN_OK)
    st = check_constant_statistics(features, flags, eps, mean, var, gamma, beta);
  return st;
}

static void run_forward_inference(size_t features, size_t batch, const float *x, size_t ldx,
                                  const float *mean, const float *var, const float *gamma,
                                  const float *beta, float eps, unsigned flags, float *y,
                                  size_t ldy, double *work)
{
  const bni_bn_exec serial = bni_bn_exec_serial(bni_bn_loops_select());
  bni_bn_forward_inference(&serial, features, batch, x, ldx, mean, var, gamma, beta, eps,
                           (flags & FUSE_RELU_BITS) != 0, NULL, y, ldy, work);
}

bn_status bn_batchnorm_forward_inference(size_t features, size_t batch, const float *x,
                                         size_t ldx, const float *mean, const float *var,
                                         const float *gamma, const float *beta, float eps,
                                         unsigned flags, float *y, size_t ldy)
{
  bn_status st = check_forward_inference(features, batch, x, ldx, mean, var, gamma, beta, eps,
                                         flags, y, ldy);
  if (st != BN_OK)
    return st;
  double *work = alloc_work(features);
  if (!work)
    return BN_ERR_OUT_OF_MEMORY;
  run_forward_inference(features, batch, x, ldx, mean, var, gamma, beta, eps, flags, y, ldy,
                        work);
  free(work);
  return BN_OK;
}

bn_status bn_batchnorm_forward_inference_ws(size_t features, size_t batch, const float *x,
                                            size_t ldx, const float *mean, const float *var,
                                            const float *gamma, const float *beta, float eps,
                                            unsigned flags, float *y, size_t ldy,
                                            void *workspace, size_t workspace_bytes)
{
  bn_status st = check_forward_inference(features, batch, x, ldx, mean, var, gamma, beta, eps,
                                         flags, y, ldy);
  if (st == BN_OK)
    st = check_workspace(features, workspace, workspace_bytes);
  if (st != BN_OK)
    return st;
  run_forward_inference(features, batch, x, ldx, mean, var, gamma, beta, eps, flags, y, ldy,
                        workspace);
  return BN_OK;
}

/* ---- backwards ----------------------------------------------------------------- */

/* Batch Renormalization's r and d from a forward: finite, r > 0. */
static bn_status check_corrections(size_t F, const float *r, const float *d)
{
  bn_status st = bni_check_finite_vector(NULL, "r", r, F);
  if (st == BN_OK)
    st = bni_check_finite_vector(NULL, "d", d, F);
  for (size_t f = 0; st == BN_OK && f < F; f++)
    if (!(r[f] > 0.0f))
      st = BN_ERR_INVALID_ARGUMENT;
  return st;
}

/* Both training backwards' arguments, plain (r and d NULL) and renormalized
 * (both given). */
static bn_status check_backward_training(size_t features, size_t batch, const float *x,
                                         size_t ldx, const float *dy, size_t lddy,
                                         const float *saved_mean, const float *saved_invstd,
                                         const float *r, const float *d, unsigned flags,
                                         const float *dx, size_t lddx)
{
  bn_status st = bni_check_matrix(NULL, "x", x, features, batch, ldx);
  if (st == BN_OK)
    st = check_gradients(dy, lddy, dx, lddx, features, batch);
  if (st == BN_OK)
    st = check_flags(flags);
  if (st == BN_OK && (!saved_mean || !saved_invstd))
    st = BN_ERR_INVALID_ARGUMENT;
  if (st == BN_OK && r)
    st = check_corrections(features, r, d);
  if (st == BN_OK && batch < 2)
    st = BN_ERR_BATCH_TOO_SMALL;
  return st;
}

static bn_status run_backward_training(size_t features, size_t batch, const float *x,
                                       size_t ldx, const float *dy, size_t lddy,
                                       const float *saved_mean, const float *saved_invstd,
                                       const double *residual, const float *r, const float *d,
                                       const float *gamma, const float *beta, unsigned flags,
                                       float *dx, size_t lddx, float *dgamma, float *dbeta,
                                       double *work)
{
  const bni_bn_exec serial = bni_bn_exec_serial(bni_bn_loops_select());
  return bni_bn_backward_training_renorm(&serial, features, batch, x, ldx, dy, lddy, saved_mean,
                                         saved_invstd, residual, gamma, beta, r, d,
                                         (flags & FUSE_RELU_BITS) != 0, NULL, dx, lddx, dgamma,
                                         dbeta, work);
}

static bn_status backward_training(size_t features, size_t batch, const float *x, size_t ldx,
                                   const float *dy, size_t lddy, const float *saved_mean,
                                   const float *saved_invstd, const float *r, const float *d,
                                   const float *gamma, const float *beta, unsigned flags,
                                   float *dx, size_t lddx, float *dgamma, float *dbeta)
{
  bn_status st = check_backward_training(features, batch, x, ldx, dy, lddy, saved_mean,
                                         saved_invstd, r, d, flags, dx, lddx);
  if (st != BN_OK)
    return st;
  double *work = alloc_work(features);
  if (!work)
    return BN_ERR_OUT_OF_MEMORY;
  st = run_backward_training(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd, NULL,
                             r, d, gamma, beta, flags, dx, lddx, dgamma, dbeta, work);
  free(work);
  return st;
}

bn_status bn_batchnorm_backward_training(size_t features, size_t batch, const float *x,
                                         size_t ldx, const float *dy, size_t lddy,
                                         const float *saved_mean, const float *saved_invstd,
                                         const float *gamma, const float *beta, unsigned flags,
                                         float *dx, size_t lddx, float *dgamma, float *dbeta)
{
  return backward_training(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd, NULL,
                           NULL, gamma, beta, flags, dx, lddx, dgamma, dbeta);
}

/* Both training backwards on caller workspace, plain (r and d NULL) and
 * renormalized. */
static bn_status backward_training_ws(size_t features, size_t batch, const float *x, size_t ldx,
                                      const float *dy, size_t lddy, const float *saved_mean,
                                      const float *saved_invstd, const double *residual,
                                      const float *r, const float *d, const float *gamma,
                                      const float *beta, unsigned flags, float *dx, size_t lddx,
                                      float *dgamma, float *dbeta, void *workspace,
                                      size_t workspace_bytes)
{
  bn_status st = check_backward_training(features, batch, x, ldx, dy, lddy, saved_mean,
                                         saved_invstd, r, d, flags, dx, lddx);
  if (st == BN_OK && residual)
    st = bni_check_finite_doubles(NULL, "residual", residual, features);
  if (st == BN_OK)
    st = check_workspace(features, workspace, workspace_bytes);
  if (st != BN_OK)
    return st;
  return run_backward_training(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd,
                               residual, r, d, gamma, beta, flags, dx, lddx, dgamma, dbeta,
                               workspace);
}

bn_status bn_batchnorm_backward_training_ws(size_t features, size_t batch, const float *x,
                                            size_t ldx, const float *dy, size_t lddy,
                                            const float *saved_mean, const float *saved_invstd,
                                            const double *residual, const float *gamma,
                                            const float *beta, unsigned flags, float *dx,
                                            size_t lddx, float *dgamma, float *dbeta,
                                            void *workspace, size_t workspace_bytes)
{
  return backward_training_ws(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd,
                              residual, NULL, NULL, gamma, beta, flags, dx, lddx, dgamma, dbeta,
                              workspace, workspace_bytes);
}

static bn_status check_backward_inference(size_t features, size_t batch, const float *x,
                                          size_t ldx, const float *dy, size_t lddy,
                                          const float *mean, const float *var,
                                          const float *gamma, const float *beta, float eps,
                                          unsigned flags, const float *dx, size_t lddx)
{
  bn_status st = bni_check_matrix(NULL, "x", x, features, batch, ldx);
  if (st == BN_OK)
    st = check_gradients(dy, lddy, dx, lddx, features, batch);
  if (st == BN_OK)
    st = check_constant_statistics(features, flags, eps, mean, var, gamma, beta);
  return st;
}

static void run_backward_inference(size_t features, size_t batch, const float *x, size_t ldx,
                                   const float *dy, size_t lddy, const float *mean,
                                   const float *var, const float *gamma, const float *beta,
                                   float eps, unsigned flags, float *dx, size_t lddx,
                                   float *dgamma, float *dbeta, double *work)
{
  const bni_bn_exec serial = bni_bn_exec_serial(bni_bn_loops_select());
  bni_bn_backward_inference(&serial, features, batch, x, ldx, dy, lddy, mean, var, gamma, beta,
                            eps, (flags & FUSE_RELU_BITS) != 0, NULL, dx, lddx, dgamma, dbeta,
                            work);
}

bn_status bn_batchnorm_backward_inference(size_t features, size_t batch, const float *x,
                                          size_t ldx, const float *dy, size_t lddy,
                                          const float *mean, const float *var,
                                          const float *gamma, const float *beta, float eps,
                                          unsigned flags, float *dx, size_t lddx,
                                          float *dgamma, float *dbeta)
{
  bn_status st = check_backward_inference(features, batch, x, ldx, dy, lddy, mean, var, gamma,
                                          beta, eps, flags, dx, lddx);
  if (st != BN_OK)
    return st;
  double *work = alloc_work(features);
  if (!work)
    return BN_ERR_OUT_OF_MEMORY;
  run_backward_inference(features, batch, x, ldx, dy, lddy, mean, var, gamma, beta, eps, flags,
                         dx, lddx, dgamma, dbeta, work);
  free(work);
  return BN_OK;
}

bn_status bn_batchnorm_backward_inference_ws(size_t features, size_t batch, const float *x,
                                             size_t ldx, const float *dy, size_t lddy,
                                             const float *mean, const float *var,
                                             const float *gamma, const float *beta, float eps,
                                             unsigned flags, float *dx, size_t lddx,
                                             float *dgamma, float *dbeta, void *workspace,
                                             size_t workspace_bytes)
{
  bn_status st = check_backward_inference(features, batch, x, ldx, dy, lddy, mean, var, gamma,
                                          beta, eps, flags, dx, lddx);
  if (st == BN_OK)
    st = check_workspace(features, workspace, workspace_bytes);
  if (st != BN_OK)
    return st;
  run_backward_inference(features, batch, x, ldx, dy, lddy, mean, var, gamma, beta, eps, flags,
                         dx, lddx, dgamma, dbeta, workspace);
  return BN_OK;
}

/* ---- Batch Renormalization ------------------------------------------------- */

/* Batch Renormalization's own forward arguments, checked after the plain
 * forward's shapes, flags and eps (and before its batch size). */
static bn_status check_renorm_forward(size_t features, size_t batch, const float *x, size_t ldx,
                                      float eps, unsigned flags, const float *running_mean,
                                      const float *running_var, float rmax, float dmax,
                                      const float *y, size_t ldy, const float *r, const float *d)
{
  bn_status st = check_pair(x, ldx, y, ldy, features, batch);
  if (st == BN_OK)
    st = check_flags(flags);
  if (st == BN_OK)
    st = bni_check_eps(NULL, eps);
  if (st == BN_OK)
    st = check_statistics(features, running_mean, running_var, NULL, NULL);
  if (st == BN_OK)
    st = bni_check_renorm_limits(NULL, rmax, dmax);
  if (st == BN_OK && (!r || !d))
    st = BN_ERR_INVALID_ARGUMENT;
  return st;
}

bn_status bn_batchnorm_renorm_forward_training(
    size_t features, size_t batch, const float *x, size_t ldx, const float *gamma,
    const float *beta, float eps, unsigned flags, const float *running_mean,
    const float *running_var, float rmax, float dmax, float *y, size_t ldy, float *saved_mean,
    float *saved_invstd, float *batch_var, float *r, float *d)
{
  bn_status st = check_renorm_forward(features, batch, x, ldx, eps, flags, running_mean,
                                      running_var, rmax, dmax, y, ldy, r, d);
  if (st != BN_OK)
    return st;
  const bni_bn_renorm renorm = {running_mean, running_var, rmax, dmax, r, d};
  return forward_training(features, batch, x, ldx, gamma, beta, eps, flags, &renorm, y, ldy,
                          saved_mean, saved_invstd, batch_var);
}

bn_status bn_batchnorm_renorm_forward_training_ws(
    size_t features, size_t batch, const float *x, size_t ldx, const float *gamma,
    const float *beta, float eps, unsigned flags, const float *running_mean,
    const float *running_var, float rmax, float dmax, float *y, size_t ldy, float *saved_mean,
    float *saved_invstd, float *batch_var, float *r, float *d, double *residual,
    void *workspace, size_t workspace_bytes)
{
  bn_status st = check_renorm_forward(features, batch, x, ldx, eps, flags, running_mean,
                                      running_var, rmax, dmax, y, ldy, r, d);
  if (st != BN_OK)
    return st;
  const bni_bn_renorm renorm = {running_mean, running_var, rmax, dmax, r, d};
  return forward_training_ws(features, batch, x, ldx, gamma, beta, eps, flags, &renorm, y, ldy,
                             saved_mean, saved_invstd, batch_var, residual, workspace,
                             workspace_bytes);
}

bn_status bn_batchnorm_renorm_backward_training(
    size_t features, size_t batch, const float *x, size_t ldx, const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd, const float *r, const float *d,
    const float *gamma, const float *beta, unsigned flags, float *dx, size_t lddx,
    float *dgamma, float *dbeta)
{
  if (!r || !d)
    return BN_ERR_INVALID_ARGUMENT;
  return backward_training(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd, r, d,
                           gamma, beta, flags, dx, lddx, dgamma, dbeta);
}

bn_status bn_batchnorm_renorm_backward_training_ws(
    size_t features, size_t batch, const float *x, size_t ldx, const float *dy, size_t lddy,
    const float *saved_mean, const float *saved_invstd, const float *r, const float *d,
    const double *residual, const float *gamma, const float *beta, unsigned flags, float *dx,
    size_t lddx, float *dgamma, float *dbeta, void *workspace, size_t workspace_bytes)
{
  if (!r || !d)
    return BN_ERR_INVALID_ARGUMENT;
  return backward_training_ws(features, batch, x, ldx, dy, lddy, saved_mean, saved_invstd,
                              residual, r, d, gamma, beta, flags, dx, lddx, dgamma, dbeta,
                              workspace, workspace_bytes);
}

/* ---- moments of shards ----------------------------------------------------- */

static bn_status check_moments(size_t features, size_t batch, const float *x, size_t ldx,
                               const double *mean, const double *m2)
{
  bn_status st = bni_check_matrix(NULL, "x", x, features, batch, ldx);
  if (st == BN_OK && (!mean || !m2))
    st = BN_ERR_INVALID_ARGUMENT;
  return st;
}

/* The moments into scratch (2F doubles), copied out only when all are
 * finite, so that on error mean and m2 are untouched. */
static bn_status run_moments(size_t features, size_t batch, const float *x, size_t ldx,
                             double *mean, double *m2, double *scratch)
{
  bni_moments_of_columns(features, batch, x, ldx, scratch, scratch + features);
  bn_status st = bni_check_finite_doubles(NULL, "moments", scratch, 2 * features);
  if (st == BN_OK) {
    memcpy(mean, scratch, features * sizeof *mean);
    memcpy(m2, scratch + features, features * sizeof *m2);
  }
  return st;
}

bn_status bn_batchnorm_moments(size_t features, size_t batch, const float *x, size_t ldx,
                               double *mean, double *m2)
{
  bn_status st = check_moments(features, batch, x, ldx, mean, m2);
  if (st != BN_OK)
    return st;
  size_t bytes;
  if (!bni_mul_size(features, 2 * sizeof(double), &bytes))
    return BN_ERR_SIZE_OVERFLOW;
  double *scratch = malloc(bytes);
  if (!scratch)
    return BN_ERR_OUT_OF_MEMORY;
  st = run_moments(features, batch, x, ldx, mean, m2, scratch);
  free(scratch);
  return st;
}

bn_status bn_batchnorm_moments_ws(size_t features, size_t batch, const float *x, size_t ldx,
                                  double *mean, double *m2, void *workspace,
                                  size_t workspace_bytes)
{
  bn_status st = check_moments(features, batch, x, ldx, mean, m2);
  if (st == BN_OK)
    st = check_workspace(features, workspace, workspace_bytes);
  if (st != BN_OK)
    return st;
  return run_moments(features, batch, x, ldx, mean, m2, workspace);
}

bn_status bn_moments_merge(size_t features, double count_a, double *mean_a, double *m2_a,
                           double count_b, const double *mean_b, const double *m2_b)
{
  if (features == 0)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = bni_check_moments(NULL, features, count_a, 0.0, mean_a, m2_a);
  if (st == BN_OK)
    st = bni_check_moments(NULL, features, count_b, 0.0, mean_b, m2_b);
  if (st != BN_OK)
    return st;
  return bni_moments_merge_finite(features, count_a, mean_a, m2_a, count_b, mean_b, m2_b)
           ? BN_OK
           : BN_ERR_NON_FINITE;
}

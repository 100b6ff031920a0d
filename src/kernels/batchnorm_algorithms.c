#include <math.h>
#include <string.h>
#include "batchnorm_algorithms.h"
#include "batchnorm_constants.h"

/* ---- the algorithms --------------------------------------------------------- */

/* Scratch: three rows of F doubles, then seven rows of F floats, within the
 * BNI_BN_WORK_PER_FEATURE*F doubles the caller gives. When that has room
 * for the padding (F >= 161; or F a multiple of 16, the scratch 64-byte
 * aligned, where no padding is needed), every row starts on a 64-byte line,
 * so that the element loops' m, scale and shift rows do not straddle lines
 * (row_lines.h); otherwise the rows follow each other. Where the
 * rows lie changes no value. */
typedef struct scratch {
  double *d0, *d1, *d2;
  float *m, *invstd, *scale, *shift, *a, *nk, *c0;
} scratch;

static scratch carve(double *work, size_t F)
{
  const size_t line = BNI_BN_ROW_ALIGN;
  const size_t head = (line - (size_t)((uintptr_t)work % line)) % line;
  const size_t dline = bni_bn_line_elements(F, sizeof(double)) * sizeof(double);
  const size_t fline = bni_bn_line_elements(F, sizeof(float)) * sizeof(float);
  const int lines = head + 3 * dline + 7 * fline <= BNI_BN_WORK_PER_FEATURE * F * sizeof(double);
  const size_t dstep = lines ? dline : F * sizeof(double);
  const size_t fstep = lines ? fline : F * sizeof(float);
  char *p = (char *)(void *)work + (lines ? head : 0);
  scratch s;
  s.d0 = (double *)(void *)p;
  s.d1 = (double *)(void *)(p + dstep);
  s.d2 = (double *)(void *)(p + 2 * dstep);
  p += 3 * dstep;
  s.m = (float *)(void *)p;
  s.invstd = (float *)(void *)(p + fstep);
  s.scale = (float *)(void *)(p + 2 * fstep);
  s.shift = (float *)(void *)(p + 3 * fstep);
  s.a = (float *)(void *)(p + 4 * fstep);
  s.nk = (float *)(void *)(p + 5 * fstep);
  s.c0 = (float *)(void *)(p + 6 * fstep);
  return s;
}

/* Per-feature constants of the training forward's normalize loop,
 * y = fma(x - m, scale, shift). They are computed from the float invstd (and
 * the float renorm r and d, when given) that the backward receives, so a
 * backward can rebuild them bit for bit. */
static void training_affine(size_t F, const float *invstd, const double *residual,
                            const float *gamma, const float *beta, const float *r,
                            const float *d, float *scale, float *shift)
{
  for (size_t f = 0; f < F; f++) {
    double g = gamma ? (double)gamma[f] : 1.0, b = beta ? (double)beta[f] : 0.0;
    if (r)
      bni_bn_renorm_gamma_beta(&g, &b, (double)r[f], (double)d[f]);
    bni_bn_affine t = bni_bn_scale_shift(g, b, residual[f], (double)invstd[f]);
    scale[f] = (float)t.scale;
    shift[f] = (float)t.shift;
  }
}

/* Per-feature constants of the inference forward, y = fma(x - mean, scale,
 * shift), computed in double and rounded once. The running mean is
 * subtracted from x before scaling (exactly, in float, for x within a factor
 * of two of it): folding it into the shift instead would cancel when the
 * mean dwarfs the spread. */
static void inference_affine(size_t F, const float *var, const float *gamma, const float *beta,
                             float eps, float *scale, float *shift)
{
  for (size_t f = 0; f < F; f++) {
    bni_bn_affine t = bni_bn_scale_shift(gamma ? (double)gamma[f] : 1.0,
                                         beta ? (double)beta[f] : 0.0, 0.0,
                                         bni_bn_invstd((double)var[f], (double)eps));
    scale[f] = (float)t.scale;
    shift[f] = (float)t.shift;
  }
}

/* Feature f's constants of the input gradient, dx = fma(a, g, fma(nk, d, c0))
 * with d = x - m, from the whole batch's count and sums of g and g*xhat:
 * dx = a*(g - sum_dy/count - xhat*sum_dy_xhat/count), xhat = (d - residual)*invstd,
 * a = gamma*invstd (times Batch Renormalization's r when given). */
static void grad_input_constants(scratch *s, size_t f, double is, const float *gamma,
                                 const float *r, double residual, double count, double sum_dy,
                                 double sum_dy_xhat)
{
  double a = (gamma ? (double)gamma[f] : 1.0) * (r ? (double)r[f] : 1.0) * is;
  double k = a * is * sum_dy_xhat / count;
  s->a[f] = (float)a;
  s->nk[f] = (float)(-k);
  s->c0[f] = (float)(k * residual - a * sum_dy / count);
}

/* The pass p with an activation folded in (act not NULL): its forward after
 * the normalize pass's values, its backward where the gradient passes read dy. */
static const bni_bn_pass *with_act(bni_bn_pass *p, const bni_bn_act *act)
{
  if (act) {
    p->flag = act->mask;
    p->y = act->y;
    p->ldy = act->ldy;
    p->alpha = act->alpha;
  }
  return p;
}

/* The batch's moments in double (the moments pass): M2 into m2, and its
 * mean split into the float-rounded mean m and the rounding residual
 * (written over `origin`, which the pass fills first). */
static void batch_moments(const bni_bn_exec *ex, size_t F, size_t N, const float *x, size_t ldx,
                          double *offset, double *m2, double *origin, float *m)
{
  bni_bn_run(ex, &(bni_bn_pass){.kind = BNI_PASS_MOMENTS, .F = F, .N = N, .x = x, .ldx = ldx,
                                .s1 = offset, .s2 = m2, .s3 = origin});
  for (size_t f = 0; f < F; f++) {
    m[f] = (float)(origin[f] + offset[f]);
    origin[f] = (origin[f] - (double)m[f]) + offset[f]; /* the first difference is exact */
  }
}

bn_status bni_bn_forward_training(const bni_bn_exec *ex, size_t F, size_t N,
                                     const float *x, size_t ldx, const float *gamma,
                                     const float *beta, float eps, int relu, float *y, size_t ldy,
                                     float *saved_mean, float *saved_invstd, double *mean,
                                     double *var, double *residual, double *work)
{
  return bni_bn_forward_training_renorm(ex, F, N, x, ldx, gamma, beta, eps, relu, NULL, NULL, y,
                                        ldy, saved_mean, saved_invstd, mean, var, residual, work);
}

/* The part of a training forward after the statistics, shared by the
 * single-process forward and the sharded one: s->m holds the float mean,
 * res the rest of the exact mean (mean = m + res), var the biased variance.
 * Checks the statistics, then writes the requested outputs, Batch
 * Renormalization's r and d, and y. */
static bn_status normalize_with_statistics(const bni_bn_exec *ex, size_t F, size_t N,
                                           const float *x, size_t ldx, const float *gamma,
                                           const float *beta, float eps, int relu,
                                           const bni_bn_act *act, const bni_bn_renorm *renorm,
                                           float *y, size_t ldy, scratch *s, const double *res,
                                           const double *var,
                                           float *saved_mean, float *saved_invstd,
                                           double *mean_out, double *var_out,
                                           double *residual_out)
{
  for (size_t f = 0; f < F; f++) {
    /* A variance beyond FLT_MAX (finite inputs near FLT_MAX) cannot be
     * reported in float: treat it like a non-finite statistic. */
    if (!isfinite((float)var[f]) || !isfinite(res[f]) || !isfinite(s->m[f]))
      return BN_ERR_NON_FINITE;
    s->invstd[f] = (float)bni_bn_invstd(var[f], (double)eps);
  }
  for (size_t f = 0; f < F; f++) {
    if (saved_mean)
      saved_mean[f] = s->m[f];
    if (saved_invstd)
      saved_invstd[f] = s->invstd[f];
    if (mean_out)
      mean_out[f] = (double)s->m[f] + res[f];
    if (var_out)
      var_out[f] = var[f];
    if (residual_out)
      residual_out[f] = res[f];
  }
  if (renorm)
    for (size_t f = 0; f < F; f++) {
      bni_bn_renorm_rd c = bni_bn_renorm_correction(
          (double)s->m[f] + res[f], var[f], (double)renorm->running_mean[f],
          (double)renorm->running_var[f], (double)eps, renorm->rmax, renorm->dmax);
      renorm->r[f] = (float)c.r;
      renorm->d[f] = (float)c.d;
    }
  training_affine(F, s->invstd, res, gamma, beta, renorm ? renorm->r : NULL,
                  renorm ? renorm->d : NULL, s->scale, s->shift);
  bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_NORMALIZE, .F = F, .N = N, .x = x,
                                         .ldx = ldx, .m = s->m, .scale = s->scale,
                                         .shift = s->shift, .flag = relu, .out = y,
                                         .ldout = ldy},
                           act));
  return BN_OK;
}

bn_status bni_bn_forward_training_renorm(const bni_bn_exec *ex, size_t F, size_t N,
                                         const float *x, size_t ldx, const float *gamma,
                                         const float *beta, float eps, int relu,
                                         const bni_bn_act *act, const bni_bn_renorm *renorm,
                                         float *y, size_t ldy, float *saved_mean,
                                         float *saved_invstd, double *mean, double *var,
                                         double *residual, double *work)
{
  scratch s = carve(work, F);
  double *sq = s.d1, *res = s.d2;

  /* One pass for the exact moments (x read from memory once): the mean as
   * the float m plus the residual res, and M2. */
  batch_moments(ex, F, N, x, ldx, s.d0, sq, res, s.m);
  for (size_t f = 0; f < F; f++) {
    sq[f] /= (double)N; /* the biased variance; checked with the rest */
  }
  return normalize_with_statistics(ex, F, N, x, ldx, gamma, beta, eps, relu, act, renorm, y,
                                   ldy, &s, res, sq, saved_mean, saved_invstd, mean, var, residual);
}

void bni_bn_forward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                 size_t ldx, const float *mean, const float *var,
                                 const float *gamma, const float *beta, float eps, int relu,
                                 const bni_bn_act *act, float *y, size_t ldy, double *work)
{
  scratch s = carve(work, F);
  inference_affine(F, var, gamma, beta, eps, s.scale, s.shift);
  /* A caller's mean row that straddles cache lines costs the normalize loop
   * a split load per vector (~1.5x in cache, docs/performance.md, "Row
   * alignment"); when the scratch's m row starts on a line, the loop reads
   * a copy there (the same values; one row copied for N >= 8 columns). */
  const float *m = mean;
  if (N >= 8 && (uintptr_t)mean % BNI_BN_ROW_ALIGN != 0 &&
      (uintptr_t)s.m % BNI_BN_ROW_ALIGN == 0) {
    memcpy(s.m, mean, F * sizeof *mean);
    m = s.m;
  }
  bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_NORMALIZE, .F = F, .N = N, .x = x,
                                         .ldx = ldx, .m = m, .scale = s.scale,
                                         .shift = s.shift, .flag = relu, .out = y,
                                         .ldout = ldy},
                           act));
}

bn_status bni_bn_backward_training(const bni_bn_exec *ex, size_t F, size_t N,
                                      const float *x, size_t ldx, const float *dy, size_t lddy,
                                      const float *saved_mean, const float *saved_invstd,
                                      const double *residual, const float *gamma,
                                      const float *beta, int relu, float *dx, size_t lddx,
                                      float *dgamma, float *dbeta, double *work)
{
  return bni_bn_backward_training_renorm(ex, F, N, x, ldx, dy, lddy, saved_mean, saved_invstd,
                                         residual, gamma, beta, NULL, NULL, relu, NULL, dx,
                                         lddx, dgamma, dbeta, work);
}

bn_status bni_bn_backward_training_renorm(const bni_bn_exec *ex, size_t F, size_t N,
                                          const float *x, size_t ldx, const float *dy,
                                          size_t lddy, const float *saved_mean,
                                          const float *saved_invstd, const double *residual,
                                          const float *gamma, const float *beta,
                                          const float *rn_r, const float *rn_d, int relu,
                                          const bni_bn_act *act, float *dx, size_t lddx,
                                          float *dgamma, float *dbeta, double *work)
{
  scratch s = carve(work, F);
  double *sg = s.d0, *sd = s.d1, *sgd = s.d2;
  const double n = (double)N;
  int mask = BNI_MASK_NONE;

  if (relu) {
    /* The ReLU mask needs the forward's output, hence its residual; when the
     * caller did not keep it, measure it with the forward's own pass, which
     * reproduces it bit for bit (on one thread, as the kernels run). */
    if (!residual) {
      batch_moments(ex, F, N, x, ldx, sg, sgd, sd, s.a);
      for (size_t f = 0; f < F; f++)
        sd[f] += (double)s.a[f] - (double)saved_mean[f];
      residual = sd;
    }
    training_affine(F, saved_invstd, residual, gamma, beta, rn_r, rn_d, s.scale, s.shift);
    mask = BNI_MASK_CENTERED;
  }

  /* One reduction pass: sum g, sum d, sum g*d with d = x - m, in double.
   * sum d is only needed when the residual is not known yet. */
  bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_GRAD_SUMS, .F = F, .N = N, .x = x,
                                         .ldx = ldx, .dy = dy, .lddy = lddy, .m = saved_mean,
                                         .flag = mask, .scale = s.scale, .shift = s.shift,
                                         .s1 = sg, .s2 = residual ? NULL : sd, .s3 = sgd},
                           act));

  for (size_t f = 0; f < F; f++) {
    double r = residual ? residual[f] : sd[f] / n;
    double is = (double)saved_invstd[f];
    double db = sg[f];
    double dg = is * (sgd[f] - r * db);
    if (!isfinite(db) || !isfinite(dg))
      return BN_ERR_NON_FINITE;
    grad_input_constants(&s, f, is, gamma, rn_r, r, n, db, dg);
    sg[f] = db;
    sgd[f] = rn_r ? bni_bn_renorm_dgamma(dg, db, (double)rn_r[f], (double)rn_d[f]) : dg;
  }
  if (dx)
    bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_GRAD_INPUT, .F = F, .N = N,
                                           .x = x, .ldx = ldx, .dy = dy, .lddy = lddy,
                                           .m = saved_mean, .flag = mask, .scale = s.scale,
                                           .shift = s.shift, .a = s.a, .nk = s.nk, .c0 = s.c0,
                                           .out = dx, .ldout = lddx},
                             act));
  for (size_t f = 0; f < F; f++) {
    if (dbeta)
      dbeta[f] = (float)sg[f];
    if (dgamma)
      dgamma[f] = (float)sgd[f];
  }
  return BN_OK;
}

void bni_bn_backward_inference(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                  size_t ldx, const float *dy, size_t lddy, const float *mean,
                                  const float *var, const float *gamma, const float *beta,
                                  float eps, int relu, const bni_bn_act *act, float *dx,
                                  size_t lddx, float *dgamma, float *dbeta, double *work)
{
  scratch s = carve(work, F);
  double *sg = s.d0, *sgd = s.d2;
  int mask = relu ? BNI_MASK_CENTERED : BNI_MASK_NONE;

  inference_affine(F, var, gamma, beta, eps, s.scale, s.shift);
  if (dgamma || dbeta) {
    bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_GRAD_SUMS, .F = F, .N = N,
                                           .x = x, .ldx = ldx, .dy = dy, .lddy = lddy,
                                           .m = mean, .flag = mask, .scale = s.scale,
                                           .shift = s.shift, .s1 = sg, .s3 = sgd},
                             act));
    for (size_t f = 0; f < F; f++) {
      double is = bni_bn_invstd((double)var[f], (double)eps);
      if (dbeta)
        dbeta[f] = (float)sg[f];
      if (dgamma)
        dgamma[f] = (float)(sgd[f] * is);
    }
  }
  /* dx = g * scale: the a row is scale, and no centered term (nk = NULL). */
  if (dx)
    bni_bn_run(ex, with_act(&(bni_bn_pass){.kind = BNI_PASS_GRAD_INPUT, .F = F, .N = N,
                                           .x = x, .ldx = ldx, .dy = dy, .lddy = lddy,
                                           .m = mean, .flag = mask, .scale = s.scale,
                                           .shift = s.shift, .a = s.scale, .out = dx,
                                           .ldout = lddx},
                             act));
}

/* ---- sharded training ------------------------------------------------------ */

bn_status bni_bn_forward_given_moments(const bni_bn_exec *ex, size_t F, size_t N,
                                       const float *x, size_t ldx, const float *gamma,
                                       const float *beta, float eps, int relu,
                                       const bni_bn_renorm *renorm, double count,
                                       const double *mean, const double *m2, float *y,
                                       size_t ldy, float *saved_mean, float *saved_invstd,
                                       double *var, double *residual, double *work)
{
  scratch s = carve(work, F);
  double *v = s.d1, *res = s.d2;
  for (size_t f = 0; f < F; f++) {
    s.m[f] = (float)mean[f];
    res[f] = mean[f] - (double)s.m[f];
    v[f] = m2[f] > 0.0 ? m2[f] / count : 0.0;
  }
  return normalize_with_statistics(ex, F, N, x, ldx, gamma, beta, eps, relu, NULL, renorm, y,
                                   ldy, &s, res, v, saved_mean, saved_invstd, NULL, var, residual);
}

/* The ReLU mask of a training forward rebuilt from its saved constants (r
 * and d NULL without Batch Renormalization). */
static int training_mask(size_t F, int relu, const float *saved_invstd, const double *residual,
                         const float *gamma, const float *beta, const float *r,
                         const float *d, scratch *s)
{
  if (!relu)
    return BNI_MASK_NONE;
  training_affine(F, saved_invstd, residual, gamma, beta, r, d, s->scale, s->shift);
  return BNI_MASK_CENTERED;
}

bn_status bni_bn_backward_sums(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                               size_t ldx, const float *dy, size_t lddy,
                               const float *saved_mean, const float *saved_invstd,
                               const double *residual, const float *gamma, const float *beta,
                               const float *r, const float *d, int relu, double *sum_dy,
                               double *sum_dy_xhat, double *work)
{
  scratch s = carve(work, F);
  double *sg = s.d0, *sgd = s.d2;
  int mask = training_mask(F, relu, saved_invstd, residual, gamma, beta, r, d, &s);
  bni_bn_run(ex, &(bni_bn_pass){.kind = BNI_PASS_GRAD_SUMS, .F = F, .N = N, .x = x,
                                .ldx = ldx, .dy = dy, .lddy = lddy, .m = saved_mean,
                                .flag = mask, .scale = s.scale, .shift = s.shift, .s1 = sg,
                                .s3 = sgd});
  /* sum g*xhat = invstd * sum g*(d - r) with d = x - m. */
  for (size_t f = 0; f < F; f++) {
    sgd[f] = (double)saved_invstd[f] * (sgd[f] - residual[f] * sg[f]);
    if (!isfinite(sg[f]) || !isfinite(sgd[f]))
      return BN_ERR_NON_FINITE;
  }
  for (size_t f = 0; f < F; f++) {
    sum_dy[f] = sg[f];
    sum_dy_xhat[f] = sgd[f];
  }
  return BN_OK;
}

void bni_bn_backward_given_sums(const bni_bn_exec *ex, size_t F, size_t N, const float *x,
                                size_t ldx, const float *dy, size_t lddy,
                                const float *saved_mean, const float *saved_invstd,
                                const double *residual, const float *gamma, const float *beta,
                                const float *r, const float *d, int relu, double count,
                                const double *sum_dy, const double *sum_dy_xhat, float *dx,
                                size_t lddx, double *work)
{
  scratch s = carve(work, F);
  int mask = training_mask(F, relu, saved_invstd, residual, gamma, beta, r, d, &s);
  for (size_t f = 0; f < F; f++)
    grad_input_constants(&s, f, (double)saved_invstd[f], gamma, r, residual[f], count,
                         sum_dy[f], sum_dy_xhat[f]);
  bni_bn_run(ex, &(bni_bn_pass){.kind = BNI_PASS_GRAD_INPUT, .F = F, .N = N, .x = x,
                                .ldx = ldx, .dy = dy, .lddy = lddy, .m = saved_mean,
                                .flag = mask, .scale = s.scale, .shift = s.shift, .a = s.a,
                                .nk = s.nk, .c0 = s.c0, .out = dx, .ldout = lddx});
}

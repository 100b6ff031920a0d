/* Update rules over flat parameter arrays: SGD, momentum, Nesterov, Adam,
 * each with decoupled weight decay, with PyTorch's conventions and
 * arithmetic (float elements, coefficients in double rounded to float; so a
 * run can be compared with torch.optim). docs/math.md, section 9, states
 * the arithmetic; the element loops are in optimizer_loops.inc, one copy
 * per instruction set; this file holds the coefficients and the finiteness
 * bound. */
#include <float.h>
#include <math.h>
#include "mlp_internal.h"
#include "optimizer_loops.h"
#include "../kernels/batchnorm_loops.h"

const bni_opt_loops *bni_opt_loops_select(void)
{
  switch (bni_isa_select()) {
#if defined(__x86_64__) || defined(__i386__)
  case BNI_ISA_AVX512: return &bni_opt_loops_avx512;
  case BNI_ISA_AVX2: return &bni_opt_loops_avx2;
#endif
  default: return &bni_opt_loops_generic;
  }
}

void bni_optimizer_defaults(bni_optimizer *o)
{
  o->kind = BN_MLP_ADAM;
  o->lr = 1e-3;
  o->momentum = 0.9;
  o->beta1 = 0.9;
  o->beta2 = 0.999;
  o->eps = 1e-8;
  o->weight_decay = 0.0;
  o->decay_all = 0;
  o->step = 0;
}

size_t bni_optimizer_moments(int kind)
{
  switch (kind) {
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV:
    return 1;
  case BN_MLP_ADAM:
    return 2;
  default:
    return 0;
  }
}

/* The coefficients of update `step` (1-based), computed in double and each
 * rounded to float once (docs/math.md, section 9). */
static bni_opt_rule make_rule(const bni_optimizer *o, uint64_t step, double decay)
{
  bni_opt_rule r = {o->kind, bni_optimizer_moments(o->kind), (float)(1.0 - o->lr * decay),
                    (float)o->lr, (float)o->momentum, (float)o->beta1, (float)(1.0 - o->beta1),
                    (float)o->beta2, (float)(1.0 - o->beta2), 0.0f, 1.0f};
  if (o->kind == BN_MLP_ADAM) {
    const double t = (double)step, root_c2 = sqrt(1.0 - pow(o->beta2, t));
    r.step = (float)(o->lr / (1.0 - pow(o->beta1, t)) * root_c2);
    const float eps = (float)(o->eps * root_c2);
    r.eps = eps > 0.0f ? eps : FLT_TRUE_MIN; /* a denominator is never 0 */
  }
  return r;
}

/* Whether bounds from the largest magnitudes already prove every new value
 * finite (the usual case: no element pass before the update). Each bound is
 * the rule's expression in double on the magnitudes, with the float
 * coefficients the loops use: every term is then at least the magnitude of
 * the float value it bounds before rounding, each float operation rounds by
 * a factor of at most 1 + 2^-24 (a handful of them per value), and Adam's
 * denominator is at least eps > 0 (a root is >= 0 and rounding is
 * monotone), so a bound below 1e38 keeps every intermediate and result
 * below FLT_MAX. A bound that fails proves nothing: the caller then
 * computes the values (apply, !commit). */
static int bounded(const bni_opt_rule *r, const bni_opt_extent *e)
{
  const double P = e->param, G = e->grad, M1 = e->m1, M2 = e->m2;
  const double kept = P * fabs((double)r->shrink), limit = 1e38;
  const double lr = r->lr, mu = r->mu;
  double p, a = 0.0, b = 0.0;
  switch (r->kind) {
  case BN_MLP_SGD:
    p = kept + lr * G;
    break;
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV:
    a = mu * M1 + G;
    p = kept + lr * (G + a); /* Nesterov's g + mu*v <= G + a (mu <= 1) */
    break;
  case BN_MLP_ADAM:
    a = (double)r->b1 * M1 + (double)r->c1 * G;
    b = (double)r->b2 * M2 + (double)r->c2 * G * G;
    p = kept + (double)r->step * a / (double)r->eps; /* step*m1 <= that too: eps <= 1 */
    break;
  default:
    p = P;
    break;
  }
  return p < limit && a < limit && b < limit;
}

void bni_optimizer_extent(const bni_optimizer *o, const float *param, const float *grad,
                          const float *m1, const float *m2, size_t n, bni_opt_extent *out)
{
  bni_opt_loops_select()->extent(param, grad, m1, m2, bni_optimizer_moments(o->kind), n, out);
}

void bni_optimizer_grad_extent(const float *grad, size_t n, const bni_opt_extent *kept,
                               bni_opt_extent *out)
{
  bni_opt_loops_select()->grad_extent(grad, n, out);
  out->param = kept->param;
  out->m1 = kept->m1;
  out->m2 = kept->m2;
}

int bni_optimizer_stays_finite(const bni_optimizer *o, uint64_t step, const bni_opt_extent *e,
                               const float *param, const float *grad, const float *m1,
                               const float *m2, size_t n, double decay)
{
  const bni_opt_rule r = make_rule(o, step, decay);
  /* apply() does not write when !commit: the casts only share its signature. */
  return bounded(&r, e) || bni_opt_loops_select()->apply(&r, (float *)(uintptr_t)param, grad,
                                                         (float *)(uintptr_t)m1,
                                                         (float *)(uintptr_t)m2, n, 0, NULL);
}

void bni_optimizer_update(const bni_optimizer *o, uint64_t step, float *param,
                          const float *grad, float *m1, float *m2, size_t n, double decay,
                          bni_opt_extent *after)
{
  const bni_opt_rule r = make_rule(o, step, decay);
  bni_opt_loops_select()->apply(&r, param, grad, m1, m2, n, 1, after);
}

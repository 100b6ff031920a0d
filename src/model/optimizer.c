/* Update rules over flat parameter arrays: SGD, momentum, Nesterov, Adam,
 * each with decoupled weight decay. Arithmetic in double, stored in float,
 * with PyTorch's conventions (so a run can be compared with torch.optim).
 * The element loops are in optimizer_loops.inc, one copy per instruction
 * set; this file holds the coefficients and the finiteness bound. */
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

static bni_opt_rule make_rule(const bni_optimizer *o, uint64_t step, double decay)
{
  bni_opt_rule r = {o->kind, bni_optimizer_moments(o->kind), o->lr, 1.0 - o->lr * decay,
                    o->momentum, o->beta1, o->beta2, 0.0, o->eps, 0.0, 0.0};
  if (o->kind == BN_MLP_ADAM) {
    const double t = (double)step;
    r.step_size = o->lr / (1.0 - pow(o->beta1, t));
    const double root_c2 = sqrt(1.0 - pow(o->beta2, t));
    r.scaled_step = r.step_size * root_c2;
    r.scaled_eps = o->eps * root_c2;
  }
  return r;
}

/* Whether bounds from the largest magnitudes already prove every new value
 * finite (the usual case: no element pass before the update). */
static int bounded(const bni_opt_rule *r, const bni_opt_extent *e)
{
  const double P = e->param, G = e->grad, M1 = e->m1, M2 = e->m2;
  const double kept = P * fabs(r->shrink), limit = 1e38; /* below FLT_MAX after rounding */
  double p, a = 0.0, b = 0.0;
  switch (r->kind) {
  case BN_MLP_SGD:
    p = kept + r->lr * G;
    break;
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV:
    a = r->mu * M1 + G;
    p = kept + r->lr * (G + a);
    break;
  case BN_MLP_ADAM:
    a = r->b1 * M1 + (1.0 - r->b1) * G;
    b = r->b2 * M2 + (1.0 - r->b2) * G * G;
    p = kept + r->step_size * a / r->eps; /* denom >= eps */
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

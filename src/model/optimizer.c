/* Update rules over flat parameter arrays: SGD, momentum, Nesterov, Adam,
 * each with decoupled weight decay. Arithmetic in double, stored in float,
 * with PyTorch's conventions (so a run can be compared with torch.optim). */
#include <math.h>
#include "mlp_internal.h"

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

/* The coefficients of one update, shared by every element. */
typedef struct rule {
  int kind;
  double lr, shrink, mu, b1, b2, step_size, root_c2, eps;
} rule;

static rule make_rule(const bni_optimizer *o, uint64_t step, double decay)
{
  rule r = {o->kind, o->lr, 1.0 - o->lr * decay, o->momentum, o->beta1, o->beta2, 0.0, 0.0,
            o->eps};
  if (o->kind == BN_MLP_ADAM) {
    const double t = (double)step;
    r.step_size = o->lr / (1.0 - pow(o->beta1, t));
    r.root_c2 = sqrt(1.0 - pow(o->beta2, t));
  }
  return r;
}

/* The new parameter and moments of one element, as floats (each moment is
 * rounded to float before the parameter uses it, as it is stored). */
static void element(const rule *r, float p, float g32, float m1, float m2, float out[3])
{
  const double g = g32;
  out[1] = m1;
  out[2] = m2;
  switch (r->kind) {
  case BN_MLP_SGD:
    out[0] = (float)((double)p * r->shrink - r->lr * g);
    break;
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV: {
    /* PyTorch starts the buffer at the first gradient; v = mu*0 + g is the same. */
    out[1] = (float)(r->mu * (double)m1 + g);
    double d = r->kind == BN_MLP_NESTEROV ? g + r->mu * (double)out[1] : (double)out[1];
    out[0] = (float)((double)p * r->shrink - r->lr * d);
    break;
  }
  case BN_MLP_ADAM: {
    out[1] = (float)(r->b1 * (double)m1 + (1.0 - r->b1) * g);
    out[2] = (float)(r->b2 * (double)m2 + (1.0 - r->b2) * g * g);
    double denom = sqrt((double)out[2]) / r->root_c2 + r->eps;
    out[0] = (float)((double)p * r->shrink - r->step_size * (double)out[1] / denom);
    break;
  }
  default:
    out[0] = p;
    break;
  }
}

/* Whether one update of n parameters would keep the parameters and the
 * moments finite (a model file cannot hold anything else); writes nothing. */
int bni_optimizer_stays_finite(const bni_optimizer *o, uint64_t step, const float *param,
                               const float *grad, const float *m1, const float *m2, size_t n,
                               double decay)
{
  const rule r = make_rule(o, step, decay);
  const size_t moments = bni_optimizer_moments(o->kind);
  float out[3];
  for (size_t i = 0; i < n; i++) {
    element(&r, param[i], grad[i], moments > 0 ? m1[i] : 0.0f, moments > 1 ? m2[i] : 0.0f, out);
    if (!isfinite(out[0]) || !isfinite(out[1]) || !isfinite(out[2]))
      return 0;
  }
  return 1;
}

/* One update of n parameters; `step` is the 1-based number of this update
 * (Adam's bias correction) and `decay` the decoupled weight decay for this
 * tensor (0 for tensors that are not decayed). */
void bni_optimizer_update(const bni_optimizer *o, uint64_t step, float *param,
                          const float *grad, float *m1, float *m2, size_t n, double decay)
{
  const rule r = make_rule(o, step, decay);
  const size_t moments = bni_optimizer_moments(o->kind);
  float out[3];
  for (size_t i = 0; i < n; i++) {
    element(&r, param[i], grad[i], moments > 0 ? m1[i] : 0.0f, moments > 1 ? m2[i] : 0.0f, out);
    param[i] = out[0];
    if (moments > 0)
      m1[i] = out[1];
    if (moments > 1)
      m2[i] = out[2];
  }
}

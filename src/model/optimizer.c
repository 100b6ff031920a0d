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

/* One update of n parameters; `step` is the 1-based number of this update
 * (Adam's bias correction) and `decay` the decoupled weight decay for this
 * tensor (0 for tensors that are not decayed). */
void bni_optimizer_update(const bni_optimizer *o, uint64_t step, float *param,
                          const float *grad, float *m1, float *m2, size_t n, double decay)
{
  const double lr = o->lr, shrink = 1.0 - o->lr * decay;
  switch (o->kind) {
  case BN_MLP_SGD:
    for (size_t i = 0; i < n; i++)
      param[i] = (float)((double)param[i] * shrink - lr * (double)grad[i]);
    break;
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV: {
    const double mu = o->momentum;
    const int nesterov = o->kind == BN_MLP_NESTEROV;
    for (size_t i = 0; i < n; i++) {
      double g = grad[i];
      /* PyTorch starts the buffer at the first gradient; v = mu*0 + g is the same. */
      double v = mu * (double)m1[i] + g;
      m1[i] = (float)v;
      double d = nesterov ? g + mu * (double)m1[i] : (double)m1[i];
      param[i] = (float)((double)param[i] * shrink - lr * d);
    }
    break;
  }
  case BN_MLP_ADAM: {
    const double b1 = o->beta1, b2 = o->beta2, t = (double)step;
    const double c1 = 1.0 - pow(b1, t), c2 = 1.0 - pow(b2, t);
    const double step_size = lr / c1, root_c2 = sqrt(c2);
    for (size_t i = 0; i < n; i++) {
      double g = grad[i];
      m1[i] = (float)(b1 * (double)m1[i] + (1.0 - b1) * g);
      m2[i] = (float)(b2 * (double)m2[i] + (1.0 - b2) * g * g);
      double denom = sqrt((double)m2[i]) / root_c2 + o->eps;
      param[i] = (float)((double)param[i] * shrink - step_size * (double)m1[i] / denom);
    }
    break;
  }
  default:
    break;
  }
}

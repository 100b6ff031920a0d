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
  size_t moments;
  double lr, shrink, mu, b1, b2, step_size, root_c2, eps;
} rule;

static rule make_rule(const bni_optimizer *o, uint64_t step, double decay)
{
  rule r = {o->kind, bni_optimizer_moments(o->kind), o->lr, 1.0 - o->lr * decay, o->momentum,
            o->beta1, o->beta2, 0.0, 0.0, o->eps};
  if (o->kind == BN_MLP_ADAM) {
    const double t = (double)step;
    r.step_size = o->lr / (1.0 - pow(o->beta1, t));
    r.root_c2 = sqrt(1.0 - pow(o->beta2, t));
  }
  return r;
}

/* One element of each rule. Each moment is rounded to float before the
 * parameter uses it, as it is stored; PyTorch's conventions. */
static inline float sgd(const rule *r, float p, double g)
{
  return (float)((double)p * r->shrink - r->lr * g);
}

static inline float momentum(const rule *r, float p, double g, float *v)
{
  /* PyTorch starts the buffer at the first gradient; v = mu*0 + g is the same. */
  *v = (float)(r->mu * (double)*v + g);
  double d = r->kind == BN_MLP_NESTEROV ? g + r->mu * (double)*v : (double)*v;
  return (float)((double)p * r->shrink - r->lr * d);
}

static inline float adam(const rule *r, float p, double g, float *m1, float *m2)
{
  *m1 = (float)(r->b1 * (double)*m1 + (1.0 - r->b1) * g);
  *m2 = (float)(r->b2 * (double)*m2 + (1.0 - r->b2) * g * g);
  double denom = sqrt((double)*m2) / r->root_c2 + r->eps;
  return (float)((double)p * r->shrink - r->step_size * (double)*m1 / denom);
}

/* Apply the rule to n elements (commit) or only check that every new value
 * would be finite (!commit: nothing is written). Returns 0 when a check
 * fails. Both uses share these loops so they cannot drift apart; the rule is
 * chosen outside the loops so each one vectorizes. */
#define EACH_ELEMENT(new_param)                                                            \
  for (size_t i = 0; i < n; i++) {                                                         \
    float v1 = r->moments > 0 ? m1[i] : 0.0f, v2 = r->moments > 1 ? m2[i] : 0.0f;          \
    const float p = (new_param);                                                           \
    if (!commit) {                                                                         \
      if (!isfinite(p) || !isfinite(v1) || !isfinite(v2))                                  \
        return 0;                                                                          \
      continue;                                                                            \
    }                                                                                      \
    param[i] = p;                                                                          \
    if (r->moments > 0)                                                                    \
      m1[i] = v1;                                                                          \
    if (r->moments > 1)                                                                    \
      m2[i] = v2;                                                                          \
  }

static inline int run(const rule *r, float *param, const float *grad, float *m1, float *m2,
                      size_t n, int commit)
{
  switch (r->kind) {
  case BN_MLP_SGD:
    EACH_ELEMENT(sgd(r, param[i], grad[i]));
    break;
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV:
    EACH_ELEMENT(momentum(r, param[i], grad[i], &v1));
    break;
  case BN_MLP_ADAM:
    EACH_ELEMENT(adam(r, param[i], grad[i], &v1, &v2));
    break;
  default:
    break;
  }
  return 1;
}
#undef EACH_ELEMENT

static float max_abs(const float *v, size_t n)
{
  float most = 0.0f;
  for (size_t i = 0; i < n; i++) {
    float a = fabsf(v[i]);
    most = a > most ? a : most;
  }
  return most;
}

/* Whether bounds from the largest magnitudes already prove every new value
 * finite (the usual case: one cheap pass instead of the rule twice). */
static int bounded(const rule *r, const float *param, const float *grad, const float *m1,
                   const float *m2, size_t n)
{
  const double P = max_abs(param, n), G = max_abs(grad, n);
  const double M1 = r->moments > 0 ? max_abs(m1, n) : 0.0, M2 = r->moments > 1 ? max_abs(m2, n) : 0.0;
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

int bni_optimizer_stays_finite(const bni_optimizer *o, uint64_t step, const float *param,
                               const float *grad, const float *m1, const float *m2, size_t n,
                               double decay)
{
  const rule r = make_rule(o, step, decay);
  /* run() does not write when !commit: the casts only share its signature. */
  return bounded(&r, param, grad, m1, m2, n) ||
         run(&r, (float *)param, grad, (float *)m1, (float *)m2, n, 0);
}

/* One update of n parameters; `step` is the 1-based number of this update
 * (Adam's bias correction) and `decay` the decoupled weight decay for this
 * tensor (0 for tensors that are not decayed). */
void bni_optimizer_update(const bni_optimizer *o, uint64_t step, float *param,
                          const float *grad, float *m1, float *m2, size_t n, double decay)
{
  const rule r = make_rule(o, step, decay);
  run(&r, param, grad, m1, m2, n, 1);
}

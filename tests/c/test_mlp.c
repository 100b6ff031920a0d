/* The MLP handle: one training step against a float64 reference written
 * here (forward, loss, every gradient, the update) for SGD, momentum,
 * Nesterov and Adam with every BatchNorm placement and both heads;
 * convergence on a synthetic problem; fit's shuffling, callbacks and
 * determinism; folding and population statistics. Hostile inputs are in
 * test_mlp_hostile.c, model files in test_model_file.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/bn.h>
#include <bn/mlp.h>
#include "testing.h"

/* ---- float64 reference ---------------------------------------------------- */

/* Mean and biased variance of row f of x (F x n, leading dimension F), in
 * two passes. */
static void row_moments(const float *x, size_t F, size_t n, size_t f, double *mean,
                        double *var)
{
  double mu = 0, v = 0;
  for (size_t j = 0; j < n; j++)
    mu += x[f + j * F];
  mu /= (double)n;
  for (size_t j = 0; j < n; j++)
    v += (x[f + j * F] - mu) * (x[f + j * F] - mu);
  *mean = mu;
  *var = v / (double)n;
}

#define MAXL 3
#define MAXF 8
#define MAXN 16

/* BN j: 0 input, k+1 hidden k, L+1 the head's (BN_MLP_HEAD_BATCHNORM). */
#define MAXBN (MAXL + 2)

typedef struct ref {
  size_t I, L, C, w[MAXL + 2];
  int input_bn, placement, head, head_bn, standardize, renorm;
  double rmax, dmax; /* renorm limits (the schedule's 1 and 0 in its first 5000 steps) */
  bn_activation act;
  double alpha, eps, factor;
  /* the standardizer's mean and scale, computed by the test from its data */
  double smean[MAXF], sscale[MAXF];
  int has_b[MAXL + 1], has_bn[MAXBN]; /* dense k; BN j */
  double W[MAXL + 1][MAXF * MAXF], b[MAXL + 1][MAXF];
  double g[MAXBN][MAXF], be[MAXBN][MAXF], rm[MAXBN][MAXF], rv[MAXBN][MAXF];
  double dW[MAXL + 1][MAXF * MAXF], db[MAXL + 1][MAXF], dg[MAXBN][MAXF], dbe[MAXBN][MAXF];
  /* optimizer state, one slot per tensor: [kind][index][element] */
  double m1[4][MAXBN][MAXF * MAXF], m2[4][MAXBN][MAXF * MAXF];
  /* forward caches */
  double A[MAXL + 2][MAXF * MAXN], Z[MAXL + 1][MAXF * MAXN], H[MAXL + 1][MAXF * MAXN];
  /* xhat of the batch statistics alone; renorm's r and d (1 and 0 without) */
  double xhat[MAXBN][MAXF * MAXN], invstd[MAXBN][MAXF], rr[MAXBN][MAXF], dd[MAXBN][MAXF];
  double loss;
} ref;

static void get_tensor(const bn_mlp *m, size_t layer, bn_mlp_tensor t, double *out, size_t n)
{
  float buf[MAXF * MAXF];
  assert_int_equal(bn_mlp_get(m, layer, t, buf, n), BN_OK);
  for (size_t i = 0; i < n; i++)
    out[i] = buf[i];
}

/* Read the architecture and every parameter and statistic of the model. */
static void ref_load(ref *r, const bn_mlp *m)
{
  size_t hidden[MAXL];
  bn_mlp_placement pl;
  bn_mlp_head head;
  unsigned flags;
  assert_int_equal(bn_mlp_architecture(m, &r->I, &r->L, &r->C, &r->act, &pl, &head, &flags),
                   BN_OK);
  assert_int_equal(bn_mlp_hidden_sizes(m, hidden, r->L), BN_OK);
  r->placement = (int)pl;
  r->head = (int)head;
  r->input_bn = (flags & BN_MLP_INPUT_BATCHNORM) != 0;
  r->head_bn = (flags & BN_MLP_HEAD_BATCHNORM) != 0;
  r->standardize = (flags & BN_MLP_STANDARDIZE) != 0;
  r->renorm = (flags & BN_MLP_RENORM) != 0;
  r->w[0] = r->I;
  for (size_t k = 0; k < r->L; k++)
    r->w[k + 1] = hidden[k];
  r->w[r->L + 1] = r->C;
  double v;
  bn_mlp_get_parameter(m, BN_MLP_ELU_ALPHA, &v);
  r->alpha = v;
  bn_mlp_get_parameter(m, BN_MLP_BN_EPSILON, &v);
  r->eps = v;
  bn_mlp_get_parameter(m, BN_MLP_BN_UPDATE_FACTOR, &v);
  r->factor = v;
  double schedule;
  bn_mlp_get_parameter(m, BN_MLP_RENORM_SCHEDULE, &schedule);
  bn_mlp_get_parameter(m, BN_MLP_RENORM_RMAX, &r->rmax);
  bn_mlp_get_parameter(m, BN_MLP_RENORM_DMAX, &r->dmax);
  if (schedule != 0.0)
    r->rmax = 1.0, r->dmax = 0.0;
  for (size_t k = 0; k <= r->L; k++) {
    r->has_b[k] = k == r->L ? !r->head_bn : pl != BN_MLP_BN_BEFORE;
    get_tensor(m, k + 1, BN_MLP_WEIGHT, r->W[k], r->w[k] * r->w[k + 1]);
    if (r->has_b[k])
      get_tensor(m, k + 1, BN_MLP_BIAS, r->b[k], r->w[k + 1]);
    else
      memset(r->b[k], 0, sizeof r->b[k]);
  }
  for (size_t j = 0; j <= r->L + 1; j++) {
    r->has_bn[j] = j == 0 ? r->input_bn : j == r->L + 1 ? r->head_bn : pl != BN_MLP_BN_NONE;
    if (!r->has_bn[j])
      continue;
    size_t F = r->w[j];
    get_tensor(m, j, BN_MLP_GAMMA, r->g[j], F);
    get_tensor(m, j, BN_MLP_BETA, r->be[j], F);
    get_tensor(m, j, BN_MLP_RUNNING_MEAN, r->rm[j], F);
    get_tensor(m, j, BN_MLP_RUNNING_VAR, r->rv[j], F);
  }
}

static double act_f(const ref *r, double x)
{
  switch (r->act) {
  case BN_ACT_RELU: return x > 0 ? x : 0;
  case BN_ACT_ELU: return x > 0 ? x : r->alpha * (exp(x) - 1);
  case BN_ACT_SIGMOID: return 1 / (1 + exp(-x));
  case BN_ACT_TANH: return tanh(x);
  default: return x;
  }
}

static double act_d(const ref *r, double y) /* derivative from the output */
{
  switch (r->act) {
  case BN_ACT_RELU: return y > 0 ? 1 : 0;
  case BN_ACT_ELU: return y > 0 ? 1 : y + r->alpha;
  case BN_ACT_SIGMOID: return y * (1 - y);
  case BN_ACT_TANH: return 1 - y * y;
  default: return 1;
  }
}

/* Training-mode BatchNorm j in place on v (F x N). */
static void bn_fwd(ref *r, size_t j, double *v, size_t F, size_t N)
{
  for (size_t f = 0; f < F; f++) {
    double mean = 0, var = 0;
    for (size_t n = 0; n < N; n++)
      mean += v[f + n * F];
    mean /= (double)N;
    for (size_t n = 0; n < N; n++)
      var += (v[f + n * F] - mean) * (v[f + n * F] - mean);
    var /= (double)N;
    r->invstd[j][f] = 1 / sqrt(var + r->eps);
    /* Batch Renormalization: r and d from the running statistics before
     * this batch updates them */
    const double sigma = sqrt(r->rv[j][f] + r->eps);
    r->rr[j][f] = r->renorm ? fmin(fmax(sqrt(var + r->eps) / sigma, 1 / r->rmax), r->rmax) : 1;
    r->dd[j][f] = r->renorm ? fmin(fmax((mean - r->rm[j][f]) / sigma, -r->dmax), r->dmax) : 0;
    for (size_t n = 0; n < N; n++) {
      double xh = (v[f + n * F] - mean) * r->invstd[j][f];
      r->xhat[j][f + n * F] = xh;
      v[f + n * F] = r->g[j][f] * (xh * r->rr[j][f] + r->dd[j][f]) + r->be[j][f];
    }
    r->rm[j][f] = (1 - r->factor) * r->rm[j][f] + r->factor * mean;
    r->rv[j][f] = (1 - r->factor) * r->rv[j][f] + r->factor * var * (double)N / (double)(N - 1);
  }
}

static void bn_bwd(ref *r, size_t j, double *d, size_t F, size_t N)
{
  for (size_t f = 0; f < F; f++) {
    double sdy = 0, sdyx = 0;
    for (size_t n = 0; n < N; n++) {
      sdy += d[f + n * F];
      sdyx += d[f + n * F] * r->xhat[j][f + n * F];
    }
    r->dbe[j][f] = sdy;
    r->dg[j][f] = r->rr[j][f] * sdyx + r->dd[j][f] * sdy;
    double k = r->g[j][f] * r->rr[j][f] * r->invstd[j][f] / (double)N;
    for (size_t n = 0; n < N; n++)
      d[f + n * F] = k * ((double)N * d[f + n * F] - sdy - r->xhat[j][f + n * F] * sdyx);
  }
}

/* Forward, loss and backward of one batch (x: I x N with leading dimension ldx). */
static void ref_step(ref *r, size_t N, const float *x, size_t ldx, const int32_t *labels,
                     const float *targets)
{
  const size_t I = r->I, L = r->L, C = r->C;
  for (size_t n = 0; n < N; n++)
    for (size_t f = 0; f < I; f++)
      r->A[0][f + n * I] = r->standardize ? ((double)x[f + n * ldx] - r->smean[f]) / r->sscale[f]
                                          : x[f + n * ldx];
  if (r->input_bn)
    bn_fwd(r, 0, r->A[0], I, N);
  for (size_t k = 0; k <= L; k++) {
    const size_t in = r->w[k], out = r->w[k + 1];
    double *z = r->Z[k];
    for (size_t n = 0; n < N; n++)
      for (size_t o = 0; o < out; o++) {
        double s = r->b[k][o];
        for (size_t i = 0; i < in; i++)
          s += r->W[k][o * in + i] * r->A[k][i + n * in];
        z[o + n * out] = s;
      }
    if (k == L) {
      if (r->head_bn) /* the logits are the BatchNorm's output */
        bn_fwd(r, L + 1, z, out, N);
      break;
    }
    double *h = r->H[k], *a = r->A[k + 1];
    memcpy(h, z, out * N * sizeof *h);
    if (r->placement == BN_MLP_BN_BEFORE)
      bn_fwd(r, k + 1, h, out, N);
    for (size_t e = 0; e < out * N; e++)
      h[e] = act_f(r, h[e]);
    memcpy(a, h, out * N * sizeof *a);
    if (r->placement == BN_MLP_BN_AFTER)
      bn_fwd(r, k + 1, a, out, N);
  }
  /* loss and dlogits */
  double d[MAXF * MAXN], dprev[MAXF * MAXN];
  const double *z = r->Z[L];
  r->loss = 0;
  for (size_t n = 0; n < N; n++) {
    if (r->head == BN_MLP_HEAD_SOFTMAX) {
      double mx = -INFINITY, s = 0;
      for (size_t c = 0; c < C; c++)
        mx = fmax(mx, z[c + n * C]);
      for (size_t c = 0; c < C; c++)
        s += exp(z[c + n * C] - mx);
      double lse = mx + log(s);
      r->loss += (lse - z[(size_t)labels[n] + n * C]) / (double)N;
      for (size_t c = 0; c < C; c++)
        d[c + n * C] = (exp(z[c + n * C] - lse) - (c == (size_t)labels[n])) / (double)N;
    } else {
      for (size_t c = 0; c < C; c++) {
        double zz = z[c + n * C], t = targets[c + n * C];
        r->loss += (fmax(zz, 0) - zz * t + log1p(exp(-fabs(zz)))) / (double)(N * C);
        d[c + n * C] = (1 / (1 + exp(-zz)) - t) / (double)(N * C);
      }
    }
  }
  if (r->head_bn)
    bn_bwd(r, L + 1, d, C, N);
  for (size_t k = L + 1; k-- > 0;) {
    const size_t in = r->w[k], out = r->w[k + 1];
    for (size_t o = 0; o < out; o++) {
      double sb = 0;
      for (size_t n = 0; n < N; n++)
        sb += d[o + n * out];
      r->db[k][o] = sb;
      for (size_t i = 0; i < in; i++) {
        double s = 0;
        for (size_t n = 0; n < N; n++)
          s += d[o + n * out] * r->A[k][i + n * in];
        r->dW[k][o * in + i] = s;
      }
    }
    for (size_t n = 0; n < N; n++)
      for (size_t i = 0; i < in; i++) {
        double s = 0;
        for (size_t o = 0; o < out; o++)
          s += r->W[k][o * in + i] * d[o + n * out];
        dprev[i + n * in] = s;
      }
    memcpy(d, dprev, in * N * sizeof *d);
    if (k == 0) {
      if (r->input_bn)
        bn_bwd(r, 0, d, in, N);
      break;
    }
    const double *h = r->H[k - 1];
    if (r->placement == BN_MLP_BN_AFTER)
      bn_bwd(r, k, d, in, N);
    for (size_t e = 0; e < in * N; e++)
      d[e] *= act_d(r, h[e]);
    if (r->placement == BN_MLP_BN_BEFORE)
      bn_bwd(r, k, d, in, N);
  }
}

typedef struct opt_cfg {
  int kind;
  double lr, mu, b1, b2, eps, wd;
} opt_cfg;

static void update(const opt_cfg *o, uint64_t t, double *p, const double *g, double *m1,
                   double *m2, size_t n, double decay)
{
  for (size_t i = 0; i < n; i++) {
    double step;
    if (o->kind == BN_MLP_SGD) {
      step = g[i];
    } else if (o->kind == BN_MLP_ADAM) {
      m1[i] = o->b1 * m1[i] + (1 - o->b1) * g[i];
      m2[i] = o->b2 * m2[i] + (1 - o->b2) * g[i] * g[i];
      double mh = m1[i] / (1 - pow(o->b1, (double)t)), vh = m2[i] / (1 - pow(o->b2, (double)t));
      step = mh / (sqrt(vh) + o->eps);
    } else {
      m1[i] = o->mu * m1[i] + g[i];
      step = o->kind == BN_MLP_NESTEROV ? g[i] + o->mu * m1[i] : m1[i];
    }
    p[i] = p[i] - o->lr * decay * p[i] - o->lr * step;
  }
}

static void ref_update(ref *r, const opt_cfg *o, uint64_t t)
{
  for (size_t k = 0; k <= r->L; k++) {
    size_t out = r->w[k + 1];
    update(o, t, r->W[k], r->dW[k], r->m1[0][k], r->m2[0][k], r->w[k] * out, o->wd);
    if (r->has_b[k])
      update(o, t, r->b[k], r->db[k], r->m1[1][k], r->m2[1][k], out, 0);
  }
  for (size_t j = 0; j <= r->L + 1; j++)
    if (r->has_bn[j]) {
      update(o, t, r->g[j], r->dg[j], r->m1[2][j], r->m2[2][j], r->w[j], 0);
      update(o, t, r->be[j], r->dbe[j], r->m1[3][j], r->m2[3][j], r->w[j], 0);
    }
}

/* max |model - ref| / (atol + rtol * max|ref|) over a tensor. */
static double tensor_err(const bn_mlp *m, size_t layer, bn_mlp_tensor t, const double *want,
                         size_t n, double atol, double rtol)
{
  float buf[MAXF * MAXF];
  assert_int_equal(bn_mlp_get(m, layer, t, buf, n), BN_OK);
  double scale = 0, worst = 0;
  for (size_t i = 0; i < n; i++)
    scale = fmax(scale, fabs(want[i]));
  for (size_t i = 0; i < n; i++) {
    double e = fabs((double)buf[i] - want[i]) / (atol + rtol * scale);
    if (!(e <= worst))
      worst = isnan(e) ? INFINITY : e;
  }
  return worst;
}

static void assert_tensor(const bn_mlp *m, size_t layer, bn_mlp_tensor t, const double *want,
                          size_t n, double atol, double rtol, const char *what)
{
  double e = tensor_err(m, layer, t, want, n, atol, rtol);
  if (!(e <= 1.0))
    fail_msg("%s of layer %zu (tensor %d): error %.3g times the tolerance", what, layer, (int)t,
             e);
}

/* Compare gradients (before the update is applied by the reference). */
static void check_grads(const bn_mlp *m, const ref *r)
{
  for (size_t k = 0; k <= r->L; k++) {
    assert_tensor(m, k + 1, BN_MLP_DWEIGHT, r->dW[k], r->w[k] * r->w[k + 1], 1e-7, 2e-4, "dW");
    if (r->has_b[k])
      assert_tensor(m, k + 1, BN_MLP_DBIAS, r->db[k], r->w[k + 1], 1e-7, 2e-4, "db");
  }
  for (size_t j = 0; j <= r->L + 1; j++)
    if (r->has_bn[j]) {
      assert_tensor(m, j, BN_MLP_DGAMMA, r->dg[j], r->w[j], 1e-7, 2e-4, "dgamma");
      assert_tensor(m, j, BN_MLP_DBETA, r->dbe[j], r->w[j], 1e-7, 2e-4, "dbeta");
    }
}

static void check_params(const bn_mlp *m, const ref *r, double atol)
{
  for (size_t k = 0; k <= r->L; k++) {
    assert_tensor(m, k + 1, BN_MLP_WEIGHT, r->W[k], r->w[k] * r->w[k + 1], atol, 1e-6, "W");
    if (r->has_b[k])
      assert_tensor(m, k + 1, BN_MLP_BIAS, r->b[k], r->w[k + 1], atol, 1e-6, "b");
  }
  for (size_t j = 0; j <= r->L + 1; j++)
    if (r->has_bn[j]) {
      assert_tensor(m, j, BN_MLP_GAMMA, r->g[j], r->w[j], atol, 1e-6, "gamma");
      assert_tensor(m, j, BN_MLP_BETA, r->be[j], r->w[j], atol, 1e-6, "beta");
      assert_tensor(m, j, BN_MLP_RUNNING_MEAN, r->rm[j], r->w[j], 1e-6, 1e-5, "running mean");
      assert_tensor(m, j, BN_MLP_RUNNING_VAR, r->rv[j], r->w[j], 1e-6, 1e-5, "running var");
    }
}

/* Random values into every parameter the model has, so that gamma, beta and
 * biases are not at their trivial initial values. */
static void randomize(bn_mlp *m, test_rng *g)
{
  ref r;
  ref_load(&r, m);
  float buf[MAXF * MAXF];
  for (size_t k = 0; k <= r.L; k++) {
    size_t n = r.w[k] * r.w[k + 1];
    for (size_t i = 0; i < n; i++)
      buf[i] = (float)(test_rng_normal(g) / sqrt((double)r.w[k]));
    assert_int_equal(bn_mlp_set(m, k + 1, BN_MLP_WEIGHT, buf, n), BN_OK);
    if (r.has_b[k]) {
      for (size_t i = 0; i < r.w[k + 1]; i++)
        buf[i] = (float)(0.3 * test_rng_normal(g));
      assert_int_equal(bn_mlp_set(m, k + 1, BN_MLP_BIAS, buf, r.w[k + 1]), BN_OK);
    }
  }
  for (size_t j = 0; j <= r.L + 1; j++)
    if (r.has_bn[j]) {
      for (size_t i = 0; i < r.w[j]; i++)
        buf[i] = (float)(1 + 0.3 * test_rng_normal(g));
      assert_int_equal(bn_mlp_set(m, j, BN_MLP_GAMMA, buf, r.w[j]), BN_OK);
      for (size_t i = 0; i < r.w[j]; i++)
        buf[i] = (float)(0.3 * test_rng_normal(g));
      assert_int_equal(bn_mlp_set(m, j, BN_MLP_BETA, buf, r.w[j]), BN_OK);
    }
}

typedef struct step_case {
  bn_mlp_placement placement;
  unsigned flags;
  bn_activation act;
  bn_mlp_head head;
  opt_cfg opt;
  int steps;
} step_case;

/* Fit the network's standardizer on data of its own (features of different
 * means and spreads) in two partial fits, and give the reference the mean
 * and population standard deviation of that data computed here. */
static void fit_standardizer(bn_mlp *m, test_rng *g, ref *r, size_t I)
{
  enum { D = 30, FIRST = 12 };
  float data[MAXF * D];
  test_fill(g, data, I, D, I, 0.5, 1.0);
  for (size_t n = 0; n < D; n++)
    for (size_t f = 0; f < I; f++)
      data[f + n * I] = data[f + n * I] * (float)(1 + f) + 3.0f * (float)f;
  assert_int_equal(bn_mlp_partial_fit_standardizer(m, FIRST, data, I), BN_OK);
  assert_int_equal(bn_mlp_partial_fit_standardizer(m, D - FIRST, data + FIRST * I, I), BN_OK);
  for (size_t f = 0; f < I; f++) {
    double var;
    row_moments(data, I, D, f, &r->smean[f], &var);
    r->sscale[f] = sqrt(var);
  }
}

/* tiny_input_gamma: the input BatchNorm's gamma at 0 and near it. */
static void run_case(const step_case *c, int tiny_input_gamma)
{
  const size_t I = 5, hidden[2] = {6, 4}, N = 8, LDX = 7;
  const size_t C = c->head == BN_MLP_HEAD_SOFTMAX ? 3 : 1;
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 2, C, c->act, c->placement, c->head, c->flags),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, 7);
  assert_int_equal(bn_mlp_init(m, BN_INIT_GLOROT_NORMAL, &rng), BN_OK);
  test_rng g = {42};
  randomize(m, &g);
  if (tiny_input_gamma) {
    const float tiny[5] = {0.0f, 1e-7f, 1.2f, -1e-30f, -0.8f};
    assert_int_equal(bn_mlp_set(m, 0, BN_MLP_GAMMA, tiny, I), BN_OK);
  }
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, c->opt.kind), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, c->opt.lr), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_MOMENTUM_COEF, c->opt.mu), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, c->opt.wd), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_ELU_ALPHA, 0.7), BN_OK);
  if (c->flags & BN_MLP_RENORM) { /* the first case fixed, the second scheduled */
    const int fixed = c->placement == BN_MLP_BN_BEFORE;
    assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_SCHEDULE, fixed ? 0 : 1), BN_OK);
    assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, 1.1), BN_OK);
    assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_DMAX, 0.05), BN_OK);
  }
  opt_cfg o = c->opt;
  o.b1 = 0.9, o.b2 = 0.999, o.eps = 1e-8;

  static ref r; /* large: keep off the stack */
  memset(&r, 0, sizeof r);
  if (c->flags & BN_MLP_STANDARDIZE)
    fit_standardizer(m, &g, &r, I);
  for (int s = 0; s < c->steps; s++) {
    float x[LDX * N], targets[N];
    int32_t labels[N];
    test_fill(&g, x, I, N, LDX, 0.5, 1.0);
    for (size_t n = 0; n < N; n++) {
      labels[n] = (int32_t)(test_rng_next(&g) % C);
      targets[n] = (float)test_rng_uniform(&g);
    }
    const int32_t *lab = c->head == BN_MLP_HEAD_SOFTMAX ? labels : NULL;
    const float *tgt = c->head == BN_MLP_HEAD_SOFTMAX ? NULL : targets;
    ref_load(&r, m); /* the model's current parameters; the reference keeps its own moments */
    ref_step(&r, N, x, LDX, lab, tgt);
    float loss = -1;
    assert_int_equal(bn_mlp_train_step(m, N, x, LDX, lab, tgt, &loss), BN_OK);
    if (!(fabs(loss - r.loss) <= 1e-5 * (1e-7 + fabs(r.loss))))
      fail_msg("loss %.9g, reference %.9g", (double)loss, r.loss);
    check_grads(m, &r);
    ref_update(&r, &o, (uint64_t)s + 1);
    check_params(m, &r, 1e-6);
    double steps;
    bn_mlp_get_parameter(m, BN_MLP_STEP, &steps);
    assert_true(steps == s + 1);
  }
  bn_mlp_destroy(m);
}

static void run_step_case(const step_case *c)
{
  run_case(c, 0);
}

static void test_step_sgd(void **state)
{
  (void)state;
  step_case c = {BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_ACT_RELU, BN_MLP_HEAD_SOFTMAX,
                 {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0.05}, 2};
  run_step_case(&c);
}

static void test_step_momentum(void **state)
{
  (void)state;
  step_case c = {BN_MLP_BN_AFTER, 0, BN_ACT_ELU, BN_MLP_HEAD_SOFTMAX,
                 {BN_MLP_MOMENTUM, 0.05, 0.9, 0, 0, 0, 0.01}, 3};
  run_step_case(&c);
}

static void test_step_nesterov(void **state)
{
  (void)state;
  step_case c = {BN_MLP_BN_NONE, BN_MLP_INPUT_BATCHNORM, BN_ACT_SIGMOID, BN_MLP_HEAD_SOFTMAX,
                 {BN_MLP_NESTEROV, 0.05, 0.8, 0, 0, 0, 0}, 3};
  run_step_case(&c);
}

static void test_step_adam(void **state)
{
  (void)state;
  /* Not BEFORE with the input BatchNorm: there the input beta's gradient is
   * zero in exact arithmetic (the next BatchNorm removes any shift), so its
   * float value is rounding noise that Adam's normalization turns into a
   * full-size step of either sign. */
  step_case c = {BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_ACT_TANH, BN_MLP_HEAD_SOFTMAX,
                 {BN_MLP_ADAM, 1e-3, 0, 0, 0, 0, 0.01}, 3};
  run_step_case(&c);
  step_case d = {BN_MLP_BN_BEFORE, 0, BN_ACT_TANH, BN_MLP_HEAD_SOFTMAX,
                 {BN_MLP_ADAM, 1e-3, 0, 0, 0, 0, 0}, 3};
  run_step_case(&d);
}

static void test_step_sigmoid_head(void **state)
{
  (void)state;
  step_case c = {BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_ACT_RELU, BN_MLP_HEAD_SIGMOID,
                 {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0}, 2};
  run_step_case(&c);
  step_case d = {BN_MLP_BN_AFTER, 0, BN_ACT_ELU, BN_MLP_HEAD_SIGMOID,
                 {BN_MLP_ADAM, 1e-3, 0, 0, 0, 0, 0}, 2};
  run_step_case(&d);
}

/* The input BatchNorm's gradients come from the first dense layer's weight
 * gradient (docs/math.md section 8), not from a backward through it: with
 * gamma at and near 0 they must still match the reference's direct
 * backward, with the dense layer after it with and without a bias. */
static void test_step_input_batchnorm_tiny_gamma(void **state)
{
  (void)state;
  const step_case cases[] = {
    {BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_ACT_RELU, BN_MLP_HEAD_SOFTMAX,
     {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0}, 2},
    {BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_ACT_TANH, BN_MLP_HEAD_SOFTMAX,
     {BN_MLP_MOMENTUM, 0.05, 0.9, 0, 0, 0, 0}, 2},
    {BN_MLP_BN_NONE, BN_MLP_INPUT_BATCHNORM | BN_MLP_STANDARDIZE, BN_ACT_ELU,
     BN_MLP_HEAD_SIGMOID, {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0}, 2},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    run_case(&cases[k], 1);
}

/* BatchNorm on the head: dense (no bias) -> BatchNorm -> softmax/sigmoid,
 * with a standardizer stage in front (alone and with the input BatchNorm). */
static void test_step_head_batchnorm_and_standardizer(void **state)
{
  (void)state;
  const step_case cases[] = {
    {BN_MLP_BN_BEFORE, BN_MLP_HEAD_BATCHNORM, BN_ACT_RELU, BN_MLP_HEAD_SOFTMAX,
     {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0.01}, 3},
    {BN_MLP_BN_AFTER, BN_MLP_HEAD_BATCHNORM | BN_MLP_STANDARDIZE, BN_ACT_ELU,
     BN_MLP_HEAD_SIGMOID, {BN_MLP_MOMENTUM, 0.05, 0.9, 0, 0, 0, 0}, 3},
    {BN_MLP_BN_NONE, BN_MLP_HEAD_BATCHNORM | BN_MLP_INPUT_BATCHNORM, BN_ACT_TANH,
     BN_MLP_HEAD_SOFTMAX, {BN_MLP_ADAM, 1e-3, 0, 0, 0, 0, 0}, 3},
    {BN_MLP_BN_BEFORE, BN_MLP_STANDARDIZE | BN_MLP_INPUT_BATCHNORM, BN_ACT_SIGMOID,
     BN_MLP_HEAD_SOFTMAX, {BN_MLP_NESTEROV, 0.05, 0.8, 0, 0, 0, 0}, 2},
    {BN_MLP_BN_NONE, BN_MLP_STANDARDIZE, BN_ACT_RELU, BN_MLP_HEAD_SIGMOID,
     {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0}, 2},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    run_step_case(&cases[k]);
}

/* Batch Renormalization in every BatchNorm, with fixed limits small enough
 * that r and d are clipped, and with the schedule (r = 1, d = 0 in its first
 * 5000 steps). */
static void test_step_renorm(void **state)
{
  (void)state;
  const step_case cases[] = {
    {BN_MLP_BN_BEFORE, BN_MLP_RENORM | BN_MLP_INPUT_BATCHNORM, BN_ACT_RELU, BN_MLP_HEAD_SOFTMAX,
     {BN_MLP_SGD, 0.1, 0, 0, 0, 0, 0}, 4},
    {BN_MLP_BN_AFTER, BN_MLP_RENORM | BN_MLP_HEAD_BATCHNORM, BN_ACT_TANH, BN_MLP_HEAD_SIGMOID,
     {BN_MLP_MOMENTUM, 0.05, 0.9, 0, 0, 0, 0}, 4},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++)
    run_step_case(&cases[k]);
}

/* ---- a synthetic problem ------------------------------------------------- */

#define SYN_N 600
#define SYN_I 6

/* Three classes on concentric shells in the first two coordinates, offset
 * and scaled like raw features (mean 3, scale 4), plus four noise features:
 * not linearly separable. Targets: class 1 vs the rest. */
static void synthetic(float *x, int32_t *labels, float *targets, uint64_t seed)
{
  test_rng g = {seed};
  for (size_t n = 0; n < SYN_N; n++) {
    int32_t c = (int32_t)(n % 3);
    double radius = 1.0 + (double)c + 0.15 * test_rng_normal(&g);
    double angle = 6.283185307179586 * test_rng_uniform(&g);
    x[0 + n * SYN_I] = (float)(3 + 4 * radius * cos(angle));
    x[1 + n * SYN_I] = (float)(3 + 4 * radius * sin(angle));
    for (size_t f = 2; f < SYN_I; f++)
      x[f + n * SYN_I] = (float)(0.5 * test_rng_normal(&g));
    labels[n] = c;
    targets[n] = c == 1 ? 1.0f : 0.0f;
  }
}

typedef struct history {
  size_t epochs;
  float loss[200], accuracy[200];
  size_t batches;
  size_t stop_at;
} history;

static int on_epoch(void *user, size_t epoch, float loss, float accuracy, double seconds)
{
  history *h = user;
  assert_true(epoch == h->epochs + 1);
  assert_true(seconds >= 0.0);
  h->loss[h->epochs] = loss;
  h->accuracy[h->epochs] = accuracy;
  h->epochs++;
  return h->stop_at && epoch >= h->stop_at;
}

static int on_batch(void *user, size_t epoch, size_t done, size_t total, float loss,
                    float accuracy)
{
  history *h = user;
  (void)epoch;
  assert_true(done <= total);
  assert_true(isfinite(loss) && accuracy >= 0.0f && accuracy <= 1.0f);
  h->batches++;
  return 0;
}

static bn_mlp *make_net(bn_mlp_placement placement, unsigned flags, bn_mlp_head head,
                        uint64_t seed)
{
  const size_t hidden[2] = {24, 16};
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, SYN_I, hidden, 2, head == BN_MLP_HEAD_SOFTMAX ? 3 : 1,
                                 BN_ACT_RELU, placement, head, flags),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, seed);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0.01), BN_OK);
  return m;
}

static void converge(bn_mlp_placement placement, unsigned flags, bn_mlp_head head)
{
  static float x[SYN_N * SYN_I], targets[SYN_N];
  static int32_t labels[SYN_N];
  synthetic(x, labels, targets, 11);
  bn_mlp *m = make_net(placement, flags, head, 3);
  const int32_t *lab = head == BN_MLP_HEAD_SOFTMAX ? labels : NULL;
  const float *tgt = head == BN_MLP_HEAD_SOFTMAX ? NULL : targets;
  history h = {0};
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 5);
  assert_int_equal(bn_mlp_set_batch_callback(m, on_batch), BN_OK);
  assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, lab, tgt, 32, 60, &shuffle, on_epoch, &h),
                   BN_OK);
  assert_int_equal(h.epochs, 60);
  assert_int_equal(h.batches, 60 * ((SYN_N + 31) / 32));
  assert_true(h.loss[59] < h.loss[0]);
  float loss, accuracy;
  assert_int_equal(bn_mlp_evaluate(m, SYN_N, x, SYN_I, lab, tgt, &loss, &accuracy), BN_OK);
  if (!(loss < 0.15f && accuracy > 0.95f))
    fail_msg("placement %d flags %u head %d: loss %.4f accuracy %.4f", (int)placement, flags,
             (int)head, (double)loss, (double)accuracy);
  /* A fresh sample of the same problem: the model generalizes. */
  static float x2[SYN_N * SYN_I], t2[SYN_N];
  static int32_t l2[SYN_N];
  synthetic(x2, l2, t2, 99);
  assert_int_equal(bn_mlp_evaluate(m, SYN_N, x2, SYN_I, lab ? l2 : NULL, tgt ? t2 : NULL, &loss,
                                   &accuracy),
                   BN_OK);
  if (!(accuracy > 0.93f))
    fail_msg("placement %d: held-out accuracy %.4f", (int)placement, (double)accuracy);
  bn_mlp_destroy(m);
}

static void test_converges_each_placement(void **state)
{
  (void)state;
  converge(BN_MLP_BN_NONE, 0, BN_MLP_HEAD_SOFTMAX);
  converge(BN_MLP_BN_BEFORE, 0, BN_MLP_HEAD_SOFTMAX);
  converge(BN_MLP_BN_AFTER, 0, BN_MLP_HEAD_SOFTMAX);
  converge(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SOFTMAX);
  converge(BN_MLP_BN_NONE, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SOFTMAX);
  converge(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SIGMOID);
  converge(BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SIGMOID);
}

static void test_fit_determinism_and_early_stop(void **state)
{
  (void)state;
  static float x[SYN_N * SYN_I], targets[SYN_N];
  static int32_t labels[SYN_N];
  synthetic(x, labels, targets, 11);
  float w1[SYN_I * 24], w2[SYN_I * 24];
  for (int run = 0; run < 2; run++) {
    bn_mlp *m = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SOFTMAX, 3);
    bn_rng shuffle;
    bn_rng_seed(&shuffle, 17);
    history h = {0};
    h.stop_at = 3;
    assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, labels, NULL, 50, 10, &shuffle, on_epoch, &h),
                     BN_OK);
    assert_int_equal(h.epochs, 3); /* the callback stopped it */
    double steps;
    bn_mlp_get_parameter(m, BN_MLP_STEP, &steps);
    assert_true(steps == 3 * 12);
    assert_int_equal(bn_mlp_get(m, 1, BN_MLP_WEIGHT, run ? w2 : w1, SYN_I * 24), BN_OK);
    bn_mlp_destroy(m);
  }
  assert_memory_equal(w1, w2, sizeof w1); /* same seeds, same weights, bit for bit */

  /* Another shuffling seed gives other weights; no shuffling works too. */
  bn_mlp *m = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SOFTMAX, 3);
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 18);
  assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, labels, NULL, 50, 3, &shuffle, NULL, NULL),
                   BN_OK);
  assert_int_equal(bn_mlp_get(m, 1, BN_MLP_WEIGHT, w2, SYN_I * 24), BN_OK);
  assert_true(memcmp(w1, w2, sizeof w1) != 0);
  assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, labels, NULL, 50, 1, NULL, NULL, NULL), BN_OK);
  /* A final batch of one sample is skipped with BatchNorm (601 = 12*50 + 1). */
  static float x3[(SYN_N + 1) * SYN_I];
  static int32_t l3[SYN_N + 1];
  memcpy(x3, x, sizeof x);
  memcpy(x3 + SYN_N * SYN_I, x, SYN_I * sizeof *x);
  memcpy(l3, labels, sizeof labels);
  l3[SYN_N] = labels[0];
  double before, after;
  bn_mlp_get_parameter(m, BN_MLP_STEP, &before);
  assert_int_equal(bn_mlp_fit(m, SYN_N + 1, x3, SYN_I, l3, NULL, 50, 1, &shuffle, NULL, NULL),
                   BN_OK);
  bn_mlp_get_parameter(m, BN_MLP_STEP, &after);
  assert_true(after - before == 12);
  bn_mlp_destroy(m);
}

/* The epoch callback may evaluate on the same handle (validation), even
 * with a batch size that makes the scratch grow. */
static int validate(void *user, size_t epoch, float loss, float accuracy, double seconds)
{
  (void)loss, (void)accuracy, (void)seconds, (void)epoch;
  void **ctx = user;
  bn_mlp *m = ctx[0];
  const float *x = ctx[1];
  const int32_t *labels = ctx[2];
  float vloss, vacc;
  assert_int_equal(bn_mlp_evaluate(m, SYN_N, x, SYN_I, labels, NULL, &vloss, &vacc), BN_OK);
  float *p = malloc(3 * SYN_N * sizeof *p);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, SYN_N, x, SYN_I, p,
                                  3),
                   BN_OK);
  free(p);
  return 0;
}

static void test_fit_callback_reenters(void **state)
{
  (void)state;
  static float x[SYN_N * SYN_I], targets[SYN_N];
  static int32_t labels[SYN_N];
  synthetic(x, labels, targets, 11);
  bn_mlp *m = make_net(BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_MLP_HEAD_SOFTMAX, 3);
  void *ctx[3] = {m, x, labels};
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 1);
  assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, labels, NULL, 8, 2, &shuffle, validate, ctx),
                   BN_OK);
  bn_mlp_destroy(m);
}

/* ---- inference form and statistics ---------------------------------------- */

static void trained(bn_mlp **out, bn_mlp_placement placement, unsigned flags, float *x,
                    int32_t *labels)
{
  float targets[SYN_N];
  synthetic(x, labels, targets, 11);
  bn_mlp *m = make_net(placement, flags, BN_MLP_HEAD_SOFTMAX, 3);
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 5);
  assert_int_equal(bn_mlp_fit(m, SYN_N, x, SYN_I, labels, NULL, 32, 5, &shuffle, NULL, NULL),
                   BN_OK);
  *out = m;
}

static void test_fold_equivalence(void **state)
{
  (void)state;
  static float x[SYN_N * SYN_I], p1[3 * SYN_N], p2[3 * SYN_N];
  static int32_t labels[SYN_N];
  const bn_mlp_placement placements[3] = {BN_MLP_BN_NONE, BN_MLP_BN_BEFORE, BN_MLP_BN_AFTER};
  for (int k = 0; k < 6; k++) {
    bn_mlp *m, *f = NULL;
    unsigned flags = k >= 3 ? BN_MLP_INPUT_BATCHNORM : 0u;
    trained(&m, placements[k % 3], flags, x, labels);
    assert_int_equal(bn_mlp_fold_batchnorm(m, &f), BN_OK);
    bn_mlp_placement pl;
    unsigned fflags;
    assert_int_equal(bn_mlp_architecture(f, NULL, NULL, NULL, NULL, &pl, NULL, &fflags), BN_OK);
    assert_int_equal(pl, BN_MLP_BN_NONE);
    assert_int_equal(fflags, 0);
    size_t pm, pf;
    bn_mlp_parameter_count(m, &pm);
    bn_mlp_parameter_count(f, &pf);
    assert_true(pf <= pm + 2 * 24 + 16);
    assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, SYN_N, x, SYN_I, p1, 3),
                     BN_OK);
    assert_int_equal(bn_mlp_predict(f, BN_MODE_INFERENCE, BN_MLP_LOGITS, SYN_N, x, SYN_I, p2, 3),
                     BN_OK);
    double worst = 0;
    for (size_t i = 0; i < 3 * SYN_N; i++)
      worst = fmax(worst, fabs((double)p1[i] - (double)p2[i]) / (1.0 + fabs((double)p1[i])));
    if (!(worst <= 1e-5))
      fail_msg("placement %d flags %u: folded logits differ by %.3g", k % 3, flags, worst);
    /* Probabilities agree too, and so do the test metrics. */
    assert_int_equal(
        bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, SYN_N, x, SYN_I, p1, 3), BN_OK);
    assert_int_equal(
        bn_mlp_predict(f, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, SYN_N, x, SYN_I, p2, 3), BN_OK);
    for (size_t i = 0; i < 3 * SYN_N; i++)
      assert_true(fabs((double)p1[i] - (double)p2[i]) <= 1e-5);
    bn_mlp_destroy(f);
    bn_mlp_destroy(m);
  }
}

static void test_population_statistics(void **state)
{
  (void)state;
  static float x[SYN_N * SYN_I];
  static float p_inf[3 * SYN_N], p_train[3 * SYN_N];
  static int32_t labels[SYN_N];
  const bn_mlp_placement placements[2] = {BN_MLP_BN_BEFORE, BN_MLP_BN_AFTER};
  for (int k = 0; k < 2; k++) {
    bn_mlp *m;
    trained(&m, placements[k], BN_MLP_INPUT_BATCHNORM, x, labels);
    /* The input BatchNorm's statistics are those of x, computed in float64. */
    assert_int_equal(bn_mlp_recompute_statistics(m, SYN_N, x, SYN_I), BN_OK);
    float mean[SYN_I], var[SYN_I];
    assert_int_equal(bn_mlp_get(m, 0, BN_MLP_RUNNING_MEAN, mean, SYN_I), BN_OK);
    assert_int_equal(bn_mlp_get(m, 0, BN_MLP_RUNNING_VAR, var, SYN_I), BN_OK);
    for (size_t f = 0; f < SYN_I; f++) {
      double mu, v; /* v biased: the population's own variance */
      row_moments(x, SYN_I, SYN_N, f, &mu, &v);
      assert_true(fabs(mean[f] - mu) <= 1e-6 * (1 + fabs(mu)));
      assert_true(fabs(var[f] - v) <= 1e-6 * v);
    }
    /* Inference with population statistics == one training-mode batch of everything. */
    assert_int_equal(
        bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, SYN_N, x, SYN_I, p_inf, 3), BN_OK);
    assert_int_equal(
        bn_mlp_predict(m, BN_MODE_TRAINING, BN_MLP_LOGITS, SYN_N, x, SYN_I, p_train, 3), BN_OK);
    double worst = 0;
    for (size_t i = 0; i < 3 * SYN_N; i++)
      worst = fmax(worst, fabs((double)p_inf[i] - p_train[i]) / (1 + fabs((double)p_train[i])));
    if (!(worst <= 2e-4))
      fail_msg("placement %d: inference vs whole-batch logits differ by %.3g", k, worst);
    bn_mlp_destroy(m);
  }
}

/* The merge of chunks is exact: a dataset larger than one chunk (the default
 * chunk is 1024 samples) with a large mean gives the two-pass result, where
 * an average of per-chunk variances or a one-pass sum of squares would not. */
static void test_population_statistics_chunks(void **state)
{
  (void)state;
  const size_t N = 2500, I = 3, hidden[1] = {4};
  float *x = malloc(N * I * sizeof *x);
  test_rng g = {3};
  for (size_t n = 0; n < N; n++)
    for (size_t f = 0; f < I; f++) /* chunks with different means */
      x[f + n * I] = (float)(1000.0 * (double)(f + 1) + (double)(n / 1024) * 5.0 +
                             test_rng_normal(&g));
  bn_mlp *m;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 1, 2, BN_ACT_TANH, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, 1);
  assert_int_equal(bn_mlp_init(m, BN_INIT_GLOROT_UNIFORM, &rng), BN_OK);
  assert_int_equal(bn_mlp_recompute_statistics(m, N, x, I), BN_OK);
  float mean[3], var[3];
  assert_int_equal(bn_mlp_get(m, 0, BN_MLP_RUNNING_MEAN, mean, I), BN_OK);
  assert_int_equal(bn_mlp_get(m, 0, BN_MLP_RUNNING_VAR, var, I), BN_OK);
  for (size_t f = 0; f < I; f++) {
    double mu, v;
    row_moments(x, I, N, f, &mu, &v);
    assert_true(fabs(mean[f] - mu) <= 1e-6 * fabs(mu));
    assert_true(fabs(var[f] - v) <= 1e-5 * v);
  }
  /* The hidden BatchNorm's statistics: inference == one whole-dataset batch. */
  float *pi = malloc(2 * N * sizeof *pi), *pt = malloc(2 * N * sizeof *pt);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, pi, 2), BN_OK);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_TRAINING, BN_MLP_LOGITS, N, x, I, pt, 2), BN_OK);
  for (size_t i = 0; i < 2 * N; i++)
    assert_true(fabs((double)pi[i] - pt[i]) <= 1e-4 * (1 + fabs((double)pt[i])));
  free(pi);
  free(pt);
  free(x);
  bn_mlp_destroy(m);
}

/* ---- queries --------------------------------------------------------------- */

static void test_architecture_and_counts(void **state)
{
  (void)state;
  const size_t hidden[2] = {256, 128};
  bn_mlp *m;
  assert_int_equal(bn_mlp_create(&m, 784, hidden, 2, 10, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM),
                   BN_OK);
  size_t count, inputs, layers, outputs, sizes[2];
  assert_int_equal(bn_mlp_parameter_count(m, &count), BN_OK);
  /* input BN 2*784; 784*256 + 2*256; 256*128 + 2*128; 128*10 + 10 */
  assert_int_equal(count, 2 * 784 + 784 * 256 + 2 * 256 + 256 * 128 + 2 * 128 + 128 * 10 + 10);
  assert_int_equal(bn_mlp_architecture(m, &inputs, &layers, &outputs, NULL, NULL, NULL, NULL),
                   BN_OK);
  assert_int_equal(inputs, 784);
  assert_int_equal(layers, 2);
  assert_int_equal(outputs, 10);
  assert_int_equal(bn_mlp_hidden_sizes(m, sizes, 2), BN_OK);
  assert_int_equal(sizes[1], 128);
  /* Defaults. */
  double v;
  assert_int_equal(bn_mlp_get_parameter(m, BN_MLP_OPTIMIZER, &v), BN_OK);
  assert_true(v == BN_MLP_ADAM);
  assert_int_equal(bn_mlp_get_parameter(m, BN_MLP_LEARNING_RATE, &v), BN_OK);
  assert_true(v == 1e-3);
  /* The BEFORE dense layers have no bias. */
  float b[256];
  assert_int_equal(bn_mlp_get(m, 1, BN_MLP_BIAS, b, 256), BN_ERR_WRONG_STATE);
  assert_int_equal(bn_mlp_get(m, 3, BN_MLP_BIAS, b, 10), BN_OK);
  assert_int_equal(bn_mlp_get(m, 1, BN_MLP_DWEIGHT, b, 1), BN_ERR_WRONG_STATE);
  bn_mlp_destroy(m);

  /* No hidden layer: logistic regression. */
  assert_int_equal(bn_mlp_create(&m, 3, NULL, 0, 1, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SIGMOID, 0),
                   BN_OK);
  assert_int_equal(bn_mlp_parameter_count(m, &count), BN_OK);
  assert_int_equal(count, 4);
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_step_sgd),
    cmocka_unit_test(test_step_momentum),
    cmocka_unit_test(test_step_nesterov),
    cmocka_unit_test(test_step_adam),
    cmocka_unit_test(test_step_sigmoid_head),
    cmocka_unit_test(test_step_head_batchnorm_and_standardizer),
    cmocka_unit_test(test_step_renorm),
    cmocka_unit_test(test_step_input_batchnorm_tiny_gamma),
    cmocka_unit_test(test_converges_each_placement),
    cmocka_unit_test(test_fit_determinism_and_early_stop),
    cmocka_unit_test(test_fit_callback_reenters),
    cmocka_unit_test(test_fold_equivalence),
    cmocka_unit_test(test_population_statistics),
    cmocka_unit_test(test_population_statistics_chunks),
    cmocka_unit_test(test_architecture_and_counts),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

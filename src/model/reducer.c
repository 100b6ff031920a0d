/* Data-parallel training: the collectives a train step makes when the
 * handle is one rank of several (bn_mlp_set_reducer). The transport is the
 * caller's; this file only decides what is reduced, when, and how a failure
 * on one rank reaches every rank without a hang: a rank that failed still
 * makes every collective, with a status slot set or with NaN that turns into
 * an error on every rank at the same collective. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "../core/checks.h"
#include "../core/moments.h"
#include "mlp_internal.h"

/* The architecture's numbers every rank must share, and the reduce slots
 * agreeing on them takes ([failed, code], the values, their squares). */
enum { FINGERPRINT = 9, FINGERPRINT_SLOTS = 2 * FINGERPRINT + 2 };

static void fingerprint(const bn_mlp *m, double *v)
{
  const double values[FINGERPRINT] = {
    (double)m->inputs, (double)m->outputs, (double)m->layers, (double)m->placement,
    (double)m->head,   (double)m->act,     (double)m->flags,  (double)m->nparams,
    (double)bni_mlp_bn_count(m)};
  memcpy(v, values, sizeof values);
}

int bni_mlp_sharded(const bn_mlp *m)
{
  return m->red.fn && m->red.size > 1;
}

void bni_mlp_share(const bn_mlp *m, size_t n, size_t *start, size_t *count)
{
  const size_t r = m->red.size > 1 ? m->red.rank : 0, p = m->red.size > 1 ? m->red.size : 1;
  /* floor(n*r/p) without overflowing n*r */
  const size_t lo = n / p * r + n % p * r / p, hi = n / p * (r + 1) + n % p * (r + 1) / p;
  *start = lo;
  *count = hi - lo;
}

static bn_status reduce(bn_mlp *m, bn_reduce_op op, double *data, size_t count)
{
  bn_status st = m->red.fn(m->red.context, op, data, count);
  if (st != BN_OK)
    return bni_fail(&m->err, st, "the reducer failed on rank %zu: %s", m->red.rank,
                    bn_status_string(st));
  return BN_OK;
}

/* After a SUM whose slots [failed, code] carried every rank's status: this
 * rank's status if it failed (its message stands), else the remote one. */
static bn_status verdict(bn_mlp *m, bn_status mine, const double *slots)
{
  if (slots[0] == 0.0)
    return BN_OK;
  if (mine != BN_OK)
    return mine;
  bn_status remote = slots[0] == 1.0 ? (bn_status)(int)slots[1] : BN_ERR_INVALID_ARGUMENT;
  return bni_fail(&m->err, remote, "%.0f other rank(s) failed (%s) on this step", slots[0],
                  bn_status_string(remote));
}

static void put_status(double *slots, bn_status st)
{
  slots[0] = st != BN_OK;
  slots[1] = (double)st;
}

bn_status bn_mlp_set_reducer(bn_mlp *mlp, bn_reduce_fn fn, void *context, size_t rank,
                             size_t size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  if (!fn) {
    free(m->red.buf);
    memset(&m->red, 0, sizeof m->red);
    return BN_OK;
  }
  if (size == 0 || rank >= size)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "rank %zu of %zu ranks", rank, size);
  size_t cap = 2 * m->widest + 2;
  if (m->nparams + 4 > cap)
    cap = m->nparams + 4;
  if (cap < FINGERPRINT_SLOTS)
    cap = FINGERPRINT_SLOTS;
  double *buf = malloc(cap * sizeof *buf);
  const bn_status mine =
    buf ? BN_OK : bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "no memory for a reduce buffer");
  if (!buf && size == 1)
    return mine;
  if (size > 1) {
    /* a rank without its buffer still takes part, through this one, so the
     * others learn of the failure instead of waiting for it */
    double fallback[FINGERPRINT_SLOTS];
    double v[FINGERPRINT];
    fingerprint(m, v);
    bni_reducer saved = m->red;
    m->red = (bni_reducer){fn,  context, rank, size, buf ? buf : fallback,
                           buf ? cap : FINGERPRINT_SLOTS, 0.0, 0};
    bn_status st = bni_mlp_agree_on(m, mine, v, FINGERPRINT,
                                    "the ranks' networks (architecture or parameter count)");
    m->red = saved;
    if (st != BN_OK) {
      free(buf);
      return st;
    }
  }
  free(m->red.buf);
  m->red = (bni_reducer){fn, context, rank, size, buf, cap, 0.0, 0};
  return BN_OK;
}

bn_status bni_mlp_agree_on(bn_mlp *m, bn_status st, const double *values, size_t k,
                           const char *what)
{
  /* Every rank has the same v iff sum v^2 = (sum v)^2 / size; the values
   * are small whole numbers, so the sums are exact. */
  double *b = m->red.buf;
  put_status(b, st);
  for (size_t i = 0; i < k; i++)
    b[2 + i] = values[i], b[2 + k + i] = values[i] * values[i];
  bn_status rs = reduce(m, BN_REDUCE_SUM, b, 2 + 2 * k);
  if (rs != BN_OK)
    return rs;
  st = verdict(m, st, b);
  const double p = (double)m->red.size;
  for (size_t i = 0; st == BN_OK && i < k; i++)
    if (b[2 + i] != values[i] * p || b[2 + k + i] != values[i] * values[i] * p)
      st = bni_fail(&m->err, BN_ERR_SHAPE_MISMATCH, "the ranks disagree on %s", what);
  return st;
}

bn_status bni_mlp_sum_with_status(bn_mlp *m, bn_status st, double *values, size_t k)
{
  double *b = m->red.buf;
  put_status(b, st);
  memcpy(b + 2, values, k * sizeof *values);
  bn_status rs = reduce(m, BN_REDUCE_SUM, b, 2 + k);
  if (rs != BN_OK)
    return rs;
  memcpy(values, b + 2, k * sizeof *values);
  return verdict(m, st, b);
}

bn_status bni_mlp_agree(bn_mlp *m, bn_status st, size_t n)
{
  double total = (double)n;
  st = bni_mlp_sum_with_status(m, st, &total, 1);
  m->red.count = total;
  return st;
}

static size_t features_of(const bn_batchnorm *bn)
{
  size_t F = 0;
  bn_batchnorm_features(bn, &F);
  return F;
}

static void fill_nan(double *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    v[i] = NAN;
}

bn_status bni_mlp_batchnorm_forward(bn_mlp *m, bn_batchnorm *bn, bn_mode mode, size_t n,
                                    const float *x, size_t ldx, float *y, size_t ldy)
{
  if (!m->red.stepping || mode != BN_MODE_TRAINING)
    return bn_batchnorm_forward(bn, mode, n, x, ldx, y, ldy);
  const size_t F = features_of(bn);
  double *b = m->red.buf;
  b[0] = (double)n;
  /* Straight into the reduce buffer: no allocation, so a step cannot run
   * out of memory after an earlier layer's running statistics moved. */
  bni_moments_of_columns(F, n, x, ldx, b + 1, b + 1 + F);
  if (bni_check_finite_doubles(NULL, "moments", b + 1, 2 * F) != BN_OK)
    fill_nan(b, 2 * F + 1); /* every rank then fails below */
  bn_status st = reduce(m, BN_REDUCE_MOMENTS, b, 2 * F + 1);
  if (st == BN_OK)
    st = bn_batchnorm_forward_with_moments(bn, n, x, ldx, y, ldy, b[0], b + 1, b + 1 + F);
  return st;
}

bn_status bni_mlp_batchnorm_backward(bn_mlp *m, bn_batchnorm *bn, size_t n, const float *x,
                                     size_t ldx, const float *dy, size_t lddy, float *dx,
                                     size_t lddx)
{
  if (!m->red.stepping)
    return bn_batchnorm_backward(bn, n, x, ldx, dy, lddy, dx, lddx);
  const size_t F = features_of(bn);
  double *b = m->red.buf;
  bn_status st = bn_batchnorm_backward_sums(bn, n, x, ldx, dy, lddy, b, b + F);
  if (!dx) /* only dgamma/dbeta, this rank's share: summed with the gradients */
    return st;
  if (st != BN_OK)
    fill_nan(b, 2 * F);
  bn_status rs = reduce(m, BN_REDUCE_SUM, b, 2 * F);
  if (rs != BN_OK)
    return rs;
  return bn_batchnorm_backward_with_sums(bn, n, x, ldx, dy, lddy, dx, lddx, b, b + F);
}

bn_status bni_mlp_reduce_step(bn_mlp *m, bn_status st, double *loss_sum, double *correct)
{
  double *b = m->red.buf;
  put_status(b, st);
  b[2] = st == BN_OK ? *loss_sum : 0.0;
  b[3] = st == BN_OK ? *correct : 0.0;
  double *g = b + 4;
  for (size_t k = 0; k < m->nseg; k++) {
    const bni_segment *s = &m->seg[k];
    for (size_t i = 0; i < s->count; i++)
      g[s->offset + i] = st == BN_OK ? (double)s->grad[i] : 0.0;
  }
  bn_status rs = reduce(m, BN_REDUCE_SUM, b, m->nparams + 4);
  if (rs != BN_OK)
    return rs;
  bn_status verdict_st = verdict(m, st, b);
  if (verdict_st != BN_OK)
    return verdict_st;
  for (size_t k = 0; k < m->nseg; k++) {
    const bni_segment *s = &m->seg[k];
    for (size_t i = 0; i < s->count; i++)
      s->grad[i] = (float)g[s->offset + i];
  }
  *loss_sum = b[2];
  *correct = b[3];
  return BN_OK;
}

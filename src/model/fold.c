/* The inference form: every BatchNorm folded into a dense layer, giving a
 * network without BatchNorm that computes the same function as the original
 * in inference mode.
 *
 * With s = gamma/sqrt(var + eps) and t = beta - mean*s, a BatchNorm is the
 * affine map u -> s*u + t per feature, so:
 *  - BN after a dense layer (placement BEFORE): W' = diag(s) W, b' = s*(b - mean) + beta
 *    (bn_dense_fold_batchnorm);
 *  - BN before a dense layer (the input BatchNorm, or placement AFTER, whose
 *    BatchNorm follows the activation and so precedes the next dense layer):
 *    W' = W diag(s), b' = b + W t. */
#include <math.h>
#include <stdlib.h>
#include "mlp_internal.h"
#include "../kernels/batchnorm_constants.h"

/* Fold the BatchNorm bn (F = in features) into W (out x in, double) and b. */
static bn_status fold_input_side(const bn_batchnorm *bn, size_t out, size_t in, double *W,
                                 double *b, float *tmp)
{
  float eps;
  bn_status st = bn_batchnorm_get_eps(bn, &eps);
  double *s = malloc(4 * in * sizeof *s);
  if (!s)
    return BN_ERR_OUT_OF_MEMORY;
  double *t = s + 2 * in;
  /* s, t <- gamma, var, then beta, mean, then the scale and shift */
  const bn_batchnorm_tensor which[4] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_RUNNING_VAR,
                                        BN_BATCHNORM_BETA, BN_BATCHNORM_RUNNING_MEAN};
  double *row[4] = {s, s + in, t, t + in};
  for (int k = 0; k < 4 && st == BN_OK; k++) {
    st = bn_batchnorm_get(bn, which[k], tmp, in);
    for (size_t i = 0; st == BN_OK && i < in; i++)
      row[k][i] = tmp[i];
  }
  for (size_t i = 0; st == BN_OK && i < in; i++) {
    const bni_bn_affine a = bni_bn_scale_shift(s[i], t[i], t[in + i],
                                               bni_bn_invstd(s[in + i], (double)eps));
    s[i] = a.scale;
    t[i] = a.shift;
  }
  for (size_t o = 0; st == BN_OK && o < out; o++) {
    double acc = b[o];
    for (size_t i = 0; i < in; i++) {
      acc += W[o * in + i] * t[i];
      W[o * in + i] *= s[i];
    }
    b[o] = acc;
  }
  free(s);
  return st;
}

/* Dense layer i (1-based) of the folded network, with its input-side folds
 * applied, as a new dense layer with bias. */
static bn_status input_folded_dense(const bn_mlp *m, size_t i, bn_dense **out, double *W,
                                    double *b, float *tmp)
{
  const bni_stage *s = &m->stage[i - 1];
  const size_t in = s->in, O = s->out, nw = in * O;
  const bni_part *dense = bni_mlp_find_part(m, i, BNI_ROLE_WEIGHT);
  const float *pw = bni_describe_kind(dense->kind)->row((bni_part *)(uintptr_t)dense,
                                                        BNI_ROLE_WEIGHT, 0);
  const float *pb = bni_part_holds(dense, BNI_ROLE_BIAS)
                        ? bni_describe_kind(dense->kind)->row((bni_part *)(uintptr_t)dense,
                                                              BNI_ROLE_BIAS, 0)
                        : NULL;
  for (size_t k = 0; k < nw; k++)
    W[k] = pw[k];
  for (size_t o = 0; o < O; o++)
    b[o] = pb ? pb[o] : 0.0;
  /* The BatchNorm just before this dense layer in the layout, unless it
   * normalizes the previous dense layer's output. */
  const bni_part *prev = dense > m->part ? dense - 1 : NULL;
  const bn_batchnorm *before = prev && prev->bn && !prev->after_dense ? prev->bn : NULL;
  bn_status st = before ? fold_input_side(before, O, in, W, b, tmp) : BN_OK;
  if (st == BN_OK)
    st = bn_dense_create(out, in, O, 0);
  for (size_t k = 0; st == BN_OK && k < nw; k++)
    tmp[k] = (float)W[k];
  if (st == BN_OK)
    st = bn_dense_set(*out, BN_DENSE_WEIGHT, tmp, nw);
  for (size_t o = 0; st == BN_OK && o < O; o++)
    tmp[o] = (float)b[o];
  if (st == BN_OK)
    st = bn_dense_set(*out, BN_DENSE_BIAS, tmp, O);
  return st;
}

bn_status bn_mlp_fold_batchnorm(const bn_mlp *mlp, bn_mlp **folded)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!folded)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "folded is NULL");
  *folded = NULL;
  size_t *hidden = malloc((m->layers + 1) * sizeof *hidden), maxw = 0;
  for (size_t i = 0; hidden && i <= m->layers; i++) {
    if (i < m->layers)
      hidden[i] = m->stage[i].out;
    size_t nw = m->stage[i].in * m->stage[i].out; /* fits: checked at creation */
    if (nw > maxw)
      maxw = nw;
  }
  if (maxw < m->widest)
    maxw = m->widest;
  double *W = malloc(maxw * sizeof *W), *b = malloc(m->widest * sizeof *b);
  float *tmp = malloc(maxw * sizeof *tmp);
  bn_mlp *f = NULL;
  bn_status st = hidden && W && b && tmp ? BN_OK : BN_ERR_OUT_OF_MEMORY;
  if (st == BN_OK)
    st = bn_mlp_create(&f, m->inputs, hidden, m->layers, m->outputs, m->act, BN_MLP_BN_NONE,
                       m->head, 0);
  if (st == BN_OK) {
    f->opt = m->opt;
    f->opt.step = 0;
    f->elu_alpha = m->elu_alpha;
    f->bn_eps = m->bn_eps;
    f->bn_factor = m->bn_factor;
  }
  for (size_t i = 1; st == BN_OK && i <= m->layers + 1; i++) {
    bn_dense *d = NULL, *d2 = NULL;
    st = input_folded_dense(m, i, &d, W, b, tmp);
    /* The BatchNorm right after this dense layer, if it normalizes its output. */
    const bni_part *dense = bni_mlp_find_part(m, i, BNI_ROLE_WEIGHT);
    const bni_part *next = dense + 1 < m->part + m->nparts ? dense + 1 : NULL;
    const bn_batchnorm *after = next && next->bn && next->after_dense ? next->bn : NULL;
    if (st == BN_OK && after)
      st = bn_dense_fold_batchnorm(d, after, &d2);
    bn_dense *src = d2 ? d2 : d;
    const size_t O = m->stage[i - 1].out, nw = O * m->stage[i - 1].in;
    if (st == BN_OK)
      st = bn_dense_get(src, BN_DENSE_WEIGHT, tmp, nw);
    if (st == BN_OK)
      st = bn_mlp_set(f, i, BN_MLP_WEIGHT, tmp, nw);
    if (st == BN_OK)
      st = bn_dense_get(src, BN_DENSE_BIAS, tmp, O);
    if (st == BN_OK)
      st = bn_mlp_set(f, i, BN_MLP_BIAS, tmp, O);
    bn_dense_destroy(d);
    bn_dense_destroy(d2);
  }
  free(hidden);
  free(W);
  free(b);
  free(tmp);
  if (st != BN_OK) {
    bn_mlp_destroy(f);
    return bni_fail(&m->err, st, "folding failed: %s (%s)", bn_status_string(st),
                    st == BN_ERR_NON_FINITE ? "a folded value is not finite" : "see the status");
  }
  *folded = f;
  return BN_OK;
}

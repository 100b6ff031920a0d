/* Population statistics: after training, replace each BatchNorm's running
 * averages with the exact mean and (biased) variance of its input over a
 * whole dataset. Chunks are reduced in double and merged with the parallel
 * variance formula (Chan, Golub & LeVeque):
 *   n = na + nb, d = mean_b - mean_a,
 *   mean = mean_a + d*nb/n,  M2 = M2_a + M2_b + d^2*na*nb/n. */
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"
#include "../core/checks.h"

/* Merge the columns of one chunk (F x b, leading dimension ld) into
 * (count, mean, m2); cm and cm2 are F doubles of scratch. */
static void merge_chunk(size_t F, size_t b, const float *in, size_t ld, double *count,
                        double *mean, double *m2, double *cm, double *cm2)
{
  memset(cm, 0, F * sizeof *cm);
  memset(cm2, 0, F * sizeof *cm2);
  for (size_t j = 0; j < b; j++)
    for (size_t f = 0; f < F; f++)
      cm[f] += (double)in[f + j * ld];
  for (size_t f = 0; f < F; f++)
    cm[f] /= (double)b;
  for (size_t j = 0; j < b; j++)
    for (size_t f = 0; f < F; f++) {
      double d = (double)in[f + j * ld] - cm[f];
      cm2[f] += d * d;
    }
  const double na = *count, nb = (double)b, n = na + nb;
  for (size_t f = 0; f < F; f++) {
    double d = cm[f] - mean[f];
    mean[f] += d * nb / n;
    m2[f] += cm2[f] + d * d * na * nb / n;
  }
  *count = n;
}

/* BatchNorm k (0: the input's, i: hidden layer i's), or NULL; F its width. */
static bn_batchnorm *batchnorm_of(const bn_mlp *m, size_t k, size_t *F)
{
  *F = k == 0 ? m->inputs : m->stage[k - 1].out;
  return k == 0 ? m->input_bn : m->stage[k - 1].bn;
}

/* Copy BatchNorm k's running mean and variance to (put = 0) or from
 * (put = 1) the 2F floats at saved. Both calls succeed on valid values. */
static void running_statistics(bn_mlp *m, size_t k, float *saved, int put)
{
  size_t F;
  bn_batchnorm *bn = batchnorm_of(m, k, &F);
  if (!bn)
    return;
  if (put) {
    bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_MEAN, saved, F);
    bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_VAR, saved + F, F);
  } else {
    bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_MEAN, saved, F);
    bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_VAR, saved + F, F);
  }
}

bn_status bn_mlp_recompute_statistics(bn_mlp *mlp, size_t samples, const float *x, size_t ldx)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  bn_status st = bni_check_matrix(&m->err, "x", x, m->inputs, samples, ldx);
  if (st != BN_OK)
    return st;
  if (samples < 2)
    return bni_fail(&m->err, BN_ERR_BATCH_TOO_SMALL,
                    "population statistics need at least 2 samples");
  for (size_t j = 0; j < samples; j++) {
    st = bni_check_finite_vector(&m->err, "x", x + j * ldx, m->inputs);
    if (st != BN_OK)
      return bni_fail(&m->err, st, "x holds a NaN or infinity in sample %zu", j);
  }
  const size_t chunk = bni_mlp_chunk(m, samples), W = m->widest;
  st = bni_mlp_reserve(m, chunk);
  if (st != BN_OK)
    return st;
  double *acc = malloc(4 * W * sizeof *acc);
  float *tmp = malloc(W * sizeof *tmp);
  /* Each layer's statistics depend on the new ones before it, so they are
   * set layer by layer; the old ones are kept to put back on failure. */
  float *old = malloc(2 * W * (m->layers + 1) * sizeof *old);
  if (!acc || !tmp || !old) {
    free(acc);
    free(tmp);
    free(old);
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (size_t k = 0; k <= m->layers; k++)
    running_statistics(m, k, old + 2 * W * k, 0);
  double *mean = acc, *m2 = acc + W, *cm = acc + 2 * W, *cm2 = acc + 3 * W;
  /* BatchNorm k: 0 is the input's, i the one of hidden layer i. */
  for (size_t k = 0; st == BN_OK && k <= m->layers; k++) {
    size_t F;
    bn_batchnorm *bn = batchnorm_of(m, k, &F);
    if (!bn)
      continue;
    double count = 0.0;
    memset(mean, 0, F * sizeof *mean);
    memset(m2, 0, F * sizeof *m2);
    for (size_t start = 0; st == BN_OK && start < samples; start += chunk) {
      size_t b = samples - start < chunk ? samples - start : chunk, ld = 0;
      const float *in = NULL;
      st = bni_mlp_forward(m, BN_MODE_INFERENCE, b, x + start * ldx, ldx, (long)k, &in, &ld);
      if (st == BN_OK)
        merge_chunk(F, b, in, ld, &count, mean, m2, cm, cm2);
    }
    if (st != BN_OK)
      break;
    for (size_t f = 0; f < F; f++)
      tmp[f] = (float)mean[f];
    st = bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_MEAN, tmp, F);
    for (size_t f = 0; st == BN_OK && f < F; f++)
      tmp[f] = (float)(m2[f] / count);
    if (st == BN_OK)
      st = bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_VAR, tmp, F);
    if (st != BN_OK)
      st = bni_fail(&m->err, st, "layer %zu: the statistics are not finite (x holds NaN or infinity?)",
                    k);
  }
  if (st != BN_OK)
    for (size_t k = 0; k <= m->layers; k++)
      running_statistics(m, k, old + 2 * W * k, 1);
  free(acc);
  free(tmp);
  free(old);
  return st;
}

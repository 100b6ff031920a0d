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
  if (!acc || !tmp) {
    free(acc);
    free(tmp);
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  double *mean = acc, *m2 = acc + W, *cm = acc + 2 * W, *cm2 = acc + 3 * W;
  /* Every part with running statistics, in forward order. */
  for (size_t part = 0; st == BN_OK && part < m->nparts; part++) {
    const bni_part *p = &m->part[part];
    if (!bni_part_holds(p, BNI_ROLE_RUNNING_MEAN))
      continue;
    bn_batchnorm *bn = p->bn;
    const size_t k = p->layer, F = p->out;
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
  free(acc);
  free(tmp);
  return st;
}

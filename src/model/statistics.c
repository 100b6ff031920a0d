/* Population statistics: after training, replace each BatchNorm's running
 * averages with the exact mean and (biased) variance of its input over a
 * whole dataset. Chunks are reduced in double and merged exactly
 * (src/core/moments.h), so no chunk size changes the result beyond
 * rounding. */
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"
#include "../core/checks.h"
#include "../core/moments.h"

/* Copy the running mean and variance of part p's BatchNorm to (put = 0) or
 * from (put = 1) the 2F floats at saved. Both succeed on valid values. */
static void running_statistics(const bni_part *p, float *saved, int put)
{
  const size_t F = p->out;
  if (put) {
    bn_batchnorm_set(p->bn, BN_BATCHNORM_RUNNING_MEAN, saved, F);
    bn_batchnorm_set(p->bn, BN_BATCHNORM_RUNNING_VAR, saved + F, F);
  } else {
    bn_batchnorm_get(p->bn, BN_BATCHNORM_RUNNING_MEAN, saved, F);
    bn_batchnorm_get(p->bn, BN_BATCHNORM_RUNNING_VAR, saved + F, F);
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
  /* Each part's statistics depend on the new ones before it, so they are
   * set part by part; the old ones are kept to put back on failure. */
  float *old = malloc(2 * W * m->nparts * sizeof *old);
  if (!acc || !tmp || !old) {
    free(acc);
    free(tmp);
    free(old);
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  for (size_t part = 0; part < m->nparts; part++)
    if (bni_part_holds(&m->part[part], BNI_ROLE_RUNNING_MEAN))
      running_statistics(&m->part[part], old + 2 * W * part, 0);
  double *mean = acc, *m2 = acc + W, *cm = acc + 2 * W, *cm2 = acc + 3 * W;
  /* Every part with running statistics, in forward order. */
  for (size_t part = 0; st == BN_OK && part < m->nparts; part++) {
    const bni_part *p = &m->part[part];
    if (!bni_part_holds(p, BNI_ROLE_RUNNING_MEAN))
      continue;
    bn_batchnorm *bn = p->bn;
    const size_t k = p->layer, F = p->out;
    double count = 0.0;
    for (size_t start = 0; st == BN_OK && start < samples; start += chunk) {
      size_t b = samples - start < chunk ? samples - start : chunk, ld = 0;
      const float *in = NULL;
      st = bni_mlp_forward(m, BN_MODE_INFERENCE, b, x + start * ldx, ldx, (long)k, &in, &ld);
      if (st == BN_OK) {
        bni_moments_of_columns(F, b, in, ld, cm, cm2);
        bni_moments_merge(F, count, mean, m2, (double)b, cm, cm2);
        count += (double)b;
      }
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
      st = bni_fail(&m->err, st,
                    "layer %zu: the statistics are not finite (x holds NaN or infinity?)", k);
  }
  if (st != BN_OK)
    for (size_t part = 0; part < m->nparts; part++)
      if (bni_part_holds(&m->part[part], BNI_ROLE_RUNNING_MEAN))
        running_statistics(&m->part[part], old + 2 * W * part, 1);
  free(acc);
  free(tmp);
  free(old);
  return st;
}

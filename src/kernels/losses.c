/* Fused losses: softmax + cross-entropy from labels and sigmoid + binary
 * cross-entropy, each validating every input before writing anything, with
 * per-sample log-sum-exp in double. */
#include <math.h>
#include <bn/losses.h>
#include "../core/checks.h"
#include "losses_internal.h"

/* dlogits (when given) must be a valid matrix that is exactly `in` (same ld)
 * or disjoint from it. */
static bn_status check_grad(const float *in, size_t ld, const float *d, size_t ldd, size_t rows,
                            size_t cols)
{
  bn_status st = bni_check_matrix(NULL, "dlogits", d, rows, cols, ldd);
  if (st != BN_OK)
    return st;
  if (d == in)
    return ld == ldd ? BN_OK : BN_ERR_INVALID_ARGUMENT;
  return bni_overlap(in, rows, cols, ld, d, rows, cols, ldd) ? BN_ERR_INVALID_ARGUMENT : BN_OK;
}

static bn_status check_finite(const float *m, size_t rows, size_t cols, size_t ld)
{
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++)
      if (!isfinite(m[i + j * ld]))
        return BN_ERR_NON_FINITE;
  return BN_OK;
}

bn_status bni_softmax_cross_entropy_hits(size_t classes, size_t batch, const float *logits,
                                         size_t ld, const int32_t *labels, float *loss,
                                         float *dlogits, size_t ldd, size_t *hits)
{
  if (!labels || !loss)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = bni_check_matrix(NULL, "logits", logits, classes, batch, ld);
  if (st == BN_OK && dlogits)
    st = check_grad(logits, ld, dlogits, ldd, classes, batch);
  if (st != BN_OK)
    return st;
  for (size_t j = 0; j < batch; j++)
    if (labels[j] < 0 || (uint64_t)labels[j] >= (uint64_t)classes)
      return BN_ERR_INVALID_ARGUMENT;
  st = check_finite(logits, classes, batch, ld);
  if (st != BN_OK)
    return st;

  const double inv_n = 1.0 / (double)batch;
  double total = 0.0;
  size_t right = 0;
  for (size_t j = 0; j < batch; j++) {
    const float *z = logits + j * ld;
    double m = (double)z[0];
    size_t best = 0;
    for (size_t c = 1; c < classes; c++)
      if ((double)z[c] > m)
        m = (double)z[c], best = c;
    double sum = 0.0;
    for (size_t c = 0; c < classes; c++)
      sum += exp((double)z[c] - m);
    const double lse = m + log(sum);
    const size_t label = (size_t)labels[j];
    total += lse - (double)z[label];
    right += best == label;
    if (dlogits) { /* z may be this column: each element is read before it is written */
      float *d = dlogits + j * ldd;
      for (size_t c = 0; c < classes; c++) {
        double p = exp((double)z[c] - lse);
        d[c] = (float)(((c == label) ? p - 1.0 : p) * inv_n);
      }
    }
  }
  *loss = (float)(total * inv_n);
  if (hits)
    *hits = right;
  return BN_OK;
}

bn_status bn_softmax_cross_entropy(size_t classes, size_t batch, const float *logits, size_t ld,
                                   const int32_t *labels, float *loss, float *dlogits,
                                   size_t ldd)
{
  return bni_softmax_cross_entropy_hits(classes, batch, logits, ld, labels, loss, dlogits, ldd,
                                        NULL);
}

bn_status bni_sigmoid_binary_cross_entropy_hits(size_t outputs, size_t batch,
                                                const float *logits, size_t ld,
                                                const float *targets, float *loss,
                                                float *dlogits, size_t ldd, size_t *hits)
{
  if (!loss)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = bni_check_matrix(NULL, "logits", logits, outputs, batch, ld);
  if (st == BN_OK)
    st = bni_check_matrix(NULL, "targets", targets, outputs, batch, ld);
  if (st == BN_OK && dlogits)
    st = check_grad(logits, ld, dlogits, ldd, outputs, batch);
  if (st == BN_OK && dlogits)
    st = check_grad(targets, ld, dlogits, ldd, outputs, batch);
  if (st != BN_OK)
    return st;
  for (size_t j = 0; j < batch; j++)
    for (size_t i = 0; i < outputs; i++) {
      float t = targets[i + j * ld];
      if (!(t >= 0.0f && t <= 1.0f))
        return BN_ERR_INVALID_ARGUMENT;
    }
  st = check_finite(logits, outputs, batch, ld);
  if (st != BN_OK)
    return st;

  const double inv_n = 1.0 / ((double)outputs * (double)batch);
  double total = 0.0;
  size_t right = 0;
  for (size_t j = 0; j < batch; j++)
    for (size_t i = 0; i < outputs; i++) {
      const double z = (double)logits[i + j * ld], t = (double)targets[i + j * ld];
      const double e = exp(-fabs(z)); /* in (0, 1]: no overflow */
      total += fmax(z, 0.0) - z * t + log1p(e);
      right += (z >= 0.0) == (t >= 0.5);
      if (dlogits) {
        const double p = z >= 0.0 ? 1.0 / (1.0 + e) : e / (1.0 + e);
        dlogits[i + j * ldd] = (float)((p - t) * inv_n);
      }
    }
  *loss = (float)(total * inv_n);
  if (hits)
    *hits = right;
  return BN_OK;
}

bn_status bn_sigmoid_binary_cross_entropy(size_t outputs, size_t batch, const float *logits,
                                          size_t ld, const float *targets, float *loss,
                                          float *dlogits, size_t ldd)
{
  return bni_sigmoid_binary_cross_entropy_hits(outputs, batch, logits, ld, targets, loss,
                                               dlogits, ldd, NULL);
}

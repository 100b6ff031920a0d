/* Inference: predictions (logits or probabilities) and evaluation (mean loss
 * and accuracy), in chunks so a whole dataset never needs whole-dataset
 * scratch. */
#include <string.h>
#include "mlp_internal.h"
#include "../core/checks.h"

static bn_status write_outputs(bn_mlp *m, bn_mlp_output kind, size_t n, float *out, size_t ldout)
{
  const size_t C = m->outputs;
  const float *z = m->stage[m->layers].post;
  if (kind == BN_MLP_LOGITS) {
    for (size_t j = 0; j < n; j++)
      memcpy(out + j * ldout, z + j * C, C * sizeof *out);
    return BN_OK;
  }
  bn_activation act = m->head == BN_MLP_HEAD_SOFTMAX ? BN_ACT_SOFTMAX : BN_ACT_SIGMOID;
  bn_status st = bn_activation_forward(act, 1.0f, C, n, z, C, out, ldout);
  if (st != BN_OK)
    return bni_fail(&m->err, st, "output activation failed: %s", bn_status_string(st));
  return BN_OK;
}

bn_status bn_mlp_predict(bn_mlp *mlp, bn_mode mode, bn_mlp_output kind, size_t samples,
                         const float *x, size_t ldx, float *out, size_t ldout)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  if (mode != BN_MODE_TRAINING && mode != BN_MODE_INFERENCE)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown mode %d", (int)mode);
  if (kind != BN_MLP_LOGITS && kind != BN_MLP_PROBABILITIES)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown output kind %d", (int)kind);
  bn_status st = bni_check_matrix(&m->err, "x", x, m->inputs, samples, ldx);
  if (st == BN_OK)
    st = bni_check_matrix(&m->err, "out", out, m->outputs, samples, ldout);
  if (st != BN_OK)
    return st;
  size_t chunk = mode == BN_MODE_TRAINING ? samples : bni_mlp_chunk(m, samples);
  if (mode == BN_MODE_TRAINING && samples < 2 && bni_mlp_bn_count(m) > 0)
    return bni_fail(&m->err, BN_ERR_BATCH_TOO_SMALL,
                    "a training-mode forward needs at least 2 samples");
  st = bni_mlp_reserve(m, chunk);
  for (size_t start = 0; st == BN_OK && start < samples; start += chunk) {
    size_t b = samples - start < chunk ? samples - start : chunk;
    st = bni_mlp_forward(m, mode, b, x + start * ldx, ldx, -1, NULL, NULL);
    if (st == BN_OK)
      st = write_outputs(m, kind, b, out + start * ldout, ldout);
  }
  return st;
}

bn_status bn_mlp_evaluate(bn_mlp *mlp, size_t samples, const float *x, size_t ldx,
                          const int32_t *labels, const float *targets, float *loss,
                          float *accuracy)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  bn_status st = bni_mlp_check_data(m, samples, x, ldx, labels, targets);
  const int sharded = bni_mlp_sharded(m);
  if (st != BN_OK && !sharded)
    return st;
  if (sharded) { /* the shares below split the same set on every rank */
    const double n = (double)samples;
    st = bni_mlp_agree_on(m, st, &n, 1, "the evaluation's sample count");
    if (st != BN_OK)
      return st;
  }
  /* One rank of several evaluates its contiguous share, then the sums are reduced. */
  size_t first = 0, share = samples;
  if (sharded)
    bni_mlp_share(m, samples, &first, &share);
  const size_t chunk = bni_mlp_chunk(m, share > 0 ? share : 1), C = m->outputs;
  double sums[2] = {0.0, 0.0}; /* loss, correct */
  if (st == BN_OK)
    st = bni_mlp_reserve(m, chunk);
  for (size_t start = first; st == BN_OK && start < first + share; start += chunk) {
    size_t b = first + share - start < chunk ? first + share - start : chunk, correct = 0;
    float chunk_loss = 0.0f;
    st = bni_mlp_forward(m, BN_MODE_INFERENCE, b, x + start * ldx, ldx, -1, NULL, NULL);
    if (st == BN_OK)
      st = bni_mlp_loss(m, b, m->stage[m->layers].post, labels ? labels + start : NULL,
                        targets ? targets + start * C : NULL, &chunk_loss, NULL, &correct);
    sums[0] += (double)chunk_loss * (double)b;
    sums[1] += (double)correct;
  }
  if (sharded)
    st = bni_mlp_sum_with_status(m, st, sums, 2);
  if (st != BN_OK)
    return st;
  const double loss_sum = sums[0], correct_sum = sums[1];
  const double units = m->head == BN_MLP_HEAD_SOFTMAX ? 1.0 : (double)C;
  if (loss)
    *loss = (float)(loss_sum / (double)samples);
  if (accuracy)
    *accuracy = (float)(correct_sum / ((double)samples * units));
  return BN_OK;
}

/* The passes through the layer stack: scratch sizing, forward, loss and
 * backward. One training step reads top to bottom here:
 *
 *   [standardizer] -> [input BN] -> for each hidden layer: dense -> (BN) -> act -> (BN)
 *   -> head: dense -> [BN]
 *
 * Buffers per stage: `pre` (dense output) and `post` (the stage output).
 * Activations run in place, because their backward needs only their output:
 *   NONE:   pre = dense(x); pre = act(pre); post = pre
 *   BEFORE: pre = dense(x); post = act(BN(pre)), the activation inside the
 *           BatchNorm's passes (forward and backward) when it folds
 *   AFTER:  pre = dense(x); pre = act(pre); post = BN(pre)
 * The backward goes through two gradient buffers in turn. */
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"
#include "../kernels/losses_internal.h"
#include "../core/checks.h"
#include "../kernels/batchnorm_loops.h"
#include "../layers/batchnorm_rows.h"

size_t bni_mlp_chunk(const bn_mlp *m, size_t n)
{
  size_t chunk = m->cap > BNI_MLP_DEFAULT_CHUNK ? m->cap : BNI_MLP_DEFAULT_CHUNK;
  return n < chunk ? n : chunk;
}

/* Add rows*cap floats to *total; 0 on overflow. */
static int add_rows(size_t *total, size_t rows, size_t cap)
{
  size_t n;
  if (!bni_mul_size(rows, cap, &n) || n > SIZE_MAX - *total)
    return 0;
  *total += n;
  return 1;
}

bn_status bni_mlp_reserve(bn_mlp *m, size_t batch)
{
  if (batch <= m->cap)
    return BN_OK;
  const size_t L = m->layers;
  size_t total = 0;
  int ok = add_rows(&total, m->standardizer ? m->inputs : 0, batch) &&
           add_rows(&total, m->input_bn ? m->inputs : 0, batch) &&
           add_rows(&total, 2 * m->widest, batch) && /* gradient buffers */
           add_rows(&total, m->inputs, batch) &&     /* fit's batch */
           add_rows(&total, m->outputs, batch) &&    /* fit's targets */
           add_rows(&total, 1, batch);               /* fit's labels (int32 = float size) */
  for (size_t i = 0; ok && i <= L; i++) {
    ok = add_rows(&total, m->stage[i].out, batch);
    if (ok && m->stage[i].bn) /* the BatchNorm's output */
      ok = add_rows(&total, m->stage[i].out, batch);
  }
  if (!ok || total > SIZE_MAX / sizeof(float))
    return bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "scratch for a batch of %zu overflows", batch);
  float *block = malloc(total * sizeof(float));
  if (!block)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "no memory for a batch of %zu samples", batch);
  free(m->scratch);
  m->scratch = block;
  m->cap = batch;
  float *p = block;
#define TAKE(rows) (p += (rows) * batch, p - (rows) * batch)
  m->xstd = m->standardizer ? TAKE(m->inputs) : NULL;
  m->xbn = m->input_bn ? TAKE(m->inputs) : NULL;
  m->gbuf[0] = TAKE(m->widest);
  m->gbuf[1] = TAKE(m->widest);
  m->batch_x = TAKE(m->inputs);
  m->batch_targets = TAKE(m->outputs);
  m->batch_labels = (int32_t *)(void *)TAKE(1);
  for (size_t i = 0; i <= L; i++) {
    bni_stage *s = &m->stage[i];
    s->pre = TAKE(s->out);
    s->post = s->bn ? TAKE(s->out) : s->pre;
  }
#undef TAKE
  return BN_OK;
}

static bn_status layer_fail(bn_mlp *m, bn_status st, size_t layer, const char *what,
                            const char *detail)
{
  return bni_fail(&m->err, st, "layer %zu %s: %s (%s)", layer, what, bn_status_string(st), detail);
}

const float *bni_mlp_network_input(const bn_mlp *m, const float *x, size_t ldx, size_t *ld)
{
  *ld = m->standardizer ? m->inputs : ldx;
  return m->standardizer ? m->xstd : x;
}

/* The head's BatchNorm (BN_MLP_HEAD_BATCHNORM): the logits are its output. */
static bn_status head_batchnorm(bn_mlp *m, bn_mode mode, size_t n, bni_stage *s, long stop_bn,
                                const float **stop_in, size_t *stop_ld)
{
  if (!s->bn)
    return BN_OK;
  if (stop_bn == (long)(m->layers + 1)) {
    *stop_in = s->pre, *stop_ld = s->out;
    return BN_OK;
  }
  bn_status st = bni_mlp_batchnorm_forward(m, s->bn, mode, n, s->pre, s->out, s->post, s->out);
  if (st != BN_OK)
    return layer_fail(m, st, m->layers + 1, "BatchNorm", bn_batchnorm_last_error(s->bn));
  return BN_OK;
}

/* Whether a hidden layer whose BatchNorm feeds the activation runs the
 * activation inside the BatchNorm's passes, forward
 * (bni_batchnorm_forward_activation) or backward
 * (bni_batchnorm_backward_activation): where it was measured to pay, and
 * not inside a sharded step, whose BatchNorm goes through the reducer. */
static int folds_activation(const bn_mlp *m, const bn_batchnorm *bn, int backward)
{
  /* a sharded step's BatchNorm goes through the reducer (moments; sums, then dx) */
  if (m->red.stepping || !bni_batchnorm_folds_activation(bn, m->act))
    return 0;
  /* Where it pays (docs/performance.md, "The activation inside the
   * BatchNorm's passes"): ReLU on every path, both ways. The forwards of
   * ELU, sigmoid and tanh ran up to a quarter slower inside the normalize
   * loop than in a pass of their own; their derivatives inside the
   * backward's double reduction pay on the AVX-512 path only. The bits are
   * the same either way. */
  return m->act == BN_ACT_RELU || m->act == BN_ACT_IDENTITY ||
         (backward && bni_isa_select() == BNI_ISA_AVX512);
}

bn_status bni_mlp_forward(bn_mlp *m, bn_mode mode, size_t n, const float *x, size_t ldx,
                          long stop_bn, const float **stop_in, size_t *stop_ld)
{
  bn_status st;
  if (m->standardizer) {
    if ((st = bni_mlp_check_standardizer(m)) != BN_OK)
      return st;
    st = bn_standardizer_transform(m->standardizer, n, x, ldx, m->xstd, m->inputs);
    if (st != BN_OK)
      return layer_fail(m, st, 0, "standardizer", bn_standardizer_last_error(m->standardizer));
  }
  size_t lda;
  const float *a = bni_mlp_network_input(m, x, ldx, &lda);
  if (m->input_bn) {
    if (stop_bn == 0) {
      *stop_in = a, *stop_ld = lda;
      return BN_OK;
    }
    st = bni_mlp_batchnorm_forward(m, m->input_bn, mode, n, a, lda, m->xbn, m->inputs);
    if (st != BN_OK)
      return layer_fail(m, st, 0, "BatchNorm", bn_batchnorm_last_error(m->input_bn));
    a = m->xbn, lda = m->inputs;
  }
  for (size_t i = 0; i <= m->layers; i++) {
    bni_stage *s = &m->stage[i];
    const size_t F = s->out;
    st = bn_dense_forward(s->dense, n, a, lda, s->pre, F);
    if (st != BN_OK)
      return layer_fail(m, st, i + 1, "dense", bn_dense_last_error(s->dense));
    if (i == m->layers)
      return head_batchnorm(m, mode, n, s, stop_bn, stop_in, stop_ld);
    if (m->placement == BN_MLP_BN_AFTER || m->placement == BN_MLP_BN_NONE) {
      st = bn_activation_forward(m->act, m->elu_alpha, F, n, s->pre, F, s->pre, F);
      if (st != BN_OK)
        return layer_fail(m, st, i + 1, "activation", "forward");
    }
    /* BatchNorm then activation: the activation inside the normalize pass
     * when it folds (one pass over post fewer), else on its own after it */
    const int folded =
      m->placement == BN_MLP_BN_BEFORE && s->bn && folds_activation(m, s->bn, 0);
    if (s->bn) {
      if (stop_bn == (long)(i + 1)) {
        *stop_in = s->pre, *stop_ld = F;
        return BN_OK;
      }
      st = folded ? bni_batchnorm_forward_activation(s->bn, mode, n, s->pre, F, m->act,
                                                     m->elu_alpha, s->post, F)
                  : bni_mlp_batchnorm_forward(m, s->bn, mode, n, s->pre, F, s->post, F);
      if (st != BN_OK)
        return layer_fail(m, st, i + 1, "BatchNorm", bn_batchnorm_last_error(s->bn));
    }
    if (m->placement == BN_MLP_BN_BEFORE && !folded) {
      st = bn_activation_forward(m->act, m->elu_alpha, F, n, s->post, F, s->post, F);
      if (st != BN_OK)
        return layer_fail(m, st, i + 1, "activation", "forward");
    }
    a = s->post, lda = F;
  }
  return BN_OK;
}

bn_status bni_mlp_loss(bn_mlp *m, size_t n, const float *logits, const int32_t *labels,
                       const float *targets, float *loss, float *dlogits, size_t *correct)
{
  const size_t C = m->outputs;
  size_t hits = 0;
  bn_status st =
    m->head == BN_MLP_HEAD_SOFTMAX
      ? bni_softmax_cross_entropy_hits(C, n, logits, C, labels, loss, dlogits, C, &hits)
      : bni_sigmoid_binary_cross_entropy_hits(C, n, logits, C, targets, loss, dlogits, C, &hits);
  if (st != BN_OK)
    return bni_fail(&m->err, st, "loss: %s (%s)", bn_status_string(st),
                    st == BN_ERR_NON_FINITE ? "the logits are not finite: diverged?"
                                            : "invalid labels or targets");
  if (correct)
    *correct = hits;
  return BN_OK;
}

bn_status bni_mlp_backward(bn_mlp *m, size_t n, const float *x, size_t ldx, const float *dlogits)
{
  float *g = m->gbuf[0], *other = m->gbuf[1];
  bn_status st;
  if (dlogits != g)
    memcpy(g, dlogits, m->outputs * n * sizeof *g);
  for (size_t i = m->layers + 1; i-- > 0;) {
    bni_stage *s = &m->stage[i];
    const size_t F = s->out;
    if (i == m->layers && s->bn &&
        (st = bni_mlp_batchnorm_backward(m, s->bn, n, s->pre, F, g, F, g, F)) != BN_OK)
      return layer_fail(m, st, i + 1, "BatchNorm backward", bn_batchnorm_last_error(s->bn));
    if (i < m->layers) { /* g is d(loss)/d(post): undo the activation and the BatchNorm */
      if (m->placement == BN_MLP_BN_BEFORE) {
        /* the activation's backward inside the BatchNorm's passes when it
         * folds (one pass over g fewer), else on its own before them */
        const int folded = folds_activation(m, s->bn, 1);
        st = folded ? BN_OK
                    : bn_activation_backward(m->act, m->elu_alpha, F, n, s->post, F, g, F, g, F);
        if (st == BN_OK &&
            (st = folded ? bni_batchnorm_backward_activation(s->bn, n, s->pre, F, m->act,
                                                             m->elu_alpha, s->post, F, g, F, g, F)
                         : bni_mlp_batchnorm_backward(m, s->bn, n, s->pre, F, g, F, g, F)) != BN_OK)
          return layer_fail(m, st, i + 1, "BatchNorm backward", bn_batchnorm_last_error(s->bn));
      } else {
        if (s->bn && (st = bni_mlp_batchnorm_backward(m, s->bn, n, s->pre, F, g, F, g, F)) != BN_OK)
          return layer_fail(m, st, i + 1, "BatchNorm backward", bn_batchnorm_last_error(s->bn));
        st = bn_activation_backward(m->act, m->elu_alpha, F, n, s->pre, F, g, F, g, F);
      }
      if (st != BN_OK)
        return layer_fail(m, st, i + 1, "activation backward", "backward");
    }
    size_t ldin;
    const float *in = bni_mlp_network_input(m, x, ldx, &ldin);
    if (i == 0 && m->input_bn) { /* its dgamma and dbeta without dX (input_batchnorm.c) */
      st = bni_mlp_input_batchnorm_backward(m, n, in, ldin, g, F, other);
      if (st != BN_OK)
        return layer_fail(m, st, 0, "BatchNorm backward", bn_batchnorm_last_error(m->input_bn));
      break;
    }
    if (i > 0)
      in = m->stage[i - 1].post, ldin = s->in;
    st = bn_dense_backward(s->dense, n, in, ldin, g, F, i > 0 ? other : NULL, s->in);
    if (st != BN_OK)
      return layer_fail(m, st, i + 1, "dense backward", bn_dense_last_error(s->dense));
    float *t = g;
    g = other, other = t;
  }
  return BN_OK;
}

/* Training: one step on a mini-batch (forward, loss, backward, update) and
 * fit, the epoch loop over an in-memory dataset with seeded shuffling. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "mlp_internal.h"
#include "../core/checks.h"

/* The gradients the backward left in the layers, all finite, or why not;
 * records each tensor's extent for the update's finiteness bound (from the
 * gradients alone while the last update's maxima still hold). */
static bn_status check_grads(bn_mlp *m)
{
  for (size_t k = 0; k < m->nseg; k++) {
    bni_segment *s = &m->seg[k];
    if (m->extent_kept)
      bni_optimizer_grad_extent(s->grad, s->count, &s->kept, &s->extent);
    else
      bni_optimizer_extent(&m->opt, s->param, s->grad, m->moment1 + s->offset,
                           m->moment2 + s->offset, s->count, &s->extent);
    if (!s->extent.grad_finite)
      return bni_fail(&m->err, BN_ERR_NON_FINITE,
                      "layer %zu: a gradient is not finite (diverged?)", s->layer);
  }
  return BN_OK;
}

static int has_batchnorm(const bn_mlp *m)
{
  return bni_mlp_bn_count(m) > 0;
}

static double decay_of(const bn_mlp *m, const bni_segment *s)
{
  return bni_describe_role(s->role)->decayed || m->opt.decay_all ? m->opt.weight_decay : 0.0;
}

/* The optimizer's update of every parameter from the gradients in the layers
 * (after check_grads). Every new value is proven finite before any is
 * written, so an update that would overflow (a parameter, or a moment such
 * as Adam's g*g) leaves the parameters and the optimizer state as they
 * were, and one that passes needs no check afterwards. */
static bn_status update(bn_mlp *m)
{
  const uint64_t t = m->opt.step + 1;
  for (size_t k = 0; k < m->nseg; k++) {
    const bni_segment *s = &m->seg[k];
    if (!bni_optimizer_stays_finite(&m->opt, t, &s->extent, s->param, s->grad,
                                    m->moment1 + s->offset, m->moment2 + s->offset, s->count,
                                    decay_of(m, s)))
      return bni_fail(&m->err, BN_ERR_NON_FINITE,
                      "layer %zu: the update would overflow float (diverged?); the parameters "
                      "and optimizer state are unchanged", s->layer);
  }
  for (size_t k = 0; k < m->nseg; k++) {
    bni_segment *s = &m->seg[k];
    bni_optimizer_update(&m->opt, t, s->param, s->grad, m->moment1 + s->offset,
                         m->moment2 + s->offset, s->count, decay_of(m, s), &s->kept);
  }
  m->extent_kept = 1;
  m->opt.step = t;
  return BN_OK;
}

/* A model file holds at most the BN_MLP_STEP bound: stop before passing it. */
static bn_status check_step_bound(bn_mlp *m)
{
  double lowest, most;
  bn_mlp_parameter_bounds(BN_MLP_STEP, &lowest, &most);
  if ((double)m->opt.step >= most)
    return bni_fail(&m->err, BN_ERR_WRONG_STATE,
                    "the optimizer has taken %.0f steps, the most a model keeps; set BN_MLP_STEP "
                    "(e.g. to 0) to continue", most);
  return BN_OK;
}

/* One rank's part of a step over every rank's shard (reducer.c says which
 * collectives run). The loss is the mean over all ranks' samples, so dlogits
 * is scaled by n/total, and each rank's gradients are its share of the sum. */
static bn_status sharded_step(bn_mlp *m, bn_status st, size_t n, const float *x, size_t ldx,
                              const int32_t *labels, const float *targets, float *loss,
                              size_t *correct)
{
  if (st == BN_OK)
    st = check_step_bound(m);
  if (st == BN_OK)
    st = bni_mlp_reserve(m, n);
  st = bni_mlp_agree(m, st, n);
  if (st == BN_OK && m->red.count < 2.0 && has_batchnorm(m))
    st = bni_fail(&m->err, BN_ERR_BATCH_TOO_SMALL,
                  "training a network with BatchNorm needs batches of at least 2 samples");
  if (st != BN_OK)
    return st;
  m->red.stepping = 1;
  float local_loss = 0.0f;
  size_t hits = 0;
  bn_status loss_st = BN_OK;
  /* The forward and backward fail only at a collective, on every rank at
   * once (a rank with bad values sends NaN there), so returning is safe. */
  st = bni_mlp_forward(m, BN_MODE_TRAINING, n, x, ldx, -1, NULL, NULL);
  if (st == BN_OK) {
    float *dlogits = m->gbuf[0];
    const size_t values = n * m->outputs;
    loss_st = bni_mlp_loss(m, n, m->stage[m->layers].post, labels, targets, &local_loss,
                           dlogits, &hits);
    /* A rank whose loss failed goes on with NaN and its status: the other
     * ranks then fail at the next collective instead of waiting. */
    const double scale = (double)n / m->red.count;
    for (size_t k = 0; k < values; k++)
      dlogits[k] = loss_st == BN_OK ? (float)((double)dlogits[k] * scale) : NAN;
    st = bni_mlp_backward(m, n, x, ldx, dlogits);
  }
  m->red.stepping = 0;
  if (st != BN_OK)
    return st;
  st = loss_st;
  double loss_sum = (double)local_loss * (double)n, correct_sum = (double)hits;
  st = bni_mlp_reduce_step(m, st, &loss_sum, &correct_sum);
  if (st == BN_OK)
    st = check_grads(m);
  m->have_grads = st == BN_OK;
  if (st != BN_OK)
    return st;
  *loss = (float)(loss_sum / m->red.count);
  if (correct)
    *correct = (size_t)correct_sum;
  return update(m);
}

bn_status bni_mlp_step(bn_mlp *m, size_t n, const float *x, size_t ldx, const int32_t *labels,
                       const float *targets, float *loss, size_t *correct)
{
  if (bni_mlp_sharded(m))
    return sharded_step(m, BN_OK, n, x, ldx, labels, targets, loss, correct);
  if (n < 2 && has_batchnorm(m))
    return bni_fail(&m->err, BN_ERR_BATCH_TOO_SMALL,
                    "training a network with BatchNorm needs batches of at least 2 samples");
  bn_status st = check_step_bound(m);
  if (st == BN_OK)
    st = bni_mlp_reserve(m, n);
  if (st == BN_OK)
    st = bni_mlp_forward(m, BN_MODE_TRAINING, n, x, ldx, -1, NULL, NULL);
  if (st == BN_OK)
    st = bni_mlp_loss(m, n, m->stage[m->layers].post, labels, targets, loss, m->gbuf[0], correct);
  if (st == BN_OK)
    st = bni_mlp_backward(m, n, x, ldx, m->gbuf[0]);
  if (st == BN_OK)
    st = check_grads(m);
  m->have_grads = st == BN_OK;
  if (st != BN_OK)
    return st;
  return update(m);
}

bn_status bn_mlp_train_step(bn_mlp *mlp, size_t batch, const float *x, size_t ldx,
                            const int32_t *labels, const float *targets, float *loss)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_status st = bni_mlp_check_data(mlp, batch, x, ldx, labels, targets);
  float value = 0.0f;
  if (bni_mlp_sharded(mlp)) /* a rank with bad data still joins the step's collectives */
    st = sharded_step(mlp, st, batch, x, ldx, labels, targets, &value, NULL);
  else if (st == BN_OK)
    st = bni_mlp_step(mlp, batch, x, ldx, labels, targets, &value, NULL);
  if (st == BN_OK && loss)
    *loss = value;
  return st;
}

bn_status bn_mlp_set_batch_callback(bn_mlp *mlp, bn_mlp_batch_callback callback)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  mlp->batch_cb = callback;
  return BN_OK;
}

static double now_seconds(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Uniform integer in [0, bound) without modulo bias. */
static uint64_t below(bn_rng *rng, uint64_t bound)
{
  uint64_t r, threshold = (0 - bound) % bound;
  do
    bn_rng_next_u64(rng, &r);
  while (r < threshold);
  return r % bound;
}

/* Samples ahead whose rows gather prefetches. */
#define GATHER_AHEAD 4u

/* Copy the samples idx[0..b) into the batch buffers. The rows are scattered
 * over the training set, beyond the caches: each copy first asks for the
 * row GATHER_AHEAD samples on, whose lines then arrive while this one is
 * copied (the hardware prefetchers only follow a row once it is read). */
static void gather(bn_mlp *m, const size_t *idx, size_t b, const float *x, size_t ldx,
                   const int32_t *labels, const float *targets)
{
  const size_t F = m->inputs, C = m->outputs;
  for (size_t j = 0; j < b; j++) {
#if defined(__GNUC__)
    if (j + GATHER_AHEAD < b) {
      const char *ahead = (const char *)(x + idx[j + GATHER_AHEAD] * ldx);
      for (size_t o = 0; o < F * sizeof(float); o += 64)
        __builtin_prefetch(ahead + o, 0, 0);
    }
#endif
    memcpy(m->batch_x + j * F, x + idx[j] * ldx, F * sizeof(float));
    if (labels)
      m->batch_labels[j] = labels[idx[j]];
    else
      memcpy(m->batch_targets + j * C, targets + idx[j] * C, C * sizeof(float));
  }
}

bn_status bn_mlp_fit(bn_mlp *mlp, size_t samples, const float *x, size_t ldx,
                     const int32_t *labels, const float *targets, size_t batch_size,
                     size_t epochs, bn_rng *rng, bn_mlp_epoch_callback callback, void *user)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  bn_status st = bni_mlp_check_data(m, samples, x, ldx, labels, targets);
  if (st == BN_OK && batch_size == 0)
    st = bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "batch size is 0");
  if (batch_size > samples)
    batch_size = samples;
  if (st == BN_OK && batch_size < 2 && has_batchnorm(m))
    st = bni_fail(&m->err, BN_ERR_BATCH_TOO_SMALL,
                  "training a network with BatchNorm needs batches of at least 2 samples");
  const int sharded = bni_mlp_sharded(m);
  if (st == BN_OK && sharded && batch_size < m->red.size)
    st = bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT,
                  "batch size %zu is smaller than the %zu ranks (every rank takes a share of "
                  "every batch)", batch_size, m->red.size);
  if (sharded) { /* every rank must walk the same batches */
    const double same[3] = {(double)samples, (double)batch_size, (double)epochs};
    st = bni_mlp_agree_on(m, st, same, 3, "sample count, batch size or epochs");
  }
  if (st != BN_OK)
    return st;
  if (epochs == 0)
    return BN_OK;
  size_t *order = malloc(samples * sizeof *order);
  if (!order)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "no memory for the sample order");
  st = bni_mlp_reserve(m, batch_size);
  /* A standardizer stage not fitted yet takes the statistics of this data,
   * once the memory is there: running out of it leaves the stage unfitted. */
  if (st == BN_OK && m->standardizer && bni_mlp_check_standardizer(m) != BN_OK)
    st = bn_mlp_fit_standardizer(m, samples, x, ldx);
  const double units = m->head == BN_MLP_HEAD_SOFTMAX ? 1.0 : (double)m->outputs;
  int stop = 0;
  for (size_t epoch = 1; st == BN_OK && epoch <= epochs && !stop; epoch++) {
    /* Every epoch shuffles the identity, so its order depends only on rng. */
    for (size_t i = 0; i < samples; i++)
      order[i] = i;
    for (size_t i = samples; rng && i > 1; i--) {
      size_t j = (size_t)below(rng, i), t = order[i - 1];
      order[i - 1] = order[j];
      order[j] = t;
    }
    double t0 = now_seconds(), loss_sum = 0.0, correct_sum = 0.0;
    size_t seen = 0;
    for (size_t start = 0; start < samples && !stop; start += batch_size) {
      size_t b = samples - start < batch_size ? samples - start : batch_size;
      if ((b < 2 && has_batchnorm(m)) || (sharded && b < m->red.size))
        break;
      size_t first = 0, share = b; /* this rank's contiguous part of the batch */
      if (sharded)
        bni_mlp_share(m, b, &first, &share);
      gather(m, order + start + first, share, x, ldx, labels, targets);
      float loss;
      size_t correct;
      st = bni_mlp_step(m, share, m->batch_x, m->inputs, labels ? m->batch_labels : NULL,
                        labels ? NULL : m->batch_targets, &loss, &correct);
      if (st != BN_OK)
        break;
      loss_sum += (double)loss * (double)b;
      correct_sum += (double)correct;
      seen += b;
      if (m->batch_cb &&
          m->batch_cb(user, epoch, seen, samples, (float)(loss_sum / (double)seen),
                      (float)(correct_sum / ((double)seen * units))))
        stop = 1;
    }
    if (st != BN_OK || seen == 0)
      break;
    double seconds = now_seconds() - t0;
    if (callback && callback(user, epoch, (float)(loss_sum / (double)seen),
                             (float)(correct_sum / ((double)seen * units)), seconds))
      stop = 1;
  }
  free(order);
  return st;
}

/* The BatchNorm layer: parameters, running statistics and the bookkeeping
 * that ties a backward to its forward, over the kernels' algorithms. */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/batchnorm.h>
#include "../core/blob.h"
#include "../core/checks.h"
#include "../core/moments.h"
#include "../core/params.h"
#include "../kernels/batchnorm_algorithms.h"
#include "../kernels/batchnorm_constants.h"
#include "batchnorm_rows.h"

#define STATE_MAGIC "BNST"
#define STATE_VERSION 2u
/* Version 1 (libbn 1.0) lacks the renorm words: rmax, dmax, options, reserved. */
#define STATE_V1_HEADER_BYTES 40u
#define STATE_HEADER_BYTES 56u
#define STATE_OPTION_SCHEDULE 1u
#define V1_FLAGS                                                                            \
  (BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT | BN_BATCHNORM_NO_RUNNING_STATS |           \
   BN_BATCHNORM_CUMULATIVE_AVERAGE | BN_BATCHNORM_BIASED_RUNNING_VAR | BN_BATCHNORM_FUSE_RELU)
#define KNOWN_FLAGS (V1_FLAGS | BN_BATCHNORM_RENORM)
#define DEFAULT_RMAX 3.0f
#define DEFAULT_DMAX 5.0f

/* What the last forward left for the backward. */
enum pending {
  PENDING_NONE = 0,
  PENDING_BATCH_STATS, /* full gradient with saved mean / invstd / residual */
  PENDING_CONST_STATS, /* running statistics were constants */
  PENDING_GLOBAL_STATS /* statistics of a batch spread over shards (pending_count) */
};

struct bn_batchnorm {
  size_t features;
  unsigned flags;
  float eps, update_factor;
  uint64_t batches_tracked;
  float rmax, dmax;  /* Batch Renormalization's fixed limits */
  int renorm_schedule; /* 1: the paper's limits by batches_tracked instead */
  enum pending pending;
  size_t pending_batch;
  int pending_renorm; /* the pending batch-statistics forward used r and d */
  double pending_count; /* the whole batch's samples after PENDING_GLOBAL_STATS */
  int have_grads;
  /* F floats each, one 64-byte aligned allocation, rows F rounded up to 16 apart */
  float *gamma, *beta, *running_mean, *running_var, *dgamma, *dbeta, *saved_mean, *saved_invstd;
  float *renorm_r, *renorm_d;
  double *residual, *batch_mean, *batch_var; /* F doubles each */
  double *work;                              /* kernel scratch */
  unsigned threads;                          /* most threads per pass, >= 1 */
  double *partials; /* threads > 1: one block for bni_bn_exec (batchnorm_parallel.h), else NULL */
  bni_pool *pool;   /* threads - 1 workers when threads > 1 and they started, else NULL */
  bni_error err;
};

#define FLOAT_ROWS 10
#define DOUBLE_ROWS (3 + BNI_BN_WORK_PER_FEATURE)

/* The error buffer is the only thing a call writes through a const handle,
 * like errno: a message is not part of the layer's observable state. */
static bni_error *err_of(const bn_batchnorm *l)
{
  return (bni_error *)(uintptr_t)&l->err;
}

static int has(const bn_batchnorm *l, unsigned flag)
{
  return (l->flags & flag) != 0;
}

/* Running-statistics options and Batch Renormalization need running statistics. */
static int flags_consistent(unsigned flags)
{
  return !((flags & BN_BATCHNORM_NO_RUNNING_STATS) &&
           (flags & (BN_BATCHNORM_CUMULATIVE_AVERAGE | BN_BATCHNORM_RENORM)));
}

bn_status bn_batchnorm_create(bn_batchnorm **out, size_t features, unsigned flags)
{
  if (!out)
    return BN_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (features == 0 || (flags & ~(unsigned)KNOWN_FLAGS))
    return BN_ERR_INVALID_ARGUMENT;
  if (!flags_consistent(flags))
    return BN_ERR_INVALID_ARGUMENT;
  /* Rows lie `stride` elements apart, F rounded up to whole lines, so that
   * each starts on a line of the aligned block (row_lines.h). Double rows
   * of the same stride are whole lines too. */
  size_t nd, nf, bytes;
  const size_t stride = bni_bn_line_elements(features, sizeof(float));
  if (!stride || !bni_mul_size(stride, DOUBLE_ROWS * sizeof(double), &nd) ||
      !bni_mul_size(stride, FLOAT_ROWS * sizeof(float), &nf) || nd > SIZE_MAX - nf)
    return BN_ERR_SIZE_OVERFLOW;
  bytes = nd + nf;
  bn_batchnorm *l = calloc(1, sizeof *l);
  double *block = bni_bn_alloc_rows(bytes);
  if (!l || !block) {
    free(l);
    free(block);
    return BN_ERR_OUT_OF_MEMORY;
  }
  l->features = features;
  l->flags = flags;
  l->eps = 1e-5f;
  l->update_factor = 0.1f;
  l->rmax = DEFAULT_RMAX;
  l->dmax = DEFAULT_DMAX;
  l->threads = 1;
  l->residual = block;
  l->batch_mean = block + stride;
  l->batch_var = block + 2 * stride;
  l->work = block + 3 * stride;
  float *fl = (float *)(void *)(block + DOUBLE_ROWS * stride);
  float **rows[FLOAT_ROWS] = {&l->gamma, &l->beta, &l->running_mean, &l->running_var,
                              &l->dgamma, &l->dbeta, &l->saved_mean, &l->saved_invstd,
                              &l->renorm_r, &l->renorm_d};
  for (size_t r = 0; r < FLOAT_ROWS; r++)
    *rows[r] = fl + r * stride;
  for (size_t f = 0; f < features; f++) {
    l->gamma[f] = 1.0f;
    l->beta[f] = 0.0f;
    l->running_mean[f] = 0.0f;
    l->running_var[f] = 1.0f;
  }
  *out = l;
  return BN_OK;
}

void bn_batchnorm_destroy(bn_batchnorm *layer)
{
  if (!layer)
    return;
  free(layer->residual); /* the start of the one block */
  free(layer->partials);
  bni_pool_destroy(layer->pool);
  free(layer);
}

const char *bn_batchnorm_last_error(const bn_batchnorm *layer)
{
  return layer ? layer->err.text : "layer is NULL";
}

bn_status bn_batchnorm_features(const bn_batchnorm *layer, size_t *features)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!features)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "features is NULL");
  *features = layer->features;
  return BN_OK;
}

bn_status bn_batchnorm_flags(const bn_batchnorm *layer, unsigned *flags)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!flags)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "flags is NULL");
  *flags = layer->flags;
  return BN_OK;
}

/* ---- tunables ------------------------------------------------------------ */

static const bni_param_range *param_range(bn_batchnorm_param param)
{
  static const bni_param_range table[] = {
    [BN_BATCHNORM_EPSILON] = {"eps", 0, FLT_MAX, 1, 0, 0, 1},
    [BN_BATCHNORM_UPDATE_FACTOR] = {"update factor", 0, 1, 1, 0, 0, 1},
    [BN_BATCHNORM_THREADS] = {"threads", 1, BNI_BN_MAX_THREADS, 0, 0, 1, 0},
    [BN_BATCHNORM_BATCHES_TRACKED] = {"batches tracked", 0, 9007199254740992.0 /* 2^53 */,
                                      0, 0, 1, 0},
    [BN_BATCHNORM_RENORM_RMAX] = BNI_RENORM_RMAX_RANGE,
    [BN_BATCHNORM_RENORM_DMAX] = BNI_RENORM_DMAX_RANGE,
    [BN_BATCHNORM_RENORM_SCHEDULE] = {"renorm schedule", 0, 1, 0, 0, 1, 0},
  };
  size_t i = (size_t)param;
  return (int)param > 0 && i < sizeof table / sizeof *table && table[i].name ? &table[i] : NULL;
}

/* threads is in [1, BNI_BN_MAX_THREADS]. The new scratch and workers are
 * made before the old ones go, so a failure leaves the layer as it was. */
static bn_status set_threads(bn_batchnorm *layer, unsigned threads)
{
  double *partials = NULL;
  bni_pool *pool = NULL;
  if (threads > 1) {
    size_t bytes;
    const size_t row = bni_bn_line_elements(layer->features, sizeof(double));
    if (!row || !bni_mul_size(row,
                      (size_t)threads * BNI_BN_PARTIAL_ROWS * sizeof(double), &bytes))
      return bni_fail(&layer->err, BN_ERR_OUT_OF_MEMORY, "scratch for %u threads overflows",
                      threads);
    partials = bni_bn_alloc_rows(bytes);
    if (!partials || bni_pool_create(threads - 1, &pool) != BN_OK) {
      free(partials);
      return bni_fail(&layer->err, BN_ERR_OUT_OF_MEMORY,
                      "cannot allocate the scratch for %u threads", threads);
    }
  }
  free(layer->partials);
  bni_pool_destroy(layer->pool);
  layer->partials = partials;
  layer->pool = pool;
  layer->threads = threads;
  return BN_OK;
}

bn_status bn_batchnorm_set_parameter(bn_batchnorm *layer, bn_batchnorm_param param, double value)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  const bni_param_range *range = param_range(param);
  if (!range)
    return bni_fail(&layer->err, BN_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)param);
  bn_status st = bni_check_param(&layer->err, range, value);
  if (st != BN_OK)
    return st;
  switch (param) {
  case BN_BATCHNORM_EPSILON: layer->eps = (float)value; break;
  case BN_BATCHNORM_UPDATE_FACTOR: layer->update_factor = (float)value; break;
  case BN_BATCHNORM_THREADS: return set_threads(layer, (unsigned)value);
  case BN_BATCHNORM_BATCHES_TRACKED: layer->batches_tracked = (uint64_t)value; break;
  case BN_BATCHNORM_RENORM_RMAX: layer->rmax = (float)value; break;
  case BN_BATCHNORM_RENORM_DMAX: layer->dmax = (float)value; break;
  case BN_BATCHNORM_RENORM_SCHEDULE: layer->renorm_schedule = value != 0.0; break;
  }
  return BN_OK;
}

bn_status bn_batchnorm_get_parameter(const bn_batchnorm *layer, bn_batchnorm_param param,
                                     double *value)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!param_range(param))
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)param);
  if (!value)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "value is NULL");
  switch (param) {
  case BN_BATCHNORM_EPSILON: *value = layer->eps; break;
  case BN_BATCHNORM_UPDATE_FACTOR: *value = layer->update_factor; break;
  case BN_BATCHNORM_THREADS: *value = layer->threads; break;
  case BN_BATCHNORM_BATCHES_TRACKED: *value = (double)layer->batches_tracked; break;
  case BN_BATCHNORM_RENORM_RMAX: *value = layer->rmax; break;
  case BN_BATCHNORM_RENORM_DMAX: *value = layer->dmax; break;
  case BN_BATCHNORM_RENORM_SCHEDULE: *value = layer->renorm_schedule; break;
  }
  return BN_OK;
}

bn_status bn_batchnorm_parameter_bounds(bn_batchnorm_param param, double *lower, double *upper)
{
  const bni_param_range *range = param_range(param);
  return range ? bni_param_bounds(range, lower, upper) : BN_ERR_INVALID_ARGUMENT;
}

/* The superseded per-tunable accessors forward to the parameter interface;
 * the float-typed getters read the stored float exactly. */

bn_status bn_batchnorm_set_eps(bn_batchnorm *layer, float eps)
{
  return bn_batchnorm_set_parameter(layer, BN_BATCHNORM_EPSILON, (double)eps);
}

static bn_status get_float_parameter(const bn_batchnorm *layer, bn_batchnorm_param param,
                                     float *out)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!out)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "output is NULL");
  double value = 0;
  bn_status st = bn_batchnorm_get_parameter(layer, param, &value);
  if (st == BN_OK)
    *out = (float)value;
  return st;
}

bn_status bn_batchnorm_get_eps(const bn_batchnorm *layer, float *eps)
{
  return get_float_parameter(layer, BN_BATCHNORM_EPSILON, eps);
}

bn_status bn_batchnorm_set_update_factor(bn_batchnorm *layer, float factor)
{
  return bn_batchnorm_set_parameter(layer, BN_BATCHNORM_UPDATE_FACTOR, (double)factor);
}

bn_status bn_batchnorm_get_update_factor(const bn_batchnorm *layer, float *factor)
{
  return get_float_parameter(layer, BN_BATCHNORM_UPDATE_FACTOR, factor);
}

bn_status bn_batchnorm_set_threads(bn_batchnorm *layer, unsigned threads)
{
  return bn_batchnorm_set_parameter(layer, BN_BATCHNORM_THREADS, (double)threads);
}

bn_status bn_batchnorm_get_threads(const bn_batchnorm *layer, unsigned *threads)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!threads)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "threads is NULL");
  *threads = layer->threads;
  return BN_OK;
}

/* The 64-bit counter keeps its exact accessors: the parameter interface
 * carries it as a double, exact up to 2^53. */
bn_status bn_batchnorm_batches_tracked(const bn_batchnorm *layer, uint64_t *count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!count)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "count is NULL");
  *count = layer->batches_tracked;
  return BN_OK;
}

bn_status bn_batchnorm_set_batches_tracked(bn_batchnorm *layer, uint64_t count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  layer->batches_tracked = count;
  return BN_OK;
}

/* How this layer's passes run: its loops for this CPU, over its threads, on
 * its worker pool (without one, when its threads could not start, passes
 * create their threads). */
static bni_bn_exec exec_of(const bn_batchnorm *l)
{
  bni_bn_exec ex = {bni_bn_loops_select(), l->threads, l->partials, l->pool};
  return ex;
}

/* Did the last forward save batch statistics (its own or a sharded batch's)? */
static int saved_stats_pending(const bn_batchnorm *l)
{
  return l->pending == PENDING_BATCH_STATS || l->pending == PENDING_GLOBAL_STATS;
}

/* Batch Renormalization's r and d of the pending forward, or NULL (plain). */
static const float *pending_r(const bn_batchnorm *l)
{
  return l->pending_renorm ? l->renorm_r : NULL;
}

static const float *pending_d(const bn_batchnorm *l)
{
  return l->pending_renorm ? l->renorm_d : NULL;
}

/* The row behind a tensor id, or the reason it is not readable now. */
static bn_status tensor_row(bn_batchnorm *l, bn_batchnorm_tensor which, int writing,
                            float **row)
{
  const char *name = "tensor";
  int available = 1;
  switch (which) {
  case BN_BATCHNORM_GAMMA:
    name = "gamma", *row = l->gamma, available = !has(l, BN_BATCHNORM_NO_SCALE);
    break;
  case BN_BATCHNORM_BETA:
    name = "beta", *row = l->beta, available = !has(l, BN_BATCHNORM_NO_SHIFT);
    break;
  case BN_BATCHNORM_RUNNING_MEAN:
    name = "running mean", *row = l->running_mean;
    available = !has(l, BN_BATCHNORM_NO_RUNNING_STATS);
    break;
  case BN_BATCHNORM_RUNNING_VAR:
    name = "running var", *row = l->running_var;
    available = !has(l, BN_BATCHNORM_NO_RUNNING_STATS);
    break;
  case BN_BATCHNORM_DGAMMA:
    name = "dgamma", *row = l->dgamma;
    available = l->have_grads && !has(l, BN_BATCHNORM_NO_SCALE);
    break;
  case BN_BATCHNORM_DBETA:
    name = "dbeta", *row = l->dbeta;
    available = l->have_grads && !has(l, BN_BATCHNORM_NO_SHIFT);
    break;
  case BN_BATCHNORM_SAVED_MEAN:
    name = "saved mean", *row = l->saved_mean, available = saved_stats_pending(l);
    break;
  case BN_BATCHNORM_SAVED_INVSTD:
    name = "saved invstd", *row = l->saved_invstd, available = saved_stats_pending(l);
    break;
  case BN_BATCHNORM_RENORM_R:
    name = "renorm r", *row = l->renorm_r;
    available = saved_stats_pending(l) && l->pending_renorm;
    break;
  case BN_BATCHNORM_RENORM_D:
    name = "renorm d", *row = l->renorm_d;
    available = saved_stats_pending(l) && l->pending_renorm;
    break;
  default:
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "unknown tensor id %d", (int)which);
  }
  if (writing && which > BN_BATCHNORM_RUNNING_VAR)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "%s is read-only", name);
  if (!available)
    return bni_fail(&l->err, BN_ERR_WRONG_STATE, "%s is not available (%s)", name,
                    which <= BN_BATCHNORM_RUNNING_VAR ? "disabled by the layer's flags"
                                                      : "no forward/backward produced it yet");
  return BN_OK;
}

static bn_status check_count(bn_batchnorm *l, const void *p, size_t count)
{
  if (!p)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  if (count != l->features)
    return bni_fail(&l->err, BN_ERR_SHAPE_MISMATCH, "buffer holds %zu values, the layer has %zu features",
                    count, l->features);
  return BN_OK;
}

bn_status bn_batchnorm_get(const bn_batchnorm *layer, bn_batchnorm_tensor which, float *out,
                           size_t count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_batchnorm *l = (bn_batchnorm *)(uintptr_t)layer; /* for err_of-style messages */
  float *row = NULL;
  bn_status st = check_count(l, out, count);
  if (st == BN_OK)
    st = tensor_row(l, which, 0, &row);
  if (st == BN_OK)
    memcpy(out, row, count * sizeof *out);
  return st;
}

bn_status bn_batchnorm_set(bn_batchnorm *layer, bn_batchnorm_tensor which, const float *values,
                           size_t count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  float *row = NULL;
  bn_status st = check_count(layer, values, count);
  if (st == BN_OK)
    st = tensor_row(layer, which, 1, &row);
  if (st == BN_OK)
    st = bni_check_finite_vector(&layer->err, "values", values, count);
  for (size_t f = 0; st == BN_OK && which == BN_BATCHNORM_RUNNING_VAR && f < count; f++)
    if (values[f] < 0.0f)
      st = bni_fail(&layer->err, BN_ERR_INVALID_ARGUMENT, "running var[%zu] is negative", f);
  if (st != BN_OK)
    return st;
  memcpy(row, values, count * sizeof *values);
  layer->pending = PENDING_NONE;
  return BN_OK;
}

static bn_status check_io(bn_batchnorm *l, size_t batch, const char *in_name, const float *in,
                          size_t ldin, const char *out_name, const float *out, size_t ldout)
{
  bn_status st = bni_check_matrix(&l->err, in_name, in, l->features, batch, ldin);
  if (st == BN_OK)
    st = bni_check_matrix(&l->err, out_name, out, l->features, batch, ldout);
  if (st == BN_OK)
    st = bni_check_alias(&l->err, in_name, in, ldin, out_name, out, ldout, l->features, batch);
  return st;
}

static void update_running_stats(bn_batchnorm *l, size_t batch)
{
  uint64_t tracked = l->batches_tracked < UINT64_MAX ? l->batches_tracked + 1 : UINT64_MAX;
  double w = has(l, BN_BATCHNORM_CUMULATIVE_AVERAGE) ? 1.0 / (double)tracked
                                                     : (double)l->update_factor;
  double correction = has(l, BN_BATCHNORM_BIASED_RUNNING_VAR)
                          ? 1.0
                          : (double)batch / (double)(batch - 1);
  for (size_t f = 0; f < l->features; f++) {
    l->running_mean[f] =
        (float)((1.0 - w) * (double)l->running_mean[f] + w * l->batch_mean[f]);
    /* The unbiased correction can lift a variance just below FLT_MAX past
     * it; the running variance saturates there instead of becoming inf. */
    double v = (1.0 - w) * (double)l->running_var[f] + w * l->batch_var[f] * correction;
    l->running_var[f] = v < (double)FLT_MAX ? (float)v : FLT_MAX;
  }
  l->batches_tracked = tracked;
}

/* The Batch Renormalization paper's limits at training step t (0-based):
 * rmax = 1 and dmax = 0 for the first 5000 steps, then linear ramps reaching
 * rmax = 3 at step 40000 and dmax = 5 at step 25000. */
static void scheduled_limits(uint64_t t, double *rmax, double *dmax)
{
  const double step = (double)t;
  *rmax = 1.0 + 2.0 * bni_bn_clip((step - 5000.0) / 35000.0, 0.0, 1.0);
  *dmax = 5.0 * bni_bn_clip((step - 5000.0) / 20000.0, 0.0, 1.0);
}

/* Batch Renormalization's part of a training forward of this layer (its
 * running statistics before this batch's update, its fixed or scheduled
 * limits, its r and d rows), or NULL when the layer has none. */
static const bni_bn_renorm *renorm_of(bn_batchnorm *l, bni_bn_renorm *rn)
{
  if (!has(l, BN_BATCHNORM_RENORM))
    return NULL;
  *rn = (bni_bn_renorm){l->running_mean, l->running_var, l->rmax, l->dmax, l->renorm_r,
                        l->renorm_d};
  if (l->renorm_schedule)
    scheduled_limits(l->batches_tracked, &rn->rmax, &rn->dmax);
  return rn;
}

/* The forward, with an activation folded in when act is given. */
static bn_status forward(bn_batchnorm *l, bn_mode mode, size_t batch, const float *x, size_t ldx,
                         const bni_bn_act *act, float *y, size_t ldy)
{
  if (mode != BN_MODE_TRAINING && mode != BN_MODE_INFERENCE)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "unknown mode %d", (int)mode);
  bn_status st = check_io(l, batch, "x", x, ldx, "y", y, ldy);
  if (st != BN_OK)
    return st;
  const float *gamma = has(l, BN_BATCHNORM_NO_SCALE) ? NULL : l->gamma;
  const float *beta = has(l, BN_BATCHNORM_NO_SHIFT) ? NULL : l->beta;
  int relu = has(l, BN_BATCHNORM_FUSE_RELU);
  int batch_stats = mode == BN_MODE_TRAINING || has(l, BN_BATCHNORM_NO_RUNNING_STATS);
  const bni_bn_exec ex = exec_of(l);

  if (!batch_stats) {
    bni_bn_forward_inference(&ex, l->features, batch, x, ldx, l->running_mean, l->running_var,
                             gamma, beta, l->eps, relu, act, y, ldy, l->work);
    l->pending = PENDING_CONST_STATS;
    l->pending_batch = batch;
    return BN_OK;
  }
  if (batch < 2)
    return bni_fail(&l->err, BN_ERR_BATCH_TOO_SMALL,
                    "batch statistics need at least 2 samples (got %zu)", batch);
  bni_bn_renorm rn;
  const bni_bn_renorm *renorm = mode == BN_MODE_TRAINING ? renorm_of(l, &rn) : NULL;
  st = bni_bn_forward_training_renorm(&ex, l->features, batch, x, ldx, gamma, beta, l->eps,
                                      relu, act, renorm, y, ldy, l->saved_mean,
                                      l->saved_invstd, l->batch_mean, l->batch_var,
                                      l->residual, l->work);
  if (st != BN_OK)
    return bni_fail(&l->err, st, "the batch statistics are not finite (x holds NaN or infinity)");
  if (mode == BN_MODE_TRAINING && !has(l, BN_BATCHNORM_NO_RUNNING_STATS))
    update_running_stats(l, batch);
  l->pending = PENDING_BATCH_STATS;
  l->pending_batch = batch;
  l->pending_renorm = renorm != NULL;
  return BN_OK;
}

bn_status bn_batchnorm_forward(bn_batchnorm *layer, bn_mode mode, size_t batch, const float *x,
                               size_t ldx, float *y, size_t ldy)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  return forward(layer, mode, batch, x, ldx, NULL, y, ldy);
}

/* The backward of the pending forward, with an activation's backward folded
 * in when act is given (dy is then the gradient of its output). */
static bn_status backward(bn_batchnorm *l, size_t batch, const float *x, size_t ldx,
                          const bni_bn_act *act, const float *dy, size_t lddy, float *dx,
                          size_t lddx)
{
  if (l->pending == PENDING_NONE)
    return bni_fail(&l->err, BN_ERR_WRONG_STATE, "backward without a forward to follow");
  if (l->pending == PENDING_GLOBAL_STATS)
    return bni_fail(&l->err, BN_ERR_WRONG_STATE,
                    "the forward used a sharded batch's statistics: use backward_with_sums");
  if (batch != l->pending_batch)
    return bni_fail(&l->err, BN_ERR_SHAPE_MISMATCH,
                    "backward batch %zu differs from the forward's %zu", batch, l->pending_batch);
  bn_status st = bni_check_matrix(&l->err, "x", x, l->features, batch, ldx);
  if (st == BN_OK)
    st = dx ? check_io(l, batch, "dy", dy, lddy, "dx", dx, lddx)
            : bni_check_matrix(&l->err, "dy", dy, l->features, batch, lddy);
  if (st == BN_OK && act)
    st = bni_check_matrix(&l->err, "post", act->y, l->features, batch, act->ldy);
  if (st != BN_OK)
    return st;
  const float *gamma = has(l, BN_BATCHNORM_NO_SCALE) ? NULL : l->gamma;
  const float *beta = has(l, BN_BATCHNORM_NO_SHIFT) ? NULL : l->beta;
  int relu = has(l, BN_BATCHNORM_FUSE_RELU);
  const bni_bn_exec ex = exec_of(l);
  if (l->pending == PENDING_CONST_STATS) {
    bni_bn_backward_inference(&ex, l->features, batch, x, ldx, dy, lddy, l->running_mean,
                              l->running_var, gamma, beta, l->eps, relu, act, dx, lddx,
                              l->dgamma, l->dbeta, l->work);
  } else {
    st = bni_bn_backward_training_renorm(&ex, l->features, batch, x, ldx, dy, lddy,
                                         l->saved_mean, l->saved_invstd, l->residual, gamma,
                                         beta, pending_r(l), pending_d(l), relu, act, dx, lddx,
                                         l->dgamma, l->dbeta, l->work);
    if (st != BN_OK)
      return bni_fail(&l->err, st, "the reduced gradients are not finite (dy or x holds NaN or infinity)");
  }
  l->have_grads = 1;
  return BN_OK;
}

bn_status bn_batchnorm_backward(bn_batchnorm *layer, size_t batch, const float *x, size_t ldx,
                                const float *dy, size_t lddy, float *dx, size_t lddx)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  return backward(layer, batch, x, ldx, NULL, dy, lddy, dx, lddx);
}

int bni_batchnorm_folds_activation(const bn_batchnorm *layer, bn_activation act)
{
  return !has(layer, BN_BATCHNORM_FUSE_RELU) &&
         (act == BN_ACT_IDENTITY || act == BN_ACT_RELU || act == BN_ACT_ELU ||
          act == BN_ACT_SIGMOID || act == BN_ACT_TANH);
}

/* act (alpha: ELU's; y, ldy: its output, for a backward) as the algorithms'
 * folded activation in *folded; *use is folded, or NULL for the identity.
 * BN_ERR_INVALID_ARGUMENT when it does not fold. */
static bn_status fold(bn_batchnorm *l, bn_activation act, float alpha, const float *y,
                      size_t ldy, bni_bn_act *folded, const bni_bn_act **use)
{
  if (!bni_batchnorm_folds_activation(l, act) ||
      (act == BN_ACT_ELU && !(isfinite(alpha) && alpha > 0.0f)))
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT,
                    "activation %d cannot be folded into this BatchNorm's passes", (int)act);
  int mask = act == BN_ACT_RELU      ? BNI_MASK_RELU_OUT
             : act == BN_ACT_ELU     ? BNI_MASK_ELU_OUT
             : act == BN_ACT_SIGMOID ? BNI_MASK_SIGMOID_OUT
                                     : BNI_MASK_TANH_OUT;
  *folded = (bni_bn_act){mask, y, ldy, alpha};
  *use = act == BN_ACT_IDENTITY ? NULL : folded;
  return BN_OK;
}

bn_status bni_batchnorm_forward_activation(bn_batchnorm *layer, bn_mode mode, size_t batch,
                                           const float *x, size_t ldx, bn_activation act,
                                           float alpha, float *y, size_t ldy)
{
  bni_bn_act folded;
  const bni_bn_act *use = NULL;
  bn_status st = fold(layer, act, alpha, NULL, 0, &folded, &use);
  return st == BN_OK ? forward(layer, mode, batch, x, ldx, use, y, ldy) : st;
}

bn_status bni_batchnorm_backward_activation(bn_batchnorm *layer, size_t batch, const float *x,
                                            size_t ldx, bn_activation act, float alpha,
                                            const float *post, size_t ldpost, const float *da,
                                            size_t ldda, float *dx, size_t lddx)
{
  bni_bn_act folded;
  const bni_bn_act *use = NULL;
  bn_status st = fold(layer, act, alpha, post, ldpost, &folded, &use);
  return st == BN_OK ? backward(layer, batch, x, ldx, use, da, ldda, dx, lddx) : st;
}

/* ---- state blob ---------------------------------------------------------- */

/* Bytes of a blob of F features whose header has header_bytes. */
static int blob_bytes(size_t features, size_t header_bytes, size_t *out)
{
  size_t vec;
  if (!bni_mul_size(features, 4 * sizeof(float), &vec) || vec > SIZE_MAX - header_bytes - 4)
    return 0;
  *out = header_bytes + vec + 4;
  return 1;
}

static int state_bytes(size_t features, size_t *out)
{
  return blob_bytes(features, STATE_HEADER_BYTES, out);
}

bn_status bn_batchnorm_serialized_size(const bn_batchnorm *layer, size_t *size)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!size)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "size is NULL");
  if (!state_bytes(layer->features, size))
    return bni_fail(err_of(layer), BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  return BN_OK;
}

bn_status bn_batchnorm_serialize(const bn_batchnorm *layer, void *buffer, size_t capacity,
                                 size_t *written)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!buffer)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  const bn_batchnorm *l = layer;
  size_t need;
  if (!state_bytes(l->features, &need))
    return bni_fail(err_of(l), BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  if (capacity < need)
    return bni_fail(err_of(l), BN_ERR_BAD_SIZE, "buffer of %zu bytes, the state needs %zu",
                    capacity, need);
  bni_writer w = {buffer, capacity, 0, 0};
  bni_put_bytes(&w, STATE_MAGIC, 4);
  bni_put_u32(&w, STATE_VERSION);
  bni_put_u64(&w, (uint64_t)l->features);
  bni_put_u32(&w, l->flags);
  bni_put_f32(&w, l->eps);
  bni_put_f32(&w, l->update_factor);
  bni_put_u32(&w, 0);
  bni_put_u64(&w, l->batches_tracked);
  bni_put_f32(&w, l->rmax);
  bni_put_f32(&w, l->dmax);
  bni_put_u32(&w, l->renorm_schedule ? STATE_OPTION_SCHEDULE : 0u);
  bni_put_u32(&w, 0);
  bni_put_f32s(&w, l->gamma, l->features);
  bni_put_f32s(&w, l->beta, l->features);
  bni_put_f32s(&w, l->running_mean, l->features);
  bni_put_f32s(&w, l->running_var, l->features);
  bni_blob_seal(&w);
  if (written)
    *written = w.pos;
  return BN_OK;
}

bn_status bn_batchnorm_deserialize(bn_batchnorm *layer, const void *buffer, size_t size)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!buffer)
    return bni_fail(err_of(layer), BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  bn_batchnorm *l = layer;
  bni_error *err = &l->err;
  /* Version 1 blobs still load; anything else is checked against the
   * current version (so an unknown one is BN_ERR_VERSION_MISMATCH). */
  const unsigned char *bytes = buffer;
  const uint32_t version = size >= 8 && bytes[4] == 1 && !bytes[5] && !bytes[6] && !bytes[7]
                               ? 1u
                               : STATE_VERSION;
  const size_t header = version == 1 ? STATE_V1_HEADER_BYTES : STATE_HEADER_BYTES;
  bni_reader r;
  bn_status st = bni_blob_open(&r, buffer, size, header, STATE_MAGIC, version,
                               "BatchNorm state", err);
  if (st != BN_OK)
    return st;
  uint64_t features = bni_get_u64(&r);
  size_t expected;
  int size_ok = features <= SIZE_MAX && blob_bytes((size_t)features, header, &expected) &&
                expected == size;
  st = bni_blob_verify(buffer, size, size_ok, "BatchNorm state", err);
  if (st != BN_OK)
    return st;
  if (features != l->features)
    return bni_fail(err, BN_ERR_SHAPE_MISMATCH, "state has %llu features, the layer %zu",
                    (unsigned long long)features, l->features);
  uint32_t flags = bni_get_u32(&r);
  float eps = bni_get_f32(&r), factor = bni_get_f32(&r);
  uint32_t reserved = bni_get_u32(&r);
  uint64_t tracked = bni_get_u64(&r);
  float rmax = DEFAULT_RMAX, dmax = DEFAULT_DMAX;
  uint32_t options = 0, reserved2 = 0;
  if (version >= 2) {
    rmax = bni_get_f32(&r), dmax = bni_get_f32(&r);
    options = bni_get_u32(&r), reserved2 = bni_get_u32(&r);
  }
  const uint32_t known = version == 1 ? V1_FLAGS : KNOWN_FLAGS;
  if ((flags & ~known) || reserved != 0 || reserved2 != 0 || !flags_consistent(flags) ||
      bni_check_eps(NULL, eps) != BN_OK ||
      bni_check_param(NULL, param_range(BN_BATCHNORM_UPDATE_FACTOR), (double)factor) != BN_OK)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "state header holds invalid flags, eps or factor");
  if ((options & ~STATE_OPTION_SCHEDULE) ||
      bni_check_renorm_limits(NULL, (double)rmax, (double)dmax) != BN_OK)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "state header holds invalid renorm settings");
  /* Vectors are validated in place before anything is copied. */
  const size_t F = l->features, base = r.pos;
  for (size_t i = 0; i < 4 * F; i++) {
    float v = bni_get_f32(&r);
    if (!isfinite(v) || (i >= 3 * F && v < 0.0f))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "state vector value %zu is invalid", i);
  }
  r.pos = base;
  l->flags = flags;
  l->eps = eps;
  l->update_factor = factor;
  l->batches_tracked = tracked;
  l->rmax = rmax;
  l->dmax = dmax;
  l->renorm_schedule = (options & STATE_OPTION_SCHEDULE) != 0;
  bni_get_f32s(&r, l->gamma, F);
  bni_get_f32s(&r, l->beta, F);
  bni_get_f32s(&r, l->running_mean, F);
  bni_get_f32s(&r, l->running_var, F);
  l->pending = PENDING_NONE;
  l->have_grads = 0;
  return BN_OK;
}

/* The superseded names of the three above. */

bn_status bn_batchnorm_state_size(const bn_batchnorm *layer, size_t *size)
{
  return bn_batchnorm_serialized_size(layer, size);
}

bn_status bn_batchnorm_save_state(const bn_batchnorm *layer, void *buffer, size_t capacity,
                                  size_t *written)
{
  return bn_batchnorm_serialize(layer, buffer, capacity, written);
}

bn_status bn_batchnorm_load_state(bn_batchnorm *layer, const void *buffer, size_t size)
{
  return bn_batchnorm_deserialize(layer, buffer, size);
}

/* ---- rows for the model above (batchnorm_rows.h) ------------------------- */

float *bni_batchnorm_gamma(bn_batchnorm *layer)
{
  return layer->gamma;
}

float *bni_batchnorm_beta(bn_batchnorm *layer)
{
  return layer->beta;
}

float *bni_batchnorm_dgamma(bn_batchnorm *layer)
{
  return layer->dgamma;
}

float *bni_batchnorm_dbeta(bn_batchnorm *layer)
{
  return layer->dbeta;
}

bn_status bni_batchnorm_normalized(bn_batchnorm *layer, size_t batch, const float *x, size_t ldx,
                                   float *xhat, size_t ldxhat)
{
  bn_batchnorm *l = layer;
  if (!saved_stats_pending(l) || batch != l->pending_batch)
    return bni_fail(&l->err, BN_ERR_WRONG_STATE, "no batch-statistics forward of %zu samples",
                    batch);
  const size_t F = l->features;
  float *scale = l->dgamma, *shift = l->dbeta; /* rows the caller overwrites next */
  for (size_t f = 0; f < F; f++) {
    /* xhat = xhat_B*r + d with xhat_B = (x - m - residual)*invstd */
    const double r = l->pending_renorm ? (double)l->renorm_r[f] : 1.0;
    const double d = l->pending_renorm ? (double)l->renorm_d[f] : 0.0;
    const bni_bn_affine a = bni_bn_scale_shift(r, d, l->residual[f], (double)l->saved_invstd[f]);
    scale[f] = (float)a.scale;
    shift[f] = (float)a.shift;
  }
  for (size_t j = 0; j < batch; j++) {
    const float *restrict xj = x + j * ldx, *restrict m = l->saved_mean;
    float *restrict out = xhat + j * ldxhat;
    for (size_t f = 0; f < F; f++)
      out[f] = (xj[f] - m[f]) * scale[f] + shift[f];
  }
  l->have_grads = 1;
  return BN_OK;
}

/* ---- a batch spread over shards ------------------------------------------ */

bn_status bn_batchnorm_forward_with_moments(bn_batchnorm *layer, size_t batch, const float *x,
                                            size_t ldx, float *y, size_t ldy, double count,
                                            const double *mean, const double *m2)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_batchnorm *l = layer;
  bn_status st = check_io(l, batch, "x", x, ldx, "y", y, ldy);
  if (st == BN_OK)
    st = bni_check_moments(&l->err, l->features, count, 2.0, mean, m2);
  if (st != BN_OK)
    return st;
  /* The running variance's N/(N-1) needs a whole count; 2^53 keeps it exact. */
  if (count < (double)batch || count != floor(count) || count > 9007199254740992.0)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT,
                    "count %g must be a whole number of samples, at least the shard's %zu",
                    count, batch);
  const float *gamma = has(l, BN_BATCHNORM_NO_SCALE) ? NULL : l->gamma;
  const float *beta = has(l, BN_BATCHNORM_NO_SHIFT) ? NULL : l->beta;
  const bni_bn_exec ex = exec_of(l);
  bni_bn_renorm rn;
  const bni_bn_renorm *renorm = renorm_of(l, &rn);
  st = bni_bn_forward_given_moments(&ex, l->features, batch, x, ldx, gamma, beta, l->eps,
                                    has(l, BN_BATCHNORM_FUSE_RELU), renorm, count, mean, m2,
                                    y, ldy,
                                    l->saved_mean, l->saved_invstd, l->batch_var, l->residual,
                                    l->work);
  if (st != BN_OK)
    return bni_fail(&l->err, st, "the given statistics overflow float");
  if (!has(l, BN_BATCHNORM_NO_RUNNING_STATS)) {
    memcpy(l->batch_mean, mean, l->features * sizeof *mean);
    update_running_stats(l, (size_t)count);
  }
  l->pending = PENDING_GLOBAL_STATS;
  l->pending_renorm = renorm != NULL;
  l->pending_batch = batch;
  l->pending_count = count;
  return BN_OK;
}

/* The checks shared by both halves of a sharded backward: a batch-statistics
 * forward of this shard is pending, x and dy have its shape. */
static bn_status check_sharded_backward(bn_batchnorm *l, size_t batch, const float *x,
                                        size_t ldx, const float *dy, size_t lddy)
{
  if (!saved_stats_pending(l))
    return bni_fail(&l->err, BN_ERR_WRONG_STATE,
                    "no training forward to follow (a sharded backward needs batch statistics)");
  if (batch != l->pending_batch)
    return bni_fail(&l->err, BN_ERR_SHAPE_MISMATCH,
                    "backward batch %zu differs from the forward's %zu", batch, l->pending_batch);
  bn_status st = bni_check_matrix(&l->err, "x", x, l->features, batch, ldx);
  if (st == BN_OK)
    st = bni_check_matrix(&l->err, "dy", dy, l->features, batch, lddy);
  return st;
}

bn_status bn_batchnorm_backward_sums(bn_batchnorm *layer, size_t batch, const float *x,
                                     size_t ldx, const float *dy, size_t lddy, double *sum_dy,
                                     double *sum_dy_xhat)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_batchnorm *l = layer;
  bn_status st = check_sharded_backward(l, batch, x, ldx, dy, lddy);
  if (st == BN_OK && (!sum_dy || !sum_dy_xhat))
    st = bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "sum_dy or sum_dy_xhat is NULL");
  if (st != BN_OK)
    return st;
  const bni_bn_exec ex = exec_of(l);
  st = bni_bn_backward_sums(&ex, l->features, batch, x, ldx, dy, lddy, l->saved_mean,
                            l->saved_invstd, l->residual,
                            has(l, BN_BATCHNORM_NO_SCALE) ? NULL : l->gamma,
                            has(l, BN_BATCHNORM_NO_SHIFT) ? NULL : l->beta,
                            pending_r(l), pending_d(l), has(l, BN_BATCHNORM_FUSE_RELU), sum_dy,
                            sum_dy_xhat, l->work);
  if (st != BN_OK)
    return bni_fail(&l->err, st,
                    "the reduced gradients are not finite (dy or x holds NaN or infinity)");
  for (size_t f = 0; f < l->features; f++) {
    l->dbeta[f] = (float)sum_dy[f];
    l->dgamma[f] = (float)(l->pending_renorm
                               ? bni_bn_renorm_dgamma(sum_dy_xhat[f], sum_dy[f],
                                                      (double)l->renorm_r[f],
                                                      (double)l->renorm_d[f])
                               : sum_dy_xhat[f]);
  }
  l->have_grads = 1;
  return BN_OK;
}

bn_status bn_batchnorm_backward_with_sums(bn_batchnorm *layer, size_t batch, const float *x,
                                          size_t ldx, const float *dy, size_t lddy, float *dx,
                                          size_t lddx, const double *sum_dy,
                                          const double *sum_dy_xhat)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_batchnorm *l = layer;
  bn_status st = check_sharded_backward(l, batch, x, ldx, dy, lddy);
  if (st == BN_OK && dx)
    st = check_io(l, batch, "dy", dy, lddy, "dx", dx, lddx);
  if (st == BN_OK)
    st = bni_check_finite_doubles(&l->err, "sum_dy", sum_dy, l->features);
  if (st == BN_OK)
    st = bni_check_finite_doubles(&l->err, "sum_dy_xhat", sum_dy_xhat, l->features);
  if (st != BN_OK || !dx)
    return st;
  const double count = l->pending == PENDING_GLOBAL_STATS ? l->pending_count : (double)batch;
  const bni_bn_exec ex = exec_of(l);
  bni_bn_backward_given_sums(&ex, l->features, batch, x, ldx, dy, lddy, l->saved_mean,
                             l->saved_invstd, l->residual,
                             has(l, BN_BATCHNORM_NO_SCALE) ? NULL : l->gamma,
                             has(l, BN_BATCHNORM_NO_SHIFT) ? NULL : l->beta, pending_r(l),
                             pending_d(l), has(l, BN_BATCHNORM_FUSE_RELU), count, sum_dy,
                             sum_dy_xhat, dx, lddx, l->work);
  return BN_OK;
}

/* The dense layer y = W x + b: parameters, initialization, the three GEMMs
 * of a training step (OpenBLAS), and the state blob. */
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/dense.h>
#include "../core/blas.h"
#include "../core/blob.h"
#include "../core/checks.h"
#include "dense_internal.h"

#define STATE_MAGIC "BNDN"
#define STATE_VERSION 1u
#define STATE_HEADER_BYTES 32u
#define KNOWN_FLAGS ((unsigned)BN_DENSE_NO_BIAS)

struct bn_dense {
  size_t in, out;
  unsigned flags;
  int have_grads;
  float *weight, *bias, *dweight, *dbias; /* rows of data[] */
  double *bias_sums; /* out doubles: the bias gradient's accumulator */
  bni_error err;
  float data[]; /* weight, dweight: out*in each; bias, dbias: out each */
};

static int has_bias(const bn_dense *l)
{
  return (l->flags & BN_DENSE_NO_BIAS) == 0;
}

bni_error *bni_dense_error(const bn_dense *layer)
{
  return &((bn_dense *)(uintptr_t)layer)->err;
}

float *bni_dense_weight(bn_dense *layer)
{
  return layer->weight;
}

float *bni_dense_bias(bn_dense *layer)
{
  return layer->bias;
}

float *bni_dense_dweight(bn_dense *layer)
{
  return layer->dweight;
}

float *bni_dense_dbias(bn_dense *layer)
{
  return layer->dbias;
}

const float *bni_dense_weight_const(const bn_dense *layer)
{
  return layer->weight;
}

const float *bni_dense_bias_const(const bn_dense *layer)
{
  return layer->bias;
}

bn_status bn_dense_create(bn_dense **out, size_t in_features, size_t out_features,
                          unsigned flags)
{
  if (!out)
    return BN_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (in_features == 0 || out_features == 0 || (flags & ~KNOWN_FLAGS))
    return BN_ERR_INVALID_ARGUMENT;
  if (in_features > INT_MAX || out_features > INT_MAX)
    return BN_ERR_SIZE_OVERFLOW;
  size_t w, bytes;
  if (!bni_mul_size(in_features, out_features, &w) || w > (SIZE_MAX - 2 * out_features) / 2 ||
      !bni_mul_size(2 * w + 2 * out_features, sizeof(float), &bytes) ||
      bytes > SIZE_MAX - sizeof(bn_dense))
    return BN_ERR_SIZE_OVERFLOW;
  bn_dense *l = calloc(1, sizeof(bn_dense) + bytes); /* all parameters 0.0f */
  double *sums = malloc(out_features * sizeof *sums);
  if (!l || !sums) {
    free(l);
    free(sums);
    return BN_ERR_OUT_OF_MEMORY;
  }
  l->bias_sums = sums;
  l->in = in_features;
  l->out = out_features;
  l->flags = flags;
  l->weight = l->data;
  l->dweight = l->data + w;
  l->bias = l->data + 2 * w;
  l->dbias = l->bias + out_features;
  *out = l;
  return BN_OK;
}

void bn_dense_destroy(bn_dense *layer)
{
  if (!layer)
    return;
  free(layer->bias_sums);
  free(layer);
}

const char *bn_dense_last_error(const bn_dense *layer)
{
  return layer ? layer->err.text : "layer is NULL";
}

bn_status bn_dense_shape(const bn_dense *layer, size_t *in_features, size_t *out_features)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  if (in_features)
    *in_features = layer->in;
  if (out_features)
    *out_features = layer->out;
  return BN_OK;
}

bn_status bn_dense_flags(const bn_dense *layer, unsigned *flags)
{
  if (!layer || !flags)
    return BN_ERR_INVALID_ARGUMENT;
  *flags = layer->flags;
  return BN_OK;
}

bn_status bn_dense_init(bn_dense *layer, bn_init scheme, bn_rng *rng)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = layer;
  const double fan_in = (double)l->in, fan_sum = (double)l->in + (double)l->out;
  double scale;
  switch (scheme) {
  case BN_INIT_ZEROS: scale = 0.0; break;
  case BN_INIT_HE_NORMAL: scale = sqrt(2.0 / fan_in); break;
  case BN_INIT_GLOROT_UNIFORM: scale = sqrt(6.0 / fan_sum); break;
  case BN_INIT_GLOROT_NORMAL: scale = sqrt(2.0 / fan_sum); break;
  default:
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "unknown init scheme %d", (int)scheme);
  }
  const size_t n = l->in * l->out;
  if (scheme == BN_INIT_ZEROS) {
    memset(l->weight, 0, n * sizeof *l->weight);
  } else {
    if (!rng)
      return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "rng is NULL");
    bn_rng probe = *rng;
    uint64_t bits;
    if (bn_rng_next_u64(&probe, &bits) != BN_OK)
      return bni_fail(&l->err, BN_ERR_WRONG_STATE, "rng was never seeded (all-zero state)");
    for (size_t k = 0; k < n; k++) {
      double v = 0.0;
      if (scheme == BN_INIT_GLOROT_UNIFORM) {
        bn_rng_uniform(rng, &v);
        v = 2.0 * v - 1.0;
      } else {
        bn_rng_normal(rng, &v);
      }
      l->weight[k] = (float)(scale * v);
    }
  }
  memset(l->bias, 0, l->out * sizeof *l->bias);
  return BN_OK;
}

/* The row behind a tensor id and its length, or why it is not available. */
static bn_status tensor_row(bn_dense *l, bn_dense_tensor which, int writing, float **row,
                            size_t *len)
{
  switch (which) {
  case BN_DENSE_WEIGHT: *row = l->weight, *len = l->in * l->out; break;
  case BN_DENSE_BIAS: *row = l->bias, *len = l->out; break;
  case BN_DENSE_DWEIGHT: *row = l->dweight, *len = l->in * l->out; break;
  case BN_DENSE_DBIAS: *row = l->dbias, *len = l->out; break;
  default:
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "unknown tensor id %d", (int)which);
  }
  if (writing && (which == BN_DENSE_DWEIGHT || which == BN_DENSE_DBIAS))
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "gradients are read-only");
  if ((which == BN_DENSE_BIAS || which == BN_DENSE_DBIAS) && !has_bias(l))
    return bni_fail(&l->err, BN_ERR_WRONG_STATE, "the layer has no bias (BN_DENSE_NO_BIAS)");
  if ((which == BN_DENSE_DWEIGHT || which == BN_DENSE_DBIAS) && !l->have_grads)
    return bni_fail(&l->err, BN_ERR_WRONG_STATE, "no backward produced the gradients yet");
  return BN_OK;
}

bn_status bn_dense_get(const bn_dense *layer, bn_dense_tensor which, float *out, size_t count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = (bn_dense *)(uintptr_t)layer; /* error text only */
  if (!out)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "out is NULL");
  float *row = NULL;
  size_t len = 0;
  bn_status st = tensor_row(l, which, 0, &row, &len);
  if (st != BN_OK)
    return st;
  if (count != len)
    return bni_fail(&l->err, BN_ERR_SHAPE_MISMATCH, "buffer holds %zu values, the tensor %zu",
                    count, len);
  memcpy(out, row, len * sizeof *out);
  return BN_OK;
}

bn_status bn_dense_set(bn_dense *layer, bn_dense_tensor which, const float *values,
                       size_t count)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = layer;
  if (!values)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "values is NULL");
  float *row = NULL;
  size_t len = 0;
  bn_status st = tensor_row(l, which, 1, &row, &len);
  if (st != BN_OK)
    return st;
  if (count != len)
    return bni_fail(&l->err, BN_ERR_SHAPE_MISMATCH, "buffer holds %zu values, the tensor %zu",
                    count, len);
  st = bni_check_finite_vector(&l->err, "values", values, count);
  if (st != BN_OK)
    return st;
  memcpy(row, values, len * sizeof *row);
  return BN_OK;
}

/* A (rows x batch) operand of a GEMM: valid, and every dimension an int. */
static bn_status check_operand(bn_dense *l, const char *name, const float *m, size_t rows,
                               size_t batch, size_t ld)
{
  bn_status st = bni_check_matrix(&l->err, name, m, rows, batch, ld);
  if (st == BN_OK && (batch > INT_MAX || ld > INT_MAX))
    st = bni_fail(&l->err, BN_ERR_SIZE_OVERFLOW,
                  "%s: batch %zu or leading dimension %zu exceeds INT_MAX (OpenBLAS takes int)",
                  name, batch, ld);
  return st;
}

static bn_status check_disjoint(bn_dense *l, const char *a_name, const float *a, size_t a_rows,
                                size_t lda, const char *b_name, const float *b, size_t b_rows,
                                size_t ldb, size_t batch)
{
  if (bni_overlap(a, a_rows, batch, lda, b, b_rows, batch, ldb))
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "%s overlaps %s", a_name, b_name);
  return BN_OK;
}

bn_status bn_dense_forward(bn_dense *layer, size_t batch, const float *x, size_t ldx, float *y,
                           size_t ldy)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = layer;
  bn_status st = check_operand(l, "x", x, l->in, batch, ldx);
  if (st == BN_OK)
    st = check_operand(l, "y", y, l->out, batch, ldy);
  if (st == BN_OK)
    st = check_disjoint(l, "y", y, l->out, ldy, "x", x, l->in, ldx, batch);
  if (st != BN_OK)
    return st;
  const int M = (int)l->out, N = (int)batch, K = (int)l->in;
  float beta = 0.0f;
  if (has_bias(l)) {
    for (size_t j = 0; j < batch; j++)
      memcpy(y + j * ldy, l->bias, l->out * sizeof *y);
    beta = 1.0f;
  }
  /* y (out x N) = W (out x in, row-major = column-major in x out, transposed) x.
   * One sample is a matrix-vector product: GEMM would first copy (pack) all
   * of W for a single column. */
  if (batch == 1)
    bni_sgemv(CblasTrans, K, M, 1.0f, l->weight, K, x, beta, y);
  else
    bni_sgemm(CblasTrans, CblasNoTrans, M, N, K, 1.0f, l->weight, K, x, (int)ldx, beta, y,
              (int)ldy);
  return BN_OK;
}

bn_status bn_dense_backward(bn_dense *layer, size_t batch, const float *x, size_t ldx,
                            const float *dy, size_t lddy, float *dx, size_t lddx)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = layer;
  bn_status st = check_operand(l, "x", x, l->in, batch, ldx);
  if (st == BN_OK)
    st = check_operand(l, "dy", dy, l->out, batch, lddy);
  if (st == BN_OK && dx)
    st = check_operand(l, "dx", dx, l->in, batch, lddx);
  if (st == BN_OK && dx)
    st = check_disjoint(l, "dx", dx, l->in, lddx, "x", x, l->in, ldx, batch);
  if (st == BN_OK && dx)
    st = check_disjoint(l, "dx", dx, l->in, lddx, "dy", dy, l->out, lddy, batch);
  if (st != BN_OK)
    return st;
  const int in = (int)l->in, out = (int)l->out, N = (int)batch;
  /* dW^T (in x out, column-major = dW row-major) = x (in x N) dy^T (N x out) */
  bni_sgemm(CblasNoTrans, CblasTrans, in, out, N, 1.0f, x, (int)ldx, dy, (int)lddy, 0.0f,
            l->dweight, in);
  if (has_bias(l)) {
    /* db = sum over the batch of dy, in double, streaming dy column by
     * column (outputs contiguous) rather than striding lddy per output. */
    double *restrict s = l->bias_sums;
    for (size_t o = 0; o < l->out; o++)
      s[o] = 0.0;
    for (size_t j = 0; j < batch; j++) {
      const float *restrict dyj = dy + j * lddy;
      for (size_t o = 0; o < l->out; o++)
        s[o] += (double)dyj[o];
    }
    for (size_t o = 0; o < l->out; o++)
      l->dbias[o] = (float)s[o];
  }
  /* dx (in x N) = W^T (in x out: W row-major read column-major) dy (out x N) */
  if (dx)
    bni_sgemm(CblasNoTrans, CblasNoTrans, in, N, out, 1.0f, l->weight, in, dy, (int)lddy, 0.0f,
              dx, (int)lddx);
  l->have_grads = 1;
  return BN_OK;
}

/* ---- state blob ---------------------------------------------------------- */

static int state_bytes(size_t in, size_t out, int bias, size_t *bytes)
{
  size_t w, n;
  if (!bni_mul_size(in, out, &w) || (bias && w > SIZE_MAX - out))
    return 0;
  n = bias ? w + out : w;
  if (!bni_mul_size(n, sizeof(float), &n) || n > SIZE_MAX - STATE_HEADER_BYTES - 4)
    return 0;
  *bytes = STATE_HEADER_BYTES + n + 4;
  return 1;
}

bn_status bn_dense_serialized_size(const bn_dense *layer, size_t *size)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = (bn_dense *)(uintptr_t)layer; /* error text only */
  if (!size)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "size is NULL");
  if (!state_bytes(l->in, l->out, has_bias(l), size))
    return bni_fail(&l->err, BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  return BN_OK;
}

bn_status bn_dense_serialize(const bn_dense *layer, void *buffer, size_t capacity,
                             size_t *written)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = (bn_dense *)(uintptr_t)layer; /* error text only */
  if (!buffer)
    return bni_fail(&l->err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  size_t need;
  if (!state_bytes(l->in, l->out, has_bias(l), &need))
    return bni_fail(&l->err, BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  if (capacity < need)
    return bni_fail(&l->err, BN_ERR_BAD_SIZE, "buffer of %zu bytes, the state needs %zu",
                    capacity, need);
  bni_writer w = {buffer, capacity, 0, 0};
  bni_put_bytes(&w, STATE_MAGIC, 4);
  bni_put_u32(&w, STATE_VERSION);
  bni_put_u64(&w, (uint64_t)l->in);
  bni_put_u64(&w, (uint64_t)l->out);
  bni_put_u32(&w, l->flags);
  bni_put_u32(&w, 0);
  bni_put_f32s(&w, l->weight, l->in * l->out);
  if (has_bias(l))
    bni_put_f32s(&w, l->bias, l->out);
  bni_blob_seal(&w);
  if (written)
    *written = w.pos;
  return BN_OK;
}

bn_status bn_dense_deserialize(bn_dense *layer, const void *buffer, size_t size)
{
  if (!layer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_dense *l = layer;
  bni_error *err = &l->err;
  if (!buffer)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  bni_reader r;
  bn_status st = bni_blob_open(&r, buffer, size, STATE_HEADER_BYTES, STATE_MAGIC, STATE_VERSION,
                               "dense layer state", err);
  if (st != BN_OK)
    return st;
  uint64_t in = bni_get_u64(&r), out = bni_get_u64(&r);
  uint32_t flags = bni_get_u32(&r), reserved = bni_get_u32(&r);
  const int bias = (flags & BN_DENSE_NO_BIAS) == 0;
  size_t expected;
  int size_ok = in <= SIZE_MAX && out <= SIZE_MAX &&
                state_bytes((size_t)in, (size_t)out, bias, &expected) && expected == size;
  st = bni_blob_verify(buffer, size, size_ok, "dense layer state", err);
  if (st != BN_OK)
    return st;
  if (in != l->in || out != l->out)
    return bni_fail(err, BN_ERR_SHAPE_MISMATCH, "state is %llu -> %llu, the layer %zu -> %zu",
                    (unsigned long long)in, (unsigned long long)out, l->in, l->out);
  if ((flags & ~(uint32_t)KNOWN_FLAGS) || reserved != 0)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "state header holds unknown flags or reserved bits");
  /* Values are validated in place before anything is copied. */
  const size_t n = l->in * l->out + (bias ? l->out : 0), base = r.pos;
  for (size_t i = 0; i < n; i++)
    if (!isfinite(bni_get_f32(&r)))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "state value %zu is not finite", i);
  r.pos = base;
  l->flags = flags;
  bni_get_f32s(&r, l->weight, l->in * l->out);
  if (bias)
    bni_get_f32s(&r, l->bias, l->out);
  else
    memset(l->bias, 0, l->out * sizeof *l->bias);
  l->have_grads = 0;
  return BN_OK;
}

/* The superseded names of the three above. */

bn_status bn_dense_state_size(const bn_dense *layer, size_t *size)
{
  return bn_dense_serialized_size(layer, size);
}

bn_status bn_dense_save_state(const bn_dense *layer, void *buffer, size_t capacity,
                              size_t *written)
{
  return bn_dense_serialize(layer, buffer, capacity, written);
}

bn_status bn_dense_load_state(bn_dense *layer, const void *buffer, size_t size)
{
  return bn_dense_deserialize(layer, buffer, size);
}

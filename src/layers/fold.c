/* Folding an inference-mode BatchNorm into the dense layer before it:
 *   y = gamma*(W x + b - mean)/sqrt(var + eps) + beta = W' x + b'
 * with s = gamma/sqrt(var + eps) per output row, W' = s*W, b' = s*(b - mean) + beta.
 * The BatchNorm is read through its public API only. */
#include <math.h>
#include <stdlib.h>
#include <bn/dense.h>
#include "dense_internal.h"
#include "../kernels/batchnorm_constants.h"

/* Copy a BatchNorm vector, or fill `fallback` when the layer does not have it. */
static bn_status read_vector(const bn_batchnorm *bn, bn_batchnorm_tensor which, int present,
                             float fallback, float *out, size_t n)
{
  if (present)
    return bn_batchnorm_get(bn, which, out, n);
  for (size_t i = 0; i < n; i++)
    out[i] = fallback;
  return BN_OK;
}

bn_status bn_dense_fold_batchnorm(const bn_dense *dense, const bn_batchnorm *batchnorm,
                                  bn_dense **folded)
{
  if (folded)
    *folded = NULL;
  if (!dense)
    return BN_ERR_INVALID_ARGUMENT;
  bni_error *err = bni_dense_error(dense);
  if (!batchnorm || !folded)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", batchnorm ? "folded" : "batchnorm");
  size_t in = 0, out = 0, features = 0;
  unsigned dense_flags = 0, bn_flags = 0;
  float eps = 0.0f;
  bn_dense_shape(dense, &in, &out);
  bn_dense_flags(dense, &dense_flags);
  bn_batchnorm_features(batchnorm, &features);
  bn_batchnorm_flags(batchnorm, &bn_flags);
  bn_batchnorm_get_eps(batchnorm, &eps);
  if (features != out)
    return bni_fail(err, BN_ERR_SHAPE_MISMATCH,
                    "the dense layer has %zu outputs, the BatchNorm %zu features", out, features);
  if (bn_flags & BN_BATCHNORM_NO_RUNNING_STATS)
    return bni_fail(err, BN_ERR_WRONG_STATE,
                    "the BatchNorm has no running statistics: its inference is not affine");
  if (bn_flags & BN_BATCHNORM_FUSE_RELU)
    return bni_fail(err, BN_ERR_UNSUPPORTED,
                    "the BatchNorm fuses a ReLU, which is not affine and cannot be folded");

  float *vec = malloc(4 * out * sizeof *vec); /* out <= INT_MAX: no overflow */
  if (!vec)
    return bni_fail(err, BN_ERR_OUT_OF_MEMORY, "no memory for the BatchNorm vectors");
  float *mean = vec, *var = vec + out, *gamma = vec + 2 * out, *beta = vec + 3 * out;
  bn_status st = read_vector(batchnorm, BN_BATCHNORM_RUNNING_MEAN, 1, 0.0f, mean, out);
  if (st == BN_OK)
    st = read_vector(batchnorm, BN_BATCHNORM_RUNNING_VAR, 1, 1.0f, var, out);
  if (st == BN_OK)
    st = read_vector(batchnorm, BN_BATCHNORM_GAMMA, !(bn_flags & BN_BATCHNORM_NO_SCALE), 1.0f,
                     gamma, out);
  if (st == BN_OK)
    st = read_vector(batchnorm, BN_BATCHNORM_BETA, !(bn_flags & BN_BATCHNORM_NO_SHIFT), 0.0f,
                     beta, out);
  if (st != BN_OK) {
    free(vec);
    return bni_fail(err, st, "reading the BatchNorm's vectors failed: %s",
                    bn_batchnorm_last_error(batchnorm));
  }

  bn_dense *result = NULL;
  st = bn_dense_create(&result, in, out, 0);
  if (st != BN_OK) {
    free(vec);
    return bni_fail(err, st, "creating the folded layer failed");
  }
  const float *w = bni_dense_weight_const(dense);
  const float *b = (dense_flags & BN_DENSE_NO_BIAS) ? NULL : bni_dense_bias_const(dense);
  float *w2 = bni_dense_weight(result), *b2 = bni_dense_bias(result);
  int finite = 1;
  for (size_t o = 0; o < out; o++) {
    const double bias = b ? (double)b[o] : 0.0;
    const bni_bn_affine t = bni_bn_scale_shift(gamma[o], beta[o], (double)mean[o] - bias,
                                               bni_bn_invstd(var[o], (double)eps));
    for (size_t i = 0; i < in; i++) {
      w2[o * in + i] = (float)((double)w[o * in + i] * t.scale);
      finite &= isfinite(w2[o * in + i]) != 0;
    }
    b2[o] = (float)t.shift;
    finite &= isfinite(b2[o]) != 0;
  }
  free(vec);
  if (!finite) {
    bn_dense_destroy(result);
    return bni_fail(err, BN_ERR_NON_FINITE, "a folded weight or bias overflows float");
  }
  *folded = result;
  return BN_OK;
}

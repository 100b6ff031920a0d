#ifndef BNI_DENSE_INTERNAL_H
#define BNI_DENSE_INTERNAL_H

/* What code inside libbn needs beyond the public API: the handle's error
 * record and its parameter and gradient rows (fold.c builds layers from
 * them; the MLP's optimizer updates them in place instead of copying). */

#include <bn/dense.h>
#include "../core/error.h"

/* The handle's last-error record (its text is the only thing written
 * through a const handle). */
bni_error *bni_dense_error(const bn_dense *layer);

/* The weights (out*in, row-major) and the bias row (out floats; all zero and
 * unused when the layer has BN_DENSE_NO_BIAS). */
float *bni_dense_weight(bn_dense *layer);
float *bni_dense_bias(bn_dense *layer);
const float *bni_dense_weight_const(const bn_dense *layer);

/* The gradient rows the last backward wrote (same shapes as weight/bias). */
float *bni_dense_dweight(bn_dense *layer);
float *bni_dense_dbias(bn_dense *layer);
const float *bni_dense_bias_const(const bn_dense *layer);

#endif

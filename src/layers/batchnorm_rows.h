#ifndef BNI_BATCHNORM_ROWS_H
#define BNI_BATCHNORM_ROWS_H

/* A BatchNorm layer's trainable rows for code inside libbn: the MLP's
 * optimizer updates gamma and beta in place from dgamma and dbeta instead of
 * copying them out and back every step. Each row has the layer's F floats
 * and lives as long as the layer. Writers must keep the values finite. */

#include <bn/batchnorm.h>

float *bni_batchnorm_gamma(bn_batchnorm *layer);
float *bni_batchnorm_beta(bn_batchnorm *layer);
float *bni_batchnorm_dgamma(bn_batchnorm *layer);
float *bni_batchnorm_dbeta(bn_batchnorm *layer);

/* xhat, the normalized input of the pending batch-statistics forward of x
 * (the same x, batch and statistics; Batch Renormalization's r and d
 * included), so that y = gamma*xhat + beta: for a caller that gets dgamma
 * and dbeta without the layer's backward (the MLP's input BatchNorm,
 * docs/math.md section 8). Marks the gradient rows as the caller's to fill.
 * BN_ERR_WRONG_STATE when no such forward is pending. */
bn_status bni_batchnorm_normalized(bn_batchnorm *layer, size_t batch, const float *x, size_t ldx,
                                   float *xhat, size_t ldxhat);

#endif

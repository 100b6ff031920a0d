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

#endif

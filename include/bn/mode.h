#ifndef BN_MODE_H
#define BN_MODE_H

/** @file bn/mode.h
 *  @brief The forward mode shared by every call that normalizes a batch
 *         (bn_batchnorm_forward() in bn/batchnorm.h, bn_mlp_predict() in
 *         bn/mlp.h).
 *
 *  Its own header because two tiers use it: the layer and the model. The
 *  headers of both include this one, so code that included bn/batchnorm.h
 *  to get bn_mode still compiles. */

#include <bn/export.h>

BN_EXTERN_C_BEGIN

/** Forward mode, given explicitly on every call. */
typedef enum bn_mode {
  BN_MODE_TRAINING = 1,   /**< Batch statistics; running statistics are updated. */
  BN_MODE_INFERENCE = 2   /**< Running statistics (batch statistics if the layer has none). */
} bn_mode;

BN_EXTERN_C_END

#endif /* BN_MODE_H */

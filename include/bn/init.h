#ifndef BN_INIT_H
#define BN_INIT_H

/** @file bn/init.h
 *  @brief Weight initialization schemes shared by bn_dense_init() (bn/dense.h)
 *         and bn_mlp_init() (bn/mlp.h).
 *
 *  Its own header because two tiers use it: the layer and the model. The
 *  headers of both include this one, so code that included bn/dense.h to get
 *  bn_init still compiles. The draws come from a caller-owned bn_rng
 *  (bn/rng.h); the exact draw order is documented at bn_dense_init(). */

#include <bn/export.h>

BN_EXTERN_C_BEGIN

/** Weight initialization schemes. Biases are set to 0. */
typedef enum bn_init {
  BN_INIT_ZEROS = 0,          /**< W = 0. */
  BN_INIT_HE_NORMAL = 1,      /**< W ~ N(0, 2/in) (He et al. 2015, for ReLU). */
  BN_INIT_GLOROT_UNIFORM = 2, /**< W ~ U(-a, a), a = sqrt(6/(in+out)). */
  BN_INIT_GLOROT_NORMAL = 3   /**< W ~ N(0, 2/(in+out)). */
} bn_init;

BN_EXTERN_C_END

#endif /* BN_INIT_H */

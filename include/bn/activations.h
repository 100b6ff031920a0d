#ifndef BN_ACTIVATIONS_H
#define BN_ACTIVATIONS_H

/** @file bn/activations.h
 *  @brief Stateless activation kernels over the (features x batch) layout.
 *
 *  Layout as in bn/batchnorm_kernels.h: column-major, element (f, j) at
 *  m[f + j*ld], ld >= features. Elementwise except softmax, which normalizes
 *  each sample (column) over its features after subtracting the column's
 *  maximum. Transcendental functions are evaluated in double and rounded once
 *  to float. Formulas and derivatives: docs/layers.md.
 *
 *  Aliasing: an output may be the very same buffer as an input with the same
 *  leading dimension (in place); any other overlap is BN_ERR_INVALID_ARGUMENT.
 *
 *  Non-finite values propagate by IEEE arithmetic; ReLU maps NaN to NaN
 *  (unlike the fused BatchNorm+ReLU, which maps NaN to 0). A softmax column
 *  holding NaN or +inf becomes all NaN.
 *
 *  Errors (the status only: stateless kernels keep no message; see
 *  docs/errors.md): BN_ERR_INVALID_ARGUMENT for an unknown activation, an ELU alpha
 *  that is not finite and > 0, a NULL matrix, a zero size, ld < features or a
 *  forbidden overlap; BN_ERR_SIZE_OVERFLOW when ld*(batch-1)+features floats
 *  overflow size_t. On error nothing is written.
 *  Thread-safe (no state, no allocation). */

#include <stddef.h>
#include <bn/status.h>

BN_EXTERN_C_BEGIN

/** Activation functions. */
typedef enum bn_activation {
  BN_ACT_IDENTITY = 0, /**< y = x. */
  BN_ACT_RELU = 1,     /**< y = max(0, x). */
  BN_ACT_ELU = 2,      /**< y = x if x > 0 else alpha*(exp(x) - 1); alpha > 0. */
  BN_ACT_SIGMOID = 3,  /**< y = 1/(1 + exp(-x)), stable for large |x|. */
  BN_ACT_TANH = 4,     /**< y = tanh(x). */
  BN_ACT_SOFTMAX = 5   /**< y = exp(x - max) / sum exp(x - max), per column. */
} bn_activation;

/** @brief y = act(x).
 *  @param act       a bn_activation.
 *  @param alpha     ELU's alpha (> 0, finite); ignored by the others.
 *  @param features  rows F > 0.   @param batch columns N > 0.
 *  @param x         input (F x N), leading dimension ldx >= F.
 *  @param y         output (F x N), leading dimension ldy >= F; may be x if ldy == ldx.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT, BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_activation_forward(bn_activation act, float alpha, size_t features,
                                       size_t batch, const float *x, size_t ldx, float *y,
                                       size_t ldy);

/** @brief dx = dy * act'(x), expressed through the forward output y (all
 *         activations here have derivatives that are functions of y; for
 *         ReLU and ELU, y > 0 exactly where x > 0):
 *         identity dy; ReLU dy*(y > 0); ELU dy if y > 0 else dy*(y + alpha);
 *         sigmoid dy*y*(1 - y); tanh dy*(1 - y^2);
 *         softmax y*(dy - sum_k y_k dy_k) per column.
 *  @param y   the forward's output (F x N), ldy.   @param dy incoming gradient, lddy.
 *  @param dx  out (F x N), lddx; may be dy (or y) with the same leading dimension.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT, BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_activation_backward(bn_activation act, float alpha, size_t features,
                                        size_t batch, const float *y, size_t ldy,
                                        const float *dy, size_t lddy, float *dx, size_t lddx);

BN_EXTERN_C_END

#endif /* BN_ACTIVATIONS_H */

#ifndef BNI_BATCHNORM_ROWS_H
#define BNI_BATCHNORM_ROWS_H

/* A BatchNorm layer's trainable rows for code inside libbn: the MLP's
 * optimizer updates gamma and beta in place from dgamma and dbeta instead of
 * copying them out and back every step. Each row has the layer's F floats
 * and lives as long as the layer. Writers must keep the values finite. */

#include <bn/activations.h>
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

/* Whether bni_batchnorm_forward_activation and
 * bni_batchnorm_backward_activation can fold act into this layer's passes:
 * identity, ReLU, ELU, sigmoid and tanh, on a layer without the fused ReLU. */
int bni_batchnorm_folds_activation(const bn_batchnorm *layer, bn_activation act);

/* bn_batchnorm_forward with the activation act (alpha: ELU's) applied to
 * each output inside the normalize pass: y = act(BatchNorm(x)), bit for bit
 * what bn_activation_forward then gives (NaN propagates through ReLU, unlike
 * the fused ReLU's); the errors and the pending backward are
 * bn_batchnorm_forward's. BN_ERR_INVALID_ARGUMENT if the activation cannot
 * be folded (bni_batchnorm_folds_activation). */
bn_status bni_batchnorm_forward_activation(bn_batchnorm *layer, bn_mode mode, size_t batch,
                                           const float *x, size_t ldx, bn_activation act,
                                           float alpha, float *y, size_t ldy);

/* The backward of the pending forward for a BatchNorm followed by the
 * activation act (alpha: ELU's) whose output is post (ldpost apart; the
 * activation applied to this layer's forward output): da is the gradient of
 * post. The layer's backward reads g = act'(post)*da where it reads dy, so
 * dx, dgamma and dbeta are bit for bit those of bn_activation_backward
 * (post, da) followed by bn_batchnorm_backward on its output, without
 * writing or reading that intermediate; the errors are
 * bn_batchnorm_backward's. dx may be da (in place). BN_ERR_INVALID_ARGUMENT
 * if the activation cannot be folded (bni_batchnorm_folds_activation). */
bn_status bni_batchnorm_backward_activation(bn_batchnorm *layer, size_t batch, const float *x,
                                            size_t ldx, bn_activation act, float alpha,
                                            const float *post, size_t ldpost, const float *da,
                                            size_t ldda, float *dx, size_t lddx);

#endif

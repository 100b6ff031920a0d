#ifndef BN_LOSSES_H
#define BN_LOSSES_H

/** @file bn/losses.h
 *  @brief Fused, numerically stable losses over the (features x batch) layout.
 *
 *  Layout as in bn/batchnorm_kernels.h (column-major, one sample per column).
 *  Losses are means over the batch, accumulated in double and rounded once.
 *  Gradients are of that mean. Errors are reported by the status only
 *  (stateless kernels keep no message; see docs/errors.md). Every input is
 *  validated before anything is written: on error neither *loss nor dlogits is touched.
 *  Aliasing: dlogits may be the very same buffer as logits (or, for the
 *  binary loss, targets) when ldd == ld; any other overlap is
 *  BN_ERR_INVALID_ARGUMENT. Thread-safe (no state, no allocation). */

#include <stddef.h>
#include <stdint.h>
#include <bn/status.h>

BN_EXTERN_C_BEGIN

/** @brief Softmax + cross-entropy from integer labels.
 *
 *  loss = mean_j [ logsumexp(z_j) - z_j[label_j] ] (max-subtracted, summed
 *  in double: stable for logits of magnitude 1e4 and beyond);
 *  dlogits = (softmax(z) - onehot) / N.
 *  @param classes  C > 0 (rows).  @param batch N > 0.
 *  @param logits   (C x N), ld >= C.  @param labels N values in [0, C).
 *  @param loss     out: the mean loss (required).
 *  @param dlogits  out: (C x N) with leading dimension ldd, or NULL; may alias logits.
 *  @param ldd      leading dimension of dlogits (ignored when dlogits is NULL).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT for NULL logits, labels or loss, a
 *          zero size, ld or ldd < C, a forbidden overlap, or a label out of
 *          range (all labels are checked first: nothing is read out of
 *          bounds, nothing is written); BN_ERR_NON_FINITE if a logit is not
 *          finite; BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_softmax_cross_entropy(size_t classes, size_t batch, const float *logits,
                                          size_t ld, const int32_t *labels, float *loss,
                                          float *dlogits, size_t ldd);

/** @brief Sigmoid + binary cross-entropy, per element, in the log-sum-exp form
 *         max(z,0) - z*t + log(1 + exp(-|z|)) (stable for any |z|).
 *
 *  loss = mean over all outputs*batch elements; dlogits = (sigmoid(z) - t)/(outputs*N).
 *  Targets may be soft (any value in [0, 1]).
 *  @param outputs  rows (usually 1).  @param batch N.
 *  @param logits   (outputs x N), ld.  @param targets same shape and ld, values in [0, 1].
 *  @param loss     out (required).  @param dlogits (outputs x N) with ldd, or NULL.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT for a target outside [0,1] (NaN
 *          included), NULL pointers, zero sizes, ld/ldd < outputs or a
 *          forbidden overlap; BN_ERR_NON_FINITE for a non-finite logit;
 *          BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Keeps no state; concurrent calls are safe when their outputs do not overlap. */
BN_API bn_status bn_sigmoid_binary_cross_entropy(size_t outputs, size_t batch,
                                                 const float *logits, size_t ld,
                                                 const float *targets, float *loss,
                                                 float *dlogits, size_t ldd);

BN_EXTERN_C_END

#endif /* BN_LOSSES_H */

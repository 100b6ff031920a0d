#ifndef BNI_LOSSES_INTERNAL_H
#define BNI_LOSSES_INTERNAL_H

/* The fused losses of <bn/losses.h> counting, in the same pass, the
 * predictions that are right (hits may be NULL: then they are the public
 * functions). Softmax: a sample is right when the first of its largest
 * logits is its label. Sigmoid: a unit is right when (logit >= 0) equals
 * (target >= 0.5). */

#include <stddef.h>
#include <stdint.h>
#include <bn/status.h>

bn_status bni_softmax_cross_entropy_hits(size_t classes, size_t batch, const float *logits,
                                         size_t ld, const int32_t *labels, float *loss,
                                         float *dlogits, size_t ldd, size_t *hits);
bn_status bni_sigmoid_binary_cross_entropy_hits(size_t outputs, size_t batch,
                                                const float *logits, size_t ld,
                                                const float *targets, float *loss,
                                                float *dlogits, size_t ldd, size_t *hits);

#endif

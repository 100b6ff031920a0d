#ifndef BNI_STANDARDIZER_INTERNAL_H
#define BNI_STANDARDIZER_INTERNAL_H

/* What code inside libbn (an MLP's standardizer stage, folding it into the
 * first dense layer) needs of a bn_standardizer beyond the public API: the
 * two rows the transform applies, y[f] = (x[f] - center[f]) / scale[f].
 * Both are F doubles owned by the handle, already reflecting the
 * BN_STANDARDIZER_WITH_MEAN / _WITH_STD options (center 0, scale 1 when off)
 * and the constant-feature rule (scale 1). They are NULL while the handle is
 * unfitted, and stay valid until the next fit, partial_fit, deserialize,
 * set_parameter or destroy on the handle. The handle must not be NULL.
 *
 * Embedding the state in a model file goes through the public
 * bn_standardizer_serialized_size / _serialize / _deserialize. */

#include <bn/standardizer.h>
#include "../core/error.h"

const double *bni_standardizer_center_row(const bn_standardizer *standardizer);
const double *bni_standardizer_scale_row(const bn_standardizer *standardizer);

/* The serialized size of a standardizer of `features` features (what
 * bn_standardizer_serialized_size reports for it); 0 when it overflows. */
int bni_standardizer_bytes(size_t features, size_t *bytes);

/* Validate serialized bytes for a standardizer of `features` features
 * without a handle (a model file checks every value before building):
 * BN_OK exactly when bn_standardizer_deserialize would accept them. */
bn_status bni_standardizer_check_bytes(const void *buffer, size_t size, size_t features,
                                       bni_error *err);

#endif

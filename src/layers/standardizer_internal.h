#ifndef BNI_STANDARDIZER_INTERNAL_H
#define BNI_STANDARDIZER_INTERNAL_H

/* What code inside libbn (an MLP's standardizer stage, folding it into the
 * first dense layer) needs of a bn_standardizer beyond the public API: the
 * two rows the transform applies, y[f] = (x[f] - center[f]) / scale[f].
 * Both are F doubles owned by the handle, already reflecting the
 * BN_STANDARDIZER_WITH_MEAN / _WITH_STD options (center 0, scale 1 when off)
 * and the constant-feature rule (scale 1). They are NULL while the handle is
 * unfitted, and stay valid until the next fit, partial_fit, load_state,
 * set_parameter or destroy on the handle. The handle must not be NULL.
 *
 * Embedding the state in a model file goes through the public
 * bn_standardizer_state_size / _save_state, and bn_standardizer_create_from_state
 * (which learns the feature count from the blob) to read it back. */

#include <bn/standardizer.h>

const double *bni_standardizer_center_row(const bn_standardizer *standardizer);
const double *bni_standardizer_scale_row(const bn_standardizer *standardizer);

#endif

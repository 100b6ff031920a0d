#ifndef BN_STANDARDIZER_H
#define BN_STANDARDIZER_H

/** @file bn/standardizer.h
 *  @brief An input standardizer (as scikit-learn's StandardScaler): each
 *         feature's mean and standard deviation over a whole data set,
 *         applied to any later data.
 *
 *  Layout: a data set is a (features x n) float matrix in column-major order
 *  with leading dimension ld >= features, sample j at x[j*ld .. j*ld + F-1],
 *  as everywhere in libbn.
 *
 *  Statistics: per feature, the count n, the mean and M2 (the sum of squared
 *  deviations from the mean), all in double. bn_standardizer_fit() computes
 *  them in two passes (mean, then centered squares), so a mean that dwarfs the
 *  spread (mean 1e4, standard deviation 1e-2) costs no accuracy;
 *  bn_standardizer_partial_fit() merges a chunk's (n, mean, M2) into the
 *  handle's with the exact pairwise rule (Chan, Golub and LeVeque), so chunks
 *  give the statistics of their concatenation up to double rounding. The
 *  variance is M2/n (biased, as scikit-learn's var_); the scale is its square
 *  root, except that a constant feature gets scale 1 (it is only centered).
 *  A feature counts as constant when its variance is within the rounding noise
 *  of its computation, scikit-learn's rule: var <= n*eps*var + (n*mean*eps)^2
 *  with eps = DBL_EPSILON (an exactly constant feature has var = 0).
 *
 *  Transform: y = (x - center)/scale per feature, computed in double and
 *  rounded once to float; center is the mean (0 without
 *  BN_STANDARDIZER_WITH_MEAN), scale as above (1 without
 *  BN_STANDARDIZER_WITH_STD). The inverse is x = y*scale + center.
 *
 *  Non-finite values: fitting refuses data holding NaN or infinity
 *  (BN_ERR_NON_FINITE, the statistics unchanged; scikit-learn would skip NaN
 *  as missing, libbn does not guess). Transforms apply the formula by IEEE
 *  arithmetic: NaN stays NaN, infinity stays infinite, and a standardized
 *  value beyond FLT_MAX becomes an infinity.
 *
 *  Thread-safety: a handle must not be used by two threads at once; distinct
 *  handles are fully independent (the library has no global mutable state).
 *
 *  Errors: every function returns a bn_status; when a handle is given, the
 *  reason is also stored in it and readable with bn_standardizer_last_error().
 *  On error, outputs and the handle's statistics are left unchanged. */

#include <stddef.h>
#include <stdint.h>
#include <bn/status.h>

BN_EXTERN_C_BEGIN

/** Opaque standardizer. */
typedef struct bn_standardizer bn_standardizer;

/** Tunables for bn_standardizer_set_parameter() / bn_standardizer_get_parameter().
 *  Values are doubles; these take 0 or 1 (bn_standardizer_parameter_bounds()).
 *  They change what the transforms apply, never the statistics, so they may
 *  be changed at any time; they are kept in the state blob. */
typedef enum bn_standardizer_param {
  BN_STANDARDIZER_WITH_MEAN = 1, /**< 1 (default): subtract the mean; 0: center 0 (scikit-learn's with_mean). */
  BN_STANDARDIZER_WITH_STD = 2   /**< 1 (default): divide by the scale; 0: scale 1 (scikit-learn's with_std). */
} bn_standardizer_param;

/** Per-feature vectors for bn_standardizer_get(), F doubles each. */
typedef enum bn_standardizer_vector {
  BN_STANDARDIZER_MEAN = 1,  /**< The mean (whatever BN_STANDARDIZER_WITH_MEAN says). */
  BN_STANDARDIZER_SCALE = 2, /**< The standard deviation sqrt(var), 1 for a constant feature (whatever BN_STANDARDIZER_WITH_STD says). */
  BN_STANDARDIZER_VAR = 3    /**< The biased variance M2/n. */
} bn_standardizer_vector;

/** @brief Create an unfitted standardizer over `features` features, with
 *         both BN_STANDARDIZER_WITH_MEAN and BN_STANDARDIZER_WITH_STD on.
 *
 *  @param out       receives the new handle (set to NULL on failure).
 *  @param features  F > 0; fixed for the handle's lifetime.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL out, zero features),
 *          BN_ERR_SIZE_OVERFLOW, BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_standardizer_create(bn_standardizer **out, size_t features);

/** @brief Create a standardizer from bytes written by
 *         bn_standardizer_serialize(), taking its feature count from them.
 *
 *  There is no handle to keep a message when this fails, so, as
 *  bn_mlp_deserialize(), it fills an optional caller buffer.
 *  @param out       receives the new handle (set to NULL on failure).
 *  @param buffer    the bytes; never read outside [buffer, buffer + size).
 *  @param size      their number.
 *  @param message   optional buffer (may be NULL) receiving why creation
 *                   failed ("" on success), truncated to capacity.
 *  @param capacity  its size in bytes.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL out or buffer), the errors of
 *          bn_standardizer_deserialize() (except BN_ERR_SHAPE_MISMATCH;
 *          0 features is BN_ERR_BAD_FORMAT), BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_standardizer_create_from_bytes(bn_standardizer **out, const void *buffer,
                                                   size_t size, char *message,
                                                   size_t capacity);

/** @brief Release a standardizer. NULL is a no-op.
 *  @par Thread-safety
 *  No other call may be using the handle. */
BN_API void bn_standardizer_destroy(bn_standardizer *standardizer);

/** @brief Why the last failing call on this handle failed.
 *
 *  @return a NUL-terminated message owned by the handle, valid until the
 *          next call on it; "" if no call failed yet; a static message for a
 *          NULL handle. Never NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API const char *bn_standardizer_last_error(const bn_standardizer *standardizer);

/** @brief Feature count F.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL standardizer or features).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_features(const bn_standardizer *standardizer, size_t *features);

/** @brief Set a tunable.
 *  @param standardizer  the handle.
 *  @param param         a bn_standardizer_param.
 *  @param value         within bn_standardizer_parameter_bounds() and integral.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, unknown parameter, value out
 *          of bounds or not integral); BN_ERR_NON_FINITE (NaN or infinite
 *          value). The handle is unchanged on error.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_set_parameter(bn_standardizer *standardizer,
                                               bn_standardizer_param param, double value);

/** @brief Read a tunable.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL standardizer or value, unknown parameter).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_get_parameter(const bn_standardizer *standardizer,
                                               bn_standardizer_param param, double *value);

/** @brief Inclusive bounds of a tunable.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (unknown parameter, NULL lower or upper).
 *  @par Thread-safety
 *  Thread-safe (no handle). */
BN_API bn_status bn_standardizer_parameter_bounds(bn_standardizer_param param, double *lower,
                                                  double *upper);

/** @brief Fit the statistics to a data set, replacing any earlier ones.
 *
 *  @param standardizer  the handle.
 *  @param n             number of samples, >= 1.
 *  @param x             F x n data, leading dimension ld; all finite.
 *  @param ld            leading dimension of x, >= F.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, n = 0, ld < F);
 *          BN_ERR_SIZE_OVERFLOW (the matrix's extent, or n > 2^53, where
 *          counts stop being exact in double); BN_ERR_NON_FINITE (x holds NaN
 *          or infinity). On error the statistics are unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_fit(bn_standardizer *standardizer, size_t n, const float *x,
                                     size_t ld);

/** @brief Add a chunk of samples to the statistics (as scikit-learn's
 *         partial_fit): afterwards they are those of every sample seen since
 *         the last fit (or creation, or load), up to double rounding.
 *
 *  On an unfitted handle this is bn_standardizer_fit().
 *  @param standardizer  the handle.
 *  @param n             number of samples in the chunk, >= 1.
 *  @param x             F x n data, leading dimension ld; all finite.
 *  @param ld            leading dimension of x, >= F.
 *  @return as bn_standardizer_fit(); BN_ERR_SIZE_OVERFLOW also when the
 *          total count would pass 2^53; BN_ERR_NON_FINITE also when the
 *          merged statistics would overflow double (possible only after
 *          loading a state that holds moments near the double range). On
 *          error the statistics are unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_partial_fit(bn_standardizer *standardizer, size_t n,
                                             const float *x, size_t ld);

/** @brief Standardize: y = (x - center)/scale per feature (see the file comment).
 *
 *  @param standardizer  a fitted handle (const: only its last-error message may change).
 *  @param n             number of samples, >= 1.
 *  @param x             F x n input, leading dimension ldx >= F.
 *  @param ldx           leading dimension of x.
 *  @param y             F x n output, leading dimension ldy >= F; may be x
 *                       itself when ldy == ldx (in place), otherwise must not
 *                       overlap x. Padding rows F..ld-1 are not touched.
 *  @param ldy           leading dimension of y.
 *  @return BN_OK; BN_ERR_WRONG_STATE (not fitted); BN_ERR_INVALID_ARGUMENT
 *          (NULL, n = 0, ld < F, partial overlap of x and y);
 *          BN_ERR_SIZE_OVERFLOW. Non-finite x propagates (see the file comment).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_transform(const bn_standardizer *standardizer, size_t n,
                                           const float *x, size_t ldx, float *y, size_t ldy);

/** @brief Undo bn_standardizer_transform(): x = y*scale + center per feature.
 *
 *  @param standardizer  a fitted handle (const: only its last-error message may change).
 *  @param n             number of samples, >= 1.
 *  @param y             F x n standardized input, leading dimension ldy >= F.
 *  @param ldy           leading dimension of y.
 *  @param x             F x n output, leading dimension ldx >= F; may be y
 *                       itself when ldx == ldy, otherwise must not overlap y.
 *  @param ldx           leading dimension of x.
 *  @return as bn_standardizer_transform().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_inverse_transform(const bn_standardizer *standardizer, size_t n,
                                                   const float *y, size_t ldy, float *x,
                                                   size_t ldx);

/** @brief Number of samples the statistics were computed from (0 before any fit).
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL standardizer or count).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_count(const bn_standardizer *standardizer, uint64_t *count);

/** @brief Copy one per-feature vector of the statistics into out.
 *
 *  @param standardizer  the handle (const: only its last-error message may change).
 *  @param which         a bn_standardizer_vector.
 *  @param out           F doubles.
 *  @param count         must equal F (BN_ERR_SHAPE_MISMATCH otherwise).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, unknown which);
 *          BN_ERR_SHAPE_MISMATCH; BN_ERR_WRONG_STATE (not fitted).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_get(const bn_standardizer *standardizer,
                                     bn_standardizer_vector which, double *out, size_t count);

/** @brief Size in bytes of the serialized state: 36 + 16*F.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL), BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_serialized_size(const bn_standardizer *standardizer, size_t *size);

/** @brief Serialize the state (fitted or not), so that a later partial_fit
 *         continues exactly.
 *
 *  Format (little-endian, version 1): "BNSD" magic, u32 version, u64 F,
 *  u32 options (bit 0 with_mean, bit 1 with_std), u32 reserved (0), u64
 *  count, then F doubles of the mean, F doubles of M2, and a CRC-32 (IEEE)
 *  of all preceding bytes. See docs/formats.md.
 *
 *  @param standardizer  the handle (const: only its last-error message may change).
 *  @param buffer        destination of at least bn_standardizer_serialized_size() bytes.
 *  @param capacity      its size (BN_ERR_BAD_SIZE when too small).
 *  @param written       receives the bytes written, or NULL.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL standardizer or buffer),
 *          BN_ERR_BAD_SIZE, BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_serialize(const bn_standardizer *standardizer, void *buffer,
                                           size_t capacity, size_t *written);

/** @brief Restore a state written by bn_standardizer_serialize(): the
 *         options, count, means and M2 replace the handle's.
 *
 *  Never reads outside [buffer, buffer + size).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL); BN_ERR_BAD_SIZE (truncated,
 *          or longer than its header says); BN_ERR_BAD_MAGIC;
 *          BN_ERR_VERSION_MISMATCH; BN_ERR_CHECKSUM; BN_ERR_SHAPE_MISMATCH
 *          (feature count differs from the handle's); BN_ERR_BAD_FORMAT
 *          (unknown option bits, reserved field not 0, count > 2^53, a
 *          non-finite mean or M2, a negative M2, or nonzero vectors with
 *          count 0). On error the handle is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_standardizer_deserialize(bn_standardizer *standardizer, const void *buffer,
                                             size_t size);

BN_EXTERN_C_END

#endif /* BN_STANDARDIZER_H */

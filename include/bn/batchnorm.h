#ifndef BN_BATCHNORM_H
#define BN_BATCHNORM_H

/** @file bn/batchnorm.h
 *  @brief The BatchNorm layer: parameters, running statistics, forward and
 *         backward over the (features x batch) layout.
 *
 *  A layer normalizes each of its F features over the batch. In training mode
 *  it uses the batch's mean and biased variance and updates the running
 *  statistics; in inference mode it uses the running statistics. See
 *  bn/batchnorm_kernels.h for the layout and the formulas.
 *
 *  Conventions (see docs/conventions.md for the mapping to PyTorch and Keras):
 *  - the update factor is the weight of the new batch:
 *      running = (1 - factor)*running + factor*batch_stat
 *    (default 0.1 = PyTorch momentum=0.1 = Keras momentum=0.9);
 *  - BN_BATCHNORM_CUMULATIVE_AVERAGE uses factor = 1/(batches tracked) instead;
 *  - the running variance is updated with the unbiased batch variance
 *    var*N/(N-1) (as PyTorch) unless BN_BATCHNORM_BIASED_RUNNING_VAR (as Keras);
 *    it saturates at FLT_MAX rather than overflowing to infinity, and a batch
 *    whose variance exceeds FLT_MAX is refused with BN_ERR_NON_FINITE.
 *
 *  Thread-safety: a handle must not be used by two threads at once; distinct
 *  handles are fully independent (the layer keeps no global mutable state).
 *
 *  Tunables (eps, update factor, threads, batches tracked) go through
 *  bn_batchnorm_set_parameter() / bn_batchnorm_get_parameter() with
 *  bn_batchnorm_parameter_bounds(), as the MLP's; the state travels in
 *  memory through bn_batchnorm_serialize() / bn_batchnorm_deserialize().
 *  Older names for both remain as aliases (docs/architecture.md, Conventions).
 *
 *  Errors: every function returns a bn_status; when a handle is given, the
 *  reason is also stored in it and readable with bn_batchnorm_last_error().
 *  On error, outputs and the layer's state are left unchanged. */

#include <stddef.h>
#include <stdint.h>
#include <bn/status.h>
#include <bn/batchnorm_kernels.h>
#include <bn/mode.h>

BN_EXTERN_C_BEGIN

/** Opaque BatchNorm layer. */
typedef struct bn_batchnorm bn_batchnorm;

/** Creation flags (bitwise OR; 0 gives the defaults). Unknown bits are rejected. */
enum bn_batchnorm_flags {
  BN_BATCHNORM_NO_SCALE = 1u << 0,            /**< No gamma (fixed at 1). */
  BN_BATCHNORM_NO_SHIFT = 1u << 1,            /**< No beta (fixed at 0). */
  BN_BATCHNORM_NO_RUNNING_STATS = 1u << 2,    /**< No running statistics: both modes use batch statistics. */
  BN_BATCHNORM_CUMULATIVE_AVERAGE = 1u << 3,  /**< Running statistics are the plain average of all batches. */
  BN_BATCHNORM_BIASED_RUNNING_VAR = 1u << 4,  /**< Store the biased batch variance in the running variance. */
  /* BN_BATCHNORM_FUSE_RELU (1u << 5) is a layer flag too: output max(0, bn(x)),
   * the backward applies the ReLU mask (NaN maps to 0). It is declared once,
   * in bn/batchnorm_kernels.h, because the kernels take the same flag. */
  /** Batch Renormalization (Ioffe 2017): training-mode forwards normalize with
   *  the batch statistics corrected towards the running ones by r and d
   *  (clipped by BN_BATCHNORM_RENORM_RMAX / _DMAX, or the paper's schedule
   *  with BN_BATCHNORM_RENORM_SCHEDULE); see
   *  bn_batchnorm_renorm_forward_training() and docs/math.md. Running
   *  statistics and inference are as for plain BatchNorm. Needs running
   *  statistics (not with BN_BATCHNORM_NO_RUNNING_STATS). */
  BN_BATCHNORM_RENORM = 1u << 6
};

/** Vectors of F floats held by a layer, for bn_batchnorm_get() / bn_batchnorm_set(). */
typedef enum bn_batchnorm_tensor {
  BN_BATCHNORM_GAMMA = 1,         /**< Scale; get/set. BN_ERR_WRONG_STATE with BN_BATCHNORM_NO_SCALE. */
  BN_BATCHNORM_BETA = 2,          /**< Shift; get/set. BN_ERR_WRONG_STATE with BN_BATCHNORM_NO_SHIFT. */
  BN_BATCHNORM_RUNNING_MEAN = 3,  /**< get/set; BN_ERR_WRONG_STATE without running statistics. */
  BN_BATCHNORM_RUNNING_VAR = 4,   /**< get/set (values >= 0); BN_ERR_WRONG_STATE without running statistics. */
  BN_BATCHNORM_DGAMMA = 5,        /**< get only; from the last backward (overwritten by each backward). */
  BN_BATCHNORM_DBETA = 6,         /**< get only; from the last backward (overwritten by each backward). */
  BN_BATCHNORM_SAVED_MEAN = 7,    /**< get only; batch mean of the last training-mode forward. */
  BN_BATCHNORM_SAVED_INVSTD = 8,  /**< get only; 1/sqrt(var+eps) of the last training-mode forward. */
  BN_BATCHNORM_RENORM_R = 9,      /**< get only; Batch Renormalization's r of the last training-mode forward (BN_BATCHNORM_RENORM). */
  BN_BATCHNORM_RENORM_D = 10      /**< get only; Batch Renormalization's d of the last training-mode forward (BN_BATCHNORM_RENORM). */
} bn_batchnorm_tensor;

/** Tunables for bn_batchnorm_set_parameter() / bn_batchnorm_get_parameter().
 *  Values are doubles; integer parameters take integral values; float
 *  parameters are stored rounded to float and read back as stored. Inclusive
 *  bounds come from bn_batchnorm_parameter_bounds(). */
typedef enum bn_batchnorm_param {
  BN_BATCHNORM_EPSILON = 1,         /**< eps added to the variance, in (0, FLT_MAX]; default 1e-5. */
  BN_BATCHNORM_UPDATE_FACTOR = 2,   /**< running-statistics weight of the new batch, in (0, 1]; default 0.1. Ignored (but kept) with BN_BATCHNORM_CUMULATIVE_AVERAGE. */
  BN_BATCHNORM_THREADS = 3,         /**< most threads per pass, an integer in [1, 64]; default 1 (see bn_batchnorm_set_threads()). */
  BN_BATCHNORM_BATCHES_TRACKED = 4, /**< training forwards that updated the running statistics, an integer in [0, 2^53]. */
  BN_BATCHNORM_RENORM_RMAX = 5,     /**< Batch Renormalization's limit on r (r in [1/rmax, rmax]), in [1, FLT_MAX]; default 3. Settable on any layer, used with BN_BATCHNORM_RENORM when the schedule is off; kept in the state. */
  BN_BATCHNORM_RENORM_DMAX = 6,     /**< Batch Renormalization's limit on d (d in [-dmax, dmax]), in [0, FLT_MAX]; default 5. As RMAX. */
  BN_BATCHNORM_RENORM_SCHEDULE = 7  /**< 0 (default): the fixed RMAX and DMAX; 1: the paper's schedule, driven by the batches tracked t before each training forward: rmax = 1 + 2*clip((t - 5000)/35000, 0, 1), dmax = 5*clip((t - 5000)/20000, 0, 1) (1 and 0 for the first 5000 steps, 3 by step 40000, 5 by step 25000). */
} bn_batchnorm_param;

/** @brief Create a layer with gamma = 1, beta = 0, running mean 0, running var 1,
 *         eps 1e-5 and update factor 0.1.
 *
 *  @param out       receives the new handle (set to NULL on failure).
 *  @param features  F > 0.
 *  @param flags     bitwise OR of bn_batchnorm_flags, 0 for the defaults.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL out, zero features, unknown
 *          flags, or CUMULATIVE_AVERAGE or RENORM with NO_RUNNING_STATS),
 *          BN_ERR_SIZE_OVERFLOW, BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_batchnorm_create(bn_batchnorm **out, size_t features, unsigned flags);

/** @brief Release a layer. NULL is a no-op.
 *  @par Thread-safety
 *  No other call may be using the handle. */
BN_API void bn_batchnorm_destroy(bn_batchnorm *layer);

/** @brief Why the last failing call on this handle failed.
 *
 *  @return a NUL-terminated message owned by the handle, valid until the
 *          next call on it; "" if no call failed yet; a static message for a
 *          NULL handle. Never NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API const char *bn_batchnorm_last_error(const bn_batchnorm *layer);

/** @brief Feature count F of the layer. @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_features(const bn_batchnorm *layer, size_t *features);

/** @brief Creation flags of the layer (as given, or as loaded from a state blob).
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or flags).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_flags(const bn_batchnorm *layer, unsigned *flags);

/** @brief Set a tunable.
 *
 *  @param layer  the layer.
 *  @param param  a bn_batchnorm_param.
 *  @param value  within bn_batchnorm_parameter_bounds(param); whole for
 *                integer parameters; a float parameter must not round to an
 *                excluded bound (an eps of 1e-50 rounds to 0).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer, unknown param, value
 *          out of bounds, not whole, or rounding to a bound); BN_ERR_NON_FINITE
 *          (NaN or infinity); BN_ERR_OUT_OF_MEMORY (BN_BATCHNORM_THREADS: its
 *          scratch). On error the layer is unchanged. A pending backward
 *          stays valid (the forward's saved statistics do not depend on these).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_set_parameter(bn_batchnorm *layer, bn_batchnorm_param param,
                                            double value);

/** @brief Read a tunable (float parameters as stored, widened to double).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or value, unknown
 *          param; *value is then unchanged).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_get_parameter(const bn_batchnorm *layer, bn_batchnorm_param param,
                                            double *value);

/** @brief Inclusive bounds of a tunable; an open bound is reported as its
 *         limit (eps > 0 reports lower = 0).
 *  @param lower, upper  receive the bounds; either may be NULL, not both.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (unknown param, both pointers NULL).
 *  @par Thread-safety
 *  Thread-safe (no handle, no state). */
BN_API bn_status bn_batchnorm_parameter_bounds(bn_batchnorm_param param, double *lower,
                                               double *upper);

/** @brief Set epsilon, added to the variance before the square root.
 *  Superseded alias of bn_batchnorm_set_parameter(layer, BN_BATCHNORM_EPSILON, eps).
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL or eps <= 0), BN_ERR_NON_FINITE.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_set_eps(bn_batchnorm *layer, float eps);

/** @brief Read epsilon. Superseded alias of bn_batchnorm_get_parameter(layer,
 *  BN_BATCHNORM_EPSILON, ...) with a float result.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or eps).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_get_eps(const bn_batchnorm *layer, float *eps);

/** @brief Set the running-statistics update factor (weight of the new batch), in (0, 1].
 *  Ignored in cumulative-average mode (but still stored). Superseded alias of
 *  bn_batchnorm_set_parameter(layer, BN_BATCHNORM_UPDATE_FACTOR, factor).
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT (NULL or out of range), BN_ERR_NON_FINITE.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_set_update_factor(bn_batchnorm *layer, float factor);

/** @brief Read the update factor. Superseded alias of bn_batchnorm_get_parameter(layer,
 *  BN_BATCHNORM_UPDATE_FACTOR, ...) with a float result.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or factor).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_get_update_factor(const bn_batchnorm *layer, float *factor);

/** @brief Number of training-mode forwards that updated the running statistics.
 *  Superseded by bn_batchnorm_get_parameter(layer, BN_BATCHNORM_BATCHES_TRACKED, ...);
 *  kept as an alias that reads the full 64-bit count.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or count).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_batches_tracked(const bn_batchnorm *layer, uint64_t *count);

/** @brief Set the number of batches tracked (e.g. when importing a model).
 *  Superseded by bn_batchnorm_set_parameter(layer, BN_BATCHNORM_BATCHES_TRACKED, ...);
 *  kept as an alias that takes the full 64-bit range.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_set_batches_tracked(bn_batchnorm *layer, uint64_t count);

/** @brief Set the most threads each forward and backward of this layer may use.
 *
 *  A forward over a batch of features*batch >= 2^17 elements (512 KiB of
 *  floats), and a backward over >= 2^18, has each pass split into up to
 *  `threads` contiguous chunks of at least 2 samples each (the environment
 *  variable BN_PARALLEL_MIN_ELEMENTS overrides both thresholds). The
 *  calling thread and the layer's own threads-1 worker threads take the
 *  chunks as they come free; the workers are started by this call and ended
 *  by bn_batchnorm_destroy() or the next change of this setting. After a
 *  pass they wait for the next one for up to 2 ms (spinning, and yielding
 *  their core now and then), then sleep, so an idle layer takes no CPU from
 *  other threads (OpenBLAS's included). If the workers cannot be started, each
 *  pass creates and joins its threads instead, and
 *  a chunk whose thread cannot be created runs on the calling thread: never
 *  an error. Reductions (dgamma, dbeta) are summed per chunk and the chunks'
 *  sums added in chunk order; the batch statistics are merged per chunk with
 *  the exact count/mean/M2 rule.
 *  The split depends only on (features, batch, threads) and the pass, not on
 *  which thread runs a chunk, so results are deterministic for a given
 *  thread count. With threads > 1 the statistics, and so every output, may
 *  differ from the one-thread results in the last bits (another grouping of
 *  the same sums); threads = 1 runs on the calling thread only. Nothing of
 *  the layer's state or serialized state depends on this setting.
 *  Superseded alias of bn_batchnorm_set_parameter(layer, BN_BATCHNORM_THREADS, threads).
 *
 *  @param layer    the layer.
 *  @param threads  in [1, 64]; the default is 1.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer, threads outside
 *          [1, 64]); BN_ERR_OUT_OF_MEMORY (the layer's scratch of
 *          3*threads*features doubles cannot be allocated). On error the
 *          layer is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle.
 *  The threads a call creates touch only that call's arguments and the handle's scratch. */
BN_API bn_status bn_batchnorm_set_threads(bn_batchnorm *layer, unsigned threads);

/** @brief Read the thread count set by bn_batchnorm_set_threads() (1 by default).
 *  Superseded alias of bn_batchnorm_get_parameter(layer, BN_BATCHNORM_THREADS, ...).
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or threads).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_get_threads(const bn_batchnorm *layer, unsigned *threads);

/** @brief Copy one of the layer's vectors into out.
 *
 *  @param layer  the layer (const: only its last-error message may change).
 *  @param which  a bn_batchnorm_tensor.
 *  @param out    F floats.
 *  @param count  must equal F (BN_ERR_SHAPE_MISMATCH otherwise).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, unknown which);
 *          BN_ERR_WRONG_STATE (the layer has no such vector, or no forward or
 *          backward produced it yet).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_get(const bn_batchnorm *layer, bn_batchnorm_tensor which,
                                  float *out, size_t count);

/** @brief Replace gamma, beta, the running mean or the running variance.
 *
 *  @param layer  the layer.
 *  @param which  BN_BATCHNORM_GAMMA, _BETA, _RUNNING_MEAN or _RUNNING_VAR
 *                (the others give BN_ERR_INVALID_ARGUMENT).
 *  @param values F floats; all finite (BN_ERR_NON_FINITE), running variance >= 0.
 *  @param count  must equal F.
 *  @return BN_OK or an error; on error the layer is unchanged. A successful
 *          set invalidates a pending backward (BN_ERR_WRONG_STATE until the
 *          next forward).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_set(bn_batchnorm *layer, bn_batchnorm_tensor which,
                                  const float *values, size_t count);

/** @brief Forward pass.
 *
 *  @param layer  the layer.
 *  @param mode   BN_MODE_TRAINING (batch >= 2, else BN_ERR_BATCH_TOO_SMALL;
 *                updates the running statistics) or BN_MODE_INFERENCE (batch >= 1;
 *                a layer with BN_BATCHNORM_NO_RUNNING_STATS uses batch statistics
 *                in both modes, so it needs batch >= 2 and checks them as in training).
 *  @param batch  N.
 *  @param x      F x N input, leading dimension ldx >= F.
 *  @param ldx    leading dimension of x.
 *  @param y      F x N output, leading dimension ldy >= F; may be x if ldy == ldx,
 *                but the backward needs the forward's input, so an in-place
 *                forward suits inference only.
 *  @param ldy    leading dimension of y.
 *  @return BN_OK; BN_ERR_NON_FINITE in training mode when the batch
 *          statistics are not finite (nothing is updated or written);
 *          argument errors as in bn/batchnorm_kernels.h. In inference mode,
 *          non-finite inputs propagate by IEEE arithmetic.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_forward(bn_batchnorm *layer, bn_mode mode, size_t batch,
                                      const float *x, size_t ldx, float *y, size_t ldy);

/** @brief Backward pass of the last forward.
 *
 *  After a forward that used batch statistics (training mode, or any mode on
 *  a layer with BN_BATCHNORM_NO_RUNNING_STATS) this is the full gradient
 *  (mean and variance terms included); after an inference-mode forward with
 *  running statistics these are constants and dx = dy*gamma*invstd. dgamma and dbeta are overwritten (not
 *  accumulated) and read with bn_batchnorm_get(). May be called again for the
 *  same forward.
 *
 *  @param layer  the layer.
 *  @param batch  must equal the last forward's batch (BN_ERR_SHAPE_MISMATCH).
 *  @param x      the same input as the last forward (the layer keeps no copy).
 *  @param ldx    leading dimension of x (>= F).
 *  @param dy     F x N gradient w.r.t. y.
 *  @param lddy   leading dimension of dy (>= F).
 *  @param dx     F x N out; may be dy if lddx == lddy; or NULL when the
 *                input gradient is not needed (a first layer): only dgamma
 *                and dbeta are computed, and lddx is ignored.
 *  @param lddx   leading dimension of dx (>= F unless dx is NULL).
 *  @return BN_OK; BN_ERR_WRONG_STATE without a forward since creation, load
 *          or set; BN_ERR_NON_FINITE (training mode) when the reduced
 *          gradients are not finite (nothing is written).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_backward(bn_batchnorm *layer, size_t batch,
                                       const float *x, size_t ldx,
                                       const float *dy, size_t lddy,
                                       float *dx, size_t lddx);

/** @brief Size in bytes of the layer's serialized state (what bn_batchnorm_serialize() writes).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or size); BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_serialized_size(const bn_batchnorm *layer, size_t *size);

/** @brief Serialize the layer's state into a caller-owned buffer.
 *
 *  Format (little-endian, version 2): "BNST" magic, u32 version, u64 F,
 *  u32 flags, f32 eps, f32 update factor, u32 reserved (0), u64 batches
 *  tracked, f32 renorm rmax, f32 renorm dmax, u32 options (bit 0: the renorm
 *  schedule), u32 reserved (0), then F floats each of gamma, beta, running
 *  mean, running var, and a CRC-32 (IEEE) of all preceding bytes. Version 1
 *  (libbn 1.0) is the same without the four renorm words; it still loads,
 *  with the renorm defaults. See docs/formats.md. The thread count is not
 *  part of the state.
 *
 *  @param layer     the layer (const: only its last-error message may change).
 *  @param buffer    destination of at least bn_batchnorm_serialized_size() bytes.
 *  @param capacity  its size.
 *  @param written   receives the bytes written, or NULL.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or buffer);
 *          BN_ERR_BAD_SIZE (capacity too small; nothing written);
 *          BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_serialize(const bn_batchnorm *layer, void *buffer,
                                        size_t capacity, size_t *written);

/** @brief Restore into the layer a state written by bn_batchnorm_serialize().
 *
 *  The blob's flags, eps, update factor, batches tracked and vectors replace
 *  the layer's; a pending backward and the gradients are forgotten. Never
 *  reads outside [buffer, buffer+size).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or buffer);
 *          BN_ERR_BAD_SIZE (truncated, or longer than its header says),
 *          BN_ERR_BAD_MAGIC, BN_ERR_VERSION_MISMATCH, BN_ERR_CHECKSUM,
 *          BN_ERR_SHAPE_MISMATCH (feature count differs from the layer's),
 *          BN_ERR_BAD_FORMAT (invalid flags or values).
 *          On error the layer is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_deserialize(bn_batchnorm *layer, const void *buffer, size_t size);

/** @brief Superseded alias of bn_batchnorm_serialized_size().
 *  @return as bn_batchnorm_serialized_size().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_state_size(const bn_batchnorm *layer, size_t *size);

/** @brief Superseded alias of bn_batchnorm_serialize() (same arguments and format).
 *  @return as bn_batchnorm_serialize().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_save_state(const bn_batchnorm *layer, void *buffer,
                                         size_t capacity, size_t *written);

/** @brief Superseded alias of bn_batchnorm_deserialize().
 *  @return as bn_batchnorm_deserialize().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_load_state(bn_batchnorm *layer, const void *buffer, size_t size);

/** @brief Training forward of one shard of a batch spread over shards,
 *  normalizing with the whole batch's statistics.
 *
 *  For data-parallel training (threads, processes, machines): each shard
 *  computes its moments with bn_batchnorm_moments(), the shards' moments are
 *  merged (bn_moments_merge(), in any transport: an allreduce, threads...),
 *  and every shard calls this with the merged (count, mean, M2). Then y is
 *  the single-process training forward's y on this shard's columns, up to
 *  float rounding: y = gamma*(x - mean)*invstd + beta with
 *  invstd = 1/sqrt(M2/count + eps). The running statistics are updated as a
 *  training forward of count samples would (the unbiased variance uses
 *  count/(count-1)), so every shard's layer keeps the same running
 *  statistics. With BN_BATCHNORM_RENORM, r and d come from these statistics
 *  and the running statistics before this update, exactly as in a training
 *  forward of the whole batch (bn_batchnorm_get() reads them as
 *  BN_BATCHNORM_RENORM_R and _D), so every shard uses the same r and d. The
 *  backward of this forward is bn_batchnorm_backward_sums()
 *  then bn_batchnorm_backward_with_sums(); bn_batchnorm_backward() refuses it
 *  (BN_ERR_WRONG_STATE).
 *
 *  @param layer  the layer.
 *  @param batch  this shard's columns N (>= 1: a shard may hold one sample).
 *  @param x      F x N shard, leading dimension ldx >= F.
 *  @param ldx    leading dimension of x.
 *  @param y      F x N output, leading dimension ldy (may be x if ldy == ldx; the
 *                backward needs x, so only for a forward without backward).
 *  @param ldy    leading dimension of y.
 *  @param count  samples of the whole batch: a whole number, >= 2 and >= batch,
 *                at most 2^53.
 *  @param mean   F means of the whole batch (double, finite).
 *  @param m2     F sums of squared deviations of the whole batch (double, finite, >= 0).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL pointers, a count that is not a
 *          whole number >= max(2, batch), a negative M2, and the matrix errors of
 *          bn/batchnorm_kernels.h); BN_ERR_NON_FINITE (a non-finite count, mean
 *          or M2, or statistics beyond float's range). On error nothing is
 *          written and the layer is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_forward_with_moments(bn_batchnorm *layer, size_t batch,
                                                   const float *x, size_t ldx, float *y,
                                                   size_t ldy, double count,
                                                   const double *mean, const double *m2);

/** @brief First half of a sharded backward: this shard's per-feature reductions.
 *
 *  After bn_batchnorm_forward_with_moments() (or a training forward of this
 *  layer), writes sum_dy[f] = sum_j dy and sum_dy_xhat[f] = sum_j dy*xhat
 *  over this shard's columns, xhat = (x - mean)*invstd with the forward's
 *  statistics (dy masked by the fused ReLU if the layer has one). Both are
 *  sums over columns, so summing them over shards gives the whole batch's.
 *  They also give this shard's share of dbeta (sum_dy) and dgamma
 *  (sum_dy_xhat; with BN_BATCHNORM_RENORM r*sum_dy_xhat + d*sum_dy, r and d
 *  of the forward, xhat being the batch-normalized x before them): the layer
 *  keeps them (rounded to float) for bn_batchnorm_get(BN_BATCHNORM_DBETA /
 *  BN_BATCHNORM_DGAMMA), so the sum over shards of every parameter gradient
 *  is the whole batch's gradient.
 *
 *  @param layer        the layer.
 *  @param batch        must equal the forward's shard size (BN_ERR_SHAPE_MISMATCH).
 *  @param x, ldx       the forward's input.
 *  @param dy, lddy     F x N gradient w.r.t. y.
 *  @param sum_dy       out: F doubles.
 *  @param sum_dy_xhat  out: F doubles.
 *  @return BN_OK; BN_ERR_WRONG_STATE (no batch-statistics forward pending);
 *          BN_ERR_INVALID_ARGUMENT (NULL pointers, bad leading dimensions);
 *          BN_ERR_NON_FINITE (a reduced sum is not finite; nothing written).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_backward_sums(bn_batchnorm *layer, size_t batch, const float *x,
                                            size_t ldx, const float *dy, size_t lddy,
                                            double *sum_dy, double *sum_dy_xhat);

/** @brief Second half of a sharded backward: this shard's dx from the whole batch's sums.
 *
 *  With count the whole batch's samples (given to the forward), sum_dy and
 *  sum_dy_xhat the sums over every shard of what bn_batchnorm_backward_sums()
 *  returned, writes dx = gamma*invstd/count * (count*dy - sum_dy -
 *  xhat*sum_dy_xhat) (times r with BN_BATCHNORM_RENORM, r and d held
 *  constant as in bn_batchnorm_backward()) on this shard's columns: the single-process dx of the
 *  whole batch, restricted to these columns, up to float rounding. dgamma
 *  and dbeta are left as bn_batchnorm_backward_sums() set them (this shard's
 *  share). After a plain training forward, count is the forward's batch.
 *
 *  @param layer        the layer.
 *  @param batch        the forward's shard size.
 *  @param x, ldx       the forward's input.
 *  @param dy, lddy     F x N gradient w.r.t. y.
 *  @param dx, lddx     out: F x N (may be dy if lddx == lddy), or NULL (nothing
 *                      to compute; the arguments are still checked).
 *  @param sum_dy       F doubles: the sum over shards (finite).
 *  @param sum_dy_xhat  F doubles: the sum over shards (finite).
 *  @return BN_OK; BN_ERR_WRONG_STATE (no batch-statistics forward pending);
 *          BN_ERR_SHAPE_MISMATCH (batch differs from the forward's);
 *          BN_ERR_INVALID_ARGUMENT (NULL pointers, bad leading dimensions,
 *          overlapping dy and dx); BN_ERR_NON_FINITE (a sum is not finite).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_batchnorm_backward_with_sums(bn_batchnorm *layer, size_t batch,
                                                 const float *x, size_t ldx, const float *dy,
                                                 size_t lddy, float *dx, size_t lddx,
                                                 const double *sum_dy,
                                                 const double *sum_dy_xhat);

BN_EXTERN_C_END

#endif /* BN_BATCHNORM_H */

#ifndef BN_DENSE_H
#define BN_DENSE_H

/** @file bn/dense.h
 *  @brief Dense (fully connected) layer y = W x + b over the (features x batch) layout.
 *
 *  W has shape (out x in) and is stored row-major: element (o, i) at
 *  W[o*in + i] — the same bytes as PyTorch's Linear.weight and a C-ordered
 *  numpy array of shape (out, in). x is (in x batch) and y is (out x batch),
 *  column-major with leading dimensions (see bn/batchnorm_kernels.h).
 *  The products go to OpenBLAS cblas_sgemm: y = W x, dW = dy x^T, dx = W^T dy.
 *  The bias gradient db = sum_j dy is accumulated in double.
 *
 *  Sizes: OpenBLAS takes int dimensions, so in, out, batch and every leading
 *  dimension must be <= INT_MAX (BN_ERR_SIZE_OVERFLOW otherwise, checked
 *  before any product).
 *
 *  Thread-safety: one thread per handle at a time; distinct handles are
 *  independent, on any number of threads. OpenBLAS may use its own thread
 *  pool inside a call. Because OpenBLAS (0.3.21 measured) prints and then
 *  crashes when more calls run inside it at once than its buffer table
 *  holds, libbn lets at most MAX_THREADS of its own products (OpenBLAS's
 *  build setting, from openblas_get_config(); 64 on Debian 12) run inside
 *  OpenBLAS at once: further calls wait their turn, results are unchanged.
 *  libbn never changes OpenBLAS's settings; products the application itself
 *  runs in OpenBLAS are not counted. Tested with 300 threads at once
 *  (docs/reliability.md).
 *  Errors: as in bn/batchnorm.h; bn_dense_last_error() tells why. The state
 *  travels in memory through bn_dense_serialize() / bn_dense_deserialize()
 *  (older names remain as aliases; docs/architecture.md, Conventions). On error,
 *  outputs and the layer are unchanged. */

#include <stddef.h>
#include <bn/status.h>
#include <bn/rng.h>
#include <bn/init.h>
#include <bn/batchnorm.h>

BN_EXTERN_C_BEGIN

/** Opaque dense layer. */
typedef struct bn_dense bn_dense;

/** Creation flags (bitwise OR). Unknown bits are rejected. */
enum bn_dense_flags {
  BN_DENSE_NO_BIAS = 1u << 0 /**< No bias vector (e.g. when a BatchNorm follows). */
};

/** Tensors held by a dense layer, for bn_dense_get() / bn_dense_set(). */
typedef enum bn_dense_tensor {
  BN_DENSE_WEIGHT = 1,  /**< out*in floats, row-major (out x in); get/set. */
  BN_DENSE_BIAS = 2,    /**< out floats; get/set; BN_ERR_WRONG_STATE without bias. */
  BN_DENSE_DWEIGHT = 3, /**< out*in floats; get only; from the last backward (overwritten). */
  BN_DENSE_DBIAS = 4    /**< out floats; get only; from the last backward (overwritten);
                             BN_ERR_WRONG_STATE without bias. */
} bn_dense_tensor;

/** @brief Create a layer with W = 0 and b = 0.
 *  @param out           receives the handle (NULL on failure).
 *  @param in_features   > 0.   @param out_features > 0.
 *  @param flags         0 or BN_DENSE_NO_BIAS.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL out, zero size, unknown flags);
 *          BN_ERR_SIZE_OVERFLOW (a size > INT_MAX, or in*out floats overflow
 *          size_t); BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_dense_create(bn_dense **out, size_t in_features, size_t out_features,
                                 unsigned flags);

/** @brief Release a layer. NULL is a no-op.
 *  @par Thread-safety
 *  No other call may be using the handle. */
BN_API void bn_dense_destroy(bn_dense *layer);

/** @brief Why the last failing call on this handle failed; "" if none did; a
 *  static message for NULL. Never NULL; valid until the next call on the handle.
 *  @return the message (never NULL).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API const char *bn_dense_last_error(const bn_dense *layer);

/** @brief Input and output feature counts. Either pointer may be NULL.
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_shape(const bn_dense *layer, size_t *in_features,
                                size_t *out_features);

/** @brief Creation flags (as given, or as loaded from a state blob).
 *  @return BN_OK or BN_ERR_INVALID_ARGUMENT (NULL layer or flags).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_flags(const bn_dense *layer, unsigned *flags);

/** @brief Initialize W with a scheme drawing from rng; biases become 0.
 *  The draw order is W row by row (W[0], W[1], ... in memory order), one
 *  bn_rng_normal() or bn_rng_uniform() per weight, each computed in double
 *  (std*normal, or a*(2u - 1)) and rounded once, so a seed fixes the weights
 *  bit for bit on every machine.
 *  @param rng  a seeded generator; may be NULL for BN_INIT_ZEROS (not read).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or rng, unknown scheme);
 *          BN_ERR_WRONG_STATE (rng never seeded). On error nothing changes.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_init(bn_dense *layer, bn_init scheme, bn_rng *rng);

/** @brief Copy a tensor out. count must equal its size (BN_ERR_SHAPE_MISMATCH).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, unknown which);
 *          BN_ERR_WRONG_STATE (no bias, or no backward produced the gradient yet).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_get(const bn_dense *layer, bn_dense_tensor which, float *out,
                              size_t count);

/** @brief Replace W or b (all values finite, else BN_ERR_NON_FINITE).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL, a gradient id, unknown id);
 *          BN_ERR_SHAPE_MISMATCH; BN_ERR_WRONG_STATE (bias of a layer without);
 *          BN_ERR_NON_FINITE. On error the layer is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_set(bn_dense *layer, bn_dense_tensor which, const float *values,
                              size_t count);

/** @brief y = W x + b for a batch.
 *  @param batch  N > 0.  @param x (in x N), ldx >= in.  @param y (out x N), ldy >= out;
 *  y must not overlap x (BN_ERR_INVALID_ARGUMENT). Non-finite inputs propagate (IEEE).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT; BN_ERR_SIZE_OVERFLOW (N or an
 *          ld > INT_MAX, or the matrix span overflows size_t).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_forward(bn_dense *layer, size_t batch, const float *x, size_t ldx,
                                  float *y, size_t ldy);

/** @brief Gradients of y = W x + b: dW = dy x^T and db = sum over the batch of dy
 *         (overwritten, not accumulated), and dx = W^T dy when dx is not NULL
 *         (the first layer needs none; skipping it saves a GEMM).
 *
 *  The layer keeps no copy of the forward: the backward only needs x, so it
 *  may be called without a preceding forward. dx must not overlap x or dy.
 *  Non-finite values in x or dy propagate into the gradients (no error).
 *  @param x  the forward's input (in x N), ldx.  @param dy (out x N), lddy.
 *  @param dx (in x N) with lddx, or NULL (lddx is then ignored).
 *  @return as bn_dense_forward().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_backward(bn_dense *layer, size_t batch, const float *x, size_t ldx,
                                   const float *dy, size_t lddy, float *dx, size_t lddx);

/** @brief Size in bytes of the serialized state (what bn_dense_serialize() writes).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or size); BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_serialized_size(const bn_dense *layer, size_t *size);

/** @brief Serialize the layer's state into a caller-owned buffer.
 *
 *  Format (little-endian, version 1): "BNDN" magic, u32 version, u64 in,
 *  u64 out, u32 flags, u32 reserved (0), then out*in f32 weights (row-major),
 *  then out f32 biases unless BN_DENSE_NO_BIAS, then a CRC-32 (IEEE) of all
 *  preceding bytes. Gradients are not saved. See docs/layers.md.
 *  @param buffer    destination of at least bn_dense_serialized_size() bytes.
 *  @param capacity  its size.
 *  @param written   receives the bytes written, or NULL.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or buffer);
 *          BN_ERR_BAD_SIZE (capacity too small; nothing written); BN_ERR_SIZE_OVERFLOW.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_serialize(const bn_dense *layer, void *buffer, size_t capacity,
                                    size_t *written);

/** @brief Restore into the layer a state written by bn_dense_serialize(); the
 *  blob's flags, weights and biases replace the layer's, and the gradients
 *  are forgotten. Never reads outside [buffer, buffer+size).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL layer or buffer); then, in
 *  this order: BN_ERR_BAD_SIZE (shorter than a header), BN_ERR_BAD_MAGIC,
 *  BN_ERR_VERSION_MISMATCH, BN_ERR_BAD_SIZE (size differs from what the
 *  header implies), BN_ERR_CHECKSUM, BN_ERR_SHAPE_MISMATCH (in/out differ
 *  from the layer's), BN_ERR_BAD_FORMAT (unknown flags, reserved != 0,
 *  non-finite values). On error the layer is unchanged.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_deserialize(bn_dense *layer, const void *buffer, size_t size);

/** @brief Superseded alias of bn_dense_serialized_size().
 *  @return as bn_dense_serialized_size().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_state_size(const bn_dense *layer, size_t *size);

/** @brief Superseded alias of bn_dense_serialize() (same arguments and format).
 *  @return as bn_dense_serialize().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_save_state(const bn_dense *layer, void *buffer, size_t capacity,
                                     size_t *written);

/** @brief Superseded alias of bn_dense_deserialize().
 *  @return as bn_dense_deserialize().
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_load_state(bn_dense *layer, const void *buffer, size_t size);

/** @brief Fold an inference-mode BatchNorm that follows a dense layer into a new dense layer:
 *         W' = W * gamma/sqrt(running_var+eps) per output row,
 *         b' = (b - running_mean) * gamma/sqrt(running_var+eps) + beta,
 *  computed in double and rounded once (b = 0 without dense bias, gamma = 1
 *  without scale, beta = 0 without shift). The result always has a bias and
 *  no gradients. Neither input layer is modified (except the dense layer's
 *  last-error message). See docs/folding.md.
 *  @param dense      the dense layer (out features F).
 *  @param batchnorm  a BatchNorm over F features with running statistics.
 *  @param folded     receives a new layer (caller destroys it); NULL on failure.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (a NULL pointer);
 *          BN_ERR_SHAPE_MISMATCH (dense out != BN features);
 *          BN_ERR_WRONG_STATE (the BatchNorm has no running statistics);
 *          BN_ERR_UNSUPPORTED (the BatchNorm fuses a ReLU);
 *          BN_ERR_NON_FINITE (a folded value overflows float);
 *          BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_dense_fold_batchnorm(const bn_dense *dense, const bn_batchnorm *batchnorm,
                                         bn_dense **folded);

BN_EXTERN_C_END

#endif /* BN_DENSE_H */

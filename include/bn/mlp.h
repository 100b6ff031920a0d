#ifndef BN_MLP_H
#define BN_MLP_H

/** @file bn/mlp.h
 *  @brief A multilayer perceptron with BatchNorm: build, train, evaluate,
 *         fold for inference, save and load.
 *
 *  A network is described at creation by plain arguments (no public struct):
 *
 *      x --[input BatchNorm]--> hidden layer 1 --> ... --> hidden layer L --> head
 *
 *  Each hidden layer is a dense layer, an activation, and a BatchNorm placed
 *  before the activation (the usual choice; the dense layer then has no
 *  bias), after it, or nowhere. The head is a dense layer (with bias) whose
 *  outputs are logits: softmax with cross-entropy over classes (int32 labels),
 *  or independent sigmoid units with binary cross-entropy (float targets in
 *  [0, 1]; usually one unit).
 *
 *  Layout: every matrix is column-major (features x batch) with a leading
 *  dimension ld >= features: sample j's feature f is at x[f + j*ld], the same
 *  bytes as a C-ordered numpy (batch, features) array (see
 *  bn/batchnorm_kernels.h). Dense weights are (out x in) row-major, as
 *  PyTorch's Linear.weight.
 *
 *  Layers are numbered as in textbooks: layer 0 is the input (it holds only
 *  the optional input BatchNorm), layers 1..L the hidden layers, layer L+1
 *  the head.
 *
 *  Memory: parameters, gradients and optimizer state are allocated at
 *  creation. Scratch memory for activations is allocated when a batch larger
 *  than any seen before arrives (train_step, predict, evaluate, fit), never
 *  on every step. Inference-mode calls work in chunks of the largest batch
 *  seen so far (1024 samples if none), so they never allocate for a whole
 *  dataset.
 *
 *  Thread-safety: a handle belongs to one thread at a time; distinct handles
 *  are independent, on any number of threads. OpenBLAS may use its own
 *  threads inside a call; how libbn keeps many concurrent calls within what
 *  OpenBLAS supports is described in bn/dense.h.
 *
 *  Errors: every function returns a bn_status; the reason is also stored in
 *  the handle and readable with bn_mlp_last_error(). Functions that fail on
 *  invalid arguments leave the model unchanged. */

#include <stddef.h>
#include <stdint.h>
#include <bn/status.h>
#include <bn/rng.h>
#include <bn/activations.h>
#include <bn/dense.h>
#include <bn/batchnorm.h>
#include <bn/standardizer.h>

BN_EXTERN_C_BEGIN

/** Opaque network. */
typedef struct bn_mlp bn_mlp;

/** Where the BatchNorm of each hidden layer goes. */
typedef enum bn_mlp_placement {
  BN_MLP_BN_NONE = 0,   /**< dense (+bias) -> activation. */
  BN_MLP_BN_BEFORE = 1, /**< dense (no bias) -> BatchNorm -> activation (the usual choice). */
  BN_MLP_BN_AFTER = 2   /**< dense (+bias) -> activation -> BatchNorm. */
} bn_mlp_placement;

/** Output head and its loss. */
typedef enum bn_mlp_head {
  BN_MLP_HEAD_SOFTMAX = 1, /**< softmax + cross-entropy over `outputs` >= 2 classes; int32 labels. */
  BN_MLP_HEAD_SIGMOID = 2  /**< `outputs` >= 1 sigmoid units + binary cross-entropy; float targets. */
} bn_mlp_head;

/** Creation flags (bitwise OR). Unknown bits are rejected. */
enum bn_mlp_flags {
  BN_MLP_INPUT_BATCHNORM = 1u << 0,    /**< BatchNorm on the input itself (Flatten -> BatchNormalization -> Dense). */
  BN_MLP_BIASED_RUNNING_VAR = 1u << 1, /**< Every BatchNorm stores the biased batch variance in its running variance (Keras' convention; see BN_BATCHNORM_BIASED_RUNNING_VAR). */
  BN_MLP_STANDARDIZE = 1u << 2,        /**< A standardizer stage in front of everything (before the input BatchNorm): x -> (x - mean)/std per feature with the statistics of the training set (bn/standardizer.h), set by bn_mlp_fit_standardizer() or by bn_mlp_fit(); not trained by the optimizer. */
  BN_MLP_HEAD_BATCHNORM = 1u << 3,     /**< BatchNorm on the head: dense (no bias) -> BatchNorm -> softmax or sigmoid; the BatchNorm's tensors are layer L+1's. */
  BN_MLP_RENORM = 1u << 4              /**< Every BatchNorm is a Batch Renormalization one (BN_BATCHNORM_RENORM), its limits set by BN_MLP_RENORM_RMAX, _DMAX and _SCHEDULE (the paper's schedule by default). */
};

/** Optimizers, for BN_MLP_OPTIMIZER. Decoupled weight decay (AdamW-style
 *  p -= lr*wd*p) applies to every one of them. Each update is computed in
 *  float, as torch.optim does for float32 tensors (coefficients in double,
 *  rounded to float; docs/math.md, section 9, states the arithmetic). */
typedef enum bn_mlp_optimizer {
  BN_MLP_SGD = 1,      /**< p -= lr*g. */
  BN_MLP_MOMENTUM = 2, /**< v = mu*v + g; p -= lr*v (PyTorch's SGD with momentum). */
  BN_MLP_NESTEROV = 3, /**< v = mu*v + g; p -= lr*(g + mu*v). */
  BN_MLP_ADAM = 4      /**< Adam with bias correction (Kingma & Ba), eps outside the sqrt. */
} bn_mlp_optimizer;

/** Tunables for bn_mlp_set_parameter() / bn_mlp_get_parameter(). Values are
 *  doubles; integer and enum parameters take integral values. Bounds are
 *  given by bn_mlp_parameter_bounds(). */
typedef enum bn_mlp_param {
  BN_MLP_OPTIMIZER = 1,     /**< a bn_mlp_optimizer; default BN_MLP_ADAM. Changing it clears the optimizer state. */
  BN_MLP_LEARNING_RATE = 2, /**< > 0; default 1e-3. */
  BN_MLP_MOMENTUM_COEF = 3, /**< momentum mu in [0, 1); default 0.9. */
  BN_MLP_ADAM_BETA1 = 4,    /**< [0, 1); default 0.9. */
  BN_MLP_ADAM_BETA2 = 5,    /**< [0, 1); default 0.999. */
  BN_MLP_ADAM_EPSILON = 6,  /**< > 0; default 1e-8. */
  BN_MLP_WEIGHT_DECAY = 7,  /**< decoupled decay >= 0; default 0. */
  BN_MLP_DECAY_ALL = 8,     /**< 0 (default): decay dense weights only; 1: also biases, gamma and beta. */
  BN_MLP_ELU_ALPHA = 9,     /**< ELU's alpha > 0; default 1. */
  BN_MLP_BN_EPSILON = 10,   /**< eps of every BatchNorm, > 0; default 1e-5. */
  BN_MLP_BN_UPDATE_FACTOR = 11, /**< running-statistics factor in (0, 1] (PyTorch momentum); default 0.1. */
  BN_MLP_STEP = 12,         /**< optimizer steps taken (read; may be set, e.g. to 0 to restart Adam's bias correction). */
  BN_MLP_RENORM_RMAX = 13,  /**< Batch Renormalization's fixed limit on r (BN_BATCHNORM_RENORM_RMAX) of every BatchNorm, in [1, FLT_MAX]; default 3; used when BN_MLP_RENORM_SCHEDULE is 0. */
  BN_MLP_RENORM_DMAX = 14,  /**< ... on d (BN_BATCHNORM_RENORM_DMAX), in [0, FLT_MAX]; default 5; used when BN_MLP_RENORM_SCHEDULE is 0. */
  BN_MLP_RENORM_SCHEDULE = 15 /**< 1 (default): the paper's schedule of rmax and dmax, driven by each BatchNorm's batches tracked (BN_BATCHNORM_RENORM_SCHEDULE); 0: the fixed RMAX and DMAX. The three renorm parameters are kept in model files of BN_MLP_RENORM networks. */
} bn_mlp_param;

/** What bn_mlp_predict() returns. */
typedef enum bn_mlp_output {
  BN_MLP_LOGITS = 1,       /**< the head's raw outputs. */
  BN_MLP_PROBABILITIES = 2 /**< softmax (per sample) or sigmoid (per unit) of the logits. */
} bn_mlp_output;

/** Tensors for bn_mlp_get() / bn_mlp_set(), addressed by layer (see the file comment). */
typedef enum bn_mlp_tensor {
  BN_MLP_WEIGHT = 1,       /**< dense W (out x in, row-major); layers 1..L+1. */
  BN_MLP_BIAS = 2,         /**< dense b; layers whose dense has a bias. */
  BN_MLP_GAMMA = 3,        /**< BatchNorm scale; layer 0 with BN_MLP_INPUT_BATCHNORM, hidden layers with a BatchNorm, the head (L+1) with BN_MLP_HEAD_BATCHNORM. */
  BN_MLP_BETA = 4,         /**< BatchNorm shift; same layers. */
  BN_MLP_RUNNING_MEAN = 5, /**< BatchNorm running mean; same layers. */
  BN_MLP_RUNNING_VAR = 6,  /**< BatchNorm running variance (>= 0); same layers. */
  BN_MLP_DWEIGHT = 7,      /**< gradient of the last train step's loss w.r.t. W (get only). */
  BN_MLP_DBIAS = 8,        /**< ... w.r.t. b (get only). */
  BN_MLP_DGAMMA = 9,       /**< ... w.r.t. gamma (get only). */
  BN_MLP_DBETA = 10        /**< ... w.r.t. beta (get only). */
} bn_mlp_tensor;

/** Flags of bn_mlp_save() / bn_mlp_serialize(). */
enum bn_mlp_save_flags {
  BN_MLP_SAVE_OPTIMIZER = 1u << 0 /**< also store the optimizer state, so training resumes exactly. */
};

/** The newest model-file format version this library reads and writes
 *  (docs/model-format.md). It reads every version from 1 on, and writes the
 *  oldest one that holds the network: version 1 unless the network has a
 *  standardizer stage, a BatchNorm on the head, Batch Renormalization
 *  or a training record (version 2), so files of plain networks stay readable by older
 *  libraries. */
#define BN_MLP_FORMAT_VERSION 2u

/** The largest training record (bn_mlp_set_training_record()), in bytes. */
#define BN_MLP_MAX_TRAINING_RECORD (1u << 20)

/** The most hidden layers a network may have (bn_mlp_create(), model files). */
#define BN_MLP_MAX_LAYERS 1024u

/** What a model file holds, as bn_mlp_read_header() reports it (the flags
 *  word of the file header, docs/model-format.md). */
enum bn_mlp_file_contents {
  BN_MLP_FILE_INPUT_BATCHNORM = 1u << 0,   /**< the network has an input BatchNorm. */
  BN_MLP_FILE_OPTIMIZER = 1u << 1,         /**< the optimizer state is stored (saved with BN_MLP_SAVE_OPTIMIZER). */
  BN_MLP_FILE_BIASED_RUNNING_VAR = 1u << 2, /**< the running variances are biased (BN_MLP_BIASED_RUNNING_VAR). */
  BN_MLP_FILE_STANDARDIZER = 1u << 3,       /**< format 2: the network has a standardizer stage (BN_MLP_STANDARDIZE). */
  BN_MLP_FILE_HEAD_BATCHNORM = 1u << 4,     /**< format 2: the head has a BatchNorm (BN_MLP_HEAD_BATCHNORM). */
  BN_MLP_FILE_TRAINING_RECORD = 1u << 5,    /**< format 2: a training record is stored (bn_mlp_set_training_record()). */
  BN_MLP_FILE_RENORM = 1u << 6              /**< format 2: every BatchNorm is a Batch Renormalization one (BN_MLP_RENORM); its limits are stored. */
};

/** Called by bn_mlp_fit() after each epoch.
 *  @param user      the pointer given to bn_mlp_fit().
 *  @param epoch     1-based epoch number.
 *  @param loss      mean training loss over the epoch's batches (training mode, before each update).
 *  @param accuracy  fraction of the epoch's samples classified correctly in those forwards.
 *  @param seconds   wall time of the epoch.
 *  @return 0 to continue, non-zero to stop training after this epoch.
 *  The callbacks may call bn_mlp_predict(), bn_mlp_evaluate() (e.g. for
 *  validation) and bn_mlp_set_parameter() (e.g. a learning-rate schedule) on
 *  the same handle, but not bn_mlp_fit(), bn_mlp_train_step() nor
 *  bn_mlp_destroy(). */
typedef int (*bn_mlp_epoch_callback)(void *user, size_t epoch, float loss, float accuracy,
                                     double seconds);

/** Called by bn_mlp_fit() after each step (progress display, schedules);
 *  the same rules as bn_mlp_epoch_callback apply.
 *  @param done / total  samples processed in this epoch / the epoch's size.
 *  @param loss / accuracy  running means over the epoch so far.
 *  @return 0 to continue, non-zero to stop (the epoch ends there, its
 *          callback is still called, then fit returns). */
typedef int (*bn_mlp_batch_callback)(void *user, size_t epoch, size_t done, size_t total,
                                     float loss, float accuracy);

/** @brief Create a network. Weights are zero until bn_mlp_init().
 *
 *  @param out         receives the handle (NULL on failure).
 *  @param inputs      input features (> 0).
 *  @param hidden      L hidden-layer widths (each > 0); may be NULL when L == 0.
 *  @param layers      L, the number of hidden layers (<= 1024).
 *  @param outputs     classes (>= 2) for the softmax head, units (>= 1) for the sigmoid head.
 *  @param activation  BN_ACT_RELU, BN_ACT_ELU, BN_ACT_SIGMOID or BN_ACT_TANH.
 *  @param placement   a bn_mlp_placement (ignored when L == 0).
 *  @param head        a bn_mlp_head.
 *  @param flags       0 or a bitwise OR of bn_mlp_flags.
 *  @return BN_OK, BN_ERR_INVALID_ARGUMENT, BN_ERR_SIZE_OVERFLOW, BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_mlp_create(bn_mlp **out, size_t inputs, const size_t *hidden, size_t layers,
                               size_t outputs, bn_activation activation,
                               bn_mlp_placement placement, bn_mlp_head head, unsigned flags);

/** @brief Release a network. NULL is a no-op; it cannot fail.
 *  @par Thread-safety
 *  No other call may be using the handle. */
BN_API void bn_mlp_destroy(bn_mlp *mlp);

/** @brief Why the last failing call on this handle failed.
 *  @return a NUL-terminated message owned by the handle, valid until the next
 *          call on it; "" if no call failed yet; a static message for a NULL
 *          handle. Never NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API const char *bn_mlp_last_error(const bn_mlp *mlp);

/** @brief The architecture. Any output pointer may be NULL.
 *  @param layers  receives L; bn_mlp_hidden_sizes() gives the widths.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp is NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_architecture(const bn_mlp *mlp, size_t *inputs, size_t *layers,
                                     size_t *outputs, bn_activation *activation,
                                     bn_mlp_placement *placement, bn_mlp_head *head,
                                     unsigned *flags);

/** @brief Copy the L hidden widths into sizes (count must equal L; sizes may be NULL when L == 0).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp is NULL, or sizes is NULL while
 *          L > 0; BN_ERR_SHAPE_MISMATCH when count != L.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_hidden_sizes(const bn_mlp *mlp, size_t *sizes, size_t count);

/** @brief Number of trainable parameters (weights, biases, gamma, beta).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp or count is NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_parameter_count(const bn_mlp *mlp, size_t *count);

/** @brief Initialize every dense layer with `scheme` drawing from rng, layer
 *         by layer in order; biases, BatchNorm parameters and running
 *         statistics and the optimizer state are reset.
 *  @param scheme  BN_INIT_HE_NORMAL, BN_INIT_GLOROT_UNIFORM, BN_INIT_GLOROT_NORMAL or BN_INIT_ZEROS.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or rng NULL, unknown scheme);
 *          BN_ERR_OUT_OF_MEMORY. After a failure the parameters may be partly
 *          initialized: call it again.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_init(bn_mlp *mlp, bn_init scheme, bn_rng *rng);

/** @brief Set a tunable. @return BN_OK; BN_ERR_INVALID_ARGUMENT (unknown
 *         parameter, value out of bounds or not integral where required);
 *         BN_ERR_NON_FINITE. The model is unchanged on error.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_set_parameter(bn_mlp *mlp, bn_mlp_param param, double value);

/** @brief Read a tunable.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp or value is NULL or param is
 *          not a bn_mlp_param.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_get_parameter(const bn_mlp *mlp, bn_mlp_param param, double *value);

/** @brief Inclusive bounds of a tunable (an open bound is reported as its
 *         limit: a learning rate > 0 reports lower = 0).
 *  @param lower / upper  receive the bounds; either may be NULL, not both.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when param is not a bn_mlp_param or
 *          both outputs are NULL.
 *  @par Thread-safety
 *  May be called from any thread at any time (no handle). */
BN_API bn_status bn_mlp_parameter_bounds(bn_mlp_param param, double *lower, double *upper);

/** @brief How many values tensor `which` of `layer` has, or 0 when that
 *         layer does not hold it (e.g. the bias of a dense layer followed by
 *         BatchNorm, the gamma of a layer without BatchNorm). Gradient ids
 *         give the size of their tensor.
 *  @param layer  0 (input), 1..L (hidden) or L+1 (head).
 *  @param which  a bn_mlp_tensor.
 *  @param count  receives the size.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp or count is NULL, layer > L+1
 *          or which is not a bn_mlp_tensor.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_tensor_size(const bn_mlp *mlp, size_t layer, bn_mlp_tensor which,
                                    size_t *count);

/** @brief Copy a tensor out of layer `layer` (count must equal its size:
 *         BN_ERR_SHAPE_MISMATCH; BN_ERR_WRONG_STATE when the layer has no
 *         such tensor, or no train step produced the gradient yet).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or out NULL, layer > L+1,
 *          unknown tensor id); BN_ERR_SHAPE_MISMATCH; BN_ERR_WRONG_STATE.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_get(const bn_mlp *mlp, size_t layer, bn_mlp_tensor which, float *out,
                            size_t count);

/** @brief Replace a parameter or running statistic (finite values; variance >= 0). The
 *         optimizer state is kept.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or values NULL, layer > L+1,
 *          unknown tensor id, a gradient id, a negative running variance);
 *          BN_ERR_SHAPE_MISMATCH; BN_ERR_WRONG_STATE (the layer has no such
 *          tensor); BN_ERR_NON_FINITE. The model is unchanged on error.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_set(bn_mlp *mlp, size_t layer, bn_mlp_tensor which,
                            const float *values, size_t count);

/** @brief One optimization step on a mini-batch: training-mode forward, loss,
 *         backward, update.
 *
 *  @param batch    N >= 2 when the network has a BatchNorm (BN_ERR_BATCH_TOO_SMALL), else >= 1.
 *  @param x        (inputs x N), ldx >= inputs.
 *  @param labels   softmax head: N labels in [0, outputs); NULL for the sigmoid head.
 *  @param targets  sigmoid head: (outputs x N) values in [0, 1], leading dimension
 *                  `outputs`; NULL for the softmax head.
 *  @param loss     receives the batch's mean loss before the update (may be NULL).
 *  @return BN_OK; argument errors; BN_ERR_NON_FINITE when the loss or a gradient is
 *          not finite, or when the update would overflow float in a
 *          parameter or an optimizer moment (e.g. Adam's g*g): every new
 *          value is checked before any is written, so the parameters,
 *          optimizer state and step count are unchanged (the running
 *          statistics have seen the batch), and the model still saves and
 *          loads; BN_ERR_WRONG_STATE when BN_MLP_STEP is at its upper bound
 *          (2^53, the most a model file keeps: set it, e.g. to 0, to go on),
 *          before anything changes.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_train_step(bn_mlp *mlp, size_t batch, const float *x, size_t ldx,
                                   const int32_t *labels, const float *targets, float *loss);

/** @brief Train for `epochs` epochs over an in-memory dataset.
 *
 *  Each epoch visits the samples in an order shuffled with rng (Fisher-Yates;
 *  NULL keeps the given order) in mini-batches of batch_size; a final partial
 *  batch is used unless it has a single sample and the network has a
 *  BatchNorm. Samples are copied into an internal batch buffer.
 *  @param samples  n.  @param x (inputs x n), ldx.  @param labels / targets as in train_step (n samples).
 *  @param callback per-epoch callback or NULL; @param user its pointer (also given to the batch callback).
 *  @return BN_OK (also when a callback stopped training) or the first error.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_fit(bn_mlp *mlp, size_t samples, const float *x, size_t ldx,
                            const int32_t *labels, const float *targets, size_t batch_size,
                            size_t epochs, bn_rng *rng, bn_mlp_epoch_callback callback,
                            void *user);

/** @brief Install (or with NULL remove) a per-step callback used by bn_mlp_fit().
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp is NULL.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_set_batch_callback(bn_mlp *mlp, bn_mlp_batch_callback callback);

/** @brief Forward a batch and return logits or probabilities.
 *
 *  @param mode   BN_MODE_INFERENCE (running statistics; processed in chunks)
 *                or BN_MODE_TRAINING (the n samples form one batch: batch
 *                statistics, and the running statistics are updated).
 *  @param out    (outputs x n), ldout >= outputs.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL pointers, zero samples, ld too
 *          small, unknown mode or kind); BN_ERR_SIZE_OVERFLOW; BN_ERR_BATCH_TOO_SMALL
 *          (a training-mode forward of one sample through a BatchNorm);
 *          BN_ERR_OUT_OF_MEMORY (scratch); BN_ERR_NON_FINITE (batch statistics
 *          of a training-mode forward are not finite).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_predict(bn_mlp *mlp, bn_mode mode, bn_mlp_output kind, size_t samples,
                                const float *x, size_t ldx, float *out, size_t ldout);

/** @brief Mean loss and accuracy over a dataset, in inference mode.
 *  Accuracy: argmax == label (softmax); (p >= 0.5) == (target >= 0.5) per unit (sigmoid).
 *  Either output pointer may be NULL.
 *  @return BN_OK; the argument errors of bn_mlp_train_step() (data, labels or
 *          targets); BN_ERR_OUT_OF_MEMORY (scratch); BN_ERR_NON_FINITE (the
 *          logits are not finite).
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_evaluate(bn_mlp *mlp, size_t samples, const float *x, size_t ldx,
                                 const int32_t *labels, const float *targets, float *loss,
                                 float *accuracy);

/** @brief Replace every BatchNorm's running statistics with the exact
 *         population mean and biased variance of its input over the dataset.
 *
 *  Layer by layer (each BatchNorm sees inputs produced with the statistics
 *  already recomputed before it), in chunks, merging per-chunk
 *  count/mean/M2 in double with the parallel-variance formula. Afterwards
 *  inference-mode predictions over the dataset equal training-mode ones with
 *  the whole dataset as one batch. Requires samples >= 2.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL pointers, zero samples, ld too
 *          small); BN_ERR_SIZE_OVERFLOW; BN_ERR_BATCH_TOO_SMALL (samples < 2);
 *          BN_ERR_NON_FINITE (x holds NaN or infinity, or a statistic is not
 *          finite: the statistics of the BatchNorms before it are already
 *          replaced); BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_recompute_statistics(bn_mlp *mlp, size_t samples, const float *x,
                                             size_t ldx);

/** @brief Build the inference form: a new network without BatchNorm whose
 *         dense layers absorb every BatchNorm (in double, rounded once).
 *
 *  A BatchNorm before an activation folds into its own dense layer
 *  (bn_dense_fold_batchnorm). The input BatchNorm, and a BatchNorm after an
 *  activation, fold into the next dense layer: W' = W diag(s),
 *  b' = b + W (beta - mean*s), s = gamma/sqrt(var + eps). The result has
 *  placement BN_MLP_BN_NONE, no input BatchNorm, biases everywhere, the same
 *  tunables, no optimizer state; its predictions equal the original's in
 *  inference mode to rounding.
 *  @param folded  receives the new handle (caller destroys it).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when mlp or folded is NULL;
 *          BN_ERR_OUT_OF_MEMORY; BN_ERR_NON_FINITE when a folded value is not
 *          finite (e.g. a huge gamma over a tiny variance). *folded is NULL on
 *          failure.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_fold_batchnorm(const bn_mlp *mlp, bn_mlp **folded);

/** @brief Size of bn_mlp_serialize()'s output for these flags.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or size NULL, unknown flags);
 *          BN_ERR_SIZE_OVERFLOW when the size does not fit in size_t.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_serialized_size(const bn_mlp *mlp, unsigned flags, size_t *size);

/** @brief Write the model-file bytes (docs/model-format.md) into buffer.
 *  @param flags  0 or BN_MLP_SAVE_OPTIMIZER.
 *  @param written  receives the bytes written (may be NULL).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or buffer NULL, unknown flags);
 *          BN_ERR_BAD_SIZE when capacity is too small; BN_ERR_SIZE_OVERFLOW;
 *          BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_serialize(const bn_mlp *mlp, unsigned flags, void *buffer,
                                  size_t capacity, size_t *written);

/** @brief Create a network from model-file bytes. Everything is validated
 *         before any allocation sized by the data.
 *  @param message   optional buffer (may be NULL) receiving why loading failed.
 *  @param capacity  its size.
 *  @return BN_OK; BN_ERR_BAD_SIZE (truncated or longer than declared),
 *          BN_ERR_BAD_MAGIC, BN_ERR_VERSION_MISMATCH, BN_ERR_CHECKSUM,
 *          BN_ERR_BAD_FORMAT (invalid architecture or values), BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_mlp_deserialize(bn_mlp **out, const void *buffer, size_t size,
                                    char *message, size_t capacity);

/** @brief Replace a network's state by that of model-file bytes of the same architecture.
 *
 *  After it, mlp holds everything bn_mlp_deserialize() would create from the
 *  bytes: parameters, running statistics and BatchNorm counters, the
 *  standardizer's statistics, every tunable, the training record, and the
 *  optimizer state (its moments and step; reset when the bytes were written
 *  without BN_MLP_SAVE_OPTIMIZER). The handle keeps its reducer
 *  (bn_mlp_set_reducer()) and batch callback. libbn_mpi uses it to give
 *  every rank rank 0's state.
 *
 *  @param mlp     the network.
 *  @param buffer  bytes written by bn_mlp_serialize() (or read from a model file).
 *  @param size    their size.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp or buffer NULL); the errors of
 *          bn_mlp_deserialize() (the bytes are invalid); BN_ERR_SHAPE_MISMATCH
 *          (the bytes hold another architecture: inputs, hidden sizes,
 *          outputs, activation, placement, head or flags). On error mlp is
 *          unchanged and bn_mlp_last_error() says why.
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_deserialize_into(bn_mlp *mlp, const void *buffer, size_t size);

/** @brief Save to a file atomically: the bytes go to a temporary file in the
 *         same directory, which is fsync'ed and renamed over path, then the
 *         directory is fsync'ed. On failure (or a crash) an existing file at
 *         path is left as it was. A replaced file keeps its permission bits
 *         (a new one gets 0666 minus the umask); a symbolic link is written
 *         through to the file it names and stays a link. Past RLIMIT_FSIZE
 *         the save fails with BN_ERR_IO if the process ignores SIGXFSZ (the
 *         library changes no signal disposition).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (mlp NULL, path NULL or empty,
 *          unknown flags); BN_ERR_IO (the message tells the failing call and
 *          errno; also: path names something other than a regular file, or
 *          a loop of symbolic links); BN_ERR_SIZE_OVERFLOW; BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  Distinct handles may be used from distinct threads at once; one thread at a time per handle. */
BN_API bn_status bn_mlp_save(const bn_mlp *mlp, const char *path, unsigned flags);

/** @brief Load a file written by bn_mlp_save().
 *  @param out       receives the handle (NULL on failure).
 *  @param message   optional buffer (may be NULL) receiving why loading failed
 *                   (it names path).
 *  @param capacity  its size.
 *  @return the statuses of bn_mlp_deserialize() (BN_ERR_INVALID_ARGUMENT also
 *          when path is NULL), plus BN_ERR_IO when the file cannot be opened
 *          or read or is not a regular file, and BN_ERR_BAD_SIZE when it is
 *          larger than SIZE_MAX / 2.
 *  @par Thread-safety
 *  May be called from any thread; the new handle belongs to the caller. */
BN_API bn_status bn_mlp_load(bn_mlp **out, const char *path, char *message, size_t capacity);

/** @brief The model-file format version this library writes (and the only
 *         one bn_mlp_deserialize() reads): BN_MLP_FORMAT_VERSION of the
 *         library actually loaded, which may be newer than the header a
 *         program was compiled with.
 *  @param version  receives the version.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when version is NULL.
 *  @par Thread-safety
 *  May be called from any thread at any time. */
BN_API bn_status bn_mlp_format_version(unsigned *version);

/** @brief Read the part of a model file's header that every format version
 *         shares: the magic, the format version, the contents flags and the
 *         declared file size (docs/model-format.md). Nothing else is checked:
 *         the version may be one this library cannot load, and the size and
 *         checksum are not verified (bn_mlp_deserialize() does that).
 *  @param buffer     the file's first bytes (at least 24).
 *  @param size       their number.
 *  @param version    receives the format version (may be NULL).
 *  @param contents   receives the flags word: bn_mlp_file_contents bits, and
 *                    any bit a newer format defines (may be NULL).
 *  @param file_bytes receives the size the header declares (may be NULL).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT when buffer is NULL; BN_ERR_BAD_MAGIC
 *          when the bytes are not a libbn model file (checked on the bytes
 *          present, so a short foreign file is reported as foreign);
 *          BN_ERR_BAD_SIZE when fewer than 24 bytes are given. Outputs are
 *          written only on BN_OK.
 *  @par Thread-safety
 *  May be called from any thread; it reads buffer only. */
BN_API bn_status bn_mlp_read_header(const void *buffer, size_t size, unsigned *version,
                                    unsigned *contents, uint64_t *file_bytes);

/** @brief bn_mlp_read_header() on the file at path.
 *  @param message   optional buffer (may be NULL) receiving why it failed.
 *  @param capacity  its size.
 *  @return as bn_mlp_read_header() (BN_ERR_INVALID_ARGUMENT also when path is
 *          NULL), plus BN_ERR_IO when the file cannot be read or is not a
 *          regular file and BN_ERR_OUT_OF_MEMORY.
 *  @par Thread-safety
 *  May be called from any thread. */
BN_API bn_status bn_mlp_read_file_header(const char *path, unsigned *version, unsigned *contents,
                                         uint64_t *file_bytes, char *message, size_t capacity);

/** @brief Set the standardizer stage's statistics (BN_MLP_STANDARDIZE) to
 *         those of a data set, replacing earlier ones: each input feature's
 *         mean and standard deviation over the n samples, applied from then
 *         on in training and inference (bn_standardizer_fit()).
 *
 *  Fit it on the training data before training; changing it afterwards
 *  changes what the trained layers see. bn_mlp_fit() calls it over its
 *  data when the stage is not fitted yet.
 *  @param samples  n >= 1.
 *  @param x        (inputs x n), ldx >= inputs; all finite.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL x, n = 0, ldx < inputs);
 *          BN_ERR_WRONG_STATE (the network has no standardizer stage);
 *          BN_ERR_NON_FINITE (x holds NaN or infinity); BN_ERR_SIZE_OVERFLOW.
 *          The statistics are unchanged on error.
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_fit_standardizer(bn_mlp *mlp, size_t samples, const float *x,
                                         size_t ldx);

/** @brief Add a chunk of samples to the standardizer stage's statistics
 *         (bn_standardizer_partial_fit()): chunks give the statistics of
 *         their concatenation, so a data set too large for memory can be
 *         fitted piece by piece.
 *  @return as bn_mlp_fit_standardizer(); BN_ERR_SIZE_OVERFLOW also when the
 *          total count would exceed 2^53.
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_partial_fit_standardizer(bn_mlp *mlp, size_t samples, const float *x,
                                                 size_t ldx);

/** @brief The standardizer stage, for reading its statistics with the const
 *         functions of bn/standardizer.h (bn_standardizer_get(),
 *         bn_standardizer_count(), bn_standardizer_serialize(), ...).
 *  @param standardizer  receives a pointer owned by the network, valid until
 *                       bn_mlp_destroy(); it must not be destroyed or modified.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL argument); BN_ERR_WRONG_STATE
 *          (the network has no standardizer stage; *standardizer is then NULL).
 *  @par Thread-safety
 *  One thread at a time per handle (the standardizer belongs to it). */
BN_API bn_status bn_mlp_standardizer(const bn_mlp *mlp, const bn_standardizer **standardizer);

/** @brief Store an opaque byte string with the network: its training
 *         record, which model files (format 2) keep verbatim, so a program
 *         can write the recipe of a run (learning rate, schedule, epochs,
 *         batch size, seed, data source, shuffle state, position) beside the
 *         model and resume it later. libbn never interprets the bytes;
 *         serialize, save, deserialize and load carry them; fold does not.
 *  @param bytes  size bytes, copied; may be NULL when size is 0.
 *  @param size   0 (removes the record) to BN_MLP_MAX_TRAINING_RECORD.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL bytes with size > 0, size
 *          above BN_MLP_MAX_TRAINING_RECORD); BN_ERR_OUT_OF_MEMORY. The
 *          record is unchanged on error.
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_set_training_record(bn_mlp *mlp, const void *bytes, size_t size);

/** @brief Size in bytes of the training record (0 when there is none).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL mlp or size).
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_training_record_size(const bn_mlp *mlp, size_t *size);

/** @brief Copy the training record into buffer.
 *  @param buffer    capacity bytes; may be NULL when capacity is 0.
 *  @param capacity  at least bn_mlp_training_record_size() (BN_ERR_BAD_SIZE).
 *  @param written   receives the bytes copied (may be NULL).
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL mlp, NULL buffer with
 *          capacity > 0); BN_ERR_BAD_SIZE.
 *  @par Thread-safety
 *  One thread at a time per handle. */
BN_API bn_status bn_mlp_get_training_record(const bn_mlp *mlp, void *buffer, size_t capacity,
                                            size_t *written);

/* ---- data-parallel training over a caller's transport -------------------- */

/** What a reducer does with a buffer of doubles (see bn_reduce_fn). */
typedef enum bn_reduce_op {
  /** Elementwise sum over every rank; every rank receives the sums. */
  BN_REDUCE_SUM = 1,
  /** data is one block [count, mean[F], m2[F]] (count = 2F+1 doubles): the
   *  moments of this rank's shard. Every rank receives the merge of all the
   *  ranks' blocks in rank order (bn_moments_merge() applied rank 0, 1, ...):
   *  the moments of the whole batch. A block with count 0 is the identity;
   *  non-finite values must propagate (a rank that failed sends NaN). */
  BN_REDUCE_MOMENTS = 2
} bn_reduce_op;

/** @brief A collective over every rank of a data-parallel training, supplied
 *  by the caller (MPI: libbn_mpi's bn_mpi_attach(); threads; any transport).
 *
 *  Every rank calls it with the same op and count, in the same order; it
 *  replaces data in place with the result and returns BN_OK, or a status
 *  that the MLP call then returns (the transport failed: the ranks'
 *  states may then differ). It must not call back into the MLP. */
typedef bn_status (*bn_reduce_fn)(void *context, bn_reduce_op op, double *data, size_t count);

/** @brief Train data-parallel: this handle is rank `rank` of `size` ranks
 *  that reduce through `fn`.
 *
 *  Every rank holds an MLP of the same architecture with the same
 *  parameters (the caller broadcasts them; libbn_mpi does) and calls the
 *  same training functions with the same arguments except the data:
 *
 *  - bn_mlp_train_step(): x is this rank's shard (>= 1 sample); the step
 *    trains on the union of the shards. Each BatchNorm forward does one
 *    BN_REDUCE_MOMENTS of its F features, each BatchNorm backward one
 *    BN_REDUCE_SUM of 2F sums, the loss is the mean over the union, and all
 *    parameter gradients (with the loss and the correct count) are summed in
 *    ONE BN_REDUCE_SUM over one buffer of P+4 doubles; one small SUM opens
 *    the step (sizes and failures). The optimizer then runs identically on
 *    every rank. The reported loss is the union's.
 *  - bn_mlp_fit(): every rank passes the whole data set and the same rng
 *    seed; the shuffling is the single process's; each rank trains on a
 *    contiguous share of every global batch of batch_size samples (shares
 *    differ by at most one). batch_size must be at least the number of
 *    ranks (BN_ERR_INVALID_ARGUMENT on every rank otherwise); a batch with
 *    fewer samples than ranks (the end of an epoch) is skipped. Callbacks
 *    see the global loss/accuracy and must decide alike on every rank.
 *  - bn_mlp_evaluate(): every rank passes the whole set (the ranks' sample
 *    counts are checked: BN_ERR_SHAPE_MISMATCH); each evaluates a
 *    contiguous share and the loss and accuracy are reduced.
 *
 *  predict and recompute_statistics stay local (no collectives). A failure
 *  on one rank (bad data, out of memory, non-finite values) makes every
 *  rank's call return an error instead of hanging: the failing rank still
 *  takes part in the collectives, with NaN or a status slot. Installing a
 *  reducer of size > 1 runs one BN_REDUCE_SUM that checks every rank has
 *  the same architecture and parameter count (BN_ERR_SHAPE_MISMATCH on
 *  every rank otherwise), so every rank must call this together.
 *
 *  A reducer of size 1 is never called: training is then bit-identical to
 *  training without one. With more ranks the result equals the single
 *  process's on the whole batch up to float rounding (the sums are grouped
 *  differently).
 *
 *  @param mlp      the network.
 *  @param fn       the collective, or NULL to train alone again (context,
 *                  rank and size are then ignored).
 *  @param context  passed to fn.
 *  @param rank     this rank, < size.
 *  @param size     number of ranks, >= 1.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (NULL mlp, size 0, rank >= size);
 *          BN_ERR_OUT_OF_MEMORY (the reduce buffer); BN_ERR_SHAPE_MISMATCH
 *          (the ranks' architectures differ); a status fn returned. On
 *          error the previous reducer stays.
 *  @par Thread-safety
 *  One thread at a time per handle; fn is called on the calling thread. */
BN_API bn_status bn_mlp_set_reducer(bn_mlp *mlp, bn_reduce_fn fn, void *context, size_t rank,
                                    size_t size);

BN_EXTERN_C_END

#endif /* BN_MLP_H */

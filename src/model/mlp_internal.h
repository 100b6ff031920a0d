#ifndef BNI_MLP_INTERNAL_H
#define BNI_MLP_INTERNAL_H

/* The MLP handle, shared by the files of src/model/ (one idea each:
 * layout.c what a network is made of, mlp.c the handle and its tunables, forward.c the passes, train.c the
 * steps and fit, infer.c predict/evaluate, optimizer.c the update rules,
 * statistics.c population statistics, fold.c the inference form,
 * model_file.c the file format and atomic save). */

#include <stddef.h>
#include <stdint.h>
#include <bn/mlp.h>
#include "../core/error.h"
#include "layout.h"
#include "optimizer_loops.h"

#define BNI_MLP_DEFAULT_CHUNK 1024u

/* A trainable tensor of a part (layout.h), in the layout's order. The values
 * live in their layer (param, grad point at the layer's own rows, so the
 * optimizer updates them in place); offset places the tensor in the flat
 * optimizer-moment vectors. */
typedef struct bni_segment {
  bni_role role;
  size_t layer; /* 0 = input BatchNorm, 1..L+1 dense layers */
  size_t offset, count;
  float *param, *grad; /* the layer's rows */
  bni_opt_extent extent; /* of the current step's gradients (train.c) */
  bni_opt_extent kept;   /* param, m1, m2 maxima the last update left (bn_mlp.extent_kept) */
} bni_segment;

/* Hidden layer or head. */
typedef struct bni_stage {
  size_t in, out;
  bn_dense *dense;
  bn_batchnorm *bn; /* NULL without (always NULL for the head) */
  /* activations for the current batch, (out x cap) with ld = out */
  float *pre;  /* dense output */
  float *mid;  /* BEFORE: BN output; AFTER: activation output */
  float *post; /* the stage's output (logits for the head) */
} bni_stage;

/* Data-parallel training over the caller's collective (reducer.c). */
typedef struct bni_reducer {
  bn_reduce_fn fn; /* NULL: one process */
  void *context;
  size_t rank, size;
  double *buf;     /* the reduce buffer, cap doubles */
  size_t cap;
  double count;    /* the current step's samples over every rank */
  int stepping;    /* inside a sharded train step: BatchNorm forwards reduce */
} bni_reducer;

/* Optimizer settings and step counter; the moments live in the handle. */
typedef struct bni_optimizer {
  int kind; /* bn_mlp_optimizer */
  double lr, momentum, beta1, beta2, eps, weight_decay;
  int decay_all;
  uint64_t step;
} bni_optimizer;

struct bn_mlp {
  size_t inputs, outputs, layers;
  bn_activation act;
  bn_mlp_placement placement;
  bn_mlp_head head;
  unsigned flags;
  float elu_alpha, bn_eps, bn_factor;
  float renorm_rmax, renorm_dmax; /* BN_MLP_RENORM_RMAX / _DMAX */
  int renorm_schedule;            /* BN_MLP_RENORM_SCHEDULE */

  /* the layout: every layer object, in forward order */
  bni_part *part;
  size_t nparts;
  /* the same objects as the forward pass walks them */
  bn_standardizer *standardizer; /* NULL without */
  bn_batchnorm *input_bn; /* NULL without */
  bni_stage *stage;       /* layers + 1 entries; stage[i] is layer i+1 */
  size_t widest;          /* max over inputs and every width */

  /* trainable tensors in segment order; moments flat in the same order */
  size_t nparams, nseg;
  bni_segment *seg;
  float *moment1, *moment2;
  int have_grads;
  bni_optimizer opt;
  /* Whether every segment's `kept` still bounds its parameters and moments:
   * set by the update that wrote them (train.c), cleared by everything else
   * that writes either (bni_mlp_forget_extents), so that a step then reads
   * only the gradients before it updates. */
  int extent_kept;

  /* scratch, sized for cap samples */
  size_t cap;
  float *scratch;       /* one block for everything below */
  float *xstd;          /* standardizer output (inputs x cap) */
  float *xbn;           /* input BatchNorm output (inputs x cap) */
  float *gbuf[2];       /* gradient ping-pong (widest x cap) */
  double *sums;         /* 3*widest per-feature sums (input_batchnorm.c) */
  float *batch_x;       /* fit's gathered batch (inputs x cap) */
  float *batch_targets; /* fit's gathered targets (outputs x cap) */
  int32_t *batch_labels;

  unsigned char *record; /* the training record, record_size bytes (NULL when 0) */
  size_t record_size;

  bn_mlp_batch_callback batch_cb;
  bni_reducer red;
  bni_error err;
};

/* mlp.c */
/* BatchNorm-like parts (those with running statistics). */
size_t bni_mlp_bn_count(const bn_mlp *m);
/* The part of layer `layer` that holds tensor `role`, or NULL. */
bni_part *bni_mlp_find_part(const bn_mlp *m, size_t layer, bni_role role);
void bni_mlp_reset_optimizer(bn_mlp *m);
/* Parameters or moments were written outside an update: the next step
 * measures them again. */
void bni_mlp_forget_extents(bn_mlp *m);
bn_status bni_mlp_check_param(bni_error *err, bn_mlp_param param, double value);
/* Do a and b have the same architecture (what bn_mlp_create was given)? */
int bni_mlp_same_architecture(const bn_mlp *a, const bn_mlp *b);
/* to takes from's network and state (parameters, statistics, tunables,
 * optimizer state, training record, scratch); from gets to's old ones, to
 * be destroyed. The handle's own settings (reducer, batch callback) stay
 * with to. Both must have the same architecture. */
void bni_mlp_take_model(bn_mlp *to, bn_mlp *from);
/* Give every BatchNorm the network's renorm limits and schedule. */
bn_status bni_mlp_apply_renorm(bn_mlp *m);
bn_status bni_mlp_check_data(bn_mlp *m, size_t n, const float *x, size_t ldx,
                             const int32_t *labels, const float *targets);

/* standardize.c */
/* BN_ERR_WRONG_STATE with a message saying what to call when the network has
 * a standardizer stage that is not fitted. */
bn_status bni_mlp_check_standardizer(bn_mlp *m);

/* forward.c */
bn_status bni_mlp_reserve(bn_mlp *m, size_t batch);
/* Forward n <= cap samples; the logits are stage[layers].post (ld outputs).
 * With stop_bn >= 0 the pass stops before applying BatchNorm number stop_bn
 * (0 = input BatchNorm, i = hidden layer i's) and *stop_in and *stop_ld give its
 * input. */
bn_status bni_mlp_forward(bn_mlp *m, bn_mode mode, size_t n, const float *x, size_t ldx,
                          long stop_bn, const float **stop_in, size_t *stop_ld);
bn_status bni_mlp_backward(bn_mlp *m, size_t n, const float *x, size_t ldx,
                           const float *dlogits);
/* What the layers after the standardizer see of x: its standardized copy
 * (after a forward of the same batch) or x itself. */
const float *bni_mlp_network_input(const bn_mlp *m, const float *x, size_t ldx, size_t *ld);
bn_status bni_mlp_loss(bn_mlp *m, size_t n, const float *logits, const int32_t *labels,
                       const float *targets, float *loss, float *dlogits, size_t *correct);
size_t bni_mlp_chunk(const bn_mlp *m, size_t n);

/* input_batchnorm.c */
/* The input BatchNorm's dgamma and dbeta and the first dense layer's
 * gradients from dz = d(loss)/d(its output) (out x n, ld lddz), for the
 * network input x of the step's forward, without the input's gradient; xhat
 * is scratch of inputs x n floats. */
bn_status bni_mlp_input_batchnorm_backward(bn_mlp *m, size_t n, const float *x, size_t ldx,
                                           const float *dz, size_t lddz, float *xhat);

/* optimizer.c (its element loops: optimizer_loops.h) */
void bni_optimizer_defaults(bni_optimizer *o);
size_t bni_optimizer_moments(int kind);
/* The largest magnitudes of n parameters, their gradients and the moments
 * the rule keeps, and whether every gradient is finite: one pass. */
void bni_optimizer_extent(const bni_optimizer *o, const float *param, const float *grad,
                          const float *m1, const float *m2, size_t n, bni_opt_extent *out);
/* The same extent when kept (param, m1, m2) still bounds the parameters
 * and moments: one pass over the gradients only. */
void bni_optimizer_grad_extent(const float *grad, size_t n, const bni_opt_extent *kept,
                               bni_opt_extent *out);
/* Whether every value the update would write is finite: from the extent
 * when its bound proves it, else by computing them (nothing is written). */
int bni_optimizer_stays_finite(const bni_optimizer *o, uint64_t step, const bni_opt_extent *e,
                               const float *param, const float *grad, const float *m1,
                               const float *m2, size_t n, double decay);
/* One update of n parameters; `step` is the 1-based number of this update
 * (Adam's bias correction) and `decay` the decoupled weight decay for this
 * tensor (0 for tensors that are not decayed). The largest magnitudes of
 * the new parameters and moments go to *after (param, m1, m2). */
void bni_optimizer_update(const bni_optimizer *o, uint64_t step, float *param,
                          const float *grad, float *m1, float *m2, size_t n, double decay,
                          bni_opt_extent *after);

/* train.c */
bn_status bni_mlp_step(bn_mlp *m, size_t n, const float *x, size_t ldx, const int32_t *labels,
                       const float *targets, float *loss, size_t *correct);

/* reducer.c */
/* Is this handle one rank of several? */
int bni_mlp_sharded(const bn_mlp *m);
/* The contiguous share [*start, *start + *count) of n samples this rank takes. */
void bni_mlp_share(const bn_mlp *m, size_t n, size_t *start, size_t *count);
/* Open a sharded step: every rank learns whether all are fine (st is this
 * rank's status so far) and the samples over all ranks (m->red.count). */
bn_status bni_mlp_agree(bn_mlp *m, bn_status st, size_t n);
/* Sum k values (k + 2 <= the buffer) over every rank, with st's verdict. */
bn_status bni_mlp_sum_with_status(bn_mlp *m, bn_status st, double *values, size_t k);
/* Every rank learns whether all are fine and whether all passed the same k
 * values (small whole numbers); BN_ERR_SHAPE_MISMATCH naming `what` if not.
 * The reduce buffer must hold 2k+2 doubles. */
bn_status bni_mlp_agree_on(bn_mlp *m, bn_status st, const double *values, size_t k,
                           const char *what);
/* BatchNorm forward / backward, through the reducer inside a sharded step. */
bn_status bni_mlp_batchnorm_forward(bn_mlp *m, bn_batchnorm *bn, bn_mode mode, size_t n,
                                    const float *x, size_t ldx, float *y, size_t ldy);
bn_status bni_mlp_batchnorm_backward(bn_mlp *m, bn_batchnorm *bn, size_t n, const float *x,
                                     size_t ldx, const float *dy, size_t lddy, float *dx,
                                     size_t lddx);
/* Sum the gradients, the loss sum and the correct count over every rank
 * (one reduce); st is this rank's status, and every rank returns an error
 * if any rank's is one. */
bn_status bni_mlp_reduce_step(bn_mlp *m, bn_status st, double *loss_sum, double *correct);

#endif

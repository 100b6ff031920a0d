#ifndef BNI_MLP_LAYOUT_H
#define BNI_MLP_LAYOUT_H

/* The network's layout: the one description of what a network is made of,
 * read by creation (mlp.c), the optimizer's segment table, the model file
 * (size, scan, write, read), fold, population statistics and the public
 * tensor queries that `bn info` uses.
 *
 * A network is a list of parts in forward order. A part is one layer object
 * (a dense layer, a BatchNorm) of a kind; the kind table (layout.c) says
 * which tensors the kind holds, in file order, and how to reach them. A new
 * kind of part is one entry in that table plus its compute code; see
 * docs/architecture.md. */

#include <stddef.h>
#include <stdint.h>
#include <bn/mlp.h>

/* The tensors a part may hold. */
typedef enum bni_role {
  BNI_ROLE_WEIGHT,
  BNI_ROLE_BIAS,
  BNI_ROLE_GAMMA,
  BNI_ROLE_BETA,
  BNI_ROLE_RUNNING_MEAN,
  BNI_ROLE_RUNNING_VAR,
  BNI_ROLE_COUNT
} bni_role;

typedef struct bni_role_info {
  bn_mlp_tensor tensor;   /* its public id */
  bn_mlp_tensor gradient; /* the public id of its gradient; 0: not trainable */
  int decayed;            /* weight decay applies even without BN_MLP_DECAY_ALL */
  int nonnegative;        /* every value >= 0 (checked when reading a file) */
  int matrix;             /* in*out values (else out) */
} bni_role_info;

const bni_role_info *bni_describe_role(bni_role role);

typedef enum bni_part_kind {
  BNI_PART_DENSE,         /* weight (out x in) and bias */
  BNI_PART_DENSE_NO_BIAS, /* weight only (a BatchNorm follows) */
  BNI_PART_BATCHNORM,     /* batches tracked; gamma, beta, running mean and variance */
  BNI_PART_KIND_COUNT
} bni_part_kind;

#define BNI_PART_MAX_TENSORS 4

typedef struct bni_part bni_part;

typedef struct bni_part_kind_info {
  const char *name;
  int counter; /* holds a u64 counter (batches tracked), stored before its tensors */
  size_t ntensors;
  bni_role tensors[BNI_PART_MAX_TENSORS]; /* in file order */
  /* The layer object: creation (flags are the network's bn_mlp_flags),
   * destruction, and the tensors: the trainable ones as the layer's own rows
   * (so the optimizer updates them in place), every one by copy. */
  bn_status (*create)(bni_part *part, unsigned flags);
  void (*destroy)(bni_part *part);
  float *(*row)(bni_part *part, bni_role role, int gradient);
  bn_status (*read)(const bni_part *part, bni_role role, float *out);
  bn_status (*write)(bni_part *part, bni_role role, const float *values);
  bn_status (*get_counter)(const bni_part *part, uint64_t *value);
  bn_status (*set_counter)(bni_part *part, uint64_t value);
} bni_part_kind_info;

const bni_part_kind_info *bni_describe_kind(bni_part_kind kind);

struct bni_part {
  bni_part_kind kind;
  size_t layer;   /* textbook numbering: 0 input, 1..L hidden, L+1 head */
  size_t in, out; /* dense: in -> out; BatchNorm: in == out features */
  /* BatchNorm only: 1 when it normalizes its dense layer's output (folds into
   * that layer), 0 when it normalizes the next dense layer's input (folds
   * into that one). */
  int after_dense;
  bn_dense *dense;
  bn_batchnorm *bn;
};

/* Values of tensor `role` of a part. */
size_t bni_part_tensor_size(const bni_part *part, bni_role role);
/* Whether the part's kind holds tensor `role`. */
int bni_part_holds(const bni_part *part, bni_role role);

/* What the layout depends on: the architecture as bn_mlp_create takes it. */
typedef struct bni_shape {
  size_t inputs, outputs, layers;
  const size_t *hidden; /* layers widths */
  bn_mlp_placement placement;
  unsigned flags; /* bn_mlp_flags */
} bni_shape;

/* Most parts a network of `layers` hidden layers has. */
size_t bni_layout_max_parts(size_t layers);

/* The parts of a network in forward order (which is also the file's and the
 * optimizer's order); parts has room for bni_layout_max_parts(). Layer
 * objects are not created (dense and bn are NULL). */
size_t bni_layout_plan(const bni_shape *shape, bni_part *parts);

/* Trainable values and the bytes the parts take in a model file; 0 and
 * BN_ERR_SIZE_OVERFLOW when either overflows 64 bits. */
bn_status bni_layout_totals(const bni_part *parts, size_t nparts, uint64_t *trainable,
                            uint64_t *file_bytes);

#endif

/* The MLP handle: creation from a description, queries, tunables,
 * initialization and tensor access. Every trainable tensor lives in its
 * layer; the segment table points at those rows (bind_segments). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"
#include "../core/checks.h"

#define KNOWN_FLAGS                                                                            \
  (BN_MLP_INPUT_BATCHNORM | BN_MLP_BIASED_RUNNING_VAR | BN_MLP_STANDARDIZE |                  \
   BN_MLP_HEAD_BATCHNORM | BN_MLP_RENORM)

size_t bni_mlp_bn_count(const bn_mlp *m)
{
  size_t n = 0;
  for (size_t k = 0; k < m->nparts; k++)
    n += (size_t)bni_part_holds(&m->part[k], BNI_ROLE_RUNNING_MEAN);
  return n;
}

bni_part *bni_mlp_find_part(const bn_mlp *m, size_t layer, bni_role role)
{
  for (size_t k = 0; k < m->nparts; k++)
    if (m->part[k].layer == layer && bni_part_holds(&m->part[k], role))
      return &m->part[k];
  return NULL;
}

static int valid_activation(bn_activation a)
{
  return a == BN_ACT_RELU || a == BN_ACT_ELU || a == BN_ACT_SIGMOID || a == BN_ACT_TANH;
}

void bn_mlp_destroy(bn_mlp *mlp)
{
  if (!mlp)
    return;
  for (size_t k = 0; k < mlp->nparts; k++)
    bni_describe_kind(mlp->part[k].kind)->destroy(&mlp->part[k]);
  free(mlp->part);
  free(mlp->stage);
  free(mlp->seg);
  free(mlp->moment1); /* moment2 lives in the same block */
  free(mlp->scratch);
  free(mlp->sums);
  free(mlp->record);
  free(mlp->red.buf);
  free(mlp);
}

const char *bn_mlp_last_error(const bn_mlp *mlp)
{
  return mlp ? mlp->err.text : "mlp is NULL";
}

/* Create every part's layer object and give the forward pass its view. */
static bn_status create_parts(bn_mlp *m)
{
  for (size_t k = 0; k < m->nparts; k++) {
    bni_part *p = &m->part[k];
    bn_status st = bni_describe_kind(p->kind)->create(p, m->flags);
    if (st != BN_OK)
      return st;
    if (p->dense)
      m->stage[p->layer - 1].dense = p->dense;
    else if (p->std)
      m->standardizer = p->std;
    else if (p->layer == 0)
      m->input_bn = p->bn;
    else
      m->stage[p->layer - 1].bn = p->bn;
  }
  return BN_OK;
}

/* One segment per trainable tensor, in layout order, pointing at its
 * layer's parameter and gradient rows. */
static void bind_segments(bn_mlp *m)
{
  size_t offset = 0;
  m->nseg = 0;
  for (size_t k = 0; k < m->nparts; k++) {
    bni_part *p = &m->part[k];
    const bni_part_kind_info *kind = bni_describe_kind(p->kind);
    for (size_t t = 0; t < kind->ntensors; t++) {
      const bni_role role = kind->tensors[t];
      if (!bni_describe_role(role)->gradient)
        continue;
      bni_segment *s = &m->seg[m->nseg++];
      s->role = role;
      s->layer = p->layer;
      s->offset = offset;
      s->count = bni_part_tensor_size(p, role);
      s->param = kind->row(p, role, 0);
      s->grad = kind->row(p, role, 1);
      offset += s->count;
    }
  }
}

bn_status bn_mlp_create(bn_mlp **out, size_t inputs, const size_t *hidden, size_t layers,
                        size_t outputs, bn_activation activation, bn_mlp_placement placement,
                        bn_mlp_head head, unsigned flags)
{
  if (!out)
    return BN_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (inputs == 0 || layers > BN_MLP_MAX_LAYERS || (layers > 0 && !hidden) ||
      !valid_activation(activation) ||
      (placement != BN_MLP_BN_NONE && placement != BN_MLP_BN_BEFORE &&
       placement != BN_MLP_BN_AFTER) ||
      (head != BN_MLP_HEAD_SOFTMAX && head != BN_MLP_HEAD_SIGMOID) ||
      (flags & ~(unsigned)KNOWN_FLAGS) || outputs == 0 ||
      (head == BN_MLP_HEAD_SOFTMAX && outputs < 2))
    return BN_ERR_INVALID_ARGUMENT;
  for (size_t i = 0; i < layers; i++)
    if (hidden[i] == 0)
      return BN_ERR_INVALID_ARGUMENT;
  if (layers == 0)
    placement = BN_MLP_BN_NONE;

  bn_mlp *m = calloc(1, sizeof *m);
  if (!m)
    return BN_ERR_OUT_OF_MEMORY;
  m->inputs = inputs;
  m->outputs = outputs;
  m->layers = layers;
  m->act = activation;
  m->placement = placement;
  m->head = head;
  m->flags = flags;
  m->elu_alpha = 1.0f;
  m->bn_eps = 1e-5f;
  m->bn_factor = 0.1f;
  m->renorm_rmax = 3.0f;
  m->renorm_dmax = 5.0f;
  m->renorm_schedule = 1;
  bni_optimizer_defaults(&m->opt);
  m->widest = inputs > outputs ? inputs : outputs;
  bn_status st = BN_ERR_OUT_OF_MEMORY;
  const size_t max_parts = bni_layout_max_parts(layers);
  m->stage = calloc(layers + 1, sizeof *m->stage);
  m->part = calloc(max_parts, sizeof *m->part);
  if (!m->stage || !m->part)
    goto fail;
  for (size_t i = 0; i <= layers; i++) {
    m->stage[i].in = i == 0 ? inputs : hidden[i - 1];
    m->stage[i].out = i == layers ? outputs : hidden[i];
    if (m->stage[i].out > m->widest)
      m->widest = m->stage[i].out;
  }
  const bni_shape shape = {inputs, outputs, layers, hidden, placement, flags};
  const size_t nparts = bni_layout_plan(&shape, m->part);
  uint64_t trainable = 0, file_bytes = 0;
  size_t block;
  st = bni_layout_totals(m->part, nparts, &trainable, &file_bytes);
  if (st == BN_OK && (trainable > SIZE_MAX / 2 ||
                      !bni_mul_size((size_t)trainable, 2 * sizeof(float), &block)))
    st = BN_ERR_SIZE_OVERFLOW;
  if (st != BN_OK)
    goto fail;
  m->nparams = (size_t)trainable;
  st = BN_ERR_OUT_OF_MEMORY;
  m->seg = calloc(nparts * BNI_PART_MAX_TENSORS, sizeof *m->seg);
  m->moment1 = calloc(1, block ? block : 1);
  size_t sums_bytes = 0; /* 3*widest doubles; widest <= trainable: no overflow then */
  if (bni_mul_size(m->widest, 3 * sizeof(double), &sums_bytes))
    m->sums = malloc(sums_bytes);
  if (!m->seg || !m->moment1 || !m->sums)
    goto fail;
  m->moment2 = m->moment1 + m->nparams;
  m->nparts = nparts; /* from here on, destroy frees the parts' objects */
  st = create_parts(m);
  if (st == BN_OK)
    st = bni_mlp_apply_renorm(m);
  if (st != BN_OK)
    goto fail;
  bind_segments(m);
  *out = m;
  return BN_OK;
fail:
  bn_mlp_destroy(m);
  return st;
}

void bni_mlp_forget_extents(bn_mlp *m)
{
  m->extent_kept = 0;
}

void bni_mlp_reset_optimizer(bn_mlp *m)
{
  bni_mlp_forget_extents(m);
  if (m->nparams) {
    memset(m->moment1, 0, m->nparams * sizeof *m->moment1);
    memset(m->moment2, 0, m->nparams * sizeof *m->moment2);
  }
  m->opt.step = 0;
}

bn_status bn_mlp_architecture(const bn_mlp *mlp, size_t *inputs, size_t *layers,
                              size_t *outputs, bn_activation *activation,
                              bn_mlp_placement *placement, bn_mlp_head *head, unsigned *flags)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  if (inputs)
    *inputs = mlp->inputs;
  if (layers)
    *layers = mlp->layers;
  if (outputs)
    *outputs = mlp->outputs;
  if (activation)
    *activation = mlp->act;
  if (placement)
    *placement = mlp->placement;
  if (head)
    *head = mlp->head;
  if (flags)
    *flags = mlp->flags;
  return BN_OK;
}

bn_status bn_mlp_hidden_sizes(const bn_mlp *mlp, size_t *sizes, size_t count)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (count != m->layers)
    return bni_fail(&m->err, BN_ERR_SHAPE_MISMATCH, "count %zu, the network has %zu hidden layers",
                    count, m->layers);
  if (count && !sizes)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "sizes is NULL");
  for (size_t i = 0; i < count; i++)
    sizes[i] = m->stage[i].out;
  return BN_OK;
}

int bni_mlp_same_architecture(const bn_mlp *a, const bn_mlp *b)
{
  if (a->inputs != b->inputs || a->outputs != b->outputs || a->layers != b->layers ||
      a->act != b->act || a->placement != b->placement || a->head != b->head ||
      a->flags != b->flags)
    return 0;
  for (size_t i = 0; i < a->layers; i++)
    if (a->stage[i].out != b->stage[i].out)
      return 0;
  return 1;
}

void bni_mlp_take_model(bn_mlp *to, bn_mlp *from)
{
  const bn_mlp old = *to;
  *to = *from;
  *from = old;
  /* The handle's own settings stay: they are not part of the model. */
  to->red = old.red;
  to->batch_cb = old.batch_cb;
  bni_mlp_forget_extents(to);
  bni_mlp_forget_extents(from);
  from->red = (bni_reducer){0};
  from->batch_cb = NULL;
}

bn_status bn_mlp_parameter_count(const bn_mlp *mlp, size_t *count)
{
  if (!mlp || !count)
    return BN_ERR_INVALID_ARGUMENT;
  *count = mlp->nparams;
  return BN_OK;
}

static bn_status reset_bn(bn_batchnorm *bn, size_t f, float *tmp)
{
  bn_status st = BN_OK;
  const bn_batchnorm_tensor which[4] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                        BN_BATCHNORM_RUNNING_MEAN, BN_BATCHNORM_RUNNING_VAR};
  const float value[4] = {1.0f, 0.0f, 0.0f, 1.0f};
  for (int k = 0; k < 4 && st == BN_OK; k++) {
    for (size_t i = 0; i < f; i++)
      tmp[i] = value[k];
    st = bn_batchnorm_set(bn, which[k], tmp, f);
  }
  if (st == BN_OK)
    st = bn_batchnorm_set_batches_tracked(bn, 0);
  return st;
}

bn_status bn_mlp_init(bn_mlp *mlp, bn_init scheme, bn_rng *rng)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  if (!rng)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "rng is NULL");
  if (scheme != BN_INIT_ZEROS && scheme != BN_INIT_HE_NORMAL &&
      scheme != BN_INIT_GLOROT_UNIFORM && scheme != BN_INIT_GLOROT_NORMAL)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown initialization scheme %d",
                    (int)scheme);
  float *tmp = malloc(m->widest * sizeof *tmp);
  if (!tmp)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  bn_status st = BN_OK;
  bni_mlp_forget_extents(m); /* even when a layer fails half-way */
  /* The standardizer keeps its statistics: they come from data, not from
   * an initialization. */
  for (size_t k = 0; k < m->nparts && st == BN_OK; k++) {
    const bni_part *p = &m->part[k];
    if (p->dense)
      st = bn_dense_init(p->dense, scheme, rng);
    else if (p->bn)
      st = reset_bn(p->bn, p->out, tmp);
  }
  free(tmp);
  if (st != BN_OK)
    return bni_fail(&m->err, st, "initialization failed: %s", bn_status_string(st));
  bni_mlp_reset_optimizer(m);
  m->have_grads = 0;
  return st;
}

/* ---- tunables ------------------------------------------------------------ */

typedef struct param_info {
  double lo, hi;
  int lo_open, hi_open, integral;
} param_info;

static int param_bounds(bn_mlp_param p, param_info *info)
{
  static const param_info table[] = {
    {0, 0, 0, 0, 0},               /* unused */
    {1, 4, 0, 0, 1},               /* OPTIMIZER */
    {0, 1e3, 1, 0, 0},             /* LEARNING_RATE */
    {0, 1, 0, 1, 0},               /* MOMENTUM_COEF */
    {0, 1, 0, 1, 0},               /* ADAM_BETA1 */
    {0, 1, 0, 1, 0},               /* ADAM_BETA2 */
    {0, 1, 1, 0, 0},               /* ADAM_EPSILON */
    {0, 1e3, 0, 0, 0},             /* WEIGHT_DECAY */
    {0, 1, 0, 0, 1},               /* DECAY_ALL */
    {0, 1e3, 1, 0, 0},             /* ELU_ALPHA */
    {0, 1, 1, 0, 0},               /* BN_EPSILON */
    {0, 1, 1, 0, 0},               /* BN_UPDATE_FACTOR */
    {0, 9007199254740992.0, 0, 0, 1}, /* STEP (2^53) */
    {1, FLT_MAX, 0, 0, 0},         /* RENORM_RMAX */
    {0, FLT_MAX, 0, 0, 0},         /* RENORM_DMAX */
    {0, 1, 0, 0, 1}                /* RENORM_SCHEDULE */
  };
  if ((int)p < 1 || (int)p > (int)BN_MLP_RENORM_SCHEDULE)
    return 0;
  *info = table[p];
  return 1;
}

bn_status bn_mlp_parameter_bounds(bn_mlp_param param, double *lower, double *upper)
{
  param_info info;
  if (!param_bounds(param, &info) || (!lower && !upper))
    return BN_ERR_INVALID_ARGUMENT;
  if (lower)
    *lower = info.lo;
  if (upper)
    *upper = info.hi;
  return BN_OK;
}

static bn_status set_bn_settings(bn_mlp *m, float eps, float factor)
{
  bn_status st = BN_OK;
  for (size_t k = 0; k < m->nparts && st == BN_OK; k++)
    if (m->part[k].bn) {
      st = bn_batchnorm_set_eps(m->part[k].bn, eps);
      if (st == BN_OK)
        st = bn_batchnorm_set_update_factor(m->part[k].bn, factor);
    }
  if (st == BN_OK) {
    m->bn_eps = eps;
    m->bn_factor = factor;
  }
  return st;
}

bn_status bni_mlp_apply_renorm(bn_mlp *m)
{
  bn_status st = BN_OK;
  for (size_t k = 0; k < m->nparts && st == BN_OK; k++) {
    bn_batchnorm *bn = m->part[k].bn;
    if (!bn)
      continue;
    st = bn_batchnorm_set_parameter(bn, BN_BATCHNORM_RENORM_RMAX, (double)m->renorm_rmax);
    if (st == BN_OK)
      st = bn_batchnorm_set_parameter(bn, BN_BATCHNORM_RENORM_DMAX, (double)m->renorm_dmax);
    if (st == BN_OK)
      st = bn_batchnorm_set_parameter(bn, BN_BATCHNORM_RENORM_SCHEDULE, m->renorm_schedule);
  }
  return st;
}

bn_status bni_mlp_check_param(bni_error *err, bn_mlp_param param, double value)
{
  param_info info;
  if (!param_bounds(param, &info))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)param);
  if (!isfinite(value))
    return bni_fail(err, BN_ERR_NON_FINITE, "parameter %d: value is not finite", (int)param);
  if (value < info.lo || value > info.hi || (info.lo_open && value == info.lo) ||
      (info.hi_open && value == info.hi) || (info.integral && value != floor(value)))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "parameter %d: %g is outside %c%g, %g%c%s",
                    (int)param, value, info.lo_open ? '(' : '[', info.lo, info.hi,
                    info.hi_open ? ')' : ']', info.integral ? " or not an integer" : "");
  /* Values that become floats must not round to an excluded bound. */
  if ((param == BN_MLP_ELU_ALPHA || param == BN_MLP_BN_EPSILON ||
       param == BN_MLP_BN_UPDATE_FACTOR) &&
      !((float)value > 0.0f))
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "parameter %d: %g rounds to 0 in float",
                    (int)param, value);
  return BN_OK;
}

bn_status bn_mlp_set_parameter(bn_mlp *mlp, bn_mlp_param param, double value)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  bn_status st = bni_mlp_check_param(&m->err, param, value);
  if (st != BN_OK)
    return st;
  /* No parameter here writes the parameters or the moments (a new
   * optimizer clears the moments in bni_mlp_reset_optimizer, which forgets
   * the kept maxima), so the next step's finiteness bound may go on from
   * them: bn train's schedule sets the learning rate before every step,
   * and a fresh pass over the parameters and both moments took ~70 us of
   * a 1.7-2.9 ms step at batch 256 (docs/performance.md). */
  switch (param) {
  case BN_MLP_OPTIMIZER:
    if ((int)value != m->opt.kind) {
      m->opt.kind = (int)value;
      bni_mlp_reset_optimizer(m);
    }
    break;
  case BN_MLP_LEARNING_RATE: m->opt.lr = value; break;
  case BN_MLP_MOMENTUM_COEF: m->opt.momentum = value; break;
  case BN_MLP_ADAM_BETA1: m->opt.beta1 = value; break;
  case BN_MLP_ADAM_BETA2: m->opt.beta2 = value; break;
  case BN_MLP_ADAM_EPSILON: m->opt.eps = value; break;
  case BN_MLP_WEIGHT_DECAY: m->opt.weight_decay = value; break;
  case BN_MLP_DECAY_ALL: m->opt.decay_all = (int)value; break;
  case BN_MLP_ELU_ALPHA: m->elu_alpha = (float)value; break;
  case BN_MLP_BN_EPSILON: return set_bn_settings(m, (float)value, m->bn_factor);
  case BN_MLP_BN_UPDATE_FACTOR: return set_bn_settings(m, m->bn_eps, (float)value);
  case BN_MLP_STEP: m->opt.step = (uint64_t)value; break;
  case BN_MLP_RENORM_RMAX: m->renorm_rmax = (float)value; return bni_mlp_apply_renorm(m);
  case BN_MLP_RENORM_DMAX: m->renorm_dmax = (float)value; return bni_mlp_apply_renorm(m);
  case BN_MLP_RENORM_SCHEDULE: m->renorm_schedule = value != 0.0; return bni_mlp_apply_renorm(m);
  }
  return BN_OK;
}

bn_status bn_mlp_get_parameter(const bn_mlp *mlp, bn_mlp_param param, double *value)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!value)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "value is NULL");
  switch (param) {
  case BN_MLP_OPTIMIZER: *value = m->opt.kind; break;
  case BN_MLP_LEARNING_RATE: *value = m->opt.lr; break;
  case BN_MLP_MOMENTUM_COEF: *value = m->opt.momentum; break;
  case BN_MLP_ADAM_BETA1: *value = m->opt.beta1; break;
  case BN_MLP_ADAM_BETA2: *value = m->opt.beta2; break;
  case BN_MLP_ADAM_EPSILON: *value = m->opt.eps; break;
  case BN_MLP_WEIGHT_DECAY: *value = m->opt.weight_decay; break;
  case BN_MLP_DECAY_ALL: *value = m->opt.decay_all; break;
  case BN_MLP_ELU_ALPHA: *value = m->elu_alpha; break;
  case BN_MLP_BN_EPSILON: *value = m->bn_eps; break;
  case BN_MLP_BN_UPDATE_FACTOR: *value = m->bn_factor; break;
  case BN_MLP_STEP: *value = (double)m->opt.step; break;
  case BN_MLP_RENORM_RMAX: *value = m->renorm_rmax; break;
  case BN_MLP_RENORM_DMAX: *value = m->renorm_dmax; break;
  case BN_MLP_RENORM_SCHEDULE: *value = m->renorm_schedule; break;
  default:
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)param);
  }
  return BN_OK;
}

/* ---- tensors ------------------------------------------------------------- */

/* The role of a public tensor id (*gradient set for the gradient ids), or -1. */
static int role_of(bn_mlp_tensor which, int *gradient)
{
  for (int r = 0; r < BNI_ROLE_COUNT; r++) {
    const bni_role_info *info = bni_describe_role((bni_role)r);
    if (info->tensor == which || (info->gradient && info->gradient == which)) {
      *gradient = info->gradient == which;
      return r;
    }
  }
  return -1;
}

/* Tensor `which` of `layer`: its role, whether it is a gradient, and the
 * part holding it (NULL when the layer holds no such tensor). */
static bn_status find_tensor(bn_mlp *m, size_t layer, bn_mlp_tensor which, bni_part **part,
                             bni_role *role, int *gradient)
{
  if (layer > m->layers + 1)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "layer %zu does not exist (0..%zu)", layer,
                    m->layers + 1);
  int r = role_of(which, gradient);
  if (r < 0)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown tensor id %d", (int)which);
  *role = (bni_role)r;
  *part = bni_mlp_find_part(m, layer, *role);
  return BN_OK;
}

/* The part holding tensor `which` of `layer`, its role and its size, or why
 * it cannot be read (or written). */
static bn_status locate(bn_mlp *m, size_t layer, bn_mlp_tensor which, int writing,
                        bni_part **part, bni_role *role, size_t *count)
{
  int gradient = 0;
  bn_status st = find_tensor(m, layer, which, part, role, &gradient);
  if (st != BN_OK)
    return st;
  if (gradient && writing)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "gradients are read-only");
  if (!*part)
    return bni_fail(&m->err, BN_ERR_WRONG_STATE, "layer %zu has no such tensor", layer);
  if (gradient && !m->have_grads)
    return bni_fail(&m->err, BN_ERR_WRONG_STATE, "no train step has produced gradients yet");
  *count = bni_part_tensor_size(*part, *role);
  return BN_OK;
}

bn_status bn_mlp_tensor_size(const bn_mlp *mlp, size_t layer, bn_mlp_tensor which, size_t *count)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!count)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "count is NULL");
  bni_part *p = NULL;
  bni_role role = BNI_ROLE_WEIGHT;
  int gradient = 0;
  bn_status st = find_tensor(m, layer, which, &p, &role, &gradient);
  if (st == BN_OK)
    *count = p ? bni_part_tensor_size(p, role) : 0;
  return st;
}

bn_status bn_mlp_get(const bn_mlp *mlp, size_t layer, bn_mlp_tensor which, float *out,
                     size_t count)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  bni_part *p = NULL;
  bni_role role = BNI_ROLE_WEIGHT;
  size_t need = 0;
  if (!out)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "out is NULL");
  bn_status st = locate(m, layer, which, 0, &p, &role, &need);
  if (st != BN_OK)
    return st;
  if (count != need)
    return bni_fail(&m->err, BN_ERR_SHAPE_MISMATCH, "count %zu, the tensor has %zu values", count,
                    need);
  const bni_part_kind_info *kind = bni_describe_kind(p->kind);
  if (which == bni_describe_role(role)->gradient) {
    memcpy(out, kind->row(p, role, 1), count * sizeof *out);
    return BN_OK;
  }
  return kind->read(p, role, out);
}

bn_status bn_mlp_set(bn_mlp *mlp, size_t layer, bn_mlp_tensor which, const float *values,
                     size_t count)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = mlp;
  bni_part *p = NULL;
  bni_role role = BNI_ROLE_WEIGHT;
  size_t need = 0;
  if (!values)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "values is NULL");
  bn_status st = locate(m, layer, which, 1, &p, &role, &need);
  if (st != BN_OK)
    return st;
  if (count != need)
    return bni_fail(&m->err, BN_ERR_SHAPE_MISMATCH, "count %zu, the tensor has %zu values", count,
                    need);
  st = bni_check_finite_vector(&m->err, "values", values, count);
  if (st != BN_OK)
    return st;
  bni_mlp_forget_extents(m);
  st = bni_describe_kind(p->kind)->write(p, role, values);
  if (st != BN_OK)
    return bni_fail(&m->err, st, "%s", p->bn ? bn_batchnorm_last_error(p->bn)
                                             : "the layer rejected the values");
  return BN_OK;
}

bn_status bni_mlp_check_data(bn_mlp *m, size_t n, const float *x, size_t ldx,
                             const int32_t *labels, const float *targets)
{
  bn_status st = bni_check_matrix(&m->err, "x", x, m->inputs, n, ldx);
  if (st != BN_OK)
    return st;
  if (m->head == BN_MLP_HEAD_SOFTMAX) {
    if (!labels)
      return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "labels is NULL (softmax head)");
    if (targets)
      return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT,
                      "targets must be NULL with the softmax head (it takes labels)");
    for (size_t j = 0; j < n; j++)
      if (labels[j] < 0 || (uint64_t)labels[j] >= (uint64_t)m->outputs)
        return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "label %zu is %ld, outside [0, %zu)", j,
                        (long)labels[j], m->outputs);
    return BN_OK;
  }
  if (!targets)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "targets is NULL (sigmoid head)");
  if (labels)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT,
                    "labels must be NULL with the sigmoid head (it takes targets)");
  size_t count;
  if (!bni_mul_size(n, m->outputs, &count))
    return bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "targets size overflows");
  for (size_t i = 0; i < count; i++)
    if (!(targets[i] >= 0.0f && targets[i] <= 1.0f))
      return bni_fail(&m->err, isfinite(targets[i]) ? BN_ERR_INVALID_ARGUMENT : BN_ERR_NON_FINITE,
                      "target %zu is %g, outside [0, 1]", i, (double)targets[i]);
  return BN_OK;
}

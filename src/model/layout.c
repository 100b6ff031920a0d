/* The kind table and the layout plan (layout.h). */
#include <string.h>
#include "layout.h"
#include "../core/checks.h"
#include "../layers/batchnorm_rows.h"
#include "../layers/dense_internal.h"

static const bni_role_info ROLES[BNI_ROLE_COUNT] = {
  [BNI_ROLE_WEIGHT] = {BN_MLP_WEIGHT, BN_MLP_DWEIGHT, 1, 0, 1},
  [BNI_ROLE_BIAS] = {BN_MLP_BIAS, BN_MLP_DBIAS, 0, 0, 0},
  [BNI_ROLE_GAMMA] = {BN_MLP_GAMMA, BN_MLP_DGAMMA, 0, 0, 0},
  [BNI_ROLE_BETA] = {BN_MLP_BETA, BN_MLP_DBETA, 0, 0, 0},
  [BNI_ROLE_RUNNING_MEAN] = {BN_MLP_RUNNING_MEAN, 0, 0, 0, 0},
  [BNI_ROLE_RUNNING_VAR] = {BN_MLP_RUNNING_VAR, 0, 0, 1, 0},
};

const bni_role_info *bni_describe_role(bni_role role)
{
  return &ROLES[role];
}

/* ---- dense ----------------------------------------------------------------- */

static bn_status dense_create(bni_part *p, unsigned flags)
{
  (void)flags;
  return bn_dense_create(&p->dense, p->in, p->out,
                         p->kind == BNI_PART_DENSE_NO_BIAS ? (unsigned)BN_DENSE_NO_BIAS : 0u);
}

static void dense_destroy(bni_part *p)
{
  bn_dense_destroy(p->dense);
  p->dense = NULL;
}

static float *dense_row(bni_part *p, bni_role role, int gradient)
{
  if (role == BNI_ROLE_WEIGHT)
    return gradient ? bni_dense_dweight(p->dense) : bni_dense_weight(p->dense);
  return gradient ? bni_dense_dbias(p->dense) : bni_dense_bias(p->dense);
}

static bn_status dense_read(const bni_part *p, bni_role role, float *out)
{
  const float *src =
      role == BNI_ROLE_WEIGHT ? bni_dense_weight_const(p->dense) : bni_dense_bias_const(p->dense);
  memcpy(out, src, bni_part_tensor_size(p, role) * sizeof *out);
  return BN_OK;
}

static bn_status dense_write(bni_part *p, bni_role role, const float *values)
{
  memcpy(dense_row(p, role, 0), values, bni_part_tensor_size(p, role) * sizeof *values);
  return BN_OK;
}

/* ---- BatchNorm ------------------------------------------------------------- */

static bn_status batchnorm_create(bni_part *p, unsigned flags)
{
  return bn_batchnorm_create(&p->bn, p->out,
                             (flags & BN_MLP_BIASED_RUNNING_VAR)
                                 ? (unsigned)BN_BATCHNORM_BIASED_RUNNING_VAR
                                 : 0u);
}

static void batchnorm_destroy(bni_part *p)
{
  bn_batchnorm_destroy(p->bn);
  p->bn = NULL;
}

static float *batchnorm_row(bni_part *p, bni_role role, int gradient)
{
  if (role == BNI_ROLE_GAMMA)
    return gradient ? bni_batchnorm_dgamma(p->bn) : bni_batchnorm_gamma(p->bn);
  return gradient ? bni_batchnorm_dbeta(p->bn) : bni_batchnorm_beta(p->bn);
}

/* The running statistics live behind the layer's API (it validates them). */
static bn_batchnorm_tensor running(bni_role role)
{
  return role == BNI_ROLE_RUNNING_MEAN ? BN_BATCHNORM_RUNNING_MEAN : BN_BATCHNORM_RUNNING_VAR;
}

static bn_status batchnorm_read(const bni_part *p, bni_role role, float *out)
{
  if (role == BNI_ROLE_GAMMA || role == BNI_ROLE_BETA) {
    memcpy(out, batchnorm_row((bni_part *)(uintptr_t)p, role, 0), p->out * sizeof *out);
    return BN_OK;
  }
  return bn_batchnorm_get(p->bn, running(role), out, p->out);
}

static bn_status batchnorm_write(bni_part *p, bni_role role, const float *values)
{
  if (role == BNI_ROLE_GAMMA || role == BNI_ROLE_BETA) {
    memcpy(batchnorm_row(p, role, 0), values, p->out * sizeof *values);
    return BN_OK;
  }
  return bn_batchnorm_set(p->bn, running(role), values, p->out);
}

static bn_status batchnorm_get_counter(const bni_part *p, uint64_t *value)
{
  return bn_batchnorm_batches_tracked(p->bn, value);
}

static bn_status batchnorm_set_counter(bni_part *p, uint64_t value)
{
  return bn_batchnorm_set_batches_tracked(p->bn, value);
}

/* ---- the kind table -------------------------------------------------------- */

static const bni_part_kind_info KINDS[BNI_PART_KIND_COUNT] = {
  [BNI_PART_DENSE] = {"dense", 0, 2, {BNI_ROLE_WEIGHT, BNI_ROLE_BIAS}, dense_create,
                      dense_destroy, dense_row, dense_read, dense_write, NULL, NULL},
  [BNI_PART_DENSE_NO_BIAS] = {"dense (no bias)", 0, 1, {BNI_ROLE_WEIGHT}, dense_create,
                              dense_destroy, dense_row, dense_read, dense_write, NULL, NULL},
  [BNI_PART_BATCHNORM] = {"BatchNorm", 1, 4,
                          {BNI_ROLE_GAMMA, BNI_ROLE_BETA, BNI_ROLE_RUNNING_MEAN,
                           BNI_ROLE_RUNNING_VAR},
                          batchnorm_create, batchnorm_destroy, batchnorm_row, batchnorm_read,
                          batchnorm_write, batchnorm_get_counter, batchnorm_set_counter},
};

const bni_part_kind_info *bni_describe_kind(bni_part_kind kind)
{
  return &KINDS[kind];
}

size_t bni_part_tensor_size(const bni_part *part, bni_role role)
{
  return ROLES[role].matrix ? part->in * part->out : part->out;
}

int bni_part_holds(const bni_part *part, bni_role role)
{
  const bni_part_kind_info *k = &KINDS[part->kind];
  for (size_t t = 0; t < k->ntensors; t++)
    if (k->tensors[t] == role)
      return 1;
  return 0;
}

/* ---- the plan -------------------------------------------------------------- */

size_t bni_layout_max_parts(size_t layers)
{
  return 1 + 2 * (layers + 1);
}

static bni_part *add(bni_part *parts, size_t *n, bni_part_kind kind, size_t layer, size_t in,
                     size_t out)
{
  bni_part *p = &parts[(*n)++];
  memset(p, 0, sizeof *p);
  p->kind = kind;
  p->layer = layer;
  p->in = in;
  p->out = out;
  return p;
}

size_t bni_layout_plan(const bni_shape *s, bni_part *parts)
{
  size_t n = 0, in = s->inputs;
  if (s->flags & BN_MLP_INPUT_BATCHNORM)
    add(parts, &n, BNI_PART_BATCHNORM, 0, in, in);
  for (size_t i = 1; i <= s->layers + 1; i++) {
    const int head = i == s->layers + 1;
    const size_t out = head ? s->outputs : s->hidden[i - 1];
    /* A dense layer followed by BatchNorm needs no bias: beta shifts. */
    const int bn = !head && s->placement != BN_MLP_BN_NONE;
    const int bn_before_act = bn && s->placement == BN_MLP_BN_BEFORE;
    add(parts, &n, bn_before_act ? BNI_PART_DENSE_NO_BIAS : BNI_PART_DENSE, i, in, out);
    if (bn)
      add(parts, &n, BNI_PART_BATCHNORM, i, out, out)->after_dense = bn_before_act;
    in = out;
  }
  return n;
}

bn_status bni_layout_totals(const bni_part *parts, size_t nparts, uint64_t *trainable,
                            uint64_t *file_bytes)
{
  uint64_t params = 0, values = 0, bytes = 0, t;
  for (size_t k = 0; k < nparts; k++) {
    const bni_part *p = &parts[k];
    const bni_part_kind_info *kind = &KINDS[p->kind];
    if (kind->counter && !bni_add_u64(&bytes, 8))
      return BN_ERR_SIZE_OVERFLOW;
    for (size_t r = 0; r < kind->ntensors; r++) {
      const bni_role role = kind->tensors[r];
      uint64_t count = p->out;
      if (ROLES[role].matrix && !bni_mul_u64(p->in, p->out, &count))
        return BN_ERR_SIZE_OVERFLOW;
      if (!bni_add_u64(&values, count) || (ROLES[role].gradient && !bni_add_u64(&params, count)))
        return BN_ERR_SIZE_OVERFLOW;
    }
  }
  if (!bni_mul_u64(values, 4, &t) || !bni_add_u64(&bytes, t))
    return BN_ERR_SIZE_OVERFLOW;
  *trainable = params;
  *file_bytes = bytes;
  return BN_OK;
}

/* Model files (docs/model-format.md): a versioned little-endian layout with
 * an architecture header, then every part of the network's layout
 * (layout.h) with its tensors, optional optimizer state and a CRC-32 (the
 * blob framing of core/blob.h); written atomically, read with every size
 * bounded by the bytes actually present, in three steps: parse the header,
 * validate everything, build the network. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "mlp_internal.h"
#include "../core/blob.h"
#include "../core/checks.h"
#include "../core/file_io.h"

static const unsigned char MAGIC[8] = {0x89, 'B', 'N', 'M', '\r', '\n', 0x1A, '\n'};
#define HEADER_BYTES 136u
#define COMMON_HEADER_BYTES 24u /* magic, version, flags, size: in every version */
/* What each format version may hold; a file is written in the oldest
 * version that holds the network, so files of plain networks stay readable
 * by libraries that read only version 1. */
#define FORMAT1_FLAGS                                                                          \
  (BN_MLP_FILE_INPUT_BATCHNORM | BN_MLP_FILE_OPTIMIZER | BN_MLP_FILE_BIASED_RUNNING_VAR)
#define FORMAT2_FLAGS                                                                          \
  (FORMAT1_FLAGS | BN_MLP_FILE_STANDARDIZER | BN_MLP_FILE_HEAD_BATCHNORM |                      \
   BN_MLP_FILE_TRAINING_RECORD | BN_MLP_FILE_RENORM)
#define RENORM_BYTES 16u /* f32 rmax, f32 dmax, u32 schedule, u32 reserved */
#define WHAT "model file"

/* ---- the header ------------------------------------------------------------ */

/* The fixed fields, in file order (put_header and get_header are the one
 * statement of that order). */
typedef struct header {
  uint32_t version, flags;
  uint64_t bytes, inputs, outputs;
  uint32_t layers, activation, placement, head;
  float elu_alpha, bn_eps, bn_factor;
  uint32_t decay_all, reserved;
  bni_optimizer opt; /* kind, lr, momentum, beta1, beta2, eps, weight decay, step */
  /* not in the fixed header: the training record's size (format 2), from
   * the section after the widths */
  uint64_t record_bytes;
  /* the renorm section (format 2, BN_MLP_FILE_RENORM), after the widths */
  float renorm_rmax, renorm_dmax;
  uint32_t renorm_schedule, renorm_reserved;
} header;

/* The flags word a format version may hold. */
static uint32_t known_flags(uint32_t version)
{
  return version == 1 ? FORMAT1_FLAGS : FORMAT2_FLAGS;
}

static void put_header(bni_writer *w, const header *h)
{
  bni_put_bytes(w, MAGIC, sizeof MAGIC);
  bni_put_u32(w, h->version);
  bni_put_u32(w, h->flags);
  bni_put_u64(w, h->bytes);
  bni_put_u64(w, h->inputs);
  bni_put_u64(w, h->outputs);
  bni_put_u32(w, h->layers);
  bni_put_u32(w, h->activation);
  bni_put_u32(w, h->placement);
  bni_put_u32(w, h->head);
  bni_put_f32(w, h->elu_alpha);
  bni_put_f32(w, h->bn_eps);
  bni_put_f32(w, h->bn_factor);
  bni_put_u32(w, (uint32_t)h->opt.kind);
  bni_put_u32(w, h->decay_all);
  bni_put_u32(w, h->reserved);
  bni_put_f64(w, h->opt.lr);
  bni_put_f64(w, h->opt.momentum);
  bni_put_f64(w, h->opt.beta1);
  bni_put_f64(w, h->opt.beta2);
  bni_put_f64(w, h->opt.eps);
  bni_put_f64(w, h->opt.weight_decay);
  bni_put_u64(w, h->opt.step);
}

/* The reader stands after the magic and version. */
static void get_header(bni_reader *r, header *h)
{
  h->flags = bni_get_u32(r);
  h->bytes = bni_get_u64(r);
  h->inputs = bni_get_u64(r);
  h->outputs = bni_get_u64(r);
  h->layers = bni_get_u32(r);
  h->activation = bni_get_u32(r);
  h->placement = bni_get_u32(r);
  h->head = bni_get_u32(r);
  h->elu_alpha = bni_get_f32(r);
  h->bn_eps = bni_get_f32(r);
  h->bn_factor = bni_get_f32(r);
  h->opt.kind = (int)bni_get_u32(r);
  h->decay_all = bni_get_u32(r);
  h->reserved = bni_get_u32(r);
  h->opt.lr = bni_get_f64(r);
  h->opt.momentum = bni_get_f64(r);
  h->opt.beta1 = bni_get_f64(r);
  h->opt.beta2 = bni_get_f64(r);
  h->opt.eps = bni_get_f64(r);
  h->opt.weight_decay = bni_get_f64(r);
  h->opt.step = bni_get_u64(r);
  h->opt.decay_all = (int)(h->decay_all & 1u);
}

static header header_of(const bn_mlp *m, unsigned flags)
{
  const int with_opt = (flags & BN_MLP_SAVE_OPTIMIZER) != 0;
  header h = {0};
  h.flags = (m->input_bn ? (unsigned)BN_MLP_FILE_INPUT_BATCHNORM : 0u) |
            (with_opt ? (unsigned)BN_MLP_FILE_OPTIMIZER : 0u) |
            ((m->flags & BN_MLP_BIASED_RUNNING_VAR) ? (unsigned)BN_MLP_FILE_BIASED_RUNNING_VAR : 0u) |
            ((m->flags & BN_MLP_STANDARDIZE) ? (unsigned)BN_MLP_FILE_STANDARDIZER : 0u) |
            ((m->flags & BN_MLP_HEAD_BATCHNORM) ? (unsigned)BN_MLP_FILE_HEAD_BATCHNORM : 0u) |
            (m->record_size ? (unsigned)BN_MLP_FILE_TRAINING_RECORD : 0u) |
            ((m->flags & BN_MLP_RENORM) ? (unsigned)BN_MLP_FILE_RENORM : 0u);
  h.version = (h.flags & ~(uint32_t)FORMAT1_FLAGS) ? 2u : 1u;
  h.record_bytes = m->record_size;
  h.renorm_rmax = m->renorm_rmax;
  h.renorm_dmax = m->renorm_dmax;
  h.renorm_schedule = (uint32_t)m->renorm_schedule;
  h.inputs = m->inputs;
  h.outputs = m->outputs;
  h.layers = (uint32_t)m->layers;
  h.activation = (uint32_t)m->act;
  h.placement = (uint32_t)m->placement;
  h.head = (uint32_t)m->head;
  h.elu_alpha = m->elu_alpha;
  h.bn_eps = m->bn_eps;
  h.bn_factor = m->bn_factor;
  h.opt = m->opt;
  h.decay_all = (uint32_t)m->opt.decay_all;
  if (!with_opt)
    h.opt.step = 0;
  return h;
}

/* The creation flags a header describes. */
static unsigned mlp_flags(const header *h)
{
  return ((h->flags & BN_MLP_FILE_INPUT_BATCHNORM) ? (unsigned)BN_MLP_INPUT_BATCHNORM : 0u) |
         ((h->flags & BN_MLP_FILE_BIASED_RUNNING_VAR) ? (unsigned)BN_MLP_BIASED_RUNNING_VAR : 0u) |
         ((h->flags & BN_MLP_FILE_STANDARDIZER) ? (unsigned)BN_MLP_STANDARDIZE : 0u) |
         ((h->flags & BN_MLP_FILE_HEAD_BATCHNORM) ? (unsigned)BN_MLP_HEAD_BATCHNORM : 0u) |
         ((h->flags & BN_MLP_FILE_RENORM) ? (unsigned)BN_MLP_RENORM : 0u);
}

/* Bytes of a file with this header and these parts; 0 on overflow. */
static uint64_t file_bytes(const header *h, const bni_part *parts, size_t nparts)
{
  uint64_t total = HEADER_BYTES + 8u * (uint64_t)h->layers + 4u, trainable, body, moments;
  if (bni_layout_totals(parts, nparts, &trainable, &body) != BN_OK || !bni_add_u64(&total, body))
    return 0;
  if ((h->flags & BN_MLP_FILE_TRAINING_RECORD) &&
      (!bni_add_u64(&total, 8) || !bni_add_u64(&total, h->record_bytes)))
    return 0;
  if ((h->flags & BN_MLP_FILE_RENORM) && !bni_add_u64(&total, RENORM_BYTES))
    return 0;
  if ((h->flags & BN_MLP_FILE_OPTIMIZER) &&
      (!bni_mul_u64(trainable, 4 * bni_optimizer_moments(h->opt.kind), &moments) ||
       !bni_add_u64(&total, moments)))
    return 0;
  return total;
}

/* ---- writing --------------------------------------------------------------- */

bn_status bn_mlp_serialized_size(const bn_mlp *mlp, unsigned flags, size_t *size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!size)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "size is NULL");
  if (flags & ~(unsigned)BN_MLP_SAVE_OPTIMIZER)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown save flags 0x%x", flags);
  const header h = header_of(m, flags);
  uint64_t bytes = file_bytes(&h, m->part, m->nparts);
  if (bytes == 0 || bytes > SIZE_MAX)
    return bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "the model's size overflows");
  *size = (size_t)bytes;
  return BN_OK;
}

/* A part: its counter, then its tensors (trainable ones straight from the
 * layer's rows, the others through tmp). */
static bn_status put_part(bni_writer *w, bni_part *p, float *tmp)
{
  const bni_part_kind_info *kind = bni_describe_kind(p->kind);
  bn_status st = BN_OK;
  if (kind->counter) {
    uint64_t counter = 0;
    st = kind->get_counter(p, &counter);
    bni_put_u64(w, counter);
  }
  size_t blob = 0;
  if (st == BN_OK && kind->blob_bytes && kind->blob_bytes(p, &blob)) {
    if (w->capacity - w->pos < blob)
      w->overflow = 1;
    else if ((st = kind->put_blob(p, w->data + w->pos, blob)) == BN_OK)
      w->pos += blob;
  }
  for (size_t t = 0; t < kind->ntensors && st == BN_OK; t++) {
    const bni_role role = kind->tensors[t];
    const float *values = tmp;
    if (bni_describe_role(role)->gradient)
      values = kind->row(p, role, 0);
    else
      st = kind->read(p, role, tmp);
    bni_put_f32s(w, values, bni_part_tensor_size(p, role));
  }
  return st;
}

bn_status bn_mlp_serialize(const bn_mlp *mlp, unsigned flags, void *buffer, size_t capacity,
                           size_t *written)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  size_t need;
  bn_status st = bn_mlp_serialized_size(m, flags, &need);
  if (st != BN_OK)
    return st;
  if (!buffer)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  if (capacity < need)
    return bni_fail(&m->err, BN_ERR_BAD_SIZE, "buffer of %zu bytes, the model needs %zu",
                    capacity, need);
  float *tmp = malloc(m->widest * sizeof *tmp);
  if (!tmp)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  header h = header_of(m, flags);
  h.bytes = need;
  bni_writer w = {buffer, capacity, 0, 0};
  put_header(&w, &h);
  for (size_t i = 0; i < m->layers; i++)
    bni_put_u64(&w, (uint64_t)m->stage[i].out);
  if (h.flags & BN_MLP_FILE_RENORM) {
    bni_put_f32(&w, h.renorm_rmax);
    bni_put_f32(&w, h.renorm_dmax);
    bni_put_u32(&w, h.renorm_schedule);
    bni_put_u32(&w, 0);
  }
  if (h.flags & BN_MLP_FILE_TRAINING_RECORD) {
    bni_put_u64(&w, h.record_bytes);
    bni_put_bytes(&w, m->record, m->record_size);
  }
  for (size_t k = 0; k < m->nparts && st == BN_OK; k++)
    st = put_part(&w, &m->part[k], tmp);
  for (size_t k = 0; (h.flags & BN_MLP_FILE_OPTIMIZER) && k < bni_optimizer_moments(m->opt.kind);
       k++)
    bni_put_f32s(&w, k == 0 ? m->moment1 : m->moment2, m->nparams);
  free(tmp);
  if (st == BN_OK && (w.overflow || w.pos + 4 != need))
    st = bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "internal error: wrote %zu bytes, planned %zu",
                  w.pos + 4, need);
  if (st != BN_OK)
    return st;
  bni_blob_seal(&w);
  if (written)
    *written = w.pos;
  return BN_OK;
}

/* ---- reading: parse -------------------------------------------------------- */

static void set_message(char *message, size_t capacity, const bni_error *err)
{
  if (message && capacity)
    snprintf(message, capacity, "%s", err->text);
}

/* A short file is judged on the bytes it has, so a short foreign file is
 * foreign rather than truncated. */
static bn_status check_magic(const void *bytes, size_t size, bni_error *err)
{
  if (memcmp(bytes, MAGIC, size < sizeof MAGIC ? size : sizeof MAGIC) != 0)
    return bni_fail(err, BN_ERR_BAD_MAGIC, "not a libbn model file (bad magic)");
  return BN_OK;
}

/* Magic and version; the reader then stands after the version. */
static bn_status open_frame(bni_reader *r, const unsigned char *bytes, size_t size,
                            bni_error *err)
{
  if (check_magic(bytes, size, err) != BN_OK)
    return BN_ERR_BAD_MAGIC;
  uint32_t version = BN_MLP_FORMAT_VERSION;
  if (size >= sizeof MAGIC + 4) {
    bni_reader peek = {bytes, size, sizeof MAGIC, 0};
    version = bni_get_u32(&peek);
    if (version == 0 || version > BN_MLP_FORMAT_VERSION)
      return bni_fail(err, BN_ERR_VERSION_MISMATCH,
                      "%s format version %u: this library reads versions 1 to %u "
                      "(a newer libbn wrote it)",
                      WHAT, (unsigned)version, (unsigned)BN_MLP_FORMAT_VERSION);
  }
  return bni_blob_open_magic(r, bytes, size, sizeof MAGIC, MAGIC, sizeof MAGIC, version, WHAT,
                             err);
}

/* The framing (magic, version, declared size, checksum) and the header. */
static bn_status parse(const unsigned char *bytes, size_t size, bni_reader *r, header *h,
                       bni_error *err)
{
  bn_status st = open_frame(r, bytes, size, err);
  if (st != BN_OK)
    return st;
  if (size < HEADER_BYTES + 4)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated: %zu bytes, shorter than the header", size);
  r->pos = sizeof MAGIC;
  h->version = bni_get_u32(r);
  get_header(r, h);
  if (h->bytes != (uint64_t)size)
    return bni_fail(err, BN_ERR_BAD_SIZE, "%s: the header says %llu bytes, there are %zu",
                    h->bytes > size ? "truncated" : "trailing bytes",
                    (unsigned long long)h->bytes, size);
  return bni_blob_verify(bytes, size, 1, WHAT, err);
}

/* ---- reading: validate ----------------------------------------------------- */

/* The header's architecture and training settings. */
static bn_status check_header(const header *h, bni_error *err)
{
  const bn_status st = BN_ERR_BAD_FORMAT;
  if (h->flags & ~known_flags(h->version))
    return bni_fail(err, st, "flags 0x%x are unknown in format version %u", (unsigned)h->flags,
                    (unsigned)h->version);
  if (h->reserved != 0 || h->decay_all > 1)
    return bni_fail(err, st, "reserved header fields are not zero");
  if (h->layers > BN_MLP_MAX_LAYERS)
    return bni_fail(err, st, "%u hidden layers (at most %u)", (unsigned)h->layers,
                    BN_MLP_MAX_LAYERS);
  if (h->inputs == 0 || h->outputs == 0 || h->inputs > SIZE_MAX || h->outputs > SIZE_MAX)
    return bni_fail(err, st, "zero or huge input/output size");
  if (!((h->activation == BN_ACT_RELU || h->activation == BN_ACT_ELU ||
         h->activation == BN_ACT_SIGMOID || h->activation == BN_ACT_TANH) &&
        h->placement <= BN_MLP_BN_AFTER && (h->layers > 0 || h->placement == BN_MLP_BN_NONE) &&
        (h->head == BN_MLP_HEAD_SOFTMAX || h->head == BN_MLP_HEAD_SIGMOID) &&
        (h->head != BN_MLP_HEAD_SOFTMAX || h->outputs >= 2)))
    return bni_fail(err, st, "invalid activation, placement or head");
  const bni_optimizer *o = &h->opt;
  if (bni_mlp_check_param(err, BN_MLP_OPTIMIZER, (double)o->kind) ||
      bni_mlp_check_param(err, BN_MLP_LEARNING_RATE, o->lr) ||
      bni_mlp_check_param(err, BN_MLP_MOMENTUM_COEF, o->momentum) ||
      bni_mlp_check_param(err, BN_MLP_ADAM_BETA1, o->beta1) ||
      bni_mlp_check_param(err, BN_MLP_ADAM_BETA2, o->beta2) ||
      bni_mlp_check_param(err, BN_MLP_ADAM_EPSILON, o->eps) ||
      bni_mlp_check_param(err, BN_MLP_WEIGHT_DECAY, o->weight_decay) ||
      bni_mlp_check_param(err, BN_MLP_ELU_ALPHA, (double)h->elu_alpha) ||
      bni_mlp_check_param(err, BN_MLP_BN_EPSILON, (double)h->bn_eps) ||
      bni_mlp_check_param(err, BN_MLP_BN_UPDATE_FACTOR, (double)h->bn_factor) ||
      bni_mlp_check_param(err, BN_MLP_STEP, (double)o->step) ||
      (o->step > 0 && !(h->flags & BN_MLP_FILE_OPTIMIZER))) {
    char detail[BNI_ERROR_CAPACITY];
    snprintf(detail, sizeof detail, "%s", err->text);
    return bni_fail(err, st, "invalid training settings (%s)", detail);
  }
  return BN_OK;
}

/* The hidden widths into hidden (room for BN_MLP_MAX_LAYERS), bounded by
 * the bytes present. */
static bn_status get_widths(bni_reader *r, const header *h, size_t *hidden, bni_error *err)
{
  if ((uint64_t)(r->size - r->pos) < 8u * (uint64_t)h->layers)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated inside the layer widths");
  for (uint32_t i = 0; i < h->layers; i++) {
    uint64_t width = bni_get_u64(r);
    if (width == 0 || width > SIZE_MAX)
      return bni_fail(err, BN_ERR_BAD_FORMAT, "hidden layer %u has width %llu", i + 1,
                      (unsigned long long)width);
    hidden[i] = (size_t)width;
  }
  return BN_OK;
}

/* The renorm section: the limits every BatchNorm uses. */
static bn_status get_renorm(bni_reader *r, header *h, bni_error *err)
{
  if (r->size - r->pos < RENORM_BYTES)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated inside the renorm settings");
  h->renorm_rmax = bni_get_f32(r);
  h->renorm_dmax = bni_get_f32(r);
  h->renorm_schedule = bni_get_u32(r);
  h->renorm_reserved = bni_get_u32(r);
  if (bni_mlp_check_param(err, BN_MLP_RENORM_RMAX, (double)h->renorm_rmax) ||
      bni_mlp_check_param(err, BN_MLP_RENORM_DMAX, (double)h->renorm_dmax) ||
      h->renorm_schedule > 1 || h->renorm_reserved != 0)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "invalid renorm settings (rmax %g, dmax %g, "
                    "schedule %u)", (double)h->renorm_rmax, (double)h->renorm_dmax,
                    (unsigned)h->renorm_schedule);
  return BN_OK;
}

/* The training record's size (the reader then stands after the record):
 * bounded by the limit and by the bytes present. */
static bn_status get_record_size(bni_reader *r, header *h, bni_error *err)
{
  if (r->size - r->pos < 8)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated inside the training record's size");
  h->record_bytes = bni_get_u64(r);
  if (h->record_bytes == 0 || h->record_bytes > BN_MLP_MAX_TRAINING_RECORD)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "training record of %llu bytes (1 to %u allowed)",
                    (unsigned long long)h->record_bytes, (unsigned)BN_MLP_MAX_TRAINING_RECORD);
  if ((uint64_t)(r->size - r->pos) < h->record_bytes)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated inside the training record");
  r->pos += (size_t)h->record_bytes;
  return BN_OK;
}

/* n floats at the reader's position: finite, and >= 0 when nonneg. */
static int scan_floats(bni_reader *r, uint64_t n, int nonneg)
{
  for (uint64_t i = 0; i < n; i++) {
    float v = bni_get_f32(r);
    if (!isfinite(v) || (nonneg && v < 0.0f))
      return 0;
  }
  return !r->overrun;
}

/* Every value of the body, without allocating. */
static bn_status scan_body(bni_reader *r, const header *h, const bni_part *parts, size_t nparts,
                           uint64_t trainable, bni_error *err)
{
  for (size_t k = 0; k < nparts; k++) {
    const bni_part *p = &parts[k];
    const bni_part_kind_info *kind = bni_describe_kind(p->kind);
    if (kind->counter)
      (void)bni_get_u64(r);
    size_t blob = 0;
    if (kind->blob_bytes && kind->blob_bytes(p, &blob)) {
      bn_status st = kind->check_blob(p, r->data + r->pos, blob, err);
      if (st != BN_OK) {
        char detail[BNI_ERROR_CAPACITY];
        snprintf(detail, sizeof detail, "%s", err->text);
        return bni_fail(err, BN_ERR_BAD_FORMAT, "layer %zu: %s: %s", p->layer, kind->name,
                        detail);
      }
      r->pos += blob;
    }
    for (size_t t = 0; t < kind->ntensors; t++) {
      const bni_role role = kind->tensors[t];
      if (!scan_floats(r, bni_part_tensor_size(p, role), bni_describe_role(role)->nonnegative))
        return bni_fail(err, BN_ERR_BAD_FORMAT, "layer %zu: %s holds an invalid value",
                        p->layer, kind->name);
    }
  }
  if (h->flags & BN_MLP_FILE_OPTIMIZER) {
    size_t k = bni_optimizer_moments(h->opt.kind);
    if ((k > 0 && !scan_floats(r, trainable, 0)) || (k > 1 && !scan_floats(r, trainable, 1)))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "optimizer state holds an invalid value");
  }
  return BN_OK;
}

/* The header, the widths, the size the architecture implies and every
 * value; on BN_OK the reader stands at the body. */
static bn_status validate(bni_reader *r, header *h, size_t *hidden, bni_part *parts,
                          bni_error *err)
{
  bn_status st = check_header(h, err);
  if (st == BN_OK)
    st = get_widths(r, h, hidden, err);
  if (st == BN_OK && (h->flags & BN_MLP_FILE_RENORM))
    st = get_renorm(r, h, err);
  if (st == BN_OK && (h->flags & BN_MLP_FILE_TRAINING_RECORD))
    st = get_record_size(r, h, err);
  if (st != BN_OK)
    return st;
  const bni_shape shape = {(size_t)h->inputs, (size_t)h->outputs, h->layers, hidden,
                           (bn_mlp_placement)h->placement, mlp_flags(h)};
  const size_t nparts = bni_layout_plan(&shape, parts);
  uint64_t expected = file_bytes(h, parts, nparts), trainable = 0, body = 0;
  if (expected != (uint64_t)r->size)
    return bni_fail(err, BN_ERR_BAD_SIZE, "the architecture needs %llu bytes, the file has %zu",
                    (unsigned long long)expected, r->size);
  (void)bni_layout_totals(parts, nparts, &trainable, &body); /* fits: file_bytes checked */
  const size_t start = r->pos;
  st = scan_body(r, h, parts, nparts, trainable, err);
  r->pos = start;
  return st;
}

/* ---- reading: build -------------------------------------------------------- */

static bn_status get_part(bni_reader *r, bni_part *p, float *tmp)
{
  const bni_part_kind_info *kind = bni_describe_kind(p->kind);
  bn_status st = kind->counter ? kind->set_counter(p, bni_get_u64(r)) : BN_OK;
  size_t blob = 0;
  if (st == BN_OK && kind->blob_bytes && kind->blob_bytes(p, &blob) &&
      (st = kind->get_blob(p, r->data + r->pos, blob)) == BN_OK)
    r->pos += blob;
  for (size_t t = 0; t < kind->ntensors && st == BN_OK; t++) {
    const bni_role role = kind->tensors[t];
    const size_t n = bni_part_tensor_size(p, role);
    if (bni_describe_role(role)->gradient) {
      bni_get_f32s(r, kind->row(p, role, 0), n);
    } else {
      bni_get_f32s(r, tmp, n);
      st = kind->write(p, role, tmp);
    }
  }
  return st;
}

/* A network from a validated header and body. */
static bn_status build(bn_mlp **out, bni_reader *r, const header *h, const size_t *hidden,
                       bni_error *err)
{
  bn_mlp *m = NULL;
  bn_status st = bn_mlp_create(&m, (size_t)h->inputs, hidden, h->layers, (size_t)h->outputs,
                               (bn_activation)h->activation, (bn_mlp_placement)h->placement,
                               (bn_mlp_head)h->head, mlp_flags(h));
  if (st != BN_OK)
    return bni_fail(err, st, "cannot create the network: %s", bn_status_string(st));
  m->opt = h->opt;
  m->elu_alpha = h->elu_alpha;
  if (bni_mlp_bn_count(m))
    st = bn_mlp_set_parameter(m, BN_MLP_BN_EPSILON, (double)h->bn_eps);
  if (st == BN_OK && bni_mlp_bn_count(m))
    st = bn_mlp_set_parameter(m, BN_MLP_BN_UPDATE_FACTOR, (double)h->bn_factor);
  m->bn_eps = h->bn_eps;
  m->bn_factor = h->bn_factor;
  if (st == BN_OK && (h->flags & BN_MLP_FILE_RENORM)) {
    m->renorm_rmax = h->renorm_rmax;
    m->renorm_dmax = h->renorm_dmax;
    m->renorm_schedule = (int)h->renorm_schedule;
    st = bni_mlp_apply_renorm(m);
  }
  /* The reader stands at the body, right after the (validated) record. */
  if (st == BN_OK && h->record_bytes)
    st = bn_mlp_set_training_record(m, r->data + r->pos - (size_t)h->record_bytes,
                                    (size_t)h->record_bytes);
  float *tmp = st == BN_OK ? malloc(m->widest * sizeof *tmp) : NULL;
  if (st == BN_OK && !tmp)
    st = BN_ERR_OUT_OF_MEMORY;
  for (size_t k = 0; k < m->nparts && st == BN_OK; k++)
    st = get_part(r, &m->part[k], tmp);
  free(tmp);
  if (st == BN_OK && (h->flags & BN_MLP_FILE_OPTIMIZER))
    for (size_t k = 0; k < bni_optimizer_moments(m->opt.kind); k++)
      bni_get_f32s(r, k == 0 ? m->moment1 : m->moment2, m->nparams);
  if (st != BN_OK) {
    bn_mlp_destroy(m);
    return bni_fail(err, st, "cannot fill the network: %s", bn_status_string(st));
  }
  *out = m;
  return BN_OK;
}

bn_status bn_mlp_deserialize(bn_mlp **out, const void *buffer, size_t size, char *message,
                             size_t capacity)
{
  bni_error err = {{0}};
  bn_status st;
  if (!out || !buffer) {
    st = bni_fail(&err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", out ? "buffer" : "out");
    set_message(message, capacity, &err);
    return st;
  }
  *out = NULL;
  bni_reader r = {buffer, size, 0, 0};
  header h = {0};
  /* Sized by the layer limit, not by the data. */
  size_t *hidden = malloc(BN_MLP_MAX_LAYERS * sizeof *hidden);
  bni_part *parts = malloc(bni_layout_max_parts(BN_MLP_MAX_LAYERS) * sizeof *parts);
  if (!hidden || !parts)
    st = bni_fail(&err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  else
    st = parse(buffer, size, &r, &h, &err);
  if (st == BN_OK)
    st = validate(&r, &h, hidden, parts, &err);
  if (st == BN_OK)
    st = build(out, &r, &h, hidden, &err);
  free(hidden);
  free(parts);
  set_message(message, capacity, &err);
  return st;
}

bn_status bn_mlp_deserialize_into(bn_mlp *mlp, const void *buffer, size_t size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  if (!buffer)
    return bni_fail(&mlp->err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  bn_mlp *loaded = NULL;
  char why[BNI_ERROR_CAPACITY] = "";
  bn_status st = bn_mlp_deserialize(&loaded, buffer, size, why, sizeof why);
  if (st != BN_OK)
    return bni_fail(&mlp->err, st, "%s", why);
  if (!bni_mlp_same_architecture(mlp, loaded)) {
    bn_mlp_destroy(loaded);
    return bni_fail(&mlp->err, BN_ERR_SHAPE_MISMATCH,
                    "the bytes hold a network of another architecture");
  }
  bni_mlp_take_model(mlp, loaded);
  bn_mlp_destroy(loaded); /* the network mlp held before */
  return BN_OK;
}

/* ---- header queries -------------------------------------------------------- */

bn_status bn_mlp_format_version(unsigned *version)
{
  if (!version)
    return BN_ERR_INVALID_ARGUMENT;
  *version = BN_MLP_FORMAT_VERSION;
  return BN_OK;
}

static bn_status read_header(const void *buffer, size_t size, unsigned *version,
                             unsigned *contents, uint64_t *bytes, bni_error *err)
{
  if (!buffer)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  if (check_magic(buffer, size, err) != BN_OK)
    return BN_ERR_BAD_MAGIC;
  if (size < COMMON_HEADER_BYTES)
    return bni_fail(err, BN_ERR_BAD_SIZE, "truncated: %zu bytes, shorter than the header", size);
  bni_reader r = {buffer, size, sizeof MAGIC, 0};
  const uint32_t v = bni_get_u32(&r), flags = bni_get_u32(&r);
  const uint64_t declared = bni_get_u64(&r);
  if (version)
    *version = v;
  if (contents)
    *contents = flags;
  if (bytes)
    *bytes = declared;
  return BN_OK;
}

bn_status bn_mlp_read_header(const void *buffer, size_t size, unsigned *version,
                             unsigned *contents, uint64_t *file_bytes)
{
  bni_error err = {{0}};
  return read_header(buffer, size, version, contents, file_bytes, &err);
}

/* ---- files ----------------------------------------------------------------- */

bn_status bn_mlp_save(const bn_mlp *mlp, const char *path, unsigned flags)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!path || !*path)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "path is NULL or empty");
  size_t size;
  bn_status st = bn_mlp_serialized_size(m, flags, &size);
  if (st != BN_OK)
    return st;
  void *buffer = malloc(size);
  if (!buffer)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "no memory for %zu bytes", size);
  st = bn_mlp_serialize(m, flags, buffer, size, NULL);
  if (st == BN_OK)
    st = bni_write_file_atomic(&m->err, path, buffer, size);
  free(buffer);
  return st;
}

/* Read path and hand its bytes to use; errors name the path. */
static bn_status with_file(const char *path, bni_error *err,
                           bn_status (*use)(const unsigned char *, size_t, void *, bni_error *),
                           void *ctx)
{
  unsigned char *data = NULL;
  size_t size = 0;
  bn_status st = bni_read_file(err, path, &data, &size);
  if (st == BN_OK) {
    st = use(data, size, ctx, err);
    if (st != BN_OK) {
      char detail[BNI_ERROR_CAPACITY];
      snprintf(detail, sizeof detail, "%s", err->text);
      bni_fail(err, st, "%s: %s", path, detail);
    }
  }
  free(data);
  return st;
}

static bn_status use_deserialize(const unsigned char *data, size_t size, void *ctx,
                                 bni_error *err)
{
  return bn_mlp_deserialize(ctx, data, size, err->text, sizeof err->text);
}

bn_status bn_mlp_load(bn_mlp **out, const char *path, char *message, size_t capacity)
{
  bni_error err = {{0}};
  bn_status st;
  if (out)
    *out = NULL;
  if (!out || !path)
    st = bni_fail(&err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", out ? "path" : "out");
  else
    st = with_file(path, &err, use_deserialize, out);
  set_message(message, capacity, &err);
  return st;
}

typedef struct header_request {
  unsigned *version;
  unsigned *contents;
  uint64_t *bytes;
} header_request;

static bn_status use_read_header(const unsigned char *data, size_t size, void *ctx,
                                 bni_error *err)
{
  header_request *q = ctx;
  return read_header(data, size, q->version, q->contents, q->bytes, err);
}

bn_status bn_mlp_read_file_header(const char *path, unsigned *version, unsigned *contents,
                                  uint64_t *file_bytes, char *message, size_t capacity)
{
  bni_error err = {{0}};
  bn_status st;
  header_request q = {version, contents, file_bytes};
  if (!path)
    st = bni_fail(&err, BN_ERR_INVALID_ARGUMENT, "path is NULL");
  else
    st = with_file(path, &err, use_read_header, &q);
  set_message(message, capacity, &err);
  return st;
}

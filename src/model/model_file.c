/* Model files (docs/model-format.md): a versioned little-endian layout with
 * an architecture header, every layer's parameters and running statistics,
 * optional optimizer state and a CRC-32; written atomically, read with every
 * size bounded by the bytes actually present. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "mlp_internal.h"
#include "../core/blob.h"
#include "../core/checks.h"

static const unsigned char MAGIC[8] = {0x89, 'B', 'N', 'M', '\r', '\n', 0x1A, '\n'};
#define HEADER_BYTES 136u
#define FLAG_INPUT_BN 1u
#define FLAG_OPTIMIZER 2u
#define FLAG_BIASED_VAR 4u /* BN_MLP_BIASED_RUNNING_VAR */

/* ---- layout -------------------------------------------------------------- */

typedef struct arch {
  uint64_t inputs, outputs, params;
  uint32_t layers, activation, placement, head, flags, opt_kind;
  const unsigned char *widths; /* L little-endian u64, inside the buffer being read */
  const size_t *hidden;        /* or L sizes, when writing */
} arch;

static uint64_t width(const arch *a, uint32_t i)
{
  if (i == a->layers)
    return a->outputs;
  if (a->hidden)
    return a->hidden[i];
  uint64_t v = 0;
  for (int k = 0; k < 8; k++)
    v |= (uint64_t)a->widths[8u * i + (unsigned)k] << (8 * k);
  return v;
}

static int add_u64(uint64_t *acc, uint64_t v)
{
  if (v > UINT64_MAX - *acc)
    return 0;
  *acc += v;
  return 1;
}

static int mul_u64(uint64_t a, uint64_t b, uint64_t *out)
{
  if (a != 0 && b > UINT64_MAX / a)
    return 0;
  *out = a * b;
  return 1;
}

/* Bytes of a file for this architecture; 0 on overflow. Also counts the
 * trainable parameters into a->params. */
static uint64_t file_bytes(arch *a)
{
  uint64_t total = HEADER_BYTES, params = 0, t;
  if (!mul_u64(a->layers, 8, &t) || !add_u64(&total, t))
    return 0;
  if (a->flags & FLAG_INPUT_BN) {
    if (!mul_u64(a->inputs, 16, &t) || !add_u64(&total, t) || !add_u64(&total, 8) ||
        !add_u64(&params, 2 * a->inputs))
      return 0;
  }
  uint64_t in = a->inputs;
  for (uint32_t i = 0; i <= a->layers; i++) {
    uint64_t out = width(a, i), w, floats;
    if (!mul_u64(in, out, &w))
      return 0;
    floats = w;
    int bias = i == a->layers || a->placement != BN_MLP_BN_BEFORE;
    int bn = i < a->layers && a->placement != BN_MLP_BN_NONE;
    if ((bias && !add_u64(&floats, out)) || !add_u64(&params, floats))
      return 0;
    if (bn && (!mul_u64(out, 4, &t) || !add_u64(&floats, t) || !add_u64(&params, t / 2) ||
               !add_u64(&total, 8)))
      return 0;
    if (!mul_u64(floats, 4, &t) || !add_u64(&total, t))
      return 0;
    in = out;
  }
  a->params = params;
  if (a->flags & FLAG_OPTIMIZER) {
    if (!mul_u64(params, 4 * bni_optimizer_moments((int)a->opt_kind), &t) || !add_u64(&total, t))
      return 0;
  }
  return add_u64(&total, 4) ? total : 0;
}

static void arch_of(const bn_mlp *m, unsigned flags, arch *a, size_t *hidden)
{
  for (size_t i = 0; i < m->layers; i++)
    hidden[i] = m->stage[i].out;
  a->inputs = m->inputs;
  a->outputs = m->outputs;
  a->layers = (uint32_t)m->layers;
  a->activation = (uint32_t)m->act;
  a->placement = (uint32_t)m->placement;
  a->head = (uint32_t)m->head;
  a->flags = (m->input_bn ? FLAG_INPUT_BN : 0u) |
             ((flags & BN_MLP_SAVE_OPTIMIZER) ? FLAG_OPTIMIZER : 0u) |
             ((m->flags & BN_MLP_BIASED_RUNNING_VAR) ? FLAG_BIASED_VAR : 0u);
  a->opt_kind = (uint32_t)m->opt.kind;
  a->widths = NULL;
  a->hidden = hidden;
}

/* ---- writing ------------------------------------------------------------- */

static void put_f64(bni_writer *w, double v)
{
  uint64_t bits;
  memcpy(&bits, &v, sizeof bits);
  bni_put_u64(w, bits);
}

static double get_f64(bni_reader *r)
{
  uint64_t bits = bni_get_u64(r);
  double v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

bn_status bn_mlp_serialized_size(const bn_mlp *mlp, unsigned flags, size_t *size)
{
  if (!mlp)
    return BN_ERR_INVALID_ARGUMENT;
  bn_mlp *m = (bn_mlp *)(uintptr_t)mlp; /* error text only */
  if (!size)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "size is NULL");
  if (flags & ~(unsigned)BN_MLP_SAVE_OPTIMIZER)
    return bni_fail(&m->err, BN_ERR_INVALID_ARGUMENT, "unknown save flags 0x%x", flags);
  size_t *hidden = malloc((m->layers + 1) * sizeof *hidden);
  if (!hidden)
    return bni_fail(&m->err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  arch a;
  arch_of(m, flags, &a, hidden);
  uint64_t bytes = file_bytes(&a);
  free(hidden);
  if (bytes == 0 || bytes > SIZE_MAX)
    return bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "the model's size overflows");
  *size = (size_t)bytes;
  return BN_OK;
}

/* Running statistics of a BatchNorm, after its gamma and beta. */
static bn_status put_bn(bni_writer *w, const bn_batchnorm *bn, size_t F, const float *gamma,
                        const float *beta, float *tmp)
{
  uint64_t tracked = 0;
  bn_status st = bn_batchnorm_batches_tracked(bn, &tracked);
  bni_put_u64(w, tracked);
  bni_put_f32s(w, gamma, F);
  bni_put_f32s(w, beta, F);
  if (st == BN_OK)
    st = bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_MEAN, tmp, F);
  bni_put_f32s(w, tmp, F);
  if (st == BN_OK)
    st = bn_batchnorm_get(bn, BN_BATCHNORM_RUNNING_VAR, tmp, F);
  bni_put_f32s(w, tmp, F);
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
  const int with_opt = (flags & BN_MLP_SAVE_OPTIMIZER) != 0;
  bni_writer w = {buffer, capacity, 0, 0};
  bni_put_bytes(&w, MAGIC, 8);
  bni_put_u32(&w, BN_MLP_FORMAT_VERSION);
  bni_put_u32(&w, (m->input_bn ? FLAG_INPUT_BN : 0u) | (with_opt ? FLAG_OPTIMIZER : 0u) |
                      ((m->flags & BN_MLP_BIASED_RUNNING_VAR) ? FLAG_BIASED_VAR : 0u));
  bni_put_u64(&w, (uint64_t)need);
  bni_put_u64(&w, (uint64_t)m->inputs);
  bni_put_u64(&w, (uint64_t)m->outputs);
  bni_put_u32(&w, (uint32_t)m->layers);
  bni_put_u32(&w, (uint32_t)m->act);
  bni_put_u32(&w, (uint32_t)m->placement);
  bni_put_u32(&w, (uint32_t)m->head);
  bni_put_f32(&w, m->elu_alpha);
  bni_put_f32(&w, m->bn_eps);
  bni_put_f32(&w, m->bn_factor);
  bni_put_u32(&w, (uint32_t)m->opt.kind);
  bni_put_u32(&w, (uint32_t)m->opt.decay_all);
  bni_put_u32(&w, 0);
  put_f64(&w, m->opt.lr);
  put_f64(&w, m->opt.momentum);
  put_f64(&w, m->opt.beta1);
  put_f64(&w, m->opt.beta2);
  put_f64(&w, m->opt.eps);
  put_f64(&w, m->opt.weight_decay);
  bni_put_u64(&w, with_opt ? m->opt.step : 0);
  for (size_t i = 0; i < m->layers; i++)
    bni_put_u64(&w, (uint64_t)m->stage[i].out);
  /* Parameters in segment order, running statistics after each BatchNorm's beta. */
  for (size_t k = 0; k < m->nseg && st == BN_OK; k++) {
    const bni_segment *s = &m->seg[k];
    const float *p = s->param;
    if (s->kind == BNI_SEG_GAMMA) { /* beta is the next segment */
      const bn_batchnorm *bn = s->layer == 0 ? m->input_bn : m->stage[s->layer - 1].bn;
      st = put_bn(&w, bn, s->count, p, m->seg[k + 1].param, tmp);
      k++; /* beta was written with gamma */
    } else {
      bni_put_f32s(&w, p, s->count);
    }
  }
  for (size_t k = 0; with_opt && k < bni_optimizer_moments(m->opt.kind); k++)
    bni_put_f32s(&w, k == 0 ? m->moment1 : m->moment2, m->nparams);
  free(tmp);
  if (st == BN_OK && (w.overflow || w.pos + 4 != need))
    st = bni_fail(&m->err, BN_ERR_SIZE_OVERFLOW, "internal error: wrote %zu bytes, planned %zu",
                  w.pos + 4, need);
  if (st != BN_OK)
    return st;
  bni_put_u32(&w, bni_crc32(0, buffer, w.pos));
  if (written)
    *written = w.pos;
  return BN_OK;
}

/* ---- reading ------------------------------------------------------------- */

static void set_message(char *message, size_t capacity, const bni_error *err)
{
  if (message && capacity)
    snprintf(message, capacity, "%s", err->text);
}

/* Check n floats at the reader's position: finite, and >= 0 when nonneg. */
static int scan_floats(bni_reader *r, uint64_t n, int nonneg)
{
  for (uint64_t i = 0; i < n; i++) {
    float v = bni_get_f32(r);
    if (!isfinite(v) || (nonneg && v < 0.0f))
      return 0;
  }
  return !r->overrun;
}

/* Validate every value of the body without allocating. */
static bn_status scan_body(bni_error *err, bni_reader *r, const arch *a)
{
  if (a->flags & FLAG_INPUT_BN) {
    (void)bni_get_u64(r);
    if (!scan_floats(r, 3 * a->inputs, 0) || !scan_floats(r, a->inputs, 1))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "input BatchNorm holds an invalid value");
  }
  uint64_t in = a->inputs;
  for (uint32_t i = 0; i <= a->layers; i++) {
    uint64_t out = width(a, i);
    int bias = i == a->layers || a->placement != BN_MLP_BN_BEFORE;
    int bn = i < a->layers && a->placement != BN_MLP_BN_NONE;
    if (!scan_floats(r, in * out + (bias ? out : 0), 0))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "layer %u: a weight or bias is not finite", i + 1);
    if (bn) {
      (void)bni_get_u64(r);
      if (!scan_floats(r, 3 * out, 0) || !scan_floats(r, out, 1))
        return bni_fail(err, BN_ERR_BAD_FORMAT, "layer %u: BatchNorm holds an invalid value",
                        i + 1);
    }
    in = out;
  }
  if (a->flags & FLAG_OPTIMIZER) {
    size_t k = bni_optimizer_moments((int)a->opt_kind);
    if ((k > 0 && !scan_floats(r, a->params, 0)) || (k > 1 && !scan_floats(r, a->params, 1)))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "optimizer state holds an invalid value");
  }
  return BN_OK;
}

static bn_status get_bn(bni_reader *r, bn_batchnorm *bn, size_t F, float *gamma, float *beta,
                        float *tmp)
{
  bn_status st = bn_batchnorm_set_batches_tracked(bn, bni_get_u64(r));
  bni_get_f32s(r, gamma, F);
  bni_get_f32s(r, beta, F);
  bni_get_f32s(r, tmp, F);
  if (st == BN_OK)
    st = bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_MEAN, tmp, F);
  bni_get_f32s(r, tmp, F);
  if (st == BN_OK)
    st = bn_batchnorm_set(bn, BN_BATCHNORM_RUNNING_VAR, tmp, F);
  return st;
}

/* Fill a freshly created network from a validated body. */
static bn_status load_body(bn_mlp *m, bni_reader *r, const arch *a)
{
  float *tmp = malloc(m->widest * sizeof *tmp);
  if (!tmp)
    return BN_ERR_OUT_OF_MEMORY;
  bn_status st = BN_OK;
  for (size_t k = 0; k < m->nseg && st == BN_OK; k++) {
    const bni_segment *s = &m->seg[k];
    float *p = s->param;
    if (s->kind == BNI_SEG_GAMMA) { /* beta is the next segment */
      bn_batchnorm *bn = s->layer == 0 ? m->input_bn : m->stage[s->layer - 1].bn;
      st = get_bn(r, bn, s->count, p, m->seg[k + 1].param, tmp);
      k++;
    } else {
      bni_get_f32s(r, p, s->count);
    }
  }
  free(tmp);
  if (a->flags & FLAG_OPTIMIZER)
    for (size_t k = 0; k < bni_optimizer_moments(m->opt.kind); k++)
      bni_get_f32s(r, k == 0 ? m->moment1 : m->moment2, m->nparams);
  return st;
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
  const unsigned char *bytes = buffer;
  bni_reader r = {bytes, size, 0, 0};
  uint32_t version = 0, flags = 0;
  uint64_t declared = 0;
  arch a = {0};
  if (memcmp(bytes, MAGIC, size < 8 ? size : 8) != 0) {
    st = bni_fail(&err, BN_ERR_BAD_MAGIC, "not a libbn model file (bad magic)");
    goto done;
  }
  if (size < 12) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE, "truncated: %zu bytes, shorter than the header", size);
    goto done;
  }
  r.pos = 8;
  version = bni_get_u32(&r);
  if (version != BN_MLP_FORMAT_VERSION) {
    st = bni_fail(&err, BN_ERR_VERSION_MISMATCH,
                  "model format version %u; this library reads version %u", (unsigned)version,
                  BN_MLP_FORMAT_VERSION);
    goto done;
  }
  if (size < HEADER_BYTES + 4) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE, "truncated: %zu bytes, shorter than the header", size);
    goto done;
  }
  flags = bni_get_u32(&r);
  declared = bni_get_u64(&r);
  if (declared != (uint64_t)size) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE, "%s: the header says %llu bytes, there are %zu",
                  declared > size ? "truncated" : "trailing bytes", (unsigned long long)declared,
                  size);
    goto done;
  }
  uint32_t stored = (uint32_t)bytes[size - 4] | (uint32_t)bytes[size - 3] << 8 |
                    (uint32_t)bytes[size - 2] << 16 | (uint32_t)bytes[size - 1] << 24;
  if (bni_crc32(0, bytes, size - 4) != stored) {
    st = bni_fail(&err, BN_ERR_CHECKSUM, "checksum mismatch: the file is corrupt");
    goto done;
  }
  a.flags = flags;
  a.inputs = bni_get_u64(&r);
  a.outputs = bni_get_u64(&r);
  a.layers = bni_get_u32(&r);
  a.activation = bni_get_u32(&r);
  a.placement = bni_get_u32(&r);
  a.head = bni_get_u32(&r);
  float alpha = bni_get_f32(&r), bn_eps = bni_get_f32(&r), bn_factor = bni_get_f32(&r);
  bni_optimizer opt;
  opt.kind = (int)(a.opt_kind = bni_get_u32(&r));
  uint32_t decay_all = bni_get_u32(&r), reserved = bni_get_u32(&r);
  opt.lr = get_f64(&r);
  opt.momentum = get_f64(&r);
  opt.beta1 = get_f64(&r);
  opt.beta2 = get_f64(&r);
  opt.eps = get_f64(&r);
  opt.weight_decay = get_f64(&r);
  opt.step = bni_get_u64(&r);
  opt.decay_all = (int)(decay_all & 1u);

  st = BN_ERR_BAD_FORMAT;
  if (flags & ~(FLAG_INPUT_BN | FLAG_OPTIMIZER | FLAG_BIASED_VAR))
    bni_fail(&err, st, "unknown flags 0x%x", (unsigned)flags);
  else if (reserved != 0 || decay_all > 1)
    bni_fail(&err, st, "reserved header fields are not zero");
  else if (a.layers > BNI_MLP_MAX_LAYERS)
    bni_fail(&err, st, "%u hidden layers (at most %u)", (unsigned)a.layers, BNI_MLP_MAX_LAYERS);
  else if (a.inputs == 0 || a.outputs == 0 || a.inputs > SIZE_MAX || a.outputs > SIZE_MAX)
    bni_fail(&err, st, "zero or huge input/output size");
  else if (!((a.activation == BN_ACT_RELU || a.activation == BN_ACT_ELU ||
              a.activation == BN_ACT_SIGMOID || a.activation == BN_ACT_TANH) &&
             a.placement <= BN_MLP_BN_AFTER && (a.layers > 0 || a.placement == BN_MLP_BN_NONE) &&
             (a.head == BN_MLP_HEAD_SOFTMAX || a.head == BN_MLP_HEAD_SIGMOID) &&
             (a.head != BN_MLP_HEAD_SOFTMAX || a.outputs >= 2)))
    bni_fail(&err, st, "invalid activation, placement or head");
  else if (bni_mlp_check_param(&err, BN_MLP_OPTIMIZER, (double)opt.kind) ||
           bni_mlp_check_param(&err, BN_MLP_LEARNING_RATE, opt.lr) ||
           bni_mlp_check_param(&err, BN_MLP_MOMENTUM_COEF, opt.momentum) ||
           bni_mlp_check_param(&err, BN_MLP_ADAM_BETA1, opt.beta1) ||
           bni_mlp_check_param(&err, BN_MLP_ADAM_BETA2, opt.beta2) ||
           bni_mlp_check_param(&err, BN_MLP_ADAM_EPSILON, opt.eps) ||
           bni_mlp_check_param(&err, BN_MLP_WEIGHT_DECAY, opt.weight_decay) ||
           bni_mlp_check_param(&err, BN_MLP_ELU_ALPHA, (double)alpha) ||
           bni_mlp_check_param(&err, BN_MLP_BN_EPSILON, (double)bn_eps) ||
           bni_mlp_check_param(&err, BN_MLP_BN_UPDATE_FACTOR, (double)bn_factor) ||
           bni_mlp_check_param(&err, BN_MLP_STEP, (double)opt.step) ||
           (opt.step > 0 && !(flags & FLAG_OPTIMIZER)))
  {
    char detail[BNI_ERROR_CAPACITY];
    snprintf(detail, sizeof detail, "%s", err.text);
    bni_fail(&err, st, "invalid training settings (%s)", detail);
  }
  else
    st = BN_OK;
  if (st != BN_OK)
    goto done;
  /* Widths: bounded by the bytes present before anything is sized by them. */
  if ((uint64_t)(size - r.pos) < 8u * (uint64_t)a.layers) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE, "truncated inside the layer widths");
    goto done;
  }
  a.widths = bytes + r.pos;
  for (uint32_t i = 0; i < a.layers; i++)
    if (width(&a, i) == 0 || width(&a, i) > SIZE_MAX) {
      st = bni_fail(&err, BN_ERR_BAD_FORMAT, "hidden layer %u has width %llu", i + 1,
                    (unsigned long long)width(&a, i));
      goto done;
    }
  r.pos += 8u * a.layers;
  uint64_t expected = file_bytes(&a);
  if (expected != (uint64_t)size) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE,
                  "the architecture needs %llu bytes, the file has %zu",
                  (unsigned long long)expected, size);
    goto done;
  }
  const size_t body = r.pos;
  st = scan_body(&err, &r, &a);
  if (st != BN_OK)
    goto done;

  /* Everything is valid and every size is bounded by the file: build. */
  size_t *hidden = malloc((a.layers + 1u) * sizeof *hidden);
  if (!hidden) {
    st = bni_fail(&err, BN_ERR_OUT_OF_MEMORY, "out of memory");
    goto done;
  }
  for (uint32_t i = 0; i < a.layers; i++)
    hidden[i] = (size_t)width(&a, i);
  bn_mlp *m = NULL;
  st = bn_mlp_create(&m, (size_t)a.inputs, hidden, a.layers, (size_t)a.outputs,
                     (bn_activation)a.activation, (bn_mlp_placement)a.placement,
                     (bn_mlp_head)a.head,
                     ((flags & FLAG_INPUT_BN) ? (unsigned)BN_MLP_INPUT_BATCHNORM : 0u) |
                         ((flags & FLAG_BIASED_VAR) ? (unsigned)BN_MLP_BIASED_RUNNING_VAR : 0u));
  free(hidden);
  if (st != BN_OK) {
    bni_fail(&err, st, "cannot create the network: %s", bn_status_string(st));
    goto done;
  }
  m->opt = opt;
  m->elu_alpha = alpha;
  if (bni_mlp_bn_count(m))
    st = bn_mlp_set_parameter(m, BN_MLP_BN_EPSILON, (double)bn_eps);
  if (st == BN_OK && bni_mlp_bn_count(m))
    st = bn_mlp_set_parameter(m, BN_MLP_BN_UPDATE_FACTOR, (double)bn_factor);
  m->bn_eps = bn_eps;
  m->bn_factor = bn_factor;
  r.pos = body;
  if (st == BN_OK)
    st = load_body(m, &r, &a);
  if (st != BN_OK) {
    bni_fail(&err, st, "cannot fill the network: %s", bn_status_string(st));
    bn_mlp_destroy(m);
    goto done;
  }
  *out = m;
done:
  set_message(message, capacity, &err);
  return st;
}

/* ---- files --------------------------------------------------------------- */

static bn_status io_fail(bni_error *err, const char *what, const char *path)
{
  char reason[128];
  int saved = errno;
  if (strerror_r(saved, reason, sizeof reason) != 0)
    snprintf(reason, sizeof reason, "errno %d", saved);
  return bni_fail(err, BN_ERR_IO, "%s '%s': %s", what, path, reason);
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
  while (n > 0) {
    ssize_t k = write(fd, p, n);
    if (k < 0 && errno == EINTR)
      continue;
    if (k <= 0) {
      if (k == 0)
        errno = EIO;
      return 0;
    }
    p += k;
    n -= (size_t)k;
  }
  return 1;
}

/* Write a file so that path holds either its old contents or all of the new
 * ones, whatever happens: temporary file in the same directory, fsync,
 * rename over path, fsync of the directory. */
bn_status bni_write_file_atomic(bni_error *err, const char *path, const void *data, size_t size)
{
  const size_t len = strlen(path);
  char *tmp = malloc(len + 16), *dir = malloc(len + 2);
  if (!tmp || !dir) {
    free(tmp);
    free(dir);
    return bni_fail(err, BN_ERR_OUT_OF_MEMORY, "out of memory");
  }
  snprintf(tmp, len + 16, "%s.tmp-XXXXXX", path);
  const char *slash = strrchr(path, '/');
  if (!slash)
    snprintf(dir, len + 2, ".");
  else if (slash == path)
    snprintf(dir, len + 2, "/");
  else
    snprintf(dir, len + 2, "%.*s", (int)(slash - path), path);
  bn_status st = BN_OK;
  int fd = mkstemp(tmp);
  if (fd < 0) {
    st = io_fail(err, "cannot create a temporary file next to", path);
    goto out;
  }
  if (fchmod(fd, 0644) != 0 || !write_all(fd, data, size) || fsync(fd) != 0) {
    st = io_fail(err, "cannot write", tmp);
    close(fd);
    unlink(tmp);
    goto out;
  }
  if (close(fd) != 0) {
    st = io_fail(err, "cannot close", tmp);
    unlink(tmp);
    goto out;
  }
  if (rename(tmp, path) != 0) {
    st = io_fail(err, "cannot rename the temporary file to", path);
    unlink(tmp);
    goto out;
  }
  int dfd = open(dir, O_RDONLY | O_DIRECTORY);
  if (dfd < 0 || fsync(dfd) != 0)
    st = io_fail(err, "cannot sync the directory", dir);
  if (dfd >= 0)
    close(dfd);
out:
  free(tmp);
  free(dir);
  return st;
}

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

bn_status bn_mlp_load(bn_mlp **out, const char *path, char *message, size_t capacity)
{
  bni_error err = {{0}};
  bn_status st = BN_OK;
  unsigned char *data = NULL;
  if (out)
    *out = NULL;
  if (!out || !path) {
    st = bni_fail(&err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", out ? "path" : "out");
    set_message(message, capacity, &err);
    return st;
  }
  int fd = open(path, O_RDONLY);
  struct stat sb;
  if (fd < 0) {
    st = io_fail(&err, "cannot open", path);
  } else if (fstat(fd, &sb) != 0) {
    st = io_fail(&err, "cannot stat", path);
  } else if (!S_ISREG(sb.st_mode)) {
    st = bni_fail(&err, BN_ERR_IO, "'%s' is not a regular file", path);
  } else if ((uintmax_t)sb.st_size > (uintmax_t)(SIZE_MAX / 2)) {
    st = bni_fail(&err, BN_ERR_BAD_SIZE, "'%s' is too large", path);
  } else {
    size_t size = (size_t)sb.st_size, got = 0;
    data = malloc(size ? size : 1);
    if (!data)
      st = bni_fail(&err, BN_ERR_OUT_OF_MEMORY, "no memory for %zu bytes", size);
    while (st == BN_OK && got < size) {
      ssize_t k = read(fd, data + got, size - got);
      if (k < 0 && errno == EINTR)
        continue;
      if (k < 0)
        st = io_fail(&err, "cannot read", path);
      else if (k == 0)
        break; /* shrank while reading: parse what is there */
      else
        got += (size_t)k;
    }
    if (st == BN_OK) {
      st = bn_mlp_deserialize(out, data, got, err.text, sizeof err.text);
      if (st != BN_OK) {
        char detail[BNI_ERROR_CAPACITY];
        snprintf(detail, sizeof detail, "%s", err.text);
        bni_fail(&err, st, "%s: %s", path, detail);
      }
    }
  }
  if (fd >= 0)
    close(fd);
  free(data);
  set_message(message, capacity, &err);
  return st;
}

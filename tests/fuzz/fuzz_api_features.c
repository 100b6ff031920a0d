/* libFuzzer: sequences of public calls on the features fuzz_api does not
 * choose (its decoding is frozen by its committed regression inputs):
 * Batch Renormalization (the layer flag, its rmax/dmax/schedule parameters
 * and r/d tensors; the MLP's BN_MLP_RENORM), the sharded core API (moments,
 * merge, forward with moments, backward sums and backward with sums), the
 * standardizer handle's whole surface (options, count, deserialize into a
 * handle), and an MLP with every flag (standardizer stage, head BatchNorm,
 * renorm) whose calls include fitting the stage, bn_mlp_fit, training
 * records, and model round trips through bytes and through a file.
 * Any status is acceptable; a crash, a sanitizer report or a broken promise
 * (the library refusing what it wrote; a training record that does not come
 * back as set) is a finding. */
#include <bn/bn.h>
#include "fuzz_handles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_F = 8, MAX_B = 6, MAX_LD = MAX_F + 2, MAX_OPS = 64, MAX_RECORD = 64 };

typedef struct world {
  fuzz_input in;
  bn_batchnorm *bn;
  bn_standardizer *std;
  bn_mlp *mlp;
  size_t bn_f, s_f, m_in, m_out, shard;
  unsigned bn_flags;
  bn_mlp_head head;
  bn_rng rng;
  /* two shards' columns, or a bn_mlp_fit data set of 2*MAX_B samples */
  float x[MAX_LD * MAX_B * 2], y[MAX_LD * MAX_B * 2], dy[MAX_LD * MAX_B], dx[MAX_LD * MAX_B];
  float vec[MAX_F * MAX_F * 2];
  double dvec[MAX_F + 1];
  double mean_a[MAX_F], m2_a[MAX_F], mean_b[MAX_F], m2_b[MAX_F];
  double sum_dy[MAX_F], sum_dy_xhat[MAX_F];
  int32_t labels[MAX_B * 2];
  float targets[MAX_F * MAX_B * 2];
  /* the training record as last set, the fuzzer's next one, one read back */
  unsigned char record[MAX_RECORD], record_next[MAX_RECORD], record_back[MAX_RECORD];
  size_t record_size;
} world;

static void fill_doubles(world *w, double *a, size_t n)
{
  for (size_t i = 0; i < n; i++)
    a[i] = fuzz_u8(&w->in) & 1 ? (double)fuzz_float(&w->in) : fuzz_double(&w->in);
}

/* A training forward of one shard with the merged moments of two, as every
 * rank of a data-parallel step does; 1 in 4 times the moments or the count
 * are the fuzzer's instead. */
static void sharded_forward(world *w, size_t ld)
{
  size_t f = w->bn_f, n_a = fuzz_batch(&w->in, MAX_B), n_b = fuzz_batch(&w->in, MAX_B);
  fuzz_floats(&w->in, w->x, ld * (n_a + n_b));
  if (bn_batchnorm_moments(f, n_a, w->x, ld, w->mean_a, w->m2_a) != BN_OK) {
    fill_doubles(w, w->mean_a, f);
    fill_doubles(w, w->m2_a, f);
  }
  if (bn_batchnorm_moments(f, n_b, w->x + ld * n_a, ld, w->mean_b, w->m2_b) != BN_OK) {
    fill_doubles(w, w->mean_b, f);
    fill_doubles(w, w->m2_b, f);
  }
  double count_a = (double)n_a, count_b = (double)n_b;
  if (fuzz_below(&w->in, 4) == 0)
    count_b = fuzz_double(&w->in);
  if (bn_moments_merge(f, count_a, w->mean_a, w->m2_a, count_b, w->mean_b, w->m2_b) == BN_OK)
    count_a += count_b;
  if (fuzz_below(&w->in, 4) == 0)
    count_a = fuzz_double(&w->in);
  w->shard = n_a;
  (void)bn_batchnorm_forward_with_moments(w->bn, n_a, w->x, ld, w->y, ld, count_a, w->mean_a,
                                          w->m2_a);
}

/* The sharded backward: this shard's sums, the other shard's added (a copy,
 * or the fuzzer's values), then dx into a buffer, into dy itself, or none. */
static void sharded_backward(world *w, size_t batch, size_t ld)
{
  size_t f = w->bn_f;
  if (fuzz_below(&w->in, 4) != 0)
    batch = w->shard;
  fuzz_floats(&w->in, w->dy, ld * batch);
  if (bn_batchnorm_backward_sums(w->bn, batch, w->x, ld, w->dy, ld, w->sum_dy,
                                 w->sum_dy_xhat) != BN_OK) {
    fill_doubles(w, w->sum_dy, f);
    fill_doubles(w, w->sum_dy_xhat, f);
  } else if (fuzz_u8(&w->in) & 1) {
    for (size_t i = 0; i < f; i++) {
      w->sum_dy[i] *= 2.0;
      w->sum_dy_xhat[i] *= 2.0;
    }
  }
  uint8_t where = fuzz_u8(&w->in) % 3;
  float *dx = where == 0 ? w->dx : where == 1 ? w->dy : NULL;
  (void)bn_batchnorm_backward_with_sums(w->bn, batch, w->x, ld, w->dy, ld, dx, ld, w->sum_dy,
                                        w->sum_dy_xhat);
}

static void op_batchnorm(world *w, uint8_t op)
{
  size_t f = w->bn_f, batch = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, f), count;
  switch (op % 9) {
  case 0:
    fuzz_floats(&w->in, w->x, ld * batch);
    (void)bn_batchnorm_forward(w->bn, (bn_mode)fuzz_below(&w->in, 4), batch, w->x, ld, w->y, ld);
    break;
  case 1:
    fuzz_floats(&w->in, w->dy, ld * batch);
    (void)bn_batchnorm_backward(w->bn, batch, w->x, ld, w->dy, ld,
                                fuzz_u8(&w->in) & 1 ? w->dx : NULL, ld);
    break;
  case 2:
    sharded_forward(w, ld);
    break;
  case 3:
    sharded_backward(w, batch, ld);
    break;
  case 4: /* the renorm parameters and the ones before, and one past them */
    (void)bn_batchnorm_set_parameter(w->bn, (bn_batchnorm_param)fuzz_below(&w->in, 9),
                                     fuzz_double(&w->in));
    break;
  case 5: {
    double v;
    (void)bn_batchnorm_get_parameter(w->bn, (bn_batchnorm_param)fuzz_below(&w->in, 9), &v);
    count = f + (fuzz_below(&w->in, 4) == 0);
    (void)bn_batchnorm_get(w->bn, (bn_batchnorm_tensor)fuzz_below(&w->in, 12), w->vec, count);
    break;
  }
  case 6:
    count = f + (fuzz_below(&w->in, 4) == 0);
    fuzz_floats(&w->in, w->vec, count);
    (void)bn_batchnorm_set(w->bn, (bn_batchnorm_tensor)fuzz_below(&w->in, 12), w->vec, count);
    break;
  case 7: { /* the state alone (no parameters) into the same layer */
    size_t need = 0, written = 0;
    if (bn_batchnorm_state_size(w->bn, &need) != BN_OK)
      FUZZ_BROKEN();
    unsigned char *b = fuzz_buffer(need);
    if (bn_batchnorm_save_state(w->bn, b, need, &written) != BN_OK ||
        bn_batchnorm_load_state(w->bn, b, written) != BN_OK)
      FUZZ_BROKEN();
    free(b);
    break;
  }
  default: {
    bn_batchnorm *other = fuzz_batchnorm_reloaded(w->bn, f, w->bn_flags);
    bn_batchnorm_destroy(w->bn);
    w->bn = other;
    break;
  }
  }
}

static void op_standardizer(world *w, uint8_t op)
{
  size_t f = w->s_f, n = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, f), count;
  switch (op % 7) {
  case 0:
    fuzz_floats(&w->in, w->x, ld * n);
    if (fuzz_u8(&w->in) & 1)
      (void)bn_standardizer_fit(w->std, n, w->x, ld);
    else
      (void)bn_standardizer_partial_fit(w->std, n, w->x, ld);
    break;
  case 1:
    fuzz_floats(&w->in, w->x, ld * n);
    (void)bn_standardizer_transform(w->std, n, w->x, ld, fuzz_u8(&w->in) & 1 ? w->x : w->y, ld);
    break;
  case 2:
    fuzz_floats(&w->in, w->y, ld * n);
    (void)bn_standardizer_inverse_transform(w->std, n, w->y, ld,
                                            fuzz_u8(&w->in) & 1 ? w->y : w->x, ld);
    break;
  case 3: /* options, including 0 and one past the last */
    (void)bn_standardizer_set_parameter(w->std, (bn_standardizer_param)fuzz_below(&w->in, 4),
                                        fuzz_double(&w->in));
    break;
  case 4: {
    double v, lower, upper;
    uint64_t samples;
    bn_standardizer_param p = (bn_standardizer_param)fuzz_below(&w->in, 4);
    (void)bn_standardizer_get_parameter(w->std, p, &v);
    (void)bn_standardizer_parameter_bounds(p, &lower, &upper);
    (void)bn_standardizer_count(w->std, &samples);
    count = f + (fuzz_below(&w->in, 4) == 0);
    (void)bn_standardizer_get(w->std, (bn_standardizer_vector)fuzz_below(&w->in, 5),
                              w->dvec, count);
    break;
  }
  case 5: { /* its own state with one byte changed (the trailer made right) into the handle */
    size_t need = 0, written = 0;
    if (bn_standardizer_serialized_size(w->std, &need) != BN_OK)
      FUZZ_BROKEN();
    unsigned char *b = fuzz_buffer(need);
    if (bn_standardizer_serialize(w->std, b, need, &written) != BN_OK)
      FUZZ_BROKEN();
    b[fuzz_u8(&w->in) % written] ^= fuzz_u8(&w->in);
    uint8_t *sealed = fuzz_sealed_copy(b, written);
    (void)bn_standardizer_deserialize(w->std, sealed, written - (fuzz_below(&w->in, 8) == 0));
    free(sealed);
    free(b);
    break;
  }
  default: {
    bn_standardizer *other = fuzz_standardizer_reloaded(w->std);
    bn_standardizer_destroy(w->std);
    w->std = other;
    break;
  }
  }
}

/* The training record: set to the fuzzer's bytes (or removed, or refused),
 * then it must read back as it was set. */
static void op_record(world *w)
{
  size_t size = fuzz_below(&w->in, MAX_RECORD + 1), have = 0, written = 0;
  for (size_t i = 0; i < size; i++)
    w->record_next[i] = fuzz_u8(&w->in);
  const uint8_t how = fuzz_u8(&w->in) % 4;
  if (how == 0) { /* NULL: refused with a size, the record unchanged; with 0, removed */
    if (bn_mlp_set_training_record(w->mlp, NULL, size) == BN_OK)
      w->record_size = 0;
  } else if (how == 1) {
    if (bn_mlp_set_training_record(w->mlp, NULL, 0) == BN_OK)
      w->record_size = 0;
  } else if (bn_mlp_set_training_record(w->mlp, w->record_next, size) == BN_OK) {
    memcpy(w->record, w->record_next, size);
    w->record_size = size;
  }
  if (bn_mlp_training_record_size(w->mlp, &have) != BN_OK || have != w->record_size)
    FUZZ_BROKEN();
  size_t capacity = have - (have > 0 && fuzz_below(&w->in, 4) == 0);
  bn_status s = bn_mlp_get_training_record(w->mlp, capacity ? w->record_back : NULL, capacity,
                                           &written);
  if (capacity < have ? s != BN_ERR_BAD_SIZE
                     : s != BN_OK || written != have || memcmp(w->record_back, w->record, have))
    FUZZ_BROKEN();
}

/* After a model round trip: the record is the one set. */
static void check_record(world *w)
{
  size_t have = 0, written = 0;
  if (bn_mlp_training_record_size(w->mlp, &have) != BN_OK || have != w->record_size ||
      bn_mlp_get_training_record(w->mlp, w->record_back, sizeof w->record_back, &written) !=
          BN_OK ||
      written != have || memcmp(w->record_back, w->record, have))
    FUZZ_BROKEN();
}

/* The model through a file: serialized into a memfd, loaded by path. */
static bn_mlp *reloaded_from_file(const bn_mlp *mlp, unsigned flags)
{
  size_t written = 0;
  unsigned char *b = fuzz_mlp_bytes(mlp, flags, &written);
  char path[64], message[256];
  int fd;
  bn_mlp *other = NULL;
  unsigned version, contents;
  if (fuzz_memfile(b, written, path, sizeof path, &fd)) {
    if (bn_mlp_read_file_header(path, &version, &contents, NULL, message, sizeof message) !=
            BN_OK ||
        bn_mlp_load(&other, path, message, sizeof message) != BN_OK) {
      fprintf(stderr, "a model file the library wrote is refused: %s\n", message);
      FUZZ_BROKEN();
    }
    close(fd);
  }
  free(b);
  return other;
}

static void op_mlp(world *w, uint8_t op)
{
  size_t batch = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, w->m_in);
  for (size_t i = 0; i < MAX_B * 2; i++)
    w->labels[i] = (int32_t)fuzz_below(&w->in, w->m_out + 1);
  const int softmax = w->head == BN_MLP_HEAD_SOFTMAX;
  const int32_t *labels = softmax ? w->labels : NULL;
  const float *targets = softmax ? NULL : w->targets;
  switch (op % 12) {
  case 0: {
    fuzz_floats(&w->in, w->x, ld * batch);
    for (size_t i = 0; i < w->m_out * batch; i++)
      w->targets[i] = fuzz_u8(&w->in) & 1 ? 1.0f : fuzz_float(&w->in);
    float loss;
    (void)bn_mlp_train_step(w->mlp, batch, w->x, ld, labels, targets, &loss);
    break;
  }
  case 1: { /* a small data set, an epoch or two */
    size_t samples = fuzz_batch(&w->in, MAX_B * 2), batch_size = fuzz_batch(&w->in, MAX_B);
    fuzz_floats(&w->in, w->x, ld * samples);
    for (size_t i = 0; i < w->m_out * samples; i++)
      w->targets[i] = (float)(fuzz_u8(&w->in) & 1);
    (void)bn_mlp_fit(w->mlp, samples, w->x, ld, labels, targets, batch_size,
                     fuzz_below(&w->in, 3), fuzz_u8(&w->in) & 1 ? &w->rng : NULL, NULL, NULL);
    break;
  }
  case 2:
    fuzz_floats(&w->in, w->x, ld * batch);
    (void)bn_mlp_predict(w->mlp, (bn_mode)fuzz_below(&w->in, 4),
                         (bn_mlp_output)fuzz_below(&w->in, 4), batch, w->x, ld, w->y,
                         w->m_out + fuzz_below(&w->in, 2));
    break;
  case 3: {
    fuzz_floats(&w->in, w->x, ld * batch);
    for (size_t i = 0; i < w->m_out * batch; i++)
      w->targets[i] = (float)(fuzz_u8(&w->in) & 1);
    float loss, accuracy;
    (void)bn_mlp_evaluate(w->mlp, batch, w->x, ld, labels, targets, &loss, &accuracy);
    break;
  }
  case 4: /* every parameter (the renorm ones included), 0 and one past the last */
    (void)bn_mlp_set_parameter(w->mlp, (bn_mlp_param)fuzz_below(&w->in, 17),
                               fuzz_double(&w->in));
    break;
  case 5: { /* tensors of layers 0 to L+1 (the head's BatchNorm) and one past */
    size_t layer = fuzz_below(&w->in, 5), count = 0;
    bn_mlp_tensor which = (bn_mlp_tensor)fuzz_below(&w->in, 12);
    if (bn_mlp_tensor_size(w->mlp, layer, which, &count) != BN_OK)
      count = fuzz_below(&w->in, 8);
    if (count > sizeof w->vec / sizeof w->vec[0])
      break;
    if (fuzz_u8(&w->in) & 1) {
      (void)bn_mlp_get(w->mlp, layer, which, w->vec, count);
    } else {
      fuzz_floats(&w->in, w->vec, count);
      (void)bn_mlp_set(w->mlp, layer, which, w->vec, count);
    }
    break;
  }
  case 6:
    fuzz_floats(&w->in, w->x, ld * batch);
    if (fuzz_u8(&w->in) & 1)
      (void)bn_mlp_fit_standardizer(w->mlp, batch, w->x, ld);
    else
      (void)bn_mlp_partial_fit_standardizer(w->mlp, batch, w->x, ld);
    break;
  case 7: { /* the stage, read through the const calls and written out */
    const bn_standardizer *stage = NULL;
    if (bn_mlp_standardizer(w->mlp, &stage) != BN_OK)
      break;
    uint64_t samples;
    (void)bn_standardizer_count(stage, &samples);
    (void)bn_standardizer_get(stage, (bn_standardizer_vector)fuzz_below(&w->in, 4),
                              w->dvec, w->m_in);
    bn_standardizer_destroy(fuzz_standardizer_reloaded(stage));
    break;
  }
  case 8:
    op_record(w);
    break;
  case 9: {
    bn_mlp *folded = NULL;
    if (bn_mlp_fold_batchnorm(w->mlp, &folded) == BN_OK)
      bn_mlp_destroy(folded);
    break;
  }
  case 10:
    fuzz_floats(&w->in, w->x, ld * batch);
    (void)bn_mlp_recompute_statistics(w->mlp, batch, w->x, ld);
    break;
  default: {
    unsigned flags = fuzz_u8(&w->in) & 1 ? BN_MLP_SAVE_OPTIMIZER : 0;
    bn_mlp *other = fuzz_u8(&w->in) & 1 ? reloaded_from_file(w->mlp, flags)
                                        : fuzz_mlp_reloaded(w->mlp, flags);
    if (!other)
      break; /* no memfd */
    bn_mlp_destroy(w->mlp);
    w->mlp = other;
    check_record(w);
    break;
  }
  }
}

static int create_all(world *w)
{
  fuzz_input *in = &w->in;
  w->bn_f = fuzz_below(in, MAX_F) + 1;
  w->bn_flags = fuzz_u8(in) & 0x7fu;
  w->s_f = fuzz_below(in, MAX_F) + 1;
  const fuzz_mlp_shape shape = fuzz_mlp_shape_read(in, MAX_F);
  w->m_in = shape.inputs;
  w->m_out = shape.outputs;
  w->head = shape.head;
  unsigned mflags = fuzz_u8(in) & 0x1fu;
  if (bn_batchnorm_create(&w->bn, w->bn_f, w->bn_flags) != BN_OK) {
    /* renorm without running statistics is refused: keep the renorm */
    w->bn_flags &= ~(unsigned)BN_BATCHNORM_NO_RUNNING_STATS;
    if (bn_batchnorm_create(&w->bn, w->bn_f, w->bn_flags) != BN_OK)
      FUZZ_BROKEN();
  }
  if (bn_rng_seed(&w->rng, fuzz_u32(in)) != BN_OK ||
      bn_standardizer_create(&w->std, w->s_f) != BN_OK ||
      fuzz_mlp_create(&w->mlp, &shape, mflags) != BN_OK)
    return 0;
  if (bn_mlp_init(w->mlp, BN_INIT_HE_NORMAL, &w->rng) != BN_OK)
    FUZZ_BROKEN();
  return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static world w; /* large: not on the stack */
  memset(&w, 0, sizeof w);
  w.in = (fuzz_input){data, size};
  if (create_all(&w)) {
    for (int i = 0; i < MAX_OPS && w.in.n > 0; i++) {
      uint8_t op = fuzz_u8(&w.in);
      switch (op % 3) {
      case 0: op_batchnorm(&w, op / 3); break;
      case 1: op_standardizer(&w, op / 3); break;
      default: op_mlp(&w, op / 3); break;
      }
    }
  }
  bn_batchnorm_destroy(w.bn);
  bn_standardizer_destroy(w.std);
  bn_mlp_destroy(w.mlp);
  return 0;
}

/* libFuzzer: sequences of public calls on every handle kind. The bytes choose
 * the shapes, flags and modes of a BatchNorm layer, a dense layer, a
 * standardizer and an MLP, then a sequence of calls (forward, backward,
 * get/set, set_parameter, train_step, predict, evaluate, fold, serialize and
 * deserialize, ...) with values that include NaN, infinities and extremes,
 * leading dimensions and counts that are sometimes wrong, and NULL outputs.
 * Any status is acceptable; a crash, a sanitizer report or a broken promise
 * (a blob or model the library wrote that it then refuses) is a finding. */
#include <bn/bn.h>
#include "fuzz_handles.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum { MAX_F = 8, MAX_B = 6, MAX_LD = MAX_F + 2, MAX_OPS = 64 };

typedef struct world {
  fuzz_input in;
  bn_batchnorm *bn;
  bn_dense *dense;
  bn_standardizer *std;
  bn_mlp *mlp;
  size_t bn_f, d_in, d_out, s_f, m_in, m_out;
  unsigned bn_flags, d_flags;
  bn_mlp_head head;
  bn_rng rng;
  float x[MAX_LD * MAX_B], y[MAX_LD * MAX_B], dy[MAX_LD * MAX_B], dx[MAX_LD * MAX_B];
  float vec[MAX_F * MAX_F * 2];
  double dvec[MAX_F * 2];
  int32_t labels[MAX_B];
  float targets[MAX_F * MAX_B];
} world;

static void op_batchnorm(world *w, uint8_t op)
{
  size_t f = w->bn_f, batch = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, f), count;
  switch (op % 8) {
  case 0:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_batchnorm_forward(w->bn, (bn_mode)fuzz_below(&w->in, 4), batch, w->x, ld, w->y, ld);
    break;
  case 1:
    fuzz_floats(&w->in, w->dy, sizeof w->dy / sizeof w->dy[0]);
    (void)bn_batchnorm_backward(w->bn, batch, w->x, ld, w->dy, ld,
                                fuzz_u8(&w->in) & 1 ? w->dx : NULL, ld);
    break;
  case 2:
    count = f + (fuzz_below(&w->in, 4) == 0);
    (void)bn_batchnorm_get(w->bn, (bn_batchnorm_tensor)fuzz_below(&w->in, 10), w->vec, count);
    break;
  case 3:
    count = f + (fuzz_below(&w->in, 4) == 0);
    fuzz_floats(&w->in, w->vec, count);
    (void)bn_batchnorm_set(w->bn, (bn_batchnorm_tensor)fuzz_below(&w->in, 10), w->vec, count);
    break;
  case 4:
    (void)bn_batchnorm_set_parameter(w->bn, (bn_batchnorm_param)fuzz_below(&w->in, 6),
                                     fuzz_double(&w->in));
    break;
  case 5: {
    bn_batchnorm *other = fuzz_batchnorm_reloaded(w->bn, f, w->bn_flags);
    bn_batchnorm_destroy(w->bn);
    w->bn = other;
    break;
  }
  case 6: {
    bn_dense *folded = NULL;
    if (bn_dense_fold_batchnorm(w->dense, w->bn, &folded) == BN_OK)
      bn_dense_destroy(folded);
    break;
  }
  default: {
    double v;
    (void)bn_batchnorm_get_parameter(w->bn, (bn_batchnorm_param)fuzz_below(&w->in, 6), &v);
    break;
  }
  }
}

static void op_dense(world *w, uint8_t op)
{
  size_t batch = fuzz_batch(&w->in, MAX_B), ldx = fuzz_ld(&w->in, w->d_in),
         ldy = fuzz_ld(&w->in, w->d_out), count;
  switch (op % 6) {
  case 0:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_dense_forward(w->dense, batch, w->x, ldx, w->y, ldy);
    break;
  case 1:
    fuzz_floats(&w->in, w->dy, sizeof w->dy / sizeof w->dy[0]);
    (void)bn_dense_backward(w->dense, batch, w->x, ldx, w->dy, ldy,
                            fuzz_u8(&w->in) & 1 ? w->dx : NULL, ldx);
    break;
  case 2:
    count = fuzz_u8(&w->in) & 1 ? w->d_in * w->d_out : w->d_out;
    (void)bn_dense_get(w->dense, (bn_dense_tensor)fuzz_below(&w->in, 6), w->vec, count);
    break;
  case 3:
    count = fuzz_u8(&w->in) & 1 ? w->d_in * w->d_out : w->d_out;
    fuzz_floats(&w->in, w->vec, count);
    (void)bn_dense_set(w->dense, (bn_dense_tensor)fuzz_below(&w->in, 6), w->vec, count);
    break;
  case 4:
    (void)bn_dense_init(w->dense, (bn_init)fuzz_below(&w->in, 5), &w->rng);
    break;
  default: {
    bn_dense *other = fuzz_dense_reloaded(w->dense, w->d_in, w->d_out, w->d_flags);
    bn_dense_destroy(w->dense);
    w->dense = other;
    break;
  }
  }
}

static void op_standardizer(world *w, uint8_t op)
{
  size_t f = w->s_f, n = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, f), count;
  switch (op % 7) {
  case 0:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_standardizer_fit(w->std, n, w->x, ld);
    break;
  case 1:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_standardizer_partial_fit(w->std, n, w->x, ld);
    break;
  case 2:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_standardizer_transform(w->std, n, w->x, ld, w->y, ld);
    break;
  case 3:
    fuzz_floats(&w->in, w->y, sizeof w->y / sizeof w->y[0]);
    (void)bn_standardizer_inverse_transform(w->std, n, w->y, ld, w->x, ld);
    break;
  case 4:
    (void)bn_standardizer_set_parameter(w->std, (bn_standardizer_param)fuzz_below(&w->in, 4),
                                        fuzz_double(&w->in));
    break;
  case 5:
    count = f + (fuzz_below(&w->in, 4) == 0);
    (void)bn_standardizer_get(w->std, (bn_standardizer_vector)fuzz_below(&w->in, 5), w->dvec,
                              count);
    break;
  default: {
    bn_standardizer *other = fuzz_standardizer_reloaded(w->std);
    bn_standardizer_destroy(w->std);
    w->std = other;
    break;
  }
  }
}

static void op_mlp(world *w, uint8_t op)
{
  size_t batch = fuzz_batch(&w->in, MAX_B), ld = fuzz_ld(&w->in, w->m_in);
  for (size_t i = 0; i < MAX_B; i++)
    w->labels[i] = (int32_t)fuzz_below(&w->in, w->m_out + 1);
  /* the head's kind of truth, and 1 in 8 times both kinds (refused) */
  const int both = fuzz_below(&w->in, 8) == 0, softmax = w->head == BN_MLP_HEAD_SOFTMAX;
  const int32_t *labels = softmax || both ? w->labels : NULL;
  const float *targets = !softmax || both ? w->targets : NULL;
  switch (op % 10) {
  case 0: {
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    for (size_t i = 0; i < w->m_out * batch; i++)
      w->targets[i] = fuzz_u8(&w->in) & 1 ? 1.0f : fuzz_float(&w->in);
    float loss;
    (void)bn_mlp_train_step(w->mlp, batch, w->x, ld, labels, targets, &loss);
    break;
  }
  case 1:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_mlp_predict(w->mlp, (bn_mode)fuzz_below(&w->in, 4),
                         (bn_mlp_output)fuzz_below(&w->in, 4), batch, w->x, ld, w->y,
                         w->m_out + fuzz_below(&w->in, 2));
    break;
  case 2: {
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    float loss, accuracy;
    (void)bn_mlp_evaluate(w->mlp, batch, w->x, ld, labels, targets, &loss,
                          fuzz_u8(&w->in) & 1 ? &accuracy : NULL);
    break;
  }
  case 3:
    (void)bn_mlp_set_parameter(w->mlp, (bn_mlp_param)fuzz_below(&w->in, 14),
                               fuzz_double(&w->in));
    break;
  case 4: {
    size_t layer = fuzz_below(&w->in, 4), count = 0;
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
  case 5: {
    bn_mlp *folded = NULL;
    if (bn_mlp_fold_batchnorm(w->mlp, &folded) == BN_OK)
      bn_mlp_destroy(folded);
    break;
  }
  case 6:
    fuzz_floats(&w->in, w->x, sizeof w->x / sizeof w->x[0]);
    (void)bn_mlp_recompute_statistics(w->mlp, batch, w->x, ld);
    break;
  case 7:
    (void)bn_mlp_init(w->mlp, (bn_init)fuzz_below(&w->in, 5), &w->rng);
    break;
  default: {
    bn_mlp *other = fuzz_mlp_reloaded(w->mlp, fuzz_u8(&w->in) & 1 ? BN_MLP_SAVE_OPTIMIZER : 0);
    bn_mlp_destroy(w->mlp);
    w->mlp = other;
    break;
  }
  }
}

static int create_all(world *w)
{
  fuzz_input *in = &w->in;
  w->bn_f = fuzz_below(in, MAX_F) + 1;
  w->bn_flags = fuzz_u8(in) & 0x3fu;
  w->d_in = w->bn_f;
  w->d_out = w->bn_f; /* so that fold_batchnorm may succeed */
  w->d_flags = fuzz_u8(in) & 1u;
  w->s_f = fuzz_below(in, MAX_F) + 1;
  const fuzz_mlp_shape shape = fuzz_mlp_shape_read(in, MAX_F);
  w->m_in = shape.inputs;
  w->m_out = shape.outputs;
  w->head = shape.head;
  unsigned mflags = fuzz_u8(in) & 3u;
  if (bn_rng_seed(&w->rng, fuzz_u32(in)) != BN_OK ||
      bn_batchnorm_create(&w->bn, w->bn_f, w->bn_flags) != BN_OK ||
      bn_dense_create(&w->dense, w->d_in, w->d_out, w->d_flags) != BN_OK ||
      bn_standardizer_create(&w->std, w->s_f) != BN_OK ||
      fuzz_mlp_create(&w->mlp, &shape, mflags) != BN_OK)
    return 0;
  if (bn_mlp_init(w->mlp, BN_INIT_HE_NORMAL, &w->rng) != BN_OK ||
      bn_dense_init(w->dense, BN_INIT_GLOROT_UNIFORM, &w->rng) != BN_OK)
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
      switch (op % 4) {
      case 0: op_batchnorm(&w, op / 4); break;
      case 1: op_dense(&w, op / 4); break;
      case 2: op_standardizer(&w, op / 4); break;
      default: op_mlp(&w, op / 4); break;
      }
    }
  }
  bn_batchnorm_destroy(w.bn);
  bn_dense_destroy(w.dense);
  bn_standardizer_destroy(w.std);
  bn_mlp_destroy(w.mlp);
  return 0;
}

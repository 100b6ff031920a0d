/* Allocation failure: for every entry point below and every n, the n-th
 * allocation (or thread creation) libbn makes during the call fails
 * (failing_alloc.h). Then
 *   - the call returns BN_ERR_OUT_OF_MEMORY (a failed thread creation may
 *     instead be absorbed: the chunk runs on the calling thread, and the
 *     call succeeds with the same results);
 *   - handles that existed before the call serialize to the same bytes as
 *     before it, a handle the call would create is NULL, a file it would
 *     replace is intact;
 *   - the same call, repeated without failure on those handles, gives the
 *     results of a call that never saw a failure (so the handles are valid);
 *   - every block libbn allocated is freed once the handles are destroyed
 *     (counted by the wrappers; LeakSanitizer also checks in the ASan build).
 * n runs from 1 until the call makes fewer than n allocations. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <unistd.h>
#include "testing.h"
#include "failing_alloc.h"

enum {
  F = 6,        /* MLP inputs */
  C = 3,        /* classes */
  N = 16,       /* samples */
  BF = 5,       /* BatchNorm layer features */
  BN_N = 40,    /* its batch: 200 elements, split over threads (BN_PARALLEL_MIN_ELEMENTS) */
  DI = 7, DO = 4, /* dense layer shape */
  RESULT_BYTES = 1 << 16
};

/* Inputs shared by every call, and the fixtures every iteration starts from. */
static struct {
  float x[F * N], bx[BF * BN_N], bdy[BF * BN_N], dx_in[DI * N], ddy[DO * N];
  int32_t labels[N];
  unsigned char *mlp_bytes, *bn_bytes, *dense_bytes;
  size_t mlp_size, bn_size, dense_size;
  char dir[64], old_path[96], new_path[96];
} in;

/* The handles and outputs of one iteration. */
typedef struct world {
  bn_mlp *mlp;          /* existing handles, from the fixtures */
  bn_batchnorm *bn;
  bn_dense *dense;
  bn_mlp *made_mlp;     /* handles a call creates */
  bn_batchnorm *made_bn;
  bn_dense *made_dense;
  float out[64 * 64];   /* outputs of the call */
  float out2[64 * 64];
  size_t written;
  unsigned char blob[8192];
} world;

typedef bn_status (*operation)(world *w);

/* ---- fixtures -------------------------------------------------------------- */

static unsigned char *serialize_mlp(const bn_mlp *m, size_t *size)
{
  assert_int_equal(bn_mlp_serialized_size(m, BN_MLP_SAVE_OPTIMIZER, size), BN_OK);
  unsigned char *bytes = malloc(*size);
  assert_non_null(bytes);
  size_t written;
  assert_int_equal(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, bytes, *size, &written), BN_OK);
  return bytes;
}

/* A layer's state blob in a new buffer; *size receives its length. */
#define STATE_BYTES(name, type, state_size, save_state)                                    \
  static unsigned char *name(const type *l, size_t *size)                                  \
  {                                                                                        \
    assert_int_equal(state_size(l, size), BN_OK);                                          \
    unsigned char *bytes = malloc(*size);                                                  \
    assert_non_null(bytes);                                                                \
    assert_int_equal(save_state(l, bytes, *size, size), BN_OK);                            \
    return bytes;                                                                          \
  }
STATE_BYTES(bn_state, bn_batchnorm, bn_batchnorm_state_size, bn_batchnorm_save_state)
STATE_BYTES(dense_state, bn_dense, bn_dense_state_size, bn_dense_save_state)

static void write_file(const char *path, const void *bytes, size_t size)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, size, f), size);
  assert_int_equal(fclose(f), 0);
}

static unsigned char *read_file(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  unsigned char *bytes = malloc(RESULT_BYTES);
  assert_non_null(bytes);
  *size = fread(bytes, 1, RESULT_BYTES, f);
  fclose(f);
  return bytes;
}

/* An MLP with every kind of state (input BatchNorm, BatchNorm before the
 * activation, Adam moments after two steps), a BatchNorm layer with two
 * threads and its running statistics, a dense layer with a bias. */
static int make_fixtures(void **state)
{
  (void)state;
  test_rng r = {77};
  test_fill(&r, in.x, F, N, F, 0.5, 2.0);
  test_fill(&r, in.bx, BF, BN_N, BF, 3.0, 1.5);
  test_fill(&r, in.bdy, BF, BN_N, BF, 0.0, 1.0);
  test_fill(&r, in.dx_in, DI, N, DI, 0.0, 1.0);
  test_fill(&r, in.ddy, DO, N, DO, 0.0, 1.0);
  for (int j = 0; j < N; j++)
    in.labels[j] = (int32_t)(test_rng_next(&r) % C);

  const size_t hidden[2] = {12, 8};
  bn_mlp *m;
  bn_rng rng;
  bn_rng_seed(&rng, 5);
  assert_int_equal(bn_mlp_create(&m, F, hidden, 2, C, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  for (int s = 0; s < 2; s++)
    assert_int_equal(bn_mlp_train_step(m, N, in.x, F, in.labels, NULL, NULL), BN_OK);
  in.mlp_bytes = serialize_mlp(m, &in.mlp_size);
  bn_mlp_destroy(m);

  bn_batchnorm *b;
  float y[BF * BN_N];
  assert_int_equal(bn_batchnorm_create(&b, BF, BN_BATCHNORM_FUSE_RELU), BN_OK);
  assert_int_equal(bn_batchnorm_forward(b, BN_MODE_TRAINING, BN_N, in.bx, BF, y, BF), BN_OK);
  in.bn_bytes = bn_state(b, &in.bn_size);
  bn_batchnorm_destroy(b);

  bn_dense *d;
  assert_int_equal(bn_dense_create(&d, DI, DO, 0), BN_OK);
  assert_int_equal(bn_dense_init(d, BN_INIT_GLOROT_UNIFORM, &rng), BN_OK);
  in.dense_bytes = dense_state(d, &in.dense_size);
  bn_dense_destroy(d);

  strcpy(in.dir, "/tmp/bn_alloc_failure_XXXXXX");
  assert_non_null(mkdtemp(in.dir));
  snprintf(in.old_path, sizeof in.old_path, "%s/old.bnm", in.dir);
  snprintf(in.new_path, sizeof in.new_path, "%s/new.bnm", in.dir);
  return 0;
}

static int free_fixtures(void **state)
{
  (void)state;
  free(in.mlp_bytes);
  free(in.bn_bytes);
  free(in.dense_bytes);
  unlink(in.old_path);
  unlink(in.new_path);
  rmdir(in.dir);
  return 0;
}

/* The existing handles, rebuilt from the fixtures without failures. */
static void setup_world(world *w)
{
  memset(w, 0, sizeof *w);
  assert_int_equal(bn_mlp_deserialize(&w->mlp, in.mlp_bytes, in.mlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_batchnorm_create(&w->bn, BF, BN_BATCHNORM_FUSE_RELU), BN_OK);
  assert_int_equal(bn_batchnorm_load_state(w->bn, in.bn_bytes, in.bn_size), BN_OK);
  assert_int_equal(bn_batchnorm_set_threads(w->bn, 2), BN_OK);
  assert_int_equal(bn_dense_create(&w->dense, DI, DO, 0), BN_OK);
  assert_int_equal(bn_dense_load_state(w->dense, in.dense_bytes, in.dense_size), BN_OK);
  write_file(in.old_path, in.mlp_bytes, in.mlp_size);
  unlink(in.new_path);
}

static void teardown_world(world *w)
{
  bn_mlp_destroy(w->mlp);
  bn_mlp_destroy(w->made_mlp);
  bn_batchnorm_destroy(w->bn);
  bn_batchnorm_destroy(w->made_bn);
  bn_dense_destroy(w->dense);
  bn_dense_destroy(w->made_dense);
}

/* Append size bytes to a result buffer. */
static void put(unsigned char *buf, size_t *len, const void *bytes, size_t size)
{
  assert_true(*len + size <= RESULT_BYTES);
  memcpy(buf + *len, bytes, size);
  *len += size;
}

/* Append a length-prefixed block returned by one of the functions above, and free it. */
static void put_owned(unsigned char *buf, size_t *len, unsigned char *bytes, const size_t *size)
{
  put(buf, len, size, sizeof *size);
  put(buf, len, bytes, *size);
  free(bytes);
}

/* Everything observable of the existing handles (their serialized state) and
 * of the file the save/load calls use. */
static size_t existing_state(const world *w, unsigned char *buf)
{
  size_t len = 0, size;
  put_owned(buf, &len, serialize_mlp(w->mlp, &size), &size);
  put_owned(buf, &len, bn_state(w->bn, &size), &size);
  put_owned(buf, &len, dense_state(w->dense, &size), &size);
  put_owned(buf, &len, read_file(in.old_path, &size), &size);
  return len;
}

/* What a call produced: its outputs, the handles it made, and the state of
 * the handles it was given. */
static size_t results(const world *w, unsigned char *buf)
{
  size_t len = existing_state(w, buf), size;
  put(buf, &len, w->out, sizeof w->out);
  put(buf, &len, w->out2, sizeof w->out2);
  put(buf, &len, &w->written, sizeof w->written);
  put(buf, &len, w->blob, sizeof w->blob);
  if (w->made_mlp)
    put_owned(buf, &len, serialize_mlp(w->made_mlp, &size), &size);
  if (w->made_bn)
    put_owned(buf, &len, bn_state(w->made_bn, &size), &size);
  if (w->made_dense)
    put_owned(buf, &len, dense_state(w->made_dense, &size), &size);
  if (access(in.new_path, F_OK) == 0)
    put_owned(buf, &len, read_file(in.new_path, &size), &size);
  return len;
}

/* Entries of the save/load folder besides old.bnm (a temporary file left
 * behind by a failed save would show here). */
static int stray_files(void)
{
  DIR *d = opendir(in.dir);
  assert_non_null(d);
  int stray = 0;
  for (struct dirent *e; (e = readdir(d));)
    stray += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "old.bnm");
  closedir(d);
  return stray;
}

/* Run op on fresh handles failing the n-th call, for n = 1, 2, ... until op
 * makes fewer than n calls; check the rules in the file comment. */
static void exhaust(const char *name, operation op)
{
  static unsigned char expected[RESULT_BYTES], before[RESULT_BYTES], after[RESULT_BYTES];
  world w;
  const long live0 = bnt_live_blocks();

  setup_world(&w);
  bnt_arm(SIZE_MAX); /* count only */
  assert_int_equal(op(&w), BN_OK);
  const size_t calls = bnt_disarm();
  const size_t expected_len = results(&w, expected);
  teardown_world(&w);
  assert_int_equal(bnt_live_blocks(), live0);

  for (size_t n = 1; n <= calls; n++) {
    setup_world(&w);
    const size_t before_len = existing_state(&w, before);
    bnt_arm(n);
    bn_status st = op(&w);
    bnt_disarm();
    bnt_call failed = bnt_failed_call();
    if (failed == BNT_THREAD && st == BN_OK) {
      /* absorbed: the same results as without the failure */
      size_t len = results(&w, after);
      if (len != expected_len || memcmp(after, expected, len) != 0)
        fail_msg("%s: failing thread creation %zu changed the results", name, n);
    } else {
      if (st != BN_ERR_OUT_OF_MEMORY)
        fail_msg("%s: failing call %zu of %zu (%s) returned %s, not BN_ERR_OUT_OF_MEMORY", name,
                 n, calls, failed == BNT_THREAD ? "thread" : "allocation", bn_status_string(st));
      if (w.made_mlp || w.made_bn || w.made_dense)
        fail_msg("%s: failing call %zu returned a handle with its error", name, n);
      size_t len = existing_state(&w, after);
      if (len != before_len || memcmp(after, before, len) != 0)
        fail_msg("%s: failing call %zu changed an existing handle or file", name, n);
      if (stray_files())
        fail_msg("%s: failing call %zu left a file behind", name, n);
      if (op(&w) != BN_OK)
        fail_msg("%s: after failing call %zu the call fails without failure injection", name, n);
      len = results(&w, after);
      if (len != expected_len || memcmp(after, expected, len) != 0)
        fail_msg("%s: after failing call %zu the repeated call gives other results", name, n);
    }
    teardown_world(&w);
    if (bnt_live_blocks() != live0)
      fail_msg("%s: failing call %zu leaks %ld block(s)", name, n, bnt_live_blocks() - live0);
  }
  print_message("%-28s %zu allocation/thread calls, each failed once\n", name, calls);
}

/* ---- MLP ------------------------------------------------------------------- */

static bn_status mlp_create(world *w)
{
  const size_t hidden[3] = {9, 7, 5};
  return bn_mlp_create(&w->made_mlp, F, hidden, 3, C, BN_ACT_ELU, BN_MLP_BN_AFTER,
                       BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM);
}

static bn_status mlp_init(world *w)
{
  bn_rng rng;
  bn_rng_seed(&rng, 11);
  return bn_mlp_init(w->mlp, BN_INIT_GLOROT_NORMAL, &rng);
}

static bn_status mlp_set_optimizer(world *w)
{
  return bn_mlp_set_parameter(w->mlp, BN_MLP_OPTIMIZER, BN_MLP_MOMENTUM);
}

static bn_status mlp_train_step(world *w)
{
  return bn_mlp_train_step(w->mlp, N, in.x, F, in.labels, NULL, w->out);
}

static bn_status mlp_fit(world *w)
{
  bn_rng rng;
  bn_rng_seed(&rng, 3);
  return bn_mlp_fit(w->mlp, N, in.x, F, in.labels, NULL, 5, 2, &rng, NULL, NULL);
}

static bn_status mlp_predict_inference(world *w)
{
  return bn_mlp_predict(w->mlp, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, N, in.x, F, w->out, C);
}

static bn_status mlp_predict_training(world *w)
{
  return bn_mlp_predict(w->mlp, BN_MODE_TRAINING, BN_MLP_LOGITS, N, in.x, F, w->out, C);
}

static bn_status mlp_evaluate(world *w)
{
  return bn_mlp_evaluate(w->mlp, N, in.x, F, in.labels, NULL, w->out, w->out + 1);
}

static bn_status mlp_recompute_statistics(world *w)
{
  return bn_mlp_recompute_statistics(w->mlp, N, in.x, F);
}

static bn_status mlp_fold(world *w)
{
  return bn_mlp_fold_batchnorm(w->mlp, &w->made_mlp);
}

static bn_status mlp_serialize(world *w)
{
  return bn_mlp_serialize(w->mlp, BN_MLP_SAVE_OPTIMIZER, w->blob, sizeof w->blob, &w->written);
}

static bn_status mlp_deserialize(world *w)
{
  return bn_mlp_deserialize(&w->made_mlp, in.mlp_bytes, in.mlp_size, NULL, 0);
}

static bn_status mlp_save_new(world *w)
{
  return bn_mlp_save(w->mlp, in.new_path, 0);
}

static bn_status mlp_save_replace(world *w)
{
  /* the existing file holds the fixture with its optimizer; write it without */
  return bn_mlp_save(w->mlp, in.old_path, 0);
}

static bn_status mlp_load(world *w)
{
  return bn_mlp_load(&w->made_mlp, in.old_path, NULL, 0);
}

/* ---- layers ---------------------------------------------------------------- */

static bn_status bn_create(world *w)
{
  return bn_batchnorm_create(&w->made_bn, BF, 0);
}

static bn_status bn_set_threads(world *w)
{
  return bn_batchnorm_set_threads(w->bn, 4);
}

static bn_status bn_train_forward_backward(world *w)
{
  bn_status st = bn_batchnorm_forward(w->bn, BN_MODE_TRAINING, BN_N, in.bx, BF, w->out, BF);
  return st != BN_OK ? st
                     : bn_batchnorm_backward(w->bn, BN_N, in.bx, BF, in.bdy, BF, w->out2, BF);
}

static bn_status bn_inference_forward_backward(world *w)
{
  bn_status st = bn_batchnorm_forward(w->bn, BN_MODE_INFERENCE, BN_N, in.bx, BF, w->out, BF);
  return st != BN_OK ? st
                     : bn_batchnorm_backward(w->bn, BN_N, in.bx, BF, in.bdy, BF, w->out2, BF);
}

static bn_status bn_load_state(world *w)
{
  return bn_batchnorm_load_state(w->bn, in.bn_bytes, in.bn_size);
}

static bn_status bn_kernels(world *w)
{
  float gamma[BF], beta[BF], mean[BF], invstd[BF], var[BF];
  for (int f = 0; f < BF; f++) {
    gamma[f] = 1.0f + 0.1f * (float)f;
    beta[f] = 0.2f * (float)f;
  }
  float *y = w->out, *dx = w->out2, *dg = w->out + BF * BN_N, *db = dg + BF;
  bn_status st = bn_batchnorm_forward_training(BF, BN_N, in.bx, BF, gamma, beta, 1e-5f, 0, y, BF,
                                               mean, invstd, var);
  if (st == BN_OK)
    st = bn_batchnorm_backward_training(BF, BN_N, in.bx, BF, in.bdy, BF, mean, invstd, gamma,
                                        beta, 0, dx, BF, dg, db);
  if (st == BN_OK)
    st = bn_batchnorm_forward_inference(BF, BN_N, in.bx, BF, mean, var, gamma, beta, 1e-5f, 0,
                                        y, BF);
  if (st == BN_OK)
    st = bn_batchnorm_backward_inference(BF, BN_N, in.bx, BF, in.bdy, BF, mean, var, gamma, beta,
                                         1e-5f, 0, dx, BF, dg, db);
  return st;
}

static bn_status dense_create(world *w)
{
  return bn_dense_create(&w->made_dense, DI, DO, 0);
}

static bn_status dense_init(world *w)
{
  bn_rng rng;
  bn_rng_seed(&rng, 9);
  return bn_dense_init(w->dense, BN_INIT_HE_NORMAL, &rng);
}

static bn_status dense_forward_backward(world *w)
{
  bn_status st = bn_dense_forward(w->dense, N, in.dx_in, DI, w->out, DO);
  return st != BN_OK ? st
                     : bn_dense_backward(w->dense, N, in.dx_in, DI, in.ddy, DO, w->out2, DI);
}

static bn_status dense_load_state(world *w)
{
  return bn_dense_load_state(w->dense, in.dense_bytes, in.dense_size);
}

static bn_status dense_fold(world *w)
{
  /* a BatchNorm over the dense layer's outputs, from a training forward */
  bn_batchnorm *b = NULL;
  float y[DO * N], z[DO * N];
  bn_status st = bn_batchnorm_create(&b, DO, 0);
  if (st == BN_OK)
    st = bn_dense_forward(w->dense, N, in.dx_in, DI, y, DO);
  if (st == BN_OK)
    st = bn_batchnorm_forward(b, BN_MODE_TRAINING, N, y, DO, z, DO);
  if (st == BN_OK)
    st = bn_dense_fold_batchnorm(w->dense, b, &w->made_dense);
  bn_batchnorm_destroy(b);
  return st;
}

#define EXHAUST(op)                                                                        \
  static void test_##op(void **state)                                                      \
  {                                                                                        \
    (void)state;                                                                           \
    exhaust(#op, op);                                                                      \
  }
EXHAUST(mlp_create)
EXHAUST(mlp_init)
EXHAUST(mlp_set_optimizer)
EXHAUST(mlp_train_step)
EXHAUST(mlp_fit)
EXHAUST(mlp_predict_inference)
EXHAUST(mlp_predict_training)
EXHAUST(mlp_evaluate)
EXHAUST(mlp_recompute_statistics)
EXHAUST(mlp_fold)
EXHAUST(mlp_serialize)
EXHAUST(mlp_deserialize)
EXHAUST(mlp_save_new)
EXHAUST(mlp_save_replace)
EXHAUST(mlp_load)
EXHAUST(bn_create)
EXHAUST(bn_set_threads)
EXHAUST(bn_train_forward_backward)
EXHAUST(bn_inference_forward_backward)
EXHAUST(bn_load_state)
EXHAUST(bn_kernels)
EXHAUST(dense_create)
EXHAUST(dense_init)
EXHAUST(dense_forward_backward)
EXHAUST(dense_load_state)
EXHAUST(dense_fold)

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_mlp_create),
    cmocka_unit_test(test_mlp_init),
    cmocka_unit_test(test_mlp_set_optimizer),
    cmocka_unit_test(test_mlp_train_step),
    cmocka_unit_test(test_mlp_fit),
    cmocka_unit_test(test_mlp_predict_inference),
    cmocka_unit_test(test_mlp_predict_training),
    cmocka_unit_test(test_mlp_evaluate),
    cmocka_unit_test(test_mlp_recompute_statistics),
    cmocka_unit_test(test_mlp_fold),
    cmocka_unit_test(test_mlp_serialize),
    cmocka_unit_test(test_mlp_deserialize),
    cmocka_unit_test(test_mlp_save_new),
    cmocka_unit_test(test_mlp_save_replace),
    cmocka_unit_test(test_mlp_load),
    cmocka_unit_test(test_bn_create),
    cmocka_unit_test(test_bn_set_threads),
    cmocka_unit_test(test_bn_train_forward_backward),
    cmocka_unit_test(test_bn_inference_forward_backward),
    cmocka_unit_test(test_bn_load_state),
    cmocka_unit_test(test_bn_kernels),
    cmocka_unit_test(test_dense_create),
    cmocka_unit_test(test_dense_init),
    cmocka_unit_test(test_dense_forward_backward),
    cmocka_unit_test(test_dense_load_state),
    cmocka_unit_test(test_dense_fold),
  };
  return cmocka_run_group_tests(tests, make_fixtures, free_fixtures);
}

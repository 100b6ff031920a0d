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
 * n runs from 1 until the call makes fewer than n allocations.
 *
 * Built with BNT_WITH_MPI (test_alloc_failure_mpi, run by mpirun on one
 * process), it runs libbn_mpi's cases instead: bn_mpi_attach, and training
 * through an attachment, on MPI_COMM_WORLD. */
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
#include "blob_testing.h"
#include "failing_alloc.h"
#ifdef BNT_WITH_MPI
#include "bn_mpi.h"
#endif

enum {
  F = 6,        /* MLP inputs */
  C = 3,        /* classes */
  N = 16,       /* samples */
  BF = 5,       /* BatchNorm layer features */
  BN_N = 40,    /* its batch: 200 elements, split over threads (BN_PARALLEL_MIN_ELEMENTS) */
  DI = 7, DO = 4, /* dense layer shape */
  RESULT_BYTES = 1 << 17
};

/* Inputs shared by every call, and the fixtures every iteration starts from. */
static struct {
  float x[F * N], bx[BF * BN_N], bdy[BF * BN_N], dx_in[DI * N], ddy[DO * N];
  int32_t labels[N];
  unsigned char *mlp_bytes, *bn_bytes, *dense_bytes, *std_bytes, *smlp_bytes, *umlp_bytes;
  size_t mlp_size, bn_size, dense_size, std_size, smlp_size, umlp_size;
  char dir[64], old_path[96], old_std_path[96], new_path[96];
} in;

/* The handles and outputs of one iteration. */
typedef struct world {
  bn_mlp *mlp;          /* existing handles, from the fixtures */
  bn_mlp *smlp;         /* with a fitted standardizer stage and a training record */
  bn_mlp *umlp;         /* with a standardizer stage not fitted yet */
  bn_mlp *rmlp;         /* rank 0 of 2 through mirror_reduce */
#ifdef BNT_WITH_MPI
  bn_mlp *ampi;         /* attached to MPI_COMM_WORLD through `attachment` */
  bn_mpi *attachment, *made_attachment;
#endif
  bn_mlp *subject;      /* the one of these the MLP operations act on */
  bn_batchnorm *bn;
  bn_dense *dense;
  bn_standardizer *std;
  bn_mlp *made_mlp;     /* handles a call creates */
  bn_batchnorm *made_bn;
  bn_dense *made_dense;
  bn_standardizer *made_std;
  float out[64 * 64];   /* outputs of the call */
  float out2[64 * 64];
  size_t written;
  unsigned char blob[8192];
} world;

typedef bn_status (*operation)(world *w);

/* Which existing MLP an operation acts on. */
typedef enum subject { ON_MLP, ON_SMLP, ON_UMLP, ON_RMLP, ON_MPI } subject;

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

/* A handle's state blob in a new buffer; *size receives its length. */
BLOB_SNAPSHOT_FN(bn_state, bn_batchnorm, bn_batchnorm_serialized_size, bn_batchnorm_serialize)
BLOB_SNAPSHOT_FN(dense_state, bn_dense, bn_dense_serialized_size, bn_dense_serialize)
BLOB_SNAPSHOT_FN(std_state, bn_standardizer, bn_standardizer_serialized_size,
                 bn_standardizer_serialize)

/* The other rank of a two-rank training, as an exact copy of this one: a sum
 * doubles, and merging a block of moments with an identical one doubles the
 * count and M2 and keeps the mean. Deterministic, in-process, and every
 * sharded path of the MLP runs (reducer.c). */
static size_t mirror_calls; /* collectives made, for test_reducer_attach_takes_part */

static bn_status mirror_reduce(void *context, bn_reduce_op op, double *data, size_t count)
{
  (void)context;
  mirror_calls++;
  const size_t features = (count - 1) / 2;
  for (size_t i = 0; i < count; i++)
    if (op == BN_REDUCE_SUM || i == 0 || i > features)
      data[i] *= 2.0;
  return BN_OK;
}

static void write_file(const char *path, const void *bytes, size_t size)
{
  FILE *f = fopen(path, "wb");
  assert_non_null(f);
  assert_int_equal(fwrite(bytes, 1, size, f), size);
  assert_int_equal(fclose(f), 0);
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

  /* The same with a standardizer stage: fitted, trained, with a record. */
  const unsigned std_flags = BN_MLP_INPUT_BATCHNORM | BN_MLP_STANDARDIZE;
  assert_int_equal(bn_mlp_create(&m, F, hidden, 2, C, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, std_flags), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  in.umlp_bytes = serialize_mlp(m, &in.umlp_size);
  assert_int_equal(bn_mlp_fit_standardizer(m, N, in.x, F), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, N, in.x, F, in.labels, NULL, NULL), BN_OK);
  assert_int_equal(bn_mlp_set_training_record(m, "lr=0.1 epochs=3", 15), BN_OK);
  in.smlp_bytes = serialize_mlp(m, &in.smlp_size);
  bn_mlp_destroy(m);

  bn_standardizer *s;
  assert_int_equal(bn_standardizer_create(&s, F), BN_OK);
  assert_int_equal(bn_standardizer_fit(s, N, in.x, F), BN_OK);
  in.std_bytes = std_state(s, &in.std_size);
  bn_standardizer_destroy(s);

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
  snprintf(in.old_std_path, sizeof in.old_std_path, "%s/old_std.bnm", in.dir);
  snprintf(in.new_path, sizeof in.new_path, "%s/new.bnm", in.dir);
  return 0;
}

static int free_fixtures(void **state)
{
  (void)state;
  free(in.mlp_bytes);
  free(in.bn_bytes);
  free(in.dense_bytes);
  free(in.std_bytes);
  free(in.smlp_bytes);
  free(in.umlp_bytes);
  unlink(in.old_path);
  unlink(in.old_std_path);
  unlink(in.new_path);
  rmdir(in.dir);
  return 0;
}

/* The existing handles, rebuilt from the fixtures without failures. */
static void setup_world(world *w, subject on)
{
  memset(w, 0, sizeof *w);
  assert_int_equal(bn_mlp_deserialize(&w->mlp, in.mlp_bytes, in.mlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_deserialize(&w->smlp, in.smlp_bytes, in.smlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_deserialize(&w->umlp, in.umlp_bytes, in.umlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_deserialize(&w->rmlp, in.mlp_bytes, in.mlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_set_reducer(w->rmlp, mirror_reduce, NULL, 0, 2), BN_OK);
  assert_int_equal(bn_standardizer_create_from_bytes(&w->std, in.std_bytes, in.std_size, NULL, 0),
                   BN_OK);
  assert_int_equal(bn_batchnorm_create(&w->bn, BF, BN_BATCHNORM_FUSE_RELU), BN_OK);
  assert_int_equal(bn_batchnorm_load_state(w->bn, in.bn_bytes, in.bn_size), BN_OK);
  assert_int_equal(bn_batchnorm_set_threads(w->bn, 2), BN_OK);
  assert_int_equal(bn_dense_create(&w->dense, DI, DO, 0), BN_OK);
  assert_int_equal(bn_dense_load_state(w->dense, in.dense_bytes, in.dense_size), BN_OK);
  bn_mlp *subjects[] = {[ON_MLP] = w->mlp, [ON_SMLP] = w->smlp, [ON_UMLP] = w->umlp,
                        [ON_RMLP] = w->rmlp, [ON_MPI] = NULL};
#ifdef BNT_WITH_MPI
  assert_int_equal(bn_mlp_deserialize(&w->ampi, in.mlp_bytes, in.mlp_size, NULL, 0), BN_OK);
  assert_int_equal(bn_mpi_attach(&w->attachment, w->ampi, MPI_COMM_WORLD, NULL, 0), BN_OK);
  subjects[ON_MPI] = w->ampi;
#endif
  w->subject = subjects[on];
  write_file(in.old_path, in.mlp_bytes, in.mlp_size);
  write_file(in.old_std_path, in.smlp_bytes, in.smlp_size);
  unlink(in.new_path);
}

static void teardown_world(world *w)
{
#ifdef BNT_WITH_MPI
  bn_mpi_detach(w->made_attachment);
  bn_mpi_detach(w->attachment);
  bn_mlp_destroy(w->ampi);
#endif
  bn_mlp_destroy(w->mlp);
  bn_mlp_destroy(w->smlp);
  bn_mlp_destroy(w->umlp);
  bn_mlp_destroy(w->rmlp);
  bn_mlp_destroy(w->made_mlp);
  bn_standardizer_destroy(w->std);
  bn_standardizer_destroy(w->made_std);
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
  const bn_mlp *const mlps[] = {w->mlp, w->smlp, w->umlp, w->rmlp};
  for (size_t i = 0; i < sizeof mlps / sizeof *mlps; i++)
    put_owned(buf, &len, serialize_mlp(mlps[i], &size), &size);
#ifdef BNT_WITH_MPI
  put_owned(buf, &len, serialize_mlp(w->ampi, &size), &size);
#endif
  put_owned(buf, &len, bn_state(w->bn, &size), &size);
  put_owned(buf, &len, dense_state(w->dense, &size), &size);
  put_owned(buf, &len, std_state(w->std, &size), &size);
  put_owned(buf, &len, test_read_file(in.old_path, &size), &size);
  put_owned(buf, &len, test_read_file(in.old_std_path, &size), &size);
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
  if (w->made_std)
    put_owned(buf, &len, std_state(w->made_std, &size), &size);
  if (access(in.new_path, F_OK) == 0)
    put_owned(buf, &len, test_read_file(in.new_path, &size), &size);
  return len;
}

/* Entries of the save/load folder besides the two old files (a temporary
 * file left behind by a failed save would show here). */
static int stray_files(void)
{
  DIR *d = opendir(in.dir);
  assert_non_null(d);
  int stray = 0;
  for (struct dirent *e; (e = readdir(d));)
    stray += strcmp(e->d_name, ".") && strcmp(e->d_name, "..") && strcmp(e->d_name, "old.bnm") &&
             strcmp(e->d_name, "old_std.bnm");
  closedir(d);
  return stray;
}

/* The attachment a call made, if any. */
static const void *made_attachment(const world *w)
{
#ifdef BNT_WITH_MPI
  return w->made_attachment;
#else
  (void)w;
  return NULL;
#endif
}

/* Run op on fresh handles failing the n-th call, for n = 1, 2, ... until op
 * makes fewer than n calls; check the rules in the file comment. */
static void exhaust(const char *name, operation op, subject on)
{
  static unsigned char expected[RESULT_BYTES], before[RESULT_BYTES], after[RESULT_BYTES];
  world w;
  const long live0 = bnt_live_blocks();

  setup_world(&w, on);
  bnt_arm(SIZE_MAX); /* count only */
  assert_int_equal(op(&w), BN_OK);
  const size_t calls = bnt_disarm();
  const size_t expected_len = results(&w, expected);
  teardown_world(&w);
  assert_int_equal(bnt_live_blocks(), live0);

  for (size_t n = 1; n <= calls; n++) {
    setup_world(&w, on);
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
      if (w.made_mlp || w.made_bn || w.made_dense || w.made_std || made_attachment(&w))
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
  return bn_mlp_init(w->subject, BN_INIT_GLOROT_NORMAL, &rng);
}

static bn_status mlp_set_optimizer(world *w)
{
  return bn_mlp_set_parameter(w->subject, BN_MLP_OPTIMIZER, BN_MLP_MOMENTUM);
}

static bn_status mlp_train_step(world *w)
{
  return bn_mlp_train_step(w->subject, N, in.x, F, in.labels, NULL, w->out);
}

static bn_status mlp_fit(world *w)
{
  bn_rng rng;
  bn_rng_seed(&rng, 3);
  return bn_mlp_fit(w->subject, N, in.x, F, in.labels, NULL, 5, 2, &rng, NULL, NULL);
}

static bn_status mlp_predict_inference(world *w)
{
  return bn_mlp_predict(w->subject, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, N, in.x, F, w->out, C);
}

static bn_status mlp_predict_training(world *w)
{
  return bn_mlp_predict(w->subject, BN_MODE_TRAINING, BN_MLP_LOGITS, N, in.x, F, w->out, C);
}

static bn_status mlp_evaluate(world *w)
{
  return bn_mlp_evaluate(w->subject, N, in.x, F, in.labels, NULL, w->out, w->out + 1);
}

static bn_status mlp_recompute_statistics(world *w)
{
  return bn_mlp_recompute_statistics(w->subject, N, in.x, F);
}

static bn_status mlp_fold(world *w)
{
  return bn_mlp_fold_batchnorm(w->subject, &w->made_mlp);
}

static bn_status mlp_serialize(world *w)
{
  return bn_mlp_serialize(w->subject, BN_MLP_SAVE_OPTIMIZER, w->blob, sizeof w->blob, &w->written);
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

/* The stateless kernels' parameters: scale, shift, and the running
 * statistics Batch Renormalization corrects towards. */
static void kernel_parameters(float *gamma, float *beta, float *running_mean, float *running_var)
{
  for (int f = 0; f < BF; f++) {
    gamma[f] = 1.0f + 0.1f * (float)f;
    beta[f] = 0.2f * (float)f;
    running_mean[f] = 0.1f * (float)f;
    running_var[f] = 0.5f + 0.3f * (float)f;
  }
}

static bn_status bn_kernels(world *w)
{
  float gamma[BF], beta[BF], mean[BF], invstd[BF], var[BF], rmean[BF], rvar[BF], r[BF], d[BF];
  kernel_parameters(gamma, beta, rmean, rvar);
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
  if (st == BN_OK)
    st = bn_batchnorm_renorm_forward_training(BF, BN_N, in.bx, BF, gamma, beta, 1e-5f, 0, rmean,
                                              rvar, 1.5f, 0.5f, y, BF, mean, invstd, var, r, d);
  if (st == BN_OK)
    st = bn_batchnorm_renorm_backward_training(BF, BN_N, in.bx, BF, in.bdy, BF, mean, invstd, r,
                                               d, gamma, beta, 0, dx, BF, dg, db);
  double moments[2 * BF];
  if (st == BN_OK)
    st = bn_batchnorm_moments(BF, BN_N, in.bx, BF, moments, moments + BF);
  if (st == BN_OK) /* into the results */
    memcpy(db + BF, moments, sizeof moments);
  return st;
}

/* The _ws kernels, on caller workspace, make no allocation at all (counted
 * by the wrappers), with and without the fused ReLU: armed to fail the
 * first one, they succeed and no call is counted. */
static void test_workspace_kernels_allocate_nothing(void **state)
{
  (void)state;
  float gamma[BF], beta[BF], mean[BF], invstd[BF], var[BF], rmean[BF], rvar[BF], r[BF], d[BF];
  float dg[BF], db[BF], y[BF * BN_N], dx[BF * BN_N];
  double residual[BF], moment_mean[BF], m2[BF], ws[8 * BF];
  kernel_parameters(gamma, beta, rmean, rvar);
  size_t bytes = 0;
  bnt_arm(1);
  assert_int_equal(bn_batchnorm_workspace_size(BF, &bytes), BN_OK);
  assert_true(bytes <= sizeof ws);
  for (unsigned flags = 0; flags <= BN_BATCHNORM_FUSE_RELU; flags += BN_BATCHNORM_FUSE_RELU) {
    assert_int_equal(bn_batchnorm_forward_training_ws(BF, BN_N, in.bx, BF, gamma, beta, 1e-5f,
                                                      flags, y, BF, mean, invstd, var, residual,
                                                      ws, bytes),
                     BN_OK);
    assert_int_equal(bn_batchnorm_backward_training_ws(BF, BN_N, in.bx, BF, in.bdy, BF, mean,
                                                       invstd, residual, gamma, beta, flags, dx,
                                                       BF, dg, db, ws, bytes),
                     BN_OK);
    assert_int_equal(bn_batchnorm_forward_inference_ws(BF, BN_N, in.bx, BF, mean, var, gamma,
                                                       beta, 1e-5f, flags, y, BF, ws, bytes),
                     BN_OK);
    assert_int_equal(bn_batchnorm_backward_inference_ws(BF, BN_N, in.bx, BF, in.bdy, BF, mean,
                                                        var, gamma, beta, 1e-5f, flags, dx, BF,
                                                        dg, db, ws, bytes),
                     BN_OK);
    assert_int_equal(bn_batchnorm_renorm_forward_training_ws(
                         BF, BN_N, in.bx, BF, gamma, beta, 1e-5f, flags, rmean, rvar, 1.5f, 0.5f,
                         y, BF, mean, invstd, var, r, d, residual, ws, bytes),
                     BN_OK);
    assert_int_equal(bn_batchnorm_renorm_backward_training_ws(
                         BF, BN_N, in.bx, BF, in.bdy, BF, mean, invstd, r, d, residual, gamma,
                         beta, flags, dx, BF, dg, db, ws, bytes),
                     BN_OK);
  }
  assert_int_equal(bn_batchnorm_moments_ws(BF, BN_N, in.bx, BF, moment_mean, m2, ws, bytes),
                   BN_OK);
  assert_int_equal(bnt_disarm(), 0);
  assert_int_equal(bnt_failed_call(), BNT_NONE);
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

/* ---- standardizer ---------------------------------------------------------- */

static bn_status std_create(world *w)
{
  return bn_standardizer_create(&w->made_std, F);
}

static bn_status std_create_from_bytes(world *w)
{
  return bn_standardizer_create_from_bytes(&w->made_std, in.std_bytes, in.std_size, NULL, 0);
}

static bn_status std_fit(world *w)
{
  return bn_standardizer_fit(w->std, N / 2, in.x, F);
}

static bn_status std_partial_fit(world *w)
{
  return bn_standardizer_partial_fit(w->std, N / 2, in.x + F * (N / 2), F);
}

static bn_status std_transform_inverse(world *w)
{
  bn_status st = bn_standardizer_transform(w->std, N, in.x, F, w->out, F);
  return st != BN_OK ? st : bn_standardizer_inverse_transform(w->std, N, w->out, F, w->out2, F);
}

static bn_status std_set_parameter(world *w)
{
  return bn_standardizer_set_parameter(w->std, BN_STANDARDIZER_WITH_MEAN, 0.0);
}

static bn_status std_serialize(world *w)
{
  return bn_standardizer_serialize(w->std, w->blob, sizeof w->blob, &w->written);
}

static bn_status std_deserialize(world *w)
{
  /* another valid state: the MLP's stage not fitted yet (count 0) */
  const bn_standardizer *stage;
  bn_status st = bn_mlp_standardizer(w->umlp, &stage);
  if (st == BN_OK)
    st = bn_standardizer_serialize(stage, w->blob, sizeof w->blob, &w->written);
  return st != BN_OK ? st : bn_standardizer_deserialize(w->std, w->blob, w->written);
}

/* ---- the MLP's standardizer stage ----------------------------------------- */

static bn_status smlp_create(world *w)
{
  const size_t hidden[1] = {5};
  return bn_mlp_create(&w->made_mlp, F, hidden, 1, C, BN_ACT_TANH, BN_MLP_BN_AFTER,
                       BN_MLP_HEAD_SOFTMAX, BN_MLP_STANDARDIZE);
}

static bn_status smlp_fit_standardizer(world *w)
{
  return bn_mlp_fit_standardizer(w->umlp, N, in.x, F);
}

static bn_status smlp_partial_fit_standardizer(world *w)
{
  return bn_mlp_partial_fit_standardizer(w->smlp, N / 2, in.x, F);
}

static bn_status smlp_set_training_record(world *w)
{
  return bn_mlp_set_training_record(w->smlp, "lr=0.05 epochs=9 seed=3", 23);
}

static bn_status smlp_deserialize(world *w)
{
  return bn_mlp_deserialize(&w->made_mlp, in.smlp_bytes, in.smlp_size, NULL, 0);
}

static bn_status smlp_save_replace(world *w)
{
  return bn_mlp_save(w->smlp, in.old_std_path, 0);
}

static bn_status smlp_load(world *w)
{
  return bn_mlp_load(&w->made_mlp, in.old_std_path, NULL, 0);
}

/* ---- the reducer (data-parallel training) ---------------------------------- */

static bn_status reducer_attach(world *w)
{
  return bn_mlp_set_reducer(w->mlp, mirror_reduce, NULL, 0, 2);
}

#ifdef BNT_WITH_MPI
/* ---- libbn_mpi ------------------------------------------------------------- */

static bn_status mpi_attach(world *w)
{
  char message[256];
  return bn_mpi_attach(&w->made_attachment, w->mlp, MPI_COMM_WORLD, message, sizeof message);
}
#endif

/* test_NAME runs op on the given subject. */
#define EXHAUST_ON(name, op, on)                                                           \
  static void test_##name(void **state)                                                    \
  {                                                                                        \
    (void)state;                                                                           \
    exhaust(#name, op, on);                                                                \
  }
#define EXHAUST(op) EXHAUST_ON(op, op, ON_MLP)
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
EXHAUST(std_create)
EXHAUST(std_create_from_bytes)
EXHAUST(std_fit)
EXHAUST(std_partial_fit)
EXHAUST(std_transform_inverse)
EXHAUST(std_set_parameter)
EXHAUST(std_serialize)
EXHAUST(std_deserialize)
EXHAUST(smlp_create)
EXHAUST(smlp_fit_standardizer)
EXHAUST(smlp_partial_fit_standardizer)
EXHAUST_ON(smlp_fit_unfitted, mlp_fit, ON_UMLP)
EXHAUST_ON(smlp_train_step, mlp_train_step, ON_SMLP)
EXHAUST_ON(smlp_predict, mlp_predict_inference, ON_SMLP)
EXHAUST_ON(smlp_evaluate, mlp_evaluate, ON_SMLP)
EXHAUST_ON(smlp_recompute_statistics, mlp_recompute_statistics, ON_SMLP)
EXHAUST_ON(smlp_fold, mlp_fold, ON_SMLP)
EXHAUST(smlp_set_training_record)
EXHAUST_ON(smlp_serialize, mlp_serialize, ON_SMLP)
EXHAUST(smlp_deserialize)
EXHAUST(smlp_save_replace)
EXHAUST(smlp_load)
EXHAUST(reducer_attach)
EXHAUST_ON(reducer_train_step, mlp_train_step, ON_RMLP)
EXHAUST_ON(reducer_fit, mlp_fit, ON_RMLP)
EXHAUST_ON(reducer_evaluate, mlp_evaluate, ON_RMLP)
EXHAUST_ON(reducer_recompute_statistics, mlp_recompute_statistics, ON_RMLP)

/* A rank that cannot allocate its reduce buffer still makes the attach's
 * collective (reporting the failure), so the other ranks are not left
 * waiting in it. */
static void test_reducer_attach_takes_part(void **state)
{
  (void)state;
  world w;
  setup_world(&w, ON_MLP);
  mirror_calls = 0;
  bnt_arm(1);
  const bn_status st = reducer_attach(&w);
  bnt_disarm();
  assert_int_equal(bnt_failed_call(), BNT_ALLOCATION);
  assert_int_equal(st, BN_ERR_OUT_OF_MEMORY);
  assert_int_equal(mirror_calls, 1);
  teardown_world(&w);
}

#ifdef BNT_WITH_MPI
EXHAUST(mpi_attach)
EXHAUST_ON(mpi_train_step, mlp_train_step, ON_MPI)
EXHAUST_ON(mpi_fit, mlp_fit, ON_MPI)
EXHAUST_ON(mpi_evaluate, mlp_evaluate, ON_MPI)
#endif

int main(int argc, char **argv)
{
#ifdef BNT_WITH_MPI
  MPI_Init(&argc, &argv);
  cmocka_set_test_filter("test_mpi_*"); /* the rest is ctest alloc_failure */
#else
  (void)argc;
  (void)argv;
#endif
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
    cmocka_unit_test(test_workspace_kernels_allocate_nothing),
    cmocka_unit_test(test_dense_create),
    cmocka_unit_test(test_dense_init),
    cmocka_unit_test(test_dense_forward_backward),
    cmocka_unit_test(test_dense_load_state),
    cmocka_unit_test(test_dense_fold),
    cmocka_unit_test(test_std_create),
    cmocka_unit_test(test_std_create_from_bytes),
    cmocka_unit_test(test_std_fit),
    cmocka_unit_test(test_std_partial_fit),
    cmocka_unit_test(test_std_transform_inverse),
    cmocka_unit_test(test_std_set_parameter),
    cmocka_unit_test(test_std_serialize),
    cmocka_unit_test(test_std_deserialize),
    cmocka_unit_test(test_smlp_create),
    cmocka_unit_test(test_smlp_fit_standardizer),
    cmocka_unit_test(test_smlp_partial_fit_standardizer),
    cmocka_unit_test(test_smlp_fit_unfitted),
    cmocka_unit_test(test_smlp_train_step),
    cmocka_unit_test(test_smlp_predict),
    cmocka_unit_test(test_smlp_evaluate),
    cmocka_unit_test(test_smlp_recompute_statistics),
    cmocka_unit_test(test_smlp_fold),
    cmocka_unit_test(test_smlp_set_training_record),
    cmocka_unit_test(test_smlp_serialize),
    cmocka_unit_test(test_smlp_deserialize),
    cmocka_unit_test(test_smlp_save_replace),
    cmocka_unit_test(test_smlp_load),
    cmocka_unit_test(test_reducer_attach),
    cmocka_unit_test(test_reducer_attach_takes_part),
    cmocka_unit_test(test_reducer_train_step),
    cmocka_unit_test(test_reducer_fit),
    cmocka_unit_test(test_reducer_evaluate),
    cmocka_unit_test(test_reducer_recompute_statistics),
#ifdef BNT_WITH_MPI
    cmocka_unit_test(test_mpi_attach),
    cmocka_unit_test(test_mpi_train_step),
    cmocka_unit_test(test_mpi_fit),
    cmocka_unit_test(test_mpi_evaluate),
#endif
  };
  const int failed = cmocka_run_group_tests(tests, make_fixtures, free_fixtures);
#ifdef BNT_WITH_MPI
  MPI_Finalize();
#endif
  return failed;
}

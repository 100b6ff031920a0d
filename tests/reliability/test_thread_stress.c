/* Threads, as the headers promise them (run under ThreadSanitizer in CI):
 *   - distinct handles on distinct threads: WORKERS threads each train,
 *     evaluate, predict, fold, serialize and reload their own MLP, run their
 *     own BatchNorm layer on its own threads and their own dense layer; each
 *     result equals, bit for bit, the same worker run alone;
 *   - calls without a handle (stateless kernels, deserialize, load,
 *     parameter bounds, status strings) on the same read-only inputs from
 *     every thread at once;
 *   - many callers: MANY threads (more than OpenBLAS's buffer table holds,
 *     see src/core/blas.c) each run a dense layer at once; nothing crashes
 *     or prints, every result equals the one-thread result. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <unistd.h>
#include "testing.h"

enum {
  WORKERS = 6,
  F = 10, C = 4, N = 48,  /* MLP inputs, classes, samples */
  BF = 9, BN_N = 96,      /* BatchNorm layer (split over threads: BN_PARALLEL_MIN_ELEMENTS) */
  MODEL_BYTES = 1 << 15,
  MANY = 300,             /* callers at once in the many-callers test */
  MD = 256, MN = 256      /* their dense layer: MD x MD weights, batch MN */
};

/* Read-only inputs every thread shares. */
static struct {
  float x[F * N], bx[BF * BN_N], bdy[BF * BN_N], gamma[BF], beta[BF];
  int32_t labels[N];
  unsigned char model[MODEL_BYTES];
  size_t model_size;
  char path[64];
  float *mx;
  float *my_reference;
} shared;

/* Everything one worker produces. */
typedef struct result {
  bn_status status;
  const char *where;
  unsigned char model[MODEL_BYTES], folded[MODEL_BYTES];
  size_t model_size, folded_size;
  float predictions[C * N], loss, accuracy;
  float by[BF * BN_N], bdx[BF * BN_N], running[2 * BF];
  float ky[BF * BN_N], kdx[BF * BN_N], kmean[BF], kinvstd[BF], kdg[BF], kdb[BF];
  unsigned char loaded[MODEL_BYTES];
  size_t loaded_size;
} result;

typedef struct worker {
  uint64_t seed;
  result r;
} worker;

#define TRY(call)                                                                          \
  do {                                                                                     \
    bn_status st_ = (call);                                                                \
    if (st_ != BN_OK) {                                                                    \
      r->status = st_;                                                                     \
      r->where = #call;                                                                    \
      goto done;                                                                           \
    }                                                                                      \
  } while (0)

static void *work(void *arg)
{
  worker *w = arg;
  result *r = &w->r;
  bn_mlp *m = NULL, *folded = NULL, *copy = NULL, *loaded = NULL;
  bn_batchnorm *b = NULL;
  bn_rng rng;
  const size_t hidden[2] = {16, 12};
  r->status = BN_OK;
  bn_rng_seed(&rng, w->seed);

  TRY(bn_mlp_create(&m, F, hidden, 2, C, w->seed % 2 ? BN_ACT_RELU : BN_ACT_TANH,
                    w->seed % 3 ? BN_MLP_BN_BEFORE : BN_MLP_BN_AFTER, BN_MLP_HEAD_SOFTMAX,
                    BN_MLP_INPUT_BATCHNORM));
  TRY(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng));
  TRY(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0.01));
  for (int s = 0; s < 5; s++)
    TRY(bn_mlp_train_step(m, N, shared.x, F, shared.labels, NULL, NULL));
  TRY(bn_mlp_fit(m, N, shared.x, F, shared.labels, NULL, 16, 2, &rng, NULL, NULL));
  TRY(bn_mlp_recompute_statistics(m, N, shared.x, F));
  TRY(bn_mlp_evaluate(m, N, shared.x, F, shared.labels, NULL, &r->loss, &r->accuracy));
  TRY(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, N, shared.x, F,
                     r->predictions, C));
  TRY(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, r->model, MODEL_BYTES, &r->model_size));
  TRY(bn_mlp_deserialize(&copy, r->model, r->model_size, NULL, 0));
  TRY(bn_mlp_fold_batchnorm(copy, &folded));
  TRY(bn_mlp_serialize(folded, 0, r->folded, MODEL_BYTES, &r->folded_size));

  /* The same file and the same buffer from every thread. */
  TRY(bn_mlp_load(&loaded, shared.path, NULL, 0));
  TRY(bn_mlp_serialize(loaded, BN_MLP_SAVE_OPTIMIZER, r->loaded, MODEL_BYTES, &r->loaded_size));
  bn_mlp_destroy(loaded);
  loaded = NULL;
  TRY(bn_mlp_deserialize(&loaded, shared.model, shared.model_size, NULL, 0));

  TRY(bn_batchnorm_create(&b, BF, w->seed % 2 ? BN_BATCHNORM_FUSE_RELU : 0));
  TRY(bn_batchnorm_set_threads(b, 3));
  for (int s = 0; s < 4; s++) {
    TRY(bn_batchnorm_forward(b, BN_MODE_TRAINING, BN_N, shared.bx, BF, r->by, BF));
    TRY(bn_batchnorm_backward(b, BN_N, shared.bx, BF, shared.bdy, BF, r->bdx, BF));
  }
  TRY(bn_batchnorm_get(b, BN_BATCHNORM_RUNNING_MEAN, r->running, BF));
  TRY(bn_batchnorm_get(b, BN_BATCHNORM_RUNNING_VAR, r->running + BF, BF));

  TRY(bn_batchnorm_forward_training(BF, BN_N, shared.bx, BF, shared.gamma, shared.beta, 1e-5f, 0,
                                    r->ky, BF, r->kmean, r->kinvstd, NULL));
  TRY(bn_batchnorm_backward_training(BF, BN_N, shared.bx, BF, shared.bdy, BF, r->kmean,
                                     r->kinvstd, shared.gamma, shared.beta, 0, r->kdx, BF, r->kdg,
                                     r->kdb));
  double lower, upper;
  TRY(bn_mlp_parameter_bounds(BN_MLP_ADAM_BETA2, &lower, &upper));
  if (bn_status_string(BN_ERR_NON_FINITE)[0] == '\0')
    r->status = BN_ERR_INVALID_ARGUMENT;
done:
  bn_batchnorm_destroy(b);
  bn_mlp_destroy(loaded);
  bn_mlp_destroy(folded);
  bn_mlp_destroy(copy);
  bn_mlp_destroy(m);
  return NULL;
}

static int make_inputs(void **state)
{
  (void)state;
  test_rng r = {2024};
  test_fill(&r, shared.x, F, N, F, 0.3, 1.7);
  test_fill(&r, shared.bx, BF, BN_N, BF, -2.0, 3.0);
  test_fill(&r, shared.bdy, BF, BN_N, BF, 0.0, 1.0);
  for (int f = 0; f < BF; f++) {
    shared.gamma[f] = 0.5f + 0.1f * (float)f;
    shared.beta[f] = -0.2f * (float)f;
  }
  for (int j = 0; j < N; j++)
    shared.labels[j] = (int32_t)(test_rng_next(&r) % C);

  const size_t hidden[1] = {8};
  bn_mlp *m;
  bn_rng rng;
  bn_rng_seed(&rng, 1);
  assert_int_equal(bn_mlp_create(&m, F, hidden, 1, C, BN_ACT_ELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, 0), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_GLOROT_UNIFORM, &rng), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, N, shared.x, F, shared.labels, NULL, NULL), BN_OK);
  assert_int_equal(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, shared.model, MODEL_BYTES,
                                    &shared.model_size), BN_OK);
  snprintf(shared.path, sizeof shared.path, "/tmp/bn_thread_stress_%ld.bnm", (long)getpid());
  assert_int_equal(bn_mlp_save(m, shared.path, BN_MLP_SAVE_OPTIMIZER), BN_OK);
  bn_mlp_destroy(m);
  return 0;
}

static int remove_inputs(void **state)
{
  (void)state;
  unlink(shared.path);
  return 0;
}

static void assert_worker_ok(const worker *w)
{
  if (w->r.status != BN_OK)
    fail_msg("worker %llu: %s returned %s", (unsigned long long)w->seed, w->r.where,
             bn_status_string(w->r.status));
}

/* WORKERS threads at once give what each gives alone; the loaded file and
 * buffer equal the shared model in every thread. */
static void distinct_handles_equal_sequential(void **state)
{
  (void)state;
  static worker alone[WORKERS], together[WORKERS];
  pthread_t tid[WORKERS];
  for (int i = 0; i < WORKERS; i++) {
    alone[i].seed = together[i].seed = 100 + (uint64_t)i;
    work(&alone[i]);
    assert_worker_ok(&alone[i]);
  }
  for (int i = 0; i < WORKERS; i++)
    assert_int_equal(pthread_create(&tid[i], NULL, work, &together[i]), 0);
  for (int i = 0; i < WORKERS; i++)
    assert_int_equal(pthread_join(tid[i], NULL), 0);
  for (int i = 0; i < WORKERS; i++) {
    assert_worker_ok(&together[i]);
    if (memcmp(&alone[i].r, &together[i].r, sizeof alone[i].r) != 0)
      fail_msg("worker %d: results differ when run concurrently", i);
    assert_int_equal(together[i].r.loaded_size, shared.model_size);
    assert_memory_equal(together[i].r.loaded, shared.model, shared.model_size);
  }
  /* different seeds trained different models, so a mix-up would show */
  assert_memory_not_equal(alone[0].r.model, alone[1].r.model, alone[0].r.model_size);
}

/* ---- many callers ------------------------------------------------------------ */

static pthread_barrier_t start_together;

typedef struct caller {
  bn_status status;
  int same;
} caller;

static void *call_dense(void *arg)
{
  caller *c = arg;
  bn_dense *d = NULL;
  bn_rng rng;
  float *y = malloc((size_t)MD * MN * sizeof *y);
  bn_rng_seed(&rng, 5);
  c->status = y ? bn_dense_create(&d, MD, MD, 0) : BN_ERR_OUT_OF_MEMORY;
  if (c->status == BN_OK)
    c->status = bn_dense_init(d, BN_INIT_HE_NORMAL, &rng);
  pthread_barrier_wait(&start_together);
  for (int i = 0; c->status == BN_OK && i < 3; i++)
    c->status = bn_dense_forward(d, MN, shared.mx, MD, y, MD);
  c->same = c->status == BN_OK && y &&
            memcmp(y, shared.my_reference, (size_t)MD * MN * sizeof *y) == 0;
  bn_dense_destroy(d);
  free(y);
  return NULL;
}

/* MANY threads run one dense layer each, released at once: more concurrent
 * GEMMs than OpenBLAS 0.3.21's buffer table holds (it printed and crashed
 * here before libbn bounded its concurrent calls). ctest fails the test on
 * any output mentioning OpenBLAS. */
static void many_callers(void **state)
{
  (void)state;
  static caller callers[MANY];
  static pthread_t tid[MANY];
  test_rng r = {8};
  shared.mx = test_floats((size_t)MD * MN);
  shared.my_reference = test_floats((size_t)MD * MN);
  test_fill(&r, shared.mx, MD, MN, MD, 0.0, 1.0);
  bn_dense *d;
  bn_rng rng;
  bn_rng_seed(&rng, 5);
  assert_int_equal(bn_dense_create(&d, MD, MD, 0), BN_OK);
  assert_int_equal(bn_dense_init(d, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_dense_forward(d, MN, shared.mx, MD, shared.my_reference, MD), BN_OK);
  bn_dense_destroy(d);

  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, 1u << 20); /* MANY default 8 MiB stacks would be 2.4 GB */
  pthread_barrier_init(&start_together, NULL, MANY);
  for (int i = 0; i < MANY; i++)
    assert_int_equal(pthread_create(&tid[i], &attr, call_dense, &callers[i]), 0);
  for (int i = 0; i < MANY; i++)
    assert_int_equal(pthread_join(tid[i], NULL), 0);
  pthread_barrier_destroy(&start_together);
  pthread_attr_destroy(&attr);
  for (int i = 0; i < MANY; i++) {
    assert_int_equal(callers[i].status, BN_OK);
    if (!callers[i].same)
      fail_msg("caller %d: the result differs from the one-thread result", i);
  }
  free(shared.mx);
  free(shared.my_reference);
}

int main(int argc, char **argv)
{
  /* `many` runs only the many-callers test, the default only the others:
   * ctest registers them as two tests (they have different costs under
   * ThreadSanitizer and valgrind). */
  const struct CMUnitTest handles[] = {
    cmocka_unit_test(distinct_handles_equal_sequential),
  };
  const struct CMUnitTest many[] = {
    cmocka_unit_test(many_callers),
  };
  if (argc > 1 && strcmp(argv[1], "many") == 0)
    return cmocka_run_group_tests(many, NULL, NULL);
  return cmocka_run_group_tests(handles, make_inputs, remove_inputs);
}

/* Data-parallel training through bn_mlp_set_reducer, with an in-process
 * transport: every "rank" is a thread, and the collectives are computed
 * from every rank's buffer in rank order (sums; moments merged with
 * bn_moments_merge). Training 2 and 3 ranks with fit (SGD and momentum)
 * must write the same parameters and running statistics as one process,
 * to 1e-5 relative; one rank (a reducer of size 1) must be bit-identical;
 * a rank with bad data or another architecture makes every rank fail. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <bn/bn.h>
#include "testing.h"

enum { MAX_RANKS = 3, MAX_DOUBLES = 4096, I = 6, C = 3, SAMPLES = 103, BATCH = 17, EPOCHS = 3 };
static const size_t hidden[2] = {8, 5};

/* ---- the in-process transport -------------------------------------------- */

typedef struct world {
  size_t size;
  pthread_barrier_t barrier;
  double slot[MAX_RANKS][MAX_DOUBLES];
  size_t count[MAX_RANKS];
} world;

typedef struct rank_context {
  world *w;
  size_t rank;
} rank_context;

static bn_status thread_reduce(void *context, bn_reduce_op op, double *data, size_t count)
{
  rank_context *rc = context;
  world *w = rc->w;
  if (count > MAX_DOUBLES)
    return BN_ERR_SIZE_OVERFLOW;
  memcpy(w->slot[rc->rank], data, count * sizeof *data);
  w->count[rc->rank] = count;
  pthread_barrier_wait(&w->barrier);
  for (size_t r = 0; r < w->size; r++)
    assert_int_equal(w->count[r], count); /* every rank makes the same call */
  if (op == BN_REDUCE_SUM) {
    for (size_t i = 0; i < count; i++) {
      double s = 0.0;
      for (size_t r = 0; r < w->size; r++)
        s += w->slot[r][i];
      data[i] = s;
    }
  } else {
    const size_t F = (count - 1) / 2;
    double n = 0.0, mean[MAX_DOUBLES / 2] = {0}, m2[MAX_DOUBLES / 2] = {0};
    int nan = 0;
    for (size_t r = 0; r < w->size; r++) {
      const double *b = w->slot[r];
      if (!isfinite(b[0])) {
        nan = 1;
        continue;
      }
      if (bn_moments_merge(F, n, mean, m2, b[0], b + 1, b + 1 + F) != BN_OK)
        nan = 1;
      n += b[0];
    }
    data[0] = nan ? NAN : n;
    memcpy(data + 1, mean, F * sizeof *mean);
    memcpy(data + 1 + F, m2, F * sizeof *m2);
  }
  pthread_barrier_wait(&w->barrier); /* nobody writes a slot before all have read */
  return BN_OK;
}

/* ---- the problem ---------------------------------------------------------- */

typedef struct problem {
  float x[I * SAMPLES];
  int32_t labels[SAMPLES];
} problem;

static void make_problem(problem *p)
{
  test_rng r = {77};
  for (size_t j = 0; j < SAMPLES; j++) {
    double s = 0.0;
    for (size_t f = 0; f < I; f++) {
      double v = 3.0 * test_rng_normal(&r) + (double)f;
      p->x[f + j * I] = (float)v;
      s += v * (double)(f % 3 + 1);
    }
    p->labels[j] = (int32_t)((size_t)fabs(s) % C);
  }
}

/* With renorm, every BatchNorm is a Batch Renormalization one with fixed
 * limits that clip (the schedule would keep r = 1 and d = 0 this early). */
static bn_mlp *make_mlp(int optimizer, size_t width0, int renorm)
{
  size_t h[2] = {width0, hidden[1]};
  bn_mlp *m = NULL;
  assert_ok(bn_mlp_create(&m, I, h, 2, C, BN_ACT_RELU, BN_MLP_BN_BEFORE, BN_MLP_HEAD_SOFTMAX,
                          BN_MLP_INPUT_BATCHNORM | (renorm ? (unsigned)BN_MLP_RENORM : 0u)));
  if (renorm) {
    assert_ok(bn_mlp_set_parameter(m, BN_MLP_RENORM_SCHEDULE, 0));
    assert_ok(bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, 1.5));
    assert_ok(bn_mlp_set_parameter(m, BN_MLP_RENORM_DMAX, 0.5));
  }
  bn_rng rng;
  assert_ok(bn_rng_seed(&rng, 5));
  assert_ok(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng));
  assert_ok(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, optimizer));
  assert_ok(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0.05));
  return m;
}

typedef struct job {
  world *w;
  size_t rank;
  int optimizer, renorm;
  const problem *p;
  size_t width0;        /* a rank may get another architecture */
  int corrupt;          /* this rank's labels are out of range */
  size_t batch;         /* fit's batch size */
  size_t eval_samples;  /* the samples this rank evaluates */
  bn_status set, fit, eval;
  float loss, accuracy;
  bn_mlp *mlp;
} job;

static void *run_rank(void *arg)
{
  job *jb = arg;
  rank_context rc = {jb->w, jb->rank};
  jb->mlp = make_mlp(jb->optimizer, jb->width0, jb->renorm);
  jb->set = bn_mlp_set_reducer(jb->mlp, thread_reduce, &rc, jb->rank, jb->w->size);
  if (jb->set != BN_OK)
    return NULL;
  int32_t labels[SAMPLES];
  memcpy(labels, jb->p->labels, sizeof labels);
  if (jb->corrupt)
    labels[SAMPLES / 2] = C + 4;
  bn_rng rng;
  bn_rng_seed(&rng, 9);
  jb->fit = bn_mlp_fit(jb->mlp, SAMPLES, jb->p->x, I, labels, NULL, jb->batch, EPOCHS, &rng,
                       NULL, NULL);
  jb->eval = bn_mlp_evaluate(jb->mlp, jb->eval_samples, jb->p->x, I, jb->p->labels, NULL,
                             &jb->loss, &jb->accuracy);
  return NULL;
}

/* Run `size` ranks; jobs[r] gets the results. */
static void run_world(size_t size, int optimizer, int renorm, const problem *p, job *jobs,
                      const size_t *width0, const int *corrupt, size_t batch,
                      const int *eval_short)
{
  world *w = calloc(1, sizeof *w);
  assert_non_null(w);
  w->size = size;
  pthread_barrier_init(&w->barrier, NULL, (unsigned)size);
  pthread_t t[MAX_RANKS];
  for (size_t r = 0; r < size; r++) {
    jobs[r] = (job){.w = w, .rank = r, .optimizer = optimizer, .renorm = renorm, .p = p,
                    .width0 = width0 ? width0[r] : hidden[0], .corrupt = corrupt && corrupt[r],
                    .batch = batch ? batch : BATCH,
                    .eval_samples = SAMPLES - (eval_short && eval_short[r] ? 10 : 0)};
    assert_int_equal(pthread_create(&t[r], NULL, run_rank, &jobs[r]), 0);
  }
  for (size_t r = 0; r < size; r++)
    pthread_join(t[r], NULL);
  pthread_barrier_destroy(&w->barrier);
  free(w);
}

/* max relative difference of every parameter and running statistic, each
 * relative to its tensor's largest value, at least 1e-2: the input
 * BatchNorm's beta feeds a BatchNorm through a dense layer, so its gradient
 * is zero up to rounding and its values are rounding noise (~1e-11). */
static double model_difference(const bn_mlp *a, const bn_mlp *b)
{
  double worst = 0.0;
  static const bn_mlp_tensor kinds[] = {BN_MLP_WEIGHT, BN_MLP_BIAS, BN_MLP_GAMMA, BN_MLP_BETA,
                                        BN_MLP_RUNNING_MEAN, BN_MLP_RUNNING_VAR};
  for (size_t layer = 0; layer <= 3; layer++)
    for (size_t k = 0; k < sizeof kinds / sizeof *kinds; k++) {
      size_t n = 0;
      assert_ok(bn_mlp_tensor_size(a, layer, kinds[k], &n));
      if (n == 0)
        continue;
      float *va = test_floats(n), *vb = test_floats(n);
      assert_ok(bn_mlp_get(a, layer, kinds[k], va, n));
      assert_ok(bn_mlp_get(b, layer, kinds[k], vb, n));
      double scale = 1e-2;
      for (size_t i = 0; i < n; i++)
        scale = fmax(scale, fabs((double)va[i]));
      for (size_t i = 0; i < n; i++)
        worst = fmax(worst, fabs((double)va[i] - vb[i]) / scale);
      free(va);
      free(vb);
    }
  return worst;
}

static bn_mlp *train_alone(int optimizer, int renorm, const problem *p, float *loss,
                          float *accuracy)
{
  bn_mlp *m = make_mlp(optimizer, hidden[0], renorm);
  bn_rng rng;
  bn_rng_seed(&rng, 9);
  assert_ok(bn_mlp_fit(m, SAMPLES, p->x, I, p->labels, NULL, BATCH, EPOCHS, &rng, NULL, NULL));
  assert_ok(bn_mlp_evaluate(m, SAMPLES, p->x, I, p->labels, NULL, loss, accuracy));
  return m;
}

static void check_ranks_match_one_process(size_t size, int optimizer, int renorm)
{
  static problem p;
  make_problem(&p);
  float loss, accuracy;
  bn_mlp *alone = train_alone(optimizer, renorm, &p, &loss, &accuracy);
  job jobs[MAX_RANKS];
  run_world(size, optimizer, renorm, &p, jobs, NULL, NULL, 0, NULL);
  for (size_t r = 0; r < size; r++) {
    assert_ok(jobs[r].set);
    assert_ok(jobs[r].fit);
    assert_ok(jobs[r].eval);
    assert_within(model_difference(alone, jobs[r].mlp), 1e-5);
    assert_within(fabs(jobs[r].loss - loss) / loss, 1e-5);
    assert_within(fabs(jobs[r].accuracy - accuracy), 1e-6);
    if (size == 1)
      assert_true(model_difference(alone, jobs[r].mlp) == 0.0);
    bn_mlp_destroy(jobs[r].mlp);
  }
  bn_mlp_destroy(alone);
}

static void one_rank_is_bit_identical(void **state)
{
  (void)state;
  check_ranks_match_one_process(1, BN_MLP_MOMENTUM, 0);
}

static void two_ranks_sgd(void **state)
{
  (void)state;
  check_ranks_match_one_process(2, BN_MLP_SGD, 0);
}

static void three_ranks_momentum(void **state)
{
  (void)state;
  check_ranks_match_one_process(3, BN_MLP_MOMENTUM, 0);
}

static void renorm_ranks_match_one_process(void **state)
{
  (void)state;
  check_ranks_match_one_process(2, BN_MLP_MOMENTUM, 1);
  check_ranks_match_one_process(3, BN_MLP_SGD, 1);
}

static void a_failing_rank_fails_every_rank(void **state)
{
  (void)state;
  static problem p;
  make_problem(&p);
  job jobs[MAX_RANKS];
  const int corrupt[3] = {0, 1, 0};
  run_world(3, BN_MLP_SGD, 0, &p, jobs, NULL, corrupt, 0, NULL);
  for (size_t r = 0; r < 3; r++) {
    assert_ok(jobs[r].set);
    assert_int_equal(jobs[r].fit, BN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(bn_mlp_last_error(jobs[r].mlp), r == 1 ? "label" : "rank"));
    bn_mlp_destroy(jobs[r].mlp);
  }
  const size_t widths[2] = {8, 7};
  run_world(2, BN_MLP_SGD, 0, &p, jobs, widths, NULL, 0, NULL);
  for (size_t r = 0; r < 2; r++) {
    assert_int_equal(jobs[r].set, BN_ERR_SHAPE_MISMATCH);
    bn_mlp_destroy(jobs[r].mlp);
  }
}

/* A global batch with fewer samples than ranks is refused on every rank
 * (not trained as nothing), and so is an evaluation whose sets differ. */
static void small_batches_and_other_evaluation_sets_fail_every_rank(void **state)
{
  (void)state;
  static problem p;
  make_problem(&p);
  job jobs[MAX_RANKS];
  const int eval_short[3] = {0, 0, 1};
  run_world(3, BN_MLP_SGD, 0, &p, jobs, NULL, NULL, 2, NULL);
  for (size_t r = 0; r < 3; r++) {
    assert_int_equal(jobs[r].fit, BN_ERR_INVALID_ARGUMENT);
    assert_non_null(strstr(bn_mlp_last_error(jobs[r].mlp), "smaller than the 3 ranks"));
    bn_mlp_destroy(jobs[r].mlp);
  }
  run_world(3, BN_MLP_SGD, 0, &p, jobs, NULL, NULL, 3, eval_short);
  for (size_t r = 0; r < 3; r++) {
    assert_ok(jobs[r].fit); /* a batch of one sample per rank */
    assert_int_equal(jobs[r].eval, BN_ERR_SHAPE_MISMATCH);
    assert_non_null(strstr(bn_mlp_last_error(jobs[r].mlp), "evaluation's sample count"));
    bn_mlp_destroy(jobs[r].mlp);
  }
}

static void hostile_arguments(void **state)
{
  (void)state;
  bn_mlp *m = make_mlp(BN_MLP_SGD, 4, 0);
  rank_context rc = {NULL, 0};
  assert_status(bn_mlp_set_reducer(NULL, thread_reduce, &rc, 0, 1), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_mlp_set_reducer(m, thread_reduce, &rc, 0, 0), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_mlp_set_reducer(m, thread_reduce, &rc, 2, 2), BN_ERR_INVALID_ARGUMENT);
  assert_ok(bn_mlp_set_reducer(m, NULL, NULL, 7, 0)); /* back to one process */
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(one_rank_is_bit_identical),
    cmocka_unit_test(two_ranks_sgd),
    cmocka_unit_test(three_ranks_momentum),
    cmocka_unit_test(renorm_ranks_match_one_process),
    cmocka_unit_test(a_failing_rank_fails_every_rank),
    cmocka_unit_test(small_batches_and_other_evaluation_sets_fail_every_rank),
    cmocka_unit_test(hostile_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

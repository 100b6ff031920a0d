/* Threads: the library has no global mutable state, so distinct layers (and
 * kernel calls with distinct outputs) used concurrently from several threads
 * give bit for bit the results of running the same work sequentially. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include "testing.h"

enum { F = 33, N = 64, STEPS = 25, THREADS = 4 };

/* Everything one worker produces. */
typedef struct work {
  uint64_t seed;
  bn_status status;           /* first failure, or BN_OK */
  float y[F * N], dx[F * N];  /* last step's layer outputs */
  float state[F * 6];         /* running mean/var, gamma, beta, dgamma, dbeta */
  float ky[F * N], kdx[F * N], ksm[F], ksi[F], kdg[F], kdb[F]; /* kernel outputs */
} work;

#define TRY(call)                                                                          \
  do {                                                                                     \
    bn_status st_ = (call);                                                                \
    if (st_ != BN_OK) {                                                                    \
      w->status = st_;                                                                     \
      goto done;                                                                           \
    }                                                                                      \
  } while (0)

/* A small training loop on one layer (forward, backward, SGD step on gamma
 * and beta, an inference pass), then the four kernels on the same data. */
static void *run(void *arg)
{
  work *w = arg;
  test_rng rng = {w->seed};
  float x[F * N], dy[F * N], g[F], b[F];
  bn_batchnorm *l = NULL;
  w->status = BN_OK;
  TRY(bn_batchnorm_create(&l, F, w->seed % 2 ? BN_BATCHNORM_FUSE_RELU : 0));
  TRY(bn_batchnorm_set_update_factor(l, 0.2f));
  for (int step = 0; step < STEPS; step++) {
    test_fill(&rng, x, F, N, F, 3.0, 2.0);
    test_fill(&rng, dy, F, N, F, 0.0, 1.0);
    TRY(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, x, F, w->y, F));
    TRY(bn_batchnorm_backward(l, N, x, F, dy, F, w->dx, F));
    TRY(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, g, F));
    TRY(bn_batchnorm_get(l, BN_BATCHNORM_BETA, b, F));
    TRY(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, w->state + 4 * F, F));
    TRY(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, w->state + 5 * F, F));
    for (int f = 0; f < F; f++) {
      g[f] -= 0.01f * w->state[4 * F + f];
      b[f] -= 0.01f * w->state[5 * F + f];
    }
    TRY(bn_batchnorm_set(l, BN_BATCHNORM_GAMMA, g, F));
    TRY(bn_batchnorm_set(l, BN_BATCHNORM_BETA, b, F));
  }
  TRY(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, x, F, w->y, F));
  TRY(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, w->state, F));
  TRY(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, w->state + F, F));
  TRY(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, w->state + 2 * F, F));
  TRY(bn_batchnorm_get(l, BN_BATCHNORM_BETA, w->state + 3 * F, F));
  TRY(bn_batchnorm_forward_training(F, N, x, F, g, b, 1e-5f, 0, w->ky, F, w->ksm, w->ksi, NULL));
  TRY(bn_batchnorm_backward_training(F, N, x, F, dy, F, w->ksm, w->ksi, g, b, 0, w->kdx, F,
                                     w->kdg, w->kdb));
  TRY(bn_batchnorm_forward_inference(F, N, x, F, w->state, w->state + F, g, b, 1e-5f,
                                     BN_KERNEL_FUSE_RELU, w->ky, F));
  TRY(bn_batchnorm_backward_inference(F, N, x, F, dy, F, w->state, w->state + F, g, b, 1e-5f,
                                      0, w->kdx, F, w->kdg, w->kdb));
done:
  bn_batchnorm_destroy(l);
  return NULL;
}

/* THREADS workers with different seeds (and flags) run concurrently; each
 * result equals, bit for bit, the same worker run alone, and the workers
 * did not all compute the same thing (so a mix-up would show). */
static void concurrent_layers_equal_sequential(void **state)
{
  (void)state;
  work *seq = calloc(THREADS, sizeof *seq), *par = calloc(THREADS, sizeof *par);
  assert_non_null(seq);
  assert_non_null(par);
  for (int t = 0; t < THREADS; t++) {
    seq[t].seed = par[t].seed = 1000u + (uint64_t)t;
    run(&seq[t]);
    assert_ok(seq[t].status);
  }
  for (int round = 0; round < 3; round++) {
    pthread_t th[THREADS];
    for (int t = 0; t < THREADS; t++)
      assert_int_equal(pthread_create(&th[t], NULL, run, &par[t]), 0);
    for (int t = 0; t < THREADS; t++)
      assert_int_equal(pthread_join(th[t], NULL), 0);
    for (int t = 0; t < THREADS; t++) {
      assert_ok(par[t].status);
      assert_memory_equal(&par[t], &seq[t], sizeof(work));
    }
  }
  assert_memory_not_equal(seq[0].y, seq[1].y, sizeof seq[0].y);
  assert_memory_not_equal(seq[0].state, seq[2].state, sizeof seq[0].state);
  free(seq);
  free(par);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(concurrent_layers_equal_sequential),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

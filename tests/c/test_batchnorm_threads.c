#define _POSIX_C_SOURCE 200809L /* setenv */
/* A BatchNorm layer running its passes on several threads
 * (bn_batchnorm_set_threads): the same float64 reference and tolerances as
 * test_batchnorm_kernels.c for 2, 3 and 4 threads, on batches above and
 * below the size at which passes are split (2^18 elements); determinism for
 * a given thread count; one thread is today's single-threaded layer bit for
 * bit; the fused ReLU is bit for bit BN then a separate ReLU with the same
 * thread count; the running statistics follow the closed form; hostile
 * arguments.
 *
 * Tolerances: TOL = 1e-6 componentwise relative to the magnitude of the
 * terms (test_err_mag, ~17 float roundings); TOL_RUN = 1e-6 for the running
 * statistics (see test_batchnorm_layer.c). Splitting the sums over threads
 * changes only their grouping in double, far below these. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testing.h"

#define TOL 1e-6
#define TOL_RUN 1e-6
#define EPS 1e-5f
#define SENTINEL -777.25f

/* F, N, padding of x, padding of the outputs. The first two stay below the
 * parallel threshold (F*N < 2^18); the others are above it, with odd F, a
 * small F with many samples, and a batch so short that it splits into fewer
 * chunks than threads. */
static const struct shape {
  size_t F, N, padx, pady;
} shapes[] = {
    {17, 64, 1, 2}, {1000, 129, 24, 1}, {1023, 300, 7, 0}, {64, 4099, 0, 3}, {131073, 5, 2, 0},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

static const unsigned thread_counts[] = {2, 3, 4};
#define NTHREADS (sizeof thread_counts / sizeof thread_counts[0])

static bn_batchnorm *make_layer(const test_problem *p, unsigned flags, unsigned threads)
{
  bn_batchnorm *l = test_layer_for(p, flags);
  assert_ok(bn_batchnorm_set_threads(l, threads));
  return l;
}

static void check_vector(bn_batchnorm *l, bn_batchnorm_tensor which, const double *ref,
                         const double *mag, size_t F)
{
  float *v = test_floats(F);
  assert_ok(bn_batchnorm_get(l, which, v, F));
  assert_within(test_vec_err(v, ref, mag, F), TOL);
  free(v);
}

/* Forward in `mode` then backward; y, dx, dgamma, dbeta against the reference
 * r (already run forward and backward), and the padding of y and dx intact. */
static void check_step(bn_batchnorm *l, bn_mode mode, const test_problem *p, const ref_bn *r)
{
  const size_t F = p->F, N = p->N, ldo = p->ldy;
  float *y = test_floats(ldo * N), *dx = test_floats(ldo * N);
  test_set(y, ldo * N, SENTINEL);
  test_set(dx, ldo * N, SENTINEL);
  assert_ok(bn_batchnorm_forward(l, mode, N, p->x, p->ldx, y, ldo));
  assert_within(test_err_mag(y, ldo, r->y, r->ymag, F, N), TOL);
  assert_ok(bn_batchnorm_backward(l, N, p->x, p->ldx, p->dy, p->ldy, dx, ldo));
  assert_within(test_err_mag(dx, ldo, r->dx, r->dxmag, F, N), TOL);
  check_vector(l, BN_BATCHNORM_DGAMMA, r->dgamma, r->dgmag, F);
  check_vector(l, BN_BATCHNORM_DBETA, r->dbeta, r->dbmag, F);
  assert_int_equal(test_padding_changed(y, F, N, ldo, SENTINEL), 0);
  assert_int_equal(test_padding_changed(dx, F, N, ldo, SENTINEL), 0);
  free(y);
  free(dx);
}

/* Training mode: batch statistics (saved mean / invstd too) and the full
 * gradient; a NO_RUNNING_STATS layer gives the same in inference mode. */
static void check_training(const test_problem *p, unsigned threads, unsigned flags, bn_mode mode)
{
  const size_t F = p->F;
  ref_bn r;
  ref_bn_init(&r, F, p->N);
  ref_bn_forward_training(&r, p->xd, F, p->gd, p->bd, (double)EPS);
  ref_bn_backward_training(&r, p->xd, F, p->dyd, F, p->gd);
  bn_batchnorm *l = make_layer(p, flags, threads);
  check_step(l, mode, p, &r);
  double *mm = test_doubles(F);
  for (size_t f = 0; f < F; f++)
    mm[f] = fabs(r.mean[f]) + 1e-6 * sqrt(r.var[f]);
  check_vector(l, BN_BATCHNORM_SAVED_MEAN, r.mean, mm, F);
  check_vector(l, BN_BATCHNORM_SAVED_INVSTD, r.invstd, r.invstd, F);
  free(mm);
  bn_batchnorm_destroy(l);
  ref_bn_free(&r);
}

/* Inference mode with the problem's statistics as running statistics. */
static void check_inference(const test_problem *p, unsigned threads)
{
  ref_bn r;
  ref_bn_init(&r, p->F, p->N);
  ref_bn_forward_inference(&r, p->xd, p->F, p->md, p->vd, p->gd, p->bd, (double)EPS);
  ref_bn_backward_inference(&r, p->xd, p->F, p->dyd, p->F, p->gd);
  bn_batchnorm *l = make_layer(p, 0, threads);
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, p->mean, p->F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, p->var, p->F));
  check_step(l, BN_MODE_INFERENCE, p, &r);
  bn_batchnorm_destroy(l);
  ref_bn_free(&r);
}

/* Every shape, thread count and gamma/beta combination, in training mode,
 * inference mode, and inference mode without running statistics. */
static void threaded_layer_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {71};
  for (size_t s = 0; s < NSHAPES; s++)
    for (size_t t = 0; t < NTHREADS; t++)
      for (int gb = 0; gb < 4; gb += 3) { /* neither, both */
        const struct shape sh = shapes[s];
        test_problem p;
        test_problem_make(&p, &rng, sh.F, sh.N, sh.F + sh.padx, sh.F + sh.pady, gb & 1, gb & 2);
        check_training(&p, thread_counts[t], 0, BN_MODE_TRAINING);
        check_training(&p, thread_counts[t], BN_BATCHNORM_NO_RUNNING_STATS, BN_MODE_INFERENCE);
        check_inference(&p, thread_counts[t]);
        test_problem_free(&p);
      }
}

/* From 16 MiB of input with columns shorter than a 4 KiB page, each chunk
 * of a threaded reduction sweeps its columns one at a time (the kernels'
 * walk rules, batchnorm_loops.inc): 256 x 16401 floats (16.8 MB; an odd
 * number of columns, so chunks of unequal length) on 2 and 3 threads
 * against the reference. */
static void large_threaded_layer_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {79};
  test_problem p;
  test_problem_make(&p, &rng, 256, 16401, 256, 256, 1, 1);
  for (unsigned threads = 2; threads <= 3; threads++)
    check_training(&p, threads, 0, BN_MODE_TRAINING);
  test_problem_free(&p);
}

/* Outputs of one training step and one inference step of a layer. */
typedef struct outputs {
  float *y, *dx, *dgamma, *dbeta, *mean, *var, *yi, *dxi;
} outputs;

static void run_layer(bn_batchnorm *l, const test_problem *p, outputs *o)
{
  const size_t F = p->F, N = p->N, n = p->ldy * N;
  o->y = test_floats(n), o->dx = test_floats(n), o->yi = test_floats(n), o->dxi = test_floats(n);
  o->dgamma = test_floats(F), o->dbeta = test_floats(F);
  o->mean = test_floats(F), o->var = test_floats(F);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p->x, p->ldx, o->y, p->ldy));
  assert_ok(bn_batchnorm_backward(l, N, p->x, p->ldx, p->dy, p->ldy, o->dx, p->ldy));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, o->dgamma, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, o->dbeta, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, o->mean, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, o->var, F));
  assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, p->x, p->ldx, o->yi, p->ldy));
  assert_ok(bn_batchnorm_backward(l, N, p->x, p->ldx, p->dy, p->ldy, o->dxi, p->ldy));
}

static void columns_equal(const float *a, const float *b, size_t F, size_t N, size_t ld)
{
  for (size_t j = 0; j < N; j++)
    assert_memory_equal(a + j * ld, b + j * ld, F * sizeof(float));
}

static void outputs_equal(const outputs *a, const outputs *b, const test_problem *p)
{
  const size_t F = p->F, N = p->N;
  columns_equal(a->y, b->y, F, N, p->ldy);
  columns_equal(a->dx, b->dx, F, N, p->ldy);
  columns_equal(a->yi, b->yi, F, N, p->ldy);
  columns_equal(a->dxi, b->dxi, F, N, p->ldy);
  assert_memory_equal(a->dgamma, b->dgamma, F * sizeof(float));
  assert_memory_equal(a->dbeta, b->dbeta, F * sizeof(float));
  assert_memory_equal(a->mean, b->mean, F * sizeof(float));
  assert_memory_equal(a->var, b->var, F * sizeof(float));
}

static void outputs_free(outputs *o)
{
  float *all[] = {o->y, o->dx, o->dgamma, o->dbeta, o->mean, o->var, o->yi, o->dxi};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    free(all[i]);
}

/* Outputs of a fresh layer with `threads` set (1: never set). */
static void run_fresh(const test_problem *p, unsigned threads, outputs *o)
{
  bn_batchnorm *l = make_layer(p, 0, 1);
  if (threads != 1)
    assert_ok(bn_batchnorm_set_threads(l, threads));
  run_layer(l, p, o);
  bn_batchnorm_destroy(l);
}

/* Two layers with the same thread count give the same bytes; a layer set to
 * 4 threads and back to 1 gives the bytes of a fresh one-thread layer; below
 * the threshold any thread count gives the one-thread bytes. */
static void results_are_deterministic(void **state)
{
  (void)state;
  test_rng rng = {72};
  for (size_t s = 0; s < NSHAPES; s++) {
    const struct shape sh = shapes[s];
    test_problem p;
    test_problem_make(&p, &rng, sh.F, sh.N, sh.F + sh.padx, sh.F + sh.pady, 1, 1);
    outputs one, back, a, b;
    run_fresh(&p, 1, &one);
    bn_batchnorm *l = make_layer(&p, 0, 4);
    assert_ok(bn_batchnorm_set_threads(l, 1));
    run_layer(l, &p, &back);
    bn_batchnorm_destroy(l);
    outputs_equal(&one, &back, &p);
    for (size_t t = 0; t < NTHREADS; t++) {
      run_fresh(&p, thread_counts[t], &a);
      run_fresh(&p, thread_counts[t], &b);
      outputs_equal(&a, &b, &p);
      if (sh.F * sh.N < ((size_t)1 << 18))
        outputs_equal(&a, &one, &p);
      outputs_free(&a);
      outputs_free(&b);
    }
    outputs_free(&one);
    outputs_free(&back);
    test_problem_free(&p);
  }
}

/* The fused ReLU with T threads is bit for bit BN with T threads, then
 * bn_activation_forward(RELU), and backwards the ReLU mask then BN. */
static void fused_relu_matches_separate_relu(void **state)
{
  (void)state;
  test_rng rng = {73};
  for (size_t s = 0; s < NSHAPES; s++)
    for (size_t t = 0; t < NTHREADS; t++) {
      const struct shape sh = shapes[s];
      const size_t F = sh.F, N = sh.N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + sh.padx, F, 1, 1);
      const size_t ld = p.ldx, n = ld * N;
      bn_batchnorm *plain = make_layer(&p, 0, thread_counts[t]);
      bn_batchnorm *fused = make_layer(&p, BN_BATCHNORM_FUSE_RELU, thread_counts[t]);
      float *y0 = test_floats(n), *y1 = test_floats(n), *g = test_floats(n);
      float *dx0 = test_floats(n), *dx1 = test_floats(n);
      float *v0 = test_floats(F), *v1 = test_floats(F);
      for (int step = 0; step < 2; step++) {
        const bn_mode mode = step == 0 ? BN_MODE_TRAINING : BN_MODE_INFERENCE;
        assert_ok(bn_batchnorm_forward(plain, mode, N, p.x, ld, y0, ld));
        assert_ok(bn_activation_forward(BN_ACT_RELU, 0, F, N, y0, ld, y0, ld));
        assert_ok(bn_batchnorm_forward(fused, mode, N, p.x, ld, y1, ld));
        columns_equal(y0, y1, F, N, ld);
        assert_ok(bn_activation_backward(BN_ACT_RELU, 0, F, N, y0, ld, p.dy, p.ldy, g, ld));
        assert_ok(bn_batchnorm_backward(plain, N, p.x, ld, g, ld, dx0, ld));
        assert_ok(bn_batchnorm_backward(fused, N, p.x, ld, p.dy, p.ldy, dx1, ld));
        columns_equal(dx0, dx1, F, N, ld);
        assert_ok(bn_batchnorm_get(plain, BN_BATCHNORM_DGAMMA, v0, F));
        assert_ok(bn_batchnorm_get(fused, BN_BATCHNORM_DGAMMA, v1, F));
        assert_memory_equal(v0, v1, F * sizeof(float));
        assert_ok(bn_batchnorm_get(plain, BN_BATCHNORM_DBETA, v0, F));
        assert_ok(bn_batchnorm_get(fused, BN_BATCHNORM_DBETA, v1, F));
        assert_memory_equal(v0, v1, F * sizeof(float));
      }
      free(y0), free(y1), free(g), free(dx0), free(dx1), free(v0), free(v1);
      bn_batchnorm_destroy(plain);
      bn_batchnorm_destroy(fused);
      test_problem_free(&p);
    }
}

/* With 2 threads, K training steps on batches above the threshold leave
 * running statistics equal to the closed form
 *   running_k = (1-w)^k * init + sum_i w*(1-w)^(k-i) * stat_i,
 * stat the batch mean and the unbiased batch variance. */
static void running_stats_follow_closed_form(void **state)
{
  (void)state;
  enum { F = 513, K = 3 };
  static const size_t batch[K] = {520, 1001, 777};
  const double w = 0.1;
  test_rng rng = {74};
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  assert_ok(bn_batchnorm_set_threads(l, 2));
  double em[F], ev[F], mm[F], mv[F];
  for (int f = 0; f < F; f++)
    em[f] = mm[f] = 0.0, ev[f] = mv[f] = 1.0; /* defaults: mean 0, var 1 */
  for (int k = 0; k < K; k++) {
    const size_t N = batch[k];
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + 3, F, 0, 0);
    float *y = test_floats(F * N);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, p.ldx, y, F));
    ref_bn r;
    ref_bn_init(&r, F, N);
    ref_bn_forward_training(&r, p.xd, F, NULL, NULL, (double)EPS);
    const double c = (double)N / ((double)N - 1.0);
    for (int f = 0; f < F; f++) {
      em[f] = (1.0 - w) * em[f] + w * r.mean[f];
      mm[f] = (1.0 - w) * mm[f] + w * fabs(r.mean[f]);
      ev[f] = (1.0 - w) * ev[f] + w * r.var[f] * c;
      mv[f] = (1.0 - w) * mv[f] + w * r.var[f] * c;
    }
    float rm[F], rv[F];
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv, F));
    for (int f = 0; f < F; f++) {
      assert_within(fabs(rm[f] - em[f]) / mm[f], TOL_RUN);
      assert_within(fabs(rv[f] - ev[f]) / mv[f], TOL_RUN);
    }
    ref_bn_free(&r);
    free(y);
    test_problem_free(&p);
  }
  bn_batchnorm_destroy(l);
}

/* NULL handles and pointers, and thread counts outside [1, 64], are refused
 * with BN_ERR_INVALID_ARGUMENT and leave the setting unchanged; 64 threads
 * work even on a batch too short to use them all. */
static void hostile_thread_arguments(void **state)
{
  (void)state;
  unsigned t = 99;
  assert_status(bn_batchnorm_set_threads(NULL, 2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_threads(NULL, &t), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_threads(NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(t, 99);
  test_problem p;
  test_rng rng = {75};
  test_problem_make(&p, &rng, 1 << 16, 9, 1 << 16, 1 << 16, 0, 0);
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, p.F, 0));
  assert_ok(bn_batchnorm_get_threads(l, &t));
  assert_int_equal(t, 1);
  assert_status(bn_batchnorm_get_threads(l, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_true(bn_batchnorm_last_error(l)[0] != '\0');
  assert_ok(bn_batchnorm_set_threads(l, 3));
  static const unsigned bad[] = {0, 65, 1000, UINT32_MAX};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    assert_status(bn_batchnorm_set_threads(l, bad[i]), BN_ERR_INVALID_ARGUMENT);
    assert_ok(bn_batchnorm_get_threads(l, &t));
    assert_int_equal(t, 3);
  }
  assert_ok(bn_batchnorm_set_threads(l, 64));
  assert_ok(bn_batchnorm_get_threads(l, &t));
  assert_int_equal(t, 64);
  float *y = test_floats(p.ldy * p.N), *dx = test_floats(p.ldy * p.N);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, p.N, p.x, p.ldx, y, p.ldy));
  assert_ok(bn_batchnorm_backward(l, p.N, p.x, p.ldx, p.dy, p.ldy, dx, p.ldy));
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

int main(void)
{
  /* The library splits passes only from 2^17 elements by default; these
   * tests pin the threshold to 2^18 through the documented knob, so the
   * batches they mean to keep whole stay whole. */
  setenv("BN_PARALLEL_MIN_ELEMENTS", "262144", 1);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(threaded_layer_matches_reference),
      cmocka_unit_test(large_threaded_layer_matches_reference),
      cmocka_unit_test(results_are_deterministic),
      cmocka_unit_test(fused_relu_matches_separate_relu),
      cmocka_unit_test(running_stats_follow_closed_form),
      cmocka_unit_test(hostile_thread_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The BatchNorm layer (bn/batchnorm.h): parameters, running statistics, the
 * explicit forward mode, the backward tied to its forward, the tensor
 * get/set interface and the fused ReLU, against the float64 reference.
 *
 * Tolerances: TOL = 1e-6 componentwise relative (see test_err_mag and
 * test_batchnorm_kernels.c; measured errors are ~1e-7). Running statistics
 * after k updates carry k float roundings of the running value: TOL_RUN =
 * 1e-6 relative to the sum of the magnitudes of the averaged terms. */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testing.h"

#define TOL 1e-6
#define TOL_RUN 1e-6
#define SENTINEL -777.25f
#define DEFAULT_EPS 1e-5f

/* A new layer holds the documented defaults: gamma 1, beta 0, running mean
 * 0, running var 1, eps 1e-5, update factor 0.1, no batch tracked, its
 * features and flags; nothing computed yet is readable. */
static void create_gives_documented_defaults(void **state)
{
  (void)state;
  enum { F = 5 };
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, BN_BATCHNORM_BIASED_RUNNING_VAR));
  float v[F], eps = 0, factor = 0;
  size_t features = 0;
  unsigned flags = 0;
  uint64_t tracked = 99;
  static const struct {
    bn_batchnorm_tensor which;
    float value;
  } expect[] = {{BN_BATCHNORM_GAMMA, 1.0f},
                {BN_BATCHNORM_BETA, 0.0f},
                {BN_BATCHNORM_RUNNING_MEAN, 0.0f},
                {BN_BATCHNORM_RUNNING_VAR, 1.0f}};
  for (size_t t = 0; t < 4; t++) {
    test_set(v, F, SENTINEL);
    assert_ok(bn_batchnorm_get(l, expect[t].which, v, F));
    for (int f = 0; f < F; f++)
      assert_true(v[f] == expect[t].value);
  }
  assert_ok(bn_batchnorm_get_eps(l, &eps));
  assert_true(eps == DEFAULT_EPS);
  assert_ok(bn_batchnorm_get_update_factor(l, &factor));
  assert_true(factor == 0.1f);
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 0);
  assert_ok(bn_batchnorm_features(l, &features));
  assert_int_equal(features, F);
  assert_ok(bn_batchnorm_flags(l, &flags));
  assert_int_equal(flags, BN_BATCHNORM_BIASED_RUNNING_VAR);
  assert_string_equal(bn_batchnorm_last_error(l), "");
  bn_batchnorm_tensor unavailable[] = {BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                       BN_BATCHNORM_SAVED_MEAN, BN_BATCHNORM_SAVED_INVSTD};
  for (size_t t = 0; t < 4; t++) {
    test_set(v, F, SENTINEL);
    assert_status(bn_batchnorm_get(l, unavailable[t], v, F), BN_ERR_WRONG_STATE);
    assert_int_equal(test_padding_changed(v, 0, 1, F, SENTINEL), 0); /* untouched */
  }
  bn_batchnorm_destroy(l);
}

/* Training forward through the layer: y, saved mean and saved invstd match
 * the reference (padded leading dimensions, all combinations of gamma/beta
 * and of NO_SCALE / NO_SHIFT, which act as gamma = 1 / beta = 0). */
static void training_forward_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {21};
  static const size_t shape[][4] = {{1, 2, 0, 1}, {3, 9, 2, 0}, {17, 100, 1, 3}, {1000, 33, 0, 5}};
  for (size_t s = 0; s < 4; s++)
    for (unsigned fl = 0; fl < 4; fl++) { /* NO_SCALE, NO_SHIFT bits */
      const size_t F = shape[s][0], N = shape[s][1];
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + shape[s][2], F + shape[s][3], 1, 1);
      bn_batchnorm *l = test_layer_for(&p, fl);
      float *y = test_floats(p.ldy * N), *sm = test_floats(F), *si = test_floats(F);
      test_set(y, p.ldy * N, SENTINEL);
      assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, p.ldx, y, p.ldy));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_MEAN, sm, F));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_INVSTD, si, F));
      ref_bn r;
      ref_bn_init(&r, F, N);
      ref_bn_forward_training(&r, p.xd, F, (fl & BN_BATCHNORM_NO_SCALE) ? NULL : p.gd,
                              (fl & BN_BATCHNORM_NO_SHIFT) ? NULL : p.bd, (double)DEFAULT_EPS);
      assert_within(test_err_mag(y, p.ldy, r.y, r.ymag, F, N), TOL);
      assert_int_equal(test_padding_changed(y, F, N, p.ldy, SENTINEL), 0);
      for (size_t f = 0; f < F; f++) {
        assert_within(fabs(sm[f] - r.mean[f]) / (fabs(r.mean[f]) + 1e-6 * sqrt(r.var[f])), TOL);
        assert_within(fabs(si[f] - r.invstd[f]) / r.invstd[f], TOL);
      }
      ref_bn_free(&r);
      free(y);
      free(sm);
      free(si);
      bn_batchnorm_destroy(l);
      test_problem_free(&p);
    }
}

/* The mode is explicit on every call, not a state: an inference forward
 * right after training steps normalizes with the running statistics (as
 * updated), and a training forward after it with the batch's own again. */
static void mode_is_explicit_per_call(void **state)
{
  (void)state;
  test_rng rng = {22};
  const size_t F = 7, N = 12;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0);
  float *y = test_floats(F * N), rm[7], rv[7];
  ref_bn r;
  ref_bn_init(&r, F, N);
  for (int round = 0; round < 2; round++) {
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
    ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)DEFAULT_EPS);
    assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, p.x, F, y, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv, F));
    double *md = test_to_double(rm, F, 1, F), *vd = test_to_double(rv, F, 1, F);
    ref_bn_forward_inference(&r, p.xd, F, md, vd, p.gd, p.bd, (double)DEFAULT_EPS);
    assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
    free(md);
    free(vd);
  }
  /* an unknown mode is refused and writes nothing */
  test_set(y, F * N, SENTINEL);
  assert_status(bn_batchnorm_forward(l, (bn_mode)0, N, p.x, F, y, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward(l, (bn_mode)3, N, p.x, F, y, F), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(test_padding_changed(y, 0, N, F, SENTINEL), 0);
  ref_bn_free(&r);
  free(y);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* Runs k training steps on batches of different sizes and checks the running
 * statistics against the closed form
 *   running_k = (1-w)^k * init + sum_i w*(1-w)^(k-i) * stat_i
 * (exponential average) or the plain average of stat_i (cumulative), where
 * stat is the batch mean and the batch variance, unbiased (N/(N-1)) unless
 * BN_BATCHNORM_BIASED_RUNNING_VAR. Also checks batches_tracked == k. */
static void check_running_stats(unsigned flags, float factor, int cumulative)
{
  enum { F = 6, K = 6 };
  static const size_t batch[K] = {2, 7, 64, 3, 300, 16};
  test_rng rng = {(uint64_t)(23 + flags) * 1000u + (uint64_t)(factor * 1000.0f)};
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, flags));
  assert_ok(bn_batchnorm_set_update_factor(l, factor));
  /* a non-default start, so the (1-w)^k * init term matters */
  float init_mean[F], init_var[F];
  for (int f = 0; f < F; f++) {
    init_mean[f] = (float)(f - 2.5);
    init_var[f] = (float)(0.5 + f);
  }
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, init_mean, F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, init_var, F));
  double stat_mean[K][F], stat_var[K][F];
  for (int k = 0; k < K; k++) {
    const size_t N = batch[k];
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + 1, F, 0, 0);
    float *y = test_floats(F * N);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, p.ldx, y, F));
    ref_bn r;
    ref_bn_init(&r, F, N);
    ref_bn_forward_training(&r, p.xd, F, NULL, NULL, (double)DEFAULT_EPS);
    double correction =
        (flags & BN_BATCHNORM_BIASED_RUNNING_VAR) ? 1.0 : (double)N / ((double)N - 1.0);
    for (int f = 0; f < F; f++) {
      stat_mean[k][f] = r.mean[f];
      stat_var[k][f] = r.var[f] * correction;
    }
    ref_bn_free(&r);
    free(y);
    test_problem_free(&p);
    uint64_t tracked = 0;
    assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
    assert_true(tracked == (uint64_t)k + 1);

    /* closed form after k+1 steps */
    const int steps = k + 1;
    float rm[F], rv[F];
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv, F));
    for (int f = 0; f < F; f++) {
      double em, ev, mm, mv;
      if (cumulative) {
        em = ev = mm = mv = 0.0;
        for (int i = 0; i < steps; i++) {
          em += stat_mean[i][f] / steps;
          ev += stat_var[i][f] / steps;
          mm += fabs(stat_mean[i][f]) / steps;
          mv += stat_var[i][f] / steps;
        }
      } else {
        const double w = (double)factor, keep = pow(1.0 - w, steps);
        em = keep * init_mean[f];
        ev = keep * init_var[f];
        mm = fabs(em);
        mv = ev;
        for (int i = 0; i < steps; i++) {
          double wi = w * pow(1.0 - w, steps - 1 - i);
          em += wi * stat_mean[i][f];
          ev += wi * stat_var[i][f];
          mm += wi * fabs(stat_mean[i][f]);
          mv += wi * stat_var[i][f];
        }
      }
      assert_within(fabs(rm[f] - em) / mm, TOL_RUN);
      assert_within(fabs(rv[f] - ev) / mv, TOL_RUN);
    }
  }
  bn_batchnorm_destroy(l);
}

/* Exponential running statistics for several update factors (0.1 is the
 * default, 1 keeps only the last batch), with the unbiased (default) and the
 * biased running variance. */
static void running_stats_exponential_average(void **state)
{
  (void)state;
  static const float factors[] = {0.1f, 0.01f, 0.5f, 1.0f};
  for (size_t i = 0; i < 4; i++) {
    check_running_stats(0, factors[i], 0);
    check_running_stats(BN_BATCHNORM_BIASED_RUNNING_VAR, factors[i], 0);
  }
}

/* BN_BATCHNORM_CUMULATIVE_AVERAGE: the running statistics are the plain
 * average over all batches so far (the update factor is ignored, whatever it
 * is), unbiased or biased variance. */
static void running_stats_cumulative_average(void **state)
{
  (void)state;
  check_running_stats(BN_BATCHNORM_CUMULATIVE_AVERAGE, 0.1f, 1);
  check_running_stats(BN_BATCHNORM_CUMULATIVE_AVERAGE, 0.7f, 1);
  check_running_stats(BN_BATCHNORM_CUMULATIVE_AVERAGE | BN_BATCHNORM_BIASED_RUNNING_VAR, 0.3f, 1);
}

/* Only training forwards update running statistics and batches_tracked;
 * inference forwards and backwards leave them bit for bit as they were. */
static void inference_does_not_update_running_stats(void **state)
{
  (void)state;
  test_rng rng = {24};
  const size_t F = 4, N = 10;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0);
  float *y = test_floats(F * N), *dx = test_floats(F * N), rm[4], rv[4], rm2[4], rv2[4];
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv, F));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm2, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv2, F));
  assert_memory_equal(rm, rm2, sizeof rm);
  assert_memory_equal(rv, rv2, sizeof rv);
  uint64_t tracked = 0;
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 1);
  /* set_batches_tracked is what the cumulative average counts from */
  assert_ok(bn_batchnorm_set_batches_tracked(l, 41));
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 41);
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* Cumulative average resumes from set_batches_tracked: with n tracked, the
 * next batch gets weight 1/(n+1); with 0 tracked it replaces the statistics. */
static void cumulative_average_resumes_from_tracked_count(void **state)
{
  (void)state;
  test_rng rng = {25};
  const size_t F = 3, N = 8;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 0, 0);
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, BN_BATCHNORM_CUMULATIVE_AVERAGE));
  const float m0[3] = {1.0f, -2.0f, 4.0f}, v0[3] = {2.0f, 0.5f, 3.0f};
  float *y = test_floats(F * N), rm[3], rv[3];
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, p.xd, F, NULL, NULL, (double)DEFAULT_EPS);
  for (uint64_t n = 0; n < 4; n += 3) {
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, m0, F));
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, v0, F));
    assert_ok(bn_batchnorm_set_batches_tracked(l, n));
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, rv, F));
    const double w = 1.0 / (double)(n + 1);
    for (size_t f = 0; f < F; f++) {
      double uv = r.var[f] * (double)N / ((double)N - 1.0);
      double em = (1 - w) * m0[f] + w * r.mean[f], ev = (1 - w) * v0[f] + w * uv;
      assert_within(fabs(rm[f] - em) / ((1 - w) * fabs(m0[f]) + w * fabs(r.mean[f])), TOL_RUN);
      assert_within(fabs(rv[f] - ev) / ev, TOL_RUN);
    }
  }
  ref_bn_free(&r);
  free(y);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* BN_BATCHNORM_NO_RUNNING_STATS: both modes normalize with the batch's own
 * statistics; the running statistics do not exist (get and set give
 * BN_ERR_WRONG_STATE) and no batch is tracked. CUMULATIVE_AVERAGE cannot be
 * combined with it. */
static void no_running_stats_layer(void **state)
{
  (void)state;
  test_rng rng = {26};
  const size_t F = 17, N = 20;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F + 2, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, BN_BATCHNORM_NO_RUNNING_STATS);
  float *y = test_floats(F * N), v[17];
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)DEFAULT_EPS);
  for (int mode = BN_MODE_TRAINING; mode <= BN_MODE_INFERENCE; mode++) {
    test_set(y, F * N, SENTINEL);
    assert_ok(bn_batchnorm_forward(l, (bn_mode)mode, N, p.x, p.ldx, y, F));
    assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
  }
  test_set(v, F, SENTINEL);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, v, F), BN_ERR_WRONG_STATE);
  assert_int_equal(test_padding_changed(v, 0, 1, F, SENTINEL), 0);
  test_set(v, F, 1.0f);
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, v, F), BN_ERR_WRONG_STATE);
  uint64_t tracked = 7;
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 0);
  bn_batchnorm *bad = (bn_batchnorm *)&bad;
  const unsigned conflicting = BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_CUMULATIVE_AVERAGE;
  assert_status(bn_batchnorm_create(&bad, F, conflicting), BN_ERR_INVALID_ARGUMENT);
  assert_null(bad);
  ref_bn_free(&r);
  free(y);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* Backward after a training forward is the full gradient (mean and variance
 * terms): dx, and dgamma / dbeta read with get, match the reference. */
static void backward_after_training_is_full_gradient(void **state)
{
  (void)state;
  test_rng rng = {27};
  static const size_t shape[][4] = {{1, 2, 0, 0}, {3, 5, 1, 2}, {17, 64, 0, 1}, {1000, 20, 3, 0}};
  for (size_t s = 0; s < 4; s++) {
    const size_t F = shape[s][0], N = shape[s][1];
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + shape[s][2], F + shape[s][3], 1, 1);
    bn_batchnorm *l = test_layer_for(&p, 0);
    const size_t lddx = F + 4;
    float *y = test_floats(F * N), *dx = test_floats(lddx * N), *dg = test_floats(F),
          *db = test_floats(F);
    test_set(dx, lddx * N, SENTINEL);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, p.ldx, y, F));
    assert_ok(bn_batchnorm_backward(l, N, p.x, p.ldx, p.dy, p.ldy, dx, lddx));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, db, F));
    ref_bn r;
    ref_bn_init(&r, F, N);
    ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)DEFAULT_EPS);
    ref_bn_backward_training(&r, p.xd, F, p.dyd, F, p.gd);
    assert_within(test_err_mag(dx, lddx, r.dx, r.dxmag, F, N), TOL);
    assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
    assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
    assert_int_equal(test_padding_changed(dx, F, N, lddx, SENTINEL), 0);
    ref_bn_free(&r);
    free(y);
    free(dx);
    free(dg);
    free(db);
    bn_batchnorm_destroy(l);
    test_problem_free(&p);
  }
}

/* Backward after an inference forward treats the running statistics as
 * constants: dx = dy*gamma*invstd (no mean / variance terms), dgamma and
 * dbeta as the reference; batch 1 included. The full-gradient dx differs. */
static void backward_after_inference_is_constant_stats_gradient(void **state)
{
  (void)state;
  test_rng rng = {28};
  static const size_t shape[][2] = {{1, 1}, {3, 5}, {17, 64}, {1000, 3}};
  for (size_t s = 0; s < 4; s++) {
    const size_t F = shape[s][0], N = shape[s][1];
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + 1, F, 1, 1);
    bn_batchnorm *l = test_layer_for(&p, 0);
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, p.mean, F));
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, p.var, F));
    float *y = test_floats(F * N), *dx = test_floats(F * N), *dg = test_floats(F),
          *db = test_floats(F);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, p.x, p.ldx, y, F));
    assert_ok(bn_batchnorm_backward(l, N, p.x, p.ldx, p.dy, p.ldy, dx, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, db, F));
    ref_bn r;
    ref_bn_init(&r, F, N);
    ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)DEFAULT_EPS);
    assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
    ref_bn_backward_inference(&r, p.xd, F, p.dyd, F, p.gd);
    assert_within(test_err_mag(dx, F, r.dx, r.dxmag, F, N), TOL);
    assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
    assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
    /* saved batch statistics belong to training forwards only */
    assert_status(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_MEAN, dg, F), BN_ERR_WRONG_STATE);
    ref_bn_free(&r);
    free(y);
    free(dx);
    free(dg);
    free(db);
    bn_batchnorm_destroy(l);
    test_problem_free(&p);
  }
}

/* The backward needs a forward: BN_ERR_WRONG_STATE on a new layer, after a
 * successful set of any tensor, and after a state load; a forward makes it
 * valid again. Failing calls write nothing to dx. */
static void backward_requires_a_forward(void **state)
{
  (void)state;
  test_rng rng = {29};
  const size_t F = 3, N = 4;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0); /* test_layer_for already ran set() */
  float *y = test_floats(F * N), *dx = test_floats(F * N), v[3] = {0.5f, 1.0f, 2.0f};
  test_set(dx, F * N, SENTINEL);
  assert_status(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F), BN_ERR_WRONG_STATE);
  assert_true(bn_batchnorm_last_error(l)[0] != '\0');
  static const bn_batchnorm_tensor settable[] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                                 BN_BATCHNORM_RUNNING_MEAN,
                                                 BN_BATCHNORM_RUNNING_VAR};
  for (size_t t = 0; t < 4; t++)
    for (int mode = BN_MODE_TRAINING; mode <= BN_MODE_INFERENCE; mode++) {
      assert_ok(bn_batchnorm_forward(l, (bn_mode)mode, N, p.x, F, y, F));
      assert_ok(bn_batchnorm_set(l, settable[t], v, F));
      assert_status(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F), BN_ERR_WRONG_STATE);
    }
  size_t size = 0;
  assert_ok(bn_batchnorm_state_size(l, &size));
  unsigned char *blob = malloc(size);
  assert_non_null(blob);
  assert_ok(bn_batchnorm_save_state(l, blob, size, NULL));
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_load_state(l, blob, size));
  assert_status(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F), BN_ERR_WRONG_STATE);
  assert_int_equal(test_padding_changed(dx, 0, N, F, SENTINEL), 0);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  assert_true(isfinite(dx[0]));
  free(blob);
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* The backward's batch must be the forward's (BN_ERR_SHAPE_MISMATCH, nothing
 * written); the matching batch then still works. */
static void backward_batch_mismatch(void **state)
{
  (void)state;
  test_rng rng = {30};
  const size_t F = 3, N = 6;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0);
  float *y = test_floats(F * N), *dx = test_floats(F * N);
  for (int mode = BN_MODE_TRAINING; mode <= BN_MODE_INFERENCE; mode++) {
    assert_ok(bn_batchnorm_forward(l, (bn_mode)mode, N, p.x, F, y, F));
    test_set(dx, F * N, SENTINEL);
    assert_status(bn_batchnorm_backward(l, N - 1, p.x, F, p.dy, F, dx, F), BN_ERR_SHAPE_MISMATCH);
    assert_status(bn_batchnorm_backward(l, N - 4, p.x, F, p.dy, F, dx, F), BN_ERR_SHAPE_MISMATCH);
    assert_true(bn_batchnorm_last_error(l)[0] != '\0');
    assert_int_equal(test_padding_changed(dx, 0, N, F, SENTINEL), 0);
    assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  }
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* Training needs two samples: batch 1 gives BN_ERR_BATCH_TOO_SMALL and
 * changes nothing (y, running statistics, tracked count); inference accepts
 * batch 1 and normalizes it with the running statistics. */
static void batch_of_one(void **state)
{
  (void)state;
  test_rng rng = {31};
  const size_t F = 17;
  test_problem p;
  test_problem_make(&p, &rng, F, 1, F, F, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0);
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, p.mean, F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, p.var, F));
  float y[17], rm[17];
  test_set(y, F, SENTINEL);
  assert_status(bn_batchnorm_forward(l, BN_MODE_TRAINING, 1, p.x, F, y, F), BN_ERR_BATCH_TOO_SMALL);
  assert_true(bn_batchnorm_last_error(l)[0] != '\0');
  assert_int_equal(test_padding_changed(y, 0, 1, F, SENTINEL), 0);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
  assert_memory_equal(rm, p.mean, F * sizeof *rm);
  uint64_t tracked = 5;
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 0);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, 1, p.x, F, y, F));
  ref_bn r;
  ref_bn_init(&r, F, 1);
  ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)DEFAULT_EPS);
  assert_within(test_err_mag(y, F, r.y, r.ymag, F, 1), TOL);
  ref_bn_free(&r);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* dgamma and dbeta are overwritten by each backward, not accumulated:
 * backward(dy1) then backward(dy2) leaves exactly what backward(dy2) alone
 * gives; repeating a backward gives the same bits. */
static void parameter_gradients_are_overwritten(void **state)
{
  (void)state;
  test_rng rng = {32};
  const size_t F = 17, N = 30;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  float *dy2 = test_floats(F * N);
  test_fill(&rng, dy2, F, N, F, 0.5, 2.0);
  for (int mode = BN_MODE_TRAINING; mode <= BN_MODE_INFERENCE; mode++) {
    bn_batchnorm *a = test_layer_for(&p, 0), *b = test_layer_for(&p, 0);
    float *y = test_floats(F * N), *dx = test_floats(F * N), *dxb = test_floats(F * N),
          dga[17], dba[17], dgb[17], dbb[17];
    assert_ok(bn_batchnorm_forward(a, (bn_mode)mode, N, p.x, F, y, F));
    assert_ok(bn_batchnorm_forward(b, (bn_mode)mode, N, p.x, F, y, F));
    assert_ok(bn_batchnorm_backward(a, N, p.x, F, p.dy, F, dx, F));
    assert_ok(bn_batchnorm_backward(a, N, p.x, F, dy2, F, dx, F));
    assert_ok(bn_batchnorm_backward(b, N, p.x, F, dy2, F, dxb, F));
    assert_ok(bn_batchnorm_get(a, BN_BATCHNORM_DGAMMA, dga, F));
    assert_ok(bn_batchnorm_get(a, BN_BATCHNORM_DBETA, dba, F));
    assert_ok(bn_batchnorm_get(b, BN_BATCHNORM_DGAMMA, dgb, F));
    assert_ok(bn_batchnorm_get(b, BN_BATCHNORM_DBETA, dbb, F));
    assert_memory_equal(dga, dgb, sizeof dga);
    assert_memory_equal(dba, dbb, sizeof dba);
    assert_memory_equal(dx, dxb, F * N * sizeof *dx);
    /* and the value is dy2's own sum, not dy1 + dy2 */
    for (size_t f = 0; f < F; f++) {
      double s = 0.0, m = 0.0;
      for (size_t j = 0; j < N; j++) {
        s += dy2[f + j * F];
        m += fabs(dy2[f + j * F]);
      }
      assert_within(fabs(dba[f] - s) / m, TOL);
    }
    free(y);
    free(dx);
    free(dxb);
    bn_batchnorm_destroy(a);
    bn_batchnorm_destroy(b);
  }
  free(dy2);
  test_problem_free(&p);
}

/* get/set of each tensor: the four settable vectors round-trip bit for bit
 * and take effect (the forward uses the new gamma / beta / running stats);
 * the computed ones are read-only (set gives BN_ERR_INVALID_ARGUMENT);
 * count != F gives BN_ERR_SHAPE_MISMATCH; NO_SCALE / NO_SHIFT make gamma /
 * beta (and their gradients) unavailable; a failed set changes nothing. */
static void get_and_set_each_tensor(void **state)
{
  (void)state;
  test_rng rng = {33};
  const size_t F = 5, N = 8;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  static const bn_batchnorm_tensor settable[] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                                 BN_BATCHNORM_RUNNING_MEAN,
                                                 BN_BATCHNORM_RUNNING_VAR};
  const float *values[] = {p.gamma, p.beta, p.mean, p.var};
  float v[5], w[5];
  for (size_t t = 0; t < 4; t++) {
    assert_ok(bn_batchnorm_set(l, settable[t], values[t], F));
    assert_ok(bn_batchnorm_get(l, settable[t], v, F));
    assert_memory_equal(v, values[t], sizeof v);
    /* wrong counts fail and leave the tensor alone */
    test_set(w, F, 42.0f);
    assert_status(bn_batchnorm_set(l, settable[t], w, F - 1), BN_ERR_SHAPE_MISMATCH);
    assert_status(bn_batchnorm_set(l, settable[t], w, F + 1), BN_ERR_SHAPE_MISMATCH);
    assert_status(bn_batchnorm_get(l, settable[t], w, F - 1), BN_ERR_SHAPE_MISMATCH);
    assert_ok(bn_batchnorm_get(l, settable[t], v, F));
    assert_memory_equal(v, values[t], sizeof v);
  }
  /* they take effect: inference with the set running stats and gamma/beta */
  float *y = test_floats(F * N), *dx = test_floats(F * N);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, p.x, F, y, F));
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)DEFAULT_EPS);
  assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
  ref_bn_free(&r);
  /* computed tensors: readable after the right call, never settable */
  static const bn_batchnorm_tensor computed[] = {BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                                 BN_BATCHNORM_SAVED_MEAN,
                                                 BN_BATCHNORM_SAVED_INVSTD};
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  for (size_t t = 0; t < 4; t++) {
    assert_ok(bn_batchnorm_get(l, computed[t], v, F));
    assert_status(bn_batchnorm_set(l, computed[t], v, F), BN_ERR_INVALID_ARGUMENT);
  }
  /* unknown ids */
  assert_status(bn_batchnorm_get(l, (bn_batchnorm_tensor)0, v, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get(l, (bn_batchnorm_tensor)11, v, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set(l, (bn_batchnorm_tensor)0, v, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set(l, (bn_batchnorm_tensor)-1, v, F), BN_ERR_INVALID_ARGUMENT);
  /* invalid values: nothing changes */
  /* (the training forward above updated the running statistics) */
  float bad[5] = {1.0f, 2.0f, NAN, 4.0f, 5.0f};
  for (size_t t = 0; t < 4; t++) {
    assert_ok(bn_batchnorm_get(l, settable[t], w, F));
    assert_status(bn_batchnorm_set(l, settable[t], bad, F), BN_ERR_NON_FINITE);
    assert_ok(bn_batchnorm_get(l, settable[t], v, F));
    assert_memory_equal(v, w, sizeof v);
  }
  bad[2] = -INFINITY;
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_BETA, bad, F), BN_ERR_NON_FINITE);
  bad[2] = -0.5f; /* a negative variance */
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, w, F));
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, bad, F), BN_ERR_INVALID_ARGUMENT);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_VAR, v, F));
  assert_memory_equal(v, w, sizeof v);
  bad[2] = 0.0f; /* zero variance is allowed */
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, bad, F));
  bn_batchnorm_destroy(l);

  /* NO_SCALE / NO_SHIFT: gamma / beta and their gradients do not exist */
  assert_ok(bn_batchnorm_create(&l, F, BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT));
  test_set(v, F, 1.0f);
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_GAMMA, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_set(l, BN_BATCHNORM_BETA, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_BETA, v, F), BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, v, F), BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_MEAN, v, F));
  bn_batchnorm_destroy(l);
  free(y);
  free(dx);
  test_problem_free(&p);
}

/* eps and the update factor round-trip and take effect: a large eps changes
 * the saved invstd to 1/sqrt(var + eps). Invalid values leave them as they
 * were, with a message. */
static void eps_and_update_factor(void **state)
{
  (void)state;
  test_rng rng = {34};
  const size_t F = 3, N = 9;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 0, 0);
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  float got = 0, si[3], *y = test_floats(F * N);
  assert_ok(bn_batchnorm_set_eps(l, 0.25f));
  assert_ok(bn_batchnorm_get_eps(l, &got));
  assert_true(got == 0.25f);
  assert_ok(bn_batchnorm_set_update_factor(l, 0.375f));
  assert_ok(bn_batchnorm_get_update_factor(l, &got));
  assert_true(got == 0.375f);
  assert_ok(bn_batchnorm_set_update_factor(l, 1.0f)); /* the closed end of (0, 1] */
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_INVSTD, si, F));
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, p.xd, F, NULL, NULL, 0.25);
  for (size_t f = 0; f < F; f++)
    assert_within(fabs(si[f] - r.invstd[f]) / r.invstd[f], TOL);
  ref_bn_free(&r);
  static const float bad_eps[] = {0.0f, -1e-5f, -INFINITY};
  for (size_t i = 0; i < 3; i++) {
    bn_status st = bn_batchnorm_set_eps(l, bad_eps[i]);
    assert_true(st == BN_ERR_INVALID_ARGUMENT || (isinf(bad_eps[i]) && st == BN_ERR_NON_FINITE));
  }
  assert_status(bn_batchnorm_set_eps(l, NAN), BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_set_eps(l, INFINITY), BN_ERR_NON_FINITE);
  assert_ok(bn_batchnorm_get_eps(l, &got));
  assert_true(got == 0.25f);
  assert_true(bn_batchnorm_last_error(l)[0] != '\0');
  static const float bad_factor[] = {0.0f, -0.5f, 1.0000001f, 2.0f};
  for (size_t i = 0; i < 4; i++)
    assert_status(bn_batchnorm_set_update_factor(l, bad_factor[i]), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_update_factor(l, NAN), BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_set_update_factor(l, INFINITY), BN_ERR_NON_FINITE);
  assert_ok(bn_batchnorm_get_update_factor(l, &got));
  assert_true(got == 1.0f);
  free(y);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* BN_BATCHNORM_FUSE_RELU is bit-identical to the same layer without it
 * followed by a separate ReLU (y = max(0, bn(x)); backward: dy masked by
 * y > 0, then the BN backward): y, dx, dgamma, dbeta, and the running
 * statistics, in training and inference mode. */
static void fused_relu_layer_equals_separate_relu(void **state)
{
  (void)state;
  test_rng rng = {35};
  static const size_t shape[][2] = {{1, 7}, {17, 40}, {1000, 5}};
  for (size_t s = 0; s < 3; s++) {
    const size_t F = shape[s][0], N = shape[s][1];
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + 1, F + 2, 1, 1);
    bn_batchnorm *plain = test_layer_for(&p, 0), *fused = test_layer_for(&p, BN_BATCHNORM_FUSE_RELU);
    const size_t ld = p.ldy, n = ld * N;
    float *y = test_floats(n), *yf = test_floats(n), *dym = test_floats(n), *dx = test_floats(n),
          *dxf = test_floats(n), *a = test_floats(F), *b = test_floats(F);
    size_t positive = 0, clipped = 0;
    for (int step = 0; step < 3; step++) {
      bn_mode mode = step == 1 ? BN_MODE_INFERENCE : BN_MODE_TRAINING;
      test_set(y, n, SENTINEL);
      test_set(yf, n, SENTINEL);
      assert_ok(bn_batchnorm_forward(plain, mode, N, p.x, p.ldx, y, ld));
      assert_ok(bn_batchnorm_forward(fused, mode, N, p.x, p.ldx, yf, ld));
      memcpy(dym, p.dy, n * sizeof *dym);
      for (size_t j = 0; j < N; j++)
        for (size_t f = 0; f < F; f++) {
          size_t i = f + j * ld;
          positive += y[i] > 0.0f;
          clipped += !(y[i] > 0.0f);
          dym[i] = y[i] > 0.0f ? p.dy[i] : 0.0f;
          y[i] = test_relu(y[i]);
        }
      assert_memory_equal(y, yf, n * sizeof *y);
      assert_ok(bn_batchnorm_backward(plain, N, p.x, p.ldx, dym, ld, dx, ld));
      assert_ok(bn_batchnorm_backward(fused, N, p.x, p.ldx, p.dy, ld, dxf, ld));
      for (size_t j = 0; j < N; j++)
        assert_memory_equal(dx + j * ld, dxf + j * ld, F * sizeof *dx);
      static const bn_batchnorm_tensor t[] = {BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                              BN_BATCHNORM_RUNNING_MEAN,
                                              BN_BATCHNORM_RUNNING_VAR};
      for (size_t k = 0; k < 4; k++) {
        assert_ok(bn_batchnorm_get(plain, t[k], a, F));
        assert_ok(bn_batchnorm_get(fused, t[k], b, F));
        assert_memory_equal(a, b, F * sizeof *a);
      }
    }
    assert_true(positive > 0 && clipped > 0);
    free(y);
    free(yf);
    free(dym);
    free(dx);
    free(dxf);
    free(a);
    free(b);
    bn_batchnorm_destroy(plain);
    bn_batchnorm_destroy(fused);
    test_problem_free(&p);
  }
}

/* In place through the layer: y == x (same ld) gives the bits of an
 * out-of-place forward in both modes, and dx == dy those of an out-of-place
 * backward (the backward is given an intact copy of x, since an in-place
 * training forward overwrites it). */
static void in_place_layer_equals_out_of_place(void **state)
{
  (void)state;
  test_rng rng = {36};
  const size_t F = 17, N = 24;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F + 3, F + 3, 1, 1);
  const size_t ld = p.ldx, n = ld * N;
  bn_batchnorm *a = test_layer_for(&p, 0), *b = test_layer_for(&p, 0);
  float *y = test_floats(n), *io = test_floats(n), *dx = test_floats(n), ga[17], gb[17];
  for (int step = 0; step < 2; step++) {
    bn_mode mode = step ? BN_MODE_INFERENCE : BN_MODE_TRAINING;
    assert_ok(bn_batchnorm_forward(a, mode, N, p.x, ld, y, ld));
    memcpy(io, p.x, n * sizeof *io);
    assert_ok(bn_batchnorm_forward(b, mode, N, io, ld, io, ld));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, y + j * ld, F * sizeof *y);
    assert_ok(bn_batchnorm_backward(a, N, p.x, ld, p.dy, ld, dx, ld));
    memcpy(io, p.dy, n * sizeof *io);
    assert_ok(bn_batchnorm_backward(b, N, p.x, ld, io, ld, io, ld));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, dx + j * ld, F * sizeof *dx);
    assert_ok(bn_batchnorm_get(a, BN_BATCHNORM_DGAMMA, ga, F));
    assert_ok(bn_batchnorm_get(b, BN_BATCHNORM_DGAMMA, gb, F));
    assert_memory_equal(ga, gb, sizeof ga);
  }
  free(y);
  free(io);
  free(dx);
  bn_batchnorm_destroy(a);
  bn_batchnorm_destroy(b);
  test_problem_free(&p);
}

/* After any failing call the handle's last_error is a non-empty message;
 * the NULL handle has a static one. */
static void last_error_describes_failures(void **state)
{
  (void)state;
  const size_t F = 4, N = 3;
  float x[12] = {0}, y[12], v[4] = {1, 1, 1, 1};
  const char *msg = bn_batchnorm_last_error(NULL);
  assert_non_null(msg);
  assert_true(msg[0] != '\0');
  struct {
    const char *what;
    int call;
  } cases[] = {{"eps", 0},       {"factor", 1},   {"forward ld", 2}, {"forward batch", 3},
               {"mode", 4},      {"get id", 5},   {"set count", 6},  {"backward", 7},
               {"load", 8},      {"save cap", 9}};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    bn_batchnorm *l = NULL;
    assert_ok(bn_batchnorm_create(&l, F, 0));
    assert_string_equal(bn_batchnorm_last_error(l), "");
    bn_status st = BN_OK;
    unsigned char blob[8] = {0};
    switch (cases[c].call) {
    case 0: st = bn_batchnorm_set_eps(l, -1.0f); break;
    case 1: st = bn_batchnorm_set_update_factor(l, 2.0f); break;
    case 2: st = bn_batchnorm_forward(l, BN_MODE_TRAINING, N, x, F - 1, y, F); break;
    case 3: st = bn_batchnorm_forward(l, BN_MODE_TRAINING, 1, x, F, y, F); break;
    case 4: st = bn_batchnorm_forward(l, (bn_mode)7, N, x, F, y, F); break;
    case 5: st = bn_batchnorm_get(l, (bn_batchnorm_tensor)99, v, F); break;
    case 6: st = bn_batchnorm_set(l, BN_BATCHNORM_GAMMA, v, F + 1); break;
    case 7: st = bn_batchnorm_backward(l, N, x, F, x, F, y, F); break;
    case 8: st = bn_batchnorm_load_state(l, blob, sizeof blob); break;
    case 9: st = bn_batchnorm_save_state(l, blob, sizeof blob, NULL); break;
    }
    if (st == BN_OK)
      fail_msg("%s: expected a failure", cases[c].what);
    msg = bn_batchnorm_last_error(l);
    assert_non_null(msg);
    if (msg[0] == '\0')
      fail_msg("%s: empty last_error after %s", cases[c].what, bn_status_string(st));
    bn_batchnorm_destroy(l);
  }
}

/* ---- tunables through one entry point ------------------------------------ */

/* Each tunable's documented bounds, a value inside read back as stored
 * (float parameters rounded to float), the superseded accessors reading and
 * writing the very same value, and a setting that takes effect. */
static void parameters_round_trip_within_bounds(void **state)
{
  (void)state;
  static const struct {
    bn_batchnorm_param param;
    double lower, upper, value, stored;
  } cases[] = {
    {BN_BATCHNORM_EPSILON, 0.0, FLT_MAX, 0.1, (double)0.1f},
    {BN_BATCHNORM_UPDATE_FACTOR, 0.0, 1.0, 0.3, (double)0.3f},
    {BN_BATCHNORM_THREADS, 1.0, 64.0, 3.0, 3.0},
    {BN_BATCHNORM_BATCHES_TRACKED, 0.0, 9007199254740992.0, 12345.0, 12345.0},
  };
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, 3, 0));
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    double lo = -1, hi = -1, got = -1;
    assert_ok(bn_batchnorm_parameter_bounds(cases[i].param, &lo, &hi));
    assert_true(lo == cases[i].lower && hi == cases[i].upper);
    assert_ok(bn_batchnorm_parameter_bounds(cases[i].param, NULL, &hi));
    assert_ok(bn_batchnorm_parameter_bounds(cases[i].param, &lo, NULL));
    assert_ok(bn_batchnorm_set_parameter(l, cases[i].param, cases[i].value));
    assert_ok(bn_batchnorm_get_parameter(l, cases[i].param, &got));
    assert_true(got == cases[i].stored);
  }
  /* the closed ends are accepted */
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_EPSILON, FLT_MAX));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_UPDATE_FACTOR, 1.0));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_THREADS, 64.0));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_BATCHES_TRACKED, 9007199254740992.0));

  /* superseded accessors and the parameter interface share one value */
  float f = 0;
  unsigned threads = 0;
  uint64_t tracked = 0;
  double got = 0;
  assert_ok(bn_batchnorm_set_eps(l, 0.25f));
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_EPSILON, &got));
  assert_true(got == 0.25);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_UPDATE_FACTOR, 0.375));
  assert_ok(bn_batchnorm_get_update_factor(l, &f));
  assert_true(f == 0.375f);
  assert_ok(bn_batchnorm_set_threads(l, 5));
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_THREADS, &got));
  assert_true(got == 5.0);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_THREADS, 2.0));
  assert_ok(bn_batchnorm_get_threads(l, &threads));
  assert_int_equal(threads, 2);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_BATCHES_TRACKED, 41.0));
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 41);
  /* the 64-bit accessors keep their full range; the double reads it rounded */
  assert_ok(bn_batchnorm_set_batches_tracked(l, UINT64_MAX));
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_BATCHES_TRACKED, &got));
  assert_true(got == 18446744073709551616.0);
  bn_batchnorm_destroy(l);
}

/* eps set through the parameter interface is the eps of the next forward,
 * and setting a tunable keeps a pending backward valid. */
static void parameter_takes_effect(void **state)
{
  (void)state;
  test_rng rng = {35};
  const size_t F = 3, N = 9;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 0, 0);
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  float si[3], *y = test_floats(F * N), *dx = test_floats(F * N);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_EPSILON, 0.5));
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_SAVED_INVSTD, si, F));
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, p.xd, F, NULL, NULL, 0.5);
  for (size_t f = 0; f < F; f++)
    assert_within(fabs(si[f] - r.invstd[f]) / r.invstd[f], TOL);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_UPDATE_FACTOR, 0.5));
  assert_ok(bn_batchnorm_backward(l, N, p.x, F, p.dy, F, dx, F));
  ref_bn_free(&r);
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

/* Every refused value leaves the parameter as it was and says why; unknown
 * ids and NULL pointers are argument errors. */
static void parameters_refuse_bad_values(void **state)
{
  (void)state;
  static const struct {
    bn_batchnorm_param param;
    double value;
    bn_status want;
  } bad[] = {
    {BN_BATCHNORM_EPSILON, 0.0, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_EPSILON, -1e-5, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_EPSILON, 1e-50, BN_ERR_INVALID_ARGUMENT}, /* rounds to 0 in float */
    {BN_BATCHNORM_EPSILON, 1e39, BN_ERR_INVALID_ARGUMENT},  /* beyond FLT_MAX */
    {BN_BATCHNORM_EPSILON, NAN, BN_ERR_NON_FINITE},
    {BN_BATCHNORM_EPSILON, INFINITY, BN_ERR_NON_FINITE},
    {BN_BATCHNORM_UPDATE_FACTOR, 0.0, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_UPDATE_FACTOR, 1.0000001, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_UPDATE_FACTOR, 1e-60, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_UPDATE_FACTOR, -INFINITY, BN_ERR_NON_FINITE},
    {BN_BATCHNORM_THREADS, 0.0, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_THREADS, 65.0, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_THREADS, 2.5, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_THREADS, NAN, BN_ERR_NON_FINITE},
    {BN_BATCHNORM_BATCHES_TRACKED, -1.0, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_BATCHES_TRACKED, 0.5, BN_ERR_INVALID_ARGUMENT},
    {BN_BATCHNORM_BATCHES_TRACKED, 9007199254740994.0, BN_ERR_INVALID_ARGUMENT},
    {(bn_batchnorm_param)0, 1.0, BN_ERR_INVALID_ARGUMENT},
    {(bn_batchnorm_param)-1, 1.0, BN_ERR_INVALID_ARGUMENT},
    {(bn_batchnorm_param)1000, 1.0, BN_ERR_INVALID_ARGUMENT},
  };
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, 2, 0));
  const bn_batchnorm_param all[] = {BN_BATCHNORM_EPSILON, BN_BATCHNORM_UPDATE_FACTOR,
                                    BN_BATCHNORM_THREADS, BN_BATCHNORM_BATCHES_TRACKED};
  double before[4], after[4];
  for (size_t k = 0; k < 4; k++)
    assert_ok(bn_batchnorm_get_parameter(l, all[k], &before[k]));
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    assert_ok(bn_batchnorm_set_eps(l, 1e-5f)); /* a success does not clear the message */
    assert_status(bn_batchnorm_set_parameter(l, bad[i].param, bad[i].value), bad[i].want);
    assert_true(bn_batchnorm_last_error(l)[0] != '\0');
    for (size_t k = 0; k < 4; k++) {
      assert_ok(bn_batchnorm_get_parameter(l, all[k], &after[k]));
      assert_true(after[k] == before[k]);
    }
  }
  double v = 7.0, lo = 7.0;
  assert_status(bn_batchnorm_set_parameter(NULL, BN_BATCHNORM_EPSILON, 1e-3),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_parameter(NULL, BN_BATCHNORM_EPSILON, &v),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_parameter(l, BN_BATCHNORM_EPSILON, NULL),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_parameter(l, (bn_batchnorm_param)0, &v),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_parameter(l, (bn_batchnorm_param)99, &v),
                BN_ERR_INVALID_ARGUMENT);
  assert_true(v == 7.0);
  assert_status(bn_batchnorm_parameter_bounds((bn_batchnorm_param)0, &lo, &v),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_parameter_bounds((bn_batchnorm_param)99, &lo, &v),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_parameter_bounds(BN_BATCHNORM_EPSILON, NULL, NULL),
                BN_ERR_INVALID_ARGUMENT);
  assert_true(v == 7.0 && lo == 7.0);
  bn_batchnorm_destroy(l);
}

/* ---- backward without an input gradient ----------------------------------- */

/* dx = NULL computes dgamma and dbeta exactly as a backward with dx does,
 * after a training and after an inference forward, fused ReLU or not, with
 * padded leading dimensions; dy is still validated. */
static void backward_without_dx_gives_the_same_parameter_gradients(void **state)
{
  (void)state;
  test_rng rng = {36};
  const size_t F = 5, N = 11, LD = 7;
  test_problem p;
  test_problem_make(&p, &rng, F, N, LD, LD, 1, 1);
  float *y = test_floats(LD * N), *dx = test_floats(LD * N);
  float dg1[5], db1[5], dg2[5], db2[5];
  for (unsigned relu = 0; relu < 2; relu++)
    for (int m = BN_MODE_TRAINING; m <= BN_MODE_INFERENCE; m++) {
      bn_batchnorm *l = test_layer_for(&p, relu ? BN_BATCHNORM_FUSE_RELU : 0);
      assert_ok(bn_batchnorm_forward(l, (bn_mode)m, N, p.x, LD, y, LD));
      assert_ok(bn_batchnorm_backward(l, N, p.x, LD, p.dy, LD, dx, LD));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg1, F));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, db1, F));
      test_set(dg2, F, SENTINEL);
      assert_ok(bn_batchnorm_backward(l, N, p.x, LD, p.dy, LD, NULL, 0));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg2, F));
      assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DBETA, db2, F));
      assert_memory_equal(dg1, dg2, sizeof dg1);
      assert_memory_equal(db1, db2, sizeof db1);
      /* the gradients are real: compare with the float64 reference */
      if (m == BN_MODE_TRAINING && !relu) {
        ref_bn r;
        ref_bn_init(&r, F, N);
        ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, DEFAULT_EPS);
        ref_bn_backward_training(&r, p.xd, F, p.dyd, F, p.gd);
        assert_within(test_vec_err(dg2, r.dgamma, r.dgmag, F), TOL);
        assert_within(test_vec_err(db2, r.dbeta, r.dbmag, F), TOL);
        ref_bn_free(&r);
      }
      assert_status(bn_batchnorm_backward(l, N, p.x, LD, NULL, LD, NULL, 0),
                    BN_ERR_INVALID_ARGUMENT);
      assert_status(bn_batchnorm_backward(l, N, p.x, LD, p.dy, F - 1, NULL, 0),
                    BN_ERR_INVALID_ARGUMENT);
      assert_status(bn_batchnorm_backward(l, N, NULL, LD, p.dy, LD, NULL, 0),
                    BN_ERR_INVALID_ARGUMENT);
      bn_batchnorm_destroy(l);
    }
  free(y);
  free(dx);
  test_problem_free(&p);
}

/* The kernels take the layer's fused-ReLU flag, and still the value 1 that
 * BN_KERNEL_FUSE_RELU had in libbn 1.0: both give the layer's output bit for bit. */
static void kernels_take_the_layer_fuse_relu_flag(void **state)
{
  (void)state;
  test_rng rng = {37};
  const size_t F = 6, N = 10;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  float *y_layer = test_floats(F * N), *y_new = test_floats(F * N), *y_old = test_floats(F * N);
  bn_batchnorm *l = test_layer_for(&p, BN_BATCHNORM_FUSE_RELU);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, F, y_layer, F));
  assert_ok(bn_batchnorm_forward_training(F, N, p.x, F, p.gamma, p.beta, DEFAULT_EPS,
                                          BN_BATCHNORM_FUSE_RELU, y_new, F, NULL, NULL, NULL));
  assert_ok(bn_batchnorm_forward_training(F, N, p.x, F, p.gamma, p.beta, DEFAULT_EPS, 1u,
                                          y_old, F, NULL, NULL, NULL));
  assert_memory_equal(y_layer, y_new, F * N * sizeof *y_new);
  assert_memory_equal(y_old, y_new, F * N * sizeof *y_new);
  size_t negatives = 0, zeros = 0; /* the ReLU was applied */
  for (size_t i = 0; i < F * N; i++)
    negatives += y_new[i] < 0.0f, zeros += y_new[i] == 0.0f;
  assert_int_equal(negatives, 0);
  assert_true(zeros > 0);
  assert_status(bn_batchnorm_forward_training(F, N, p.x, F, p.gamma, p.beta, DEFAULT_EPS, 2u,
                                              y_new, F, NULL, NULL, NULL),
                BN_ERR_INVALID_ARGUMENT);
  bn_batchnorm_destroy(l);
  free(y_layer);
  free(y_new);
  free(y_old);
  test_problem_free(&p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(create_gives_documented_defaults),
      cmocka_unit_test(training_forward_matches_reference),
      cmocka_unit_test(mode_is_explicit_per_call),
      cmocka_unit_test(running_stats_exponential_average),
      cmocka_unit_test(running_stats_cumulative_average),
      cmocka_unit_test(inference_does_not_update_running_stats),
      cmocka_unit_test(cumulative_average_resumes_from_tracked_count),
      cmocka_unit_test(no_running_stats_layer),
      cmocka_unit_test(backward_after_training_is_full_gradient),
      cmocka_unit_test(backward_after_inference_is_constant_stats_gradient),
      cmocka_unit_test(backward_requires_a_forward),
      cmocka_unit_test(backward_batch_mismatch),
      cmocka_unit_test(batch_of_one),
      cmocka_unit_test(parameter_gradients_are_overwritten),
      cmocka_unit_test(get_and_set_each_tensor),
      cmocka_unit_test(eps_and_update_factor),
      cmocka_unit_test(fused_relu_layer_equals_separate_relu),
      cmocka_unit_test(in_place_layer_equals_out_of_place),
      cmocka_unit_test(last_error_describes_failures),
      cmocka_unit_test(parameters_round_trip_within_bounds),
      cmocka_unit_test(parameter_takes_effect),
      cmocka_unit_test(parameters_refuse_bad_values),
      cmocka_unit_test(backward_without_dx_gives_the_same_parameter_gradients),
      cmocka_unit_test(kernels_take_the_layer_fuse_relu_flag),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

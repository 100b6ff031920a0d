/* A batch spread over shards (sizes 1, 2, 100 and 28 columns): each shard's
 * moments, merged exactly; every shard's layer normalizing with the merged
 * statistics; the backward's per-feature sums added over shards; each
 * shard's dx. Everything is compared with a float64 reference of the whole
 * batch (testing.h), column by column, so a shard's y and dx are the
 * single-process ones on its columns.
 *
 * Tolerances: TOL = 1e-6 componentwise relative (test_err_mag: the error
 * over the magnitude of the terms), as for the single-process layer; the
 * moments are double, so they get 1e-12. */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "testing.h"

#define TOL 1e-6
#define TOL_MOMENTS 1e-12

enum { F = 5, LDX = 7, LDY = 6, SHARDS = 4 };
static const size_t shard_size[SHARDS] = {1, 2, 100, 28};
enum { N = 131 };

static size_t shard_start(size_t s)
{
  size_t start = 0;
  for (size_t i = 0; i < s; i++)
    start += shard_size[i];
  return start;
}

/* The merged moments of the shards of p, merged in the order given. */
static void merged_moments(const test_problem *p, const size_t *order, double *count,
                           double *mean, double *m2)
{
  double smean[F], sm2[F];
  *count = 0.0;
  for (size_t i = 0; i < SHARDS; i++) {
    size_t s = order[i];
    assert_ok(bn_batchnorm_moments(F, shard_size[s], p->x + shard_start(s) * p->ldx, p->ldx,
                                   smean, sm2));
    assert_ok(bn_moments_merge(F, *count, mean, m2, (double)shard_size[s], smean, sm2));
    *count += (double)shard_size[s];
  }
}

static void moments_of_shards_merge_to_the_whole(void **state)
{
  (void)state;
  test_rng rng = {11};
  test_problem p;
  test_problem_make(&p, &rng, F, N, LDX, LDY, 1, 1);
  /* a feature whose mean dwarfs its spread */
  for (size_t j = 0; j < N; j++) {
    p.x[j * LDX] = (float)(1e4 + 1e-2 * test_rng_normal(&rng));
    p.xd[j * F] = p.x[j * LDX];
  }
  double rmean[F], rvar[F];
  ref_moments(F, N, p.xd, F, rmean, rvar);
  static const size_t forward[SHARDS] = {0, 1, 2, 3}, backward[SHARDS] = {3, 2, 1, 0};
  const size_t *orders[] = {forward, backward};
  for (size_t o = 0; o < 2; o++) {
    double count, mean[F], m2[F];
    merged_moments(&p, orders[o], &count, mean, m2);
    assert_true(count == (double)N);
    for (size_t f = 0; f < F; f++) {
      assert_within(fabs(mean[f] - rmean[f]) / (fabs(rmean[f]) + sqrt(rvar[f])), TOL_MOMENTS);
      assert_within(fabs(m2[f] / N - rvar[f]) / rvar[f], 1e-9);
    }
  }
  test_problem_free(&p);
}

/* The sharded training step of p, shard s on layer[s]: forward with the
 * merged moments, the backward's sums (sum_dy, sum_dy_xhat) and every
 * layer's dgamma and dbeta added over the shards, then every shard's dx.
 * y and dx are F x N with leading dimension LDY. */
static void run_shards(const test_problem *p, bn_batchnorm **layer, float *y, float *dx,
                       double *sum_dy, double *sum_dy_xhat, double *dgamma, double *dbeta)
{
  static const size_t order[SHARDS] = {0, 1, 2, 3};
  double count, mean[F], m2[F];
  merged_moments(p, order, &count, mean, m2);
  for (size_t f = 0; f < F; f++)
    sum_dy[f] = sum_dy_xhat[f] = dgamma[f] = dbeta[f] = 0.0;
  for (size_t s = 0; s < SHARDS; s++) {
    const size_t j0 = shard_start(s), n = shard_size[s];
    assert_ok(bn_batchnorm_forward_with_moments(layer[s], n, p->x + j0 * LDX, LDX,
                                                y + j0 * LDY, LDY, count, mean, m2));
    double sd[F], sdx[F];
    assert_ok(bn_batchnorm_backward_sums(layer[s], n, p->x + j0 * LDX, LDX, p->dy + j0 * LDY,
                                         LDY, sd, sdx));
    float g[F], b[F];
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_DGAMMA, g, F));
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_DBETA, b, F));
    for (size_t f = 0; f < F; f++) {
      sum_dy[f] += sd[f];
      sum_dy_xhat[f] += sdx[f];
      dgamma[f] += g[f];
      dbeta[f] += b[f];
    }
  }
  for (size_t s = 0; s < SHARDS; s++) {
    const size_t j0 = shard_start(s), n = shard_size[s];
    assert_ok(bn_batchnorm_backward_with_sums(layer[s], n, p->x + j0 * LDX, LDX,
                                              p->dy + j0 * LDY, LDY, dx + j0 * LDY, LDY,
                                              sum_dy, sum_dy_xhat));
  }
}

/* One layer per shard, all with p's gamma and beta: forward with the merged
 * moments, backward through the summed reductions; compared with the
 * reference of the whole batch. */
static void check_sharded_layers(unsigned flags)
{
  test_rng rng = {23 + flags};
  test_problem p;
  test_problem_make(&p, &rng, F, N, LDX, LDY, 1, 1);
  ref_bn r;
  ref_bn_init(&r, F, N);
  const double eps = 1e-5;
  ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, eps);
  const int relu = (flags & BN_BATCHNORM_FUSE_RELU) != 0;
  /* The fused ReLU's backward masks dy where y <= 0. */
  double *dy_masked = test_doubles(F * N);
  for (size_t i = 0; i < F * N; i++) {
    dy_masked[i] = relu && !(r.y[i] > 0.0) ? 0.0 : p.dyd[i];
    if (relu)
      r.y[i] = r.y[i] > 0.0 ? r.y[i] : 0.0;
  }
  ref_bn_backward_training(&r, p.xd, F, dy_masked, F, p.gd);

  bn_batchnorm *layer[SHARDS];
  for (size_t s = 0; s < SHARDS; s++)
    layer[s] = test_layer_for(&p, flags);
  float *y = test_floats(LDY * N), *dx = test_floats(LDY * N);
  double sum_dy[F], sum_dy_xhat[F], dgamma[F], dbeta[F];
  run_shards(&p, layer, y, dx, sum_dy, sum_dy_xhat, dgamma, dbeta);
  assert_within(test_err_mag(y, LDY, r.y, r.ymag, F, N), TOL);
  assert_within(test_err_mag(dx, LDY, r.dx, r.dxmag, F, N), TOL);
  for (size_t f = 0; f < F; f++) {
    assert_within(fabs(sum_dy[f] - r.dbeta[f]) / r.dbmag[f], TOL);
    assert_within(fabs(sum_dy_xhat[f] - r.dgamma[f]) / r.dgmag[f], TOL);
    assert_within(fabs(dbeta[f] - r.dbeta[f]) / r.dbmag[f], TOL);
    assert_within(fabs(dgamma[f] - r.dgamma[f]) / r.dgmag[f], TOL);
  }
  /* Every shard's running statistics are those of one update with the whole
   * batch: factor 0.1 from (0, 1), the unbiased variance with N/(N-1). */
  for (size_t s = 0; s < SHARDS; s++) {
    float rm[F], rv[F];
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RUNNING_VAR, rv, F));
    for (size_t f = 0; f < F; f++) {
      double em = 0.1 * r.mean[f], ev = 0.9 + 0.1 * r.var[f] * N / (N - 1.0);
      assert_within(fabs(rm[f] - em) / (fabs(em) + 0.1 * sqrt(r.var[f])), TOL);
      assert_within(fabs(rv[f] - ev) / ev, TOL);
    }
    bn_batchnorm_destroy(layer[s]);
  }
  free(y);
  free(dx);
  free(dy_masked);
  ref_bn_free(&r);
  test_problem_free(&p);
}

static void sharded_layers_match_the_whole_batch(void **state)
{
  (void)state;
  check_sharded_layers(0);
}

static void sharded_layers_with_fused_relu(void **state)
{
  (void)state;
  check_sharded_layers(BN_BATCHNORM_FUSE_RELU);
}

/* max over features f of max_j |a - b| / max_j |b| (F x N, leading
 * dimensions lda and ldb): the largest difference in units of its feature's
 * scale. */
static double worst_by_feature(const float *a, size_t lda, const float *b, size_t ldb)
{
  double worst = 0.0;
  for (size_t f = 0; f < F; f++) {
    double diff = 0.0, scale = 1e-30;
    for (size_t j = 0; j < N; j++) {
      diff = fmax(diff, fabs((double)a[f + j * lda] - (double)b[f + j * ldb]));
      scale = fmax(scale, fabs((double)b[f + j * ldb]));
    }
    worst = fmax(worst, diff / scale);
  }
  return worst;
}

/* |a - b| / |b| over F values. */
static double worst_of_vector(const float *a, const float *b)
{
  double worst = 0.0;
  for (size_t f = 0; f < F; f++)
    worst = fmax(worst, fabs((double)a[f] - (double)b[f]) / fmax(fabs((double)b[f]), 1e-30));
  return worst;
}

/* A Batch Renormalization layer of p (running statistics p's mean and var,
 * limits rmax 1.1 and dmax 0.2, so some features' r and d are clipped and
 * some are not). */
static bn_batchnorm *renorm_layer_for(const test_problem *p, unsigned flags)
{
  bn_batchnorm *l = test_layer_for(p, flags | BN_BATCHNORM_RENORM);
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, p->mean, F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, p->var, F));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_RMAX, 1.1));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_DMAX, 0.2));
  return l;
}

/* Batch Renormalization over shards: r and d from the merged statistics and
 * the running statistics, the same on every shard; y, dx, the summed dgamma
 * and dbeta and the running statistics those of the single-process layer
 * (itself checked against float64 in test_batchnorm_renorm) on the whole
 * batch, to float rounding: 1e-6 of each feature's scale. */
static void check_sharded_renorm(unsigned flags)
{
  test_rng rng = {41 + flags};
  test_problem p;
  test_problem_make(&p, &rng, F, N, LDX, LDY, 1, 1);
  bn_batchnorm *whole = renorm_layer_for(&p, flags);
  float *wy = test_floats(LDY * N), *wdx = test_floats(LDY * N);
  float wr[F], wd[F], wg[F], wb[F], wrm[F], wrv[F];
  assert_ok(bn_batchnorm_forward(whole, BN_MODE_TRAINING, N, p.x, LDX, wy, LDY));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_RENORM_R, wr, F));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_RENORM_D, wd, F));
  assert_ok(bn_batchnorm_backward(whole, N, p.x, LDX, p.dy, LDY, wdx, LDY));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_DGAMMA, wg, F));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_DBETA, wb, F));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_RUNNING_MEAN, wrm, F));
  assert_ok(bn_batchnorm_get(whole, BN_BATCHNORM_RUNNING_VAR, wrv, F));
  int clipped = 0, free_r = 0;
  for (size_t f = 0; f < F; f++) {
    clipped += wr[f] == 1.1f || wr[f] == 1.0f / 1.1f || wd[f] == 0.2f || wd[f] == -0.2f;
    free_r += wr[f] != 1.1f && wr[f] != (float)(1.0 / 1.1);
  }
  assert_true(clipped > 0 && free_r > 0); /* both regimes are exercised */

  bn_batchnorm *layer[SHARDS];
  for (size_t s = 0; s < SHARDS; s++)
    layer[s] = renorm_layer_for(&p, flags);
  float *y = test_floats(LDY * N), *dx = test_floats(LDY * N);
  double sum_dy[F], sum_dy_xhat[F], dgamma[F], dbeta[F];
  run_shards(&p, layer, y, dx, sum_dy, sum_dy_xhat, dgamma, dbeta);
  for (size_t s = 0; s < SHARDS; s++) { /* every shard used the whole batch's r and d */
    float r[F], d[F];
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RENORM_R, r, F));
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RENORM_D, d, F));
    assert_within(worst_of_vector(r, wr), 1e-6);
    assert_within(worst_of_vector(d, wd), 1e-6);
  }
  assert_within(worst_by_feature(y, LDY, wy, LDY), 1e-6);
  assert_within(worst_by_feature(dx, LDY, wdx, LDY), 1e-6);
  /* The shards' dgamma and dbeta are each rounded to float: a few roundings
   * of the largest share. */
  for (size_t f = 0; f < F; f++) {
    assert_within(fabs(dgamma[f] - wg[f]) / fmax(fabs((double)wg[f]), 1e-30), 1e-5);
    assert_within(fabs(dbeta[f] - wb[f]) / fmax(fabs((double)wb[f]), 1e-30), 1e-5);
  }
  for (size_t s = 0; s < SHARDS; s++) {
    float rm[F], rv[F];
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RUNNING_MEAN, rm, F));
    assert_ok(bn_batchnorm_get(layer[s], BN_BATCHNORM_RUNNING_VAR, rv, F));
    assert_within(worst_of_vector(rm, wrm), 1e-6);
    assert_within(worst_of_vector(rv, wrv), 1e-6);
    bn_batchnorm_destroy(layer[s]);
  }
  bn_batchnorm_destroy(whole);
  free(y);
  free(dx);
  free(wy);
  free(wdx);
  test_problem_free(&p);
}

static void sharded_renorm_matches_the_whole_batch(void **state)
{
  (void)state;
  check_sharded_renorm(0);
}

static void sharded_renorm_with_fused_relu(void **state)
{
  (void)state;
  check_sharded_renorm(BN_BATCHNORM_FUSE_RELU);
}

/* The backward halves also follow a plain training forward: together they
 * are its backward (count = the forward's batch). */
static void sums_after_a_plain_forward_give_its_backward(void **state)
{
  (void)state;
  test_rng rng = {5};
  test_problem p;
  test_problem_make(&p, &rng, F, N, LDX, LDY, 1, 1);
  bn_batchnorm *l = test_layer_for(&p, 0);
  float *y = test_floats(LDY * N), *dx = test_floats(LDY * N), *dx2 = test_floats(LDY * N);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, LDX, y, LDY));
  assert_ok(bn_batchnorm_backward(l, N, p.x, LDX, p.dy, LDY, dx, LDY));
  double sd[F], sdx[F];
  assert_ok(bn_batchnorm_backward_sums(l, N, p.x, LDX, p.dy, LDY, sd, sdx));
  assert_ok(bn_batchnorm_backward_with_sums(l, N, p.x, LDX, p.dy, LDY, dx2, LDY, sd, sdx));
  double worst = 0.0, scale = 0.0;
  for (size_t j = 0; j < N; j++)
    for (size_t f = 0; f < F; f++) {
      worst = fmax(worst, fabs((double)dx2[f + j * LDY] - dx[f + j * LDY]));
      scale = fmax(scale, fabs((double)dx[f + j * LDY]));
    }
  assert_within(worst / scale, 1e-6);
  free(y);
  free(dx);
  free(dx2);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

static void hostile_arguments(void **state)
{
  (void)state;
  float x[F * 4], y[F * 4], dy[F * 4];
  for (size_t i = 0; i < F * 4; i++)
    x[i] = (float)(i % 7), dy[i] = (float)(i % 3) - 1.0f;
  double mean[F], m2[F], sd[F], sdx[F];
  const double nan = NAN;

  /* moments */
  assert_status(bn_batchnorm_moments(F, 4, NULL, F, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments(F, 4, x, F, NULL, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments(F, 0, x, F, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments(0, 4, x, F, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments(F, 4, x, F - 1, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments(F, SIZE_MAX, x, F, mean, m2), BN_ERR_SIZE_OVERFLOW);
  float bad[F * 2];
  memcpy(bad, x, sizeof bad);
  bad[3] = INFINITY;
  mean[0] = 42.0;
  assert_status(bn_batchnorm_moments(F, 2, bad, F, mean, m2), BN_ERR_NON_FINITE);
  assert_true(mean[0] == 42.0); /* untouched */
  assert_ok(bn_batchnorm_moments(F, 4, x, F, mean, m2));

  /* merge */
  double ma[F], qa[F];
  memcpy(ma, mean, sizeof ma);
  memcpy(qa, m2, sizeof qa);
  assert_status(bn_moments_merge(0, 4, ma, qa, 4, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_moments_merge(F, 4, NULL, qa, 4, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_moments_merge(F, 4, ma, qa, 4, mean, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_moments_merge(F, -1, ma, qa, 4, mean, m2), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_moments_merge(F, 4, ma, qa, nan, mean, m2), BN_ERR_NON_FINITE);
  assert_status(bn_moments_merge(F, 4, ma, qa, INFINITY, mean, m2), BN_ERR_NON_FINITE);
  double big[F], neg[F];
  for (size_t f = 0; f < F; f++)
    big[f] = 1e300, neg[f] = -1.0;
  assert_status(bn_moments_merge(F, 4, ma, qa, 4, mean, neg), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_moments_merge(F, 4, ma, qa, 4, big, m2), BN_ERR_NON_FINITE); /* delta^2 overflows */
  for (size_t f = 0; f < F; f++)
    assert_true(ma[f] == mean[f] && qa[f] == m2[f]); /* unchanged on error */
  /* a set with count 0 is the identity */
  assert_ok(bn_moments_merge(F, 4, ma, qa, 0, big, m2));
  for (size_t f = 0; f < F; f++)
    assert_true(ma[f] == mean[f] && qa[f] == m2[f]);
  /* an empty a's values are not read (NaN here), the union is b */
  double na[F], nq[F];
  for (size_t f = 0; f < F; f++)
    na[f] = nq[f] = nan;
  assert_ok(bn_moments_merge(F, 0, na, nq, 4, mean, m2));
  for (size_t f = 0; f < F; f++)
    assert_true(na[f] == mean[f] && nq[f] == m2[f]);

  /* layer */
  bn_batchnorm *l;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  assert_status(bn_batchnorm_forward_with_moments(NULL, 4, x, F, y, F, 8, mean, m2),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 8, NULL, m2),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 3, mean, m2),
                BN_ERR_INVALID_ARGUMENT); /* count below the shard */
  assert_status(bn_batchnorm_forward_with_moments(l, 1, x, F, y, F, 1, mean, m2),
                BN_ERR_INVALID_ARGUMENT); /* a whole batch of one */
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 8.5, mean, m2),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, nan, mean, m2),
                BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 8, mean, neg),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 8, big, m2),
                BN_ERR_NON_FINITE); /* beyond float */
  assert_status(bn_batchnorm_forward_with_moments(l, 4, x, F, x + 1, F, 8, mean, m2),
                BN_ERR_INVALID_ARGUMENT); /* overlapping output */
  /* no forward yet */
  assert_status(bn_batchnorm_backward_sums(l, 4, x, F, dy, F, sd, sdx), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, y, F, sd, sdx),
                BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_forward_with_moments(l, 4, x, F, y, F, 8, mean, m2));
  assert_status(bn_batchnorm_backward(l, 4, x, F, dy, F, y, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_backward_sums(l, 3, x, F, dy, F, sd, sdx), BN_ERR_SHAPE_MISMATCH);
  assert_status(bn_batchnorm_backward_sums(l, 4, x, F, dy, F, NULL, sdx),
                BN_ERR_INVALID_ARGUMENT);
  float dynan[F * 4];
  memcpy(dynan, dy, sizeof dynan);
  dynan[2] = NAN;
  assert_status(bn_batchnorm_backward_sums(l, 4, x, F, dynan, F, sd, sdx), BN_ERR_NON_FINITE);
  assert_ok(bn_batchnorm_backward_sums(l, 4, x, F, dy, F, sd, sdx));
  assert_status(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, y, F, NULL, sdx),
                BN_ERR_INVALID_ARGUMENT);
  double sdnan[F];
  memcpy(sdnan, sd, sizeof sdnan);
  sdnan[1] = nan;
  assert_status(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, y, F, sdnan, sdx),
                BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, (float *)dy + 1, F, sd, sdx),
                BN_ERR_INVALID_ARGUMENT);
  assert_ok(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, NULL, 0, sd, sdx));
  assert_ok(bn_batchnorm_backward_with_sums(l, 4, x, F, dy, F, y, F, sd, sdx));
  bn_batchnorm_destroy(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(moments_of_shards_merge_to_the_whole),
    cmocka_unit_test(sharded_layers_match_the_whole_batch),
    cmocka_unit_test(sharded_layers_with_fused_relu),
    cmocka_unit_test(sharded_renorm_matches_the_whole_batch),
    cmocka_unit_test(sharded_renorm_with_fused_relu),
    cmocka_unit_test(sums_after_a_plain_forward_give_its_backward),
    cmocka_unit_test(hostile_arguments),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

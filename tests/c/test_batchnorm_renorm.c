/* Batch Renormalization (Ioffe 2017) in the layer (BN_BATCHNORM_RENORM) and
 * the stateless kernels, against a float64 implementation of exactly the
 * formulas of docs/math.md, written here:
 *
 *   sigma_B = sqrt(var_B + eps), sigma = sqrt(running_var + eps) (before the update),
 *   r = clip(sigma_B / sigma, 1/rmax, rmax), d = clip((mu_B - mu)/sigma, -dmax, dmax),
 *   xhat_B = (x - mu_B)/sigma_B, y = gamma*(xhat_B*r + d) + beta,
 *   dx = gamma*r/sigma_B * (dy - mean(dy) - xhat_B*mean(dy*xhat_B)),
 *   dgamma = sum dy*(xhat_B*r + d), dbeta = sum dy,
 *   running statistics as plain BatchNorm.
 *
 * Tolerances: results are compared in units of their magnitude (the sum of
 * the absolute values of the terms, see test_err_mag): TOL = 2e-6, a few
 * float roundings (the library rounds r and d to float once more than the
 * plain path). The finite-difference check uses central differences of the
 * float64 forward with r and d held, step 1e-6: its error is ~1e-9. */
#define _POSIX_C_SOURCE 200809L /* setenv */
#include <float.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testing.h"

#define TOL 2e-6
#define EPS 1e-5f

/* ---- the float64 reference ------------------------------------------------ */

typedef struct ref_renorm {
  size_t F, N;
  double *mean, *var, *r, *d, *rmag, *dmag;      /* F */
  double *y, *ymag, *dx, *dxmag;                  /* F x N, leading dimension F */
  double *dgamma, *dgmag, *dbeta, *dbmag;         /* F */
  double *new_mean, *new_var, *new_mean_mag, *new_var_mag; /* running stats after the update */
} ref_renorm;

static void ref_init(ref_renorm *t, size_t F, size_t N)
{
  t->F = F;
  t->N = N;
  double **vec[] = {&t->mean, &t->var, &t->r, &t->d, &t->rmag, &t->dmag, &t->dgamma,
                    &t->dgmag, &t->dbeta, &t->dbmag, &t->new_mean, &t->new_var,
                    &t->new_mean_mag, &t->new_var_mag};
  for (size_t i = 0; i < sizeof vec / sizeof *vec; i++)
    *vec[i] = test_doubles(F);
  double **mat[] = {&t->y, &t->ymag, &t->dx, &t->dxmag};
  for (size_t i = 0; i < sizeof mat / sizeof *mat; i++)
    *mat[i] = test_doubles(F * N);
}

static void ref_free(ref_renorm *t)
{
  double *all[] = {t->mean, t->var, t->r, t->d, t->rmag, t->dmag, t->dgamma, t->dgmag,
                   t->dbeta, t->dbmag, t->new_mean, t->new_var, t->new_mean_mag,
                   t->new_var_mag, t->y, t->ymag, t->dx, t->dxmag};
  for (size_t i = 0; i < sizeof all / sizeof *all; i++)
    free(all[i]);
}

static double clip(double v, double lo, double hi)
{
  return v < lo ? lo : (v > hi ? hi : v);
}

/* The forward with r and d given (held) or computed (r == NULL): y only. */
static void ref_forward_held(size_t F, size_t N, const double *x, const double *gamma,
                             const double *beta, double eps, const double *r, const double *d,
                             double *y)
{
  double *mean = test_doubles(F), *var = test_doubles(F);
  ref_moments(F, N, x, F, mean, var);
  for (size_t f = 0; f < F; f++) {
    double sb = sqrt(var[f] + eps), g = gamma ? gamma[f] : 1.0, b = beta ? beta[f] : 0.0;
    for (size_t j = 0; j < N; j++)
      y[f + j * F] = g * ((x[f + j * F] - mean[f]) / sb * r[f] + d[f]) + b;
  }
  free(mean);
  free(var);
}

/* Forward, backward and running-statistics update of one training step.
 * x and dy dense (leading dimension F); rm / rv the running statistics
 * before the step; factor the update factor, unbiased running variance. */
static void ref_step(ref_renorm *t, const double *x, const double *dy, const double *gamma,
                     const double *beta, const double *rm, const double *rv, double eps,
                     double rmax, double dmax, double factor)
{
  const size_t F = t->F, N = t->N;
  const double n = (double)N;
  ref_moments(F, N, x, F, t->mean, t->var);
  for (size_t f = 0; f < F; f++) {
    const double mu = t->mean[f], var = t->var[f];
    const double g = gamma ? gamma[f] : 1.0, b = beta ? beta[f] : 0.0;
    double sb = sqrt(var + eps), sigma = sqrt(rv[f] + eps);
    double r = clip(sb / sigma, 1.0 / rmax, rmax), d = clip((mu - rm[f]) / sigma, -dmax, dmax);
    t->r[f] = r;
    t->d[f] = d;
    t->rmag[f] = r;
    t->dmag[f] = (fabs(mu) + fabs(rm[f])) / sigma + 1e-30;
    double db = 0, dgb = 0, dbm = 0, dgbm = 0;
    for (size_t j = 0; j < N; j++) {
      double xb = (x[f + j * F] - mu) / sb, g_ = dy[f + j * F];
      t->y[f + j * F] = g * (xb * r + d) + b;
      t->ymag[f + j * F] =
          fabs(g) * ((fabs(x[f + j * F]) + fabs(mu)) / sb * r + fabs(d)) + fabs(b);
      db += g_;
      dgb += g_ * xb;
      dbm += fabs(g_);
      dgbm += fabs(g_ * xb);
    }
    double a = g * r / sb;
    for (size_t j = 0; j < N; j++) {
      double xb = (x[f + j * F] - mu) / sb, g_ = dy[f + j * F];
      t->dx[f + j * F] = a * (g_ - db / n - xb * dgb / n);
      t->dxmag[f + j * F] = fabs(a) * (fabs(g_) + dbm / n + fabs(xb) * dgbm / n);
    }
    t->dgamma[f] = r * dgb + d * db;
    t->dgmag[f] = r * dgbm + fabs(d) * dbm;
    t->dbeta[f] = db;
    t->dbmag[f] = dbm;
    double unbiased = var * n / (n - 1.0);
    t->new_mean[f] = (1.0 - factor) * rm[f] + factor * mu;
    t->new_var[f] = (1.0 - factor) * rv[f] + factor * unbiased;
    t->new_mean_mag[f] = (1.0 - factor) * fabs(rm[f]) + factor * fabs(mu);
    t->new_var_mag[f] = (1.0 - factor) * rv[f] + factor * unbiased;
  }
}

/* ---- helpers ---------------------------------------------------------------- */

static bn_batchnorm *renorm_layer(const test_problem *p, unsigned flags, double rmax,
                                  double dmax)
{
  bn_batchnorm *l = test_layer_for(p, BN_BATCHNORM_RENORM | flags);
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, p->mean, p->F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, p->var, p->F));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_RMAX, rmax));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_DMAX, dmax));
  return l;
}

static double *layer_row(const bn_batchnorm *l, bn_batchnorm_tensor which, size_t F)
{
  float *v = test_floats(F);
  assert_ok(bn_batchnorm_get(l, which, v, F));
  double *d = test_to_double(v, F, 1, F);
  free(v);
  return d;
}

/* ---- tests ------------------------------------------------------------------ */

/* Several training steps through the layer, odd shapes, ld > features:
 * y, r, d, dx, dgamma, dbeta and the updated running statistics match the
 * reference at every step (each step starts from the layer's own running
 * statistics, so float rounding does not accumulate in the comparison).
 * The limits (1.5, 0.5) clip some features and not others. */
static void layer_steps_match_reference(void **state)
{
  (void)state;
  static const size_t shapes[][3] = {{1, 2, 1}, {3, 5, 7}, {17, 33, 20}, {64, 9, 64}, {5, 128, 6}};
  test_rng rng = {51};
  size_t clipped = 0, inside = 0;
  for (size_t s = 0; s < sizeof shapes / sizeof *shapes; s++) {
    const size_t F = shapes[s][0], N = shapes[s][1], LD = shapes[s][2];
    test_problem p;
    test_problem_make(&p, &rng, F, N, LD, LD, s != 1, s != 2);
    bn_batchnorm *l = renorm_layer(&p, 0, 1.5, 0.5);
    float *y = test_floats(LD * N), *dx = test_floats(LD * N), *v = test_floats(F);
    test_set(y, LD * N, -7.0f);
    for (int step = 0; step < 3; step++) {
      /* steps 0 and 2 see p's batch, near the running statistics (r and d
       * mostly inside the limits); step 1 a batch q whose features have other
       * means and spreads (mostly clipped) */
      test_problem q;
      test_problem_make(&q, &rng, F, N, LD, LD, 0, 0);
      const test_problem *b = step == 1 ? &q : &p;
      double *rm = layer_row(l, BN_BATCHNORM_RUNNING_MEAN, F);
      double *rv = layer_row(l, BN_BATCHNORM_RUNNING_VAR, F);
      ref_renorm t;
      ref_init(&t, F, N);
      ref_step(&t, b->xd, b->dyd, p.gd, p.bd, rm, rv, EPS, 1.5, 0.5, 0.1);
      assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, b->x, LD, y, LD));
      assert_ok(bn_batchnorm_backward(l, N, b->x, LD, b->dy, LD, dx, LD));
      assert_within(test_err_mag(y, LD, t.y, t.ymag, F, N), TOL);
      assert_within(test_err_mag(dx, LD, t.dx, t.dxmag, F, N), TOL);
      assert_int_equal(test_padding_changed(y, F, N, LD, -7.0f), 0);
      static const bn_batchnorm_tensor rows[] = {BN_BATCHNORM_RENORM_R, BN_BATCHNORM_RENORM_D,
                                                 BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                                 BN_BATCHNORM_RUNNING_MEAN,
                                                 BN_BATCHNORM_RUNNING_VAR};
      const double *want[] = {t.r, t.d, t.dgamma, t.dbeta, t.new_mean, t.new_var};
      const double *mag[] = {t.rmag, t.dmag, t.dgmag, t.dbmag, t.new_mean_mag, t.new_var_mag};
      for (size_t k = 0; k < 6; k++) {
        assert_ok(bn_batchnorm_get(l, rows[k], v, F));
        assert_within(test_vec_err(v, want[k], mag[k], F), TOL);
      }
      for (size_t f = 0; f < F; f++) {
        if (t.r[f] == 1.5 || t.r[f] == 1.0 / 1.5 || fabs(t.d[f]) == 0.5)
          clipped++;
        else
          inside++;
      }
      ref_free(&t);
      free(rm);
      free(rv);
      test_problem_free(&q);
    }
    bn_batchnorm_destroy(l);
    free(y);
    free(dx);
    free(v);
    test_problem_free(&p);
  }
  assert_true(clipped > 10 && inside > 10); /* both regimes were exercised */
}

/* The stateless kernels agree with the reference too (forward outputs,
 * saved statistics, r, d; backward with and without dx). */
static void kernels_match_reference(void **state)
{
  (void)state;
  test_rng rng = {52};
  const size_t F = 13, N = 21, LD = 16;
  test_problem p;
  test_problem_make(&p, &rng, F, N, LD, LD, 1, 1);
  float *y = test_floats(LD * N), *dx = test_floats(LD * N), sm[13], si[13], bv[13], r[13],
        d[13], dg[13], db[13], dg2[13], db2[13];
  assert_ok(bn_batchnorm_renorm_forward_training(F, N, p.x, LD, p.gamma, p.beta, EPS, 0, p.mean,
                                                 p.var, 2.0f, 1.0f, y, LD, sm, si, bv, r, d));
  assert_ok(bn_batchnorm_renorm_backward_training(F, N, p.x, LD, p.dy, LD, sm, si, r, d,
                                                  p.gamma, p.beta, 0, dx, LD, dg, db));
  /* without dx: the same parameter gradients */
  assert_ok(bn_batchnorm_renorm_backward_training(F, N, p.x, LD, p.dy, LD, sm, si, r, d,
                                                  p.gamma, p.beta, 0, NULL, 0, dg2, db2));
  assert_memory_equal(dg, dg2, sizeof dg);
  assert_memory_equal(db, db2, sizeof db);
  ref_renorm t;
  ref_init(&t, F, N);
  ref_step(&t, p.xd, p.dyd, p.gd, p.bd, p.md, p.vd, EPS, 2.0, 1.0, 0.1);
  assert_within(test_err_mag(y, LD, t.y, t.ymag, F, N), TOL);
  assert_within(test_err_mag(dx, LD, t.dx, t.dxmag, F, N), TOL);
  assert_within(test_vec_err(r, t.r, t.rmag, F), TOL);
  assert_within(test_vec_err(d, t.d, t.dmag, F), TOL);
  assert_within(test_vec_err(dg, t.dgamma, t.dgmag, F), TOL);
  assert_within(test_vec_err(db, t.dbeta, t.dbmag, F), TOL);
  for (size_t f = 0; f < F; f++) {
    assert_within(fabs(bv[f] - t.var[f]) / t.var[f], TOL);
    assert_within(fabs(1.0 / si[f] - sqrt(t.var[f] + EPS)) / sqrt(t.var[f] + EPS), TOL);
  }
  ref_free(&t);
  free(y);
  free(dx);
  test_problem_free(&p);
}

/* dx of the library's backward is the derivative of the forward with r and
 * d held: central differences of the float64 forward at the library's r and
 * d, for sum(w*y) with w = dy. dgamma and dbeta likewise. */
static void finite_differences_with_r_and_d_held(void **state)
{
  (void)state;
  test_rng rng = {53};
  const size_t F = 4, N = 6;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  float *y = test_floats(F * N), *dx = test_floats(F * N), sm[4], si[4], r[4], d[4], dg[4],
        db[4];
  assert_ok(bn_batchnorm_renorm_forward_training(F, N, p.x, F, p.gamma, p.beta, EPS, 0, p.mean,
                                                 p.var, 1.3f, 0.2f, y, F, sm, si, NULL, r, d));
  assert_ok(bn_batchnorm_renorm_backward_training(F, N, p.x, F, p.dy, F, sm, si, r, d, p.gamma,
                                                  p.beta, 0, dx, F, dg, db));
  double *rd = test_to_double(r, F, 1, F), *dd = test_to_double(d, F, 1, F);
  double *xp = test_doubles(F * N), *yp = test_doubles(F * N), *ym = test_doubles(F * N);
  double gp[4], gm[4], bp[4];
  const double h = 1e-6;
  /* the loss sum(w*y) of the held forward at (x, gamma, beta) */
#define LOSS(xx, gg, bb, out)                                                                \
  do {                                                                                       \
    ref_forward_held(F, N, xx, gg, bb, EPS, rd, dd, out);                                    \
  } while (0)
  for (size_t i = 0; i < F * N; i++) {
    memcpy(xp, p.xd, F * N * sizeof *xp);
    xp[i] += h;
    LOSS(xp, p.gd, p.bd, yp);
    xp[i] -= 2 * h;
    LOSS(xp, p.gd, p.bd, ym);
    double num = 0, mag = 0;
    for (size_t k = 0; k < F * N; k++) {
      num += p.dyd[k] * (yp[k] - ym[k]) / (2 * h);
      mag += fabs(p.dyd[k] * (yp[k] - ym[k]) / (2 * h));
    }
    assert_within(fabs(dx[i] - num) / (mag + 1e-3), 1e-5);
  }
  for (size_t f = 0; f < F; f++) {
    memcpy(gp, p.gd, sizeof gp);
    memcpy(gm, p.gd, sizeof gm);
    gp[f] += h;
    gm[f] -= h;
    LOSS(p.xd, gp, p.bd, yp);
    LOSS(p.xd, gm, p.bd, ym);
    double num = 0, mag = 0;
    for (size_t k = 0; k < F * N; k++) {
      num += p.dyd[k] * (yp[k] - ym[k]) / (2 * h);
      mag += fabs(p.dyd[k] * (yp[k] - ym[k]) / (2 * h));
    }
    assert_within(fabs(dg[f] - num) / (mag + 1e-3), 1e-5);
    memcpy(bp, p.bd, sizeof bp);
    bp[f] += 1.0; /* y is affine in beta: one unit step is exact */
    LOSS(p.xd, p.gd, bp, yp);
    LOSS(p.xd, p.gd, p.bd, ym);
    num = 0;
    for (size_t k = 0; k < F * N; k++)
      num += p.dyd[k] * (yp[k] - ym[k]);
    assert_within(fabs(db[f] - num) / (fabs(num) + 1e-3), 1e-5);
  }
#undef LOSS
  free(rd);
  free(dd);
  free(xp);
  free(yp);
  free(ym);
  free(y);
  free(dx);
  test_problem_free(&p);
}

/* rmax = 1 and dmax = 0 is plain BatchNorm bit for bit: layer (forward,
 * backward, running statistics, with and without the fused ReLU) and kernels. */
static void unit_limits_equal_plain_batchnorm(void **state)
{
  (void)state;
  test_rng rng = {54};
  const size_t F = 9, N = 17, LD = 11;
  test_problem p;
  test_problem_make(&p, &rng, F, N, LD, LD, 1, 1);
  float *y1 = test_floats(LD * N), *y2 = test_floats(LD * N), *d1 = test_floats(LD * N),
        *d2 = test_floats(LD * N), a[9], b[9];
  float *bufs[] = {y1, y2, d1, d2};
  for (size_t i = 0; i < 4; i++)
    test_set(bufs[i], LD * N, -7.0f); /* the padding compares equal */
  for (unsigned relu = 0; relu < 2; relu++) {
    const unsigned extra = relu ? BN_BATCHNORM_FUSE_RELU : 0;
    bn_batchnorm *plain = test_layer_for(&p, extra), *renorm = renorm_layer(&p, extra, 1.0, 0.0);
    assert_ok(bn_batchnorm_set(plain, BN_BATCHNORM_RUNNING_MEAN, p.mean, F));
    assert_ok(bn_batchnorm_set(plain, BN_BATCHNORM_RUNNING_VAR, p.var, F));
    for (int step = 0; step < 2; step++) {
      assert_ok(bn_batchnorm_forward(plain, BN_MODE_TRAINING, N, p.x, LD, y1, LD));
      assert_ok(bn_batchnorm_forward(renorm, BN_MODE_TRAINING, N, p.x, LD, y2, LD));
      assert_memory_equal(y1, y2, LD * N * sizeof *y1);
      assert_ok(bn_batchnorm_backward(plain, N, p.x, LD, p.dy, LD, d1, LD));
      assert_ok(bn_batchnorm_backward(renorm, N, p.x, LD, p.dy, LD, d2, LD));
      assert_memory_equal(d1, d2, LD * N * sizeof *d1);
      static const bn_batchnorm_tensor rows[] = {BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                                 BN_BATCHNORM_RUNNING_MEAN,
                                                 BN_BATCHNORM_RUNNING_VAR};
      for (size_t k = 0; k < 4; k++) {
        assert_ok(bn_batchnorm_get(plain, rows[k], a, F));
        assert_ok(bn_batchnorm_get(renorm, rows[k], b, F));
        assert_memory_equal(a, b, sizeof a);
      }
    }
    /* inference is unchanged by renorm whatever the limits */
    assert_ok(bn_batchnorm_set_parameter(renorm, BN_BATCHNORM_RENORM_RMAX, 3.0));
    assert_ok(bn_batchnorm_forward(plain, BN_MODE_INFERENCE, N, p.x, LD, y1, LD));
    assert_ok(bn_batchnorm_forward(renorm, BN_MODE_INFERENCE, N, p.x, LD, y2, LD));
    assert_memory_equal(y1, y2, LD * N * sizeof *y1);
    bn_batchnorm_destroy(plain);
    bn_batchnorm_destroy(renorm);
  }
  float sm[9], si[9], sm2[9], si2[9], r[9], d[9];
  assert_ok(bn_batchnorm_forward_training(F, N, p.x, LD, p.gamma, p.beta, EPS, 0, y1, LD, sm, si,
                                          NULL));
  assert_ok(bn_batchnorm_renorm_forward_training(F, N, p.x, LD, p.gamma, p.beta, EPS, 0, p.mean,
                                                 p.var, 1.0f, 0.0f, y2, LD, sm2, si2, NULL, r,
                                                 d));
  assert_memory_equal(y1, y2, LD * N * sizeof *y1);
  assert_ok(bn_batchnorm_backward_training(F, N, p.x, LD, p.dy, LD, sm, si, p.gamma, p.beta, 0,
                                           d1, LD, a, NULL));
  assert_ok(bn_batchnorm_renorm_backward_training(F, N, p.x, LD, p.dy, LD, sm2, si2, r, d,
                                                  p.gamma, p.beta, 0, d2, LD, b, NULL));
  assert_memory_equal(d1, d2, LD * N * sizeof *d1);
  assert_memory_equal(a, b, sizeof a);
  free(y1);
  free(y2);
  free(d1);
  free(d2);
  test_problem_free(&p);
}

/* The fused ReLU with renorm is renorm followed by a ReLU: the forward is
 * max(0, y) bit for bit and the backward is renorm's with dy masked by y > 0. */
static void fused_relu_with_renorm(void **state)
{
  (void)state;
  test_rng rng = {55};
  const size_t F = 7, N = 12;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  bn_batchnorm *plain = renorm_layer(&p, 0, 1.2, 0.3),
               *fused = renorm_layer(&p, BN_BATCHNORM_FUSE_RELU, 1.2, 0.3);
  float *y = test_floats(F * N), *yf = test_floats(F * N), *dym = test_floats(F * N),
        *dx = test_floats(F * N), *dxf = test_floats(F * N), g1[7], g2[7];
  assert_ok(bn_batchnorm_forward(plain, BN_MODE_TRAINING, N, p.x, F, y, F));
  assert_ok(bn_batchnorm_forward(fused, BN_MODE_TRAINING, N, p.x, F, yf, F));
  size_t zeros = 0;
  for (size_t i = 0; i < F * N; i++) {
    assert_true(yf[i] == test_relu(y[i]));
    dym[i] = y[i] > 0.0f ? p.dy[i] : 0.0f;
    zeros += yf[i] == 0.0f;
  }
  assert_true(zeros > 0 && zeros < F * N);
  assert_ok(bn_batchnorm_backward(plain, N, p.x, F, dym, F, dx, F));
  assert_ok(bn_batchnorm_backward(fused, N, p.x, F, p.dy, F, dxf, F));
  assert_memory_equal(dx, dxf, F * N * sizeof *dx);
  assert_ok(bn_batchnorm_get(plain, BN_BATCHNORM_DGAMMA, g1, F));
  assert_ok(bn_batchnorm_get(fused, BN_BATCHNORM_DGAMMA, g2, F));
  assert_memory_equal(g1, g2, sizeof g1);
  bn_batchnorm_destroy(plain);
  bn_batchnorm_destroy(fused);
  free(y);
  free(yf);
  free(dym);
  free(dx);
  free(dxf);
  test_problem_free(&p);
}

/* The paper's schedule, driven by the batches tracked before each step: a
 * batch far from the running statistics saturates r and d at the limits of
 * that step, which the r and d tensors show. */
static void schedule_follows_the_paper(void **state)
{
  (void)state;
  enum { F = 2, N = 4 };
  /* batch mean 100 and standard deviation ~100 against running mean 0, var 1 */
  const float x[F * N] = {0, 0, 200, 200, 0, 0, 200, 200};
  float y[F * N], r[F], d[F];
  static const struct {
    double step, rmax, dmax;
  } at[] = {{0, 1, 0},          {4999, 1, 0},         {5000, 1, 0},
            {12500, 1 + 2.0 * 7500 / 35000, 5.0 * 7500 / 20000},
            {25000, 1 + 2.0 * 20000 / 35000, 5}, {40000, 3, 5},        {1e6, 3, 5}};
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, BN_BATCHNORM_RENORM));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_SCHEDULE, 1.0));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_RMAX, 1.25)); /* not used */
  for (size_t i = 0; i < sizeof at / sizeof *at; i++) {
    const float zeros[F] = {0, 0}, ones[F] = {1, 1};
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, zeros, F));
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, ones, F));
    assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_BATCHES_TRACKED, at[i].step));
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, x, F, y, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RENORM_R, r, F));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RENORM_D, d, F));
    for (size_t f = 0; f < F; f++) {
      assert_within(fabs(r[f] - at[i].rmax) / at[i].rmax, 1e-7);
      assert_within(fabs(d[f] - at[i].dmax), 5e-7);
    }
  }
  /* schedule off: the fixed limits */
  const float zeros[F] = {0, 0}, ones[F] = {1, 1};
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_MEAN, zeros, F));
  assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_RUNNING_VAR, ones, F));
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_SCHEDULE, 0.0));
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, x, F, y, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RENORM_R, r, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RENORM_D, d, F));
  assert_true(r[0] == 1.25f && d[0] == 5.0f);
  bn_batchnorm_destroy(l);
}

/* rmax, dmax and the schedule: defaults 3, 5, off; settable at any time on
 * any layer and read back; kept by serialize/deserialize; r and d readable
 * only after a renorm training forward. */
static void limits_are_parameters_kept_in_the_state(void **state)
{
  (void)state;
  bn_batchnorm *a = NULL, *b = NULL, *plain = NULL;
  assert_ok(bn_batchnorm_create(&a, 3, BN_BATCHNORM_RENORM | BN_BATCHNORM_BIASED_RUNNING_VAR));
  assert_ok(bn_batchnorm_create(&b, 3, 0));
  assert_ok(bn_batchnorm_create(&plain, 3, 0));
  double v = 0, lo = 0, hi = 0;
  assert_ok(bn_batchnorm_get_parameter(a, BN_BATCHNORM_RENORM_RMAX, &v));
  assert_true(v == 3.0);
  assert_ok(bn_batchnorm_get_parameter(a, BN_BATCHNORM_RENORM_DMAX, &v));
  assert_true(v == 5.0);
  assert_ok(bn_batchnorm_get_parameter(a, BN_BATCHNORM_RENORM_SCHEDULE, &v));
  assert_true(v == 0.0);
  assert_ok(bn_batchnorm_parameter_bounds(BN_BATCHNORM_RENORM_RMAX, &lo, &hi));
  assert_true(lo == 1.0 && hi == FLT_MAX);
  assert_ok(bn_batchnorm_parameter_bounds(BN_BATCHNORM_RENORM_DMAX, &lo, &hi));
  assert_true(lo == 0.0 && hi == FLT_MAX);
  assert_ok(bn_batchnorm_parameter_bounds(BN_BATCHNORM_RENORM_SCHEDULE, &lo, &hi));
  assert_true(lo == 0.0 && hi == 1.0);
  assert_ok(bn_batchnorm_set_parameter(plain, BN_BATCHNORM_RENORM_RMAX, 2.0)); /* any layer */
  assert_ok(bn_batchnorm_set_parameter(a, BN_BATCHNORM_RENORM_RMAX, 1.75));
  assert_ok(bn_batchnorm_set_parameter(a, BN_BATCHNORM_RENORM_DMAX, 0.0));
  assert_ok(bn_batchnorm_set_parameter(a, BN_BATCHNORM_RENORM_SCHEDULE, 1.0));
  size_t size = 0;
  assert_ok(bn_batchnorm_serialized_size(a, &size));
  unsigned char *blob = malloc(size);
  assert_ok(bn_batchnorm_serialize(a, blob, size, NULL));
  assert_ok(bn_batchnorm_deserialize(b, blob, size));
  unsigned flags = 0;
  assert_ok(bn_batchnorm_flags(b, &flags));
  assert_int_equal(flags, BN_BATCHNORM_RENORM | BN_BATCHNORM_BIASED_RUNNING_VAR);
  assert_ok(bn_batchnorm_get_parameter(b, BN_BATCHNORM_RENORM_RMAX, &v));
  assert_true(v == 1.75);
  assert_ok(bn_batchnorm_get_parameter(b, BN_BATCHNORM_RENORM_DMAX, &v));
  assert_true(v == 0.0);
  assert_ok(bn_batchnorm_get_parameter(b, BN_BATCHNORM_RENORM_SCHEDULE, &v));
  assert_true(v == 1.0);
  free(blob);
  /* r and d exist only after a renorm training forward */
  const float x[6] = {1, 2, 3, 4, 5, 7};
  float y[6], r[3];
  assert_status(bn_batchnorm_get(a, BN_BATCHNORM_RENORM_R, r, 3), BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_forward(plain, BN_MODE_TRAINING, 2, x, 3, y, 3));
  assert_status(bn_batchnorm_get(plain, BN_BATCHNORM_RENORM_D, r, 3), BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_forward(a, BN_MODE_TRAINING, 2, x, 3, y, 3));
  assert_ok(bn_batchnorm_get(a, BN_BATCHNORM_RENORM_R, r, 3));
  assert_ok(bn_batchnorm_forward(a, BN_MODE_INFERENCE, 2, x, 3, y, 3));
  assert_status(bn_batchnorm_get(a, BN_BATCHNORM_RENORM_R, r, 3), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_set(a, BN_BATCHNORM_RENORM_R, r, 3), BN_ERR_INVALID_ARGUMENT);
  /* renorm needs running statistics */
  bn_batchnorm *bad = (bn_batchnorm *)&bad;
  assert_status(bn_batchnorm_create(&bad, 3, BN_BATCHNORM_RENORM | BN_BATCHNORM_NO_RUNNING_STATS),
                BN_ERR_INVALID_ARGUMENT);
  assert_null(bad);
  bn_batchnorm_destroy(a);
  bn_batchnorm_destroy(b);
  bn_batchnorm_destroy(plain);
}

/* rmax < 1, dmax < 0 and non-finite limits are refused by the layer (the
 * stored value stays) and by the kernels (nothing written); so are the other
 * bad renorm arguments of the kernels. */
static void bad_limits_are_refused(void **state)
{
  (void)state;
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, 2, BN_BATCHNORM_RENORM));
  static const struct {
    bn_batchnorm_param param;
    double value;
    bn_status want;
  } bad[] = {{BN_BATCHNORM_RENORM_RMAX, 0.999, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_RMAX, 0.0, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_RMAX, -3.0, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_RMAX, 1e39, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_RMAX, NAN, BN_ERR_NON_FINITE},
             {BN_BATCHNORM_RENORM_RMAX, INFINITY, BN_ERR_NON_FINITE},
             {BN_BATCHNORM_RENORM_DMAX, -1e-9, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_DMAX, NAN, BN_ERR_NON_FINITE},
             {BN_BATCHNORM_RENORM_DMAX, -INFINITY, BN_ERR_NON_FINITE},
             {BN_BATCHNORM_RENORM_SCHEDULE, 0.5, BN_ERR_INVALID_ARGUMENT},
             {BN_BATCHNORM_RENORM_SCHEDULE, 2.0, BN_ERR_INVALID_ARGUMENT}};
  for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
    double before = 0, after = 0;
    assert_ok(bn_batchnorm_get_parameter(l, bad[i].param, &before));
    assert_status(bn_batchnorm_set_parameter(l, bad[i].param, bad[i].value), bad[i].want);
    assert_ok(bn_batchnorm_get_parameter(l, bad[i].param, &after));
    assert_true(before == after);
  }
  bn_batchnorm_destroy(l);

  enum { F = 2, N = 3 };
  const float x[F * N] = {1, 2, 3, 5, 4, 1}, rm[F] = {0, 0}, rv[F] = {1, 1}, neg[F] = {1, -1},
              nan2[F] = {0, NAN};
  float y[F * N], r[F], d[F], dx[F * N];
  test_set(y, F * N, -7.0f);
  test_set(r, F, -7.0f);
#define FWD(rmx, dmx, mean, var, rr, dd)                                                     \
  bn_batchnorm_renorm_forward_training(F, N, x, F, NULL, NULL, EPS, 0, mean, var, rmx, dmx, y, \
                                       F, NULL, NULL, NULL, rr, dd)
  assert_status(FWD(0.5f, 1.0f, rm, rv, r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(3.0f, -1.0f, rm, rv, r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(NAN, 1.0f, rm, rv, r, d), BN_ERR_NON_FINITE);
  assert_status(FWD(3.0f, INFINITY, rm, rv, r, d), BN_ERR_NON_FINITE);
  assert_status(FWD(3.0f, 1.0f, NULL, rv, r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(3.0f, 1.0f, rm, NULL, r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(3.0f, 1.0f, rm, neg, r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(3.0f, 1.0f, nan2, rv, r, d), BN_ERR_NON_FINITE);
  assert_status(FWD(3.0f, 1.0f, rm, rv, NULL, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(FWD(3.0f, 1.0f, rm, rv, r, NULL), BN_ERR_INVALID_ARGUMENT);
  for (size_t i = 0; i < F * N; i++)
    assert_true(y[i] == -7.0f);
  assert_true(r[0] == -7.0f && r[1] == -7.0f);
  float sm[F], si[F];
  assert_ok(bn_batchnorm_renorm_forward_training(F, N, x, F, NULL, NULL, EPS, 0, rm, rv, 3.0f,
                                                 1.0f, y, F, sm, si, NULL, r, d));
#define BWD(rr, dd)                                                                          \
  bn_batchnorm_renorm_backward_training(F, N, x, F, x, F, sm, si, rr, dd, NULL, NULL, 0, dx, F, \
                                        NULL, NULL)
  const float zero_r[F] = {0, 1}, inf_d[F] = {0, INFINITY};
  assert_status(BWD(NULL, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(BWD(r, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(BWD(zero_r, d), BN_ERR_INVALID_ARGUMENT);
  assert_status(BWD(r, inf_d), BN_ERR_NON_FINITE);
  assert_ok(BWD(r, d));
#undef FWD
#undef BWD
}

/* A renorm layer whose passes run over several threads (the threshold
 * lowered so a small batch is split) still matches the reference. */
static void threaded_layer_matches_reference(void **state)
{
  (void)state;
  setenv("BN_PARALLEL_MIN_ELEMENTS", "1", 1);
  test_rng rng = {56};
  const size_t F = 6, N = 40, LD = 8;
  test_problem p;
  test_problem_make(&p, &rng, F, N, LD, LD, 1, 1);
  bn_batchnorm *l = renorm_layer(&p, BN_BATCHNORM_FUSE_RELU, 1.1, 0.1);
  assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_THREADS, 3.0));
  float *y = test_floats(LD * N), *dx = test_floats(LD * N), v[6];
  /* the fused ReLU: the reference's y through a ReLU, and its backward of
   * dy masked by y > 0 */
  ref_renorm t;
  ref_init(&t, F, N);
  ref_step(&t, p.xd, p.dyd, p.gd, p.bd, p.md, p.vd, EPS, 1.1, 0.1, 0.1);
  double *dym = test_doubles(F * N), *yref = test_doubles(F * N), *ymag = test_doubles(F * N);
  for (size_t i = 0; i < F * N; i++) {
    dym[i] = t.y[i] > 0 ? p.dyd[i] : 0.0;
    yref[i] = t.y[i] > 0 ? t.y[i] : 0.0;
    ymag[i] = t.ymag[i];
  }
  ref_step(&t, p.xd, dym, p.gd, p.bd, p.md, p.vd, EPS, 1.1, 0.1, 0.1);
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, p.x, LD, y, LD));
  assert_ok(bn_batchnorm_backward(l, N, p.x, LD, p.dy, LD, dx, LD));
  assert_within(test_err_mag(y, LD, yref, ymag, F, N), TOL);
  assert_within(test_err_mag(dx, LD, t.dx, t.dxmag, F, N), TOL);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, v, F));
  assert_within(test_vec_err(v, t.dgamma, t.dgmag, F), TOL);
  unsetenv("BN_PARALLEL_MIN_ELEMENTS");
  ref_free(&t);
  free(dym);
  free(ymag);
  free(yref);
  free(y);
  free(dx);
  bn_batchnorm_destroy(l);
  test_problem_free(&p);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(layer_steps_match_reference),
      cmocka_unit_test(kernels_match_reference),
      cmocka_unit_test(finite_differences_with_r_and_d_held),
      cmocka_unit_test(unit_limits_equal_plain_batchnorm),
      cmocka_unit_test(fused_relu_with_renorm),
      cmocka_unit_test(schedule_follows_the_paper),
      cmocka_unit_test(limits_are_parameters_kept_in_the_state),
      cmocka_unit_test(bad_limits_are_refused),
      cmocka_unit_test(threaded_layer_matches_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The stateless batch-normalization kernels (bn/batchnorm_kernels.h) against
 * an independent float64 reference, finite differences, the published
 * textbook example, and the numerically hard cases.
 *
 * Tolerances. Errors are componentwise, relative to the magnitude of the
 * terms that make up each exact result (test_err_mag in testing.h): float
 * rounding is u = 2^-24 ~ 6e-8, and every output is a handful of roundings
 * away from the exact float64 value, so
 *   TOL    = 1e-6  (~17 u) for y, dx, dgamma, dbeta, saved mean/invstd, var;
 *   TOL_FD = 1e-6  for the library's backward vs central differences of the
 *                  float64 forward (their own error is ~1e-9 here).
 * Anything that loses a digit (a wrong term, a wrong ld, a float
 * accumulation over a large batch) fails by orders of magnitude. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include "testing.h"

#define TOL 1e-6
#define TOL_FD 1e-6
#define EPS 1e-5f
#define SENTINEL -777.25f

/* Shapes: feature counts 1, 3, 17, 1000 (not multiples of any SIMD width),
 * batch 2 up to thousands, padding of x (padx) and of the outputs (pady)
 * different so that mixing up ldx and ldy shows. */
static const struct shape {
  size_t F, N, padx, pady;
} shapes[] = {
    {1, 2, 0, 0},    {1, 2, 3, 1},     {3, 2, 0, 2},   {3, 7, 5, 0},    {17, 2, 1, 0},
    {17, 64, 0, 3},  {17, 1000, 7, 2}, {1000, 2, 0, 0}, {1000, 129, 24, 1}, {1, 4097, 1, 0},
    {3, 513, 0, 0},
};
#define NSHAPES (sizeof shapes / sizeof shapes[0])

/* The inference kernels also take batch 1: after the shapes above, these. */
static const struct shape batch1_shapes[] = {{1, 1, 0, 0}, {17, 1, 2, 1}, {1000, 1, 3, 0}};
#define NINFERENCE_SHAPES (NSHAPES + sizeof batch1_shapes / sizeof batch1_shapes[0])

static struct shape inference_shape(size_t s)
{
  return s < NSHAPES ? shapes[s] : batch1_shapes[s - NSHAPES];
}

/* Magnitudes for the saved statistics: mean to ~u of itself (the float
 * rounding of the exact mean; 1e-6 sd keeps a mean of exactly 0 testable);
 * invstd and var relative to themselves (var 0 must be exactly 0). */
static void stat_mags(const ref_bn *r, double *mmag, double *imag, double *vmag)
{
  for (size_t f = 0; f < r->F; f++) {
    mmag[f] = fabs(r->mean[f]) + 1e-6 * sqrt(r->var[f]);
    imag[f] = r->invstd[f];
    vmag[f] = r->var[f];
  }
}

static void check_saved_stats(const ref_bn *r, const float *sm, const float *si, const float *bv)
{
  size_t F = r->F;
  double *mm = test_doubles(F), *im = test_doubles(F), *vm = test_doubles(F);
  stat_mags(r, mm, im, vm);
  assert_within(test_vec_err(sm, r->mean, mm, F), TOL);
  assert_within(test_vec_err(si, r->invstd, im, F), TOL);
  assert_within(test_vec_err(bv, r->var, vm, F), TOL);
  free(mm);
  free(im);
  free(vm);
}

/* Training forward: y, saved mean, saved invstd and the biased batch variance
 * match the float64 reference for every shape, padding and with or without
 * gamma / beta; the padding of y is never written. */
static void forward_training_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {1};
  for (size_t s = 0; s < NSHAPES; s++)
    for (int gb = 0; gb < 4; gb++) {
      const size_t F = shapes[s].F, N = shapes[s].N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + shapes[s].padx, F + shapes[s].pady, gb & 1, gb & 2);
      float *y = test_floats(p.ldy * N), *sm = test_floats(F), *si = test_floats(F),
            *bv = test_floats(F);
      test_set(y, p.ldy * N, SENTINEL);
      assert_ok(bn_batchnorm_forward_training(F, N, p.x, p.ldx, p.gamma, p.beta, EPS, 0, y,
                                              p.ldy, sm, si, bv));
      ref_bn r;
      ref_bn_init(&r, F, N);
      ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)EPS);
      assert_within(test_err_mag(y, p.ldy, r.y, r.ymag, F, N), TOL);
      assert_int_equal(test_padding_changed(y, F, N, p.ldy, SENTINEL), 0);
      check_saved_stats(&r, sm, si, bv);
      ref_bn_free(&r);
      free(y);
      free(sm);
      free(si);
      free(bv);
      test_problem_free(&p);
    }
}

/* Inference forward with given statistics (batch 1 included): y matches the
 * reference within the error bound of the documented one multiply-add
 * evaluation; the padding of y is never written. */
static void forward_inference_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {2};
  for (size_t s = 0; s < NINFERENCE_SHAPES; s++)
    for (int gb = 0; gb < 4; gb++) {
      const struct shape sh = inference_shape(s);
      const size_t F = sh.F, N = sh.N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + sh.padx, F + sh.pady, gb & 1, gb & 2);
      float *y = test_floats(p.ldy * N);
      test_set(y, p.ldy * N, SENTINEL);
      assert_ok(bn_batchnorm_forward_inference(F, N, p.x, p.ldx, p.mean, p.var, p.gamma, p.beta,
                                               EPS, 0, y, p.ldy));
      ref_bn r;
      ref_bn_init(&r, F, N);
      ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)EPS);
      assert_within(test_err_mag(y, p.ldy, r.y, r.ymag, F, N), TOL);
      assert_int_equal(test_padding_changed(y, F, N, p.ldy, SENTINEL), 0);
      ref_bn_free(&r);
      free(y);
      test_problem_free(&p);
    }
}

/* Training backward, fed the forward's saved mean / invstd: dx (with the
 * mean and variance terms), dgamma and dbeta match the reference's exact
 * gradient; the padding of dx is never written. */
static void backward_training_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {3};
  for (size_t s = 0; s < NSHAPES; s++)
    for (int gb = 0; gb < 4; gb++) {
      const size_t F = shapes[s].F, N = shapes[s].N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + shapes[s].padx, F + shapes[s].pady, gb & 1, gb & 2);
      const size_t lddx = p.ldx; /* differs from lddy = p.ldy in most shapes */
      float *y = test_floats(p.ldy * N), *dx = test_floats(lddx * N), *sm = test_floats(F),
            *si = test_floats(F), *dg = test_floats(F), *db = test_floats(F);
      test_set(dx, lddx * N, SENTINEL);
      assert_ok(bn_batchnorm_forward_training(F, N, p.x, p.ldx, p.gamma, p.beta, EPS, 0, y,
                                              p.ldy, sm, si, NULL));
      assert_ok(bn_batchnorm_backward_training(F, N, p.x, p.ldx, p.dy, p.ldy, sm, si, p.gamma,
                                               p.beta, 0, dx, lddx, dg, db));
      ref_bn r;
      ref_bn_init(&r, F, N);
      ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)EPS);
      ref_bn_backward_training(&r, p.xd, F, p.dyd, F, p.gd);
      assert_within(test_err_mag(dx, lddx, r.dx, r.dxmag, F, N), TOL);
      assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
      assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
      assert_int_equal(test_padding_changed(dx, F, N, lddx, SENTINEL), 0);
      ref_bn_free(&r);
      free(y);
      free(dx);
      free(sm);
      free(si);
      free(dg);
      free(db);
      test_problem_free(&p);
    }
}

/* Inference backward (constant statistics): dx = dy*gamma*invstd,
 * dgamma = sum dy*xhat, dbeta = sum dy, batch 1 included. */
static void backward_inference_matches_reference(void **state)
{
  (void)state;
  test_rng rng = {4};
  for (size_t s = 0; s < NINFERENCE_SHAPES; s++)
    for (int gb = 0; gb < 4; gb++) {
      const struct shape sh = inference_shape(s);
      const size_t F = sh.F, N = sh.N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + sh.padx, F + sh.pady, gb & 1, gb & 2);
      const size_t lddx = p.ldx;
      float *dx = test_floats(lddx * N), *dg = test_floats(F), *db = test_floats(F);
      test_set(dx, lddx * N, SENTINEL);
      assert_ok(bn_batchnorm_backward_inference(F, N, p.x, p.ldx, p.dy, p.ldy, p.mean, p.var,
                                                p.gamma, p.beta, EPS, 0, dx, lddx, dg, db));
      ref_bn r;
      ref_bn_init(&r, F, N);
      ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)EPS);
      ref_bn_backward_inference(&r, p.xd, F, p.dyd, F, p.gd);
      assert_within(test_err_mag(dx, lddx, r.dx, r.dxmag, F, N), TOL);
      assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
      assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
      assert_int_equal(test_padding_changed(dx, F, N, lddx, SENTINEL), 0);
      ref_bn_free(&r);
      free(dx);
      free(dg);
      free(db);
      test_problem_free(&p);
    }
}

/* Aliasing: y == x (forward) and dx == dy (backward) with equal leading
 * dimensions give bit-identical results to separate buffers, in both modes. */
static void in_place_equals_out_of_place(void **state)
{
  (void)state;
  test_rng rng = {5};
  static const struct shape sh[] = {{1, 5, 0, 0}, {17, 33, 3, 3}, {1000, 9, 1, 1}};
  for (size_t s = 0; s < 3; s++) {
    const size_t F = sh[s].F, N = sh[s].N;
    test_problem p;
    test_problem_make(&p, &rng, F, N, F + sh[s].padx, F + sh[s].padx, 1, 1);
    const size_t ld = p.ldx, n = ld * N;
    float *y = test_floats(n), *io = test_floats(n), *dx = test_floats(n), *sm = test_floats(F),
          *si = test_floats(F), *dg = test_floats(F), *db = test_floats(F),
          *dg2 = test_floats(F), *db2 = test_floats(F);
    /* training forward */
    test_set(y, n, SENTINEL);
    assert_ok(bn_batchnorm_forward_training(F, N, p.x, ld, p.gamma, p.beta, EPS, 0, y, ld, sm,
                                            si, NULL));
    memcpy(io, p.x, n * sizeof *io);
    assert_ok(bn_batchnorm_forward_training(F, N, io, ld, p.gamma, p.beta, EPS, 0, io, ld, NULL,
                                            NULL, NULL));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, y + j * ld, F * sizeof *y);
    /* inference forward */
    assert_ok(bn_batchnorm_forward_inference(F, N, p.x, ld, p.mean, p.var, p.gamma, p.beta, EPS,
                                             0, y, ld));
    memcpy(io, p.x, n * sizeof *io);
    assert_ok(bn_batchnorm_forward_inference(F, N, io, ld, p.mean, p.var, p.gamma, p.beta, EPS,
                                             0, io, ld));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, y + j * ld, F * sizeof *y);
    /* training backward */
    assert_ok(bn_batchnorm_backward_training(F, N, p.x, ld, p.dy, ld, sm, si, p.gamma, p.beta, 0,
                                             dx, ld, dg, db));
    memcpy(io, p.dy, n * sizeof *io);
    assert_ok(bn_batchnorm_backward_training(F, N, p.x, ld, io, ld, sm, si, p.gamma, p.beta, 0,
                                             io, ld, dg2, db2));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, dx + j * ld, F * sizeof *dx);
    assert_memory_equal(dg, dg2, F * sizeof *dg);
    assert_memory_equal(db, db2, F * sizeof *db);
    /* inference backward */
    assert_ok(bn_batchnorm_backward_inference(F, N, p.x, ld, p.dy, ld, p.mean, p.var, p.gamma,
                                              p.beta, EPS, 0, dx, ld, dg, db));
    memcpy(io, p.dy, n * sizeof *io);
    assert_ok(bn_batchnorm_backward_inference(F, N, p.x, ld, io, ld, p.mean, p.var, p.gamma,
                                              p.beta, EPS, 0, io, ld, dg2, db2));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(io + j * ld, dx + j * ld, F * sizeof *dx);
    assert_memory_equal(dg, dg2, F * sizeof *dg);
    assert_memory_equal(db, db2, F * sizeof *db);
    free(y);
    free(io);
    free(dx);
    free(sm);
    free(si);
    free(dg);
    free(db);
    free(dg2);
    free(db2);
    test_problem_free(&p);
  }
}

/* Every optional output (saved mean, saved invstd, batch var, dgamma, dbeta)
 * may be NULL and leaving it out changes nothing else, bit for bit. */
static void optional_outputs_may_be_null(void **state)
{
  (void)state;
  test_rng rng = {6};
  const size_t F = 17, N = 40;
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 1, 1);
  float *y1 = test_floats(F * N), *y2 = test_floats(F * N), *dx1 = test_floats(F * N),
        *dx2 = test_floats(F * N), *sm = test_floats(F), *si = test_floats(F),
        *bv = test_floats(F), *dg = test_floats(F), *db = test_floats(F);
  assert_ok(bn_batchnorm_forward_training(F, N, p.x, F, p.gamma, p.beta, EPS, 0, y1, F, sm, si,
                                          bv));
  assert_ok(bn_batchnorm_forward_training(F, N, p.x, F, p.gamma, p.beta, EPS, 0, y2, F, NULL,
                                          NULL, NULL));
  assert_memory_equal(y1, y2, F * N * sizeof *y1);
  assert_ok(bn_batchnorm_backward_training(F, N, p.x, F, p.dy, F, sm, si, p.gamma, p.beta, 0,
                                           dx1, F, dg, db));
  assert_ok(bn_batchnorm_backward_training(F, N, p.x, F, p.dy, F, sm, si, p.gamma, p.beta, 0,
                                           dx2, F, NULL, NULL));
  assert_memory_equal(dx1, dx2, F * N * sizeof *dx1);
  assert_ok(bn_batchnorm_backward_inference(F, N, p.x, F, p.dy, F, p.mean, p.var, p.gamma,
                                            p.beta, EPS, 0, dx1, F, dg, db));
  assert_ok(bn_batchnorm_backward_inference(F, N, p.x, F, p.dy, F, p.mean, p.var, p.gamma,
                                            p.beta, EPS, 0, dx2, F, NULL, NULL));
  assert_memory_equal(dx1, dx2, F * N * sizeof *dx1);
  free(y1);
  free(y2);
  free(dx1);
  free(dx2);
  free(sm);
  free(si);
  free(bv);
  free(dg);
  free(db);
  test_problem_free(&p);
}

/* ---- finite differences -------------------------------------------------- */

/* L = sum_{f,j} w(f,j) * y(f,j) with y the float64 reference forward
 * (training: batch statistics; inference: the given ones). */
static double loss(size_t F, size_t N, const double *x, const double *gamma, const double *beta,
                   const double *w, int training, const double *mean, const double *var)
{
  ref_bn r;
  ref_bn_init(&r, F, N);
  if (training)
    ref_bn_forward_training(&r, x, F, gamma, beta, (double)EPS);
  else
    ref_bn_forward_inference(&r, x, F, mean, var, gamma, beta, (double)EPS);
  double L = 0.0;
  for (size_t i = 0; i < F * N; i++)
    L += w[i] * r.y[i];
  ref_bn_free(&r);
  return L;
}

/* Central difference of loss() in one double variable v (an element of x,
 * gamma or beta), with step h. */
static double central(double *v, double h, size_t F, size_t N, const double *x,
                      const double *gamma, const double *beta, const double *w, int training,
                      const double *mean, const double *var)
{
  double v0 = *v;
  *v = v0 + h;
  double lp = loss(F, N, x, gamma, beta, w, training, mean, var);
  *v = v0 - h;
  double lm = loss(F, N, x, gamma, beta, w, training, mean, var);
  *v = v0;
  return (lp - lm) / (2.0 * h);
}

/* The library's float backward (dx, dgamma, dbeta) is the derivative of
 * L = sum(w .* y) computed by central differences in double on the float64
 * forward, with dy = w. Checked in training mode (batch statistics depend on
 * x: the mean and variance terms of dx) and inference mode (constants). */
static void backward_matches_finite_differences(void **state)
{
  (void)state;
  test_rng rng = {7};
  static const struct shape sh[] = {{1, 2, 0, 0}, {3, 5, 1, 0}, {17, 6, 0, 2}};
  for (size_t s = 0; s < 3; s++)
    for (int training = 0; training < 2; training++) {
      const size_t F = sh[s].F, N = sh[s].N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + sh[s].padx, F + sh[s].pady, 1, 1);
      /* dy plays w; its float values are exactly the doubles used in L */
      float *dx = test_floats(F * N), *dg = test_floats(F), *db = test_floats(F),
            *y = test_floats(p.ldy * N), *sm = test_floats(F), *si = test_floats(F);
      ref_bn r; /* for the magnitudes (error scale) only */
      ref_bn_init(&r, F, N);
      if (training) {
        assert_ok(bn_batchnorm_forward_training(F, N, p.x, p.ldx, p.gamma, p.beta, EPS, 0, y,
                                                p.ldy, sm, si, NULL));
        assert_ok(bn_batchnorm_backward_training(F, N, p.x, p.ldx, p.dy, p.ldy, sm, si, p.gamma,
                                                 p.beta, 0, dx, F, dg, db));
        ref_bn_forward_training(&r, p.xd, F, p.gd, p.bd, (double)EPS);
        ref_bn_backward_training(&r, p.xd, F, p.dyd, F, p.gd);
      } else {
        assert_ok(bn_batchnorm_backward_inference(F, N, p.x, p.ldx, p.dy, p.ldy, p.mean, p.var,
                                                  p.gamma, p.beta, EPS, 0, dx, F, dg, db));
        ref_bn_forward_inference(&r, p.xd, F, p.md, p.vd, p.gd, p.bd, (double)EPS);
        ref_bn_backward_inference(&r, p.xd, F, p.dyd, F, p.gd);
      }
      double *fdx = test_doubles(F * N), *fdg = test_doubles(F), *fdb = test_doubles(F);
      for (size_t i = 0; i < F * N; i++) {
        double sd = training ? sqrt(r.var[i % F]) : sqrt((double)p.var[i % F]);
        fdx[i] = central(&p.xd[i], 1e-4 * sd, F, N, p.xd, p.gd, p.bd, p.dyd, training, p.md,
                         p.vd);
      }
      for (size_t f = 0; f < F; f++) {
        fdg[f] = central(&p.gd[f], 1e-3, F, N, p.xd, p.gd, p.bd, p.dyd, training, p.md, p.vd);
        fdb[f] = central(&p.bd[f], 1e-3, F, N, p.xd, p.gd, p.bd, p.dyd, training, p.md, p.vd);
      }
      assert_within(test_err_mag(dx, F, fdx, r.dxmag, F, N), TOL_FD);
      assert_within(test_vec_err(dg, fdg, r.dgmag, F), TOL_FD);
      assert_within(test_vec_err(db, fdb, r.dbmag, F), TOL_FD);
      free(fdx);
      free(fdg);
      free(fdb);
      ref_bn_free(&r);
      free(dx);
      free(dg);
      free(db);
      free(y);
      free(sm);
      free(si);
      test_problem_free(&p);
    }
}

/* ---- the published textbook example --------------------------------------
 * Generated once with numpy (float64):
 *   np.random.seed(0); X = np.random.randn(5, 3); d_out = np.random.randn(5, 3)
 *   eps = 1e-8, gamma = 1, beta = 0; mu = X.mean(0); var = X.var(0)
 *   out = (X - mu) / np.sqrt(var + eps); dbeta = d_out.sum(0)
 *   dgamma = (d_out * out).sum(0)
 *   dx = 1/N/np.sqrt(var+eps) * (N*d_out - d_out.sum(0) - out*(d_out*out).sum(0))
 * A C-ordered (N=5, F=3) array is the library's layout with ld = 3. */
static const double TB_X[15] = {
    1.764052345967664,   0.40015720836722329, 0.9787379841057392,
    2.2408931992014578,  1.8675579901499675,  -0.97727787987641102,
    0.95008841752558937, -0.15135720829769789, -0.10321885179355784,
    0.41059850193837233, 0.14404357116087799, 1.4542735069629751,
    0.76103772514699342, 0.12167501649282841, 0.44386323274542566,
};
static const double TB_DOUT[15] = {
    0.33367432737426683, 1.4940790731576061,  -0.20515826376580087,
    0.31306770165090136, -0.85409573930172478, -2.5529898158340787,
    0.65361859544036061, 0.86443619885950573, -0.74216502040644194,
    2.2697546239876076,  -1.4543656745987648, 0.045758517301446068,
    -0.1871838500258336, 1.5327792143584575,  1.469358769900285,
};
static const double TB_OUT[15] = {
    0.79835038492486499,  -0.1063353051487252,  0.7310406023228222,
    1.5050018446314628,   1.9398275963502309,   -1.5772948970085581,
    -0.40789860628750368, -0.87537424327072866, -0.54579943718791835,
    -1.207392470458952,   -0.46346352092009641, 1.2922300838691148,
    -0.68806115280987046, -0.49465452701068108, 0.099823648004539453,
};
static const double TB_DX[15] = {
    -0.0016288656257805408, 1.5631593066930725,  -0.54788312791301852,
    0.41619843122121153,    -0.19524737110267068, -0.87359557874671523,
    -0.29284549366344176,   0.11542727050365105, 0.17082615514667177,
    1.5949046720776316,     -2.8127725388195404, -0.8461886930588588,
    -1.71662874400962,      1.3294333327254879,  2.0968412445719213,
};
static const double TB_DGAMMA[3] = {-2.1407443251016511, -2.6565277636510531,
                                    4.4877193236425343};
static const double TB_DBETA[3] = {3.3829313984273028, 1.5828330724750799,
                                   -1.9851958128045903};

/* The library (float32, gamma = beta = NULL, eps = 1e-8) reproduces the
 * numpy tables, and the tables themselves carry the published values. The
 * inputs are rounded to float, so the comparison allows 1e-6 absolute on
 * these O(1) values; the float64 reference must match to 1e-12. */
static void textbook_example(void **state)
{
  (void)state;
  enum { F = 3, N = 5 };
  static const double published_out0[F] = {0.79835038, -0.10633531, 0.7310406};
  static const double published_dgamma[F] = {-2.14074433, -2.65652776, 4.48771932};
  static const double published_dbeta[F] = {3.3829314, 1.58283307, -1.98519581};
  for (int f = 0; f < F; f++) {
    assert_within(fabs(TB_OUT[f] - published_out0[f]), 5e-8);
    assert_within(fabs(TB_DGAMMA[f] - published_dgamma[f]), 5e-8);
    assert_within(fabs(TB_DBETA[f] - published_dbeta[f]), 5e-8);
  }

  float x[F * N], dout[F * N], y[F * N], dx[F * N], sm[F], si[F], dg[F], db[F];
  for (int i = 0; i < F * N; i++) {
    x[i] = (float)TB_X[i];
    dout[i] = (float)TB_DOUT[i];
  }
  assert_ok(bn_batchnorm_forward_training(F, N, x, F, NULL, NULL, 1e-8f, 0, y, F, sm, si, NULL));
  assert_ok(bn_batchnorm_backward_training(F, N, x, F, dout, F, sm, si, NULL, NULL, 0, dx, F, dg,
                                           db));
  assert_within(test_err(y, F, TB_OUT, F, N, 1e-6, 0.0), 1.0);
  assert_within(test_err(dx, F, TB_DX, F, N, 1e-6, 0.0), 1.0);
  assert_within(test_err(dg, F, TB_DGAMMA, F, 1, 1e-6, 0.0), 1.0);
  assert_within(test_err(db, F, TB_DBETA, F, 1, 1e-6, 0.0), 1.0);

  /* the float64 reference agrees with numpy on the float64 inputs */
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, TB_X, F, NULL, NULL, 1e-8);
  ref_bn_backward_training(&r, TB_X, F, TB_DOUT, F, NULL);
  for (int i = 0; i < F * N; i++) {
    assert_within(fabs(r.y[i] - TB_OUT[i]), 1e-12);
    assert_within(fabs(r.dx[i] - TB_DX[i]), 1e-12);
  }
  for (int f = 0; f < F; f++) {
    assert_within(fabs(r.dgamma[f] - TB_DGAMMA[f]), 1e-12);
    assert_within(fabs(r.dbeta[f] - TB_DBETA[f]), 1e-12);
  }
  ref_bn_free(&r);
}

/* ---- numerically hard inputs --------------------------------------------- */

/* Cancellation: features with mean +-1e4 and spread 1e-2 (and milder ones).
 * A one-pass variance or a float accumulation loses every digit here; the
 * training forward (y, statistics) and backward stay within TOL of the
 * float64 reference computed on the same float inputs. */
static void large_mean_small_spread(void **state)
{
  (void)state;
  enum { F = 5, N = 1000 };
  static const double mu[F] = {1e4, -1e4, 1e4, 3e3, 0.5};
  static const double sd[F] = {1e-2, 1e-2, 1e-1, 1e-3, 1.0};
  test_rng rng = {8};
  float *x = test_floats(F * N), *dy = test_floats(F * N), *y = test_floats(F * N),
        *dx = test_floats(F * N), sm[F], si[F], bv[F], dg[F], db[F];
  const float gamma[F] = {1.5f, -0.75f, 1.0f, 2.0f, 0.5f};
  const float beta[F] = {0.25f, -1.0f, 0.0f, 3.0f, -0.5f};
  test_fill_rows(&rng, x, F, N, F, mu, sd);
  test_fill(&rng, dy, F, N, F, 0.0, 1.0);
  assert_ok(bn_batchnorm_forward_training(F, N, x, F, gamma, beta, EPS, 0, y, F, sm, si, bv));
  assert_ok(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm, si, gamma, beta, 0, dx, F, dg,
                                           db));
  double *xd = test_to_double(x, F, N, F), *dyd = test_to_double(dy, F, N, F),
         *gd = test_to_double(gamma, F, 1, F), *bd = test_to_double(beta, F, 1, F);
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, xd, F, gd, bd, (double)EPS);
  ref_bn_backward_training(&r, xd, F, dyd, F, gd);
  assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
  check_saved_stats(&r, sm, si, bv);
  assert_within(test_err_mag(dx, F, r.dx, r.dxmag, F, N), TOL);
  assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
  assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
  /* Inference backward with the exact batch statistics: dx = dy*gamma*invstd. */
  float mean[F], var[F];
  for (int f = 0; f < F; f++) {
    mean[f] = (float)r.mean[f];
    var[f] = (float)r.var[f];
  }
  assert_ok(bn_batchnorm_backward_inference(F, N, x, F, dy, F, mean, var, gamma, beta, EPS, 0,
                                            dx, F, dg, db));
  double *md = test_to_double(mean, F, 1, F), *vd = test_to_double(var, F, 1, F);
  ref_bn_forward_inference(&r, xd, F, md, vd, gd, bd, (double)EPS);
  ref_bn_backward_inference(&r, xd, F, dyd, F, gd);
  assert_within(test_err_mag(dx, F, r.dx, r.dxmag, F, N), TOL);
  assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
  assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
  ref_bn_free(&r);
  free(md);
  free(vd);
  free(xd);
  free(dyd);
  free(gd);
  free(bd);
  free(x);
  free(dy);
  free(y);
  free(dx);
}

/* Constant features (zero variance): the output is exactly beta, the batch
 * variance exactly 0, invstd = 1/sqrt(eps), nothing is NaN, and the
 * gradients are finite and match the reference (dx = gamma/sqrt(eps) *
 * (dy - mean dy), dgamma exactly 0). Mixed with a normal feature. */
/* The training forward's statistics are one pass over x, the deviations
 * from the first sample summed in double: a long batch with means that
 * dwarf the spread, and features whose first sample is far out (the worst
 * case of that shift, sum d^2 up to N+1 times M2 before the subtraction),
 * must match the float64 two-pass reference to 1e-6. */
static void one_pass_statistics(void **state)
{
  (void)state;
  enum { F = 8, N = 600001 }; /* 18 MiB: the reductions' walk beyond the caches */
  static const double mu[F] = {1e4, -1e4, 3e3, 0.5, 0.0, 1e4, 1e4, 0.0};
  static const double sd[F] = {1e-2, 1e-2, 1e-3, 1.0, 1e3, 1.0, 1e-2, 1e-3};
  test_rng rng = {33};
  float *x = test_floats((size_t)F * N), *y = test_floats((size_t)F * N), sm[F], si[F], bv[F];
  const float gamma[F] = {1.5f, -0.75f, 1.0f, 2.0f, 0.5f, 1.0f, 1.0f, 1.0f};
  const float beta[F] = {0.25f, -1.0f, 0.0f, 3.0f, -0.5f, 0.0f, 0.5f, -0.25f};
  test_fill_rows(&rng, x, F, N, F, mu, sd);
  x[6] = 1.01e4f; /* first samples 1e4 and 1e6 spreads away from the rest */
  x[7] = 1e3f;
  assert_ok(bn_batchnorm_forward_training(F, N, x, F, gamma, beta, EPS, 0, y, F, sm, si, bv));
  double *xd = test_to_double(x, F, N, F), *gd = test_to_double(gamma, F, 1, F),
         *bd = test_to_double(beta, F, 1, F);
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, xd, F, gd, bd, (double)EPS);
  assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
  check_saved_stats(&r, sm, si, bv);
  ref_bn_free(&r);
  free(xd);
  free(gd);
  free(bd);
  free(x);
  free(y);
}

/* What the _ws comparisons share: x (mean 3, sd 2) and dy, gamma and beta,
 * two of each output to compare, and a workspace of the queried size plus
 * one double (so that it can also be passed misaligned). */
enum { WS_F = 37, WS_N = 300 };
typedef struct ws_case {
  test_rng rng;
  size_t bytes;
  double *ws;
  float *x, *dy, *y1, *y2, *dx1, *dx2;
  float gamma[WS_F], beta[WS_F];
} ws_case;

static void ws_case_make(ws_case *c, uint64_t seed)
{
  const size_t n = (size_t)WS_F * WS_N;
  c->rng.state = seed;
  assert_ok(bn_batchnorm_workspace_size(WS_F, &c->bytes));
  c->ws = test_doubles(c->bytes / sizeof(double) + 1);
  c->x = test_floats(n);
  c->dy = test_floats(n);
  c->y1 = test_floats(n);
  c->y2 = test_floats(n);
  c->dx1 = test_floats(n);
  c->dx2 = test_floats(n);
  test_fill(&c->rng, c->x, WS_F, WS_N, WS_F, 3.0, 2.0);
  test_fill(&c->rng, c->dy, WS_F, WS_N, WS_F, 0.0, 1.0);
  test_fill(&c->rng, c->gamma, WS_F, 1, WS_F, 1.0, 0.5);
  test_fill(&c->rng, c->beta, WS_F, 1, WS_F, 0.0, 0.5);
}

static void ws_case_free(ws_case *c)
{
  free(c->ws);
  free(c->x);
  free(c->dy);
  free(c->y1);
  free(c->y2);
  free(c->dx1);
  free(c->dx2);
}

/* The *_ws kernels on caller workspace give the allocating kernels' bits;
 * the fused-ReLU backward given the forward's residual gives the same bits
 * as the one that measures it; a missing, misaligned or short workspace is
 * refused before anything is written. */
static void workspace_variants_match(void **state)
{
  (void)state;
  enum { F = WS_F, N = WS_N };
  ws_case c;
  ws_case_make(&c, 44);
  float *x = c.x, *dy = c.dy, *y1 = c.y1, *y2 = c.y2, *dx1 = c.dx1, *dx2 = c.dx2;
  const float *gamma = c.gamma, *beta = c.beta;
  double *ws = c.ws;
  size_t bytes = c.bytes;
  assert_int_equal(bytes, 8 * F * sizeof(double));
  assert_status(bn_batchnorm_workspace_size(0, &bytes), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_workspace_size(F, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_workspace_size((size_t)-1, &bytes), BN_ERR_SIZE_OVERFLOW);
  float sm1[F], si1[F], bv1[F], sm2[F], si2[F], bv2[F], dg1[F], db1[F], dg2[F], db2[F];
  float mean[F], var[F];
  double residual[F];
  test_fill(&c.rng, mean, F, 1, F, 3.0, 0.5);
  for (int f = 0; f < F; f++)
    var[f] = 1.0f + 0.01f * (float)f;
  for (unsigned relu = 0; relu <= 1; relu++) {
    const unsigned fl = relu ? BN_BATCHNORM_FUSE_RELU : 0u;
    assert_ok(bn_batchnorm_forward_training(F, N, x, F, gamma, beta, EPS, fl, y1, F, sm1, si1,
                                            bv1));
    assert_ok(bn_batchnorm_forward_training_ws(F, N, x, F, gamma, beta, EPS, fl, y2, F, sm2,
                                               si2, bv2, residual, ws, bytes));
    assert_memory_equal(y1, y2, sizeof(float) * F * N);
    assert_memory_equal(sm1, sm2, sizeof sm1);
    assert_memory_equal(si1, si2, sizeof si1);
    assert_memory_equal(bv1, bv2, sizeof bv1);
    for (int f = 0; f < F; f++) /* the residual is the exact mean's part below sm */
      assert_true(fabs(residual[f]) <= fabs((double)sm1[f]) * 0x1p-23);
    assert_ok(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm1, si1, gamma, beta, fl, dx1, F,
                                             dg1, db1));
    for (int given = 0; given <= 1; given++) {
      assert_ok(bn_batchnorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1,
                                                  given ? residual : NULL, gamma, beta, fl, dx2,
                                                  F, dg2, db2, ws, bytes));
      assert_memory_equal(dx1, dx2, sizeof(float) * F * N);
      assert_memory_equal(dg1, dg2, sizeof dg1);
      assert_memory_equal(db1, db2, sizeof db1);
    }
    assert_ok(bn_batchnorm_forward_inference(F, N, x, F, mean, var, gamma, beta, EPS, fl, y1, F));
    assert_ok(bn_batchnorm_forward_inference_ws(F, N, x, F, mean, var, gamma, beta, EPS, fl, y2,
                                                F, ws, bytes));
    assert_memory_equal(y1, y2, sizeof(float) * F * N);
    assert_ok(bn_batchnorm_backward_inference(F, N, x, F, dy, F, mean, var, gamma, beta, EPS, fl,
                                              dx1, F, dg1, db1));
    assert_ok(bn_batchnorm_backward_inference_ws(F, N, x, F, dy, F, mean, var, gamma, beta, EPS,
                                                 fl, dx2, F, dg2, db2, ws, bytes));
    assert_memory_equal(dx1, dx2, sizeof(float) * F * N);
    assert_memory_equal(dg1, dg2, sizeof dg1);
    assert_memory_equal(db1, db2, sizeof db1);
  }
  /* bad workspaces: y2 keeps its sentinel */
  test_set(y2, F * N, SENTINEL);
  assert_status(bn_batchnorm_forward_inference_ws(F, N, x, F, mean, var, gamma, beta, EPS, 0, y2,
                                                  F, NULL, bytes),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_inference_ws(F, N, x, F, mean, var, gamma, beta, EPS, 0, y2,
                                                  F, (char *)ws + 4, bytes),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward_training_ws(F, N, x, F, gamma, beta, EPS, 0, y2, F, sm2,
                                                 si2, bv2, residual, ws, bytes - 1),
                BN_ERR_SHAPE_MISMATCH);
  residual[3] = NAN;
  assert_status(bn_batchnorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1, residual, gamma,
                                                  beta, 0, y2, F, dg2, db2, ws, bytes),
                BN_ERR_NON_FINITE);
  for (size_t i = 0; i < (size_t)F * N; i++)
    assert_true(y2[i] == SENTINEL);
  ws_case_free(&c);
}

/* The Batch Renormalization and moments kernels on caller workspace give
 * the allocating kernels' bits (the renormalized backward with the forward's
 * residual and without it, with and without the fused ReLU); their
 * workspace is checked like the plain kernels', after the allocating
 * kernel's own arguments, and nothing is written on error. */
static void renorm_and_moments_workspace_variants_match(void **state)
{
  (void)state;
  enum { F = WS_F, N = WS_N };
  ws_case c;
  ws_case_make(&c, 45);
  float *x = c.x, *dy = c.dy, *y1 = c.y1, *y2 = c.y2, *dx1 = c.dx1, *dx2 = c.dx2;
  const float *gamma = c.gamma, *beta = c.beta;
  double *ws = c.ws;
  size_t bytes = c.bytes;
  float sm1[F], si1[F], bv1[F], r1[F], d1[F], sm2[F], si2[F], bv2[F], r2[F], d2[F];
  float dg1[F], db1[F], dg2[F], db2[F], rmean[F], rvar[F];
  double residual[F], mean1[F], m21[F], mean2[F], m22[F];
  test_fill(&c.rng, rmean, F, 1, F, 3.0, 1.0);
  for (int f = 0; f < F; f++) /* batch variance about 4: r clipped above, inside and below */
    rvar[f] = 4.0f * (0.3f + 0.08f * (float)f);
  const float rmax = 1.5f, dmax = 0.5f;
  for (unsigned relu = 0; relu <= 1; relu++) {
    const unsigned fl = relu ? BN_BATCHNORM_FUSE_RELU : 0u;
    assert_ok(bn_batchnorm_renorm_forward_training(F, N, x, F, gamma, beta, EPS, fl, rmean, rvar,
                                                   rmax, dmax, y1, F, sm1, si1, bv1, r1, d1));
    assert_ok(bn_batchnorm_renorm_forward_training_ws(F, N, x, F, gamma, beta, EPS, fl, rmean,
                                                      rvar, rmax, dmax, y2, F, sm2, si2, bv2, r2,
                                                      d2, residual, ws, bytes));
    assert_memory_equal(y1, y2, sizeof(float) * F * N);
    assert_memory_equal(sm1, sm2, sizeof sm1);
    assert_memory_equal(si1, si2, sizeof si1);
    assert_memory_equal(bv1, bv2, sizeof bv1);
    assert_memory_equal(r1, r2, sizeof r1);
    assert_memory_equal(d1, d2, sizeof d1);
    int clipped_r = 0, clipped_d = 0;
    for (int f = 0; f < F; f++) {
      clipped_r += r1[f] == rmax || r1[f] == 1.0f / rmax;
      clipped_d += fabsf(d1[f]) == dmax;
      assert_true(fabs(residual[f]) <= fabs((double)sm1[f]) * 0x1p-23);
    }
    assert_true(clipped_r > 0 && clipped_r < F && clipped_d > 0 && clipped_d < F);
    assert_ok(bn_batchnorm_renorm_backward_training(F, N, x, F, dy, F, sm1, si1, r1, d1, gamma,
                                                    beta, fl, dx1, F, dg1, db1));
    for (int given = 0; given <= 1; given++) {
      assert_ok(bn_batchnorm_renorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1, r1, d1,
                                                         given ? residual : NULL, gamma, beta,
                                                         fl, dx2, F, dg2, db2, ws, bytes));
      assert_memory_equal(dx1, dx2, sizeof(float) * F * N);
      assert_memory_equal(dg1, dg2, sizeof dg1);
      assert_memory_equal(db1, db2, sizeof db1);
    }
  }
  assert_ok(bn_batchnorm_moments(F, N, x, F, mean1, m21));
  assert_ok(bn_batchnorm_moments_ws(F, N, x, F, mean2, m22, ws, bytes));
  assert_memory_equal(mean1, mean2, sizeof mean1);
  assert_memory_equal(m21, m22, sizeof m21);

  /* bad workspaces: NULL or misaligned, too small; y2 and mean2 keep their sentinels */
  test_set(y2, F * N, SENTINEL);
  for (int f = 0; f < F; f++)
    mean2[f] = SENTINEL;
  void *const bad[3] = {NULL, (char *)ws + 4, ws};
  const size_t bad_bytes[3] = {bytes, bytes, bytes - 1};
  const bn_status want[3] = {BN_ERR_INVALID_ARGUMENT, BN_ERR_INVALID_ARGUMENT,
                             BN_ERR_SHAPE_MISMATCH};
  for (int k = 0; k < 3; k++) {
    assert_status(bn_batchnorm_renorm_forward_training_ws(F, N, x, F, gamma, beta, EPS, 0, rmean,
                                                          rvar, rmax, dmax, y2, F, sm2, si2, bv2,
                                                          r2, d2, residual, bad[k],
                                                          bad_bytes[k]),
                  want[k]);
    assert_status(bn_batchnorm_renorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1, r1, d1,
                                                           residual, gamma, beta, 0, y2, F, dg2,
                                                           db2, bad[k], bad_bytes[k]),
                  want[k]);
    assert_status(bn_batchnorm_moments_ws(F, N, x, F, mean2, m22, bad[k], bad_bytes[k]), want[k]);
  }
  /* the allocating kernel's own statuses come first */
  assert_status(bn_batchnorm_renorm_forward_training_ws(F, 1, x, F, gamma, beta, EPS, 0, rmean,
                                                        rvar, rmax, dmax, y2, F, sm2, si2, bv2,
                                                        r2, d2, residual, NULL, 0),
                BN_ERR_BATCH_TOO_SMALL);
  assert_status(bn_batchnorm_renorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1, NULL, d1,
                                                         residual, gamma, beta, 0, y2, F, dg2,
                                                         db2, NULL, 0),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_moments_ws(F, N, x, F, NULL, m22, ws, bytes),
                BN_ERR_INVALID_ARGUMENT);
  residual[3] = NAN;
  assert_status(bn_batchnorm_renorm_backward_training_ws(F, N, x, F, dy, F, sm1, si1, r1, d1,
                                                         residual, gamma, beta, 0, y2, F, dg2,
                                                         db2, ws, bytes),
                BN_ERR_NON_FINITE);
  /* A feature count whose workspace size overflows size_t while its x does
   * not (x is never read: the size is checked first). The renormalized
   * kernels read F running statistics or corrections before that, so for
   * them this needs more than the address space. */
  const size_t huge = SIZE_MAX / 16;
  assert_status(bn_batchnorm_workspace_size(huge, &bytes), BN_ERR_SIZE_OVERFLOW);
  assert_status(bn_batchnorm_moments_ws(huge, 1, x, huge, mean2, m22, ws, SIZE_MAX),
                BN_ERR_SIZE_OVERFLOW);
  for (size_t i = 0; i < (size_t)F * N; i++)
    assert_true(y2[i] == SENTINEL);
  for (int f = 0; f < F; f++)
    assert_true(mean2[f] == SENTINEL);
  ws_case_free(&c);
}

/* Inference with a running mean that dwarfs the spread (mean 1e4, std 1e-2):
 * y must be within 1e-5 of the float64 value relative to its own terms,
 * gamma*invstd*(x - mean) and beta, not to gamma*invstd*mean (the magnitude
 * at which a shift folded into one multiply-add cancels). */
static void inference_large_running_mean(void **state)
{
  (void)state;
  enum { F = 4, N = 500 };
  static const double mu[F] = {1e4, -1e4, 3e3, 1e4};
  static const double sd[F] = {1e-2, 1e-2, 1e-3, 1e-1};
  test_rng rng = {21};
  float *x = test_floats(F * N), *y = test_floats(F * N), mean[F], var[F];
  const float gamma[F] = {1.5f, -0.75f, 2.0f, 1.0f}, beta[F] = {0.25f, 0.0f, -1.0f, 0.5f};
  test_fill_rows(&rng, x, F, N, F, mu, sd);
  for (int f = 0; f < F; f++) {
    mean[f] = (float)mu[f];
    var[f] = (float)(sd[f] * sd[f]);
  }
  for (unsigned relu = 0; relu <= 1; relu++) {
    assert_ok(bn_batchnorm_forward_inference(F, N, x, F, mean, var, gamma, beta, EPS,
                                             relu ? BN_BATCHNORM_FUSE_RELU : 0u, y, F));
    double worst = 0.0;
    for (int f = 0; f < F; f++) {
      const double s = (double)gamma[f] / sqrt((double)var[f] + (double)EPS);
      for (int j = 0; j < N; j++) {
        const double t = s * ((double)x[f + j * F] - (double)mean[f]);
        double want = t + (double)beta[f];
        if (relu && want < 0.0)
          want = 0.0;
        const double err =
            fabs((double)y[f + j * F] - want) / (fabs(t) + fabs((double)beta[f]) + 1e-30);
        worst = err > worst ? err : worst;
      }
    }
    assert_within(worst, 1e-5);
  }
  free(x);
  free(y);
}

/* Every 97th column and the last one (a remainder of the loops' sweeps). */
static size_t next_checked_column(size_t j, size_t N)
{
  return j + 97 < N ? j + 97 : (j + 1 < N ? N - 1 : N);
}

/* Outputs of 32 MiB and more are written with streaming stores straight
 * from the registers (batchnorm_loops.inc, normalize_stream and
 * grad_input_stream), smaller ones with ordinary stores: the same
 * per-element expression, so the columns of an inference forward and of a
 * constant-statistics backward are the same bits either way (they do not
 * depend on the batch size); also against float64. An F x N batch against
 * its first 300 columns. */
static void check_streamed_against_cached(size_t F, size_t N)
{
  enum { SMALL = 300 };
  test_rng rng = {23};
  float *x = test_floats(F * N), *y = test_floats(F * N), *ys = test_floats(F * SMALL);
  float *dx = test_floats(F * N), *dxs = test_floats(F * SMALL);
  float *rows = test_floats(6 * F);
  float *mean = rows, *var = rows + F, *gamma = rows + 2 * F, *beta = rows + 3 * F,
        *dg = rows + 4 * F, *db = rows + 5 * F;
  for (size_t i = 0; i < F * N; i++) /* cheap to make, also under valgrind */
    x[i] = (float)((uint32_t)(i * 2654435761u) % 4001u) / 1000.0f - 2.0f;
  for (size_t f = 0; f < F; f++) {
    mean[f] = (float)(test_rng_uniform(&rng) - 0.5);
    var[f] = (float)(0.5 + test_rng_uniform(&rng));
    gamma[f] = (float)(0.5 + test_rng_uniform(&rng));
    beta[f] = (float)(test_rng_uniform(&rng) - 0.5);
  }
  for (unsigned relu = 0; relu <= 1; relu++) {
    const unsigned flags = relu ? BN_BATCHNORM_FUSE_RELU : 0u;
    assert_ok(bn_batchnorm_forward_inference(F, N, x, F, mean, var, gamma, beta, EPS, flags, y, F));
    assert_ok(bn_batchnorm_forward_inference(F, SMALL, x, F, mean, var, gamma, beta, EPS, flags,
                                             ys, F));
    assert_memory_equal(y, ys, F * SMALL * sizeof *y);
    double worst = 0.0;
    for (size_t j = 0; j < N; j = next_checked_column(j, N))
      for (size_t f = 0; f < F; f++) {
        double want = (double)gamma[f] * ((double)x[f + j * F] - (double)mean[f]) /
                          sqrt((double)var[f] + (double)EPS) + (double)beta[f];
        if (relu && want < 0.0)
          want = 0.0;
        const double err = fabs((double)y[f + j * F] - want) / (fabs(want) + 1.0);
        worst = err > worst ? err : worst;
      }
    assert_within(worst, 1e-6);
    /* the constant-statistics backward, dx = gamma*invstd*dy (masked by the
     * recomputed y with the ReLU), streams likewise; y serves as dy */
    assert_ok(bn_batchnorm_backward_inference(F, N, x, F, y, F, mean, var, gamma, beta, EPS,
                                              flags, dx, F, dg, db));
    assert_ok(bn_batchnorm_backward_inference(F, SMALL, x, F, y, F, mean, var, gamma, beta, EPS,
                                              flags, dxs, F, dg, db));
    assert_memory_equal(dx, dxs, F * SMALL * sizeof *dx);
    worst = 0.0;
    for (size_t j = 0; j < N; j = next_checked_column(j, N))
      for (size_t f = 0; f < F; f++) {
        const double k = (double)gamma[f] / sqrt((double)var[f] + (double)EPS);
        const double g = relu && !(y[f + j * F] > 0.0f) ? 0.0 : (double)y[f + j * F];
        const double err = fabs((double)dx[f + j * F] - k * g) / (fabs(k * g) + 1.0);
        worst = err > worst ? err : worst;
      }
    assert_within(worst, 1e-6);
  }
  free(x);
  free(y);
  free(ys);
  free(dx);
  free(dxs);
  free(rows);
}

/* F = 257 makes every column start off a vector boundary, so the head and
 * tail of the streamed columns are exercised too (8.5 M floats, 34 MB). */
static void streamed_outputs_equal_cached_outputs(void **state)
{
  (void)state;
  check_streamed_against_cached(257, 33000);
}

/* Beyond 1024 features the streamed passes walk whole columns, and beyond
 * 2048 four columns per sweep when the outputs are equally aligned (F a
 * multiple of 16; N = 4071 leaves three single columns); 2049 features take
 * whole single columns with heads; 1500 features the unstreamed whole-column
 * walk of the normalize pass, and 3000 x 1000 (12 MB) its unstreamed four
 * columns per sweep. Arrays of 34 MB: skipped under valgrind for time
 * (tests/valgrind.cmake), run in every other build. */
static void streamed_wide_outputs_equal_cached_outputs(void **state)
{
  (void)state;
  if (getenv("BN_TEST_UNDER_MEMCHECK"))
    skip();
  check_streamed_against_cached(2064, 4071);
  check_streamed_against_cached(2049, 4100);
  check_streamed_against_cached(1500, 3000);
  check_streamed_against_cached(3000, 1000);
}

static void constant_features(void **state)
{
  (void)state;
  enum { F = 4, N = 16 };
  static const float value[F] = {3.0f, 10000.5f, -0.1f, 0.0f};
  const float gamma[F] = {1.5f, -0.5f, 2.0f, 1.0f};
  const float beta[F] = {0.25f, -2.0f, 0.0f, 0.125f};
  test_rng rng = {9};
  float x[F * N], dy[F * N], y[F * N], dx[F * N], sm[F], si[F], bv[F], dg[F], db[F];
  test_fill(&rng, dy, F, N, F, 0.0, 1.0);
  test_fill(&rng, x, F, N, F, 0.0, 1.0);
  for (int j = 0; j < N; j++)
    for (int f = 0; f < F - 1; f++) /* the last feature stays random */
      x[f + j * F] = value[f];
  for (int pass = 0; pass < 2; pass++) {
    const float *g = pass ? gamma : NULL, *b = pass ? beta : NULL;
    assert_ok(bn_batchnorm_forward_training(F, N, x, F, g, b, EPS, 0, y, F, sm, si, bv));
    for (int f = 0; f < F - 1; f++) {
      for (int j = 0; j < N; j++)
        assert_true(y[f + j * F] == (b ? b[f] : 0.0f));
      assert_true(sm[f] == value[f]);
      assert_true(bv[f] == 0.0f);
      assert_true(si[f] == (float)(1.0 / sqrt((double)EPS)));
    }
    assert_ok(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm, si, g, b, 0, dx, F, dg, db));
    for (int i = 0; i < F * N; i++)
      assert_true(isfinite(dx[i]));
    for (int f = 0; f < F - 1; f++)
      assert_true(dg[f] == 0.0f);
    double *xd = test_to_double(x, F, N, F), *dyd = test_to_double(dy, F, N, F),
           *gd = test_to_double(g, F, 1, F), *bd = test_to_double(b, F, 1, F);
    ref_bn r;
    ref_bn_init(&r, F, N);
    ref_bn_forward_training(&r, xd, F, gd, bd, (double)EPS);
    ref_bn_backward_training(&r, xd, F, dyd, F, gd);
    assert_within(test_err_mag(dx, F, r.dx, r.dxmag, F, N), TOL);
    assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
    assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
    ref_bn_free(&r);
    free(xd);
    free(dyd);
    free(gd);
    free(bd);
  }
}

/* One million samples of three features (one with mean 1e3 and spread 0.1):
 * statistics, y, dx, dgamma and dbeta keep full accuracy, i.e. the sums are
 * accumulated in double, not float. */
static void million_samples(void **state)
{
  (void)state;
  enum { F = 3 };
  const size_t N = 1000000;
  static const double mu[F] = {0.0, 1e3, -2.0};
  static const double sd[F] = {1.0, 0.1, 1e-3};
  const float gamma[F] = {0.5f, 2.0f, -1.0f}, beta[F] = {1.0f, 0.0f, -3.0f};
  test_rng rng = {10};
  float *x = test_floats(F * N), *dy = test_floats(F * N), *y = test_floats(F * N),
        *dx = test_floats(F * N), sm[F], si[F], bv[F], dg[F], db[F];
  test_fill_rows(&rng, x, F, N, F, mu, sd);
  test_fill(&rng, dy, F, N, F, 0.0, 1.0);
  assert_ok(bn_batchnorm_forward_training(F, N, x, F, gamma, beta, EPS, 0, y, F, sm, si, bv));
  assert_ok(bn_batchnorm_backward_training(F, N, x, F, dy, F, sm, si, gamma, beta, 0, dx, F, dg,
                                           db));
  double *xd = test_to_double(x, F, N, F), *dyd = test_to_double(dy, F, N, F),
         *gd = test_to_double(gamma, F, 1, F), *bd = test_to_double(beta, F, 1, F);
  ref_bn r;
  ref_bn_init(&r, F, N);
  ref_bn_forward_training(&r, xd, F, gd, bd, (double)EPS);
  ref_bn_backward_training(&r, xd, F, dyd, F, gd);
  assert_within(test_err_mag(y, F, r.y, r.ymag, F, N), TOL);
  check_saved_stats(&r, sm, si, bv);
  assert_within(test_err_mag(dx, F, r.dx, r.dxmag, F, N), TOL);
  assert_within(test_vec_err(dg, r.dgamma, r.dgmag, F), TOL);
  assert_within(test_vec_err(db, r.dbeta, r.dbmag, F), TOL);
  ref_bn_free(&r);
  free(xd);
  free(dyd);
  free(gd);
  free(bd);
  free(x);
  free(dy);
  free(y);
  free(dx);
}

/* ---- fused ReLU ------------------------------------------------------------ */

/* BN_KERNEL_FUSE_RELU is bit-identical to BN followed by a separate ReLU:
 * y_fused == relu(y), and the fused backward with dy equals the plain
 * backward with dy masked by (y > 0), for dx, dgamma and dbeta, in both
 * modes, with and without gamma / beta. Compared with memcmp. */
static void fused_relu_equals_separate_relu(void **state)
{
  (void)state;
  test_rng rng = {11};
  static const struct shape sh[] = {{1, 9, 0, 0}, {17, 50, 2, 1}, {1000, 7, 0, 3}};
  for (size_t s = 0; s < 3; s++)
    for (int gb = 0; gb < 4; gb++) {
      const size_t F = sh[s].F, N = sh[s].N;
      test_problem p;
      test_problem_make(&p, &rng, F, N, F + sh[s].padx, F + sh[s].pady, gb & 1, gb & 2);
      const size_t ldy = p.ldy, n = ldy * N;
      float *y = test_floats(n), *yf = test_floats(n), *dym = test_floats(n),
            *dx = test_floats(n), *dxf = test_floats(n), *sm = test_floats(F),
            *si = test_floats(F), *smf = test_floats(F), *sif = test_floats(F),
            *dg = test_floats(F), *db = test_floats(F), *dgf = test_floats(F),
            *dbf = test_floats(F);
      size_t positive = 0, clipped = 0;
      for (int training = 0; training < 2; training++) {
        test_set(y, n, SENTINEL);
        test_set(yf, n, SENTINEL);
        test_set(dx, n, SENTINEL);
        test_set(dxf, n, SENTINEL);
        if (training) {
          assert_ok(bn_batchnorm_forward_training(F, N, p.x, p.ldx, p.gamma, p.beta, EPS, 0, y,
                                                  ldy, sm, si, NULL));
          assert_ok(bn_batchnorm_forward_training(F, N, p.x, p.ldx, p.gamma, p.beta, EPS,
                                                  BN_KERNEL_FUSE_RELU, yf, ldy, smf, sif, NULL));
          assert_memory_equal(sm, smf, F * sizeof *sm);
          assert_memory_equal(si, sif, F * sizeof *si);
        } else {
          assert_ok(bn_batchnorm_forward_inference(F, N, p.x, p.ldx, p.mean, p.var, p.gamma,
                                                   p.beta, EPS, 0, y, ldy));
          assert_ok(bn_batchnorm_forward_inference(F, N, p.x, p.ldx, p.mean, p.var, p.gamma,
                                                   p.beta, EPS, BN_KERNEL_FUSE_RELU, yf, ldy));
        }
        /* separate ReLU layer, and its backward: mask dy by y > 0 */
        memcpy(dym, p.dy, n * sizeof *dym);
        for (size_t j = 0; j < N; j++)
          for (size_t f = 0; f < F; f++) {
            size_t i = f + j * ldy;
            positive += y[i] > 0.0f;
            clipped += !(y[i] > 0.0f);
            dym[i] = y[i] > 0.0f ? p.dy[i] : 0.0f;
            y[i] = test_relu(y[i]);
          }
        assert_memory_equal(y, yf, n * sizeof *y);
        if (training) {
          assert_ok(bn_batchnorm_backward_training(F, N, p.x, p.ldx, dym, ldy, sm, si, p.gamma,
                                                   p.beta, 0, dx, ldy, dg, db));
          assert_ok(bn_batchnorm_backward_training(F, N, p.x, p.ldx, p.dy, ldy, sm, si, p.gamma,
                                                   p.beta, BN_KERNEL_FUSE_RELU, dxf, ldy, dgf,
                                                   dbf));
        } else {
          assert_ok(bn_batchnorm_backward_inference(F, N, p.x, p.ldx, dym, ldy, p.mean, p.var,
                                                    p.gamma, p.beta, EPS, 0, dx, ldy, dg, db));
          assert_ok(bn_batchnorm_backward_inference(F, N, p.x, p.ldx, p.dy, ldy, p.mean, p.var,
                                                    p.gamma, p.beta, EPS, BN_KERNEL_FUSE_RELU,
                                                    dxf, ldy, dgf, dbf));
        }
        assert_memory_equal(dx, dxf, n * sizeof *dx);
        assert_memory_equal(dg, dgf, F * sizeof *dg);
        assert_memory_equal(db, dbf, F * sizeof *db);
      }
      /* the data exercised both sides of the ReLU */
      assert_true(positive > 0 && clipped > 0);
      float *all[] = {y, yf, dym, dx, dxf, sm, si, smf, sif, dg, db, dgf, dbf};
      for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        free(all[i]);
      test_problem_free(&p);
    }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(forward_training_matches_reference),
      cmocka_unit_test(forward_inference_matches_reference),
      cmocka_unit_test(backward_training_matches_reference),
      cmocka_unit_test(backward_inference_matches_reference),
      cmocka_unit_test(in_place_equals_out_of_place),
      cmocka_unit_test(optional_outputs_may_be_null),
      cmocka_unit_test(backward_matches_finite_differences),
      cmocka_unit_test(textbook_example),
      cmocka_unit_test(large_mean_small_spread),
      cmocka_unit_test(inference_large_running_mean),
      cmocka_unit_test(one_pass_statistics),
      cmocka_unit_test(workspace_variants_match),
      cmocka_unit_test(renorm_and_moments_workspace_variants_match),
      cmocka_unit_test(streamed_outputs_equal_cached_outputs),
      cmocka_unit_test(streamed_wide_outputs_equal_cached_outputs),
      cmocka_unit_test(constant_features),
      cmocka_unit_test(million_samples),
      cmocka_unit_test(fused_relu_equals_separate_relu),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

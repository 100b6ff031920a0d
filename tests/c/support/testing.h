#ifndef BN_TESTING_H
#define BN_TESTING_H

/* Shared helpers for the C tests: a deterministic generator, matrices in
 * the library's layout, float64 comparisons, and an independent float64
 * reference of batch normalization. cmocka must be included by the test file
 * before this header. Header-only: every function is static inline. */

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bn/bn.h>

/* splitmix64: deterministic on every platform. */
typedef struct test_rng {
  uint64_t state;
} test_rng;

static inline uint64_t test_rng_next(test_rng *r)
{
  uint64_t z = (r->state += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* uniform in [0, 1) */
static inline double test_rng_uniform(test_rng *r)
{
  return (double)(test_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
}

/* standard normal (Box-Muller) */
static inline double test_rng_normal(test_rng *r)
{
  double u1 = test_rng_uniform(r), u2 = test_rng_uniform(r);
  if (u1 < 1e-300)
    u1 = 1e-300;
  return sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2);
}

/* Fill a rows x cols matrix (leading dimension ld) with mean + sd*N(0,1);
 * the padding rows between rows and ld get NaN, so a kernel that reads them
 * poisons its result. */
static inline void test_fill(test_rng *r, float *m, size_t rows, size_t cols, size_t ld,
                             double mean, double sd)
{
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < ld; i++)
      m[i + j * ld] = i < rows ? (float)(mean + sd * test_rng_normal(r)) : NAN;
}

/* Like test_fill, but row i has its own mean[i] and sd[i]. */
static inline void test_fill_rows(test_rng *r, float *m, size_t rows, size_t cols, size_t ld,
                                  const double *mean, const double *sd)
{
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < ld; i++)
      m[i + j * ld] = i < rows ? (float)(mean[i] + sd[i] * test_rng_normal(r)) : NAN;
}

/* max |a - b| / (atol + rtol*|b|) over a rows x cols matrix vs a dense
 * double reference (leading dimension rows); <= 1 means within tolerance. */
static inline double test_err(const float *a, size_t lda, const double *b, size_t rows,
                              size_t cols, double atol, double rtol)
{
  double worst = 0.0;
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++) {
      double ref = b[i + j * rows];
      double e = fabs((double)a[i + j * lda] - ref) / (atol + rtol * fabs(ref));
      if (!(e <= worst)) /* NaN counts as worst */
        worst = isnan(e) ? INFINITY : e;
    }
  return worst;
}

/* Componentwise relative error: max |a - b| / mag over a rows x cols matrix,
 * b and mag dense (leading dimension rows). mag is the sum of the absolute
 * values of the terms that make up b (the scale of its rounding error), so
 * the result is in units of "relative error of a well-computed float";
 * ~1e-7 is a few float roundings. NaN in a gives INFINITY. */
static inline double test_err_mag(const float *a, size_t lda, const double *b, const double *mag,
                                  size_t rows, size_t cols)
{
  double worst = 0.0;
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++) {
      double e = fabs((double)a[i + j * lda] - b[i + j * rows]) /
                 (mag[i + j * rows] + 1e-300);
      if (!(e <= worst))
        worst = isnan(e) ? INFINITY : e;
    }
  return worst;
}

/* ---- assertions that print the numbers they compare -------------------- */

static inline void test_assert_within(double err, double tol, const char *what,
                                      const char *file, int line)
{
  if (getenv("BN_TEST_VERBOSE")) /* to see how much room each tolerance leaves */
    print_message("%s:%d: %s = %.3g (tolerance %.3g)\n", file, line, what, err, tol);
  if (!(err <= tol)) {
    print_error("%s = %.3g exceeds the tolerance %.3g\n", what, err, tol);
    _fail(file, line);
  }
}
/* assert_within(err, tol): err <= tol (a NaN err fails). */
#define assert_within(err, tol) test_assert_within((err), (tol), #err, __FILE__, __LINE__)

static inline void test_assert_status(bn_status got, bn_status want, const char *what,
                                      const char *file, int line)
{
  if (got != want) {
    print_error("%s returned %d (%s), expected %d (%s)\n", what, (int)got,
                bn_status_string(got), (int)want, bn_status_string(want));
    _fail(file, line);
  }
}
/* assert_status(call, BN_...): the call returns exactly that status. */
#define assert_status(expr, want) test_assert_status((expr), (want), #expr, __FILE__, __LINE__)
#define assert_ok(expr) assert_status((expr), BN_OK)

/* ---- allocation --------------------------------------------------------- */

static inline float *test_floats(size_t n)
{
  float *p = malloc((n ? n : 1) * sizeof *p);
  assert_non_null(p);
  return p;
}

static inline double *test_doubles(size_t n)
{
  double *p = calloc(n ? n : 1, sizeof *p);
  assert_non_null(p);
  return p;
}

/* Set n floats to one bit pattern (used as a sentinel in output buffers). */
static inline void test_set(float *m, size_t n, float v)
{
  for (size_t i = 0; i < n; i++)
    m[i] = v;
}

/* Dense float64 copy (leading dimension rows) of a float matrix; NULL stays NULL. */
static inline double *test_to_double(const float *m, size_t rows, size_t cols, size_t ld)
{
  if (!m)
    return NULL;
  double *d = test_doubles(rows * cols);
  for (size_t j = 0; j < cols; j++)
    for (size_t i = 0; i < rows; i++)
      d[i + j * rows] = (double)m[i + j * ld];
  return d;
}

/* Number of padding elements (rows <= i < ld) of a matrix that differ
 * bitwise from the sentinel v: an output's padding must stay untouched. */
static inline size_t test_padding_changed(const float *m, size_t rows, size_t cols, size_t ld,
                                          float v)
{
  size_t changed = 0;
  for (size_t j = 0; j < cols; j++)
    for (size_t i = rows; i < ld; i++)
      changed += memcmp(&m[i + j * ld], &v, sizeof v) != 0;
  return changed;
}

/* ---- float64 reference batch normalization ------------------------------
 *
 * Written from the textbook formulas, independently of the library: F x N
 * column-major double matrices with a leading dimension, exact two-pass
 * statistics in double. Besides each result it gives its magnitude (the sum
 * of the absolute values of the terms, the scale of any rounding error), for
 * test_err_mag(). gamma / beta may be NULL (1 and 0). */

typedef struct ref_bn {
  size_t F, N;
  double *mean, *var, *invstd;      /* F: batch statistics, or the given ones */
  double *y, *ymag;                 /* F x N, leading dimension F */
  double *dx, *dxmag;               /* F x N, leading dimension F */
  double *dgamma, *dgmag, *dbeta, *dbmag; /* F */
} ref_bn;

static inline void ref_bn_init(ref_bn *r, size_t F, size_t N)
{
  r->F = F;
  r->N = N;
  r->mean = test_doubles(F);
  r->var = test_doubles(F);
  r->invstd = test_doubles(F);
  r->y = test_doubles(F * N);
  r->ymag = test_doubles(F * N);
  r->dx = test_doubles(F * N);
  r->dxmag = test_doubles(F * N);
  r->dgamma = test_doubles(F);
  r->dgmag = test_doubles(F);
  r->dbeta = test_doubles(F);
  r->dbmag = test_doubles(F);
}

static inline void ref_bn_free(ref_bn *r)
{
  double *all[] = {r->mean, r->var, r->invstd, r->y, r->ymag, r->dx,
                   r->dxmag, r->dgamma, r->dgmag, r->dbeta, r->dbmag};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    free(all[i]);
  memset(r, 0, sizeof *r);
}

/* mean = sum x / N and biased var = sum (x - mean)^2 / N, two passes in double. */
static inline void ref_moments(size_t F, size_t N, const double *x, size_t ldx, double *mean,
                               double *var)
{
  for (size_t f = 0; f < F; f++) {
    double s = 0.0, q = 0.0;
    for (size_t j = 0; j < N; j++)
      s += x[f + j * ldx];
    double m = s / (double)N;
    for (size_t j = 0; j < N; j++) {
      double d = x[f + j * ldx] - m;
      q += d * d;
    }
    mean[f] = m;
    var[f] = q / (double)N;
  }
}

/* y = gamma*(x - mean)*invstd + beta with the given mean / var. */
static inline void ref_bn_normalize(ref_bn *r, const double *x, size_t ldx, const double *gamma,
                                    const double *beta, double eps)
{
  for (size_t f = 0; f < r->F; f++) {
    r->invstd[f] = 1.0 / sqrt(r->var[f] + eps);
    double g = gamma ? gamma[f] : 1.0, b = beta ? beta[f] : 0.0;
    for (size_t j = 0; j < r->N; j++) {
      double xhat = (x[f + j * ldx] - r->mean[f]) * r->invstd[f];
      r->y[f + j * r->F] = g * xhat + b;
      r->ymag[f + j * r->F] = fabs(g * xhat) + fabs(b);
    }
  }
}

/* Training forward: batch mean, biased batch var, invstd, y. */
static inline void ref_bn_forward_training(ref_bn *r, const double *x, size_t ldx,
                                           const double *gamma, const double *beta, double eps)
{
  ref_moments(r->F, r->N, x, ldx, r->mean, r->var);
  ref_bn_normalize(r, x, ldx, gamma, beta, eps);
}

/* Inference forward with given statistics; ymag is the training forward's,
 * |gamma*xhat| + |beta|: the kernel computes with the centered value. */
static inline void ref_bn_forward_inference(ref_bn *r, const double *x, size_t ldx,
                                            const double *mean, const double *var,
                                            const double *gamma, const double *beta, double eps)
{
  memcpy(r->mean, mean, r->F * sizeof *mean);
  memcpy(r->var, var, r->F * sizeof *var);
  ref_bn_normalize(r, x, ldx, gamma, beta, eps);
}

/* Full backward of the training forward (run ref_bn_forward_training first):
 * dbeta = sum dy, dgamma = sum dy*xhat,
 * dx = gamma*invstd*(dy - dbeta/N - xhat*dgamma/N). */
static inline void ref_bn_backward_training(ref_bn *r, const double *x, size_t ldx,
                                            const double *dy, size_t lddy, const double *gamma)
{
  const double n = (double)r->N;
  for (size_t f = 0; f < r->F; f++) {
    double db = 0.0, dg = 0.0, dbm = 0.0, dgm = 0.0;
    for (size_t j = 0; j < r->N; j++) {
      double xhat = (x[f + j * ldx] - r->mean[f]) * r->invstd[f];
      double g = dy[f + j * lddy];
      db += g;
      dg += g * xhat;
      dbm += fabs(g);
      dgm += fabs(g * xhat);
    }
    double a = (gamma ? gamma[f] : 1.0) * r->invstd[f];
    for (size_t j = 0; j < r->N; j++) {
      double xhat = (x[f + j * ldx] - r->mean[f]) * r->invstd[f];
      double g = dy[f + j * lddy];
      r->dx[f + j * r->F] = a * (g - db / n - xhat * dg / n);
      r->dxmag[f + j * r->F] = fabs(a) * (fabs(g) + dbm / n + fabs(xhat) * dgm / n);
    }
    r->dbeta[f] = db;
    r->dgamma[f] = dg;
    r->dbmag[f] = dbm;
    r->dgmag[f] = dgm;
  }
}

/* Backward with constant statistics (run ref_bn_forward_inference first):
 * dx = dy*gamma*invstd, dgamma = sum dy*xhat, dbeta = sum dy. */
static inline void ref_bn_backward_inference(ref_bn *r, const double *x, size_t ldx,
                                             const double *dy, size_t lddy, const double *gamma)
{
  for (size_t f = 0; f < r->F; f++) {
    double a = (gamma ? gamma[f] : 1.0) * r->invstd[f];
    double db = 0.0, dg = 0.0, dbm = 0.0, dgm = 0.0;
    for (size_t j = 0; j < r->N; j++) {
      double xhat = (x[f + j * ldx] - r->mean[f]) * r->invstd[f];
      double g = dy[f + j * lddy];
      db += g;
      dg += g * xhat;
      dbm += fabs(g);
      dgm += fabs(g * xhat);
      r->dx[f + j * r->F] = a * g;
      r->dxmag[f + j * r->F] = fabs(a * g);
    }
    r->dbeta[f] = db;
    r->dgamma[f] = dg;
    r->dbmag[f] = dbm;
    r->dgmag[f] = dgm;
  }
}

/* ReLU as a separate layer: max(0, v) with +0 for v <= 0 (and for NaN). */
static inline float test_relu(float v)
{
  return v > 0.0f ? v : 0.0f;
}

/* ---- a random problem in the library's layout ----------------------------
 * Features with their own mean (in [-5, 5]) and spread (e^-3 .. e^2), NaN in
 * every padding element, gamma (may be negative) and beta, plausible
 * inference statistics, an incoming gradient dy, and float64 copies of all
 * of it for the reference. x has leading dimension ldx, dy ldy. */
typedef struct test_problem {
  size_t F, N, ldx, ldy;
  float *x, *dy, *gamma, *beta, *mean, *var; /* gamma / beta NULL when absent */
  double *xd, *dyd, *gd, *bd, *md, *vd;       /* dense float64 copies */
} test_problem;

static inline void test_problem_make(test_problem *p, test_rng *r, size_t F, size_t N,
                                     size_t ldx, size_t ldy, int with_gamma, int with_beta)
{
  double *mu = test_doubles(F), *sd = test_doubles(F);
  p->F = F;
  p->N = N;
  p->ldx = ldx;
  p->ldy = ldy;
  p->x = test_floats(ldx * N);
  p->dy = test_floats(ldy * N);
  p->gamma = with_gamma ? test_floats(F) : NULL;
  p->beta = with_beta ? test_floats(F) : NULL;
  p->mean = test_floats(F);
  p->var = test_floats(F);
  for (size_t f = 0; f < F; f++) {
    mu[f] = 10.0 * test_rng_uniform(r) - 5.0;
    sd[f] = exp(5.0 * test_rng_uniform(r) - 3.0);
    if (p->gamma)
      p->gamma[f] = (float)(1.0 + 0.7 * test_rng_normal(r));
    if (p->beta)
      p->beta[f] = (float)(2.0 * test_rng_normal(r));
    p->mean[f] = (float)(mu[f] + 0.3 * sd[f] * test_rng_normal(r));
    p->var[f] = (float)(sd[f] * sd[f] * exp(test_rng_uniform(r) - 0.5));
  }
  test_fill_rows(r, p->x, F, N, ldx, mu, sd);
  test_fill(r, p->dy, F, N, ldy, 0.0, 1.0);
  p->xd = test_to_double(p->x, F, N, ldx);
  p->dyd = test_to_double(p->dy, F, N, ldy);
  p->gd = test_to_double(p->gamma, F, 1, F);
  p->bd = test_to_double(p->beta, F, 1, F);
  p->md = test_to_double(p->mean, F, 1, F);
  p->vd = test_to_double(p->var, F, 1, F);
  free(mu);
  free(sd);
}

static inline void test_problem_free(test_problem *p)
{
  void *all[] = {p->x, p->dy, p->gamma, p->beta, p->mean, p->var,
                 p->xd, p->dyd, p->gd, p->bd, p->md, p->vd};
  for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
    free(all[i]);
  memset(p, 0, sizeof *p);
}

/* test_err_mag over a vector of F values. */
static inline double test_vec_err(const float *a, const double *ref, const double *mag, size_t F)
{
  return test_err_mag(a, F, ref, mag, F, 1);
}

/* A BatchNorm layer of p's width holding p's gamma / beta (those the flags
 * allow); the caller destroys it. */
static inline bn_batchnorm *test_layer_for(const test_problem *p, unsigned flags)
{
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, p->F, flags));
  assert_non_null(l);
  if (p->gamma && !(flags & BN_BATCHNORM_NO_SCALE))
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_GAMMA, p->gamma, p->F));
  if (p->beta && !(flags & BN_BATCHNORM_NO_SHIFT))
    assert_ok(bn_batchnorm_set(l, BN_BATCHNORM_BETA, p->beta, p->F));
  return l;
}

/* The whole file at path in a new buffer (one byte more than its size, so an
 * empty file still gives a buffer); *size receives its length. */
static inline unsigned char *test_read_file(const char *path, size_t *size)
{
  FILE *f = fopen(path, "rb");
  assert_non_null(f);
  assert_int_equal(fseek(f, 0, SEEK_END), 0);
  const long end = ftell(f);
  assert_true(end >= 0);
  *size = (size_t)end;
  assert_int_equal(fseek(f, 0, SEEK_SET), 0);
  unsigned char *bytes = malloc(*size + 1);
  assert_non_null(bytes);
  assert_int_equal(fread(bytes, 1, *size, f), *size);
  fclose(f);
  return bytes;
}

#endif

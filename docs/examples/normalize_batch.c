/* Normalize one batch with a BatchNorm layer and print its statistics.
 *
 * Builds a batch of N samples with F features whose means and spreads differ
 * widely (feature 3 has a mean of 1e4 and a spread of 1e-2, the case where a
 * one-pass variance would lose every digit), runs a training-mode forward,
 * and prints per feature the input's mean and variance, the output's (which
 * must be 0 and var/(var+eps)), and the running statistics after one update.
 * Then it runs a backward with a random dy and compares dx, dgamma and dbeta
 * with the textbook formulas evaluated in double.
 *
 * Exit status: 0 when every check holds, 1 otherwise. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <bn/bn.h>

enum { F = 4, N = 256 };

/* Deterministic uniform numbers in [-1, 1) (a 32-bit LCG), so the output is
 * the same on every run and every machine. */
static float next_uniform(unsigned *state)
{
  *state = *state * 1664525u + 1013904223u;
  return (float)(*state >> 8) / 8388608.0f - 1.0f;
}

/* Mean and biased variance of row f of a column-major F x N matrix, in double. */
static void row_stats(const float *m, size_t f, double *mean, double *var)
{
  double s = 0.0, q = 0.0;
  for (size_t j = 0; j < N; j++)
    s += m[f + j * F];
  *mean = s / N;
  for (size_t j = 0; j < N; j++) {
    double d = m[f + j * F] - *mean;
    q += d * d;
  }
  *var = q / N;
}

static int check(bn_batchnorm *layer, bn_status st, const char *what)
{
  if (st == BN_OK)
    return 1;
  fprintf(stderr, "%s failed: %s (%s)\n", what, bn_status_string(st),
          bn_batchnorm_last_error(layer));
  return 0;
}

int main(void)
{
  static const float mean[F] = {0.0f, 5.0f, -3.0f, 1.0e4f};
  static const float spread[F] = {1.0f, 0.5f, 20.0f, 1.0e-2f};
  /* Column-major F x N (ld = F): sample j is x[j*F .. j*F + F-1]. */
  float *x = malloc(sizeof(float) * F * N);
  float *y = malloc(sizeof(float) * F * N);
  float *dy = malloc(sizeof(float) * F * N);
  float *dx = malloc(sizeof(float) * F * N);
  bn_batchnorm *layer = NULL;
  int ok = x && y && dy && dx;
  unsigned seed = 12345u;

  if (ok)
    for (size_t j = 0; j < N; j++)
      for (size_t f = 0; f < F; f++)
        x[f + j * F] = mean[f] + spread[f] * next_uniform(&seed);

  ok = ok && check(NULL, bn_batchnorm_create(&layer, F, 0), "bn_batchnorm_create");
  ok = ok && check(layer, bn_batchnorm_forward(layer, BN_MODE_TRAINING, N, x, F, y, F),
                   "bn_batchnorm_forward");

  float running_mean[F], running_var[F], eps = 0.0f;
  ok = ok && check(layer, bn_batchnorm_get(layer, BN_BATCHNORM_RUNNING_MEAN, running_mean, F),
                   "bn_batchnorm_get");
  ok = ok && check(layer, bn_batchnorm_get(layer, BN_BATCHNORM_RUNNING_VAR, running_var, F),
                   "bn_batchnorm_get");
  ok = ok && check(layer, bn_batchnorm_get_eps(layer, &eps), "bn_batchnorm_get_eps");
  if (!ok) {
    bn_batchnorm_destroy(layer);
    free(x), free(y), free(dy), free(dx);
    return 1;
  }

  printf("libbn %s: BatchNorm training forward, %d features x %d samples, eps = %g\n\n",
         bn_version_string(), F, N, (double)eps);
  printf("%7s %12s %12s | %10s %10s | %12s %12s\n", "feature", "x mean", "x var", "y mean",
         "y var", "running mean", "running var");
  for (size_t f = 0; f < F; f++) {
    double xm, xv, ym, yv;
    row_stats(x, f, &xm, &xv);
    row_stats(y, f, &ym, &yv);
    printf("%7zu %12.5g %12.5g | %10.2e %10.7f | %12.5g %12.5g\n", f, xm, xv, ym, yv,
           (double)running_mean[f], (double)running_var[f]);
    /* The output is standardized: mean 0, variance var/(var+eps). */
    double want_var = xv / (xv + (double)eps);
    if (fabs(ym) > 1e-5 || fabs(yv - want_var) > 1e-4 * want_var) {
      fprintf(stderr, "feature %zu: output is not standardized\n", f);
      ok = 0;
    }
    /* One update with factor 0.1 from (0, 1), unbiased variance. */
    double want_rm = 0.1 * xm, want_rv = 0.9 + 0.1 * xv * N / (N - 1);
    if (fabs(running_mean[f] - want_rm) > 1e-5 * fabs(want_rm) + 1e-6 ||
        fabs(running_var[f] - want_rv) > 1e-5 * want_rv) {
      fprintf(stderr, "feature %zu: running statistics are off\n", f);
      ok = 0;
    }
  }

  /* Backward with a random dy, compared with the compact formula evaluated
   * in double: dx = invstd/N * (N*dy - sum(dy) - xhat*sum(dy*xhat)). */
  for (size_t i = 0; i < (size_t)F * N; i++)
    dy[i] = next_uniform(&seed);
  ok = ok && check(layer, bn_batchnorm_backward(layer, N, x, F, dy, F, dx, F),
                   "bn_batchnorm_backward");
  float dgamma[F], dbeta[F];
  ok = ok && check(layer, bn_batchnorm_get(layer, BN_BATCHNORM_DGAMMA, dgamma, F),
                   "bn_batchnorm_get");
  ok = ok && check(layer, bn_batchnorm_get(layer, BN_BATCHNORM_DBETA, dbeta, F),
                   "bn_batchnorm_get");
  if (ok) {
    printf("\n%7s %12s %12s | %22s\n", "feature", "dgamma", "dbeta", "max |dx - ref|/max|ref|");
    for (size_t f = 0; f < F; f++) {
      double xm, xv, sg = 0.0, sgx = 0.0, err = 0.0, scale = 0.0;
      row_stats(x, f, &xm, &xv);
      double invstd = 1.0 / sqrt(xv + (double)eps);
      for (size_t j = 0; j < N; j++) {
        sg += dy[f + j * F];
        sgx += dy[f + j * F] * (x[f + j * F] - xm) * invstd;
      }
      for (size_t j = 0; j < N; j++) {
        double xhat = (x[f + j * F] - xm) * invstd;
        double ref = invstd / N * (N * (double)dy[f + j * F] - sg - xhat * sgx);
        err = fmax(err, fabs(dx[f + j * F] - ref));
        scale = fmax(scale, fabs(ref));
      }
      printf("%7zu %12.5g %12.5g | %22.2e\n", f, (double)dgamma[f], (double)dbeta[f],
             err / scale);
      if (err > 1e-4 * scale || fabs(dbeta[f] - sg) > 1e-4 * (fabs(sg) + 1.0) ||
          fabs(dgamma[f] - sgx) > 1e-4 * (fabs(sgx) + 1.0)) {
        fprintf(stderr, "feature %zu: gradients differ from the reference\n", f);
        ok = 0;
      }
    }
  }

  bn_batchnorm_destroy(layer);
  free(x);
  free(y);
  free(dy);
  free(dx);
  printf("\n%s\n", ok ? "all checks passed" : "CHECKS FAILED");
  return ok ? 0 : 1;
}

/* A client of an *installed* libbn: compiled against the installed headers and
 * linked against the installed library, through pkg-config or CMake's
 * bn::bn. It checks that the headers and the library it runs with agree, that
 * a real forward and backward give the right numbers, and that an error comes
 * back as a status with a message. Exit status 0 on success. */
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <bn/bn.h>

#define FEATURES 2
#define BATCH 4

static int failures;

static void expect(int cond, const char *what)
{
  if (!cond) {
    fprintf(stderr, "consumer: FAILED: %s\n", what);
    failures++;
  }
}

static int close_to(double got, double want)
{
  return fabs(got - want) <= 1e-5 * (fabs(want) + 1.0);
}

int main(void)
{
  /* Column-major FEATURES x BATCH: sample j is x[2j], x[2j+1]. Feature 0 is
   * {1,2,3,4} (mean 2.5, variance 1.25), feature 1 is {10,10,10,14} (mean 11,
   * variance 3); both are exact in float. */
  const float x[FEATURES * BATCH] = {1, 10, 2, 10, 3, 10, 4, 14};
  const float dy[FEATURES * BATCH] = {1, 0, 0, 0, 0, 0, 0, 1};
  const double mean[FEATURES] = {2.5, 11.0}, var[FEATURES] = {1.25, 3.0};
  float y[FEATURES * BATCH], dx[FEATURES * BATCH], dbeta[FEATURES];
  bn_batchnorm *layer = NULL;
  bn_status st;

  expect(bn_version_number() == BN_VERSION_NUMBER, "library version matches the headers");
  expect(strcmp(bn_version_string(), BN_VERSION_STRING) == 0, "version string matches");
  expect(bn_abi_version() == BN_ABI_VERSION, "library ABI matches the headers");
  expect(strcmp(bn_status_string(BN_OK), "ok") == 0, "bn_status_string(BN_OK)");

  st = bn_batchnorm_create(&layer, FEATURES, 0);
  expect(st == BN_OK && layer != NULL, "bn_batchnorm_create");
  if (st != BN_OK)
    return 1;

  st = bn_batchnorm_forward(layer, BN_MODE_TRAINING, BATCH, x, FEATURES, y, FEATURES);
  expect(st == BN_OK, "training forward");
  for (int j = 0; j < BATCH && st == BN_OK; j++)
    for (int f = 0; f < FEATURES; f++) {
      double want = (x[f + FEATURES * j] - mean[f]) / sqrt(var[f] + 1e-5);
      expect(close_to(y[f + FEATURES * j], want), "forward output");
    }

  /* Backward: dbeta is sum_j dy; every feature's dx sums to zero. */
  st = bn_batchnorm_backward(layer, BATCH, x, FEATURES, dy, FEATURES, dx, FEATURES);
  expect(st == BN_OK, "backward");
  expect(bn_batchnorm_get(layer, BN_BATCHNORM_DBETA, dbeta, FEATURES) == BN_OK, "get dbeta");
  for (int f = 0; f < FEATURES && st == BN_OK; f++) {
    double sum = 0.0;
    for (int j = 0; j < BATCH; j++)
      sum += dx[f + FEATURES * j];
    expect(close_to(dbeta[f], 1.0), "dbeta");
    expect(fabs(sum) < 1e-5, "sum of dx");
  }

  /* An error is a status plus a message on the handle; y is left alone. */
  float before = y[0];
  st = bn_batchnorm_forward(layer, BN_MODE_TRAINING, 1, x, FEATURES, y, FEATURES);
  expect(st == BN_ERR_BATCH_TOO_SMALL, "batch of one is rejected in training mode");
  expect(bn_batchnorm_last_error(layer)[0] != '\0', "error message is set");
  expect(y[0] == before, "output unchanged on error");

  bn_batchnorm_destroy(layer);
  if (failures == 0)
    printf("consumer: ok (libbn %s)\n", bn_version_string());
  return failures == 0 ? 0 : 1;
}

/* The rows src/layers/standardizer_internal.h gives the model above (to fold
 * a standardizer into the first dense layer): NULL until fitted, then the
 * center and scale the transform applies, options included, so that
 * (x - center)/scale reproduces bn_standardizer_transform. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>
#include <bn/standardizer.h>
#include "../../src/layers/standardizer_internal.h"

enum { F = 3, N = 4 };

/* Feature 0 varies, feature 1 is constant, feature 2 varies around 1e4. */
static const float X[F * N] = {1, 5, 1e4f, 2, 5, 1e4f + 1, 4, 5, 1e4f - 1, 9, 5, 1e4f};

static void rows_follow_fit_and_options(void **state)
{
  (void)state;
  bn_standardizer *s = NULL;
  assert_int_equal(bn_standardizer_create(&s, F), BN_OK);
  assert_null(bni_standardizer_center_row(s));
  assert_null(bni_standardizer_scale_row(s));
  assert_int_equal(bn_standardizer_fit(s, N, X, F), BN_OK);
  /* mean 4, 5, 1e4; population sd sqrt(9.5), constant -> 1, sqrt(0.5) */
  const double mean[F] = {4.0, 5.0, 1e4}, sd[F] = {sqrt(9.5), 1.0, sqrt(0.5)};
  for (int with_mean = 0; with_mean <= 1; with_mean++)
    for (int with_std = 0; with_std <= 1; with_std++) {
      assert_int_equal(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, with_mean), BN_OK);
      assert_int_equal(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_STD, with_std), BN_OK);
      const double *center = bni_standardizer_center_row(s), *scale = bni_standardizer_scale_row(s);
      assert_non_null(center);
      assert_non_null(scale);
      float y[F * N];
      assert_int_equal(bn_standardizer_transform(s, N, X, F, y, F), BN_OK);
      for (size_t f = 0; f < F; f++) {
        assert_true(center[f] == (with_mean ? mean[f] : 0.0));
        assert_true(fabs(scale[f] - (with_std ? sd[f] : 1.0)) <= 1e-15 * scale[f]);
        for (size_t j = 0; j < N; j++)
          assert_true(fabsf(y[f + j * F] - (float)(((double)X[f + j * F] - center[f]) / scale[f])) <=
                      1e-6f * (1.0f + fabsf(y[f + j * F])));
      }
    }
  bn_standardizer_destroy(s);
}

int main(void)
{
  const struct CMUnitTest tests[] = {cmocka_unit_test(rows_follow_fit_and_options)};
  return cmocka_run_group_tests(tests, NULL, NULL);
}

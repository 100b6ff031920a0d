/* How a layer's passes are split over threads (src/kernels/batchnorm_parallel.h):
 * one chunk below the threshold (2^17 elements for the forward's passes, 2^18
 * for the backward's, or BN_PARALLEL_MIN_ELEMENTS for both),
 * never more chunks than threads or than N/2, and chunks that tile [0, N) in
 * contiguous, nearly equal blocks. Linked against the library's objects,
 * since these functions are internal. */
#define _POSIX_C_SOURCE 200809L /* setenv, unsetenv */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>
#include "../../src/kernels/batchnorm_parallel.h"

static void default_thresholds(void **state)
{
  (void)state;
  unsetenv("BN_PARALLEL_MIN_ELEMENTS");
  const bni_bn_pass_kind E = BNI_PASS_NORMALIZE, R = BNI_PASS_MOMENTS;
  assert_int_equal(bni_bn_chunks(E, 1024, 127, 2), 1);     /* 2^17 - 1024 elements */
  assert_int_equal(bni_bn_chunks(E, 1024, 128, 2), 2);     /* exactly 2^17 */
  assert_int_equal(bni_bn_chunks(R, 1024, 127, 2), 1);
  assert_int_equal(bni_bn_chunks(R, 1024, 128, 2), 2);
  assert_int_equal(bni_bn_chunks(E, 3, 43691, 4), 4);      /* ceil(2^17 / 3) columns */
  assert_int_equal(bni_bn_chunks(E, 3, 43690, 4), 1);
  const bni_bn_pass_kind backward[] = {BNI_PASS_GRAD_SUMS, BNI_PASS_GRAD_INPUT};
  for (int k = 0; k < 2; k++) {
    assert_int_equal(bni_bn_chunks(backward[k], 1024, 255, 2), 1); /* 2^18 - 1024 */
    assert_int_equal(bni_bn_chunks(backward[k], 1024, 256, 2), 2); /* exactly 2^18 */
  }
  assert_int_equal(bni_bn_chunks(E, 1024, 1 << 20, 1), 1); /* one thread: one chunk */
  assert_int_equal(bni_bn_chunks(R, 1024, 1 << 20, 0), 1);
}

static void override_and_its_bad_values(void **state)
{
  (void)state;
  setenv("BN_PARALLEL_MIN_ELEMENTS", "1000", 1);
  assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 10, 100, 3), 3);
  assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 10, 99, 3), 1);
  assert_int_equal(bni_bn_chunks(BNI_PASS_GRAD_INPUT, 10, 100, 3), 3); /* every kind */
  /* at least 2 columns per chunk, at most 64 chunks */
  assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 1000, 5, 8), 2);
  assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 1000, 3, 8), 1);
  assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 1000, 1000, 200), 64);
  static const char *bad[] = {"", "0", "-5", "12abc", "99999999999999999999999"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    setenv("BN_PARALLEL_MIN_ELEMENTS", bad[i], 1);
    assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 1024, 127, 2), 1); /* default thresholds */
    assert_int_equal(bni_bn_chunks(BNI_PASS_NORMALIZE, 1024, 128, 2), 2);
    assert_int_equal(bni_bn_chunks(BNI_PASS_GRAD_SUMS, 1024, 128, 2), 1);
  }
  unsetenv("BN_PARALLEL_MIN_ELEMENTS");
}

static void chunks_tile_the_batch(void **state)
{
  (void)state;
  for (size_t N = 2; N < 300; N += 7)
    for (unsigned C = 1; C <= 9 && C <= N / 2; C++) {
      assert_int_equal(bni_bn_chunk_begin(N, C, 0), 0);
      assert_int_equal(bni_bn_chunk_begin(N, C, C), N);
      for (unsigned c = 0; c < C; c++) {
        size_t len = bni_bn_chunk_begin(N, C, c + 1) - bni_bn_chunk_begin(N, C, c);
        assert_true(len == N / C || len == N / C + 1);
      }
    }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(default_thresholds),
    cmocka_unit_test(override_and_its_bad_values),
    cmocka_unit_test(chunks_tile_the_batch),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

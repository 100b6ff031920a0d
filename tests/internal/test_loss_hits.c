/* The fused losses counting right predictions in their own pass
 * (src/kernels/losses_internal.h): the count against one taken here
 * directly (ties go to the first largest logit; a logit of exactly 0 and a
 * target of exactly 0.5 count as the positive side), and the loss and
 * dlogits identical, bit for bit, to the public functions'. */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>
#include <bn/losses.h>
#include "../../src/kernels/losses_internal.h"

enum { C = 4, N = 6 };

/* columns: clear win, tie (first wins), tie (label is the second), loss,
 * -inf-free negative logits, all equal */
static const float logits[C * N] = {
  2.0f, 1.0f, 0.0f, -1.0f,
  3.0f, 3.0f, 1.0f, 0.0f,
  0.5f, 2.5f, 2.5f, 0.0f,
  1.0f, 4.0f, 0.0f, 0.0f,
  -7.0f, -3.0f, -5.0f, -3.5f,
  1.0f, 1.0f, 1.0f, 1.0f};
static const int32_t labels[N] = {0, 0, 2, 2, 1, 3};

static void softmax_hits_match_a_direct_count(void **state)
{
  (void)state;
  size_t expected = 0;
  for (size_t j = 0; j < N; j++) {
    size_t best = 0;
    for (size_t c = 1; c < C; c++)
      if (logits[c + j * C] > logits[best + j * C])
        best = c;
    expected += best == (size_t)labels[j];
  }
  assert_int_equal(expected, 3); /* columns 0, 1 and 4 */
  float loss, ref_loss, d[C * N], ref_d[C * N];
  size_t hits = 99;
  assert_int_equal(bni_softmax_cross_entropy_hits(C, N, logits, C, labels, &loss, d, C, &hits),
                   BN_OK);
  assert_int_equal(hits, expected);
  assert_int_equal(bn_softmax_cross_entropy(C, N, logits, C, labels, &ref_loss, ref_d, C), BN_OK);
  assert_memory_equal(&loss, &ref_loss, sizeof loss);
  assert_memory_equal(d, ref_d, sizeof d);
}

static void sigmoid_hits_match_a_direct_count(void **state)
{
  (void)state;
  static const float z[C * 2] = {0.0f, -0.0f, -1e-3f, 2.0f, -2.0f, 1e-3f, 0.0f, 5.0f};
  static const float t[C * 2] = {0.5f, 0.4f, 0.0f, 1.0f, 0.6f, 0.5f, 0.49f, 0.0f};
  size_t expected = 0;
  for (size_t k = 0; k < C * 2; k++)
    expected += (z[k] >= 0.0f) == (t[k] >= 0.5f);
  assert_int_equal(expected, 4); /* k = 0, 2, 3, 5 */
  float loss, ref_loss, d[C * 2], ref_d[C * 2];
  size_t hits = 99;
  assert_int_equal(bni_sigmoid_binary_cross_entropy_hits(C, 2, z, C, t, &loss, d, C, &hits),
                   BN_OK);
  assert_int_equal(hits, expected);
  assert_int_equal(bn_sigmoid_binary_cross_entropy(C, 2, z, C, t, &ref_loss, ref_d, C), BN_OK);
  assert_memory_equal(&loss, &ref_loss, sizeof loss);
  assert_memory_equal(d, ref_d, sizeof d);
}

static void a_bad_input_counts_nothing(void **state)
{
  (void)state;
  float bad[C * N];
  memcpy(bad, logits, sizeof bad);
  bad[C * N - 1] = NAN;
  float loss = 7.0f;
  size_t hits = 99;
  assert_int_equal(bni_softmax_cross_entropy_hits(C, N, bad, C, labels, &loss, NULL, C, &hits),
                   BN_ERR_NON_FINITE);
  assert_int_equal(hits, 99);
  assert_true(loss == 7.0f);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(softmax_hits_match_a_direct_count),
    cmocka_unit_test(sigmoid_hits_match_a_direct_count),
    cmocka_unit_test(a_bad_input_counts_nothing),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

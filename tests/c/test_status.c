/* Status codes and version functions (bn/status.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include "testing.h"

/* Status values never change meaning once released: the numbers are part of
 * the ABI (bindings hard-code them). */
static void status_values_are_stable(void **state)
{
  (void)state;
  assert_int_equal(BN_OK, 0);
  assert_int_equal(BN_ERR_INVALID_ARGUMENT, 1);
  assert_int_equal(BN_ERR_SHAPE_MISMATCH, 2);
  assert_int_equal(BN_ERR_OUT_OF_MEMORY, 3);
  assert_int_equal(BN_ERR_SIZE_OVERFLOW, 4);
  assert_int_equal(BN_ERR_WRONG_STATE, 5);
  assert_int_equal(BN_ERR_BATCH_TOO_SMALL, 6);
  assert_int_equal(BN_ERR_NON_FINITE, 7);
  assert_int_equal(BN_ERR_IO, 8);
  assert_int_equal(BN_ERR_BAD_MAGIC, 9);
  assert_int_equal(BN_ERR_VERSION_MISMATCH, 10);
  assert_int_equal(BN_ERR_BAD_SIZE, 11);
  assert_int_equal(BN_ERR_CHECKSUM, 12);
  assert_int_equal(BN_ERR_BAD_FORMAT, 13);
  assert_int_equal(BN_ERR_UNSUPPORTED, 14);
}

/* bn_status_string gives every known code its own non-empty name (none of
 * them "unknown status"), "ok" for BN_OK, and "unknown status" for values
 * this version does not know (negative, just past the last, huge). */
static void status_strings(void **state)
{
  (void)state;
  enum { LAST = BN_ERR_UNSUPPORTED };
  const char *names[LAST + 1];
  for (int s = 0; s <= LAST; s++) {
    names[s] = bn_status_string((bn_status)s);
    assert_non_null(names[s]);
    assert_true(names[s][0] != '\0');
    assert_string_not_equal(names[s], "unknown status");
    for (int t = 0; t < s; t++)
      if (strcmp(names[s], names[t]) == 0)
        fail_msg("status %d and %d share the name \"%s\"", s, t, names[s]);
  }
  assert_string_equal(bn_status_string(BN_OK), "ok");
  static const int unknown[] = {-1, LAST + 1, 100, INT32_MAX, INT32_MIN};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    const char *u = bn_status_string((bn_status)unknown[i]);
    assert_non_null(u);
    assert_string_equal(u, "unknown status");
  }
  /* a static string: the same pointer every time */
  assert_ptr_equal(bn_status_string(BN_ERR_CHECKSUM), bn_status_string(BN_ERR_CHECKSUM));
}

/* The runtime version functions agree with the header macros this test was
 * compiled with (same build), and the string and number say the same. */
static void version_functions_match_macros(void **state)
{
  (void)state;
  assert_int_equal(bn_version_number(), BN_VERSION_NUMBER);
  assert_int_equal(BN_VERSION_NUMBER,
                   BN_VERSION_MAJOR * 10000 + BN_VERSION_MINOR * 100 + BN_VERSION_PATCH);
  const char *v = bn_version_string();
  assert_non_null(v);
  assert_string_equal(v, BN_VERSION_STRING);
  unsigned major = 0, minor = 0, patch = 0;
  char tail = 0;
  assert_int_equal(sscanf(v, "%u.%u.%u%c", &major, &minor, &patch, &tail), 3);
  assert_int_equal(major, BN_VERSION_MAJOR);
  assert_int_equal(minor, BN_VERSION_MINOR);
  assert_int_equal(patch, BN_VERSION_PATCH);
  assert_true(minor < 100 && patch < 100); /* or the number would be ambiguous */
  assert_int_equal(bn_abi_version(), BN_ABI_VERSION);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(status_values_are_stable),
      cmocka_unit_test(status_strings),
      cmocka_unit_test(version_functions_match_macros),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

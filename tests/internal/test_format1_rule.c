/* A library that reads only model-file format 1 opens a file with the blob
 * framing's version rule, bni_blob_open_magic(..., version 1, "model file"):
 * applied to a format-2 file, that rule must refuse it with
 * BN_ERR_VERSION_MISMATCH and a message naming both versions, so an older
 * libbn reports "format version 2, this library reads 1" rather than
 * misreading the file. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "../../src/core/blob.h"

static const unsigned char MAGIC[8] = {0x89, 'B', 'N', 'M', '\r', '\n', 0x1A, '\n'};

static void format2_refused_by_the_format1_rule(void **state)
{
  (void)state;
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, 3, NULL, 0, 2, BN_ACT_RELU, BN_MLP_BN_NONE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_HEAD_BATCHNORM),
                   BN_OK);
  size_t size;
  assert_int_equal(bn_mlp_serialized_size(m, 0, &size), BN_OK);
  unsigned char *buf = malloc(size);
  assert_int_equal(bn_mlp_serialize(m, 0, buf, size, NULL), BN_OK);
  bni_reader r;
  bni_error err = {{0}};
  assert_int_equal(bni_blob_open_magic(&r, buf, size, sizeof MAGIC, MAGIC, sizeof MAGIC, 1,
                                       "model file", &err),
                   BN_ERR_VERSION_MISMATCH);
  assert_string_equal(err.text, "model file format version 2, this library reads 1");
  /* The same rule still opens a format-1 file of a plain network. */
  bn_mlp_destroy(m);
  assert_int_equal(bn_mlp_create(&m, 3, NULL, 0, 2, BN_ACT_RELU, BN_MLP_BN_NONE,
                                 BN_MLP_HEAD_SOFTMAX, 0),
                   BN_OK);
  assert_int_equal(bn_mlp_serialized_size(m, 0, &size), BN_OK);
  buf = realloc(buf, size);
  assert_int_equal(bn_mlp_serialize(m, 0, buf, size, NULL), BN_OK);
  assert_int_equal(bni_blob_open_magic(&r, buf, size, sizeof MAGIC, MAGIC, sizeof MAGIC, 1,
                                       "model file", &err),
                   BN_OK);
  free(buf);
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(format2_refused_by_the_format1_rule),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

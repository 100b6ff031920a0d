/* Model-file format 2 (docs/model-format.md): which version a network is
 * written in, the standardizer stage and the head's BatchNorm surviving a
 * round trip exactly, the training record (round trip, limits, every kind of
 * damaged size) and the flags a version may hold. Format-1 files are in
 * test_model_file.c and test_model_fixtures.c. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <math.h>
#include <string.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "blob_testing.h"
#include "testing.h"

enum { I = 4, C = 3, N = 24 };
#include "mlp_testing.h"
#define OFF_VERSION 8
#define OFF_FLAGS 12
#define HEADER 136

static bn_mlp *make(unsigned flags)
{
  return test_small_mlp(flags, 9);
}

static void data(float *x, int32_t *labels)
{
  test_rng g = {17};
  const double mean[I] = {100, -3, 0.5, 1e4}, sd[I] = {10, 0.1, 1, 0.01};
  test_fill_rows(&g, x, I, N, I, mean, sd);
  for (size_t n = 0; n < N; n++)
    labels[n] = (int32_t)(n % C);
}

/* A trained network with the given flags (the standardizer fitted by fit). */
static bn_mlp *trained(unsigned flags)
{
  float x[I * N];
  int32_t labels[N];
  data(x, labels);
  bn_mlp *m = make(flags);
  bn_rng shuffle;
  bn_rng_seed(&shuffle, 1);
  assert_int_equal(bn_mlp_fit(m, N, x, I, labels, NULL, 8, 2, &shuffle, NULL, NULL), BN_OK);
  return m;
}

static unsigned char *bytes_of(const bn_mlp *m, unsigned flags, size_t *size)
{
  assert_int_equal(bn_mlp_serialized_size(m, flags, size), BN_OK);
  unsigned char *buf = malloc(*size);
  assert_non_null(buf);
  assert_int_equal(bn_mlp_serialize(m, flags, buf, *size, NULL), BN_OK);
  return buf;
}

static bn_status load(const unsigned char *buf, size_t size, char *msg, size_t cap)
{
  bn_mlp *m = NULL;
  bn_status st = bn_mlp_deserialize(&m, buf, size, msg, cap);
  if (st == BN_OK)
    bn_mlp_destroy(m);
  else
    assert_null(m);
  return st;
}

static void test_version_written(void **state)
{
  (void)state;
  const struct {
    unsigned flags;
    int record;
    unsigned version, contents;
  } cases[] = {
    {0, 0, 1, 0},
    {BN_MLP_INPUT_BATCHNORM | BN_MLP_BIASED_RUNNING_VAR, 0, 1,
     BN_MLP_FILE_INPUT_BATCHNORM | BN_MLP_FILE_BIASED_RUNNING_VAR},
    {BN_MLP_STANDARDIZE, 0, 2, BN_MLP_FILE_STANDARDIZER},
    {BN_MLP_HEAD_BATCHNORM, 0, 2, BN_MLP_FILE_HEAD_BATCHNORM},
    {0, 1, 2, BN_MLP_FILE_TRAINING_RECORD},
    {BN_MLP_RENORM, 0, 2, BN_MLP_FILE_RENORM},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    bn_mlp *m = trained(cases[k].flags);
    if (cases[k].record)
      assert_int_equal(bn_mlp_set_training_record(m, "r", 1), BN_OK);
    size_t size;
    unsigned char *buf = bytes_of(m, 0, &size);
    unsigned version = 0, contents = 0;
    uint64_t declared = 0;
    assert_int_equal(bn_mlp_read_header(buf, size, &version, &contents, &declared), BN_OK);
    assert_int_equal(version, cases[k].version);
    assert_int_equal(contents, cases[k].contents);
    assert_int_equal(declared, size);
    free(buf);
    bn_mlp_destroy(m);
  }
  unsigned newest = 0;
  assert_int_equal(bn_mlp_format_version(&newest), BN_OK);
  assert_int_equal(newest, 2);
}

/* Every value, the standardizer's state and the predictions come back. */
static void test_round_trip(void **state)
{
  (void)state;
  float x[I * N], p1[C * N], p2[C * N];
  int32_t labels[N];
  data(x, labels);
  const unsigned all = BN_MLP_STANDARDIZE | BN_MLP_HEAD_BATCHNORM | BN_MLP_INPUT_BATCHNORM;
  bn_mlp *m = trained(all);
  size_t size;
  unsigned char *buf = bytes_of(m, BN_MLP_SAVE_OPTIMIZER, &size);
  bn_mlp *r = NULL;
  char msg[256];
  assert_int_equal(bn_mlp_deserialize(&r, buf, size, msg, sizeof msg), BN_OK);
  unsigned flags = 0;
  assert_int_equal(bn_mlp_architecture(r, NULL, NULL, NULL, NULL, NULL, NULL, &flags), BN_OK);
  assert_int_equal(flags, all);
  assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, p1, C), BN_OK);
  assert_int_equal(bn_mlp_predict(r, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, p2, C), BN_OK);
  assert_memory_equal(p1, p2, sizeof p1);
  /* The standardizer's count, mean and M2 are exact: a further partial fit
   * gives the same statistics on both. */
  const bn_standardizer *s1, *s2;
  assert_int_equal(bn_mlp_standardizer(m, &s1), BN_OK);
  assert_int_equal(bn_mlp_standardizer(r, &s2), BN_OK);
  assert_int_equal(bn_mlp_partial_fit_standardizer(m, 5, x, I), BN_OK);
  assert_int_equal(bn_mlp_partial_fit_standardizer(r, 5, x, I), BN_OK);
  double v1[I], v2[I];
  uint64_t c1, c2;
  assert_int_equal(bn_standardizer_count(s1, &c1), BN_OK);
  assert_int_equal(bn_standardizer_count(s2, &c2), BN_OK);
  assert_int_equal(c1, N + 5);
  assert_int_equal(c2, N + 5);
  assert_int_equal(bn_standardizer_get(s1, BN_STANDARDIZER_VAR, v1, I), BN_OK);
  assert_int_equal(bn_standardizer_get(s2, BN_STANDARDIZER_VAR, v2, I), BN_OK);
  assert_memory_equal(v1, v2, sizeof v1);
  /* Re-serializing the loaded network gives the same bytes. */
  bn_mlp_destroy(r);
  assert_int_equal(bn_mlp_deserialize(&r, buf, size, msg, sizeof msg), BN_OK);
  size_t size2;
  unsigned char *again = bytes_of(r, BN_MLP_SAVE_OPTIMIZER, &size2);
  assert_int_equal(size2, size);
  assert_memory_equal(again, buf, size);
  free(again);
  free(buf);
  bn_mlp_destroy(r);
  bn_mlp_destroy(m);
}

static void test_record_api(void **state)
{
  (void)state;
  bn_mlp *m = make(0);
  size_t size = 99, written = 99;
  assert_int_equal(bn_mlp_training_record_size(m, &size), BN_OK);
  assert_int_equal(size, 0);
  assert_int_equal(bn_mlp_get_training_record(m, NULL, 0, &written), BN_OK);
  assert_int_equal(written, 0);
  const char text[] = "lr=0.001 schedule=cosine epochs=10 batch=256 seed=1 pos=3:17";
  assert_int_equal(bn_mlp_set_training_record(m, text, sizeof text), BN_OK);
  char out[sizeof text];
  assert_int_equal(bn_mlp_get_training_record(m, out, sizeof out - 1, &written),
                   BN_ERR_BAD_SIZE);
  assert_int_equal(bn_mlp_get_training_record(m, out, sizeof out, &written), BN_OK);
  assert_int_equal(written, sizeof text);
  assert_memory_equal(out, text, sizeof text);
  /* Refused arguments leave the record as it was. */
  assert_int_equal(bn_mlp_set_training_record(m, NULL, 3), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_training_record(m, text, (size_t)BN_MLP_MAX_TRAINING_RECORD + 1),
                   BN_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(bn_mlp_last_error(m), "limit"));
  assert_int_equal(bn_mlp_training_record_size(m, &size), BN_OK);
  assert_int_equal(size, sizeof text);
  assert_int_equal(bn_mlp_get_training_record(m, NULL, 4, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_training_record_size(m, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_training_record_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_get_training_record(NULL, out, sizeof out, NULL),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_training_record(NULL, text, 1), BN_ERR_INVALID_ARGUMENT);
  /* The largest record round-trips through a file; any byte value is kept. */
  const size_t big = BN_MLP_MAX_TRAINING_RECORD;
  unsigned char *blob = malloc(big), *back = malloc(big);
  for (size_t i = 0; i < big; i++)
    blob[i] = (unsigned char)(i * 131u + (i >> 9));
  assert_int_equal(bn_mlp_set_training_record(m, blob, big), BN_OK);
  size_t fsize;
  unsigned char *buf = bytes_of(m, 0, &fsize);
  bn_mlp *r = NULL;
  assert_int_equal(bn_mlp_deserialize(&r, buf, fsize, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_get_training_record(r, back, big, &written), BN_OK);
  assert_int_equal(written, big);
  assert_memory_equal(back, blob, big);
  bn_mlp_destroy(r);
  free(buf);
  /* Size 0 removes it: the file is format 1 again. */
  assert_int_equal(bn_mlp_set_training_record(m, NULL, 0), BN_OK);
  buf = bytes_of(m, 0, &fsize);
  assert_int_equal(blob_get_u32(buf + OFF_VERSION), 1);
  free(buf);
  free(blob);
  free(back);
  bn_mlp_destroy(m);
}

/* The record's size field: above the limit, beyond the file, zero, or not
 * matching the file's size. */
static void test_record_damaged_sizes(void **state)
{
  (void)state;
  bn_mlp *m = make(0);
  const char text[] = "epoch 3";
  assert_int_equal(bn_mlp_set_training_record(m, text, sizeof text), BN_OK);
  size_t size;
  unsigned char *good = bytes_of(m, 0, &size), *c = malloc(size + 64);
  const size_t at = HEADER + 8 * 1; /* after the header and one hidden width */
  assert_int_equal(blob_get_u64(good + at), sizeof text);
  char msg[256];
  const struct {
    uint64_t value;
    bn_status status;
    const char *says;
  } cases[] = {
    {(uint64_t)BN_MLP_MAX_TRAINING_RECORD + 1, BN_ERR_BAD_FORMAT, "training record"},
    {UINT64_MAX, BN_ERR_BAD_FORMAT, "training record"},
    {0, BN_ERR_BAD_FORMAT, "training record"},
    {size, BN_ERR_BAD_SIZE, "truncated inside the training record"},
    {sizeof text + 1, BN_ERR_BAD_SIZE, "bytes"},
    {sizeof text - 1, BN_ERR_BAD_SIZE, "bytes"},
  };
  for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
    memcpy(c, good, size);
    blob_put_u64(c + at, cases[k].value);
    blob_reseal(c, size);
    assert_int_equal(load(c, size, msg, sizeof msg), cases[k].status);
    if (!strstr(msg, cases[k].says))
      fail_msg("record size %llu: message \"%s\"", (unsigned long long)cases[k].value, msg);
  }
  /* The record flag without a record: the size field is missing. */
  memcpy(c, good, size);
  blob_put_u32(c + OFF_FLAGS, 0);
  blob_reseal(c, size);
  assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_BAD_SIZE);
  free(c);
  free(good);
  bn_mlp_destroy(m);
}

/* Format 1 cannot hold the new flags; no version holds unknown ones. */
static void test_flags_per_version(void **state)
{
  (void)state;
  bn_mlp *m = trained(BN_MLP_HEAD_BATCHNORM);
  size_t size;
  unsigned char *c = bytes_of(m, 0, &size);
  char msg[256];
  blob_put_u32(c + OFF_VERSION, 1);
  blob_reseal(c, size);
  assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_BAD_FORMAT);
  assert_non_null(strstr(msg, "format version 1"));
  blob_put_u32(c + OFF_VERSION, 2);
  blob_put_u32(c + OFF_FLAGS, BN_MLP_FILE_HEAD_BATCHNORM | (1u << 20));
  blob_reseal(c, size);
  assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_BAD_FORMAT);
  /* Without the head flag the architecture implies fewer bytes. */
  blob_put_u32(c + OFF_FLAGS, 0);
  blob_reseal(c, size);
  assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_BAD_SIZE);
  /* A newer version is refused with a message that says so. */
  blob_put_u32(c + OFF_VERSION, 3);
  assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_VERSION_MISMATCH);
  assert_non_null(strstr(msg, "version 3"));
  assert_non_null(strstr(msg, "newer"));
  free(c);
  bn_mlp_destroy(m);
}

/* A damaged standardizer state inside a file whose checksum was fixed up:
 * refused, naming the stage. */
static void test_standardizer_state_damaged(void **state)
{
  (void)state;
  bn_mlp *m = trained(BN_MLP_STANDARDIZE);
  size_t size;
  unsigned char *good = bytes_of(m, 0, &size), *c = malloc(size);
  const size_t at = HEADER + 8; /* the stage's state follows the one width */
  assert_memory_equal(good + at, "BNSD", 4);
  const size_t blob = 36 + 16 * I;
  const size_t damage[] = {0, 4, 8, 16, 20, 24, 32 + 16 * I - 8, 32 + 16 * I + 2};
  char msg[256];
  for (size_t k = 0; k < sizeof damage / sizeof damage[0]; k++) {
    memcpy(c, good, size);
    if (damage[k] == 32 + 16 * I - 8) /* a negative M2 with its own checksum fixed */
      blob_put_f64(c + at + damage[k], -1.0), blob_reseal(c + at, blob);
    else if (damage[k] == 24) /* a count of 0 with nonzero moments, resealed */
      blob_put_u64(c + at + damage[k], 0), blob_reseal(c + at, blob);
    else
      c[at + damage[k]] ^= 0x40;
    blob_reseal(c, size);
    assert_int_equal(load(c, size, msg, sizeof msg), BN_ERR_BAD_FORMAT);
    if (!strstr(msg, "standardizer"))
      fail_msg("damage at %zu: message \"%s\"", damage[k], msg);
  }
  free(c);
  free(good);
  bn_mlp_destroy(m);
}

/* The renorm settings: kept, and validated. */
static void test_renorm_settings(void **state)
{
  (void)state;
  bn_mlp *m = trained(BN_MLP_RENORM);
  double v;
  assert_int_equal(bn_mlp_get_parameter(m, BN_MLP_RENORM_SCHEDULE, &v), BN_OK);
  assert_true(v == 1.0); /* the paper's schedule by default */
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_SCHEDULE, 0), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, 2.5), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_DMAX, 0.75), BN_OK);
  size_t size;
  unsigned char *c = bytes_of(m, 0, &size);
  bn_mlp *r = NULL;
  assert_int_equal(bn_mlp_deserialize(&r, c, size, NULL, 0), BN_OK);
  const bn_mlp_param params[3] = {BN_MLP_RENORM_SCHEDULE, BN_MLP_RENORM_RMAX,
                                  BN_MLP_RENORM_DMAX};
  const double want[3] = {0, 2.5, 0.75};
  for (int k = 0; k < 3; k++) {
    assert_int_equal(bn_mlp_get_parameter(r, params[k], &v), BN_OK);
    assert_true(v == want[k]);
  }
  bn_mlp_destroy(r);
  /* rmax < 1, dmax < 0, a schedule of 2, a reserved word: refused */
  const size_t at = HEADER + 8;
  char msg[256];
  for (int k = 0; k < 4; k++) {
    unsigned char *d = malloc(size);
    memcpy(d, c, size);
    if (k == 0)
      blob_put_u32(d + at, 0x3f000000u); /* 0.5f */
    else if (k == 1)
      blob_put_u32(d + at + 4, 0xbf800000u); /* -1.0f */
    else
      blob_put_u32(d + at + 4 * (size_t)k, 2); /* the schedule, the reserved word */
    blob_reseal(d, size);
    assert_int_equal(load(d, size, msg, sizeof msg), BN_ERR_BAD_FORMAT);
    assert_non_null(strstr(msg, "renorm"));
    free(d);
  }
  /* the setters refuse what the file refuses */
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, 0.99), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_DMAX, -0.1), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_SCHEDULE, 0.5),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, INFINITY), BN_ERR_NON_FINITE);
  assert_int_equal(bn_mlp_get_parameter(m, BN_MLP_RENORM_RMAX, &v), BN_OK);
  assert_true(v == 2.5);
  free(c);
  bn_mlp_destroy(m);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_version_written),
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_record_api),
    cmocka_unit_test(test_record_damaged_sizes),
    cmocka_unit_test(test_flags_per_version),
    cmocka_unit_test(test_standardizer_state_damaged),
    cmocka_unit_test(test_renorm_settings),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* BatchNorm state blobs (bn_batchnorm_serialized_size / serialize / deserialize,
 * and their superseded names state_size / save_state / load_state):
 * the documented byte format, a lossless round trip, and rejection of every
 * truncation, every corrupted byte, a feature-count mismatch and well-formed
 * blobs with invalid content. Every rejected blob is read from a heap buffer
 * of exactly its size, so under ASan an out-of-bounds read fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testing.h"
#include "blob_testing.h"

/* Documented format, version 2 (little-endian): version 1's header, then
 * the renorm words before the vectors. */
enum {
  OFF_MAGIC = 0,
  OFF_VERSION = 4,
  OFF_FEATURES = 8,
  OFF_FLAGS = 16,
  OFF_EPS = 20,
  OFF_FACTOR = 24,
  OFF_RESERVED = 28,
  OFF_TRACKED = 32,
  OFF_RMAX = 40,
  OFF_DMAX = 44,
  OFF_OPTIONS = 48,
  OFF_RESERVED2 = 52,
  OFF_VECTORS = 56
};
#define ALL_FLAGS                                                                             \
  (BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT | BN_BATCHNORM_NO_RUNNING_STATS |             \
   BN_BATCHNORM_CUMULATIVE_AVERAGE | BN_BATCHNORM_BIASED_RUNNING_VAR | BN_BATCHNORM_FUSE_RELU | \
   BN_BATCHNORM_RENORM)

/* A layer with every field away from its default. */
static bn_batchnorm *make_layer(size_t F, unsigned flags, uint64_t seed)
{
  test_rng rng = {seed};
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, 0));
  float *v = test_floats(F);
  static const bn_batchnorm_tensor t[] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                          BN_BATCHNORM_RUNNING_MEAN, BN_BATCHNORM_RUNNING_VAR};
  for (size_t k = 0; k < 4; k++) {
    for (size_t f = 0; f < F; f++)
      v[f] = (float)(k == 3 ? 0.1 + test_rng_uniform(&rng) : test_rng_normal(&rng));
    assert_ok(bn_batchnorm_set(l, t[k], v, F));
  }
  free(v);
  assert_ok(bn_batchnorm_set_eps(l, 3e-4f));
  assert_ok(bn_batchnorm_set_update_factor(l, 0.3f));
  assert_ok(bn_batchnorm_set_batches_tracked(l, 0x123456789ull + seed));
  if (flags) { /* flags only come back through a blob: patch and load one */
    size_t size = 0;
    assert_ok(bn_batchnorm_serialized_size(l, &size));
    unsigned char *blob = malloc(size);
    assert_non_null(blob);
    assert_ok(bn_batchnorm_serialize(l, blob, size, NULL));
    blob_put_u32(blob + OFF_FLAGS, flags);
    blob_reseal(blob, size);
    assert_ok(bn_batchnorm_deserialize(l, blob, size));
    free(blob);
  }
  return l;
}

BLOB_SNAPSHOT_FN(snapshot, bn_batchnorm, bn_batchnorm_serialized_size, bn_batchnorm_serialize)

static void assert_unchanged(const bn_batchnorm *l, const unsigned char *before, size_t size)
{
  size_t now_size = 0;
  unsigned char *now = snapshot(l, &now_size);
  assert_int_equal(now_size, size);
  assert_memory_equal(now, before, size);
  free(now);
}

/* Load a copy of blob[0..size) held in a heap buffer of exactly size bytes. */
static bn_status load_exact(bn_batchnorm *l, const unsigned char *blob, size_t size)
{
  unsigned char *copy = malloc(size ? size : 1);
  assert_non_null(copy);
  if (size)
    memcpy(copy, blob, size);
  bn_status st = bn_batchnorm_deserialize(l, copy, size);
  free(copy);
  return st;
}

/* The test's CRC-32 is the standard one (check value of "123456789"). */
static void crc32_self_check(void **state)
{
  (void)state;
  assert_int_equal(blob_crc32((const unsigned char *)"123456789", 9), 0xCBF43926u);
}

/* state_size is 56 header bytes + 4 vectors of F floats + a 4-byte CRC, and
 * the saved bytes are the documented format: "BNST", version 2, F, flags,
 * eps, factor, reserved 0, batches tracked, rmax, dmax, options, reserved 0,
 * gamma, beta, running mean, running var, CRC-32 of everything before it. */
static void blob_has_documented_format(void **state)
{
  (void)state;
  static const size_t Fs[] = {1, 3, 17, 1000};
  for (size_t i = 0; i < 4; i++) {
    const size_t F = Fs[i];
    bn_batchnorm *l = make_layer(F, BN_BATCHNORM_BIASED_RUNNING_VAR | BN_BATCHNORM_FUSE_RELU, F);
    size_t size = 0;
    unsigned char *blob = snapshot(l, &size);
    assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_RMAX, 2.5));
    assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_DMAX, 0.75));
    assert_ok(bn_batchnorm_set_parameter(l, BN_BATCHNORM_RENORM_SCHEDULE, 1.0));
    free(blob);
    blob = snapshot(l, &size);
    assert_int_equal(size, 56 + 16 * F + 4);
    assert_memory_equal(blob + OFF_MAGIC, "BNST", 4);
    assert_int_equal(blob_get_u32(blob + OFF_VERSION), 2);
    assert_true(blob_get_f32(blob + OFF_RMAX) == 2.5f);
    assert_true(blob_get_f32(blob + OFF_DMAX) == 0.75f);
    assert_int_equal(blob_get_u32(blob + OFF_OPTIONS), 1);
    assert_int_equal(blob_get_u32(blob + OFF_RESERVED2), 0);
    assert_true(blob_get_u64(blob + OFF_FEATURES) == F);
    assert_int_equal(blob_get_u32(blob + OFF_FLAGS),
                     BN_BATCHNORM_BIASED_RUNNING_VAR | BN_BATCHNORM_FUSE_RELU);
    assert_true(blob_get_f32(blob + OFF_EPS) == 3e-4f);
    assert_true(blob_get_f32(blob + OFF_FACTOR) == 0.3f);
    assert_int_equal(blob_get_u32(blob + OFF_RESERVED), 0);
    assert_true(blob_get_u64(blob + OFF_TRACKED) == 0x123456789ull + F);
    static const bn_batchnorm_tensor t[] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                            BN_BATCHNORM_RUNNING_MEAN, BN_BATCHNORM_RUNNING_VAR};
    float *v = test_floats(F);
    for (size_t k = 0; k < 4; k++) {
      assert_ok(bn_batchnorm_get(l, t[k], v, F));
      for (size_t f = 0; f < F; f++) {
        float b = blob_get_f32(blob + OFF_VECTORS + 4 * (k * F + f));
        assert_memory_equal(&b, &v[f], sizeof b);
      }
    }
    assert_int_equal(blob_get_u32(blob + size - 4), blob_crc32(blob, size - 4));
    free(v);
    free(blob);
    bn_batchnorm_destroy(l);
  }
}

/* save -> load into a fresh layer restores everything: flags, eps, update
 * factor, batches tracked, gamma, beta, running mean and var (bit for bit);
 * the restored layer saves the identical blob and computes identical
 * outputs in both modes. A larger buffer is fine (written = size, the rest
 * untouched). */
static void round_trip_restores_everything(void **state)
{
  (void)state;
  static const unsigned flag_sets[] = {0, BN_BATCHNORM_FUSE_RELU | BN_BATCHNORM_BIASED_RUNNING_VAR,
                                       BN_BATCHNORM_CUMULATIVE_AVERAGE};
  for (size_t c = 0; c < 3; c++) {
    const size_t F = 17, N = 11;
    bn_batchnorm *a = make_layer(F, flag_sets[c], 40 + c), *b = NULL;
    assert_ok(bn_batchnorm_create(&b, F, 0));
    size_t size = 0;
    assert_ok(bn_batchnorm_serialized_size(a, &size));
    unsigned char *blob = malloc(size + 16);
    assert_non_null(blob);
    memset(blob, 0xA5, size + 16);
    size_t written = 0;
    assert_ok(bn_batchnorm_serialize(a, blob, size + 16, &written));
    assert_int_equal(written, size);
    for (size_t i = size; i < size + 16; i++)
      assert_int_equal(blob[i], 0xA5);
    assert_ok(load_exact(b, blob, size));

    unsigned flags = 0;
    float eps = 0, factor = 0;
    uint64_t tracked = 0;
    assert_ok(bn_batchnorm_flags(b, &flags));
    assert_int_equal(flags, flag_sets[c]);
    assert_ok(bn_batchnorm_get_eps(b, &eps));
    assert_true(eps == 3e-4f);
    assert_ok(bn_batchnorm_get_update_factor(b, &factor));
    assert_true(factor == 0.3f);
    assert_ok(bn_batchnorm_batches_tracked(b, &tracked));
    assert_true(tracked == 0x123456789ull + 40 + c);
    float va[17], vb[17];
    static const bn_batchnorm_tensor t[] = {BN_BATCHNORM_GAMMA, BN_BATCHNORM_BETA,
                                            BN_BATCHNORM_RUNNING_MEAN, BN_BATCHNORM_RUNNING_VAR};
    for (size_t k = 0; k < 4; k++) {
      assert_ok(bn_batchnorm_get(a, t[k], va, F));
      assert_ok(bn_batchnorm_get(b, t[k], vb, F));
      assert_memory_equal(va, vb, sizeof va);
    }
    assert_unchanged(b, blob, size);

    /* same behaviour: inference, then a training step, then backward */
    test_rng rng = {77};
    test_problem p;
    test_problem_make(&p, &rng, F, N, F, F, 0, 0);
    float *ya = test_floats(F * N), *yb = test_floats(F * N), *dxa = test_floats(F * N),
          *dxb = test_floats(F * N);
    for (int mode = BN_MODE_INFERENCE; mode >= BN_MODE_TRAINING; mode--) {
      assert_ok(bn_batchnorm_forward(a, (bn_mode)mode, N, p.x, F, ya, F));
      assert_ok(bn_batchnorm_forward(b, (bn_mode)mode, N, p.x, F, yb, F));
      assert_memory_equal(ya, yb, F * N * sizeof *ya);
      assert_ok(bn_batchnorm_backward(a, N, p.x, F, p.dy, F, dxa, F));
      assert_ok(bn_batchnorm_backward(b, N, p.x, F, p.dy, F, dxb, F));
      assert_memory_equal(dxa, dxb, F * N * sizeof *dxa);
    }
    size_t sa = 0, sb = 0;
    unsigned char *ba = snapshot(a, &sa), *bb = snapshot(b, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(ba, bb, sa); /* running statistics updated alike */
    free(ba);
    free(bb);
    free(ya);
    free(yb);
    free(dxa);
    free(dxb);
    test_problem_free(&p);
    free(blob);
    bn_batchnorm_destroy(a);
    bn_batchnorm_destroy(b);
  }
}

/* Flags restored from a blob take effect: NO_RUNNING_STATS makes the running
 * statistics unavailable, NO_SCALE makes gamma unavailable. */
static void loaded_flags_take_effect(void **state)
{
  (void)state;
  const size_t F = 3;
  bn_batchnorm *l = make_layer(F, BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_NO_SCALE, 5);
  float v[3];
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, v, F), BN_ERR_WRONG_STATE);
  assert_status(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, v, F), BN_ERR_WRONG_STATE);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_BETA, v, F));
  bn_batchnorm_destroy(l);
}

/* save_state with a buffer smaller than state_size fails with
 * BN_ERR_BAD_SIZE and writes nothing. */
static void save_needs_enough_capacity(void **state)
{
  (void)state;
  bn_batchnorm *l = make_layer(5, 0, 6);
  size_t size = 0;
  assert_ok(bn_batchnorm_serialized_size(l, &size));
  unsigned char *blob = malloc(size);
  assert_non_null(blob);
  static const size_t caps[] = {0, 1, 56, 59, 60};
  for (size_t i = 0; i < 6; i++) {
    size_t cap = i < 5 ? caps[i] : size - 1;
    memset(blob, 0x5A, size);
    size_t written = 12345;
    assert_status(bn_batchnorm_serialize(l, blob, cap, &written), BN_ERR_BAD_SIZE);
    assert_int_equal(written, 12345);
    for (size_t k = 0; k < size; k++)
      assert_int_equal(blob[k], 0x5A);
  }
  assert_true(bn_batchnorm_last_error(l)[0] != '\0');
  free(blob);
  bn_batchnorm_destroy(l);
}

/* A blob cut at every length 0..size-1, or with extra bytes appended, is
 * rejected with BN_ERR_BAD_SIZE, without reading past its end, and the layer
 * (including a pending backward) is unchanged. */
static void truncated_or_padded_blob_is_rejected(void **state)
{
  (void)state;
  const size_t F = 4, N = 3;
  bn_batchnorm *src = make_layer(F, BN_BATCHNORM_FUSE_RELU, 7), *dst = make_layer(F, 0, 8);
  size_t size = 0, dsize = 0;
  unsigned char *blob = snapshot(src, &size);
  test_rng rng = {9};
  test_problem p;
  test_problem_make(&p, &rng, F, N, F, F, 0, 0);
  float y[12], dx[12];
  assert_ok(bn_batchnorm_forward(dst, BN_MODE_TRAINING, N, p.x, F, y, F));
  unsigned char *before = snapshot(dst, &dsize);
  for (size_t n = 0; n < size; n++) {
    bn_status st = load_exact(dst, blob, n);
    if (st != BN_ERR_BAD_SIZE)
      fail_msg("blob truncated to %zu of %zu bytes: %s", n, size, bn_status_string(st));
  }
  unsigned char *longer = calloc(size + 3, 1);
  assert_non_null(longer);
  memcpy(longer, blob, size);
  for (size_t extra = 1; extra <= 3; extra++)
    assert_status(load_exact(dst, longer, size + extra), BN_ERR_BAD_SIZE);
  assert_true(bn_batchnorm_last_error(dst)[0] != '\0');
  assert_unchanged(dst, before, dsize);
  assert_ok(bn_batchnorm_backward(dst, N, p.x, F, p.dy, F, dx, F)); /* still pending */
  free(longer);
  free(before);
  free(blob);
  test_problem_free(&p);
  bn_batchnorm_destroy(src);
  bn_batchnorm_destroy(dst);
}

/* Every single corrupted byte (xor 0xFF) is rejected and leaves the layer
 * unchanged: magic bytes -> BN_ERR_BAD_MAGIC, version -> BN_ERR_VERSION_MISMATCH,
 * feature count -> the size no longer matches (BN_ERR_BAD_SIZE) or the CRC
 * fails, any other byte (header fields, vectors, the CRC itself) ->
 * BN_ERR_CHECKSUM. */
static void every_corrupted_byte_is_rejected(void **state)
{
  (void)state;
  const size_t F = 17;
  bn_batchnorm *src = make_layer(F, BN_BATCHNORM_BIASED_RUNNING_VAR, 10);
  bn_batchnorm *dst = make_layer(F, 0, 11);
  size_t size = 0, dsize = 0;
  unsigned char *blob = snapshot(src, &size), *before = snapshot(dst, &dsize);
  for (size_t i = 0; i < size; i++) {
    blob[i] ^= 0xFF;
    bn_status st = load_exact(dst, blob, size);
    blob[i] ^= 0xFF;
    int ok;
    if (i < OFF_VERSION)
      ok = st == BN_ERR_BAD_MAGIC;
    else if (i < OFF_FEATURES)
      ok = st == BN_ERR_VERSION_MISMATCH;
    else if (i < OFF_FLAGS)
      ok = st == BN_ERR_BAD_SIZE || st == BN_ERR_CHECKSUM;
    else
      ok = st == BN_ERR_CHECKSUM;
    if (!ok)
      fail_msg("byte %zu of %zu corrupted: %s", i, size, bn_status_string(st));
  }
  assert_unchanged(dst, before, dsize);
  assert_ok(load_exact(dst, blob, size)); /* the blob itself was restored intact */
  free(before);
  free(blob);
  bn_batchnorm_destroy(src);
  bn_batchnorm_destroy(dst);
}

/* A valid blob of another feature count gives BN_ERR_SHAPE_MISMATCH and
 * leaves the layer unchanged. */
static void feature_count_mismatch(void **state)
{
  (void)state;
  bn_batchnorm *src = make_layer(4, 0, 12), *dst = make_layer(5, 0, 13);
  size_t size = 0, dsize = 0;
  unsigned char *blob = snapshot(src, &size), *before = snapshot(dst, &dsize);
  assert_status(load_exact(dst, blob, size), BN_ERR_SHAPE_MISMATCH);
  assert_true(bn_batchnorm_last_error(dst)[0] != '\0');
  assert_unchanged(dst, before, dsize);
  free(before);
  free(blob);
  bn_batchnorm_destroy(src);
  bn_batchnorm_destroy(dst);
}

/* Well-formed blobs (correct size and CRC, recomputed by the test) with
 * invalid content are rejected with BN_ERR_BAD_FORMAT and change nothing:
 * unknown flag bits, NO_RUNNING_STATS with CUMULATIVE_AVERAGE, a non-zero
 * reserved word, eps <= 0 or non-finite, an update factor outside (0, 1] or
 * non-finite, a non-finite vector value, a negative running variance. A
 * resealed blob with valid edits loads (so the CRC the test writes is right),
 * and a resealed blob with another magic / version keeps those statuses. */
static void valid_crc_invalid_content_is_rejected(void **state)
{
  (void)state;
  const size_t F = 3;
  bn_batchnorm *src = make_layer(F, 0, 14), *dst = make_layer(F, 0, 15);
  size_t size = 0, dsize = 0;
  unsigned char *good = snapshot(src, &size), *before = snapshot(dst, &dsize);
  unsigned char *blob = malloc(size);
  assert_non_null(blob);
  const size_t gamma0 = OFF_VECTORS, beta1 = OFF_VECTORS + 4 * (F + 1),
               mean2 = OFF_VECTORS + 4 * (2 * F + 2), var0 = OFF_VECTORS + 4 * 3 * F;
  static const struct {
    const char *what;
    int field; /* 0 u32 at off, 1 f32 at off */
    size_t off;
    uint32_t u;
    float f;
  } cases[] = {
      {"unknown flag bit 7", 0, OFF_FLAGS, 1u << 7, 0},
      {"unknown flag bit 31", 0, OFF_FLAGS, 1u << 31, 0},
      {"all known flags plus one more", 0, OFF_FLAGS, ALL_FLAGS | 0x100u, 0},
      {"no running stats + cumulative", 0, OFF_FLAGS,
       BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_CUMULATIVE_AVERAGE, 0},
      {"no running stats + renorm", 0, OFF_FLAGS,
       BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_RENORM, 0},
      {"rmax below 1", 1, OFF_RMAX, 0, 0.5f},
      {"rmax NaN", 1, OFF_RMAX, 0, NAN},
      {"rmax inf", 1, OFF_RMAX, 0, INFINITY},
      {"dmax negative", 1, OFF_DMAX, 0, -0.25f},
      {"dmax NaN", 1, OFF_DMAX, 0, NAN},
      {"unknown option", 0, OFF_OPTIONS, 2, 0},
      {"reserved 2", 0, OFF_RESERVED2, 1, 0},
      {"reserved 1", 0, OFF_RESERVED, 1, 0},
      {"reserved high bit", 0, OFF_RESERVED, 0x80000000u, 0},
      {"eps 0", 1, OFF_EPS, 0, 0.0f},
      {"eps -0", 1, OFF_EPS, 0, -0.0f},
      {"eps negative", 1, OFF_EPS, 0, -1e-5f},
      {"eps NaN", 1, OFF_EPS, 0, NAN},
      {"eps inf", 1, OFF_EPS, 0, INFINITY},
      {"factor 0", 1, OFF_FACTOR, 0, 0.0f},
      {"factor > 1", 1, OFF_FACTOR, 0, 1.5f},
      {"factor negative", 1, OFF_FACTOR, 0, -0.1f},
      {"factor NaN", 1, OFF_FACTOR, 0, NAN},
      {"gamma NaN", 1, 0, 0, NAN},
      {"beta inf", 1, 1, 0, INFINITY},
      {"running mean -inf", 1, 2, 0, -INFINITY},
      {"running var negative", 1, 3, 0, -1.0f},
      {"running var NaN", 1, 3, 0, NAN},
  };
  const size_t vec_off[4] = {gamma0, beta1, mean2, var0};
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    memcpy(blob, good, size);
    size_t off = cases[c].off < 4 ? vec_off[cases[c].off] : cases[c].off;
    if (cases[c].field == 0)
      blob_put_u32(blob + off, cases[c].u);
    else
      blob_put_f32(blob + off, cases[c].f);
    blob_reseal(blob, size);
    bn_status st = load_exact(dst, blob, size);
    if (st != BN_ERR_BAD_FORMAT)
      fail_msg("%s: %s, expected bad format", cases[c].what, bn_status_string(st));
    assert_unchanged(dst, before, dsize);
  }
  /* control: valid edits with a resealed CRC load and take effect */
  memcpy(blob, good, size);
  blob_put_f32(blob + OFF_EPS, 0.5f);
  blob_put_f32(blob + OFF_FACTOR, 1.0f);
  blob_put_f32(blob + var0, 0.0f); /* a zero running variance is valid */
  blob_reseal(blob, size);
  assert_ok(load_exact(dst, blob, size));
  float eps = 0;
  assert_ok(bn_batchnorm_get_eps(dst, &eps));
  assert_true(eps == 0.5f);
  /* resealed wrong magic / version keep their own statuses */
  memcpy(blob, good, size);
  blob[3] = 'X';
  blob_reseal(blob, size);
  assert_status(load_exact(dst, blob, size), BN_ERR_BAD_MAGIC);
  memcpy(blob, good, size);
  blob_put_u32(blob + OFF_VERSION, 3);
  blob_reseal(blob, size);
  assert_status(load_exact(dst, blob, size), BN_ERR_VERSION_MISMATCH);
  blob_put_u32(blob + OFF_VERSION, 0);
  blob_reseal(blob, size);
  assert_status(load_exact(dst, blob, size), BN_ERR_VERSION_MISMATCH);
  free(blob);
  free(good);
  free(before);
  bn_batchnorm_destroy(src);
  bn_batchnorm_destroy(dst);
}

/* The superseded names are the same functions: the same bytes, the same
 * statuses on bad input, the same restored layer. NULL arguments are
 * argument errors for every one of the six. */
static void superseded_names_are_aliases(void **state)
{
  (void)state;
  const size_t F = 7;
  bn_batchnorm *a = make_layer(F, BN_BATCHNORM_BIASED_RUNNING_VAR, 90), *b = NULL;
  assert_ok(bn_batchnorm_create(&b, F, 0));
  size_t size = 0, old_size = 0, w1 = 0, w2 = 0;
  assert_ok(bn_batchnorm_serialized_size(a, &size));
  assert_ok(bn_batchnorm_state_size(a, &old_size));
  assert_int_equal(size, old_size);
  unsigned char *b1 = malloc(size), *b2 = malloc(size);
  assert_ok(bn_batchnorm_serialize(a, b1, size, &w1));
  assert_ok(bn_batchnorm_save_state(a, b2, size, &w2));
  assert_int_equal(w1, w2);
  assert_memory_equal(b1, b2, size);
  assert_status(bn_batchnorm_save_state(a, b2, size - 1, NULL), BN_ERR_BAD_SIZE);
  assert_status(bn_batchnorm_serialize(a, b2, size - 1, NULL), BN_ERR_BAD_SIZE);
  assert_ok(bn_batchnorm_load_state(b, b1, size));
  assert_unchanged(b, b1, size);
  b1[0] ^= 1;
  assert_status(bn_batchnorm_load_state(b, b1, size), BN_ERR_BAD_MAGIC);
  assert_status(bn_batchnorm_deserialize(b, b1, size), BN_ERR_BAD_MAGIC);
  b1[0] ^= 1;

  assert_status(bn_batchnorm_serialized_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_serialized_size(a, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_serialize(NULL, b2, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_serialize(a, NULL, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_deserialize(NULL, b1, size), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_deserialize(b, NULL, size), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_state_size(NULL, &size), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_save_state(a, NULL, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_load_state(b, NULL, size), BN_ERR_INVALID_ARGUMENT);
  assert_unchanged(b, b1, size);
  free(b1);
  free(b2);
  bn_batchnorm_destroy(a);
  bn_batchnorm_destroy(b);
}

/* A version-1 blob written by libbn 1.0 (F = 3, BIASED_RUNNING_VAR |
 * FUSE_RELU, eps 1e-3, factor 0.25, 7 batches tracked, gamma {1.5, -0.5, 2},
 * beta {0.25, 0, -1}, running mean {0.5, -2, 3}, running var {1, 0.25, 4}):
 * blobs already written keep loading, whatever version this library writes. */
static const unsigned char STATE_V1_FIXTURE[] = {
    0x42, 0x4e, 0x53, 0x54, 0x01, 0x00, 0x00, 0x00, 0x03, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x30, 0x00, 0x00, 0x00, 0x6f, 0x12, 0x83, 0x3a,
    0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x00, 0x07, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0x3f, 0x00, 0x00, 0x00, 0xbf,
    0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x80, 0x3e, 0x00, 0x00, 0x00, 0x00,
    0x00, 0x00, 0x80, 0xbf, 0x00, 0x00, 0x00, 0x3f, 0x00, 0x00, 0x00, 0xc0,
    0x00, 0x00, 0x40, 0x40, 0x00, 0x00, 0x80, 0x3f, 0x00, 0x00, 0x80, 0x3e,
    0x00, 0x00, 0x80, 0x40, 0xe0, 0x7f, 0x53, 0x9f,
};

static void version1_fixture_loads(void **state)
{
  (void)state;
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, 3, 0));
  assert_ok(load_exact(l, STATE_V1_FIXTURE, sizeof STATE_V1_FIXTURE));
  unsigned flags = 0;
  double eps = 0, factor = 0, tracked = 0;
  assert_ok(bn_batchnorm_flags(l, &flags));
  assert_int_equal(flags, BN_BATCHNORM_BIASED_RUNNING_VAR | BN_BATCHNORM_FUSE_RELU);
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_EPSILON, &eps));
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_UPDATE_FACTOR, &factor));
  assert_ok(bn_batchnorm_get_parameter(l, BN_BATCHNORM_BATCHES_TRACKED, &tracked));
  assert_true(eps == (double)1e-3f && factor == 0.25 && tracked == 7.0);
  static const struct {
    bn_batchnorm_tensor which;
    float v[3];
  } expect[] = {{BN_BATCHNORM_GAMMA, {1.5f, -0.5f, 2.0f}},
                {BN_BATCHNORM_BETA, {0.25f, 0.0f, -1.0f}},
                {BN_BATCHNORM_RUNNING_MEAN, {0.5f, -2.0f, 3.0f}},
                {BN_BATCHNORM_RUNNING_VAR, {1.0f, 0.25f, 4.0f}}};
  for (size_t k = 0; k < 4; k++) {
    float got[3];
    assert_ok(bn_batchnorm_get(l, expect[k].which, got, 3));
    assert_memory_equal(got, expect[k].v, sizeof got);
  }
  bn_batchnorm_destroy(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(crc32_self_check),
      cmocka_unit_test(blob_has_documented_format),
      cmocka_unit_test(round_trip_restores_everything),
      cmocka_unit_test(loaded_flags_take_effect),
      cmocka_unit_test(save_needs_enough_capacity),
      cmocka_unit_test(truncated_or_padded_blob_is_rejected),
      cmocka_unit_test(every_corrupted_byte_is_rejected),
      cmocka_unit_test(feature_count_mismatch),
      cmocka_unit_test(valid_crc_invalid_content_is_rejected),
      cmocka_unit_test(superseded_names_are_aliases),
      cmocka_unit_test(version1_fixture_loads),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

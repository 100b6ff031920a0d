/* Writes the fuzzers' seed corpora from valid objects, so that no opaque
 * blob is committed: make_seeds FIXTURE_DIR OUT_DIR creates OUT_DIR/HARNESS/
 * for each harness (tests/fuzz/fuzz_HARNESS.c) and fills it.
 *
 * Each seed is one line of a table below. Model files of older format
 * versions come from the committed fixtures (model_fixtures[]): when a
 * format version adds fixtures, one line there makes them seeds; the current
 * version's seeds are written by this build's bn_mlp_serialize. */
#define _POSIX_C_SOURCE 200809L
#include <bn/bn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <zlib.h>

static const char *out_dir;

static void die(const char *what, const char *detail)
{
  fprintf(stderr, "make_seeds: %s: %s\n", what, detail);
  exit(1);
}

static void put(const char *harness, const char *name, const void *data, size_t size)
{
  char path[4096];
  snprintf(path, sizeof path, "%s/%s", out_dir, harness);
  if (mkdir(path, 0755) != 0 && errno != EEXIST)
    die(path, strerror(errno));
  snprintf(path, sizeof path, "%s/%s/%s", out_dir, harness, name);
  FILE *f = fopen(path, "wb");
  if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0)
    die(path, "cannot write");
}

/* A harness input: its choice bytes, then the payload. */
static void put_prefixed(const char *harness, const char *name, const unsigned char *prefix,
                         size_t np, const void *data, size_t size)
{
  unsigned char *b = malloc(np + size + 1);
  if (!b)
    die(name, "out of memory");
  memcpy(b, prefix, np);
  memcpy(b + np, data, size);
  put(harness, name, b, np + size);
  free(b);
}

static void check(bn_status st, const char *what)
{
  if (st != BN_OK)
    die(what, bn_status_string(st));
}

/* ---- BatchNorm and dense state blobs ------------------------------------- */

static void batchnorm_seed(const char *name, size_t features, unsigned flags, int trained)
{
  bn_batchnorm *bn = NULL;
  check(bn_batchnorm_create(&bn, features, flags), name);
  if (trained) {
    float x[16 * 4], y[16 * 4];
    for (size_t i = 0; i < features * 4; i++)
      x[i] = (float)((i * 7) % 11) - 5.0f;
    check(bn_batchnorm_forward(bn, BN_MODE_TRAINING, 4, x, features, y, features), name);
  }
  size_t need = 0, written = 0;
  check(bn_batchnorm_serialized_size(bn, &need), name);
  unsigned char *b = malloc(need);
  check(b ? bn_batchnorm_serialize(bn, b, need, &written) : BN_ERR_OUT_OF_MEMORY, name);
  unsigned char prefix[2] = {(unsigned char)(features - 1), (unsigned char)flags};
  put_prefixed("batchnorm_state", name, prefix, 2, b, written);
  free(b);
  bn_batchnorm_destroy(bn);
}

static void dense_seed(const char *name, size_t in, size_t out, unsigned flags, uint64_t seed)
{
  bn_dense *d = NULL;
  bn_rng rng;
  check(bn_rng_seed(&rng, seed), name);
  check(bn_dense_create(&d, in, out, flags), name);
  check(bn_dense_init(d, BN_INIT_GLOROT_NORMAL, &rng), name);
  size_t need = 0, written = 0;
  check(bn_dense_serialized_size(d, &need), name);
  unsigned char *b = malloc(need);
  check(b ? bn_dense_serialize(d, b, need, &written) : BN_ERR_OUT_OF_MEMORY, name);
  unsigned char prefix[3] = {(unsigned char)(in - 1), (unsigned char)(out - 1),
                             (unsigned char)flags};
  put_prefixed("dense_state", name, prefix, 3, b, written);
  free(b);
  bn_dense_destroy(d);
}

/* ---- the standardizer's state --------------------------------------------- */

static void standardizer_seed(const char *name, size_t features, size_t n, int with_mean)
{
  bn_standardizer *s = NULL;
  check(bn_standardizer_create(&s, features), name);
  check(bn_standardizer_set_parameter(s, BN_STANDARDIZER_WITH_MEAN, with_mean), name);
  if (n > 0) {
    float x[8 * 8];
    for (size_t i = 0; i < features * n; i++)
      x[i] = (float)((i * 5) % 9) * 0.5f;
    check(bn_standardizer_fit(s, n, x, features), name);
  }
  size_t need = 0, written = 0;
  check(bn_standardizer_serialized_size(s, &need), name);
  unsigned char *b = malloc(need);
  check(b ? bn_standardizer_serialize(s, b, need, &written) : BN_ERR_OUT_OF_MEMORY, name);
  put("standardizer_state", name, b, written);
  free(b);
  bn_standardizer_destroy(s);
}

/* ---- model files ----------------------------------------------------------- */

static void model_seed(const char *name, size_t layers, bn_mlp_placement placement,
                       bn_mlp_head head, unsigned flags, int optimizer, unsigned save_flags)
{
  static const size_t hidden[2] = {4, 3};
  const size_t inputs = 3, outputs = 2;
  bn_mlp *m = NULL;
  bn_rng rng;
  check(bn_rng_seed(&rng, 7), name);
  check(bn_mlp_create(&m, inputs, hidden, layers, outputs, BN_ACT_RELU, placement, head, flags),
        name);
  check(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), name);
  check(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, optimizer), name);
  float x[3 * 4] = {1, 2, 3, -1, 0, 1, 2, 2, -2, 0.5f, -0.5f, 1};
  int32_t labels[4] = {0, 1, 1, 0};
  float targets[2 * 4] = {0, 1, 1, 0, 1, 1, 0, 0};
  float loss;
  const int softmax = head == BN_MLP_HEAD_SOFTMAX;
  check(bn_mlp_train_step(m, 4, x, inputs, softmax ? labels : NULL, softmax ? NULL : targets,
                          &loss),
        name);
  size_t need = 0, written = 0;
  check(bn_mlp_serialized_size(m, save_flags, &need), name);
  unsigned char *b = malloc(need);
  check(b ? bn_mlp_serialize(m, save_flags, b, need, &written) : BN_ERR_OUT_OF_MEMORY, name);
  put("model_file", name, b, written);
  free(b);
  bn_mlp_destroy(m);
}

/* Committed model files of earlier format versions (tests/fixtures). */
static const char *const model_fixtures[] = {
  "after_relu_biased_nesterov.bnm",          /* format 1 */
  "after_tanh_sigmoid.bnm",                  /* format 1 */
  "before_relu_softmax_adam.bnm",            /* format 1 */
  "before_sigmoid_inputbn_biased_adam.bnm",  /* format 1 */
  "nolayers_softmax_momentum.bnm",           /* format 1 */
  "none_elu_inputbn_softmax.bnm",            /* format 1 */
  "v2_all_record_none_elu_softmax.bnm",          /* format 2: every stage, a training record */
  "v2_headbn_after_tanh_sigmoid.bnm",            /* format 2: head BatchNorm */
  "v2_record_only_nolayers_sgd.bnm",             /* format 2: a record, no hidden layer */
  "v2_standardize_inputbn_before_relu_adam.bnm", /* format 2: standardizer stage */
};

static void fixture_seed(const char *dir, const char *file)
{
  char path[4096], name[512];
  snprintf(path, sizeof path, "%s/%s", dir, file);
  FILE *f = fopen(path, "rb");
  if (!f)
    die(path, strerror(errno));
  static unsigned char buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  snprintf(name, sizeof name, "fixture_%s", file);
  put("model_file", name, buf, n);
}

/* ---- the bn program's readers ---------------------------------------------- */

static const char *const csv_seeds[][2] = {
  /* {name, text}; the harness's first byte (the header and label choice) leads */
  {"header_label_last", "\x05x1,x2,label\n1,2,0\n3.5,-4e-3,1\n"},
  {"numeric_first_row", "\x00" "1,2,3\n4,5,6\n"},
  {"crlf_bom", "\x0a\xEF\xBB\xBF" "a,b\r\n1,2\r\n\r\n"},
  {"subnormal_nan_label", "\x03" "1e-40,2,nan\n1e38,-0,1\n"},
  {"errors", "\x01" "1,2\n3\n1,,2\n"},
};

static void idx_seed(const char *name, int ndims, const size_t *dims, int gz)
{
  unsigned char b[64 + 4 * 5 * 3];
  size_t n = 0, items = 1;
  b[n++] = 0, b[n++] = 0, b[n++] = 0x08, b[n++] = (unsigned char)ndims;
  for (int d = 0; d < ndims; d++) {
    for (int k = 3; k >= 0; k--)
      b[n++] = (unsigned char)(dims[d] >> (8 * k));
    items *= dims[d];
  }
  for (size_t i = 0; i < items; i++)
    b[n++] = (unsigned char)(i * 37);
  unsigned char prefix = (unsigned char)(ndims - 1);
  if (!gz) {
    put_prefixed("idx", name, &prefix, 1, b, n);
    return;
  }
  unsigned char z[512];
  uLongf zn = sizeof z;
  /* gzip framing (windowBits 16 + 15), as the datasets are shipped */
  z_stream s;
  memset(&s, 0, sizeof s);
  if (deflateInit2(&s, 9, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK)
    die(name, "deflateInit2");
  s.next_in = b, s.avail_in = (uInt)n, s.next_out = z, s.avail_out = (uInt)zn;
  if (deflate(&s, Z_FINISH) != Z_STREAM_END)
    die(name, "deflate");
  zn = s.total_out;
  deflateEnd(&s);
  put_prefixed("idx", name, &prefix, 1, z, zn);
}

static void npy_seed(const char *name, unsigned char choice, const char *descr,
                     const char *shape, size_t item, size_t count)
{
  char header[128];
  int len = snprintf(header, sizeof header,
                     "{'descr': '%s', 'fortran_order': False, 'shape': %s, }", descr, shape);
  size_t total = 10 + (size_t)len + 1;
  size_t pad = (64 - total % 64) % 64;
  unsigned char b[512];
  size_t n = 0;
  b[n++] = choice;
  memcpy(b + n, "\x93NUMPY\x01\x00", 8), n += 8;
  size_t hl = (size_t)len + pad + 1;
  b[n++] = (unsigned char)(hl & 0xff), b[n++] = (unsigned char)(hl >> 8);
  memcpy(b + n, header, (size_t)len), n += (size_t)len;
  memset(b + n, ' ', pad), n += pad;
  b[n++] = '\n';
  for (size_t i = 0; i < item * count; i++)
    b[n++] = (unsigned char)(i % 3 == 0 ? 0 : 0x3f); /* small finite floats, whole numbers */
  put("npy", name, b, n);
}

/* ---- the API sequences ------------------------------------------------------- */

/* harness: api or api_features; both read choice bytes only, so the same
 * random and every-op sequences start both. */
static void api_seeds(const char *harness)
{
  bn_rng rng;
  check(bn_rng_seed(&rng, 2026), harness);
  for (int k = 0; k < 8; k++) {
    unsigned char b[256];
    for (size_t i = 0; i < sizeof b; i += 8) {
      uint64_t v;
      check(bn_rng_next_u64(&rng, &v), harness);
      memcpy(b + i, &v, 8);
    }
    char name[32];
    snprintf(name, sizeof name, "random_%d", k);
    put(harness, name, b, sizeof b);
  }
  /* every handle, then each call in turn: a sequence that touches all ops */
  unsigned char all[16 + 256];
  memset(all, 3, 16);
  for (size_t i = 0; i < 256; i++)
    all[16 + i] = (unsigned char)i;
  put(harness, "every_op", all, sizeof all);
}

/* fuzz_api_features with every feature on: a renorm layer (fused ReLU, no
 * affine, cumulative biased statistics) and an MLP with two hidden
 * BatchNorm layers and every flag (standardizer stage, head BatchNorm,
 * renorm), softmax then sigmoid head, then each call in turn. The first 16
 * bytes are create_all's choices, in its order. */
static void api_features_seeds(void)
{
  static const unsigned char every_flag[2][16] = {
      {3, 0x7b, 3, 3, 3, 3, 2, 0, 1, 1, 1, 0x1f, 1, 2, 3, 4},
      {4, 0x40, 2, 4, 2, 5, 1, 1, 0, 4, 2, 0x1c, 5, 6, 7, 8}};
  for (int k = 0; k < 2; k++) {
    unsigned char b[16 + 256];
    memcpy(b, every_flag[k], 16);
    for (size_t i = 0; i < 256; i++)
      b[16 + i] = (unsigned char)i;
    put("api_features", k ? "every_flag_sigmoid" : "every_flag_softmax", b, sizeof b);
  }
}

int main(int argc, char **argv)
{
  if (argc != 3) {
    fprintf(stderr, "usage: make_seeds FIXTURE_DIR OUT_DIR\n");
    return 2;
  }
  out_dir = argv[2];
  if (mkdir(out_dir, 0755) != 0 && errno != EEXIST)
    die(out_dir, strerror(errno));

  batchnorm_seed("default_fresh", 4, 0, 0);
  batchnorm_seed("default_trained", 4, 0, 1);
  batchnorm_seed("no_affine", 3, BN_BATCHNORM_NO_SCALE | BN_BATCHNORM_NO_SHIFT, 1);
  batchnorm_seed("no_running", 5, BN_BATCHNORM_NO_RUNNING_STATS, 1);
  batchnorm_seed("cumulative_biased", 2,
                 BN_BATCHNORM_CUMULATIVE_AVERAGE | BN_BATCHNORM_BIASED_RUNNING_VAR, 1);
  batchnorm_seed("fused_relu", 6, BN_BATCHNORM_FUSE_RELU, 1);

  dense_seed("bias_3x2", 3, 2, 0, 1);
  dense_seed("no_bias_4x4", 4, 4, BN_DENSE_NO_BIAS, 2);
  dense_seed("bias_1x8", 1, 8, 0, 3);

  standardizer_seed("unfitted", 3, 0, 1);
  standardizer_seed("fitted", 3, 5, 1);
  standardizer_seed("fitted_no_mean", 7, 4, 0);

  model_seed("before_softmax", 2, BN_MLP_BN_BEFORE, BN_MLP_HEAD_SOFTMAX, 0, BN_MLP_ADAM, 0);
  model_seed("before_softmax_adam_state", 2, BN_MLP_BN_BEFORE, BN_MLP_HEAD_SOFTMAX,
             BN_MLP_INPUT_BATCHNORM, BN_MLP_ADAM, BN_MLP_SAVE_OPTIMIZER);
  model_seed("after_sigmoid_momentum_state", 1, BN_MLP_BN_AFTER, BN_MLP_HEAD_SIGMOID,
             BN_MLP_BIASED_RUNNING_VAR, BN_MLP_MOMENTUM, BN_MLP_SAVE_OPTIMIZER);
  model_seed("none_nolayers", 0, BN_MLP_BN_NONE, BN_MLP_HEAD_SOFTMAX, 0, BN_MLP_SGD, 0);
  for (size_t i = 0; i < sizeof model_fixtures / sizeof model_fixtures[0]; i++)
    fixture_seed(argv[1], model_fixtures[i]);

  static const size_t images[3] = {3, 2, 2}, labels[1] = {5};
  idx_seed("images", 3, images, 0);
  idx_seed("labels", 1, labels, 0);
  idx_seed("images_gz", 3, images, 1);

  for (size_t i = 0; i < sizeof csv_seeds / sizeof csv_seeds[0]; i++)
    put("csv", csv_seeds[i][0], csv_seeds[i][1], strlen(csv_seeds[i][1] + 1) + 1);

  npy_seed("f4_2d_array", 0, "<f4", "(3, 2)", 4, 6);
  npy_seed("f8_1d_table", 1, "<f8", "(4,)", 8, 4);
  npy_seed("i4_2d_labels", 2, "<i4", "(2, 3)", 4, 6);
  npy_seed("u1_1d", 0, "|u1", "(5,)", 1, 5);

  api_seeds("api");
  api_seeds("api_features");
  api_features_seeds();
  return 0;
}

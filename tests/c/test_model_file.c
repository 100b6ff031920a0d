/* Model files (docs/model-format.md): round trips give identical
 * predictions, resuming from a file gives the weights of uninterrupted
 * training, every truncation and many random corruptions are rejected with
 * the status of their kind of damage, sizes in a corrupt header never drive
 * an allocation, and a failed or crashed save leaves the old file intact. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>
#include <dirent.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <bn/bn.h>
#include <bn/mlp.h>
#include "testing.h"
#include "blob_testing.h"

#define N 200
#define I 7
#define C 3

static float x[N * I];
static int32_t labels[N];
static char dir[256];

static void make_data(void)
{
  test_rng g = {21};
  for (size_t n = 0; n < N; n++) {
    labels[n] = (int32_t)(n % C);
    for (size_t f = 0; f < I; f++)
      x[f + n * I] = (float)(test_rng_normal(&g) + (f == (size_t)labels[n] ? 2.0 : 0.0));
  }
}

static bn_mlp *make_net(bn_mlp_placement placement, unsigned flags, int optimizer)
{
  const size_t hidden[2] = {9, 5};
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, I, hidden, 2, C, BN_ACT_ELU, placement, BN_MLP_HEAD_SOFTMAX,
                                 flags),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, 1234);
  assert_int_equal(bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, optimizer), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 0.01), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, 0.001), BN_OK);
  return m;
}

static void path_in(char *out, size_t cap, const char *name)
{
  snprintf(out, cap, "%s/%s", dir, name);
}

static int setup(void **state)
{
  (void)state;
  make_data();
  snprintf(dir, sizeof dir, "/tmp/bn_test_model_file_XXXXXX");
  return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
  (void)state;
  DIR *d = opendir(dir);
  struct dirent *e;
  char p[512];
  while (d && (e = readdir(d)))
    if (e->d_name[0] != '.') {
      snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
      unlink(p);
    }
  if (d)
    closedir(d);
  rmdir(dir);
  return 0;
}

static unsigned char *serialize(const bn_mlp *m, unsigned flags, size_t *size)
{
  assert_int_equal(bn_mlp_serialized_size(m, flags, size), BN_OK);
  unsigned char *buf = malloc(*size);
  size_t written = 0;
  assert_int_equal(bn_mlp_serialize(m, flags, buf, *size, &written), BN_OK);
  assert_int_equal(written, *size);
  return buf;
}

static void assert_same_predictions(bn_mlp *a, bn_mlp *b)
{
  static float pa[C * N], pb[C * N];
  assert_int_equal(bn_mlp_predict(a, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, pa, C), BN_OK);
  assert_int_equal(bn_mlp_predict(b, BN_MODE_INFERENCE, BN_MLP_LOGITS, N, x, I, pb, C), BN_OK);
  assert_memory_equal(pa, pb, sizeof pa);
}

static void test_round_trip(void **state)
{
  (void)state;
  const bn_mlp_placement placements[3] = {BN_MLP_BN_NONE, BN_MLP_BN_BEFORE, BN_MLP_BN_AFTER};
  for (int k = 0; k < 6; k++) {
    bn_mlp *m = make_net(placements[k % 3], k >= 3 ? BN_MLP_INPUT_BATCHNORM : 0u, BN_MLP_ADAM);
    bn_rng shuffle;
    bn_rng_seed(&shuffle, 3);
    assert_int_equal(bn_mlp_fit(m, N, x, I, labels, NULL, 16, 2, &shuffle, NULL, NULL), BN_OK);
    for (unsigned flags = 0; flags <= BN_MLP_SAVE_OPTIMIZER; flags++) {
      size_t size;
      unsigned char *buf = serialize(m, flags, &size);
      bn_mlp *r = NULL;
      char msg[256] = "untouched";
      assert_int_equal(bn_mlp_deserialize(&r, buf, size, msg, sizeof msg), BN_OK);
      assert_string_equal(msg, "");
      assert_same_predictions(m, r);
      /* Architecture, tunables and statistics came back. */
      size_t layers;
      bn_mlp_placement pl;
      unsigned f;
      assert_int_equal(bn_mlp_architecture(r, NULL, &layers, NULL, NULL, &pl, NULL, &f), BN_OK);
      assert_int_equal(pl, placements[k % 3]);
      assert_int_equal(f, k >= 3 ? BN_MLP_INPUT_BATCHNORM : 0u);
      double lr, wd, step;
      bn_mlp_get_parameter(r, BN_MLP_LEARNING_RATE, &lr);
      bn_mlp_get_parameter(r, BN_MLP_WEIGHT_DECAY, &wd);
      bn_mlp_get_parameter(r, BN_MLP_STEP, &step);
      assert_true(lr == 0.01 && wd == 0.001);
      assert_true(flags ? step == 2 * 13 : step == 0);
      /* Serializing the copy gives the same bytes. */
      size_t size2;
      unsigned char *buf2 = serialize(r, flags, &size2);
      assert_int_equal(size2, size);
      assert_memory_equal(buf, buf2, size);
      free(buf2);
      bn_mlp_destroy(r);
      free(buf);
    }
    /* Through a file. */
    char path[512], msg[256];
    path_in(path, sizeof path, "model.bnm");
    assert_int_equal(bn_mlp_save(m, path, 0), BN_OK);
    bn_mlp *r = NULL;
    assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_OK);
    assert_same_predictions(m, r);
    bn_mlp_destroy(r);
    bn_mlp_destroy(m);
  }
}

/* Training 4 epochs == training 2, saving with the optimizer state, loading
 * and training 2 more, bit for bit, for every optimizer. */
static void test_resume_is_exact(void **state)
{
  (void)state;
  const int optimizers[4] = {BN_MLP_SGD, BN_MLP_MOMENTUM, BN_MLP_NESTEROV, BN_MLP_ADAM};
  char path[512], msg[256];
  path_in(path, sizeof path, "resume.bnm");
  for (int k = 0; k < 4; k++) {
    bn_mlp *full = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, optimizers[k]);
    bn_rng r1;
    bn_rng_seed(&r1, 77);
    assert_int_equal(bn_mlp_fit(full, N, x, I, labels, NULL, 16, 4, &r1, NULL, NULL), BN_OK);

    bn_mlp *first = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, optimizers[k]);
    bn_rng r2;
    bn_rng_seed(&r2, 77);
    assert_int_equal(bn_mlp_fit(first, N, x, I, labels, NULL, 16, 2, &r2, NULL, NULL), BN_OK);
    assert_int_equal(bn_mlp_save(first, path, BN_MLP_SAVE_OPTIMIZER), BN_OK);
    bn_mlp_destroy(first);
    bn_mlp *resumed = NULL;
    assert_int_equal(bn_mlp_load(&resumed, path, msg, sizeof msg), BN_OK);
    assert_int_equal(bn_mlp_fit(resumed, N, x, I, labels, NULL, 16, 2, &r2, NULL, NULL), BN_OK);

    size_t sa, sb;
    unsigned char *a = serialize(full, BN_MLP_SAVE_OPTIMIZER, &sa);
    unsigned char *b = serialize(resumed, BN_MLP_SAVE_OPTIMIZER, &sb);
    assert_int_equal(sa, sb);
    assert_memory_equal(a, b, sa); /* weights, statistics, moments, step */
    free(a);
    free(b);

    /* Without the optimizer state, Adam restarts and the weights differ. */
    if (optimizers[k] == BN_MLP_ADAM) {
      bn_mlp *again = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, optimizers[k]);
      bn_rng r3;
      bn_rng_seed(&r3, 77);
      assert_int_equal(bn_mlp_fit(again, N, x, I, labels, NULL, 16, 2, &r3, NULL, NULL), BN_OK);
      assert_int_equal(bn_mlp_save(again, path, 0), BN_OK);
      bn_mlp_destroy(again);
      assert_int_equal(bn_mlp_load(&again, path, msg, sizeof msg), BN_OK);
      assert_int_equal(bn_mlp_fit(again, N, x, I, labels, NULL, 16, 2, &r3, NULL, NULL), BN_OK);
      float w1[9 * I], w2[9 * I];
      bn_mlp_get(full, 1, BN_MLP_WEIGHT, w1, 9 * I);
      bn_mlp_get(again, 1, BN_MLP_WEIGHT, w2, 9 * I);
      assert_true(memcmp(w1, w2, sizeof w1) != 0);
      bn_mlp_destroy(again);
    }
    bn_mlp_destroy(resumed);
    bn_mlp_destroy(full);
  }
}

/* bn_mlp_deserialize_into: a fresh network with other tunables takes a
 * trained one's whole state (the same bytes back, with the optimizer) and
 * then trains exactly as the original; another architecture or damaged bytes
 * leave it unchanged. */
static void test_deserialize_into(void **state)
{
  (void)state;
  bn_mlp *trained = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM | BN_MLP_RENORM,
                             BN_MLP_ADAM);
  assert_int_equal(bn_mlp_set_parameter(trained, BN_MLP_RENORM_SCHEDULE, 0), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(trained, BN_MLP_BN_UPDATE_FACTOR, 0.3), BN_OK);
  bn_rng r1;
  bn_rng_seed(&r1, 5);
  assert_int_equal(bn_mlp_fit(trained, N, x, I, labels, NULL, 16, 1, &r1, NULL, NULL), BN_OK);
  size_t size;
  unsigned char *bytes = serialize(trained, BN_MLP_SAVE_OPTIMIZER, &size);

  bn_mlp *other = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM | BN_MLP_RENORM,
                           BN_MLP_SGD);
  assert_int_equal(bn_mlp_set_parameter(other, BN_MLP_LEARNING_RATE, 0.5), BN_OK);
  assert_int_equal(bn_mlp_deserialize_into(other, bytes, size), BN_OK);
  size_t size2;
  unsigned char *back = serialize(other, BN_MLP_SAVE_OPTIMIZER, &size2);
  assert_int_equal(size2, size);
  assert_memory_equal(back, bytes, size); /* tunables, counters, moments, step */
  free(back);
  bn_rng r2 = r1;
  assert_int_equal(bn_mlp_fit(trained, N, x, I, labels, NULL, 16, 1, &r1, NULL, NULL), BN_OK);
  assert_int_equal(bn_mlp_fit(other, N, x, I, labels, NULL, 16, 1, &r2, NULL, NULL), BN_OK);
  unsigned char *a = serialize(trained, BN_MLP_SAVE_OPTIMIZER, &size);
  unsigned char *b = serialize(other, BN_MLP_SAVE_OPTIMIZER, &size2);
  assert_int_equal(size2, size);
  assert_memory_equal(a, b, size);
  free(b);

  /* refused: the handle keeps its state */
  const size_t hidden[2] = {9, 4};
  bn_mlp *narrow = NULL;
  assert_int_equal(bn_mlp_create(&narrow, I, hidden, 2, C, BN_ACT_ELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, BN_MLP_INPUT_BATCHNORM | BN_MLP_RENORM),
                   BN_OK);
  assert_int_equal(bn_mlp_deserialize_into(narrow, a, size), BN_ERR_SHAPE_MISMATCH);
  assert_non_null(strstr(bn_mlp_last_error(narrow), "architecture"));
  bn_mlp_destroy(narrow);
  bn_mlp *plain = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_ADAM);
  assert_int_equal(bn_mlp_deserialize_into(plain, a, size), BN_ERR_SHAPE_MISMATCH); /* flags */
  bn_mlp_destroy(plain);
  a[size / 2] ^= 0x40;
  assert_int_equal(bn_mlp_deserialize_into(other, a, size), BN_ERR_CHECKSUM);
  assert_true(bn_mlp_last_error(other)[0] != '\0');
  assert_int_equal(bn_mlp_deserialize_into(other, a, 10), BN_ERR_BAD_SIZE);
  b = serialize(other, BN_MLP_SAVE_OPTIMIZER, &size2);
  a[size / 2] ^= 0x40;
  assert_memory_equal(a, b, size); /* unchanged */
  assert_int_equal(bn_mlp_deserialize_into(NULL, a, size), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_deserialize_into(other, NULL, size), BN_ERR_INVALID_ARGUMENT);
  free(a);
  free(b);
  free(bytes);
  bn_mlp_destroy(other);
  bn_mlp_destroy(trained);
}

static bn_status load_bytes(const unsigned char *buf, size_t size)
{
  bn_mlp *r = (bn_mlp *)(uintptr_t)1; /* must be reset to NULL on failure */
  char msg[256] = "";
  bn_status st = bn_mlp_deserialize(&r, buf, size, msg, sizeof msg);
  if (st == BN_OK) {
    bn_mlp_destroy(r);
  } else {
    assert_null(r);
    assert_true(msg[0] != '\0'); /* every failure says why */
  }
  return st;
}

static void test_every_truncation(void **state)
{
  (void)state;
  bn_mlp *m = make_net(BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_MLP_ADAM);
  size_t size;
  unsigned char *buf = serialize(m, BN_MLP_SAVE_OPTIMIZER, &size);
  for (size_t len = 0; len < size; len++) {
    unsigned char *copy = malloc(len ? len : 1); /* exact size: ASan catches any overread */
    memcpy(copy, buf, len);
    bn_status st = load_bytes(copy, len);
    if (st != BN_ERR_BAD_SIZE)
      fail_msg("truncated to %zu of %zu bytes: status %d", len, size, (int)st);
    free(copy);
  }
  /* One byte too many. */
  unsigned char *longer = malloc(size + 1);
  memcpy(longer, buf, size);
  longer[size] = 0;
  assert_int_equal(load_bytes(longer, size + 1), BN_ERR_BAD_SIZE);
  free(longer);
  /* Truncated files on disk too. */
  char path[512], msg[256];
  path_in(path, sizeof path, "truncated.bnm");
  for (size_t len = 0; len < size; len += 97) {
    FILE *f = fopen(path, "wb");
    fwrite(buf, 1, len, f);
    fclose(f);
    bn_mlp *r = NULL;
    assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_ERR_BAD_SIZE);
    assert_null(r);
    assert_non_null(strstr(msg, "truncated.bnm"));
  }
  free(buf);
  bn_mlp_destroy(m);
}

static void test_damage_kinds(void **state)
{
  (void)state;
  bn_mlp *m = make_net(BN_MLP_BN_BEFORE, BN_MLP_INPUT_BATCHNORM, BN_MLP_ADAM);
  size_t size;
  unsigned char *buf = serialize(m, BN_MLP_SAVE_OPTIMIZER, &size), *c = malloc(size);
  assert_int_equal(blob_crc32(buf, size - 4),
                   (uint32_t)buf[size - 4] | (uint32_t)buf[size - 3] << 8 |
                       (uint32_t)buf[size - 2] << 16 | (uint32_t)buf[size - 1] << 24);
#define FRESH() memcpy(c, buf, size)
  FRESH();
  c[1] = 'X';
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_MAGIC);
  assert_int_equal(load_bytes((const unsigned char *)"hello", 5), BN_ERR_BAD_MAGIC);
  FRESH();
  blob_put_u32(c + 8, BN_MLP_FORMAT_VERSION + 1); /* a newer format */
  assert_int_equal(load_bytes(c, size), BN_ERR_VERSION_MISMATCH);
  blob_put_u32(c + 8, 0);
  assert_int_equal(load_bytes(c, size), BN_ERR_VERSION_MISMATCH);
  FRESH();
  blob_put_u64(c + 16, (uint64_t)size + 8); /* declared size */
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_SIZE);
  FRESH();
  c[size / 2] ^= 0x10; /* a parameter */
  assert_int_equal(load_bytes(c, size), BN_ERR_CHECKSUM);
  FRESH();
  c[size - 1] ^= 1; /* the checksum itself */
  assert_int_equal(load_bytes(c, size), BN_ERR_CHECKSUM);

  /* With a valid checksum: values and architecture are still validated. */
  FRESH();
  blob_put_u32(c + 44, 99); /* activation */
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH();
  blob_put_u32(c + 12, 0x80); /* unknown flag */
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH();
  blob_put_u64(c + 80, 0x7FF8000000000000ull); /* learning rate NaN */
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH();
  blob_put_u32(c + 136 + 16 + 8, 0x7FC00000u); /* first input gamma = NaN */
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH(); /* input BatchNorm running variance < 0 */
  blob_put_u32(c + 136 + 16 + 8 + 3 * 4 * I, 0xBF800000u);
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH(); /* a hidden width of 2^40: the size check refuses it before any allocation */
  blob_put_u64(c + 136, 1ull << 40);
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_SIZE);
  FRESH(); /* a width whose products overflow 64 bits */
  blob_put_u64(c + 136, UINT64_MAX / 3);
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_SIZE);
  FRESH(); /* 2^31 hidden layers */
  blob_put_u32(c + 40, 0x80000000u);
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_FORMAT);
  FRESH(); /* inputs = 2^62 */
  blob_put_u64(c + 24, 1ull << 62);
  blob_reseal(c, size);
  assert_int_equal(load_bytes(c, size), BN_ERR_BAD_SIZE);
  free(c);
  free(buf);
  bn_mlp_destroy(m);
}

static void test_random_corruptions(void **state)
{
  (void)state;
  bn_mlp *m = make_net(BN_MLP_BN_AFTER, BN_MLP_INPUT_BATCHNORM, BN_MLP_MOMENTUM);
  size_t size;
  unsigned char *buf = serialize(m, BN_MLP_SAVE_OPTIMIZER, &size), *c = malloc(size);
  test_rng g = {2024};
  for (int trial = 0; trial < 3000; trial++) {
    memcpy(c, buf, size);
    int flips = 1 + (int)(test_rng_next(&g) % 4);
    for (int k = 0; k < flips; k++) {
      /* Half the time in the header, where sizes and enums live. */
      size_t pos = test_rng_next(&g) % 2 ? test_rng_next(&g) % 160 : test_rng_next(&g) % size;
      c[pos] ^= (unsigned char)(1 + test_rng_next(&g) % 255);
    }
    if (trial % 3 == 0)
      blob_reseal(c, size); /* get past the checksum to the validation behind it */
    bn_status st = load_bytes(c, size);
    if (memcmp(c, buf, size) == 0)
      continue; /* the flips cancelled out */
    if (trial % 3 != 0 && st == BN_OK)
      fail_msg("trial %d: a corrupt file without a fixed checksum was accepted", trial);
    /* A resealed change of a valid value (e.g. a weight) may load: fine. */
    assert_true(st == BN_OK || st == BN_ERR_BAD_MAGIC || st == BN_ERR_VERSION_MISMATCH ||
                st == BN_ERR_BAD_SIZE || st == BN_ERR_CHECKSUM || st == BN_ERR_BAD_FORMAT);
  }
  free(c);
  free(buf);
  bn_mlp_destroy(m);
}

static size_t count_files(void)
{
  DIR *d = opendir(dir);
  struct dirent *e;
  size_t n = 0;
  while ((e = readdir(d)))
    if (e->d_name[0] != '.')
      n++;
  closedir(d);
  return n;
}

/* A save that fails half way (the file-size limit makes write() fail with
 * EFBIG) reports BN_ERR_IO, removes its temporary file and leaves the old
 * model as it was; a save that crashes half way (the same limit with the
 * default SIGXFSZ action kills the process mid-write) leaves it too. */
static void test_failed_save_keeps_old_file(void **state)
{
  (void)state;
  teardown(NULL);
  assert_non_null(mkdtemp(strcpy(dir, "/tmp/bn_test_model_file_XXXXXX")));
  char path[512], msg[256];
  path_in(path, sizeof path, "keep.bnm");
  bn_mlp *small = make_net(BN_MLP_BN_BEFORE, 0, BN_MLP_SGD);
  assert_int_equal(bn_mlp_save(small, path, 0), BN_OK);
  size_t old_size;
  unsigned char *old = test_read_file(path, &old_size);
  assert_int_equal(count_files(), 1);

  const size_t hidden[1] = {300};
  bn_mlp *big = NULL;
  assert_int_equal(bn_mlp_create(&big, 200, hidden, 1, 10, BN_ACT_RELU, BN_MLP_BN_BEFORE,
                                 BN_MLP_HEAD_SOFTMAX, 0),
                   BN_OK);
  size_t big_size;
  assert_int_equal(bn_mlp_serialized_size(big, 0, &big_size), BN_OK);
  assert_true(big_size > 4 * old_size);

  /* 1. Failure: write() returns EFBIG. */
  struct rlimit saved, limited;
  getrlimit(RLIMIT_FSIZE, &saved);
  limited = saved;
  limited.rlim_cur = (rlim_t)(2 * old_size);
  void (*prev)(int) = signal(SIGXFSZ, SIG_IGN);
  assert_int_equal(setrlimit(RLIMIT_FSIZE, &limited), 0);
  bn_status st = bn_mlp_save(big, path, 0);
  setrlimit(RLIMIT_FSIZE, &saved);
  signal(SIGXFSZ, prev);
  assert_int_equal(st, BN_ERR_IO);
  assert_non_null(strstr(bn_mlp_last_error(big), "cannot write"));
  size_t now_size;
  unsigned char *now = test_read_file(path, &now_size);
  assert_int_equal(now_size, old_size);
  assert_memory_equal(now, old, old_size);
  free(now);
  assert_int_equal(count_files(), 1); /* the temporary file is gone */

  /* 2. Crash: the process dies inside write(). */
  fflush(NULL);
  pid_t pid = fork();
  assert_true(pid >= 0);
  if (pid == 0) {
    signal(SIGXFSZ, SIG_DFL);
    setrlimit(RLIMIT_FSIZE, &limited);
    bn_mlp_save(big, path, 0);
    _exit(0); /* not reached: SIGXFSZ ends the process */
  }
  int wstatus = 0;
  waitpid(pid, &wstatus, 0);
  assert_true(WIFSIGNALED(wstatus) && WTERMSIG(wstatus) == SIGXFSZ);
  now = test_read_file(path, &now_size);
  assert_int_equal(now_size, old_size);
  assert_memory_equal(now, old, old_size);
  free(now);
  bn_mlp *r = NULL;
  assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_OK);
  assert_same_predictions(small, r);
  bn_mlp_destroy(r);
  /* The crashed save left a partial temporary file beside the model, never over it. */
  assert_int_equal(count_files(), 2);

  /* 3. The save then succeeds and replaces the file whole. */
  assert_int_equal(bn_mlp_save(big, path, 0), BN_OK);
  assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_OK);
  size_t inputs;
  bn_mlp_architecture(r, &inputs, NULL, NULL, NULL, NULL, NULL, NULL);
  assert_int_equal(inputs, 200);
  bn_mlp_destroy(r);

  /* 4. A directory that cannot be written (not for root, who may write anyway). */
  if (geteuid() != 0) {
    char ro[512], in_ro[600];
    path_in(ro, sizeof ro, "readonly");
    assert_int_equal(mkdir(ro, 0555), 0);
    snprintf(in_ro, sizeof in_ro, "%s/m.bnm", ro);
    assert_int_equal(bn_mlp_save(small, in_ro, 0), BN_ERR_IO);
    rmdir(ro);
  }
  free(old);
  bn_mlp_destroy(big);
  bn_mlp_destroy(small);
}

static void test_load_errors(void **state)
{
  (void)state;
  bn_mlp *r = (bn_mlp *)(uintptr_t)1;
  char msg[256];
  assert_int_equal(bn_mlp_load(&r, "/nonexistent/dir/model.bnm", msg, sizeof msg), BN_ERR_IO);
  assert_null(r);
  assert_non_null(strstr(msg, "/nonexistent/dir/model.bnm"));
  assert_int_equal(bn_mlp_load(&r, dir, msg, sizeof msg), BN_ERR_IO); /* a directory */
  assert_int_equal(bn_mlp_load(&r, "/dev/null", msg, sizeof msg), BN_ERR_IO);
  char path[512];
  path_in(path, sizeof path, "empty.bnm");
  FILE *f = fopen(path, "wb");
  fclose(f);
  assert_int_equal(bn_mlp_load(&r, path, msg, sizeof msg), BN_ERR_BAD_SIZE);
  assert_int_equal(bn_mlp_load(&r, path, NULL, 0), BN_ERR_BAD_SIZE); /* no message buffer */
  assert_int_equal(bn_mlp_load(&r, path, msg, 1), BN_ERR_BAD_SIZE);  /* a tiny one */
  assert_string_equal(msg, "");
  assert_int_equal(bn_mlp_load(NULL, path, msg, sizeof msg), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_load(&r, NULL, msg, sizeof msg), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_deserialize(&r, NULL, 10, msg, sizeof msg), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_deserialize(NULL, "x", 1, msg, sizeof msg), BN_ERR_INVALID_ARGUMENT);

  bn_mlp *m = make_net(BN_MLP_BN_NONE, 0, BN_MLP_SGD);
  assert_int_equal(bn_mlp_save(m, NULL, 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_save(m, "", 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_save(m, path, 0x10), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_save(NULL, path, 0), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_save(m, "/nonexistent/dir/model.bnm", 0), BN_ERR_IO);
  size_t size;
  assert_int_equal(bn_mlp_serialized_size(m, 0, &size), BN_OK);
  unsigned char *buf = malloc(size);
  assert_int_equal(bn_mlp_serialize(m, 0, buf, size - 1, NULL), BN_ERR_BAD_SIZE);
  assert_int_equal(bn_mlp_serialize(m, 0, NULL, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_serialize(m, 4, buf, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_serialize(NULL, 0, buf, size, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_serialized_size(m, 0, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_serialized_size(NULL, 0, &size), BN_ERR_INVALID_ARGUMENT);
  free(buf);
  bn_mlp_destroy(m);
}

/* The header queries report what was written: version, contents, size. */
static void test_header_queries(void **state)
{
  (void)state;
  unsigned version = 0, contents = 0;
  uint64_t bytes = 0;
  assert_int_equal(bn_mlp_format_version(&version), BN_OK);
  assert_int_equal(version, BN_MLP_FORMAT_VERSION);
  assert_int_equal(bn_mlp_format_version(NULL), BN_ERR_INVALID_ARGUMENT);

  const unsigned cases[2][2] = {{BN_MLP_INPUT_BATCHNORM | BN_MLP_BIASED_RUNNING_VAR, 0},
                                {0, BN_MLP_SAVE_OPTIMIZER}};
  const unsigned expected[2] = {BN_MLP_FILE_INPUT_BATCHNORM | BN_MLP_FILE_BIASED_RUNNING_VAR,
                                BN_MLP_FILE_OPTIMIZER};
  for (int k = 0; k < 2; k++) {
    bn_mlp *m = make_net(BN_MLP_BN_BEFORE, cases[k][0], BN_MLP_ADAM);
    size_t size = 0;
    unsigned char *buf = serialize(m, cases[k][1], &size);
    version = contents = 0;
    bytes = 0;
    assert_int_equal(bn_mlp_read_header(buf, size, &version, &contents, &bytes), BN_OK);
    assert_int_equal(version, 1);
    assert_int_equal(contents, expected[k]);
    assert_int_equal(bytes, size);
    assert_int_equal(bn_mlp_read_header(buf, size, NULL, NULL, NULL), BN_OK);
    /* only the common 24 bytes are needed; a shorter prefix is BAD_SIZE */
    assert_int_equal(bn_mlp_read_header(buf, 24, &version, NULL, NULL), BN_OK);
    assert_int_equal(bn_mlp_read_header(buf, 23, &version, NULL, NULL), BN_ERR_BAD_SIZE);
    /* a version this library cannot load is still reported */
    blob_put_u32(buf + 8, 7);
    assert_int_equal(bn_mlp_read_header(buf, size, &version, NULL, NULL), BN_OK);
    assert_int_equal(version, 7);
    char path[512], msg[256];
    path_in(path, sizeof path, "header.bnm");
    assert_int_equal(bn_mlp_save(m, path, cases[k][1]), BN_OK);
    contents = 0;
    assert_int_equal(bn_mlp_read_file_header(path, &version, &contents, &bytes, msg, sizeof msg),
                     BN_OK);
    assert_int_equal(version, 1);
    assert_int_equal(contents, expected[k]);
    assert_int_equal(bytes, size);
    unlink(path);
    free(buf);
    bn_mlp_destroy(m);
  }
  char msg[256];
  assert_int_equal(bn_mlp_read_header(NULL, 30, &version, NULL, NULL), BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_read_header("hello", 5, &version, NULL, NULL), BN_ERR_BAD_MAGIC);
  assert_int_equal(bn_mlp_read_header("\x89" "BN", 3, &version, NULL, NULL), BN_ERR_BAD_SIZE);
  assert_int_equal(bn_mlp_read_file_header(NULL, &version, NULL, NULL, msg, sizeof msg),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_read_file_header("/nonexistent/m.bnm", &version, NULL, NULL, msg,
                                           sizeof msg),
                   BN_ERR_IO);
  assert_non_null(strstr(msg, "/nonexistent/m.bnm"));
  assert_int_equal(bn_mlp_read_file_header("/dev/null", &version, NULL, NULL, NULL, 0),
                   BN_ERR_IO);
}

/* Which tensors each layer holds follows the placement rules of mlp.h. */
static void test_tensor_sizes(void **state)
{
  (void)state;
  const bn_mlp_placement placements[3] = {BN_MLP_BN_NONE, BN_MLP_BN_BEFORE, BN_MLP_BN_AFTER};
  const size_t width[4] = {I, 9, 5, C};
  for (int k = 0; k < 3; k++) {
    bn_mlp *m = make_net(placements[k], k == 1 ? BN_MLP_INPUT_BATCHNORM : 0u, BN_MLP_SGD);
    size_t n = 99, total = 0, params = 0;
    assert_int_equal(bn_mlp_tensor_size(m, 0, BN_MLP_GAMMA, &n), BN_OK);
    assert_int_equal(n, k == 1 ? I : 0);
    total += 2 * n;
    assert_int_equal(bn_mlp_tensor_size(m, 0, BN_MLP_WEIGHT, &n), BN_OK);
    assert_int_equal(n, 0);
    for (size_t layer = 1; layer <= 3; layer++) {
      const int head = layer == 3, bn = !head && placements[k] != BN_MLP_BN_NONE;
      const int bias = head || placements[k] != BN_MLP_BN_BEFORE;
      const size_t out = width[layer], in = width[layer - 1];
      assert_int_equal(bn_mlp_tensor_size(m, layer, BN_MLP_WEIGHT, &n), BN_OK);
      assert_int_equal(n, in * out);
      assert_int_equal(bn_mlp_tensor_size(m, layer, BN_MLP_DWEIGHT, &n), BN_OK);
      assert_int_equal(n, in * out);
      total += in * out;
      assert_int_equal(bn_mlp_tensor_size(m, layer, BN_MLP_BIAS, &n), BN_OK);
      assert_int_equal(n, bias ? out : 0);
      total += n;
      assert_int_equal(bn_mlp_tensor_size(m, layer, BN_MLP_BETA, &n), BN_OK);
      assert_int_equal(n, bn ? out : 0);
      total += 2 * n;
      assert_int_equal(bn_mlp_tensor_size(m, layer, BN_MLP_RUNNING_VAR, &n), BN_OK);
      assert_int_equal(n, bn ? out : 0);
    }
    assert_int_equal(bn_mlp_parameter_count(m, &params), BN_OK);
    assert_int_equal(params, total);
    assert_int_equal(bn_mlp_tensor_size(m, 4, BN_MLP_WEIGHT, &n), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_mlp_tensor_size(m, 1, (bn_mlp_tensor)0, &n), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_mlp_tensor_size(m, 1, (bn_mlp_tensor)11, &n), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_mlp_tensor_size(m, 1, BN_MLP_WEIGHT, NULL), BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(bn_mlp_tensor_size(NULL, 1, BN_MLP_WEIGHT, &n), BN_ERR_INVALID_ARGUMENT);
    bn_mlp_destroy(m);
  }
  /* the layer limit */
  size_t *hidden = malloc((BN_MLP_MAX_LAYERS + 1) * sizeof *hidden);
  assert_non_null(hidden);
  for (size_t i = 0; i <= BN_MLP_MAX_LAYERS; i++)
    hidden[i] = 1;
  bn_mlp *m = NULL;
  assert_int_equal(bn_mlp_create(&m, 1, hidden, BN_MLP_MAX_LAYERS + 1, 2, BN_ACT_RELU,
                                 BN_MLP_BN_NONE, BN_MLP_HEAD_SOFTMAX, 0),
                   BN_ERR_INVALID_ARGUMENT);
  assert_int_equal(bn_mlp_create(&m, 1, hidden, BN_MLP_MAX_LAYERS, 2, BN_ACT_RELU,
                                 BN_MLP_BN_NONE, BN_MLP_HEAD_SOFTMAX, 0),
                   BN_OK);
  bn_mlp_destroy(m);
  free(hidden);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(test_round_trip),
    cmocka_unit_test(test_resume_is_exact),
    cmocka_unit_test(test_deserialize_into),
    cmocka_unit_test(test_every_truncation),
    cmocka_unit_test(test_damage_kinds),
    cmocka_unit_test(test_random_corruptions),
    cmocka_unit_test(test_failed_save_keeps_old_file),
    cmocka_unit_test(test_load_errors),
    cmocka_unit_test(test_header_queries),
    cmocka_unit_test(test_tensor_sizes),
  };
  return cmocka_run_group_tests(tests, setup, teardown);
}

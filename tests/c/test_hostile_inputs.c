/* Hostile input for every public function of the batch-normalization kernels
 * (bn/batchnorm_kernels.h) and the BatchNorm layer (bn/batchnorm.h): NULL
 * pointers, zero sizes, ld < features, sizes whose ld*batch overflows
 * size_t, unknown flags / modes / tensor ids, bad eps and update factors,
 * aliasing with different leading dimensions, and non-finite data. Each
 * case checks the exact documented status and that nothing was written (the
 * outputs are compared byte for byte with a snapshot). The overflow cases
 * pass tiny buffers: under ASan any access through them fails the test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include "testing.h"

enum { F = 5, N = 4, LD = 7, BIG = (LD + 2) * N };
#define HUGE_LD (SIZE_MAX / 2)

/* ---- the kernels ------------------------------------------------------------ */

/* Every argument of the four kernels; unused ones are ignored by a kernel. */
typedef struct kargs {
  size_t F, N, ldx, ldy, ldd; /* ldy: y (forward) or dy (backward); ldd: dx */
  const float *x, *dy, *gamma, *beta, *mean, *var, *sm, *si;
  float eps;
  unsigned flags;
  float *y, *dx, *o1, *o2, *o3; /* o1..o3: saved mean/invstd/batch var, or dgamma/dbeta */
} kargs;

typedef bn_status (*kernel_fn)(const kargs *a);

static bn_status fwd_train(const kargs *a)
{
  return bn_batchnorm_forward_training(a->F, a->N, a->x, a->ldx, a->gamma, a->beta, a->eps,
                                       a->flags, a->y, a->ldy, a->o1, a->o2, a->o3);
}

static bn_status fwd_inf(const kargs *a)
{
  return bn_batchnorm_forward_inference(a->F, a->N, a->x, a->ldx, a->mean, a->var, a->gamma,
                                        a->beta, a->eps, a->flags, a->y, a->ldy);
}

static bn_status bwd_train(const kargs *a)
{
  return bn_batchnorm_backward_training(a->F, a->N, a->x, a->ldx, a->dy, a->ldy, a->sm, a->si,
                                        a->gamma, a->beta, a->flags, a->dx, a->ldd, a->o1,
                                        a->o2);
}

static bn_status bwd_inf(const kargs *a)
{
  return bn_batchnorm_backward_inference(a->F, a->N, a->x, a->ldx, a->dy, a->ldy, a->mean,
                                         a->var, a->gamma, a->beta, a->eps, a->flags, a->dx,
                                         a->ldd, a->o1, a->o2);
}

/* Buffers shared by the kernel cases: valid inputs, outputs to watch. */
static struct {
  float x[BIG], dy[BIG], gamma[F], beta[F], mean[F], var[F], sm[F], si[F];
  float y[BIG], dx[BIG], o1[F], o2[F], o3[F];
} K;

static kargs valid_kargs(void)
{
  test_rng rng = {101};
  test_fill(&rng, K.x, F, N, LD, 1.0, 2.0);
  test_fill(&rng, K.dy, F, N, LD, 0.0, 1.0);
  test_fill(&rng, K.y, F, N, LD, 0.0, 1.0); /* finite, for the aliasing cases */
  for (int f = 0; f < F; f++) {
    K.gamma[f] = 1.0f + 0.1f * (float)f;
    K.beta[f] = 0.5f - 0.2f * (float)f;
    K.mean[f] = 1.0f;
    K.var[f] = 4.0f;
    K.sm[f] = 1.0f;
    K.si[f] = 0.5f;
  }
  test_set(K.dx, BIG, -777.25f);
  test_set(K.o1, F, -777.25f);
  test_set(K.o2, F, -777.25f);
  test_set(K.o3, F, -777.25f);
  kargs a = {F,      N,      LD,     LD,     LD,   K.x,  K.dy, K.gamma, K.beta, K.mean, K.var,
             K.sm,   K.si,   1e-5f,  0,      K.y,  K.dx, K.o1, K.o2,    K.o3};
  return a;
}

/* Runs the kernel and checks its status and that no output changed. */
static void expect_kernel(kernel_fn kernel, const char *kname, const kargs *a, bn_status want,
                          const char *what, int line)
{
  float y[BIG], dx[BIG], o1[F], o2[F], o3[F];
  memcpy(y, K.y, sizeof y);
  memcpy(dx, K.dx, sizeof dx);
  memcpy(o1, K.o1, sizeof o1);
  memcpy(o2, K.o2, sizeof o2);
  memcpy(o3, K.o3, sizeof o3);
  bn_status got = kernel(a);
  int untouched = !memcmp(y, K.y, sizeof y) && !memcmp(dx, K.dx, sizeof dx) &&
                  !memcmp(o1, K.o1, sizeof o1) && !memcmp(o2, K.o2, sizeof o2) &&
                  !memcmp(o3, K.o3, sizeof o3);
  if (got != want || !untouched) {
    print_error("%s with %s (line %d): %s, expected %s%s\n", kname, what, line,
                bn_status_string(got), bn_status_string(want),
                untouched ? "" : "; an output was written");
    _fail(__FILE__, line);
  }
}

#define KCASE(kernel, mutation, want)                                                      \
  do {                                                                                     \
    kargs a = valid_kargs();                                                               \
    mutation;                                                                              \
    expect_kernel(kernel, #kernel, &a, want, #mutation, __LINE__);                         \
  } while (0)

static const struct {
  kernel_fn fn;
  const char *name;
} kernels[] = {{fwd_train, "forward_training"},
               {fwd_inf, "forward_inference"},
               {bwd_train, "backward_training"},
               {bwd_inf, "backward_inference"}};

/* Argument errors shared by all four kernels: zero sizes, NULL x, ldx < F,
 * unknown flags (BN_ERR_INVALID_ARGUMENT), and sizes whose extent
 * ld*(batch-1)+features overflows size_t (BN_ERR_SIZE_OVERFLOW) through any
 * of the leading dimensions or the batch. Nothing is written. */
static void kernels_reject_bad_sizes_and_flags(void **state)
{
  (void)state;
  for (size_t k = 0; k < 4; k++) {
    kernel_fn kf = kernels[k].fn;
    const char *kn = kernels[k].name;
#define KC(mutation, want)                                                                 \
  do {                                                                                     \
    kargs a = valid_kargs();                                                               \
    mutation;                                                                              \
    expect_kernel(kf, kn, &a, want, #mutation, __LINE__);                                  \
  } while (0)
    KC(a.F = 0, BN_ERR_INVALID_ARGUMENT);
    KC(a.N = 0, BN_ERR_INVALID_ARGUMENT);
    KC(a.x = NULL, BN_ERR_INVALID_ARGUMENT);
    KC(a.ldx = F - 1, BN_ERR_INVALID_ARGUMENT);
    KC(a.ldx = 0, BN_ERR_INVALID_ARGUMENT);
    KC(a.flags = 2u, BN_ERR_INVALID_ARGUMENT);
    KC(a.flags = BN_KERNEL_FUSE_RELU | 4u, BN_ERR_INVALID_ARGUMENT);
    KC(a.flags = 1u << 31, BN_ERR_INVALID_ARGUMENT);
    KC((a.ldx = HUGE_LD, a.N = 3), BN_ERR_SIZE_OVERFLOW);
    KC((a.ldy = HUGE_LD, a.N = 3), BN_ERR_SIZE_OVERFLOW);
    KC((a.ldx = a.ldy = a.ldd = HUGE_LD, a.N = 3), BN_ERR_SIZE_OVERFLOW);
    KC(a.N = SIZE_MAX / 2, BN_ERR_SIZE_OVERFLOW);
    KC(a.N = SIZE_MAX, BN_ERR_SIZE_OVERFLOW);
    KC((a.ldx = a.ldy = a.ldd = SIZE_MAX / 8, a.N = 3), BN_ERR_SIZE_OVERFLOW);
    KC((a.F = a.ldx = a.ldy = a.ldd = SIZE_MAX, a.N = 2), BN_ERR_SIZE_OVERFLOW);
    KC((a.F = a.ldx = a.ldy = a.ldd = SIZE_MAX / 4 + 1, a.N = 2), BN_ERR_SIZE_OVERFLOW);
    if (kf == bwd_train || kf == bwd_inf) {
      KC((a.ldd = HUGE_LD, a.N = 3), BN_ERR_SIZE_OVERFLOW);
      KC(a.dy = NULL, BN_ERR_INVALID_ARGUMENT);
      KC(a.ldy = F - 1, BN_ERR_INVALID_ARGUMENT);
      KC(a.ldd = F - 1, BN_ERR_INVALID_ARGUMENT);
      /* dx may be dy only with the same leading dimension */
      KC((a.dy = K.dx, a.ldd = LD + 1), BN_ERR_INVALID_ARGUMENT);
    } else {
      KC(a.y = NULL, BN_ERR_INVALID_ARGUMENT);
      KC(a.ldy = F - 1, BN_ERR_INVALID_ARGUMENT);
      /* y may be x only with the same leading dimension */
      KC((a.x = K.y, a.ldy = LD + 1), BN_ERR_INVALID_ARGUMENT);
      KC((a.x = K.y, a.ldx = LD + 1), BN_ERR_INVALID_ARGUMENT);
    }
#undef KC
  }
}

/* Kernel-specific argument errors: batch 1 in training (BN_ERR_BATCH_TOO_SMALL),
 * NULL statistics, eps <= 0 (BN_ERR_INVALID_ARGUMENT) or NaN / infinite
 * (BN_ERR_NON_FINITE), a negative variance, non-finite statistics or
 * parameters (BN_ERR_NON_FINITE). Nothing is written. */
static void kernels_reject_bad_parameters(void **state)
{
  (void)state;
  KCASE(fwd_train, a.N = 1, BN_ERR_BATCH_TOO_SMALL);
  KCASE(bwd_train, a.N = 1, BN_ERR_BATCH_TOO_SMALL);
  KCASE(bwd_train, a.sm = NULL, BN_ERR_INVALID_ARGUMENT);
  KCASE(bwd_train, a.si = NULL, BN_ERR_INVALID_ARGUMENT);
  KCASE(fwd_inf, a.mean = NULL, BN_ERR_INVALID_ARGUMENT);
  KCASE(fwd_inf, a.var = NULL, BN_ERR_INVALID_ARGUMENT);
  KCASE(bwd_inf, a.mean = NULL, BN_ERR_INVALID_ARGUMENT);
  KCASE(bwd_inf, a.var = NULL, BN_ERR_INVALID_ARGUMENT);
  kernel_fn with_eps[] = {fwd_train, fwd_inf, bwd_inf};
  const char *names[] = {"forward_training", "forward_inference", "backward_inference"};
  for (size_t k = 0; k < 3; k++) {
#define KC(mutation, want)                                                                 \
  do {                                                                                     \
    kargs a = valid_kargs();                                                               \
    mutation;                                                                              \
    expect_kernel(with_eps[k], names[k], &a, want, #mutation, __LINE__);                   \
  } while (0)
    KC(a.eps = 0.0f, BN_ERR_INVALID_ARGUMENT);
    KC(a.eps = -0.0f, BN_ERR_INVALID_ARGUMENT);
    KC(a.eps = -1e-5f, BN_ERR_INVALID_ARGUMENT);
    KC(a.eps = NAN, BN_ERR_NON_FINITE);
    KC(a.eps = INFINITY, BN_ERR_NON_FINITE);
    KC(a.eps = -INFINITY, BN_ERR_NON_FINITE);
#undef KC
  }
  kernel_fn with_stats[] = {fwd_inf, bwd_inf};
  for (size_t k = 0; k < 2; k++) {
    float bad[F];
#define KC(value, field, want)                                                             \
  do {                                                                                     \
    kargs a = valid_kargs();                                                               \
    memcpy(bad, a.field, sizeof bad);                                                      \
    bad[F - 1] = (value);                                                                  \
    a.field = bad;                                                                         \
    expect_kernel(with_stats[k], names[k + 1], &a, want, #field " = " #value, __LINE__);   \
  } while (0)
    KC(-1.0f, var, BN_ERR_INVALID_ARGUMENT);
    KC(-1e-30f, var, BN_ERR_INVALID_ARGUMENT);
    KC(NAN, var, BN_ERR_NON_FINITE);
    KC(INFINITY, var, BN_ERR_NON_FINITE);
    KC(NAN, mean, BN_ERR_NON_FINITE);
    KC(-INFINITY, mean, BN_ERR_NON_FINITE);
    KC(NAN, gamma, BN_ERR_NON_FINITE);
    KC(INFINITY, beta, BN_ERR_NON_FINITE);
#undef KC
  }
}

/* Training kernels refuse non-finite data: a NaN or infinity in x makes the
 * forward's statistics non-finite, and in dy or x the backward's reduced
 * sums: BN_ERR_NON_FINITE, and y / saved statistics / dx / dgamma / dbeta
 * are not written. */
static void training_kernels_refuse_non_finite_data(void **state)
{
  (void)state;
  static const float poison[] = {NAN, INFINITY, -INFINITY};
  for (size_t p = 0; p < 3; p++)
    for (size_t at = 0; at < 3; at++) {
      const size_t f = (size_t[]){0, 2, F - 1}[at], j = (size_t[]){0, N - 1, 1}[at];
      float xb[BIG], dyb[BIG];
      kargs a = valid_kargs();
      memcpy(xb, K.x, sizeof xb);
      xb[f + j * LD] = poison[p];
      a.x = xb;
      expect_kernel(fwd_train, "forward_training", &a, BN_ERR_NON_FINITE, "poisoned x", __LINE__);
      expect_kernel(bwd_train, "backward_training", &a, BN_ERR_NON_FINITE, "poisoned x",
                    __LINE__);
      a = valid_kargs();
      memcpy(dyb, K.dy, sizeof dyb);
      dyb[f + j * LD] = poison[p];
      a.dy = dyb;
      expect_kernel(bwd_train, "backward_training", &a, BN_ERR_NON_FINITE, "poisoned dy",
                    __LINE__);
    }
  /* +inf and -inf in one feature: inf - inf inside the sums */
  float xb[BIG];
  kargs a = valid_kargs();
  memcpy(xb, K.x, sizeof xb);
  xb[1] = INFINITY;
  xb[1 + LD] = -INFINITY;
  a.x = xb;
  expect_kernel(fwd_train, "forward_training", &a, BN_ERR_NON_FINITE, "+inf and -inf", __LINE__);
}

/* Inference kernels let non-finite data through by IEEE arithmetic, without
 * an error: a NaN in x(f,j) makes y(f,j) NaN and nothing else changes; a NaN
 * in dy(f,j) makes dx(f,j), dgamma[f] and dbeta[f] NaN and nothing else. */
static void inference_kernels_propagate_non_finite_data(void **state)
{
  (void)state;
  const size_t f0 = 3, j0 = 2, i0 = f0 + j0 * LD;
  kargs a = valid_kargs();
  float y0[BIG], dx0[BIG], dg0[F], db0[F];
  assert_ok(fwd_inf(&a));
  memcpy(y0, K.y, sizeof y0);
  a.o1 = dg0;
  a.o2 = db0;
  assert_ok(bwd_inf(&a));
  memcpy(dx0, K.dx, sizeof dx0);

  float xb[BIG], dyb[BIG], dg[F], db[F];
  memcpy(xb, K.x, sizeof xb);
  xb[i0] = NAN;
  a = valid_kargs();
  a.x = xb;
  assert_ok(fwd_inf(&a));
  for (size_t j = 0; j < N; j++)
    for (size_t f = 0; f < F; f++) {
      size_t i = f + j * LD;
      if (i == i0)
        assert_true(isnan(K.y[i]));
      else
        assert_memory_equal(&K.y[i], &y0[i], sizeof(float));
    }
  memcpy(dyb, K.dy, sizeof dyb);
  dyb[i0] = NAN;
  a = valid_kargs();
  a.dy = dyb;
  a.o1 = dg;
  a.o2 = db;
  assert_ok(bwd_inf(&a));
  for (size_t j = 0; j < N; j++)
    for (size_t f = 0; f < F; f++) {
      size_t i = f + j * LD;
      if (i == i0)
        assert_true(isnan(K.dx[i]));
      else
        assert_memory_equal(&K.dx[i], &dx0[i], sizeof(float));
    }
  for (size_t f = 0; f < F; f++) {
    if (f == f0) {
      assert_true(isnan(dg[f]) && isnan(db[f]));
    } else {
      assert_memory_equal(&dg[f], &dg0[f], sizeof(float));
      assert_memory_equal(&db[f], &db0[f], sizeof(float));
    }
  }
}

/* ---- the layer ---------------------------------------------------------------- */

static bn_batchnorm *new_layer(unsigned flags)
{
  bn_batchnorm *l = NULL;
  assert_ok(bn_batchnorm_create(&l, F, flags));
  return l;
}

/* create: NULL out, zero features, unknown flag bits, CUMULATIVE_AVERAGE with
 * NO_RUNNING_STATS (BN_ERR_INVALID_ARGUMENT) and a feature count whose
 * storage overflows size_t (BN_ERR_SIZE_OVERFLOW); *out is NULL after every
 * failure. destroy(NULL) is a no-op; last_error(NULL) is a static message. */
static void layer_create_and_destroy(void **state)
{
  (void)state;
  bn_batchnorm *l = (bn_batchnorm *)&l;
  assert_status(bn_batchnorm_create(NULL, F, 0), BN_ERR_INVALID_ARGUMENT);
  static const struct {
    size_t features;
    unsigned flags;
    bn_status want;
  } cases[] = {
      {0, 0, BN_ERR_INVALID_ARGUMENT},
      {F, 1u << 7, BN_ERR_INVALID_ARGUMENT},
      {F, BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_RENORM, BN_ERR_INVALID_ARGUMENT},
      {F, 1u << 31, BN_ERR_INVALID_ARGUMENT},
      {F, ~0u, BN_ERR_INVALID_ARGUMENT},
      {F, BN_BATCHNORM_NO_RUNNING_STATS | BN_BATCHNORM_CUMULATIVE_AVERAGE, BN_ERR_INVALID_ARGUMENT},
      {SIZE_MAX, 0, BN_ERR_SIZE_OVERFLOW},
      {SIZE_MAX / 8, 0, BN_ERR_SIZE_OVERFLOW},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    l = (bn_batchnorm *)&l;
    assert_status(bn_batchnorm_create(&l, cases[c].features, cases[c].flags), cases[c].want);
    assert_null(l);
  }
  bn_batchnorm_destroy(NULL);
  const char *msg = bn_batchnorm_last_error(NULL);
  assert_non_null(msg);
  assert_true(msg[0] != '\0');
  /* every valid flag combination is accepted */
  for (unsigned flags = 0; flags < 64; flags++) {
    bn_status st = bn_batchnorm_create(&l, 1, flags);
    int invalid = (flags & BN_BATCHNORM_NO_RUNNING_STATS) &&
                  (flags & BN_BATCHNORM_CUMULATIVE_AVERAGE);
    assert_status(st, invalid ? BN_ERR_INVALID_ARGUMENT : BN_OK);
    bn_batchnorm_destroy(l);
  }
}

/* Every accessor refuses a NULL layer and a NULL out-pointer
 * (BN_ERR_INVALID_ARGUMENT), leaving a message on a non-NULL layer. */
static void layer_accessors_reject_null(void **state)
{
  (void)state;
  bn_batchnorm *l = new_layer(0);
  size_t sz = 0;
  unsigned fl = 0;
  float v = 0, vec[F];
  uint64_t n = 0;
  unsigned char blob[256];
  assert_status(bn_batchnorm_features(NULL, &sz), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_flags(NULL, &fl), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_eps(NULL, 1e-3f), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_eps(NULL, &v), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_update_factor(NULL, 0.5f), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get_update_factor(NULL, &v), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_batches_tracked(NULL, &n), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_batches_tracked(NULL, 3), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_get(NULL, BN_BATCHNORM_GAMMA, vec, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set(NULL, BN_BATCHNORM_GAMMA, vec, F), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_forward(NULL, BN_MODE_TRAINING, N, K.x, LD, K.y, LD),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_backward(NULL, N, K.x, LD, K.dy, LD, K.dx, LD),
                BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_state_size(NULL, &sz), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_save_state(NULL, blob, sizeof blob, &sz), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_load_state(NULL, blob, sizeof blob), BN_ERR_INVALID_ARGUMENT);

  /* NULL out-pointers on a valid layer: an error and a message each time */
#define NULL_OUT(call)                                                                     \
  do {                                                                                     \
    bn_batchnorm_destroy(l);                                                               \
    l = new_layer(0);                                                                      \
    assert_status(call, BN_ERR_INVALID_ARGUMENT);                                          \
    if (bn_batchnorm_last_error(l)[0] == '\0')                                             \
      fail_msg("no last_error message after %s", #call);                                   \
  } while (0)
  NULL_OUT(bn_batchnorm_features(l, NULL));
  NULL_OUT(bn_batchnorm_flags(l, NULL));
  NULL_OUT(bn_batchnorm_get_eps(l, NULL));
  NULL_OUT(bn_batchnorm_get_update_factor(l, NULL));
  NULL_OUT(bn_batchnorm_batches_tracked(l, NULL));
  NULL_OUT(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, NULL, F));
  NULL_OUT(bn_batchnorm_set(l, BN_BATCHNORM_GAMMA, NULL, F));
  NULL_OUT(bn_batchnorm_state_size(l, NULL));
  NULL_OUT(bn_batchnorm_save_state(l, NULL, 1000, &sz));
  NULL_OUT(bn_batchnorm_load_state(l, NULL, 0));
  NULL_OUT(bn_batchnorm_load_state(l, NULL, 100));
#undef NULL_OUT
  bn_batchnorm_destroy(l);
}

/* get / set: unknown tensor ids and read-only tensors (BN_ERR_INVALID_ARGUMENT),
 * counts other than F including 0 (BN_ERR_SHAPE_MISMATCH); nothing is
 * written to out and the layer keeps its values. */
static void layer_get_set_reject_bad_ids_and_counts(void **state)
{
  (void)state;
  bn_batchnorm *l = new_layer(0);
  float v[F + 1], g[F];
  static const int bad_ids[] = {0, 11, -1, 1000};
  for (size_t i = 0; i < 4; i++) {
    test_set(v, F + 1, -777.25f);
    assert_status(bn_batchnorm_get(l, (bn_batchnorm_tensor)bad_ids[i], v, F),
                  BN_ERR_INVALID_ARGUMENT);
    assert_int_equal(test_padding_changed(v, 0, 1, F + 1, -777.25f), 0);
    assert_status(bn_batchnorm_set(l, (bn_batchnorm_tensor)bad_ids[i], v, F),
                  BN_ERR_INVALID_ARGUMENT);
  }
  static const bn_batchnorm_tensor read_only[] = {BN_BATCHNORM_DGAMMA, BN_BATCHNORM_DBETA,
                                                  BN_BATCHNORM_SAVED_MEAN,
                                                  BN_BATCHNORM_SAVED_INVSTD};
  test_set(v, F + 1, 2.0f);
  for (size_t i = 0; i < 4; i++)
    assert_status(bn_batchnorm_set(l, read_only[i], v, F), BN_ERR_INVALID_ARGUMENT);
  static const size_t counts[] = {0, 1, F - 1, F + 1, SIZE_MAX};
  for (size_t i = 0; i < 5; i++) {
    test_set(v, F + 1, -777.25f);
    assert_status(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, v, counts[i]), BN_ERR_SHAPE_MISMATCH);
    assert_int_equal(test_padding_changed(v, 0, 1, F + 1, -777.25f), 0);
    assert_status(bn_batchnorm_set(l, BN_BATCHNORM_BETA, v, counts[i]), BN_ERR_SHAPE_MISMATCH);
  }
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_GAMMA, g, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_BETA, v, F));
  for (int f = 0; f < F; f++)
    assert_true(g[f] == 1.0f && v[f] == 0.0f);
  bn_batchnorm_destroy(l);
}

/* Layer forward / backward with bad arguments: NULL matrices, zero batch,
 * ld < F, unknown mode, ld*batch overflow (tiny buffers), y == x or dx == dy
 * with different leading dimensions. The status is exact; y / dx, the
 * running statistics and the pending backward are untouched. */
static void layer_forward_backward_reject_bad_arguments(void **state)
{
  (void)state;
  valid_kargs();
  bn_batchnorm *l = new_layer(0);
  float tiny_in[4] = {1, 2, 3, 4}, tiny_out[4] = {-1, -1, -1, -1};
  float y[BIG], dx[BIG], dx_ref[BIG], dg_ref[F], rm[F], rm2[F];
  /* a pending training forward whose backward must survive the failures */
  assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, K.x, LD, y, LD));
  assert_ok(bn_batchnorm_backward(l, N, K.x, LD, K.dy, LD, dx_ref, LD));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg_ref, F));
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm, F));
  test_set(y, BIG, -777.25f);
  test_set(dx, BIG, -777.25f);
  const float *x = K.x, *dy = K.dy;
#define FWD(mode, batch, xx, ldx, yy, ldy, want)                                           \
  assert_status(bn_batchnorm_forward(l, mode, batch, xx, ldx, yy, ldy), want)
#define BWD(batch, xx, ldx, ddy, lddy, ddx, lddx, want)                                    \
  assert_status(bn_batchnorm_backward(l, batch, xx, ldx, ddy, lddy, ddx, lddx), want)
  for (int m = BN_MODE_TRAINING; m <= BN_MODE_INFERENCE; m++) {
    bn_mode mode = (bn_mode)m;
    FWD(mode, N, NULL, LD, y, LD, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, N, x, LD, NULL, LD, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, 0, x, LD, y, LD, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, N, x, F - 1, y, LD, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, N, x, LD, y, F - 1, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, N, y, LD, y, LD + 1, BN_ERR_INVALID_ARGUMENT);
    FWD(mode, 3, tiny_in, HUGE_LD, tiny_out, F, BN_ERR_SIZE_OVERFLOW);
    FWD(mode, 3, tiny_in, F, tiny_out, HUGE_LD, BN_ERR_SIZE_OVERFLOW);
    FWD(mode, SIZE_MAX / 2, tiny_in, F, tiny_out, F, BN_ERR_SIZE_OVERFLOW);
    FWD(mode, SIZE_MAX, tiny_in, F, tiny_out, F, BN_ERR_SIZE_OVERFLOW);
  }
  FWD((bn_mode)0, N, x, LD, y, LD, BN_ERR_INVALID_ARGUMENT);
  FWD((bn_mode)3, N, x, LD, y, LD, BN_ERR_INVALID_ARGUMENT);
  FWD((bn_mode)-1, N, x, LD, y, LD, BN_ERR_INVALID_ARGUMENT);
  FWD(BN_MODE_TRAINING, 1, x, LD, y, LD, BN_ERR_BATCH_TOO_SMALL);
  for (int i = 0; i < 4; i++)
    assert_true(tiny_out[i] == -1.0f);
  assert_int_equal(test_padding_changed(y, 0, 1, BIG, -777.25f), 0);

  BWD(N, NULL, LD, dy, LD, dx, LD, BN_ERR_INVALID_ARGUMENT);
  BWD(N, x, LD, NULL, LD, dx, LD, BN_ERR_INVALID_ARGUMENT);
  BWD(N, x, F - 1, dy, LD, dx, LD, BN_ERR_INVALID_ARGUMENT);
  BWD(N, x, LD, dy, F - 1, dx, LD, BN_ERR_INVALID_ARGUMENT);
  BWD(N, x, LD, dy, LD, dx, F - 1, BN_ERR_INVALID_ARGUMENT);
  BWD(N, x, LD, dx, LD, dx, LD + 1, BN_ERR_INVALID_ARGUMENT);
  BWD(N, tiny_in, HUGE_LD, dy, LD, dx, LD, BN_ERR_SIZE_OVERFLOW);
  BWD(N, x, LD, tiny_in, HUGE_LD, dx, LD, BN_ERR_SIZE_OVERFLOW);
  BWD(N, x, LD, dy, LD, tiny_out, HUGE_LD, BN_ERR_SIZE_OVERFLOW);
  bn_status st0 = bn_batchnorm_backward(l, 0, x, LD, dy, LD, dx, LD);
  assert_true(st0 == BN_ERR_SHAPE_MISMATCH || st0 == BN_ERR_INVALID_ARGUMENT);
  BWD(N + 1, x, LD, dy, LD, dx, LD, BN_ERR_SHAPE_MISMATCH);
  BWD(SIZE_MAX, x, LD, dy, LD, dx, LD, BN_ERR_SHAPE_MISMATCH);
  assert_int_equal(test_padding_changed(dx, 0, 1, BIG, -777.25f), 0);
  for (int i = 0; i < 4; i++)
    assert_true(tiny_out[i] == -1.0f);
#undef FWD
#undef BWD

  /* state unchanged: running statistics, and the pending backward */
  uint64_t tracked = 0;
  assert_ok(bn_batchnorm_batches_tracked(l, &tracked));
  assert_true(tracked == 1);
  assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_RUNNING_MEAN, rm2, F));
  assert_memory_equal(rm, rm2, sizeof rm);
  assert_ok(bn_batchnorm_backward(l, N, K.x, LD, K.dy, LD, dx, LD));
  for (size_t j = 0; j < N; j++)
    assert_memory_equal(dx + j * LD, dx_ref + j * LD, F * sizeof *dx);
  bn_batchnorm_destroy(l);
}

/* Non-finite data in the layer: a training forward on x with NaN / inf
 * returns BN_ERR_NON_FINITE and changes nothing (y, running statistics,
 * batches tracked, the previous forward's pending backward); so does a
 * NO_RUNNING_STATS layer in inference mode (batch statistics). An inference
 * forward with running statistics propagates the NaN to that one output.
 * A training backward with NaN in dy returns BN_ERR_NON_FINITE and writes
 * neither dx nor dgamma / dbeta. */
static void layer_non_finite_data(void **state)
{
  (void)state;
  valid_kargs();
  float xb[BIG], dyb[BIG], y[BIG], y0[BIG], dx[BIG], dx0[BIG], dg0[F], dg[F];
  const size_t i0 = 2 + 3 * LD;
  memcpy(xb, K.x, sizeof xb);
  memcpy(dyb, K.dy, sizeof dyb);
  static const float poison[] = {NAN, INFINITY, -INFINITY};
  for (size_t p = 0; p < 3; p++) {
    bn_batchnorm *l = new_layer(0);
    assert_ok(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, K.x, LD, y0, LD));
    assert_ok(bn_batchnorm_backward(l, N, K.x, LD, K.dy, LD, dx0, LD));
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg0, F));
    size_t size = 0;
    assert_ok(bn_batchnorm_state_size(l, &size));
    unsigned char *before = malloc(size), *after = malloc(size);
    assert_non_null(before);
    assert_non_null(after);
    assert_ok(bn_batchnorm_save_state(l, before, size, NULL));

    xb[i0] = poison[p];
    test_set(y, BIG, -777.25f);
    assert_status(bn_batchnorm_forward(l, BN_MODE_TRAINING, N, xb, LD, y, LD), BN_ERR_NON_FINITE);
    assert_true(bn_batchnorm_last_error(l)[0] != '\0');
    assert_int_equal(test_padding_changed(y, 0, 1, BIG, -777.25f), 0);
    assert_ok(bn_batchnorm_save_state(l, after, size, NULL));
    assert_memory_equal(before, after, size); /* running stats, tracked count, ... */
    /* the previous forward is still the one the backward differentiates */
    assert_ok(bn_batchnorm_backward(l, N, K.x, LD, K.dy, LD, dx, LD));
    for (size_t j = 0; j < N; j++)
      assert_memory_equal(dx + j * LD, dx0 + j * LD, F * sizeof *dx);

    /* backward with poisoned dy: nothing written, dgamma kept */
    dyb[i0] = poison[p];
    test_set(dx, BIG, -777.25f);
    assert_status(bn_batchnorm_backward(l, N, K.x, LD, dyb, LD, dx, LD), BN_ERR_NON_FINITE);
    assert_int_equal(test_padding_changed(dx, 0, 1, BIG, -777.25f), 0);
    assert_ok(bn_batchnorm_get(l, BN_BATCHNORM_DGAMMA, dg, F));
    assert_memory_equal(dg, dg0, sizeof dg);
    dyb[i0] = K.dy[i0];

    /* inference with running statistics: IEEE propagation to one element */
    assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, K.x, LD, y0, LD));
    assert_ok(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, xb, LD, y, LD));
    for (size_t j = 0; j < N; j++)
      for (size_t f = 0; f < F; f++) {
        size_t i = f + j * LD;
        if (i == i0)
          assert_false(isfinite(y[i]));
        else
          assert_memory_equal(&y[i], &y0[i], sizeof(float));
      }
    xb[i0] = K.x[i0];
    free(before);
    free(after);
    bn_batchnorm_destroy(l);

    /* NO_RUNNING_STATS: inference uses batch statistics, checked as in training */
    l = new_layer(BN_BATCHNORM_NO_RUNNING_STATS);
    xb[i0] = poison[p];
    test_set(y, BIG, -777.25f);
    assert_status(bn_batchnorm_forward(l, BN_MODE_INFERENCE, N, xb, LD, y, LD), BN_ERR_NON_FINITE);
    assert_status(bn_batchnorm_forward(l, BN_MODE_INFERENCE, 1, K.x, LD, y, LD),
                  BN_ERR_BATCH_TOO_SMALL);
    assert_int_equal(test_padding_changed(y, 0, 1, BIG, -777.25f), 0);
    xb[i0] = K.x[i0];
    bn_batchnorm_destroy(l);
  }
}

/* eps and update factor setters: eps <= 0 and factors outside (0, 1]
 * (BN_ERR_INVALID_ARGUMENT), NaN / infinity (BN_ERR_NON_FINITE); the stored
 * values stay. set_batches_tracked accepts any count, including UINT64_MAX. */
static void layer_setters_reject_bad_values(void **state)
{
  (void)state;
  bn_batchnorm *l = new_layer(0);
  static const float bad_eps[] = {0.0f, -0.0f, -1.0f, -1e-30f};
  for (size_t i = 0; i < 4; i++)
    assert_status(bn_batchnorm_set_eps(l, bad_eps[i]), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_eps(l, NAN), BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_set_eps(l, INFINITY), BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_set_eps(l, -INFINITY), BN_ERR_NON_FINITE);
  static const float bad_factor[] = {0.0f, -0.0f, -0.5f, 1.0000001f, 100.0f};
  for (size_t i = 0; i < 5; i++)
    assert_status(bn_batchnorm_set_update_factor(l, bad_factor[i]), BN_ERR_INVALID_ARGUMENT);
  assert_status(bn_batchnorm_set_update_factor(l, NAN), BN_ERR_NON_FINITE);
  assert_status(bn_batchnorm_set_update_factor(l, -INFINITY), BN_ERR_NON_FINITE);
  float v = 0;
  assert_ok(bn_batchnorm_get_eps(l, &v));
  assert_true(v == 1e-5f);
  assert_ok(bn_batchnorm_get_update_factor(l, &v));
  assert_true(v == 0.1f);
  assert_ok(bn_batchnorm_set_eps(l, 1e-30f)); /* tiny but positive is fine */
  assert_ok(bn_batchnorm_set_update_factor(l, 1e-30f));
  assert_ok(bn_batchnorm_set_batches_tracked(l, UINT64_MAX));
  uint64_t n = 0;
  assert_ok(bn_batchnorm_batches_tracked(l, &n));
  assert_true(n == UINT64_MAX);
  bn_batchnorm_destroy(l);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(kernels_reject_bad_sizes_and_flags),
      cmocka_unit_test(kernels_reject_bad_parameters),
      cmocka_unit_test(training_kernels_refuse_non_finite_data),
      cmocka_unit_test(inference_kernels_propagate_non_finite_data),
      cmocka_unit_test(layer_create_and_destroy),
      cmocka_unit_test(layer_accessors_reject_null),
      cmocka_unit_test(layer_get_set_reject_bad_ids_and_counts),
      cmocka_unit_test(layer_forward_backward_reject_bad_arguments),
      cmocka_unit_test(layer_non_finite_data),
      cmocka_unit_test(layer_setters_reject_bad_values),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* The optimizer's passes of one training step, alone: the tensors of the
 * default network (784 -> input BatchNorm -> 256 -> 128 -> 10, 237,098
 * parameters in 8 tensors, each its own allocation as in the layers), each
 * rule's update (bni_optimizer_update over every tensor, the committing
 * sweep) and the check before it (the gradients' extent and the finiteness
 * bound), on the loops bni_isa_select() picks (BN_ISA caps them).
 *
 * Lines: RESULT,optimizer,<isa>,1,<rule>_<pass>,<tensors>,<values>,<bytes>,<ns>,<GB/s>
 * where bytes counts each array the pass reads or writes once (Adam's update:
 * param, grad, m1, m2 read, param, m1, m2 written: 7 x 4 bytes a value).
 * <rule>_rw is the reference: a plain read and write of the same arrays (each
 * array the rule writes gets the gradient added, one pass, AVX-512 when the
 * CPU has it), the memory limit the update is held against.
 * Usage: bench_optimizer [--reps 21] [--budget seconds] [--clock wall|cpu]
 * Internal functions, hence linked with the library's objects. A measurement,
 * never a pass/fail test. */
#include <bn/bn.h>
#include "bench_common.h"
#include "../../src/model/mlp_internal.h"
#include "../../src/model/optimizer_loops.h"

enum { TENSORS = 8 };
/* W1, input BatchNorm's gamma and beta, W2, layer 1's gamma and beta
 * together, W3, layer 2's gamma and beta together, b3 */
static const size_t SIZES[TENSORS] = {784 * 256, 784, 784, 256 * 128, 2 * 256, 128 * 10, 2 * 128, 10};

typedef struct tensors {
  bni_optimizer opt;
  float *p[TENSORS], *g[TENSORS], *m1[TENSORS], *m2[TENSORS];
  bni_opt_extent kept[TENSORS];
  uint64_t step;
} tensors;

static void update(void *ctx)
{
  tensors *t = ctx;
  t->step++;
  for (size_t k = 0; k < TENSORS; k++)
    bni_optimizer_update(&t->opt, t->step, t->p[k], t->g[k], t->m1[k], t->m2[k], SIZES[k],
                         k == 0 ? 1e-4 : 0.0, &t->kept[k]);
}

/* The reference pass of the arrays of tensor k: read param, grad and the
 * rule's moments, write param and the moments, no other arithmetic. */
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
__attribute__((target("avx512f"))) static size_t rw_avx512(float *restrict p,
                                                           const float *restrict g,
                                                           float *restrict m1,
                                                           float *restrict m2, size_t moments,
                                                           size_t n)
{
  size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512 x = _mm512_loadu_ps(g + i);
    _mm512_storeu_ps(p + i, _mm512_add_ps(_mm512_loadu_ps(p + i), x));
    if (moments > 0)
      _mm512_storeu_ps(m1 + i, _mm512_add_ps(_mm512_loadu_ps(m1 + i), x));
    if (moments > 1)
      _mm512_storeu_ps(m2 + i, _mm512_add_ps(_mm512_loadu_ps(m2 + i), x));
  }
  return i;
}
#endif

static size_t rw_moments;

static void read_write(void *ctx)
{
  tensors *t = ctx;
  for (size_t k = 0; k < TENSORS; k++) {
    float *restrict p = t->p[k], *restrict m1 = t->m1[k], *restrict m2 = t->m2[k];
    const float *restrict g = t->g[k];
    size_t i = 0;
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
    if (__builtin_cpu_supports("avx512f"))
      i = rw_avx512(p, g, m1, m2, rw_moments, SIZES[k]);
#endif
    for (; i < SIZES[k]; i++) {
      p[i] += g[i];
      if (rw_moments > 0)
        m1[i] += g[i];
      if (rw_moments > 1)
        m2[i] += g[i];
    }
  }
}

static void check(void *ctx)
{
  tensors *t = ctx;
  for (size_t k = 0; k < TENSORS; k++) {
    bni_opt_extent e;
    bni_optimizer_grad_extent(t->g[k], SIZES[k], &t->kept[k], &e);
    if (!bni_optimizer_stays_finite(&t->opt, t->step + 1, &e, t->p[k], t->g[k], t->m1[k],
                                    t->m2[k], SIZES[k], k == 0 ? 1e-4 : 0.0))
      fprintf(stderr, "bench_optimizer: tensor %zu would not stay finite\n", k);
  }
}

int main(int argc, char **argv)
{
  int reps = 21;
  double budget = 2.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--reps"))
      reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--clock"))
      bench_clock = strcmp(argv[i + 1], "cpu") ? CLOCK_MONOTONIC : CLOCK_THREAD_CPUTIME_ID;
    else {
      fprintf(stderr, "usage: bench_optimizer [--reps N] [--budget s] [--clock wall|cpu]\n");
      return 2;
    }
  }
  static const int rules[4] = {BN_MLP_SGD, BN_MLP_MOMENTUM, BN_MLP_NESTEROV, BN_MLP_ADAM};
  static const char *names[4] = {"sgd", "momentum", "nesterov", "adam"};
  static tensors t;
  size_t values = 0;
  for (size_t k = 0; k < TENSORS; k++) {
    t.p[k] = bench_alloc(SIZES[k] * sizeof(float));
    t.g[k] = bench_alloc(SIZES[k] * sizeof(float));
    t.m1[k] = bench_alloc(SIZES[k] * sizeof(float));
    t.m2[k] = bench_alloc(SIZES[k] * sizeof(float));
    values += SIZES[k];
  }
  const char *isa = bni_opt_loops_select()->name;
  for (size_t r = 0; r < 4; r++) {
    bni_optimizer_defaults(&t.opt);
    t.opt.kind = rules[r];
    t.opt.lr = 1e-3;
    t.step = 0;
    for (size_t k = 0; k < TENSORS; k++) {
      bench_fill(t.p[k], SIZES[k], 10 * k + 1, -0.1f, 0.1f);
      bench_fill(t.g[k], SIZES[k], 10 * k + 2, -1e-2f, 1e-2f);
      memset(t.m1[k], 0, SIZES[k] * sizeof(float));
      memset(t.m2[k], 0, SIZES[k] * sizeof(float));
    }
    const size_t moments = bni_optimizer_moments(rules[r]);
    const double arrays = 3.0 + 2.0 * (double)moments; /* p, g, moments read; p, moments written */
    char op[32];
    snprintf(op, sizeof op, "%s_update", names[r]);
    bench_result("optimizer", isa, 1, op, TENSORS, values, arrays * 4.0 * (double)values,
                 bench_time(update, &t, reps, budget, NULL));
    rw_moments = moments;
    snprintf(op, sizeof op, "%s_rw", names[r]);
    bench_result("optimizer", isa, 1, op, TENSORS, values, arrays * 4.0 * (double)values,
                 bench_time(read_write, &t, reps, budget, NULL));
    snprintf(op, sizeof op, "%s_check", names[r]);
    bench_result("optimizer", isa, 1, op, TENSORS, values, 4.0 * (double)values,
                 bench_time(check, &t, reps, budget, NULL));
  }
  return 0;
}

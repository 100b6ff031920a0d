/* Every instruction-set path of the optimizer's update gives the same bits:
 * SGD, momentum, Nesterov and Adam, with and without weight decay, on
 * lengths around every vector width and unroll (0 to 70, and 1000) and on
 * starts that are not aligned, checked element by element against a float64
 * reference written here (the library's convention: arithmetic in double,
 * each stored value rounded to float), and the largest magnitudes the update
 * reports against a pass over what it wrote. BN_ISA caps the path (as in
 * the kernels' tests), so this runs generic, AVX2 and AVX-512 where the CPU
 * has them. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bn/bn.h>
#include "../../src/model/mlp_internal.h"
#include "../../src/model/optimizer_loops.h"
#include "isa_caps.h"

enum { MAXN = 1000, SHIFTS = 4 };

static uint32_t bits(float v)
{
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/* Values spread over magnitudes (a few subnormal gradients and zeros of
 * both signs among them), so roundings land everywhere. */
static float value(uint64_t *state, double scale)
{
  *state = *state * 6364136223846793005u + 1442695040888963407u;
  const uint32_t r = (uint32_t)(*state >> 33);
  if (r % 29 == 0)
    return (r & 64) ? -0.0f : 0.0f;
  if (r % 31 == 0)
    return (r & 64) ? -1e-40f : 3e-41f;
  const double mant = (double)(r & 0xffff) / 65536.0 - 0.5;
  return (float)ldexp(scale * mant, (int)((r >> 16) % 24) - 12);
}

/* The reference: one element of each rule, one operation a statement (no
 * contraction whatever the compiler's default). */
static void reference(const bni_optimizer *o, uint64_t t, double decay, float *p, float g,
                      float *m1, float *m2)
{
  const double shrink = 1.0 - o->lr * decay, gd = (double)g;
  const double kept = (double)*p * shrink;
  double step;
  switch (o->kind) {
  case BN_MLP_SGD: {
    step = o->lr * gd;
    break;
  }
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV: {
    const double mv = o->momentum * (double)*m1;
    *m1 = (float)(mv + gd);
    double d = (double)*m1;
    if (o->kind == BN_MLP_NESTEROV) {
      const double md = o->momentum * d;
      d = gd + md;
    }
    step = o->lr * d;
    break;
  }
  default: {
    const double c2 = 1.0 - pow(o->beta2, (double)t), root = sqrt(c2);
    const double step_size = o->lr / (1.0 - pow(o->beta1, (double)t));
    const double a1 = o->beta1 * (double)*m1, b1 = (1.0 - o->beta1) * gd;
    *m1 = (float)(a1 + b1);
    const double a2 = o->beta2 * (double)*m2, g2 = (1.0 - o->beta2) * gd, b2 = g2 * gd;
    *m2 = (float)(a2 + b2);
    const double denom = (double)sqrtf(*m2) + o->eps * root;
    const double num = step_size * root * (double)*m1;
    step = num / denom;
    break;
  }
  }
  *p = (float)(kept - step);
}

static float top_of(const float *v, size_t n)
{
  float top = 0.0f;
  for (size_t i = 0; i < n; i++)
    top = fabsf(v[i]) > top ? fabsf(v[i]) : top;
  return top;
}

/* Backing arrays one vector register longer than the longest case, so each
 * start can be shifted off its alignment. */
typedef struct arrays {
  float p[MAXN + SHIFTS], g[MAXN + SHIFTS], m1[MAXN + SHIFTS], m2[MAXN + SHIFTS];
} arrays;

static void fill(arrays *a, uint64_t seed)
{
  uint64_t s = seed;
  for (size_t i = 0; i < MAXN + SHIFTS; i++) {
    a->p[i] = value(&s, 4.0);
    a->g[i] = value(&s, 1.0);
    a->m1[i] = value(&s, 0.5);
    a->m2[i] = fabsf(value(&s, 0.25)); /* a second moment is >= 0 */
  }
}

/* One case on the current path: two updates from the same arrays (the
 * second starts from the first's moments), checked bit for bit. */
static void one_case(int kind, double decay, size_t n, size_t shift, uint64_t seed)
{
  static arrays got, want;
  bni_optimizer o;
  bni_optimizer_defaults(&o);
  o.kind = kind;
  o.lr = 3e-3;
  o.momentum = 0.875;
  o.beta1 = 0.85;
  o.beta2 = 0.995;
  o.eps = 1e-6;
  fill(&got, seed);
  fill(&want, seed);
  for (uint64_t t = 1; t <= 2; t++) {
    bni_opt_extent after;
    bni_optimizer_update(&o, t, got.p + shift, got.g + shift, got.m1 + shift, got.m2 + shift,
                         n, decay, &after);
    for (size_t i = shift; i < shift + n; i++)
      reference(&o, t, decay, &want.p[i], want.g[i], &want.m1[i], &want.m2[i]);
    const size_t moments = bni_optimizer_moments(kind);
    for (size_t i = 0; i < MAXN + SHIFTS; i++) {
      if (bits(got.p[i]) != bits(want.p[i]) || bits(got.m1[i]) != bits(want.m1[i]) ||
          bits(got.m2[i]) != bits(want.m2[i]))
        fail_msg("%s: rule %d, decay %g, n %zu, start +%zu, step %llu: element %zu differs "
                 "(p %a vs %a, m1 %a vs %a, m2 %a vs %a)",
                 bni_opt_loops_select()->name, kind, decay, n, shift, (unsigned long long)t,
                 i, (double)got.p[i], (double)want.p[i], (double)got.m1[i],
                 (double)want.m1[i], (double)got.m2[i], (double)want.m2[i]);
    }
    assert_true(after.param == top_of(got.p + shift, n));
    assert_true(after.m1 == (moments > 0 ? top_of(got.m1 + shift, n) : 0.0f));
    assert_true(after.m2 == (moments > 1 ? top_of(got.m2 + shift, n) : 0.0f));
  }
}

static void every_rule_on_every_path_matches_the_reference(void **state)
{
  (void)state;
  static const int rules[4] = {BN_MLP_SGD, BN_MLP_MOMENTUM, BN_MLP_NESTEROV, BN_MLP_ADAM};
  isa_caps caps;
  isa_caps_begin(&caps);
  while (isa_caps_next(&caps)) {
    const bni_opt_loops *loops = bni_opt_loops_select();
    if (!isa_caps_is_new(&caps, loops))
      continue;
    printf("# optimizer path %s\n", loops->name);
    uint64_t seed = 1;
    for (size_t r = 0; r < 4; r++)
      for (size_t d = 0; d < 2; d++)
        for (size_t n = 0; n <= MAXN; n = n < 70 ? n + 1 : (n < MAXN ? MAXN : n + 1))
          for (size_t shift = 0; shift < SHIFTS; shift++)
            one_case(rules[r], d ? 0.05 : 0.0, n, shift, seed++);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_rule_on_every_path_matches_the_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

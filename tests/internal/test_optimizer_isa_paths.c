/* Every instruction-set path of the optimizer's update gives the same bits:
 * SGD, momentum, Nesterov and Adam, with and without weight decay (and
 * Adam with an epsilon that rounds to 0 in float), on lengths around every
 * vector width and unroll (0 to 70, and 1000) and on starts that are not
 * aligned, checked element by element against a float reference written
 * here (the arithmetic docs/math.md, section 9, states: float operations in
 * a fixed order, coefficients in double rounded to float), and the largest
 * magnitudes the update reports against a pass over what it wrote. At
 * float's overflow threshold the check before an update refuses exactly
 * the updates that would write a non-finite value. BN_ISA caps the path
 * (as in the kernels' tests), so this runs generic, AVX2 and AVX-512 where
 * the CPU has them. */
#define _POSIX_C_SOURCE 200809L
#include <float.h>
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

/* The reference: one element of each rule as docs/math.md states it,
 * one float operation a statement (no contraction whatever the compiler's
 * default), with the coefficients computed here in double and rounded to
 * float. */
static void reference(const bni_optimizer *o, uint64_t t, double decay, float *p, float g,
                      float *m1, float *m2)
{
  const float shrink = (float)(1.0 - o->lr * decay), lr = (float)o->lr;
  const float kept = *p * shrink;
  float step;
  switch (o->kind) {
  case BN_MLP_SGD: {
    step = lr * g;
    break;
  }
  case BN_MLP_MOMENTUM:
  case BN_MLP_NESTEROV: {
    const float mu = (float)o->momentum, mv = mu * *m1;
    *m1 = mv + g;
    float d = *m1;
    if (o->kind == BN_MLP_NESTEROV) {
      const float md = mu * d;
      d = g + md;
    }
    step = lr * d;
    break;
  }
  default: {
    const double root = sqrt(1.0 - pow(o->beta2, (double)t));
    const float b1 = (float)o->beta1, c1 = (float)(1.0 - o->beta1);
    const float b2 = (float)o->beta2, c2 = (float)(1.0 - o->beta2);
    const float s = (float)(o->lr / (1.0 - pow(o->beta1, (double)t)) * root);
    float eps = (float)(o->eps * root);
    if (eps == 0.0f)
      eps = nextafterf(0.0f, 1.0f);
    const float a1 = b1 * *m1, g1 = c1 * g;
    *m1 = a1 + g1;
    const float a2 = b2 * *m2, g2 = c2 * g, gg = g2 * g;
    *m2 = a2 + gg;
    const float root2 = sqrtf(*m2), denom = root2 + eps;
    const float num = s * *m1;
    step = num / denom;
    break;
  }
  }
  *p = kept - step;
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
static void one_case(int kind, double decay, double eps, size_t n, size_t shift,
                     uint64_t seed)
{
  static arrays got, want;
  bni_optimizer o;
  bni_optimizer_defaults(&o);
  o.kind = kind;
  o.lr = 3e-3;
  o.momentum = 0.875;
  o.beta1 = 0.85;
  o.beta2 = 0.995;
  o.eps = eps;
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
            one_case(rules[r], d ? 0.05 : 0.0, 1e-6, n, shift, seed++);
    /* an epsilon that rounds to 0 in float: the smallest positive float */
    for (size_t n = 60; n <= 70; n++)
      one_case(BN_MLP_ADAM, 0.0, 1e-300, n, n % SHIFTS, seed++);
  }
}

/* Whether every value of the arrays is finite. */
static int all_finite(const float *v, size_t n)
{
  for (size_t i = 0; i < n; i++)
    if (!isfinite(v[i]))
      return 0;
  return 1;
}

enum { EDGE_N = 37 }; /* two AVX-512 vectors and a tail */

/* One case at float's edge: the update's check says yes exactly when the
 * committed update writes only finite values, and writes nothing. */
static void edge_case(const bni_optimizer *o, const float *p0, const float *g,
                      const float *m10, const float *m20, int *accepted, int *refused)
{
  float p[EDGE_N], m1[EDGE_N], m2[EDGE_N];
  memcpy(p, p0, sizeof p);
  memcpy(m1, m10, sizeof m1);
  memcpy(m2, m20, sizeof m2);
  bni_opt_extent e, after;
  bni_optimizer_extent(o, p, g, m1, m2, EDGE_N, &e);
  const int ok = bni_optimizer_stays_finite(o, 1, &e, p, g, m1, m2, EDGE_N, 0.0);
  assert_memory_equal(p, p0, sizeof p); /* the check writes nothing */
  assert_memory_equal(m1, m10, sizeof m1);
  assert_memory_equal(m2, m20, sizeof m2);
  bni_optimizer_update(o, 1, p, g, m1, m2, EDGE_N, 0.0, &after);
  const int finite = all_finite(p, EDGE_N) && all_finite(m1, EDGE_N) && all_finite(m2, EDGE_N);
  if (ok != finite)
    fail_msg("%s: rule %d, |g| up to %g: the check says %d, the update's values are %s",
             bni_opt_loops_select()->name, o->kind, (double)e.grad, ok,
             finite ? "finite" : "not all finite");
  *(ok ? accepted : refused) += 1;
}

/* The finiteness contract where float overflows: Adam with beta2 = 0
 * (m2 = g*g, which overflows float from |g| ~ 1.85e19) and beta2 = 0.5,
 * and momentum, Nesterov and SGD with lr 1e3 near |lr*g| = FLT_MAX, each
 * with one element swept across the threshold among ordinary ones, on
 * every path: refused exactly when a new value would not be finite. */
static void the_check_refuses_exactly_the_overflowing_updates(void **state)
{
  (void)state;
  isa_caps caps;
  isa_caps_begin(&caps);
  while (isa_caps_next(&caps)) {
    if (!isa_caps_is_new(&caps, bni_opt_loops_select()))
      continue;
    int accepted = 0, refused = 0;
    static const int rules[4] = {BN_MLP_ADAM, BN_MLP_ADAM, BN_MLP_MOMENTUM, BN_MLP_NESTEROV};
    for (size_t r = 0; r < 5; r++) {
      bni_optimizer o;
      bni_optimizer_defaults(&o);
      o.kind = r < 4 ? rules[r] : BN_MLP_SGD;
      o.beta2 = r == 1 ? 0.5 : 0.0;
      o.lr = o.kind == BN_MLP_ADAM ? 1e-3 : 1e3;
      const double edge = o.kind == BN_MLP_ADAM ? sqrt(FLT_MAX / (1.0 - o.beta2)) : FLT_MAX / 1e3;
      for (int k = -40; k <= 40; k++) {
        float p[EDGE_N], g[EDGE_N], m1[EDGE_N], m2[EDGE_N];
        uint64_t s = (uint64_t)(k + 100 * (int)r);
        for (size_t i = 0; i < EDGE_N; i++) {
          p[i] = value(&s, 1.0);
          g[i] = value(&s, 1.0);
          m1[i] = value(&s, 1.0);
          m2[i] = fabsf(value(&s, 1.0));
        }
        /* one gradient within a few ulps of the edge, in the vectors or the tail */
        const size_t at = (size_t)(k + 40) % EDGE_N;
        g[at] = (float)(edge * (1.0 + k * 2e-8)) * (k % 2 ? -1.0f : 1.0f);
        edge_case(&o, p, g, m1, m2, &accepted, &refused);
      }
    }
    /* both verdicts occur */
    printf("# %s: %d updates accepted, %d refused\n", bni_opt_loops_select()->name, accepted,
           refused);
    assert_true(accepted > 0 && refused > 0);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_rule_on_every_path_matches_the_reference),
    cmocka_unit_test(the_check_refuses_exactly_the_overflowing_updates),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

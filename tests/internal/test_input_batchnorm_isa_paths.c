/* Every instruction-set path of the input BatchNorm's weight pass
 * (input_batchnorm_loops.h) gives the same bits: dgamma and dbeta summed in
 * double over the rows in order, and dW = G gamma + s beta rounded to float,
 * checked element by element against a reference written here, on row
 * counts around the four-row unroll and feature counts around every vector
 * width, with starts that are not aligned. The reference does one operation
 * a statement, so no compiler contracts it into a fused multiply-add; a path
 * that did (clang contracts by default) would differ in the last bit. BN_ISA
 * caps the path, so this runs generic, AVX2 and AVX-512 where the CPU has
 * them. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include "../../src/model/input_batchnorm_loops.h"
#include "isa_caps.h"

enum { MAXH = 9, MAXF = 70, SHIFT = 3 };

static uint64_t bits64(double v)
{
  uint64_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

static uint32_t bits32(float v)
{
  uint32_t u;
  memcpy(&u, &v, sizeof u);
  return u;
}

/* Values of both signs over a few binades, so that roundings land
 * everywhere (a fused multiply-add would round differently in most). */
static double value(uint64_t *state)
{
  *state = *state * 6364136223846793005u + 1442695040888963407u;
  const uint32_t r = (uint32_t)(*state >> 33);
  return ((double)(r & 0xfffff) / 1048576.0 - 0.5) * (double)(1u << ((r >> 20) % 6));
}

static void reference(size_t H, size_t F, const float *w, float *g, const double *s,
                      const float *gamma, const float *beta, double *dgamma, double *dbeta)
{
  for (size_t f = 0; f < F; f++)
    for (size_t k = 0; k < H; k++) {
      const float wk = w[k * F + f], gk = g[k * F + f], sf = (float)s[k];
      const double wg = (double)wk * (double)gk;
      dgamma[f] = dgamma[f] + wg;
      const double ws = (double)wk * s[k];
      dbeta[f] = dbeta[f] + ws;
      const float scaled = gk * gamma[f];
      const float shifted = sf * beta[f];
      g[k * F + f] = scaled + shifted;
    }
}

static void one_case(const bni_ibn_loops *loops, size_t H, size_t F, size_t shift,
                     uint64_t seed)
{
  const size_t n = H * F + SHIFT;
  float *w = calloc(n, sizeof *w), *g = calloc(n, sizeof *g), *gref = calloc(n, sizeof *g);
  float *gamma = calloc(F + SHIFT, sizeof *gamma), *beta = calloc(F + SHIFT, sizeof *beta);
  double *s = calloc(H + 1, sizeof *s), *dg = calloc(F + SHIFT, sizeof *dg);
  double *db = calloc(F + SHIFT, sizeof *db), *dgref = calloc(F + SHIFT, sizeof *dg);
  double *dbref = calloc(F + SHIFT, sizeof *db);
  assert_true(w && g && gref && gamma && beta && s && dg && db && dgref && dbref);
  uint64_t state = seed;
  for (size_t i = 0; i < n; i++) {
    w[i] = (float)value(&state);
    g[i] = gref[i] = (float)value(&state);
  }
  for (size_t f = 0; f < F + SHIFT; f++) {
    gamma[f] = (float)value(&state);
    beta[f] = (float)value(&state);
    dg[f] = dgref[f] = value(&state);
    db[f] = dbref[f] = value(&state);
  }
  for (size_t k = 0; k < H; k++)
    s[k] = value(&state) * 3.7;
  loops->weight_pass(H, F, w + shift, g + shift, s, gamma + shift, beta + shift, dg + shift,
                     db + shift);
  reference(H, F, w + shift, gref + shift, s, gamma + shift, beta + shift, dgref + shift,
            dbref + shift);
  for (size_t i = 0; i < n; i++)
    if (bits32(g[i]) != bits32(gref[i]))
      fail_msg("%s: H %zu F %zu shift %zu: dW element %zu is %a, the reference %a", loops->name,
               H, F, shift, i, (double)g[i], (double)gref[i]);
  for (size_t f = 0; f < F + SHIFT; f++)
    if (bits64(dg[f]) != bits64(dgref[f]) || bits64(db[f]) != bits64(dbref[f]))
      fail_msg("%s: H %zu F %zu shift %zu: feature %zu: dgamma %a (%a), dbeta %a (%a)",
               loops->name, H, F, shift, f, dg[f], dgref[f], db[f], dbref[f]);
  free(w), free(g), free(gref), free(gamma), free(beta);
  free(s), free(dg), free(db), free(dgref), free(dbref);
}

static void every_path_matches_the_reference(void **state)
{
  (void)state;
  isa_caps caps;
  isa_caps_begin(&caps);
  while (isa_caps_next(&caps)) {
    const bni_ibn_loops *loops = bni_ibn_loops_select();
    if (!isa_caps_is_new(&caps, loops))
      continue;
    printf("# input BatchNorm path %s\n", loops->name);
    uint64_t seed = 1;
    for (size_t H = 0; H <= MAXH; H++)
      for (size_t F = 0; F <= MAXF; F++)
        for (size_t shift = 0; shift <= SHIFT; shift++)
          one_case(loops, H, F, shift, seed++);
    one_case(loops, 13, 784, 1, seed++);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_path_matches_the_reference),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

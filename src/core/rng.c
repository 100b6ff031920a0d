/* bn_rng: xoshiro256** seeded through splitmix64, uniform doubles, and
 * normals by the Marsaglia polar method on libbn's own logarithm, so a seed
 * gives the same bits everywhere (compiled with -ffp-contract=off). */
#include <bn/rng.h>

#include <math.h>
#include "log.h"

static uint64_t splitmix64(uint64_t *x)
{
  uint64_t z = (*x += 0x9E3779B97F4A7C15u);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
  return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
  return (x << k) | (x >> (64 - k));
}

static uint64_t next(uint64_t s[4])
{
  const uint64_t result = rotl(s[1] * 5u, 7) * 9u;
  const uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

static double uniform(uint64_t s[4])
{
  return (double)(next(s) >> 11) * 0x1p-53;
}

static bn_status check(const bn_rng *rng, const void *out)
{
  if (!rng || !out)
    return BN_ERR_INVALID_ARGUMENT;
  if ((rng->state[0] | rng->state[1] | rng->state[2] | rng->state[3]) == 0)
    return BN_ERR_WRONG_STATE;
  return BN_OK;
}

bn_status bn_rng_seed(bn_rng *rng, uint64_t seed)
{
  if (!rng)
    return BN_ERR_INVALID_ARGUMENT;
  uint64_t x = seed;
  for (int i = 0; i < 4; i++)
    rng->state[i] = splitmix64(&x);
  /* splitmix64 is a bijection of its counter, so four consecutive outputs
   * are never all zero; keep the invariant explicit anyway. */
  if ((rng->state[0] | rng->state[1] | rng->state[2] | rng->state[3]) == 0)
    rng->state[0] = 1;
  return BN_OK;
}

bn_status bn_rng_next_u64(bn_rng *rng, uint64_t *out)
{
  bn_status st = check(rng, out);
  if (st == BN_OK)
    *out = next(rng->state);
  return st;
}

bn_status bn_rng_uniform(bn_rng *rng, double *out)
{
  bn_status st = check(rng, out);
  if (st == BN_OK)
    *out = uniform(rng->state);
  return st;
}

bn_status bn_rng_normal(bn_rng *rng, double *out)
{
  bn_status st = check(rng, out);
  if (st != BN_OK)
    return st;
  double u, s;
  do {
    u = 2.0 * uniform(rng->state) - 1.0;
    const double v = 2.0 * uniform(rng->state) - 1.0;
    s = u * u + v * v;
  } while (s >= 1.0 || s == 0.0);
  /* sqrt is correctly rounded by IEEE 754; the logarithm is libbn's own. */
  *out = u * sqrt(-2.0 * bni_log(s) / s);
  return BN_OK;
}

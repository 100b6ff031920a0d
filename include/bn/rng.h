#ifndef BN_RNG_H
#define BN_RNG_H

/** @file bn/rng.h
 *  @brief A seeded, platform-independent random generator owned by the caller.
 *
 *  The generator is xoshiro256** (Blackman and Vigna) whose four state words
 *  are the first four outputs of splitmix64 started at the seed. Normal
 *  variates use the Marsaglia polar method with a logarithm computed by libbn
 *  itself from IEEE basic operations only, so the same seed gives
 *  bit-identical sequences (and so identical initial weights) on every
 *  machine and compiler. There is no global generator: every caller passes
 *  its own.
 *
 *  Exact definitions (the sequence is part of the ABI promise):
 *  - bn_rng_next_u64: one xoshiro256** step;
 *  - bn_rng_uniform:  (next_u64 >> 11) * 2^-53;
 *  - bn_rng_normal:   repeat u = 2*uniform - 1, v = 2*uniform - 1,
 *                     s = u*u + v*v until 0 < s < 1; return u*sqrt(-2 log(s)/s)
 *                     (the second variate v*sqrt(...) is discarded, so a normal
 *                     consumes an even number of u64 draws, 2 on 79% of calls).
 *
 *  Errors are reported by the status only: the generator is a plain struct
 *  with no message buffer (see docs/errors.md).
 *
 *  The struct is public so it can live on the stack; its size and meaning
 *  are part of the ABI and never change. Treat the fields as opaque.
 *  @par Thread-safety
 *  One generator per thread (no internal locking). */

#include <stdint.h>
#include <bn/status.h>

BN_EXTERN_C_BEGIN

/** Generator state. Initialize with bn_rng_seed(). */
typedef struct bn_rng {
  uint64_t state[4]; /**< xoshiro256** state; never all zero after seeding. */
} bn_rng;

/** @brief Seed a generator. Any seed (including 0) is valid.
 *  @return BN_OK, or BN_ERR_INVALID_ARGUMENT if rng is NULL.
 *  @par Thread-safety
 *  One thread at a time per generator; distinct generators are independent. */
BN_API bn_status bn_rng_seed(bn_rng *rng, uint64_t seed);

/** @brief Next 64 random bits.
 *  @return BN_OK; BN_ERR_INVALID_ARGUMENT (rng or out NULL);
 *          BN_ERR_WRONG_STATE if the state is all zero (never seeded, e.g.
 *          a zero-initialized struct: xoshiro would only return zeros).
 *          On error neither *out nor the state is changed.
 *  @par Thread-safety
 *  One thread at a time per generator; distinct generators are independent. */
BN_API bn_status bn_rng_next_u64(bn_rng *rng, uint64_t *out);

/** @brief Uniform double in [0, 1) with 53 random bits.
 *  @return as bn_rng_next_u64().
 *  @par Thread-safety
 *  One thread at a time per generator; distinct generators are independent. */
BN_API bn_status bn_rng_uniform(bn_rng *rng, double *out);

/** @brief Standard normal variate (mean 0, variance 1).
 *  @return as bn_rng_next_u64().
 *  @par Thread-safety
 *  One thread at a time per generator; distinct generators are independent. */
BN_API bn_status bn_rng_normal(bn_rng *rng, double *out);

BN_EXTERN_C_END

#endif /* BN_RNG_H */

#ifndef BNI_LOG_H
#define BNI_LOG_H

/* A natural logarithm built from IEEE basic operations only (+, -, *, /,
 * integer bit manipulation), evaluated in a fixed order, so that it returns
 * the same bits on every machine and compiler that honours IEEE 754 double
 * arithmetic without contraction (this file and its users are compiled with
 * -ffp-contract=off). It exists so that bn_rng_normal() does not depend on
 * the platform's libm, whose log may differ in the last bit.
 *
 * Accuracy: within about 1 ulp of the correctly rounded result over the
 * whole positive range (tests/c/test_rng.c compares it with libm's).
 * Special values: log(+0) = -inf, log(x < 0) = NaN, log(NaN) = NaN,
 * log(+inf) = +inf; subnormal inputs are handled. */

double bni_log(double x);

#endif

/* Natural logarithm from IEEE basic operations (see log.h).
 *
 * x = 2^k * m with m in [sqrt(2)/2, sqrt(2)], taken from the bit pattern.
 * With f = m - 1 (exact) and s = f/(2+f), log(m) = 2*atanh(s)
 * = 2s + s*R(s^2), R(z) = sum_{i>=1} 2 z^i/(2i+1), |s| <= 0.1716, z <= 0.0295.
 * Twelve terms of the series leave a truncation error below 2^-64 relative.
 * As 2s = f - hfsq + s*hfsq with hfsq = f^2/2, the result is assembled as
 *   k*ln2_hi - ((hfsq - (s*(hfsq + R) + k*ln2_lo)) - f)
 * so the large part f enters exactly and the rounding errors of s and R only
 * touch a small correction. ln2_hi has 21 significant bits, so k*ln2_hi is
 * exact for every exponent. */
#include "log.h"

#include <math.h> /* NAN and INFINITY only: no libm function is called */
#include <stdint.h>
#include <string.h>

#define LN2_HI 0x1.62e42p-1                /* 0.69314670562744140625 */
#define LN2_LO 0x1.fdf473de6af28p-22       /* ln(2) - LN2_HI */
#define SQRT2 0x1.6a09e667f3bcdp+0

double bni_log(double x)
{
  if (x != x || x < 0.0)
    return NAN;
  if (x == 0.0)
    return -INFINITY;
  uint64_t bits;
  memcpy(&bits, &x, sizeof bits);
  int k = 0;
  if ((bits >> 52) == 0x7ffu)
    return x; /* +inf */
  if ((bits >> 52) == 0) { /* subnormal: scale into the normal range (exact) */
    x *= 0x1p54;
    memcpy(&bits, &x, sizeof bits);
    k = -54;
  }
  k += (int)(bits >> 52) - 1023;
  bits = (bits & 0x000fffffffffffffu) | 0x3ff0000000000000u;
  double m;
  memcpy(&m, &bits, sizeof m);
  if (m > SQRT2) {
    m *= 0.5;
    k += 1;
  }
  const double f = m - 1.0;
  const double s = f / (2.0 + f);
  const double z = s * s;
  /* R(z) = z*(2/3 + z*(2/5 + ... + z*(2/25))), Horner from the innermost term. */
  double r = 2.0 / 25.0;
  r = 2.0 / 23.0 + z * r;
  r = 2.0 / 21.0 + z * r;
  r = 2.0 / 19.0 + z * r;
  r = 2.0 / 17.0 + z * r;
  r = 2.0 / 15.0 + z * r;
  r = 2.0 / 13.0 + z * r;
  r = 2.0 / 11.0 + z * r;
  r = 2.0 / 9.0 + z * r;
  r = 2.0 / 7.0 + z * r;
  r = 2.0 / 5.0 + z * r;
  r = 2.0 / 3.0 + z * r;
  const double R = z * r;
  const double hfsq = 0.5 * f * f;
  const double dk = (double)k;
  return dk * LN2_HI - ((hfsq - (s * (hfsq + R) + dk * LN2_LO)) - f);
}

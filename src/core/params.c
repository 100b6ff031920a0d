#include "params.h"

#include <math.h>

bn_status bni_check_param(bni_error *err, const bni_param_range *r, double value)
{
  if (!isfinite(value))
    return bni_fail(err, BN_ERR_NON_FINITE, "%s is not finite", r->name);
  int inside = value >= r->lo && value <= r->hi && !(r->lo_open && value == r->lo) &&
               !(r->hi_open && value == r->hi) && !(r->integral && value != floor(value));
  if (!inside)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s %g is outside %c%g, %g%c%s", r->name,
                    value, r->lo_open ? '(' : '[', r->lo, r->hi, r->hi_open ? ')' : ']',
                    r->integral ? " or not an integer" : "");
  if (r->as_float) {
    double stored = (double)(float)value;
    if ((r->lo_open && stored <= r->lo) || (r->hi_open && stored >= r->hi) || !isfinite(stored))
      return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "%s %g rounds to a bound in float",
                      r->name, value);
  }
  return BN_OK;
}

bn_status bni_param_bounds(const bni_param_range *r, double *lower, double *upper)
{
  if (!lower && !upper)
    return BN_ERR_INVALID_ARGUMENT;
  if (lower)
    *lower = r->lo;
  if (upper)
    *upper = r->hi;
  return BN_OK;
}

bn_status bni_check_renorm_limits(bni_error *err, double rmax, double dmax)
{
  static const bni_param_range rmax_range = BNI_RENORM_RMAX_RANGE,
                               dmax_range = BNI_RENORM_DMAX_RANGE;
  bn_status st = bni_check_param(err, &rmax_range, rmax);
  return st == BN_OK ? bni_check_param(err, &dmax_range, dmax) : st;
}

#ifndef BNI_PARAMS_H
#define BNI_PARAMS_H

/* The range of a tunable set through a *_set_parameter() entry point: one
 * description serves the check, the error message and *_parameter_bounds(). */

#include <float.h>
#include <bn/status.h>
#include "error.h"

typedef struct bni_param_range {
  const char *name;   /* for messages; NULL marks an unused slot of a table */
  double lo, hi;      /* inclusive unless the matching *_open is set */
  unsigned char lo_open, hi_open;
  unsigned char integral; /* the value must be a whole number */
  unsigned char as_float; /* stored as float: must not round onto an excluded bound */
} bni_param_range;

/* BN_OK, BN_ERR_NON_FINITE (NaN or infinity) or BN_ERR_INVALID_ARGUMENT
 * (outside the range, not integral, or rounding to an excluded bound). */
bn_status bni_check_param(bni_error *err, const bni_param_range *range, double value);

/* The range's bounds (an open bound reported as its limit); either pointer
 * may be NULL, not both (BN_ERR_INVALID_ARGUMENT). */
bn_status bni_param_bounds(const bni_param_range *range, double *lower, double *upper);

/* Batch Renormalization's limits, for the layer's parameters and the
 * stateless kernels alike: rmax >= 1 and dmax >= 0, finite, stored as float. */
#define BNI_RENORM_RMAX_RANGE {"rmax", 1.0, FLT_MAX, 0, 0, 0, 1}
#define BNI_RENORM_DMAX_RANGE {"dmax", 0.0, FLT_MAX, 0, 0, 0, 1}

bn_status bni_check_renorm_limits(bni_error *err, double rmax, double dmax);

#endif

/* The input standardizer: per-feature (count, mean, M2) over a whole data set,
 * fitted at once or merged chunk by chunk (core/moments.h), and the affine
 * map it implies, applied in double and rounded once. */
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bn/standardizer.h>
#include "../core/blob.h"
#include "../core/checks.h"
#include "../core/moments.h"
#include "standardizer_internal.h"

#define STATE_MAGIC "BNSD"
#define STATE_VERSION 1u
#define STATE_HEADER_BYTES 32u
#define STATE_NAME "standardizer state"

/* Option bits, as stored in the state blob. */
#define OPT_WITH_MEAN 1u
#define OPT_WITH_STD 2u
#define KNOWN_OPTIONS (OPT_WITH_MEAN | OPT_WITH_STD)

/* Counts are doubles in the merge: beyond 2^53 they would stop being exact. */
#define MAX_COUNT ((uint64_t)1 << 53)

#define ROWS 9 /* doubles per feature, one allocation */

struct bn_standardizer {
  size_t features;
  unsigned options;
  uint64_t count; /* 0: unfitted */
  /* F doubles each. mean and m2 are the state; scale follows from them;
   * center, applied_scale and inverse_scale are what the transforms apply;
   * chunk_mean and chunk_m2 hold a chunk's moments until they are known
   * finite; zeros stays 0. */
  double *mean, *m2, *scale, *center, *applied_scale, *inverse_scale, *chunk_mean, *chunk_m2,
      *zeros;
  bni_error err;
};

/* The error buffer is the only thing a call writes through a const handle,
 * like errno: a message is not part of the observable state. */
static bni_error *err_of(const bn_standardizer *s)
{
  return (bni_error *)(uintptr_t)&s->err;
}

bn_status bn_standardizer_create(bn_standardizer **out, size_t features)
{
  if (!out)
    return BN_ERR_INVALID_ARGUMENT;
  *out = NULL;
  if (features == 0)
    return BN_ERR_INVALID_ARGUMENT;
  size_t bytes;
  if (!bni_mul_size(features, ROWS * sizeof(double), &bytes))
    return BN_ERR_SIZE_OVERFLOW;
  bn_standardizer *s = calloc(1, sizeof *s);
  double *block = calloc(1, bytes);
  if (!s || !block) {
    free(s);
    free(block);
    return BN_ERR_OUT_OF_MEMORY;
  }
  s->features = features;
  s->options = OPT_WITH_MEAN | OPT_WITH_STD;
  double **rows[ROWS] = {&s->mean,   &s->m2,         &s->scale,      &s->center, &s->applied_scale,
                        &s->inverse_scale, &s->chunk_mean, &s->chunk_m2, &s->zeros};
  for (size_t r = 0; r < ROWS; r++)
    *rows[r] = block + r * features;
  *out = s;
  return BN_OK;
}

void bn_standardizer_destroy(bn_standardizer *standardizer)
{
  if (!standardizer)
    return;
  free(standardizer->mean); /* the start of the one block */
  free(standardizer);
}

const char *bn_standardizer_last_error(const bn_standardizer *standardizer)
{
  return standardizer ? standardizer->err.text : "standardizer is NULL";
}

bn_status bn_standardizer_features(const bn_standardizer *standardizer, size_t *features)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!features)
    return bni_fail(err_of(standardizer), BN_ERR_INVALID_ARGUMENT, "features is NULL");
  *features = standardizer->features;
  return BN_OK;
}

/* ---- the statistics and what they imply ------------------------------- */

/* scikit-learn's test for a feature whose variance is only rounding noise:
 * such a feature is centered but not scaled. */
static int is_constant(double var, double mean, double count)
{
  const double noise = count * mean * DBL_EPSILON;
  return var <= count * DBL_EPSILON * var + noise * noise;
}

/* Recompute the rows that follow from (count, mean, m2) and the options. */
static void refresh(bn_standardizer *s)
{
  const double n = (double)s->count;
  for (size_t f = 0; f < s->features; f++) {
    const double var = s->m2[f] / n;
    s->scale[f] = is_constant(var, s->mean[f], n) ? 1.0 : sqrt(var);
    s->center[f] = (s->options & OPT_WITH_MEAN) ? s->mean[f] : 0.0;
    s->applied_scale[f] = (s->options & OPT_WITH_STD) ? s->scale[f] : 1.0;
    s->inverse_scale[f] = 1.0 / s->applied_scale[f];
  }
}

/* The moments of x into the chunk rows, after checking x; BN_OK only when
 * they are finite (so x held no NaN or infinity: either makes a sum non-finite). */
static bn_status chunk_moments(bn_standardizer *s, size_t n, const float *x, size_t ld)
{
  bn_status st = bni_check_matrix(&s->err, "x", x, s->features, n, ld);
  if (st != BN_OK)
    return st;
  if ((uint64_t)n > MAX_COUNT)
    return bni_fail(&s->err, BN_ERR_SIZE_OVERFLOW,
                    "%zu samples: counts beyond 2^53 are not exact in double", n);
  bni_moments_of_columns(s->features, n, x, ld, s->chunk_mean, s->chunk_m2);
  for (size_t f = 0; f < s->features; f++)
    if (!isfinite(s->chunk_mean[f]) || !isfinite(s->chunk_m2[f]))
      return bni_fail(&s->err, BN_ERR_NON_FINITE,
                      "feature %zu of x holds NaN or infinity (the statistics are unchanged)", f);
  return BN_OK;
}

bn_status bn_standardizer_fit(bn_standardizer *standardizer, size_t n, const float *x, size_t ld)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_standardizer *s = standardizer;
  bn_status st = chunk_moments(s, n, x, ld);
  if (st != BN_OK)
    return st;
  memcpy(s->mean, s->chunk_mean, s->features * sizeof(double));
  memcpy(s->m2, s->chunk_m2, s->features * sizeof(double));
  s->count = (uint64_t)n;
  refresh(s);
  return BN_OK;
}

bn_status bn_standardizer_partial_fit(bn_standardizer *standardizer, size_t n, const float *x,
                                      size_t ld)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_standardizer *s = standardizer;
  bn_status st = chunk_moments(s, n, x, ld);
  if (st != BN_OK)
    return st;
  if ((uint64_t)n > MAX_COUNT - s->count)
    return bni_fail(&s->err, BN_ERR_SIZE_OVERFLOW,
                    "%llu + %zu samples: counts beyond 2^53 are not exact in double",
                    (unsigned long long)s->count, n);
  /* A state read from bytes may hold moments near the double range, so the
   * union can overflow even though this chunk's moments are finite. */
  if (!bni_moments_merge_finite(s->features, (double)s->count, s->mean, s->m2, (double)n,
                                s->chunk_mean, s->chunk_m2))
    return bni_fail(&s->err, BN_ERR_NON_FINITE,
                    "the statistics with these %zu samples overflow double (they are unchanged)",
                    n);
  s->count += (uint64_t)n;
  refresh(s);
  return BN_OK;
}

bn_status bn_standardizer_count(const bn_standardizer *standardizer, uint64_t *count)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!count)
    return bni_fail(err_of(standardizer), BN_ERR_INVALID_ARGUMENT, "count is NULL");
  *count = standardizer->count;
  return BN_OK;
}

bn_status bn_standardizer_get(const bn_standardizer *standardizer, bn_standardizer_vector which,
                              double *out, size_t count)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  const bn_standardizer *s = standardizer;
  bni_error *err = err_of(s);
  if (!out)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "out is NULL");
  if (which != BN_STANDARDIZER_MEAN && which != BN_STANDARDIZER_SCALE &&
      which != BN_STANDARDIZER_VAR)
    return bni_fail(err, BN_ERR_INVALID_ARGUMENT, "unknown vector id %d", (int)which);
  if (count != s->features)
    return bni_fail(err, BN_ERR_SHAPE_MISMATCH,
                    "buffer holds %zu values, the standardizer has %zu features", count,
                    s->features);
  if (s->count == 0)
    return bni_fail(err, BN_ERR_WRONG_STATE, "the standardizer is not fitted yet");
  for (size_t f = 0; f < count; f++)
    out[f] = which == BN_STANDARDIZER_MEAN    ? s->mean[f]
             : which == BN_STANDARDIZER_SCALE ? s->scale[f]
                                              : s->m2[f] / (double)s->count;
  return BN_OK;
}

/* ---- tunables ------------------------------------------------------------ */

static unsigned option_of(bn_standardizer_param param)
{
  switch (param) {
  case BN_STANDARDIZER_WITH_MEAN:
    return OPT_WITH_MEAN;
  case BN_STANDARDIZER_WITH_STD:
    return OPT_WITH_STD;
  default:
    return 0;
  }
}

bn_status bn_standardizer_parameter_bounds(bn_standardizer_param param, double *lower,
                                           double *upper)
{
  if (!option_of(param) || !lower || !upper)
    return BN_ERR_INVALID_ARGUMENT;
  *lower = 0.0;
  *upper = 1.0;
  return BN_OK;
}

bn_status bn_standardizer_set_parameter(bn_standardizer *standardizer,
                                        bn_standardizer_param param, double value)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_standardizer *s = standardizer;
  const unsigned option = option_of(param);
  if (!option)
    return bni_fail(&s->err, BN_ERR_INVALID_ARGUMENT, "unknown parameter %d", (int)param);
  if (!isfinite(value))
    return bni_fail(&s->err, BN_ERR_NON_FINITE, "parameter %d: the value is not finite",
                    (int)param);
  if (value != 0.0 && value != 1.0)
    return bni_fail(&s->err, BN_ERR_INVALID_ARGUMENT, "parameter %d takes 0 or 1 (got %g)",
                    (int)param, value);
  s->options = value != 0.0 ? s->options | option : s->options & ~option;
  if (s->count)
    refresh(s);
  return BN_OK;
}

bn_status bn_standardizer_get_parameter(const bn_standardizer *standardizer,
                                        bn_standardizer_param param, double *value)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  const unsigned option = option_of(param);
  if (!option)
    return bni_fail(err_of(standardizer), BN_ERR_INVALID_ARGUMENT, "unknown parameter %d",
                    (int)param);
  if (!value)
    return bni_fail(err_of(standardizer), BN_ERR_INVALID_ARGUMENT, "value is NULL");
  *value = (standardizer->options & option) ? 1.0 : 0.0;
  return BN_OK;
}

/* ---- transforms ---------------------------------------------------------- */

/* Both directions: out = (in - before[f])*factor[f] + after[f] in double,
 * rounded once, after checking a fitted handle, two F x n matrices and an
 * output that is the input itself or disjoint from it. The forward
 * direction subtracts the center and multiplies by the inverse scale; the
 * inverse multiplies by the scale and adds the center back. */
static bn_status apply(const bn_standardizer *s, int inverse, size_t n, const char *in_name,
                       const float *in, size_t ldin, const char *out_name, float *out,
                       size_t ldout)
{
  bni_error *err = err_of(s);
  bn_status st = bni_check_matrix(err, in_name, in, s->features, n, ldin);
  if (st == BN_OK)
    st = bni_check_matrix(err, out_name, out, s->features, n, ldout);
  if (st == BN_OK)
    st = bni_check_alias(err, in_name, in, ldin, out_name, out, ldout, s->features, n);
  if (st == BN_OK && s->count == 0)
    st = bni_fail(err, BN_ERR_WRONG_STATE, "the standardizer is not fitted yet");
  if (st != BN_OK)
    return st;
  const double *before = inverse ? s->zeros : s->center;
  const double *factor = inverse ? s->applied_scale : s->inverse_scale;
  const double *after = inverse ? s->center : s->zeros;
  for (size_t j = 0; j < n; j++)
    for (size_t f = 0; f < s->features; f++)
      out[f + j * ldout] = (float)(((double)in[f + j * ldin] - before[f]) * factor[f] + after[f]);
  return BN_OK;
}

bn_status bn_standardizer_transform(const bn_standardizer *standardizer, size_t n,
                                    const float *x, size_t ldx, float *y, size_t ldy)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  return apply(standardizer, 0, n, "x", x, ldx, "y", y, ldy);
}

bn_status bn_standardizer_inverse_transform(const bn_standardizer *standardizer, size_t n,
                                            const float *y, size_t ldy, float *x, size_t ldx)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  return apply(standardizer, 1, n, "y", y, ldy, "x", x, ldx);
}

/* ---- state blob ---------------------------------------------------------- */

static int state_bytes(size_t features, size_t *out)
{
  size_t vectors;
  if (!bni_mul_size(features, 2 * sizeof(double), &vectors) ||
      vectors > SIZE_MAX - STATE_HEADER_BYTES - 4)
    return 0;
  *out = STATE_HEADER_BYTES + vectors + 4;
  return 1;
}

bn_status bn_standardizer_serialized_size(const bn_standardizer *standardizer, size_t *size)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  if (!size)
    return bni_fail(err_of(standardizer), BN_ERR_INVALID_ARGUMENT, "size is NULL");
  if (!state_bytes(standardizer->features, size))
    return bni_fail(err_of(standardizer), BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  return BN_OK;
}

bn_status bn_standardizer_serialize(const bn_standardizer *standardizer, void *buffer,
                                    size_t capacity, size_t *written)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  const bn_standardizer *s = standardizer;
  if (!buffer)
    return bni_fail(err_of(s), BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  size_t need;
  if (!state_bytes(s->features, &need))
    return bni_fail(err_of(s), BN_ERR_SIZE_OVERFLOW, "state size overflows size_t");
  if (capacity < need)
    return bni_fail(err_of(s), BN_ERR_BAD_SIZE, "buffer of %zu bytes, the state needs %zu",
                    capacity, need);
  bni_writer w = {buffer, capacity, 0, 0};
  bni_put_bytes(&w, STATE_MAGIC, 4);
  bni_put_u32(&w, STATE_VERSION);
  bni_put_u64(&w, (uint64_t)s->features);
  bni_put_u32(&w, s->options);
  bni_put_u32(&w, 0);
  bni_put_u64(&w, s->count);
  for (size_t f = 0; f < s->features; f++)
    bni_put_f64(&w, s->mean[f]);
  for (size_t f = 0; f < s->features; f++)
    bni_put_f64(&w, s->m2[f]);
  bni_blob_seal(&w);
  if (written)
    *written = w.pos;
  return BN_OK;
}

/* Check a blob's framing (size, magic, version, checksum) and read its
 * feature count; the reader then stands after the count. */
static bn_status open_state(bni_reader *r, const void *buffer, size_t size, bni_error *err,
                            uint64_t *features)
{
  bn_status st = bni_blob_open(r, buffer, size, STATE_HEADER_BYTES, STATE_MAGIC, STATE_VERSION,
                               STATE_NAME, err);
  if (st != BN_OK)
    return st;
  *features = bni_get_u64(r);
  size_t expected;
  int size_ok = *features <= SIZE_MAX && state_bytes((size_t)*features, &expected) &&
                expected == size;
  return bni_blob_verify(buffer, size, size_ok, STATE_NAME, err);
}

/* Everything a blob holds checked in place, nothing copied: the framing,
 * the feature count against `features`, the header fields and every value.
 * On BN_OK the reader stands at the vectors. */
static bn_status check_state(bni_reader *r, const void *buffer, size_t size, size_t features,
                             bni_error *err, uint32_t *options, uint64_t *count)
{
  uint64_t declared;
  bn_status st = open_state(r, buffer, size, err, &declared);
  if (st != BN_OK)
    return st;
  if (declared != features)
    return bni_fail(err, BN_ERR_SHAPE_MISMATCH, "state has %llu features, the standardizer %zu",
                    (unsigned long long)declared, features);
  *options = bni_get_u32(r);
  const uint32_t reserved = bni_get_u32(r);
  *count = bni_get_u64(r);
  if ((*options & ~(uint32_t)KNOWN_OPTIONS) || reserved != 0 || *count > MAX_COUNT)
    return bni_fail(err, BN_ERR_BAD_FORMAT, "state header holds invalid options or count");
  const size_t base = r->pos;
  for (size_t i = 0; i < 2 * features; i++) {
    const double v = bni_get_f64(r);
    if (!isfinite(v) || (i >= features && v < 0.0) || (*count == 0 && v != 0.0))
      return bni_fail(err, BN_ERR_BAD_FORMAT, "state vector value %zu is invalid", i);
  }
  r->pos = base;
  return BN_OK;
}

bn_status bn_standardizer_deserialize(bn_standardizer *standardizer, const void *buffer,
                                      size_t size)
{
  if (!standardizer)
    return BN_ERR_INVALID_ARGUMENT;
  bn_standardizer *s = standardizer;
  if (!buffer)
    return bni_fail(&s->err, BN_ERR_INVALID_ARGUMENT, "buffer is NULL");
  bni_reader r;
  uint32_t options = 0;
  uint64_t count = 0;
  bn_status st = check_state(&r, buffer, size, s->features, &s->err, &options, &count);
  if (st != BN_OK)
    return st;
  for (size_t f = 0; f < s->features; f++)
    s->mean[f] = bni_get_f64(&r);
  for (size_t f = 0; f < s->features; f++)
    s->m2[f] = bni_get_f64(&r);
  s->options = options;
  s->count = count;
  if (count)
    refresh(s);
  return BN_OK;
}

/* The handle-less error channel: the message goes to the caller's buffer. */
static bn_status report(char *message, size_t capacity, const bni_error *err, bn_status st)
{
  if (message && capacity)
    snprintf(message, capacity, "%s", err->text);
  return st;
}

bn_status bn_standardizer_create_from_bytes(bn_standardizer **out, const void *buffer,
                                            size_t size, char *message, size_t capacity)
{
  bni_error err = {{0}};
  if (out)
    *out = NULL;
  if (!out || !buffer)
    return report(message, capacity, &err,
                  bni_fail(&err, BN_ERR_INVALID_ARGUMENT, "%s is NULL", out ? "buffer" : "out"));
  bni_reader r;
  uint64_t features;
  bn_status st = open_state(&r, buffer, size, &err, &features);
  if (st == BN_OK && features == 0)
    st = bni_fail(&err, BN_ERR_BAD_FORMAT, "%s holds 0 features", STATE_NAME);
  if (st != BN_OK)
    return report(message, capacity, &err, st);
  bn_standardizer *s;
  st = bn_standardizer_create(&s, (size_t)features);
  if (st != BN_OK)
    return report(message, capacity, &err,
                  bni_fail(&err, st, "cannot create a standardizer of %llu features",
                           (unsigned long long)features));
  st = bn_standardizer_deserialize(s, buffer, size);
  if (st != BN_OK) {
    report(message, capacity, &s->err, st);
    bn_standardizer_destroy(s);
    return st;
  }
  *out = s;
  return report(message, capacity, &err, BN_OK);
}

/* ---- rows for the model above (standardizer_internal.h) ------------------ */

const double *bni_standardizer_center_row(const bn_standardizer *standardizer)
{
  return standardizer->count ? standardizer->center : NULL;
}

const double *bni_standardizer_scale_row(const bn_standardizer *standardizer)
{
  return standardizer->count ? standardizer->applied_scale : NULL;
}

int bni_standardizer_bytes(size_t features, size_t *bytes)
{
  return state_bytes(features, bytes);
}

bn_status bni_standardizer_check_bytes(const void *buffer, size_t size, size_t features,
                                       bni_error *err)
{
  bni_reader r;
  uint32_t options = 0;
  uint64_t count = 0;
  return check_state(&r, buffer, size, features, err, &options, &count);
}

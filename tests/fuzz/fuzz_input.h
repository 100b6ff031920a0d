#ifndef BN_FUZZ_INPUT_H
#define BN_FUZZ_INPUT_H

/* What the harnesses share: a cursor that turns the fuzzer's bytes into
 * choices (running out of bytes yields zeros, so every input is a complete
 * program), and a way to hand bytes to a reader that wants a path. */

#include <float.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "../../src/core/blob.h"

/* A broken promise (the library refusing what it wrote, a call that cannot
 * fail failing): say where before the abort, which libFuzzer reports only
 * as a deadly signal. */
#define FUZZ_BROKEN()                                                                      \
  do {                                                                                     \
    fprintf(stderr, "broken promise at %s:%d in %s\n", __FILE__, __LINE__, __func__);      \
    abort();                                                                               \
  } while (0)

typedef struct fuzz_input {
  const uint8_t *p;
  size_t n;
} fuzz_input;

static inline uint8_t fuzz_u8(fuzz_input *in)
{
  if (in->n == 0)
    return 0;
  in->n--;
  return *in->p++;
}

static inline uint32_t fuzz_u32(fuzz_input *in)
{
  uint32_t v = 0;
  for (int i = 0; i < 4; i++)
    v |= (uint32_t)fuzz_u8(in) << (8 * i);
  return v;
}

/* A value in [0, n) (n >= 1). */
static inline size_t fuzz_below(fuzz_input *in, size_t n)
{
  return fuzz_u8(in) % n;
}

/* A float: mostly ordinary values, often the ones that break arithmetic
 * (NaN, infinities, the extremes, subnormals, signed zero), sometimes raw bits. */
static inline float fuzz_float(fuzz_input *in)
{
  static const float special[] = {0.0f, -0.0f, 1.0f, -1.0f, 0.5f, 1e-3f, 1e3f, 1e19f, -1e19f,
                                  FLT_MAX, -FLT_MAX, FLT_MIN, 1e-45f, INFINITY, -INFINITY, NAN};
  uint8_t kind = fuzz_u8(in);
  if (kind < 160)
    return ((float)kind - 80.0f) / 16.0f;
  if (kind < 240)
    return special[kind % (sizeof special / sizeof special[0])];
  uint32_t bits = fuzz_u32(in);
  float f;
  memcpy(&f, &bits, sizeof f);
  return f;
}

/* A double for a set_parameter call: inside or just outside typical ranges. */
static inline double fuzz_double(fuzz_input *in)
{
  static const double special[] = {0.0, -0.0, 1.0, -1.0, 0.5, 0.9, 0.999, 1e-8, 1e-3, 2.0, 3.0,
                                   64.0, 65.0, 9007199254740992.0, 1.8446744073709552e19, 1e300,
                                   DBL_MAX, INFINITY, -INFINITY, NAN, 4.0, 0.1};
  return special[fuzz_below(in, sizeof special / sizeof special[0])];
}

/* n values of fuzz_float into a. */
static inline void fuzz_floats(fuzz_input *in, float *a, size_t n)
{
  for (size_t i = 0; i < n; i++)
    a[i] = fuzz_float(in);
}

/* A batch size in [0, max]. */
static inline size_t fuzz_batch(fuzz_input *in, size_t max)
{
  return fuzz_below(in, max + 1);
}

/* A leading dimension near features: features + 0, 1 or 2, or 1 in 4
 * times one too small. */
static inline size_t fuzz_ld(fuzz_input *in, size_t features)
{
  size_t d = fuzz_below(in, 4);
  return d == 3 ? features - (features > 0) : features + d;
}

/* need bytes (at least 1) of the heap; a harness has no use for a failure. */
static inline unsigned char *fuzz_buffer(size_t need)
{
  unsigned char *b = malloc(need ? need : 1);
  if (!b)
    FUZZ_BROKEN();
  return b;
}

/* A path naming an in-memory file holding bytes, for readers that open a
 * path themselves; fd receives the descriptor (close it). NULL on failure. */
static inline const char *fuzz_memfile(const uint8_t *data, size_t size, char *path, size_t cap,
                                       int *fd)
{
  *fd = memfd_create("bn_fuzz", 0);
  if (*fd < 0)
    return NULL;
  size_t done = 0;
  while (done < size) {
    ssize_t k = write(*fd, data + done, size - done);
    if (k <= 0) {
      close(*fd);
      return NULL;
    }
    done += (size_t)k;
  }
  snprintf(path, cap, "/proc/self/fd/%d", *fd);
  return path;
}

/* A copy of data whose last 4 bytes are made its correct CRC-32 trailer
 * (little-endian, over the bytes before it), as every blob and model file
 * of libbn ends: without it nearly every mutation would stop at the
 * checksum and the parsers behind it would go unexplored. NULL if size < 4. */
static inline uint8_t *fuzz_sealed_copy(const uint8_t *data, size_t size)
{
  if (size < 4)
    return NULL;
  uint8_t *copy = malloc(size);
  if (!copy)
    FUZZ_BROKEN();
  memcpy(copy, data, size);
  uint32_t crc = bni_crc32(0, copy, size - 4);
  for (int i = 0; i < 4; i++)
    copy[size - 4 + (size_t)i] = (uint8_t)(crc >> (8 * i));
  return copy;
}

#endif

#ifndef BNI_ROW_LINES_H
#define BNI_ROW_LINES_H

/* Where libbn allocates per-feature rows itself (a layer's rows, a kernel's
 * scratch, the two-thread partial sums), each row starts on a 64-byte cache
 * line. The element loops read three rows (m, scale, shift) beside every
 * column, and rows that straddle lines made the in-cache inference forward
 * ~1.5x slower (1024 x 1024: ~100 against ~150 us on a Zen 5,
 * docs/performance.md, issue 12, "Row alignment"); partial-sum rows of two
 * threads that shared a line had both threads store it at every sweep
 * ("False sharing"). */

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#define BNI_BN_ROW_ALIGN 64

/* n elements of elem_bytes each (a power of two up to BNI_BN_ROW_ALIGN),
 * rounded up to whole lines: the distance between rows of n. 0 on overflow
 * (the sum then wraps below per_line, and the mask leaves 0). */
static inline size_t bni_bn_line_elements(size_t n, size_t elem_bytes)
{
  const size_t per_line = BNI_BN_ROW_ALIGN / elem_bytes;
  return (n + (per_line - 1)) & ~(per_line - 1);
}

/* A block of at least `bytes` that starts on a line; NULL on overflow or
 * failure; free() releases it. */
static inline void *bni_bn_alloc_rows(size_t bytes)
{
  const size_t lines = bni_bn_line_elements(bytes, 1);
  return lines ? aligned_alloc(BNI_BN_ROW_ALIGN, lines) : NULL;
}

#endif

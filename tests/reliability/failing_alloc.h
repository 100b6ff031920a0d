#ifndef BN_FAILING_ALLOC_H
#define BN_FAILING_ALLOC_H

/* Allocation-failure injection for the test copy of libbn (libbn_failalloc,
 * tests/reliability.cmake). That copy is linked with
 * -Wl,--wrap=malloc,calloc,realloc,free,posix_memalign,aligned_alloc,pthread_create
 * so every such call made by libbn's own code (not libc's, not OpenBLAS's)
 * goes through failing_alloc.c; no call site in src/ knows about it. */

#include <stddef.h>

#if defined(__GNUC__)
#define BNT_API __attribute__((visibility("default")))
#else
#define BNT_API
#endif

/* What the n-th counted call was. */
typedef enum bnt_call {
  BNT_NONE = 0,     /* nothing failed */
  BNT_ALLOCATION,   /* malloc, calloc, realloc, posix_memalign or aligned_alloc */
  BNT_THREAD        /* pthread_create (fails with EAGAIN) */
} bnt_call;

/* Start counting libbn's allocation and thread-creation calls from zero;
 * the n-th one (1-based) fails, the others succeed. */
BNT_API void bnt_arm(size_t n);

/* Stop counting; returns how many calls were counted since bnt_arm. */
BNT_API size_t bnt_disarm(void);

/* Which kind of call was made to fail since the last bnt_arm (BNT_NONE if
 * fewer than n calls were made). */
BNT_API bnt_call bnt_failed_call(void);

/* Blocks allocated by libbn and not yet freed by libbn (counted always,
 * armed or not): a leak shows as a count that does not return to its value
 * before the call. */
BNT_API long bnt_live_blocks(void);

#endif /* BN_FAILING_ALLOC_H */

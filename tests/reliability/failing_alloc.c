/* The --wrap targets of libbn_failalloc (see failing_alloc.h). The real
 * functions are reached as __real_*, so sanitizers still see every block. */
#define _GNU_SOURCE
#include "failing_alloc.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

void *__real_malloc(size_t size);
void *__real_calloc(size_t count, size_t size);
void *__real_realloc(void *p, size_t size);
void __real_free(void *p);
int __real_posix_memalign(void **out, size_t alignment, size_t size);
void *__real_aligned_alloc(size_t alignment, size_t size);
int __real_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg);

/* Exported, so that a second wrapped library (libbn_mpi_failalloc, linked
 * against this one) counts its calls with the same counters. */
BNT_API void *__wrap_malloc(size_t size);
BNT_API void *__wrap_calloc(size_t count, size_t size);
BNT_API void *__wrap_realloc(void *p, size_t size);
BNT_API void __wrap_free(void *p);
BNT_API int __wrap_posix_memalign(void **out, size_t alignment, size_t size);
BNT_API void *__wrap_aligned_alloc(size_t alignment, size_t size);
BNT_API int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                                  void *(*start)(void *), void *arg);

/* Worker threads of libbn may allocate too: atomics, not locks. */
static atomic_bool armed;
static atomic_size_t counted, fail_at;
static atomic_int failed;
static atomic_long live;

void bnt_arm(size_t n)
{
  atomic_store(&counted, 0);
  atomic_store(&fail_at, n);
  atomic_store(&failed, BNT_NONE);
  atomic_store(&armed, 1);
}

size_t bnt_disarm(void)
{
  atomic_store(&armed, 0);
  return atomic_load(&counted);
}

bnt_call bnt_failed_call(void)
{
  return (bnt_call)atomic_load(&failed);
}

long bnt_live_blocks(void)
{
  return atomic_load(&live);
}

/* Count one call; nonzero when it is the one to fail. */
static int should_fail(bnt_call kind)
{
  if (!atomic_load(&armed))
    return 0;
  if (atomic_fetch_add(&counted, 1) + 1 != atomic_load(&fail_at))
    return 0;
  atomic_store(&failed, kind);
  return 1;
}

static void *track(void *p)
{
  if (p)
    atomic_fetch_add(&live, 1);
  return p;
}

void *__wrap_malloc(size_t size)
{
  return should_fail(BNT_ALLOCATION) ? NULL : track(__real_malloc(size));
}

void *__wrap_calloc(size_t count, size_t size)
{
  return should_fail(BNT_ALLOCATION) ? NULL : track(__real_calloc(count, size));
}

void *__wrap_realloc(void *p, size_t size)
{
  if (should_fail(BNT_ALLOCATION))
    return NULL; /* like the real one: p is still valid */
  void *q = __real_realloc(p, size);
  if (!p)
    track(q);
  else if (size == 0 && !q)
    atomic_fetch_sub(&live, 1); /* glibc freed p */
  return q;
}

void __wrap_free(void *p)
{
  if (p)
    atomic_fetch_sub(&live, 1);
  __real_free(p);
}

int __wrap_posix_memalign(void **out, size_t alignment, size_t size)
{
  if (should_fail(BNT_ALLOCATION))
    return ENOMEM;
  int rc = __real_posix_memalign(out, alignment, size);
  if (rc == 0)
    track(*out);
  return rc;
}

void *__wrap_aligned_alloc(size_t alignment, size_t size)
{
  return should_fail(BNT_ALLOCATION) ? NULL : track(__real_aligned_alloc(alignment, size));
}

int __wrap_pthread_create(pthread_t *thread, const pthread_attr_t *attr,
                          void *(*start)(void *), void *arg)
{
  if (should_fail(BNT_THREAD))
    return EAGAIN;
  return __real_pthread_create(thread, attr, start, arg);
}

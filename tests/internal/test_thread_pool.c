/* The layer's worker pool (src/kernels/thread_pool.h): every job of a run
 * runs exactly once and the run returns only after all of them, with more
 * jobs than threads, with workers that have gone to sleep between runs, and
 * when a job is slow enough that the owner waits for a worker. Linked
 * against the library's objects, since the pool is internal. */
#define _POSIX_C_SOURCE 200809L /* nanosleep */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>
#include <cmocka.h>
#include "../../src/kernels/thread_pool.h"

enum { MAX_JOBS = 16 };

typedef struct tally {
  atomic_int runs[MAX_JOBS]; /* times job i ran in this run */
  long slow_ns;              /* job 1 sleeps this long */
} tally;

static void sleep_ns(long ns)
{
  struct timespec t = {ns / 1000000000L, ns % 1000000000L};
  nanosleep(&t, NULL);
}

static void count_job(void *arg, unsigned i)
{
  tally *t = arg;
  if (i == 1 && t->slow_ns)
    sleep_ns(t->slow_ns);
  atomic_fetch_add(&t->runs[i], 1);
}

/* One run of `jobs` jobs; every job must have run once when it returns. */
static void run_and_check(bni_pool *pool, unsigned jobs, long slow_ns)
{
  tally t = {.slow_ns = slow_ns};
  for (unsigned i = 0; i < MAX_JOBS; i++)
    atomic_init(&t.runs[i], 0);
  bni_pool_run(pool, jobs, count_job, &t);
  for (unsigned i = 0; i < MAX_JOBS; i++)
    assert_int_equal(atomic_load(&t.runs[i]), i < jobs ? 1 : 0);
}

static void every_job_runs_once(void **state)
{
  (void)state;
  for (unsigned workers = 1; workers <= 3; workers++) {
    bni_pool *pool = NULL;
    assert_int_equal(bni_pool_create(workers, &pool), BN_OK);
    assert_non_null(pool);
    assert_int_equal(bni_pool_workers(pool), workers);
    for (int round = 0; round < 2000; round++)
      run_and_check(pool, 1 + (unsigned)round % MAX_JOBS, 0);
    bni_pool_destroy(pool);
  }
}

static void sleeping_workers_wake_up(void **state)
{
  (void)state;
  bni_pool *pool = NULL;
  assert_int_equal(bni_pool_create(2, &pool), BN_OK);
  assert_non_null(pool);
  for (int round = 0; round < 5; round++) {
    sleep_ns(10000000); /* beyond the spin: the workers are asleep */
    run_and_check(pool, 3, 0);
    run_and_check(pool, 3, 3000000); /* the owner waits for job 1 */
  }
  bni_pool_destroy(pool);
}

static void destroy_without_runs_and_null(void **state)
{
  (void)state;
  bni_pool *pool = NULL;
  assert_int_equal(bni_pool_create(2, &pool), BN_OK);
  sleep_ns(5000000);
  bni_pool_destroy(pool); /* workers asleep */
  assert_int_equal(bni_pool_create(1, &pool), BN_OK);
  bni_pool_destroy(pool); /* workers still spinning */
  bni_pool_destroy(NULL);
  assert_int_equal(bni_pool_create(0, &pool), BN_OK);
  assert_null(pool);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(every_job_runs_once),
    cmocka_unit_test(sleeping_workers_wake_up),
    cmocka_unit_test(destroy_without_runs_and_null),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

#ifndef BNI_THREAD_POOL_H
#define BNI_THREAD_POOL_H

/* A small pool of persistent worker threads that one owner (a BatchNorm
 * layer) uses for its passes, so that a pass costs a wake-up instead of a
 * thread creation: two threads then pay from about 512 KiB of data instead
 * of 16 MiB (docs/performance.md, "Threads").
 *
 * The owner calls bni_pool_run from one thread at a time and takes part in
 * the run: a job that no worker has started by the time the owner is free is
 * done by the owner, so a run never waits for a worker that is not
 * scheduled. Workers spin briefly after a run (the next pass of a training
 * step follows within microseconds) and then sleep on a condition variable,
 * so an idle pool takes no CPU from OpenBLAS's threads or anyone else. No
 * global state: the pool lives from bni_pool_create to bni_pool_destroy. */

#include <bn/status.h>

/* Most jobs of one run. */
#define BNI_POOL_MAX_JOBS 4096u

/* Job i of a run: fn(arg, i). */
typedef void (*bni_pool_job)(void *arg, unsigned i);

typedef struct bni_pool bni_pool;

/* A pool of `workers` threads (>= 1) in *out: BN_OK, with *out NULL when a
 * thread could not be started (the caller then runs without a pool, as
 * when threads are refused anywhere else), or BN_ERR_OUT_OF_MEMORY. */
bn_status bni_pool_create(unsigned workers, bni_pool **out);

/* Stops and joins the workers; NULL is a no-op. */
void bni_pool_destroy(bni_pool *pool);

/* Number of workers. */
unsigned bni_pool_workers(const bni_pool *pool);

/* Runs fn(arg, i) for i = 0..jobs-1 and returns when all are done. The
 * calling thread and the workers take the jobs in order as they come free,
 * so which thread runs a job is not fixed: jobs must not depend on it. With
 * jobs <= 1 or above BNI_POOL_MAX_JOBS they all run on the calling thread. */
void bni_pool_run(bni_pool *pool, unsigned jobs, bni_pool_job fn, void *arg);

#endif

/* The persistent worker pool of thread_pool.h.
 *
 * A run is a generation. The owner publishes fn and arg, then one atomic
 * word holding (generation, job count, next unclaimed job). Every thread,
 * the owner included, takes jobs by compare-and-swap on that word until none
 * is left, and counts the jobs it finishes; the owner returns once all jobs
 * of its run are finished.
 *
 * Why jobs are claimed rather than assigned: on a machine with fewer free
 * cores than threads (a 2-vCPU VM, or OpenBLAS's threads busy), a worker may
 * sit on the owner's own core waiting to be scheduled. With assigned jobs
 * the owner then waits for it at every pass; measured here, a 1024 x 256
 * training forward took 280 µs on two threads in about one process in six
 * instead of 52 µs (77 µs on one). With claimed jobs the owner does a job
 * no worker has started, so a pass never takes much longer than on one
 * thread, and an idle worker gives the second core whatever it can.
 *
 * Waiting: a worker spins briefly for the next run (the passes of one
 * training step follow each other within microseconds), then yields (the
 * owner may be waiting for this very core), then sleeps on a condition
 * variable, so an idle pool takes no CPU from anyone. The owner waits only
 * for jobs a worker has claimed and is running, the same way. */
/* clock_gettime and CLOCK_MONOTONIC are POSIX, beyond C11. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu and the CPU_* affinity macros */
#else
#define _POSIX_C_SOURCE 200809L
#endif
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include "thread_pool.h"

/* A waiting side spins for up to SPIN_NS and then sleeps on a condition
 * variable. It spins that long because on a machine whose scheduler sees
 * no shared cache between its CPUs (this 2-vCPU VM exposes none) every
 * wake-up tends to place the woken worker on the waker's core: measured
 * here, a worker that slept between the passes of a training forward shared
 * the owner's core in most processes, while one that spins for the 2 ms
 * (as OpenMP runtimes do) kept to its own. Every YIELD_NS of spinning it
 * yields once, so that a worker that does share a core with a runnable
 * owner (or one of OpenBLAS's threads) hands the core over within that
 * time; yielding more often is slower here, where a yield is a 1.4 µs
 * system call in a paravirtualized guest. */
#define SPIN_NS 2000000
#define YIELD_NS 50000

/* The run word: generation in the high 32 bits, job count in bits 16-31,
 * the next unclaimed job in bits 0-15 (jobs <= BNI_POOL_MAX_JOBS). */
#define JOB_BITS 16
#define JOB_MASK ((UINT64_C(1) << JOB_BITS) - 1)

static uint32_t run_generation(uint64_t w)
{
  return (uint32_t)(w >> 32);
}
static unsigned run_jobs(uint64_t w)
{
  return (unsigned)((w >> JOB_BITS) & JOB_MASK);
}
static unsigned run_next(uint64_t w)
{
  return (unsigned)(w & JOB_MASK);
}

typedef struct worker {
  bni_pool *pool;
  pthread_t thread;
} worker;

struct bni_pool {
  unsigned workers;
  worker *w;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  _Atomic uint64_t run;    /* the run word */
  atomic_uint finished;    /* jobs of the current run finished */
  atomic_uint sleepers;    /* workers asleep (or about to be) on `wake` */
  atomic_int owner_asleep; /* the owner is asleep (or about to be) on `done` */
  atomic_int stop;
  atomic_int owner_cpu;    /* the CPU the owner published the current run from */
  /* The current run's job; written before its run word is published and
   * not again until all its jobs are finished, so a thread that claimed one
   * of its jobs reads it safely. */
  bni_pool_job fn;
  void *arg;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

static int64_t now_ns(void)
{
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Waits as above while ready(p, ctx) is false; returns whether it became
 * true before the time to sleep. The clock is read every 64 checks, since a
 * pause takes from 10 to 150 cycles depending on the CPU. */
static int spin_until(bni_pool *p, int (*ready)(bni_pool *, const void *), const void *ctx)
{
  const int64_t start = now_ns();
  int64_t yielded = start;
  for (unsigned i = 1;; i++) {
    if (ready(p, ctx))
      return 1;
    relax();
    if (i % 64 == 0) {
      int64_t t = now_ns();
      if (t - start > SPIN_NS)
        return ready(p, ctx);
      if (t - yielded > YIELD_NS) {
        sched_yield();
        yielded = t;
      }
    }
  }
}

/* Takes the next job of generation `gen` from *seen (the last value read of
 * the run word, refreshed here); returns 0 when that run has none left. */
static int claim(bni_pool *p, uint32_t gen, uint64_t *seen, unsigned *job)
{
  uint64_t w = *seen;
  for (;;) {
    if (run_generation(w) != gen || run_next(w) >= run_jobs(w)) {
      *seen = w;
      return 0;
    }
    if (atomic_compare_exchange_weak_explicit(&p->run, &w, w + 1, memory_order_acquire,
                                              memory_order_relaxed)) {
      *job = run_next(w);
      *seen = w + 1;
      return 1;
    }
  }
}

/* Runs jobs of generation `gen` until none is left to claim. */
static void run_jobs_of(bni_pool *p, uint32_t gen, uint64_t seen)
{
  unsigned job;
  while (claim(p, gen, &seen, &job)) {
    p->fn(p->arg, job);
    unsigned jobs = run_jobs(seen);
    if (atomic_fetch_add_explicit(&p->finished, 1, memory_order_seq_cst) + 1 == jobs &&
        atomic_load_explicit(&p->owner_asleep, memory_order_seq_cst)) {
      pthread_mutex_lock(&p->lock);
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
  }
}

static int new_run_or_stop(bni_pool *p, const void *gen)
{
  return run_generation(atomic_load_explicit(&p->run, memory_order_acquire)) !=
             *(const uint32_t *)gen ||
         atomic_load_explicit(&p->stop, memory_order_relaxed);
}

/* A worker that finds itself on the CPU its owner published the run from
 * shares that core with the owner (which is then waiting to run), most often
 * because a wake-up put it there. The scheduler would separate them in a few
 * milliseconds; this moves the worker at once: affinity to every allowed CPU
 * but this one, then back to the mask it had, which leaves it where it is.
 * Nothing happens when that mask has no other CPU or a call fails. */
static void leave_owner_cpu(bni_pool *p)
{
#if defined(__linux__)
  int cpu = sched_getcpu();
  if (cpu < 0 || cpu != atomic_load_explicit(&p->owner_cpu, memory_order_relaxed))
    return;
  cpu_set_t mask, others;
  if (sched_getaffinity(0, sizeof mask, &mask) != 0 || cpu >= CPU_SETSIZE)
    return;
  others = mask;
  CPU_CLR(cpu, &others);
  if (CPU_COUNT(&others) == 0 || sched_setaffinity(0, sizeof others, &others) != 0)
    return;
  sched_setaffinity(0, sizeof mask, &mask);
#else
  (void)p;
#endif
}

static void *work(void *arg)
{
  bni_pool *p = ((worker *)arg)->pool;
  uint32_t gen = 0;
  for (;;) {
    if (!spin_until(p, new_run_or_stop, &gen)) {
      pthread_mutex_lock(&p->lock);
      atomic_fetch_add_explicit(&p->sleepers, 1, memory_order_seq_cst);
      while (!new_run_or_stop(p, &gen))
        pthread_cond_wait(&p->wake, &p->lock);
      atomic_fetch_sub_explicit(&p->sleepers, 1, memory_order_relaxed);
      pthread_mutex_unlock(&p->lock);
    }
    if (atomic_load_explicit(&p->stop, memory_order_acquire))
      return NULL;
    leave_owner_cpu(p);
    uint64_t w = atomic_load_explicit(&p->run, memory_order_acquire);
    gen = run_generation(w);
    run_jobs_of(p, gen, w);
  }
}

bn_status bni_pool_create(unsigned workers, bni_pool **out)
{
  *out = NULL;
  if (workers == 0)
    return BN_OK;
  if (workers >= BNI_POOL_MAX_JOBS)
    workers = BNI_POOL_MAX_JOBS - 1;
  bni_pool *p = calloc(1, sizeof *p);
  worker *w = calloc(workers, sizeof *w);
  if (!p || !w) {
    free(p);
    free(w);
    return BN_ERR_OUT_OF_MEMORY;
  }
  p->w = w;
  atomic_init(&p->run, 0);
  atomic_init(&p->finished, 0);
  atomic_init(&p->sleepers, 0);
  atomic_init(&p->owner_asleep, 0);
  atomic_init(&p->stop, 0);
  atomic_init(&p->owner_cpu, -1);
  if (pthread_mutex_init(&p->lock, NULL) != 0) {
    free(w);
    free(p);
    return BN_OK; /* no pool, like a thread that cannot start */
  }
  if (pthread_cond_init(&p->wake, NULL) != 0 || pthread_cond_init(&p->done, NULL) != 0) {
    pthread_mutex_destroy(&p->lock);
    free(w);
    free(p);
    return BN_OK;
  }
  for (unsigned i = 0; i < workers; i++) {
    w[i].pool = p;
    if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0) {
      p->workers = i; /* destroy joins the ones that started */
      bni_pool_destroy(p);
      return BN_OK;
    }
  }
  p->workers = workers;
  *out = p;
  return BN_OK;
}

void bni_pool_destroy(bni_pool *p)
{
  if (!p)
    return;
  pthread_mutex_lock(&p->lock);
  atomic_store_explicit(&p->stop, 1, memory_order_release);
  pthread_cond_broadcast(&p->wake);
  pthread_mutex_unlock(&p->lock);
  for (unsigned i = 0; i < p->workers; i++)
    pthread_join(p->w[i].thread, NULL);
  pthread_cond_destroy(&p->wake);
  pthread_cond_destroy(&p->done);
  pthread_mutex_destroy(&p->lock);
  free(p->w);
  free(p);
}

unsigned bni_pool_workers(const bni_pool *p)
{
  return p->workers;
}

static int all_finished(bni_pool *p, const void *jobs)
{
  return atomic_load_explicit(&p->finished, memory_order_acquire) == *(const unsigned *)jobs;
}

void bni_pool_run(bni_pool *p, unsigned jobs, bni_pool_job fn, void *arg)
{
  if (jobs <= 1 || jobs > BNI_POOL_MAX_JOBS) {
    for (unsigned i = 0; i < jobs; i++)
      fn(arg, i);
    return;
  }
  p->fn = fn;
  p->arg = arg;
  atomic_store_explicit(&p->finished, 0, memory_order_relaxed);
#if defined(__linux__)
  atomic_store_explicit(&p->owner_cpu, sched_getcpu(), memory_order_relaxed);
#endif
  uint32_t gen = run_generation(atomic_load_explicit(&p->run, memory_order_relaxed)) + 1;
  uint64_t w = (uint64_t)gen << 32 | (uint64_t)jobs << JOB_BITS;
  /* seq_cst store, then seq_cst load of sleepers: either this sees a worker
   * going to sleep, or that worker sees the new run before it sleeps. */
  atomic_store_explicit(&p->run, w, memory_order_seq_cst);
  if (atomic_load_explicit(&p->sleepers, memory_order_seq_cst) != 0) {
    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
  }
  run_jobs_of(p, gen, w);
  if (spin_until(p, all_finished, &jobs))
    return;
  pthread_mutex_lock(&p->lock);
  atomic_store_explicit(&p->owner_asleep, 1, memory_order_seq_cst);
  while (!all_finished(p, &jobs))
    pthread_cond_wait(&p->done, &p->lock);
  atomic_store_explicit(&p->owner_asleep, 0, memory_order_relaxed);
  pthread_mutex_unlock(&p->lock);
}

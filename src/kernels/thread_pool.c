/* The persistent worker pool of thread_pool.h. One run is a generation:
 * the owner publishes the job and bumps `generation`; each worker whose
 * index is below the job count runs its part, and every worker then
 * decrements `pending`.
 * Both sides spin on the atomics for a short while before sleeping on the
 * condition variables, since the passes of one training step follow each
 * other within microseconds. */
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include "thread_pool.h"

/* A waiting side first spins (PAUSES pause instructions, a few
 * microseconds), then yields the CPU up to YIELDS times (on a machine with
 * more runnable threads than cores, the other side may be waiting for this
 * very core), then sleeps. */
#define PAUSES 2000
#define YIELDS 200

typedef struct worker {
  bni_pool *pool;
  unsigned index; /* runs job index + 1 */
  pthread_t thread;
} worker;

struct bni_pool {
  unsigned workers;
  worker *w;
  pthread_mutex_t lock;
  pthread_cond_t wake, done;
  atomic_uint generation; /* bumped per run */
  atomic_uint pending;    /* workers that have not finished this run */
  atomic_int stop;
  unsigned jobs; /* of the current run; written before generation is bumped */
  bni_pool_job fn;
  void *arg;
};

static inline void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Waits until *a != old (returns the new value), spinning first. */
static unsigned wait_change(bni_pool *p, atomic_uint *a, unsigned old, pthread_cond_t *cond)
{
  for (int i = 0; i < PAUSES + YIELDS; i++) {
    unsigned v = atomic_load_explicit(a, memory_order_acquire);
    if (v != old || atomic_load_explicit(&p->stop, memory_order_relaxed))
      return v;
    if (i < PAUSES)
      relax();
    else
      sched_yield();
  }
  pthread_mutex_lock(&p->lock);
  unsigned v;
  while ((v = atomic_load_explicit(a, memory_order_acquire)) == old &&
         !atomic_load_explicit(&p->stop, memory_order_relaxed))
    pthread_cond_wait(cond, &p->lock);
  pthread_mutex_unlock(&p->lock);
  return v;
}

static void *work(void *arg)
{
  worker *w = arg;
  bni_pool *p = w->pool;
  unsigned seen = 0;
  for (;;) {
    seen = wait_change(p, &p->generation, seen, &p->wake);
    if (atomic_load_explicit(&p->stop, memory_order_acquire))
      return NULL;
    if (w->index + 1 < p->jobs)
      p->fn(p->arg, w->index + 1);
    /* Every worker acknowledges, with or without a job, so that none still
     * reads this run's job when the owner publishes the next one. */
    if (atomic_fetch_sub_explicit(&p->pending, 1, memory_order_acq_rel) == 1) {
      pthread_mutex_lock(&p->lock); /* the owner may be asleep on `done` */
      pthread_cond_signal(&p->done);
      pthread_mutex_unlock(&p->lock);
    }
  }
}

bn_status bni_pool_create(unsigned workers, bni_pool **out)
{
  *out = NULL;
  if (workers == 0)
    return BN_OK;
  bni_pool *p = calloc(1, sizeof *p);
  worker *w = calloc(workers, sizeof *w);
  if (!p || !w) {
    free(p);
    free(w);
    return BN_ERR_OUT_OF_MEMORY;
  }
  p->w = w;
  atomic_init(&p->generation, 0);
  atomic_init(&p->pending, 0);
  atomic_init(&p->stop, 0);
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
    w[i].index = i;
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

void bni_pool_run(bni_pool *p, unsigned jobs, bni_pool_job fn, void *arg)
{
  if (jobs > 1) {
    p->fn = fn;
    p->arg = arg;
    p->jobs = jobs;
    atomic_store_explicit(&p->pending, p->workers, memory_order_relaxed);
    pthread_mutex_lock(&p->lock); /* a worker may be about to sleep on `wake` */
    atomic_fetch_add_explicit(&p->generation, 1, memory_order_release);
    pthread_cond_broadcast(&p->wake);
    pthread_mutex_unlock(&p->lock);
  }
  fn(arg, 0);
  if (jobs > 1) {
    unsigned left = atomic_load_explicit(&p->pending, memory_order_acquire);
    while (left != 0)
      left = wait_change(p, &p->pending, left, &p->done);
  }
}

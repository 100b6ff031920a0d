/* A bound on concurrent OpenBLAS calls.
 *
 * OpenBLAS (Debian's 0.3.21, pthread build) hands each call in progress a
 * buffer from a table of max(50, 2*MAX_THREADS) entries, of which its own
 * worker threads keep one each. When more calls run at once than the table
 * holds it prints "precompiled NUM_THREADS exceeded" to stderr and takes an
 * overflow path that crashes (in sgemm_itcopy) with its threading on:
 * measured with 256 application threads each running one dense layer, while
 * 128 are fine. libbn promises that distinct handles may be used from any
 * number of threads and that it never prints, and must not change
 * OpenBLAS's process-wide settings behind the application's back; so it
 * lets at most MAX_THREADS of its own calls into OpenBLAS at once, which
 * always leaves a free table entry, and the others wait here for a turn.
 *
 * This is libbn's one piece of process-wide state: a counter behind a mutex
 * and the bound, computed once. It only orders calls; results do not depend
 * on it. Calls the application itself makes into OpenBLAS are not counted. */
#include "blas.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t gate_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_free = PTHREAD_COND_INITIALIZER;
static unsigned gate_inside;
static pthread_once_t bound_once = PTHREAD_ONCE_INIT;
static unsigned bound = BNI_BLAS_FALLBACK_CALLERS;

static void read_bound(void)
{
  const char *config = openblas_get_config();
  const char *field = config ? strstr(config, "MAX_THREADS=") : NULL;
  if (!field)
    return;
  unsigned long value = strtoul(field + strlen("MAX_THREADS="), NULL, 10);
  if (value >= 1 && value <= 4096)
    bound = (unsigned)value;
}

unsigned bni_blas_max_callers(void)
{
  pthread_once(&bound_once, read_bound);
  return bound;
}

/* Take a turn inside OpenBLAS (at most bni_blas_max_callers() at once). */
static void enter(void)
{
  const unsigned most = bni_blas_max_callers();
  pthread_mutex_lock(&gate_lock);
  while (gate_inside >= most)
    pthread_cond_wait(&gate_free, &gate_lock);
  gate_inside++;
  pthread_mutex_unlock(&gate_lock);
}

static void leave(void)
{
  pthread_mutex_lock(&gate_lock);
  gate_inside--;
  pthread_cond_signal(&gate_free);
  pthread_mutex_unlock(&gate_lock);
}

void bni_sgemm(enum CBLAS_TRANSPOSE trans_a, enum CBLAS_TRANSPOSE trans_b, int m, int n, int k,
               float alpha, const float *a, int lda, const float *b, int ldb, float beta,
               float *c, int ldc)
{
  enter();
  cblas_sgemm(CblasColMajor, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  leave();
}

void bni_sgemv(enum CBLAS_TRANSPOSE trans, int m, int n, float alpha, const float *a, int lda,
               const float *x, float beta, float *y)
{
  enter();
  cblas_sgemv(CblasColMajor, trans, m, n, alpha, a, lda, x, 1, beta, y, 1);
  leave();
}

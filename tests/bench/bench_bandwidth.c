/* Memory-bandwidth probe: read-only sum, copy and triad over double arrays
 * far larger than the last-level cache, on 1 and 2 threads (POSIX threads,
 * each thread owns one contiguous slice of every array).
 *
 * Bytes are counted as STREAM does: sum reads 8 B per element, copy moves
 * 16 B (read a, write b), triad 24 B (read b and c, write a). The write-
 * allocate read that an ordinary store causes is NOT counted, which is the
 * same convention as the BN benchmarks' minimal-bytes figure, so "copy" is
 * the ceiling to hold a forward pass (read x, write y) against and "triad"
 * the one for a backward pass (read x and dy, write dx). copy_nt and
 * triad_nt write with non-temporal (streaming) stores, which skip that
 * write-allocate read, as libbn's loops do for outputs beyond the caches.
 *
 * Usage: bench_bandwidth [MiB per array (default 256)] [max threads (default 2)] */
#include <pthread.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#include "bench_common.h"

typedef struct job {
  int kind; /* 0 sum, 1 copy, 2 triad, 3 copy_nt, 4 triad_nt */
  double *a, *b, *c;
  size_t begin, end;
  double result;
} job;

static void *run_job(void *p)
{
  job *w = p;
  double *restrict a = w->a, *restrict b = w->b;
  const double *restrict c = w->c;
  size_t i = w->begin, end = w->end;
  if (w->kind == 0) {
    double s0 = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0, s5 = 0, s6 = 0, s7 = 0;
    for (; i + 8 <= end; i += 8) {
      s0 += a[i];     s1 += a[i + 1]; s2 += a[i + 2]; s3 += a[i + 3];
      s4 += a[i + 4]; s5 += a[i + 5]; s6 += a[i + 6]; s7 += a[i + 7];
    }
    for (; i < end; i++)
      s0 += a[i];
    w->result = ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
  } else if (w->kind == 1) {
    for (; i < end; i++)
      b[i] = a[i];
  } else if (w->kind == 2) {
    for (; i < end; i++)
      a[i] = b[i] + 3.0 * c[i];
  } else {
#if defined(__SSE2__)
    for (; i < end && ((uintptr_t)(w->kind == 3 ? b + i : a + i) & 15); i++)
      (w->kind == 3 ? b : a)[i] = w->kind == 3 ? a[i] : b[i] + 3.0 * c[i];
    if (w->kind == 3)
      for (; i + 2 <= end; i += 2)
        _mm_stream_pd(b + i, _mm_loadu_pd(a + i));
    else
      for (; i + 2 <= end; i += 2)
        _mm_stream_pd(a + i, _mm_add_pd(_mm_loadu_pd(b + i),
                                        _mm_mul_pd(_mm_set1_pd(3.0), _mm_loadu_pd(c + i))));
    _mm_sfence();
#endif
    for (; i < end; i++)
      (w->kind == 3 ? b : a)[i] = w->kind == 3 ? a[i] : b[i] + 3.0 * c[i];
  }
  return NULL;
}

typedef struct ctx {
  int kind, threads;
  double *a, *b, *c;
  size_t n;
  volatile double sink;
} ctx;

static void run(void *p)
{
  ctx *x = p;
  pthread_t tid[16];
  job jobs[16];
  for (int t = 0; t < x->threads; t++) {
    jobs[t] = (job){x->kind, x->a, x->b, x->c, x->n * (size_t)t / (size_t)x->threads,
                    x->n * (size_t)(t + 1) / (size_t)x->threads, 0.0};
    if (t > 0 && pthread_create(&tid[t], NULL, run_job, &jobs[t]) != 0) {
      fprintf(stderr, "bench_bandwidth: pthread_create failed\n");
      exit(2);
    }
  }
  run_job(&jobs[0]);
  double s = jobs[0].result;
  for (int t = 1; t < x->threads; t++) {
    pthread_join(tid[t], NULL);
    s += jobs[t].result;
  }
  x->sink = s;
}

int main(int argc, char **argv)
{
  size_t mib = argc > 1 ? (size_t)atol(argv[1]) : 256;
  int max_threads = argc > 2 ? atoi(argv[2]) : 2;
  if (mib == 0 || max_threads < 1 || max_threads > 16) {
    fprintf(stderr, "usage: bench_bandwidth [MiB per array] [max threads <= 16]\n");
    return 2;
  }
  size_t n = mib * 1024 * 1024 / sizeof(double);
  ctx c = {0, 1, bench_alloc(n * 8), bench_alloc(n * 8), bench_alloc(n * 8), n, 0.0};
  for (size_t i = 0; i < n; i++) {
    c.a[i] = 1.0;
    c.b[i] = 2.0;
    c.c[i] = 0.5;
  }
  static const char *names[5] = {"read", "copy", "triad", "copy_nt", "triad_nt"};
  static const double bytes_per[5] = {8, 16, 24, 16, 24};
  printf("# bandwidth probe: %zu MiB per array, STREAM byte counting\n", mib);
  for (int threads = 1; threads <= max_threads; threads++)
    for (int kind = 0; kind < 5; kind++) {
      c.kind = kind;
      c.threads = threads;
      double best;
      double t = bench_time(run, &c, 9, 3.0, &best);
      bench_result("bandwidth", "c", threads, names[kind], 0, n, bytes_per[kind] * (double)n, t);
      printf("#   best of samples: %.2f GB/s\n", bytes_per[kind] * (double)n / best * 1e-9);
    }
  free(c.a);
  free(c.b);
  free(c.c);
  return 0;
}

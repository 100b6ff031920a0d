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
 * The streaming stores are as wide as the CPU has (64 bytes with AVX-512,
 * 32 with AVX, else 16), as wide as libbn's own: one core streams a copy
 * 10-15% faster with 64-byte stores than with 16-byte ones here, so a
 * narrower probe would understate the ceiling. Before session 10 the probe
 * always used 16-byte stores; the third argument reproduces that.
 *
 * Usage: bench_bandwidth [MiB per array (default 256)] [max threads (default 2)]
 *                        [streaming store bytes: 16, 32 or 64 (default: the widest)] */
#include <pthread.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif
#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#include <immintrin.h>
#define HAVE_WIDE_STREAM 1
#endif
#include "bench_common.h"

typedef struct job {
  int kind;      /* 0 sum, 1 copy, 2 triad, 3 copy_nt, 4 triad_nt */
  int nt_bytes;  /* width of a streaming store: 16, 32 or 64 */
  double *a, *b, *c;
  size_t begin, end;
  double result;
} job;

/* The streaming copy (kind 3) or triad (kind 4) from i on, with 64- or
 * 32-byte stores to a destination aligned to them; returns where it stopped. */
#if defined(HAVE_WIDE_STREAM)
__attribute__((target("avx512f"))) static size_t stream_avx512(int kind, double *restrict a,
                                                               double *restrict b,
                                                               const double *restrict c,
                                                               size_t i, size_t end)
{
  if (kind == 3)
    for (; i + 8 <= end; i += 8)
      _mm512_stream_pd(b + i, _mm512_loadu_pd(a + i));
  else
    for (; i + 8 <= end; i += 8)
      _mm512_stream_pd(a + i, _mm512_add_pd(_mm512_loadu_pd(b + i),
                                            _mm512_mul_pd(_mm512_set1_pd(3.0),
                                                          _mm512_loadu_pd(c + i))));
  return i;
}

__attribute__((target("avx"))) static size_t stream_avx(int kind, double *restrict a,
                                                        double *restrict b,
                                                        const double *restrict c, size_t i,
                                                        size_t end)
{
  if (kind == 3)
    for (; i + 4 <= end; i += 4)
      _mm256_stream_pd(b + i, _mm256_loadu_pd(a + i));
  else
    for (; i + 4 <= end; i += 4)
      _mm256_stream_pd(a + i, _mm256_add_pd(_mm256_loadu_pd(b + i),
                                            _mm256_mul_pd(_mm256_set1_pd(3.0),
                                                          _mm256_loadu_pd(c + i))));
  return i;
}
#endif

/* The widest streaming store this CPU runs, capped at `cap` bytes. */
static int widest_stream(int cap)
{
#if defined(HAVE_WIDE_STREAM)
  if (cap >= 64 && __builtin_cpu_supports("avx512f"))
    return 64;
  if (cap >= 32 && __builtin_cpu_supports("avx"))
    return 32;
#endif
  (void)cap;
  return 16;
}

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
    double *dst = w->kind == 3 ? b : a;
    for (; i < end && ((uintptr_t)(dst + i) % (uintptr_t)w->nt_bytes); i++)
      dst[i] = w->kind == 3 ? a[i] : b[i] + 3.0 * c[i];
#if defined(HAVE_WIDE_STREAM)
    if (w->nt_bytes == 64)
      i = stream_avx512(w->kind, a, b, c, i, end);
    else if (w->nt_bytes == 32)
      i = stream_avx(w->kind, a, b, c, i, end);
#endif
#if defined(__SSE2__)
    if (w->nt_bytes == 16) {
      if (w->kind == 3)
        for (; i + 2 <= end; i += 2)
          _mm_stream_pd(b + i, _mm_loadu_pd(a + i));
      else
        for (; i + 2 <= end; i += 2)
          _mm_stream_pd(a + i, _mm_add_pd(_mm_loadu_pd(b + i),
                                          _mm_mul_pd(_mm_set1_pd(3.0), _mm_loadu_pd(c + i))));
    }
    _mm_sfence();
#endif
    for (; i < end; i++)
      dst[i] = w->kind == 3 ? a[i] : b[i] + 3.0 * c[i];
  }
  return NULL;
}

typedef struct ctx {
  int kind, threads, nt_bytes;
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
    jobs[t] = (job){x->kind, x->nt_bytes, x->a, x->b, x->c, x->n * (size_t)t / (size_t)x->threads,
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
  int cap = argc > 3 ? atoi(argv[3]) : 64;
  if (mib == 0 || max_threads < 1 || max_threads > 16 ||
      (cap != 16 && cap != 32 && cap != 64)) {
    fprintf(stderr, "usage: bench_bandwidth [MiB per array] [max threads <= 16] "
                    "[streaming store bytes: 16, 32 or 64]\n");
    return 2;
  }
  size_t n = mib * 1024 * 1024 / sizeof(double);
  ctx c = {0, 1, widest_stream(cap), bench_alloc(n * 8), bench_alloc(n * 8), bench_alloc(n * 8), n, 0.0};
  for (size_t i = 0; i < n; i++) {
    c.a[i] = 1.0;
    c.b[i] = 2.0;
    c.c[i] = 0.5;
  }
  static const char *names[5] = {"read", "copy", "triad", "copy_nt", "triad_nt"};
  static const double bytes_per[5] = {8, 16, 24, 16, 24};
  printf("# bandwidth probe: %zu MiB per array, STREAM byte counting, "
         "%d-byte streaming stores\n", mib, c.nt_bytes);
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

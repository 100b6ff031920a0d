/* Helpers shared by the C benchmarks: a monotonic clock, median of samples,
 * page-touched aligned buffers, a deterministic fill, and the result line.
 *
 * Every benchmark prints one line per measurement:
 *   RESULT,<bench>,<impl>,<threads>,<op>,<F>,<N>,<bytes>,<ns_per_call>,<GBs>
 * where bytes is the minimal traffic of one call (see docs/performance.md)
 * and GB/s = bytes / time (1 GB = 1e9 bytes). run_all.sh turns these into
 * tables. Benchmarks are measurements, never pass/fail tests. */
#ifndef BN_BENCH_COMMON_H
#define BN_BENCH_COMMON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/mman.h>
#include <unistd.h>

/* The clock bench_time reads: wall time, unless a benchmark switches to
 * CLOCK_THREAD_CPUTIME_ID (the calling thread's CPU time), which on a loaded
 * machine keeps other jobs' time slices out of single-threaded figures. */
static clockid_t bench_clock = CLOCK_MONOTONIC;

static inline double bench_now(void)
{
  struct timespec ts;
  clock_gettime(bench_clock, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int bench_cmp_double(const void *a, const void *b)
{
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Median of n samples (sorts them in place). */
static inline double bench_median(double *v, size_t n)
{
  qsort(v, n, sizeof *v, bench_cmp_double);
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* What the environment asks of bench_alloc, read at every call:
 *   BENCH_HUGEPAGES=1     madvise(MADV_HUGEPAGE) each buffer before its pages
 *                         are touched (transparent huge pages in "madvise"
 *                         mode give anonymous memory 4 KiB pages otherwise;
 *                         numpy asks for huge pages on large arrays);
 *   BENCH_ALLOC_REPORT=1  one "# bench_alloc" line per buffer of 1 MiB or
 *                         more: its address, the address modulo 4 KiB and
 *                         2 MiB, and how much of it has huge pages.
 * Unset (the default), buffers are plain aligned_alloc memory as before. Every
 * benchmark allocates through here, so a setting applies to all alike. */
static inline int bench_env_flag(const char *name)
{
  const char *v = getenv(name);
  return v && v[0] && strcmp(v, "0") != 0;
}

/* Kilobytes of huge pages backing [p, p + bytes): AnonHugePages of the
 * mappings of /proc/self/smaps that overlap the range, counted whole (the
 * buffers here each have a mapping of their own). -1 if unreadable. */
static inline long bench_huge_kb(const void *p, size_t bytes)
{
  FILE *f = fopen("/proc/self/smaps", "r");
  if (!f)
    return -1;
  char line[512];
  uintptr_t lo = (uintptr_t)p, hi = lo + bytes;
  int in = 0;
  long kb = 0, v;
  unsigned long a, b;
  while (fgets(line, sizeof line, f)) {
    if (sscanf(line, "%lx-%lx ", &a, &b) == 2 && strchr(line, '-') < strchr(line, ' '))
      in = a < hi && b > lo;
    else if (in && sscanf(line, "AnonHugePages: %ld kB", &v) == 1)
      kb += v;
  }
  fclose(f);
  return kb;
}

/* 64-byte aligned buffer, every page written once so that page faults stay
 * out of the timings (with BENCH_HUGEPAGES=1, after asking for huge pages;
 * see above). Exits on failure: a benchmark has nothing to recover. */
static inline void *bench_alloc(size_t bytes)
{
  size_t rounded = (bytes + 63) / 64 * 64;
  void *p = aligned_alloc(64, rounded ? rounded : 64);
  if (!p) {
    fprintf(stderr, "bench: out of memory (%zu bytes)\n", bytes);
    exit(2);
  }
  if (bench_env_flag("BENCH_HUGEPAGES")) {
    /* the whole pages of the buffer; a huge page needs a whole aligned 2 MiB
     * inside them, so a buffer's first and last partial 2 MiB keep 4 KiB pages */
    uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
    uintptr_t lo = ((uintptr_t)p + page - 1) / page * page;
    uintptr_t hi = ((uintptr_t)p + rounded) / page * page;
    if (hi > lo && madvise((void *)lo, hi - lo, MADV_HUGEPAGE) != 0)
      perror("bench: madvise(MADV_HUGEPAGE)");
  }
  memset(p, 0, rounded);
  if (rounded >= ((size_t)1 << 20) && bench_env_flag("BENCH_ALLOC_REPORT"))
    printf("# bench_alloc: %zu bytes at %p, mod 4 KiB %lu, mod 2 MiB %lu, huge pages %ld kB\n",
           bytes, p, (unsigned long)((uintptr_t)p & 4095),
           (unsigned long)((uintptr_t)p & ((1u << 21) - 1)), bench_huge_kb(p, rounded));
  return p;
}

/* Deterministic values in [lo, hi). */
static inline void bench_fill(float *v, size_t n, uint64_t seed, float lo, float hi)
{
  uint64_t s = seed * 0x9E3779B97F4A7C15ull + 1;
  for (size_t i = 0; i < n; i++) {
    s = s * 6364136223846793005ull + 1442695040888963407ull;
    v[i] = lo + (hi - lo) * (float)((double)(s >> 40) / 16777216.0);
  }
}

/* Calls per sample when one call takes `one` seconds: enough for a sample to
 * last 2 ms, which keeps the clock's resolution out of the way for in-cache
 * sizes. */
static inline long bench_inner_calls(double one)
{
  const double min_sample = 2e-3;
  return one < min_sample ? (long)(min_sample / (one > 1e-8 ? one : 1e-8)) + 1 : 1;
}

/* Measures op(ctx) and returns the median seconds per call.
 *
 * One sample is bench_inner_calls back-to-back calls; samples are repeated
 * until `reps` were taken or `budget` seconds passed, with at least 3. The
 * first call is a warm-up. */
static inline double bench_time(void (*op)(void *), void *ctx, int reps, double budget,
                                double *best)
{
  double t0 = bench_now();
  op(ctx); /* warm-up: caches, branch predictors, lazily bound symbols */
  const long inner = bench_inner_calls(bench_now() - t0);
  double samples[256];
  int n = 0;
  double start = bench_now();
  if (reps > 256)
    reps = 256;
  while (n < reps && (n < 3 || bench_now() - start < budget)) {
    double a = bench_now();
    for (long i = 0; i < inner; i++)
      op(ctx);
    samples[n++] = (bench_now() - a) / (double)inner;
  }
  double lo = samples[0];
  for (int i = 1; i < n; i++)
    lo = samples[i] < lo ? samples[i] : lo;
  if (best)
    *best = lo;
  return bench_median(samples, (size_t)n);
}

/* Two ops timed in alternation, for comparisons that the machine's changing
 * speed must hit alike: sample k times `inner` calls of a then of b (b first
 * on odd k), so that both see the same moments. Returns the median seconds
 * per call of each (*ta, *tb) and writes the samples' ratios b/a, sorted,
 * to ratio[0..n-1]; returns n. Same warm-up, inner count (from the slower
 * op) and sample rules as bench_time. */
static inline int bench_time_pair(void (*a)(void *), void *ca, void (*b)(void *), void *cb,
                                  int reps, double budget, double *ta, double *tb,
                                  double *ratio)
{
  double t0 = bench_now();
  a(ca);
  double one = bench_now() - t0;
  t0 = bench_now();
  b(cb);
  double other = bench_now() - t0;
  const long inner = bench_inner_calls(one > other ? one : other);
  double sa[256], sb[256];
  int n = 0;
  double start = bench_now();
  if (reps > 256)
    reps = 256;
  while (n < reps && (n < 3 || bench_now() - start < budget)) {
    for (int turn = 0; turn < 2; turn++) {
      int first_a = (n % 2 == 0) == (turn == 0);
      void (*op)(void *) = first_a ? a : b;
      void *ctx = first_a ? ca : cb;
      double t = bench_now();
      for (long i = 0; i < inner; i++)
        op(ctx);
      (first_a ? sa : sb)[n] = (bench_now() - t) / (double)inner;
    }
    ratio[n] = sb[n] / sa[n];
    n++;
  }
  bench_median(ratio, (size_t)n);
  *ta = bench_median(sa, (size_t)n);
  *tb = bench_median(sb, (size_t)n);
  return n;
}

static inline void bench_result(const char *bench, const char *impl, int threads,
                                const char *op, size_t F, size_t N, double bytes, double sec)
{
  printf("RESULT,%s,%s,%d,%s,%zu,%zu,%.0f,%.0f,%.2f\n", bench, impl, threads, op, F, N, bytes,
         sec * 1e9, bytes / sec * 1e-9);
  fflush(stdout);
}

/* One benchmark shape: F features x N samples. */
typedef struct bench_shape {
  size_t F, N;
} bench_shape;
#define BENCH_MAX_SHAPES 64

/* The shapes to run: those of `list` ("FxN,FxN,..."; parsed in place) when
 * it is not empty, else every (size in MiB, F) of the grid, N = bytes/4/F.
 * Shapes with F == 0 or N < 2 are left out. Returns the count. */
static inline size_t bench_shapes(char *list, char **fs, int n_f, char **mibs, int n_mib,
                                  bench_shape *out)
{
  size_t n = 0;
  if (list[0]) {
    for (char *tok = strtok(list, ","); tok && n < BENCH_MAX_SHAPES; tok = strtok(NULL, ",")) {
      bench_shape s = {0, 0};
      if (sscanf(tok, "%zux%zu", &s.F, &s.N) == 2 && s.F > 0 && s.N >= 2)
        out[n++] = s;
    }
    return n;
  }
  for (int im = 0; im < n_mib; im++)
    for (int jf = 0; jf < n_f && n < BENCH_MAX_SHAPES; jf++) {
      bench_shape s;
      s.F = (size_t)atol(fs[jf]);
      if (s.F == 0)
        continue;
      s.N = (size_t)(atof(mibs[im]) * 1024 * 1024) / sizeof(float) / s.F;
      if (s.N >= 2)
        out[n++] = s;
    }
  return n;
}

#endif

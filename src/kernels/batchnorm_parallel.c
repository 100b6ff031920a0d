/* Chunked, threaded passes (batchnorm_parallel.h): on the exec's pool when it
 * has one, else on threads created for one pass and joined before it
 * returns. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "batchnorm_parallel.h"
#include "row_lines.h"
#include "../core/moments.h"

/* The split threshold of a pass kind: BN_PARALLEL_MIN_ELEMENTS if it holds
 * a positive number, else the kind's default. Read on every call, like
 * BN_ISA, so there is no cached global to initialize or race on. */
static size_t parallel_min_elements(bni_bn_pass_kind kind)
{
  const char *text = getenv("BN_PARALLEL_MIN_ELEMENTS");
  if (text && *text) {
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (*end == '\0' && errno == 0 && text[0] != '-' && v > 0 && v <= SIZE_MAX)
      return (size_t)v;
  }
  return kind == BNI_PASS_GRAD_SUMS || kind == BNI_PASS_GRAD_INPUT
             ? BNI_BN_PARALLEL_MIN_ELEMENTS_BACKWARD
             : BNI_BN_PARALLEL_MIN_ELEMENTS;
}

unsigned bni_bn_chunks(bni_bn_pass_kind kind, size_t F, size_t N, unsigned T)
{
  if (T <= 1 || F == 0)
    return 1;
  /* F*N >= MIN without forming F*N: N >= ceil(MIN / F). */
  const size_t min = parallel_min_elements(kind);
  if (N < min / F + (min % F != 0))
    return 1;
  size_t most = N / BNI_BN_MIN_CHUNK_COLUMNS;
  if (T > BNI_BN_MAX_THREADS)
    T = BNI_BN_MAX_THREADS;
  if (most < 2)
    return 1;
  return most < T ? (unsigned)most : T;
}

size_t bni_bn_chunk_begin(size_t N, unsigned C, unsigned c)
{
  size_t q = N / C, r = N % C;
  return c * q + (c < r ? c : r);
}

/* Run the pass's loop over columns [j0, j1), writing reductions to s1..s3. */
static void run_columns(const bni_bn_loops *L, const bni_bn_pass *p, size_t j0, size_t j1,
                        double *s1, double *s2, double *s3)
{
  bni_bn_pass part = *p;
  part.N = j1 - j0;
  part.x = p->x + j0 * p->ldx;
  part.dy = p->dy ? p->dy + j0 * p->lddy : NULL;
  part.y = p->y ? p->y + j0 * p->ldy : NULL;
  part.out = p->out ? p->out + j0 * p->ldout : NULL;
  part.s1 = s1;
  part.s2 = s2;
  part.s3 = s3;
  L->loop[p->kind](&part);
}

/* One chunk: its columns and, for a reduction, its rows of partial sums
 * (s2 NULL when the pass's s2 is). */
typedef struct chunk {
  const bni_bn_loops *loops;
  const bni_bn_pass *pass;
  size_t j0, j1;
  double *s1, *s2, *s3;
} chunk;

static void *run_chunk(void *arg)
{
  const chunk *c = arg;
  run_columns(c->loops, c->pass, c->j0, c->j1, c->s1, c->s2, c->s3);
  return NULL;
}

static void plan_chunk(const bni_bn_exec *ex, const bni_bn_pass *p, unsigned C, unsigned t,
                       chunk *c)
{
  const size_t R = bni_bn_line_elements(p->F, sizeof(double));
  double *rows = ex->partials + (size_t)t * BNI_BN_PARTIAL_ROWS * R;
  c->loops = ex->loops;
  c->pass = p;
  c->j0 = bni_bn_chunk_begin(p->N, C, t);
  c->j1 = bni_bn_chunk_begin(p->N, C, t + 1);
  c->s1 = rows;
  c->s2 = p->s2 ? rows + R : NULL;
  c->s3 = rows + 2 * R;
}

/* out = row of chunk 0 + row of chunk 1 + ... in that order. */
static void merge_row(const bni_bn_exec *ex, size_t F, unsigned C, size_t row, double *out)
{
  if (!out)
    return;
  const size_t R = bni_bn_line_elements(F, sizeof(double)), stride = BNI_BN_PARTIAL_ROWS * R;
  const double *part = ex->partials + row * R;
  memcpy(out, part, F * sizeof *out);
  for (unsigned t = 1; t < C; t++)
    for (size_t f = 0; f < F; f++)
      out[f] += part[t * stride + f];
}

/* The chunks' moments (mean offset, M2 and the offset's origin in rows 0-2)
 * merged in the order t = 0..C-1 with the count/mean/M2 rule, every offset
 * first moved to chunk 0's origin (the origins' difference is exact). */
static void merge_moments(const bni_bn_exec *ex, const bni_bn_pass *p, unsigned C)
{
  const size_t F = p->F, R = bni_bn_line_elements(F, sizeof(double)), stride = BNI_BN_PARTIAL_ROWS * R;
  double *part = ex->partials;
  memcpy(p->s1, part, F * sizeof *p->s1);
  memcpy(p->s2, part + R, F * sizeof *p->s2);
  memcpy(p->s3, part + 2 * R, F * sizeof *p->s3);
  for (unsigned t = 1; t < C; t++) {
    double *offset = part + t * stride, *origin = offset + 2 * R;
    for (size_t f = 0; f < F; f++)
      offset[f] += origin[f] - p->s3[f];
    const size_t j0 = bni_bn_chunk_begin(p->N, C, t), j1 = bni_bn_chunk_begin(p->N, C, t + 1);
    bni_moments_merge(F, (double)j0, p->s1, p->s2, (double)(j1 - j0), offset, offset + R);
  }
}

static void run_chunk_job(void *arg, unsigned i)
{
  run_chunk((chunk *)arg + i);
}

/* Chunks 1..C-1 on threads created for them (a chunk whose thread cannot be
 * created runs here), chunk 0 here; returns when all are done. */
static void run_on_new_threads(chunk *chunks, unsigned C)
{
  pthread_t tid[BNI_BN_MAX_THREADS];
  int started[BNI_BN_MAX_THREADS] = {0};
  for (unsigned t = 1; t < C; t++) {
    started[t] = pthread_create(&tid[t], NULL, run_chunk, &chunks[t]) == 0;
    if (!started[t])
      run_chunk(&chunks[t]);
  }
  run_chunk(&chunks[0]);
  for (unsigned t = 1; t < C; t++)
    if (started[t])
      pthread_join(tid[t], NULL);
}

void bni_bn_run(const bni_bn_exec *ex, const bni_bn_pass *p)
{
  unsigned C = ex->partials ? bni_bn_chunks(p->kind, p->F, p->N, ex->threads) : 1;
  if (C <= 1) {
    run_columns(ex->loops, p, 0, p->N, p->s1, p->s2, p->s3);
    return;
  }
  chunk chunks[BNI_BN_MAX_THREADS];
  for (unsigned t = 0; t < C; t++)
    plan_chunk(ex, p, C, t, &chunks[t]);
  if (ex->pool && C - 1 <= bni_pool_workers(ex->pool))
    bni_pool_run(ex->pool, C, run_chunk_job, chunks);
  else
    run_on_new_threads(chunks, C);
  if (p->kind == BNI_PASS_MOMENTS) {
    merge_moments(ex, p, C);
  } else if (bni_bn_pass_reduces(p->kind)) {
    merge_row(ex, p->F, C, 0, p->s1);
    merge_row(ex, p->F, C, 1, p->s2);
    merge_row(ex, p->F, C, 2, p->s3);
  }
}

#ifndef BNI_BATCHNORM_PARALLEL_H
#define BNI_BATCHNORM_PARALLEL_H

/* One pass of a batch-normalization algorithm, run over contiguous chunks of
 * the batch's columns, each chunk on its own thread.
 *
 * A pass (bni_bn_pass, batchnorm_loops.h) names one loop of the table and its
 * arguments. With one chunk the loop is called once over the whole batch,
 * exactly as a direct call would.
 * With C > 1 chunks, chunk 0 runs on the calling thread and chunks 1..C-1 on
 * threads created for this pass and joined before it returns (a thread that
 * cannot be created runs its chunk on the calling thread). Element passes
 * just split the columns. A reduction's chunk t writes its own rows of
 * partial sums, which are then added up (the moments pass: merged with the
 * count/mean/M2 rule) in the order t = 0..C-1 on the calling thread: the
 * result is deterministic for a given C, and differs from the one-chunk
 * result only by the grouping of the additions. */

#include <stddef.h>
#include "batchnorm_loops.h"
#include "thread_pool.h"

/* Most chunks (threads) a pass may use. */
#define BNI_BN_MAX_THREADS 64u
/* Rows of F doubles of partial sums per chunk (grad_sums has three outputs). */
#define BNI_BN_PARTIAL_ROWS 3u
/* Passes over fewer elements (F*N) than these run as one chunk, from where a
 * second thread paid on the layer's persistent pool in the break-even
 * measurement (docs/performance.md, "Threads" and issue 12's "Session 5"):
 * the forward's passes from 2^17 (512 KiB of floats; at 2^16 two threads
 * were 0.74-0.98x as fast as one), the backward's, which read two inputs,
 * from 2^18. The environment variable BN_PARALLEL_MIN_ELEMENTS overrides
 * both (a diagnostic knob, like BN_ISA: the tests use it to exercise the
 * split on small batches). */
#define BNI_BN_PARALLEL_MIN_ELEMENTS ((size_t)1 << 17)
#define BNI_BN_PARALLEL_MIN_ELEMENTS_BACKWARD ((size_t)1 << 18)
/* Fewest columns of a chunk. */
#define BNI_BN_MIN_CHUNK_COLUMNS 2u

/* How the passes of one call run: the loops, the most chunks to use and, when
 * threads > 1, threads*BNI_BN_PARTIAL_ROWS rows of partial sums, each
 * bni_bn_line_elements(F, sizeof(double)) doubles apart (row_lines.h: no two
 * chunks share a line) in a block from bni_bn_alloc_rows, and
 * optionally a pool of at least threads - 1 workers that runs chunks
 * 1..C-1 (without one, each pass creates and joins its threads). */
typedef struct bni_bn_exec {
  const bni_bn_loops *loops;
  unsigned threads;
  double *partials;
  bni_pool *pool;
} bni_bn_exec;

/* Number of chunks for a pass of this kind over an F x N batch and at most T
 * threads: 1 when T <= 1 or F*N is below the kind's threshold, else
 * min(T, N / BNI_BN_MIN_CHUNK_COLUMNS). A pure function of its arguments
 * for a given environment, so a reduction's result is deterministic. */
unsigned bni_bn_chunks(bni_bn_pass_kind kind, size_t F, size_t N, unsigned T);

/* First column of chunk c of C over N columns (c == C gives N). */
size_t bni_bn_chunk_begin(size_t N, unsigned C, unsigned c);

/* Run the pass over bni_bn_chunks(kind, F, N, ex->threads) chunks. */
void bni_bn_run(const bni_bn_exec *ex, const bni_bn_pass *p);

#endif

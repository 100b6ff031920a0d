/* The MLP training step and one-sample inference against their floors.
 *
 * Network (bn train's default): 784 -> input BatchNorm -> 256 -> 128 -> 10,
 * BatchNorm before ReLU, softmax head. For each batch size, thread count
 * (OpenBLAS threads, set with openblas_set_num_threads) and optimizer it
 * prints:
 *   - the GEMM floor: the nine cblas_sgemm calls a step of this network
 *     contains (three forward products, three weight gradients and three
 *     input gradients, the first of which only the input BatchNorm needs);
 *   - the step's own floor (gemm_floor_step, ratio to the nine): the eight
 *     of them a step runs, without the first layer's input gradient, which
 *     the input BatchNorm's gradients do not need (docs/math.md);
 *   - bn_mlp_train_step's median time and its ratio to the nine-GEMM floor;
 *   - allocations per steady-state step (this program interposes malloc and
 *     friends and counts every call made while a step runs, OpenBLAS's
 *     included);
 * then bn_mlp_evaluate on a batch of 256 and the one-sample latency of
 * bn_mlp_predict as trained (inference mode) and after
 * bn_mlp_fold_batchnorm, with allocations per call.
 *
 * Lines: RESULT_MLP,<what>,<optimizer>,<threads>,<batch>,<ns>,<ratio>,<allocs>
 * Usage: bench_mlp [--batches 32,128,256] [--threads 1,2] [--reps 21]
 *                  [--budget seconds per measurement] [--clock wall|cpu]
 * --clock cpu times with the calling thread's CPU time: on a machine loaded
 * by other jobs it keeps their time slices out of the one-thread figures;
 * it does not see OpenBLAS's worker threads, so it is for one-thread runs
 * only.
 * Measurements, never a pass/fail test. */
#define _GNU_SOURCE
#include <bn/bn.h>
#include <cblas.h>
#include <stdint.h>
#include "bench_common.h"

void openblas_set_num_threads(int);

/* ---- allocation counting ---------------------------------------------------- */

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static volatile int counting;
static volatile long allocations;

void *malloc(size_t n)
{
  if (counting)
    allocations++;
  return __libc_malloc(n);
}
void *calloc(size_t a, size_t b)
{
  if (counting)
    allocations++;
  return __libc_calloc(a, b);
}
void *realloc(void *p, size_t n)
{
  if (counting)
    allocations++;
  return __libc_realloc(p, n);
}
void *aligned_alloc(size_t align, size_t n)
{
  if (counting)
    allocations++;
  return __libc_memalign(align, n);
}
int posix_memalign(void **out, size_t align, size_t n)
{
  if (counting)
    allocations++;
  void *p = __libc_memalign(align, n);
  if (!p)
    return 12; /* ENOMEM */
  *out = p;
  return 0;
}
void free(void *p)
{
  __libc_free(p);
}

/* ---- the network and its data ---------------------------------------------- */

enum { IN = 784, H1 = 256, H2 = 128, OUT = 10, MAXB = 256 };

typedef struct bench_ctx {
  bn_mlp *mlp;
  size_t batch;
  float *x, *onex, *out;
  int32_t *labels;
  /* the GEMM floor's operands */
  float *w[3], *dw[3], *a[4], *da[4];
  int skip_input_dx; /* the eight GEMMs of the step's own floor */
  int failed;
} bench_ctx;

static const size_t widths[4] = {IN, H1, H2, OUT};

static void must(bench_ctx *c, bn_status st, const char *what)
{
  if (st != BN_OK && !c->failed) {
    fprintf(stderr, "bench_mlp: %s: %s (%s)\n", what, bn_status_string(st),
            c->mlp ? bn_mlp_last_error(c->mlp) : "");
    c->failed = 1;
  }
}

static void gemm_floor(void *p)
{
  bench_ctx *c = p;
  const int B = (int)c->batch;
  for (int l = 0; l < 3; l++) { /* Z = W X: W (out x in) row-major */
    const int in = (int)widths[l], out = (int)widths[l + 1];
    cblas_sgemm(CblasColMajor, CblasTrans, CblasNoTrans, out, B, in, 1.0f, c->w[l], in, c->a[l],
                in, 0.0f, c->a[l + 1], out);
  }
  for (int l = 2; l >= 0; l--) {
    const int in = (int)widths[l], out = (int)widths[l + 1];
    /* dW = dZ X^T, stored (out x in) row-major = (in x out) column-major */
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasTrans, in, out, B, 1.0f, c->a[l], in,
                c->da[l + 1], out, 0.0f, c->dw[l], in);
    if (l == 0 && c->skip_input_dx)
      break;
    /* dX = W^T dZ */
    cblas_sgemm(CblasColMajor, CblasNoTrans, CblasNoTrans, in, B, out, 1.0f, c->w[l], in,
                c->da[l + 1], out, 0.0f, c->da[l], in);
  }
}

static void train_step(void *p)
{
  bench_ctx *c = p;
  float loss;
  must(c, bn_mlp_train_step(c->mlp, c->batch, c->x, IN, c->labels, NULL, &loss), "train_step");
}

static void predict_one(void *p)
{
  bench_ctx *c = p;
  must(c, bn_mlp_predict(c->mlp, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, 1, c->onex, IN, c->out,
                         OUT),
       "predict");
}

static void evaluate(void *p)
{
  bench_ctx *c = p;
  float loss, accuracy;
  must(c, bn_mlp_evaluate(c->mlp, c->batch, c->x, IN, c->labels, NULL, &loss, &accuracy),
       "evaluate");
}

/* Allocations made by n calls of op after it has run once. */
static long allocations_per_call(void (*op)(void *), void *ctx, int n)
{
  op(ctx);
  allocations = 0;
  counting = 1;
  for (int i = 0; i < n; i++)
    op(ctx);
  counting = 0;
  return allocations / n;
}

static bn_mlp *make_mlp(int optimizer)
{
  static const size_t hidden[2] = {H1, H2};
  bn_mlp *m = NULL;
  bn_rng rng;
  if (bn_mlp_create(&m, IN, hidden, 2, OUT, BN_ACT_RELU, BN_MLP_BN_BEFORE, BN_MLP_HEAD_SOFTMAX,
                    BN_MLP_INPUT_BATCHNORM) != BN_OK ||
      bn_rng_seed(&rng, 1) != BN_OK || bn_mlp_init(m, BN_INIT_HE_NORMAL, &rng) != BN_OK ||
      bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, optimizer) != BN_OK ||
      bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, optimizer == BN_MLP_ADAM ? 1e-3 : 1e-2) !=
        BN_OK) {
    fprintf(stderr, "bench_mlp: cannot build the network\n");
    exit(2);
  }
  return m;
}

static size_t parse_list(const char *s, size_t *out, size_t cap)
{
  size_t n = 0;
  while (*s && n < cap) {
    char *end;
    unsigned long v = strtoul(s, &end, 10);
    if (end == s)
      break;
    out[n++] = (size_t)v;
    s = *end == ',' ? end + 1 : end;
  }
  return n;
}

int main(int argc, char **argv)
{
  size_t batches[8] = {32, 128, 256}, nb = 3, threads[4] = {1, 2}, nt = 2;
  int reps = 21;
  double budget = 2.0;
  static const char usage[] = "usage: bench_mlp [--batches 32,128,256] [--threads 1,2] "
                               "[--reps N] [--budget s] [--clock wall|cpu]\n";
  for (int i = 1; i < argc; i += 2) {
    if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
      fputs(usage, stdout);
      return 0;
    }
    if (i + 1 == argc) { /* every option takes a value */
      fprintf(stderr, "bench_mlp: %s needs a value\n%s", argv[i], usage);
      return 2;
    }
    if (!strcmp(argv[i], "--batches"))
      nb = parse_list(argv[i + 1], batches, 8);
    else if (!strcmp(argv[i], "--threads"))
      nt = parse_list(argv[i + 1], threads, 4);
    else if (!strcmp(argv[i], "--reps"))
      reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--clock") && !strcmp(argv[i + 1], "cpu"))
      bench_clock = CLOCK_THREAD_CPUTIME_ID;
    else if (!strcmp(argv[i], "--clock") && !strcmp(argv[i + 1], "wall"))
      bench_clock = CLOCK_MONOTONIC;
    else {
      fputs(usage, stderr);
      return 2;
    }
  }
  for (size_t i = 0; i < nb; i++)
    if (batches[i] == 0 || batches[i] > MAXB) {
      fprintf(stderr, "bench_mlp: batch sizes are 1..%d\n", MAXB);
      return 2;
    }

  bench_ctx c = {0};
  c.x = bench_alloc(sizeof(float) * IN * MAXB);
  c.onex = bench_alloc(sizeof(float) * IN);
  c.out = bench_alloc(sizeof(float) * OUT * MAXB);
  c.labels = bench_alloc(sizeof(int32_t) * MAXB);
  bench_fill(c.x, (size_t)IN * MAXB, 1, 0.0f, 1.0f);
  bench_fill(c.onex, IN, 2, 0.0f, 1.0f);
  for (size_t j = 0; j < MAXB; j++)
    c.labels[j] = (int32_t)(j * 7 % OUT);
  for (int l = 0; l < 3; l++) {
    c.w[l] = bench_alloc(sizeof(float) * widths[l] * widths[l + 1]);
    c.dw[l] = bench_alloc(sizeof(float) * widths[l] * widths[l + 1]);
    bench_fill(c.w[l], widths[l] * widths[l + 1], 3 + (uint64_t)l, -0.05f, 0.05f);
  }
  for (int l = 0; l < 4; l++) {
    c.a[l] = bench_alloc(sizeof(float) * widths[l] * MAXB);
    c.da[l] = bench_alloc(sizeof(float) * widths[l] * MAXB);
    bench_fill(c.a[l], widths[l] * MAXB, 10 + (uint64_t)l, 0.0f, 1.0f);
    bench_fill(c.da[l], widths[l] * MAXB, 20 + (uint64_t)l, -1.0f, 1.0f);
  }

  static const int optimizers[2] = {BN_MLP_ADAM, BN_MLP_MOMENTUM};
  static const char *names[2] = {"adam", "momentum"};
  printf("# bench_mlp: 784 -> input BN -> 256 -> 128 -> 10, BN before ReLU; %s time\n",
         bench_clock == CLOCK_MONOTONIC ? "wall" : "thread CPU");
  for (size_t t = 0; t < nt; t++) {
    openblas_set_num_threads((int)threads[t]);
    for (size_t b = 0; b < nb; b++) {
      c.batch = batches[b];
      double floor = bench_time(gemm_floor, &c, reps, budget, NULL);
      printf("RESULT_MLP,gemm_floor,-,%zu,%zu,%.0f,1.000,%ld\n", threads[t], c.batch,
             floor * 1e9, allocations_per_call(gemm_floor, &c, 5));
      c.skip_input_dx = 1;
      double own = bench_time(gemm_floor, &c, reps, budget, NULL);
      printf("RESULT_MLP,gemm_floor_step,-,%zu,%zu,%.0f,%.3f,%ld\n", threads[t], c.batch,
             own * 1e9, own / floor, allocations_per_call(gemm_floor, &c, 5));
      c.skip_input_dx = 0;
      for (int o = 0; o < 2; o++) {
        c.mlp = make_mlp(optimizers[o]);
        double step = bench_time(train_step, &c, reps, budget, NULL);
        long allocs = allocations_per_call(train_step, &c, 5);
        printf("RESULT_MLP,train_step,%s,%zu,%zu,%.0f,%.3f,%ld\n", names[o], threads[t], c.batch,
               step * 1e9, step / floor, allocs);
        bn_mlp_destroy(c.mlp);
        c.mlp = NULL;
      }
      fflush(stdout);
    }
    /* One sample, as trained (running statistics) and folded. */
    c.mlp = make_mlp(BN_MLP_ADAM);
    c.batch = MAXB;
    for (int i = 0; i < 20; i++)
      train_step(&c);
    double eval = bench_time(evaluate, &c, reps, budget, NULL);
    printf("RESULT_MLP,evaluate,as_trained,%zu,%zu,%.0f,-,%ld\n", threads[t], c.batch,
           eval * 1e9, allocations_per_call(evaluate, &c, 5));
    double as_trained = bench_time(predict_one, &c, reps, budget, NULL);
    long allocs = allocations_per_call(predict_one, &c, 5);
    printf("RESULT_MLP,predict_1,as_trained,%zu,1,%.0f,-,%ld\n", threads[t], as_trained * 1e9,
           allocs);
    bn_mlp *folded = NULL;
    must(&c, bn_mlp_fold_batchnorm(c.mlp, &folded), "fold");
    bn_mlp_destroy(c.mlp);
    c.mlp = folded;
    if (folded) {
      double f = bench_time(predict_one, &c, reps, budget, NULL);
      allocs = allocations_per_call(predict_one, &c, 5);
      printf("RESULT_MLP,predict_1,folded,%zu,1,%.0f,-,%ld\n", threads[t], f * 1e9, allocs);
    }
    bn_mlp_destroy(c.mlp);
    c.mlp = NULL;
    fflush(stdout);
  }
  return c.failed ? 1 : 0;
}

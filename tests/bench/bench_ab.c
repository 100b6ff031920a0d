/* Paired comparison of two builds of libbn (e.g. before and after a change
 * that must not slow anything down): both libraries are loaded into this
 * process (dlopen, RTLD_LOCAL) and each sample times build A then build B on
 * the same data back to back, so that the load of a shared machine hits both
 * alike. Prints, per op and shape, the median time of each build and the
 * median and quartiles of the per-sample ratio B/A and the ratio of the
 * fastest samples (the least disturbed ones on a loaded machine).
 *
 * Usage: bench_ab OLD.so NEW.so [--shapes 256x65536,1024x1024,300x128]
 *                 [--samples 31] [--threads 1] [--ops fwd_inf,layer_fwd_inf,...]
 *                 [--settle 0|1]
 * (a shape is FxN: F features, N samples; --ops limits the run to the named
 * ops, all by default; --settle 0 times back to back on two threads too,
 * see time_settled). */
#include <bn/bn.h>
#include "bench_common.h"
#include "bench_dl.h"

typedef struct api {
  bn_status (*fwd_train)(size_t, size_t, const float *, size_t, const float *, const float *,
                         float, unsigned, float *, size_t, float *, float *, float *);
  bn_status (*fwd_inf)(size_t, size_t, const float *, size_t, const float *, const float *,
                       const float *, const float *, float, unsigned, float *, size_t);
  bn_status (*bwd_train)(size_t, size_t, const float *, size_t, const float *, size_t,
                         const float *, const float *, const float *, const float *, unsigned,
                         float *, size_t, float *, float *);
  bn_status (*create)(bn_batchnorm **, size_t, unsigned);
  void (*destroy)(bn_batchnorm *);
  bn_status (*set_threads)(bn_batchnorm *, unsigned);
  bn_status (*forward)(bn_batchnorm *, bn_mode, size_t, const float *, size_t, float *, size_t);
  bn_status (*backward)(bn_batchnorm *, size_t, const float *, size_t, const float *, size_t,
                        float *, size_t);
} api;

static api load(const char *path)
{
  void *lib = bench_dl_open("bench_ab", path);
  api a;
  *(void **)&a.fwd_train = bench_dl_sym("bench_ab", lib, "bn_batchnorm_forward_training");
  *(void **)&a.fwd_inf = bench_dl_sym("bench_ab", lib, "bn_batchnorm_forward_inference");
  *(void **)&a.bwd_train = bench_dl_sym("bench_ab", lib, "bn_batchnorm_backward_training");
  *(void **)&a.create = bench_dl_sym("bench_ab", lib, "bn_batchnorm_create");
  *(void **)&a.destroy = bench_dl_sym("bench_ab", lib, "bn_batchnorm_destroy");
  *(void **)&a.set_threads = bench_dl_sym("bench_ab", lib, "bn_batchnorm_set_threads");
  *(void **)&a.forward = bench_dl_sym("bench_ab", lib, "bn_batchnorm_forward");
  *(void **)&a.backward = bench_dl_sym("bench_ab", lib, "bn_batchnorm_backward");
  return a;
}

typedef struct ctx {
  const api *lib;
  size_t F, N;
  float *x, *y, *dy, *gamma, *beta, *mean, *var, *sm, *si, *dg, *db;
  bn_batchnorm *layer;
} ctx;

enum { OP_FWD_TRAIN, OP_FWD_INF, OP_BWD_TRAIN, OP_BWD_TRAIN_RELU, OP_LAYER_FWD, OP_LAYER_FWD_INF,
       OP_LAYER_BWD, OP_LAYER_BWD_RELU, N_OPS };
static const char *op_names[N_OPS] = {"fwd_train",       "fwd_inf",       "bwd_train",
                                      "bwd_train_relu",  "layer_fwd_train", "layer_fwd_inf",
                                      "layer_bwd",       "layer_bwd_relu"};

static void run(const ctx *c, int op)
{
  const api *L = c->lib;
  bn_status st = BN_OK;
  switch (op) {
  case OP_FWD_TRAIN:
    st = L->fwd_train(c->F, c->N, c->x, c->F, c->gamma, c->beta, 1e-5f, 0, c->y, c->F, c->sm,
                      c->si, NULL);
    break;
  case OP_FWD_INF:
    st = L->fwd_inf(c->F, c->N, c->x, c->F, c->mean, c->var, c->gamma, c->beta, 1e-5f, 0, c->y,
                    c->F);
    break;
  case OP_BWD_TRAIN:
  case OP_BWD_TRAIN_RELU:
    st = L->bwd_train(c->F, c->N, c->x, c->F, c->dy, c->F, c->sm, c->si, c->gamma, c->beta,
                      op == OP_BWD_TRAIN_RELU ? BN_KERNEL_FUSE_RELU : 0, c->y, c->F, c->dg,
                      c->db);
    break;
  case OP_LAYER_FWD:
    st = L->forward(c->layer, BN_MODE_TRAINING, c->N, c->x, c->F, c->y, c->F);
    break;
  case OP_LAYER_FWD_INF:
    st = L->forward(c->layer, BN_MODE_INFERENCE, c->N, c->x, c->F, c->y, c->F);
    break;
  default:
    st = L->backward(c->layer, c->N, c->x, c->F, c->dy, c->F, c->y, c->F);
    break;
  }
  if (st != BN_OK) {
    fprintf(stderr, "bench_ab: %s failed (%d)\n", op_names[op], (int)st);
    exit(2);
  }
}

/* Seconds per call of `inner` calls. */
static double time_calls(const ctx *c, int op, long inner)
{
  double t = bench_now();
  for (long i = 0; i < inner; i++)
    run(c, op);
  return (bench_now() - t) / (double)inner;
}

static void prepare(ctx *c, int op, unsigned threads)
{
  run(c, OP_FWD_TRAIN); /* saved statistics of this x */
  if (op >= OP_LAYER_FWD) {
    unsigned flags = op == OP_LAYER_BWD_RELU ? BN_BATCHNORM_FUSE_RELU : 0;
    if (c->lib->create(&c->layer, c->F, flags) != BN_OK ||
        c->lib->set_threads(c->layer, threads) != BN_OK) {
      fprintf(stderr, "bench_ab: layer setup failed\n");
      exit(2);
    }
    run(c, OP_LAYER_FWD);
  }
}

/* Two builds' pools in one process: after a run, a pool's worker spins for
 * up to 2 ms for the next one (src/kernels/thread_pool.c), holding the core
 * that the other build's worker needs, so on two threads whichever build ran
 * second paid for the first one's spin (a build against a copy of itself
 * read 1.37). On several threads each timed batch therefore waits until the
 * other build's worker sleeps (3 ms asleep, beyond its 2 ms spin), then wakes
 * its own with one untimed call. The figures are then those of a core that
 * idled for 3 ms (at 1024 x 1024 about 1.5x the back-to-back times); their
 * ratio is what the comparison is for. A busy wait in place of the sleep, or
 * 1 ms of untimed calls after it, left the control (a build against a copy of
 * itself) at 0.86-1.64 (docs/performance.md, "bench_ab on two threads"). */
static double time_settled(const ctx *c, int op, long inner, int settle)
{
  if (settle) {
    const struct timespec beyond_spin = {0, 3000000};
    nanosleep(&beyond_spin, NULL);
    run(c, op);
  }
  return time_calls(c, op, inner);
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: bench_ab OLD.so NEW.so [--shapes FxN,...] [--samples n] "
                    "[--threads t] [--ops name,...] [--settle 0|1]\n");
    return 2;
  }
  char shapes[512] = "256x65536,1024x1024,300x128", ops[512] = "";
  int samples = 31;
  unsigned threads = 1;
  int settle = 1;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--shapes"))
      snprintf(shapes, sizeof shapes, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--samples"))
      samples = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      threads = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--ops"))
      snprintf(ops, sizeof ops, ",%s,", argv[i + 1]);
    else if (!strcmp(argv[i], "--settle"))
      settle = atoi(argv[i + 1]) != 0;
  }
  if (samples < 1 || samples > 256)
    samples = 15;
  api libs[2] = {load(argv[1]), load(argv[2])};
  printf("# A = %s, B = %s; %d paired samples; layer ops on %u threads%s\n", argv[1], argv[2],
         samples, threads, settle && threads > 1 ? ", each batch after 3 ms asleep" : "");
  printf("| op | F | N | A µs | B µs | B/A median | B/A quartiles | B/A of minima |\n"
         "|---|---|---|---|---|---|---|---|\n");
  for (char *tok = strtok(shapes, ","); tok; tok = strtok(NULL, ",")) {
    size_t F = 0, N = 0;
    if (sscanf(tok, "%zux%zu", &F, &N) != 2 || F == 0 || N < 2)
      continue;
    size_t n = F * N;
    ctx c[2];
    float *x = bench_alloc(n * 4), *y = bench_alloc(n * 4), *dy = bench_alloc(n * 4);
    float *vec = bench_alloc(10 * F * 4); /* gamma beta mean var dg db, 2 x (sm si) */
    bench_fill(x, n, 1, -1.0f, 3.0f);
    bench_fill(dy, n, 2, -1.0f, 1.0f);
    bench_fill(vec, F, 3, 0.5f, 1.5f);
    bench_fill(vec + F, F, 4, -0.5f, 0.5f);
    bench_fill(vec + 2 * F, F, 5, 0.5f, 1.5f);
    bench_fill(vec + 3 * F, F, 6, 1.0f, 2.0f);
    for (int k = 0; k < 2; k++) /* each build keeps its own saved statistics */
      c[k] = (ctx){&libs[k], F, N, x, y, dy, vec, vec + F, vec + 2 * F, vec + 3 * F,
                   vec + (6 + 2 * (size_t)k) * F, vec + (7 + 2 * (size_t)k) * F, vec + 4 * F,
                   vec + 5 * F, NULL};
    for (int op = 0; op < N_OPS; op++) {
      char name[64];
      snprintf(name, sizeof name, ",%s,", op_names[op]);
      if (ops[0] && !strstr(ops, name))
        continue;
      for (int k = 0; k < 2; k++)
        prepare(&c[k], op, threads);
      double one = time_calls(&c[0], op, 1);
      long inner = one < 5e-4 ? (long)(5e-4 / (one > 1e-8 ? one : 1e-8)) + 1 : 1;
      double ta[256], tb[256], r[256];
      const int settled = settle && threads > 1;
      for (int s = 0; s < samples; s++) {
        /* alternate which build goes first */
        if (s % 2) {
          tb[s] = time_settled(&c[1], op, inner, settled);
          ta[s] = time_settled(&c[0], op, inner, settled);
        } else {
          ta[s] = time_settled(&c[0], op, inner, settled);
          tb[s] = time_settled(&c[1], op, inner, settled);
        }
        r[s] = tb[s] / ta[s];
      }
      double mina = ta[0], minb = tb[0];
      for (int k = 1; k < samples; k++) {
        mina = ta[k] < mina ? ta[k] : mina;
        minb = tb[k] < minb ? tb[k] : minb;
      }
      double ma = bench_median(ta, (size_t)samples), mb = bench_median(tb, (size_t)samples);
      double mr = bench_median(r, (size_t)samples); /* sorts r */
      printf("| %s | %zu | %zu | %.1f | %.1f | %.3f | %.3f-%.3f | %.3f |\n", op_names[op], F, N,
             ma * 1e6, mb * 1e6, mr, r[samples / 4], r[(3 * samples) / 4], minb / mina);
      fflush(stdout);
      for (int k = 0; k < 2; k++)
        if (c[k].layer) {
          c[k].lib->destroy(c[k].layer);
          c[k].layer = NULL;
        }
    }
    free(x);
    free(y);
    free(dy);
    free(vec);
  }
  return 0;
}

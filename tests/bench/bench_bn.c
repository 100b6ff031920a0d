/* libbn kernel benchmark: the public stateless kernels (and the layer's
 * fused-ReLU backward, which keeps the forward's residual and so skips one
 * pass) over C-contiguous (N, F) float32 data, i.e. F x N with ld = F.
 *
 * Minimal bytes per call (what an ideal single-pass kernel must move):
 *   forward (training and inference): read x + write y      = 8 F N bytes;
 *   backward:                         read x, dy + write dx  = 12 F N bytes.
 * The training forward actually reads x three times and the backward reads
 * x and dy twice, so "GB/s" is an effective rate, comparable across
 * libraries that all do the same job; docs/performance.md explains.
 *
 * The ISA path is chosen through the BN_ISA environment variable, which the
 * library reads on every call: "default" unsets it, any other name sets it.
 *
 * The layer_* ops run through a bn_batchnorm layer set to --threads threads
 * (bn_batchnorm_set_threads; the kernels always run on one thread);
 * layer_fwd_train and layer_bwd run only when --ops names them.
 *
 * Usage: bench_bn [--isa default,generic] [--features 64,256,1024,4096]
 *                 [--mib 1,8,256] [--ops fwd_train,...] [--reps 11]
 *                 [--budget seconds per measurement] [--threads 1]
 *                 [--shapes FxN,...]
 * --shapes (F features x N samples each, e.g. 256x65536,1024x1024,300x128)
 * replaces the grid of --features x --mib. */
#include <bn/bn.h>
#include "bench_common.h"

typedef struct args_t {
  size_t F, N;
  float *x, *y, *dy, *dx;
  float *gamma, *beta, *mean, *var, *smean, *sinvstd, *dgamma, *dbeta;
  bn_batchnorm *layer;
  int failed;
} args_t;

static void check(args_t *a, bn_status st)
{
  if (st != BN_OK && !a->failed) {
    fprintf(stderr, "bench_bn: call failed: %s\n", bn_status_string(st));
    a->failed = 1;
  }
}

static void fwd_train(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward_training(a->F, a->N, a->x, a->F, a->gamma, a->beta, 1e-5f, 0,
                                         a->y, a->F, a->smean, a->sinvstd, NULL));
}
static void fwd_train_relu(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward_training(a->F, a->N, a->x, a->F, a->gamma, a->beta, 1e-5f,
                                         BN_KERNEL_FUSE_RELU, a->y, a->F, a->smean, a->sinvstd,
                                         NULL));
}
static void fwd_inf(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward_inference(a->F, a->N, a->x, a->F, a->mean, a->var, a->gamma,
                                          a->beta, 1e-5f, 0, a->y, a->F));
}
static void fwd_inf_relu(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward_inference(a->F, a->N, a->x, a->F, a->mean, a->var, a->gamma,
                                          a->beta, 1e-5f, BN_KERNEL_FUSE_RELU, a->y, a->F));
}
static void bwd_train(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_backward_training(a->F, a->N, a->x, a->F, a->dy, a->F, a->smean,
                                          a->sinvstd, a->gamma, a->beta, 0, a->dx, a->F,
                                          a->dgamma, a->dbeta));
}
static void bwd_train_relu(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_backward_training(a->F, a->N, a->x, a->F, a->dy, a->F, a->smean,
                                          a->sinvstd, a->gamma, a->beta, BN_KERNEL_FUSE_RELU,
                                          a->dx, a->F, a->dgamma, a->dbeta));
}
static void layer_fwd_train(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward(a->layer, BN_MODE_TRAINING, a->N, a->x, a->F, a->y, a->F));
}
static void layer_fwd_inf(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_forward(a->layer, BN_MODE_INFERENCE, a->N, a->x, a->F, a->y, a->F));
}
static void layer_bwd(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_backward(a->layer, a->N, a->x, a->F, a->dy, a->F, a->dx, a->F));
}
static void layer_bwd_relu(void *p)
{
  args_t *a = p;
  check(a, bn_batchnorm_backward(a->layer, a->N, a->x, a->F, a->dy, a->F, a->dx, a->F));
}

typedef struct op_t {
  const char *name;
  void (*fn)(void *);
  double bytes_per_element;
  int named_only; /* run only when --ops names it */
} op_t;

static const op_t all_ops[] = {
  {"fwd_train", fwd_train, 8, 0},
  {"fwd_train_relu", fwd_train_relu, 8, 0},
  {"fwd_inf", fwd_inf, 8, 0},
  {"fwd_inf_relu", fwd_inf_relu, 8, 0},
  {"bwd_train", bwd_train, 12, 0},
  {"bwd_train_relu", bwd_train_relu, 12, 0},
  {"layer_bwd_relu", layer_bwd_relu, 12, 0},
  {"layer_fwd_train", layer_fwd_train, 8, 1},
  {"layer_fwd_inf", layer_fwd_inf, 8, 1},
  {"layer_bwd", layer_bwd, 12, 1},
};
#define N_OPS (sizeof all_ops / sizeof all_ops[0])

static int is_layer_op(const op_t *op)
{
  return op->fn == layer_fwd_train || op->fn == layer_fwd_inf || op->fn == layer_bwd ||
         op->fn == layer_bwd_relu;
}

/* A layer (fused ReLU for layer_bwd_relu) on `threads` threads, with this
 * x's forward done so that a backward can follow. */
static void make_layer(args_t *a, const op_t *op, unsigned threads)
{
  unsigned flags = op->fn == layer_bwd_relu ? BN_BATCHNORM_FUSE_RELU : 0;
  check(a, bn_batchnorm_create(&a->layer, a->F, flags));
  if (!a->layer)
    return;
  check(a, bn_batchnorm_set_threads(a->layer, threads));
  check(a, bn_batchnorm_set(a->layer, BN_BATCHNORM_GAMMA, a->gamma, a->F));
  check(a, bn_batchnorm_set(a->layer, BN_BATCHNORM_BETA, a->beta, a->F));
  layer_fwd_train(a);
}

/* Splits a comma-separated list in place; returns the count. */
static int split(char *s, char **out, int max)
{
  int n = 0;
  for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
    out[n++] = tok;
  return n;
}

int main(int argc, char **argv)
{
  char isa_buf[256] = "default,generic", f_buf[256] = "64,256,1024,4096";
  char mib_buf[256] = "1,8,256", ops_buf[512] = "", shape_buf[256] = "";
  int reps = 11;
  unsigned threads = 1;
  double budget = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    char *dst = NULL;
    if (!strcmp(argv[i], "--isa"))
      dst = isa_buf;
    else if (!strcmp(argv[i], "--features"))
      dst = f_buf;
    else if (!strcmp(argv[i], "--mib"))
      dst = mib_buf;
    else if (!strcmp(argv[i], "--ops"))
      dst = ops_buf;
    else if (!strcmp(argv[i], "--shapes"))
      dst = shape_buf;
    else if (!strcmp(argv[i], "--reps"))
      reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--threads"))
      threads = (unsigned)atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else {
      fprintf(stderr, "bench_bn: unknown option %s\n", argv[i]);
      return 2;
    }
    if (dst)
      snprintf(dst, 256, "%s", argv[i + 1]);
  }
  char *isas[8], *fs[16], *mibs[16], *opnames[16];
  int n_isa = split(isa_buf, isas, 8), n_f = split(f_buf, fs, 16);
  int n_mib = split(mib_buf, mibs, 16), n_opn = ops_buf[0] ? split(ops_buf, opnames, 16) : 0;
  const op_t *ops[N_OPS];
  int n_ops = 0;
  for (size_t k = 0; k < N_OPS; k++) {
    int keep = n_opn == 0 && !all_ops[k].named_only;
    for (int i = 0; i < n_opn; i++)
      keep |= !strcmp(opnames[i], all_ops[k].name);
    if (keep)
      ops[n_ops++] = &all_ops[k];
  }

  bench_shape shapes[BENCH_MAX_SHAPES];
  size_t n_shapes = bench_shapes(shape_buf, fs, n_f, mibs, n_mib, shapes);
  size_t max_elems = 0, max_f = 0;
  for (size_t i = 0; i < n_shapes; i++) {
    max_elems = shapes[i].F * shapes[i].N > max_elems ? shapes[i].F * shapes[i].N : max_elems;
    max_f = shapes[i].F > max_f ? shapes[i].F : max_f;
  }
  args_t a = {0};
  a.x = bench_alloc(max_elems * 4);
  a.y = bench_alloc(max_elems * 4);
  a.dy = bench_alloc(max_elems * 4);
  a.dx = a.y; /* forward output and backward output never coexist */
  bench_fill(a.x, max_elems, 1, -1.0f, 3.0f);
  bench_fill(a.dy, max_elems, 2, -1.0f, 1.0f);
  float *vecs = bench_alloc(8 * max_f * 4);
  a.gamma = vecs;
  a.beta = vecs + max_f;
  a.mean = vecs + 2 * max_f;
  a.var = vecs + 3 * max_f;
  a.smean = vecs + 4 * max_f;
  a.sinvstd = vecs + 5 * max_f;
  a.dgamma = vecs + 6 * max_f;
  a.dbeta = vecs + 7 * max_f;
  bench_fill(a.gamma, max_f, 3, 0.5f, 1.5f);
  bench_fill(a.beta, max_f, 4, -0.5f, 0.5f);
  bench_fill(a.mean, max_f, 5, 0.5f, 1.5f);
  bench_fill(a.var, max_f, 6, 1.0f, 2.0f);

  printf("# libbn %s: minimal bytes (fwd 8 B/elem, bwd 12 B/elem), median of up to %d "
         "samples, kernels on 1 thread, layer_* ops on %u\n", bn_version_string(), reps,
         threads);
  for (size_t is_ = 0; is_ < n_shapes; is_++) {
    {
      a.F = shapes[is_].F;
      a.N = shapes[is_].N;
      for (int k = 0; k < n_ops; k++)
        for (int is = 0; is < n_isa; is++) {
          if (!strcmp(isas[is], "default"))
            unsetenv("BN_ISA");
          else
            setenv("BN_ISA", isas[is], 1);
          a.failed = 0;
          /* the backward needs the saved statistics of this very x */
          fwd_train(&a);
          if (is_layer_op(ops[k]))
            make_layer(&a, ops[k], threads);
          double t = bench_time(ops[k]->fn, &a, reps, budget, NULL);
          if (a.layer) {
            bn_batchnorm_destroy(a.layer);
            a.layer = NULL;
          }
          if (a.failed)
            continue;
          bench_result("libbn", isas[is], is_layer_op(ops[k]) ? (int)threads : 1, ops[k]->name,
                       a.F, a.N,
                       ops[k]->bytes_per_element * (double)(a.F * a.N), t);
        }
    }
  }
  unsetenv("BN_ISA");
  free(a.x);
  free(a.y);
  free(a.dy);
  free(vecs);
  return 0;
}

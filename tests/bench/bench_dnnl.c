/* oneDNN batch-normalization benchmark on the same bytes as bench_bn: a
 * C-contiguous (N, F) float32 array, described to oneDNN as an (N, C, 1, 1)
 * tensor in the nhwc format (channels innermost, so memory order is exactly
 * libbn's F x N with ld = F). The 2-D "nc" format would also describe these
 * bytes, but oneDNN 2.x only has its generic reference implementation for it;
 * nhwc reaches the JIT (vectorized across channels) kernel, so it is the fair
 * comparison. Flags: use_scale | use_shift (+ fuse_norm_relu); inference adds
 * use_global_stats. Training with fuse_norm_relu writes a workspace (the ReLU
 * mask) that the backward reads instead of recomputing y.
 *
 * Threads: this oneDNN is built with the OpenMP runtime (printed below), so
 * the thread count is OMP_NUM_THREADS, read when the program starts; the
 * RESULT lines carry that value. Minimal bytes as in bench_bn.
 *
 * --paired 1 also runs libbn's layer (bn_batchnorm on as many threads, the
 * same flags, the same buffers) and times the two in alternating samples
 * (bench_time_pair), so that the shared machine's changing speed hits both
 * alike: RESULT lines for both (libbn's as "libbn,layer") and a "# paired"
 * line with the median and quartiles of the per-sample ratio oneDNN / libbn.
 * Meant for one thread: on two, each library's idle workers (OpenMP's
 * spin-wait, libbn's pool's) take cores from the other's next sample
 * (docs/performance.md, "Process to process").
 *
 * Usage: OMP_NUM_THREADS=1 bench_dnnl [--features 64,...] [--mib 1,8,256]
 *                                     [--ops ...] [--reps 11] [--budget s]
 *                                     [--shapes FxN,...] (as in bench_bn)
 *                                     [--paired 1] */
#include <bn/bn.h>
#include <oneapi/dnnl/dnnl.h>
#include "bench_common.h"

#define CHECK(call)                                                          \
  do {                                                                       \
    dnnl_status_t st_ = (call);                                              \
    if (st_ != dnnl_success) {                                               \
      fprintf(stderr, "bench_dnnl: %s failed (status %d)\n", #call, (int)st_); \
      exit(2);                                                               \
    }                                                                        \
  } while (0)

enum { OP_FWD_TRAIN, OP_FWD_INF, OP_BWD };

typedef struct bench_op {
  const char *name;
  int kind, relu;
  double bytes_per_element;
} bench_op;

static const bench_op all_ops[] = {
  {"fwd_train", OP_FWD_TRAIN, 0, 8},  {"fwd_train_relu", OP_FWD_TRAIN, 1, 8},
  {"fwd_inf", OP_FWD_INF, 0, 8},      {"fwd_inf_relu", OP_FWD_INF, 1, 8},
  {"bwd_train", OP_BWD, 0, 12},       {"bwd_train_relu", OP_BWD, 1, 12},
};
#define N_OPS (sizeof all_ops / sizeof all_ops[0])

typedef struct run_ctx {
  dnnl_primitive_t prim;
  dnnl_stream_t stream;
  int nargs;
  dnnl_exec_arg_t args[12];
} run_ctx;

static void run(void *p)
{
  run_ctx *c = p;
  CHECK(dnnl_primitive_execute(c->prim, c->stream, c->nargs, c->args));
  CHECK(dnnl_stream_wait(c->stream));
}

/* libbn's layer doing what a oneDNN op does, for --paired. */
typedef struct bn_ctx {
  bn_batchnorm *layer;
  int kind;
  size_t F, N;
  const float *x, *dy;
  float *y;
} bn_ctx;

static void run_bn(void *p)
{
  bn_ctx *c = p;
  bn_status st = c->kind == OP_BWD
                     ? bn_batchnorm_backward(c->layer, c->N, c->x, c->F, c->dy, c->F, c->y, c->F)
                     : bn_batchnorm_forward(c->layer,
                                            c->kind == OP_FWD_INF ? BN_MODE_INFERENCE
                                                                  : BN_MODE_TRAINING,
                                            c->N, c->x, c->F, c->y, c->F);
  if (st != BN_OK) {
    fprintf(stderr, "bench_dnnl: libbn call failed: %s\n", bn_status_string(st));
    exit(2);
  }
}

static dnnl_memory_t wrap(const dnnl_memory_desc_t *md, dnnl_engine_t eng, void *ptr)
{
  dnnl_memory_t m;
  CHECK(dnnl_memory_create(&m, md, eng, ptr));
  return m;
}

static int split(char *s, char **out, int max)
{
  int n = 0;
  for (char *tok = strtok(s, ","); tok && n < max; tok = strtok(NULL, ","))
    out[n++] = tok;
  return n;
}

int main(int argc, char **argv)
{
  char f_buf[256] = "64,256,1024,4096", mib_buf[256] = "1,8,256", ops_buf[256] = "";
  char shape_buf[256] = "";
  int reps = 11, paired = 0;
  double budget = 1.0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--features"))
      snprintf(f_buf, sizeof f_buf, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--mib"))
      snprintf(mib_buf, sizeof mib_buf, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--ops"))
      snprintf(ops_buf, sizeof ops_buf, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--shapes"))
      snprintf(shape_buf, sizeof shape_buf, "%s", argv[i + 1]);
    else if (!strcmp(argv[i], "--reps"))
      reps = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--budget"))
      budget = atof(argv[i + 1]);
    else if (!strcmp(argv[i], "--paired"))
      paired = atoi(argv[i + 1]);
    else {
      fprintf(stderr, "bench_dnnl: unknown option %s\n", argv[i]);
      return 2;
    }
  }
  char *fs[16], *mibs[16], *opnames[16];
  int n_f = split(f_buf, fs, 16), n_mib = split(mib_buf, mibs, 16);
  int n_opn = ops_buf[0] ? split(ops_buf, opnames, 16) : 0;
  const char *env_threads = getenv("OMP_NUM_THREADS");
  int threads = env_threads ? atoi(env_threads) : 0; /* 0: the runtime's default */

  const dnnl_version_t *v = dnnl_version();
  printf("# oneDNN %d.%d.%d, CPU runtime %s, OMP_NUM_THREADS=%s; (N, C, 1, 1) nhwc f32\n",
         v->major, v->minor, v->patch,
         v->cpu_runtime == DNNL_RUNTIME_OMP   ? "OpenMP"
         : v->cpu_runtime == DNNL_RUNTIME_TBB ? "TBB"
         : v->cpu_runtime == DNNL_RUNTIME_SEQ ? "sequential"
                                              : "other",
         env_threads ? env_threads : "(unset)");

  bench_shape shapes[BENCH_MAX_SHAPES];
  size_t n_shapes = bench_shapes(shape_buf, fs, n_f, mibs, n_mib, shapes);
  size_t max_elems = 0, max_f = 0;
  for (size_t i = 0; i < n_shapes; i++) {
    max_elems = shapes[i].F * shapes[i].N > max_elems ? shapes[i].F * shapes[i].N : max_elems;
    max_f = shapes[i].F > max_f ? shapes[i].F : max_f;
  }
  float *x = bench_alloc(max_elems * 4), *y = bench_alloc(max_elems * 4);
  float *dy = bench_alloc(max_elems * 4), *dx = y;
  unsigned char *ws = bench_alloc(max_elems); /* >= any ReLU workspace */
  float *vecs = bench_alloc(8 * max_f * 4);
  float *scale = vecs, *shift = vecs + max_f, *mean = vecs + 2 * max_f,
        *var = vecs + 3 * max_f, *dscale = vecs + 4 * max_f, *dshift = vecs + 5 * max_f;
  bench_fill(x, max_elems, 1, -1.0f, 3.0f);
  bench_fill(dy, max_elems, 2, -1.0f, 1.0f);
  bench_fill(scale, max_f, 3, 0.5f, 1.5f);
  bench_fill(shift, max_f, 4, -0.5f, 0.5f);

  dnnl_engine_t eng;
  dnnl_stream_t stream;
  CHECK(dnnl_engine_create(&eng, dnnl_cpu, 0));
  CHECK(dnnl_stream_create(&stream, eng, dnnl_stream_default_flags));

  for (size_t is_ = 0; is_ < n_shapes; is_++) {
    {
      size_t F = shapes[is_].F, N = shapes[is_].N;
      dnnl_dims_t dims = {(dnnl_dim_t)N, (dnnl_dim_t)F, 1, 1}, cdims = {(dnnl_dim_t)F};
      dnnl_memory_desc_t md, cmd;
      CHECK(dnnl_memory_desc_init_by_tag(&md, 4, dims, dnnl_f32, dnnl_nhwc));
      CHECK(dnnl_memory_desc_init_by_tag(&cmd, 1, cdims, dnnl_f32, dnnl_a));
      dnnl_memory_t m_x = wrap(&md, eng, x), m_y = wrap(&md, eng, y);
      dnnl_memory_t m_dy = wrap(&md, eng, dy), m_dx = wrap(&md, eng, dx);
      dnnl_memory_t m_scale = wrap(&cmd, eng, scale), m_shift = wrap(&cmd, eng, shift);
      dnnl_memory_t m_mean = wrap(&cmd, eng, mean), m_var = wrap(&cmd, eng, var);
      dnnl_memory_t m_dscale = wrap(&cmd, eng, dscale), m_dshift = wrap(&cmd, eng, dshift);

      for (size_t k = 0; k < N_OPS; k++) {
        const bench_op *op = &all_ops[k];
        int keep = n_opn == 0;
        for (int i = 0; i < n_opn; i++)
          keep |= !strcmp(opnames[i], op->name);
        if (!keep)
          continue;
        unsigned flags = dnnl_use_scale | dnnl_use_shift | (op->relu ? dnnl_fuse_norm_relu : 0u);
        /* A training forward is needed for its mean, variance and workspace
         * in every case: the backward runs on them. */
        dnnl_batch_normalization_desc_t fd;
        dnnl_primitive_desc_t fpd;
        CHECK(dnnl_batch_normalization_forward_desc_init(&fd, dnnl_forward_training, &md, 1e-5f,
                                                         flags));
        CHECK(dnnl_primitive_desc_create(&fpd, &fd, NULL, eng, NULL));
        dnnl_memory_t m_ws = NULL;
        if (op->relu) {
          const dnnl_memory_desc_t *wmd = dnnl_primitive_desc_query_md(fpd, dnnl_query_workspace_md, 0);
          if (dnnl_memory_desc_get_size(wmd) > max_elems) {
            fprintf(stderr, "bench_dnnl: workspace larger than expected\n");
            return 2;
          }
          m_ws = wrap(wmd, eng, ws);
        }
        run_ctx c = {0};
        c.stream = stream;
        CHECK(dnnl_primitive_create(&c.prim, fpd));
        dnnl_exec_arg_t fargs[] = {{DNNL_ARG_SRC, m_x},       {DNNL_ARG_DST, m_y},
                                   {DNNL_ARG_MEAN, m_mean},   {DNNL_ARG_VARIANCE, m_var},
                                   {DNNL_ARG_SCALE, m_scale}, {DNNL_ARG_SHIFT, m_shift},
                                   {DNNL_ARG_WORKSPACE, m_ws}};
        c.nargs = op->relu ? 7 : 6;
        memcpy(c.args, fargs, sizeof fargs);
        run(&c); /* statistics (and workspace) for the ops below */

        dnnl_primitive_desc_t pd = fpd;
        const char *impl = "?";
        if (op->kind == OP_FWD_INF) {
          dnnl_batch_normalization_desc_t d;
          CHECK(dnnl_batch_normalization_forward_desc_init(&d, dnnl_forward_inference, &md,
                                                           1e-5f, flags | dnnl_use_global_stats));
          CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, NULL));
          CHECK(dnnl_primitive_destroy(c.prim));
          CHECK(dnnl_primitive_create(&c.prim, pd));
          c.nargs = 6; /* mean and variance are inputs now; no workspace */
        } else if (op->kind == OP_BWD) {
          dnnl_batch_normalization_desc_t d;
          CHECK(dnnl_batch_normalization_backward_desc_init(&d, dnnl_backward, &md, &md, 1e-5f,
                                                            flags));
          CHECK(dnnl_primitive_desc_create(&pd, &d, NULL, eng, fpd));
          CHECK(dnnl_primitive_destroy(c.prim));
          CHECK(dnnl_primitive_create(&c.prim, pd));
          dnnl_exec_arg_t bargs[] = {
              {DNNL_ARG_SRC, m_x},           {DNNL_ARG_DIFF_DST, m_dy},
              {DNNL_ARG_MEAN, m_mean},       {DNNL_ARG_VARIANCE, m_var},
              {DNNL_ARG_SCALE, m_scale},     {DNNL_ARG_SHIFT, m_shift},
              {DNNL_ARG_DIFF_SRC, m_dx},
              {DNNL_ARG_DIFF_SCALE, m_dscale}, {DNNL_ARG_DIFF_SHIFT, m_dshift},
              {DNNL_ARG_WORKSPACE, m_ws}};
          c.nargs = op->relu ? 10 : 9; /* shift is an input too with use_shift */
          memcpy(c.args, bargs, sizeof bargs);
        }
        CHECK(dnnl_primitive_desc_query(pd, dnnl_query_impl_info_str, 0, &impl));
        double t;
        char label[64];
        snprintf(label, sizeof label, "%s", impl);
        printf("# %s F=%zu N=%zu impl=%s\n", op->name, F, N, label);
        if (paired) {
          bn_ctx b = {NULL, op->kind, F, N, x, dy, y};
          unsigned bn_threads = threads > 0 ? (unsigned)threads : 1;
          if (bn_batchnorm_create(&b.layer, F, op->relu ? BN_BATCHNORM_FUSE_RELU : 0) != BN_OK ||
              bn_batchnorm_set_threads(b.layer, bn_threads) != BN_OK ||
              bn_batchnorm_set(b.layer, BN_BATCHNORM_GAMMA, scale, F) != BN_OK ||
              bn_batchnorm_set(b.layer, BN_BATCHNORM_BETA, shift, F) != BN_OK) {
            fprintf(stderr, "bench_dnnl: libbn layer setup failed\n");
            return 2;
          }
          b.kind = OP_FWD_TRAIN;
          run_bn(&b); /* statistics and residual for the inference and the backward */
          b.kind = op->kind;
          double ratio[256], tb;
          int n = bench_time_pair(run_bn, &b, run, &c, reps, budget, &tb, &t, ratio);
          printf("# paired %s F=%zu N=%zu: oneDNN / libbn per sample median %.3f, quartiles "
                 "%.3f-%.3f, %d samples\n", op->name, F, N, bench_median(ratio, (size_t)n),
                 ratio[n / 4], ratio[(3 * n) / 4], n);
          bench_result("libbn", "layer", (int)bn_threads, op->name, F, N,
                       op->bytes_per_element * (double)(F * N), tb);
          bn_batchnorm_destroy(b.layer);
        } else {
          t = bench_time(run, &c, reps, budget, NULL);
        }
        bench_result("onednn", "nhwc", threads, op->name, F, N,
                     op->bytes_per_element * (double)(F * N), t);
        CHECK(dnnl_primitive_destroy(c.prim));
        if (pd != fpd)
          CHECK(dnnl_primitive_desc_destroy(pd));
        CHECK(dnnl_primitive_desc_destroy(fpd));
        if (m_ws)
          CHECK(dnnl_memory_destroy(m_ws));
      }
      dnnl_memory_t all[] = {m_x, m_y, m_dy, m_dx, m_scale, m_shift, m_mean, m_var, m_dscale, m_dshift};
      for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        CHECK(dnnl_memory_destroy(all[i]));
    }
  }
  CHECK(dnnl_stream_destroy(stream));
  CHECK(dnnl_engine_destroy(eng));
  free(x);
  free(y);
  free(dy);
  free(ws);
  free(vecs);
  return 0;
}

/* Paired comparison of two builds of libbn on the MLP (bench_ab's method
 * for whole networks): both libraries are loaded into this process (dlopen,
 * RTLD_LOCAL), each builds the same network from the same seed, and each
 * sample times build A then build B back to back (the order alternating),
 * so that the load of a shared machine hits both alike. Prints, per network,
 * operation and batch, the median time of each build and the median and
 * quartiles of the per-sample ratio B/A.
 *
 * Networks: 784 -> 256 -> 128 -> 10, ReLU, softmax head, with the BatchNorm
 * placement none, after and before (before with the input BatchNorm: bn
 * train's default); "folded" is the last one after bn_mlp_fold_batchnorm.
 * Operations: a training step (SGD with momentum), bn_mlp_predict in
 * inference mode (probabilities).
 *
 * Usage: bench_mlp_ab OLD.so NEW.so [--batches 1,32,256] [--samples 21]
 *                     [--nets none,after,before,folded] [--clock cpu|wall]
 * --clock cpu (the default) times with the calling thread's CPU time, which
 * keeps other jobs' time slices out on a loaded machine; it does not see
 * OpenBLAS's worker threads, so it is for one-thread runs.
 * Lines: RESULT_MLP_AB,<net>,<op>,<batch>,<ns A>,<ns B>,<ratio q1>,<median>,<q3>
 * One OpenBLAS thread is the intended setting (OPENBLAS_NUM_THREADS=1).
 * Measurements, never a pass/fail test. */
#include <bn/bn.h>
#include "bench_common.h"
#include "bench_dl.h"

typedef struct api {
  bn_status (*create)(bn_mlp **, size_t, const size_t *, size_t, size_t, bn_activation,
                      bn_mlp_placement, bn_mlp_head, unsigned);
  void (*destroy)(bn_mlp *);
  bn_status (*init)(bn_mlp *, bn_init, bn_rng *);
  bn_status (*seed)(bn_rng *, uint64_t);
  bn_status (*set)(bn_mlp *, bn_mlp_param, double);
  bn_status (*step)(bn_mlp *, size_t, const float *, size_t, const int32_t *, const float *,
                    float *);
  bn_status (*predict)(bn_mlp *, bn_mode, bn_mlp_output, size_t, const float *, size_t, float *,
                       size_t);
  bn_status (*fold)(const bn_mlp *, bn_mlp **);
} api;

static api load(const char *path)
{
  void *lib = bench_dl_open("bench_mlp_ab", path);
  api a;
  *(void **)&a.create = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_create");
  *(void **)&a.destroy = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_destroy");
  *(void **)&a.init = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_init");
  *(void **)&a.seed = bench_dl_sym("bench_mlp_ab", lib, "bn_rng_seed");
  *(void **)&a.set = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_set_parameter");
  *(void **)&a.step = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_train_step");
  *(void **)&a.predict = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_predict");
  *(void **)&a.fold = bench_dl_sym("bench_mlp_ab", lib, "bn_mlp_fold_batchnorm");
  return a;
}

enum { IN = 784, OUT = 10, MAXB = 256 };

typedef struct side {
  const api *f;
  bn_mlp *mlp;
  int op; /* 0 step, 1 predict */
  size_t batch;
  const float *x;
  const int32_t *labels;
  float *out;
} side;

static void run(side *s)
{
  float loss;
  bn_status st = s->op == 0 ? s->f->step(s->mlp, s->batch, s->x, IN, s->labels, NULL, &loss)
                            : s->f->predict(s->mlp, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES,
                                            s->batch, s->x, IN, s->out, OUT);
  if (st != BN_OK) {
    fprintf(stderr, "bench_mlp_ab: %s failed (status %d)\n", s->op ? "predict" : "step",
            (int)st);
    exit(2);
  }
}

/* Seconds for `inner` calls. */
static double time_side(side *s, long inner)
{
  double t0 = bench_now();
  for (long i = 0; i < inner; i++)
    run(s);
  return (bench_now() - t0) / (double)inner;
}

static bn_mlp *make(const api *f, const char *net)
{
  static const size_t hidden[2] = {256, 128};
  const int before = !strcmp(net, "before") || !strcmp(net, "folded");
  bn_mlp_placement p = before                 ? BN_MLP_BN_BEFORE
                       : !strcmp(net, "after") ? BN_MLP_BN_AFTER
                                               : BN_MLP_BN_NONE;
  bn_mlp *m = NULL;
  bn_rng rng;
  if (f->create(&m, IN, hidden, 2, OUT, BN_ACT_RELU, p, BN_MLP_HEAD_SOFTMAX,
                before ? BN_MLP_INPUT_BATCHNORM : 0) != BN_OK ||
      f->seed(&rng, 1) != BN_OK || f->init(m, BN_INIT_HE_NORMAL, &rng) != BN_OK ||
      f->set(m, BN_MLP_OPTIMIZER, BN_MLP_MOMENTUM) != BN_OK ||
      f->set(m, BN_MLP_LEARNING_RATE, 1e-3) != BN_OK) {
    fprintf(stderr, "bench_mlp_ab: cannot build the %s network\n", net);
    exit(2);
  }
  if (!strcmp(net, "folded")) {
    bn_mlp *folded = NULL;
    if (f->fold(m, &folded) != BN_OK) {
      fprintf(stderr, "bench_mlp_ab: cannot fold\n");
      exit(2);
    }
    f->destroy(m);
    m = folded;
  }
  return m;
}

static void measure(const api *fa, const api *fb, const char *net, int op, size_t batch,
                    int samples, const float *x, const int32_t *labels, float *out)
{
  side s[2] = {{fa, make(fa, net), op, batch, x, labels, out},
               {fb, make(fb, net), op, batch, x, labels, out}};
  /* warm-up, and `inner` calls per sample so that one lasts >= 4 ms */
  double one = 0.0;
  for (int k = 0; k < 2; k++)
    for (int w = 0; w < 3; w++)
      one += time_side(&s[k], 1) / 6.0;
  long inner = one > 0.0 ? (long)(4e-3 / one) + 1 : 1;
  double *ta = malloc(sizeof(double) * (size_t)samples * 3), *tb = ta + samples,
         *ratio = tb + samples;
  for (int i = 0; i < samples; i++) {
    if (i % 2 == 0) {
      ta[i] = time_side(&s[0], inner);
      tb[i] = time_side(&s[1], inner);
    } else {
      tb[i] = time_side(&s[1], inner);
      ta[i] = time_side(&s[0], inner);
    }
    ratio[i] = tb[i] / ta[i];
  }
  const double ma = bench_median(ta, (size_t)samples), mb = bench_median(tb, (size_t)samples);
  const double mr = bench_median(ratio, (size_t)samples); /* sorts ratio */
  printf("RESULT_MLP_AB,%s,%s,%zu,%.0f,%.0f,%.4f,%.4f,%.4f\n", net, op ? "predict" : "step",
         batch, 1e9 * ma, 1e9 * mb, ratio[samples / 4], mr, ratio[(3 * samples) / 4]);
  fflush(stdout);
  free(ta);
  fa->destroy(s[0].mlp);
  fb->destroy(s[1].mlp);
}

int main(int argc, char **argv)
{
  if (argc < 3) {
    fprintf(stderr, "usage: bench_mlp_ab OLD.so NEW.so [--batches 1,32,256] [--samples 21] "
                    "[--nets none,after,before,folded] [--clock cpu|wall]\n");
    return 2;
  }
  const api fa = load(argv[1]), fb = load(argv[2]);
  const char *batches = "1,32,256", *nets = "none,after,before,folded";
  int samples = 21;
  bench_clock = CLOCK_THREAD_CPUTIME_ID;
  for (int i = 3; i + 1 < argc; i += 2) {
    if (!strcmp(argv[i], "--batches"))
      batches = argv[i + 1];
    else if (!strcmp(argv[i], "--samples"))
      samples = atoi(argv[i + 1]);
    else if (!strcmp(argv[i], "--nets"))
      nets = argv[i + 1];
    else if (!strcmp(argv[i], "--clock"))
      bench_clock = strcmp(argv[i + 1], "wall") ? CLOCK_THREAD_CPUTIME_ID : CLOCK_MONOTONIC;
  }
  if (samples < 3)
    samples = 3;
  float *x = bench_alloc(sizeof(float) * IN * MAXB), *out = bench_alloc(sizeof(float) * OUT * MAXB);
  int32_t *labels = bench_alloc(sizeof(int32_t) * MAXB);
  bench_fill(x, (size_t)IN * MAXB, 7, 0.0f, 1.0f);
  for (int j = 0; j < MAXB; j++)
    labels[j] = (int32_t)((j * 7) % OUT);
  printf("# net,op,batch,ns A,ns B,B/A q1,B/A median,B/A q3 (A = %s, B = %s)\n", argv[1],
         argv[2]);
  char netbuf[128];
  snprintf(netbuf, sizeof netbuf, "%s", nets);
  for (char *net = strtok(netbuf, ","); net; net = strtok(NULL, ",")) {
    for (const char *b = batches; *b;) {
      char *end;
      size_t batch = (size_t)strtoul(b, &end, 10);
      if (end == b)
        break;
      b = *end == ',' ? end + 1 : end;
      if (batch == 0 || batch > MAXB)
        continue;
      if (batch >= 2 && strcmp(net, "folded"))
        measure(&fa, &fb, net, 0, batch, samples, x, labels, out);
      measure(&fa, &fb, net, 1, batch, samples, x, labels, out);
    }
  }
  free(x);
  free(out);
  free(labels);
  return 0;
}

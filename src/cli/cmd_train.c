/* `bn train`: train an MLP on an IDX dataset (Fashion-MNIST by default),
 * report each epoch's training and held-out (test, or validation with
 * --validation-split) metrics, save the model; checkpoints, and a save on
 * SIGINT/SIGTERM. */
#define _POSIX_C_SOURCE 200809L
#include <cblas.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

static const char *const USAGE =
    "usage: bn train [options]\n"
    "\n"
    "Train an MLP on an IDX dataset (default: Fashion-MNIST from the Debian package\n"
    "dataset-fashion-mnist) and save it. Pixels are scaled to [0, 1].\n"
    "\n"
    "data:\n"
    "  --data DIR            directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
    "                        (default $BN_DATA or " CLI_DEFAULT_DATA ")\n"
    "  --limit N             use the first N training samples (default: all)\n"
    "  --validation-split F  hold out the fraction F of the training samples (chosen\n"
    "                        with --seed) and report them each epoch instead of the\n"
    "                        test set, which is then not read (bn eval judges it)\n"
    "network:\n"
    "  --hidden LIST         hidden widths, e.g. 256,128 (default), or none\n"
    "  --activation NAME     relu (default), elu, sigmoid, tanh\n"
    "  --bn PLACE            BatchNorm in each hidden layer: before (default) the\n"
    "                        activation, after it, or none\n"
    "  --no-input-bn         no BatchNorm on the input (default: one)\n"
    "  --init NAME           he or glorot (default: he for relu/elu, glorot otherwise)\n"
    "training:\n"
    "  --optimizer NAME      adam (default), sgd, momentum, nesterov\n"
    "  --lr X                learning rate (default 0.002 for adam, 0.05 otherwise)\n"
    "  --schedule NAME       cosine (default: the rate decays to 0 along a half cosine\n"
    "                        over the whole run, updated every step) or constant\n"
    "  --momentum X          momentum coefficient in [0, 1) (default 0.9)\n"
    "  --weight-decay X      decoupled weight decay (default 0)\n"
    "  --batch-size N        mini-batch size (default 256)\n"
    "  --epochs N            epochs (default 10)\n"
    "  --seed N              seed of initialization and shuffling (default 42)\n"
    "  --threads N           OpenBLAS threads (default: OpenBLAS's own choice)\n"
    "  --recompute-stats     after training, set BatchNorm statistics to the exact\n"
    "                        population statistics of the training set\n"
    "output:\n"
    "  --output PATH         model file (default model.bnm)\n"
    "  --save-optimizer      store the optimizer state in the model file\n"
    "  --history FILE        write per-epoch metrics as CSV\n"
    "  --plot PNG            draw the loss and accuracy curves (as bn plot)\n"
    "  --checkpoint-every N  save the model (with optimizer state) to --output every\n"
    "                        N epochs\n"
    "  --quiet               only the closing summary line\n"
    "\n"
    "Ctrl-C (SIGINT) or SIGTERM ends the current step, saves the model with its\n"
    "optimizer state to --output and exits with status 128 + the signal number.\n";

typedef struct train_ctx {
  bn_mlp *m;
  const dataset *test; /* the held-out set: test, or validation (held_name "val") */
  progress prog;
  FILE *history;
  int quiet, cosine;
  double lr;
  size_t epochs, train_n;
  bn_status failed;
  float test_loss, test_acc;
  const char *held_name, *held_label, *output; /* "val", "validation" or "test" twice */
  size_t checkpoint_every, epochs_done;
  run_history *hist;
} train_ctx;

static int on_batch(void *user, size_t epoch, size_t done, size_t total, float loss,
                    float accuracy)
{
  train_ctx *c = user;
  if (interrupt_received())
    return 1;
  progress_update(&c->prog, epoch, done, loss, accuracy);
  if (c->cosine) { /* the rate for the next step: lr/2 * (1 + cos(pi * fraction done)) */
    double frac = ((double)(epoch - 1) * (double)total + (double)done) /
                  ((double)c->epochs * (double)total);
    double lr = 0.5 * c->lr * (1.0 + cos(3.141592653589793 * frac));
    bn_mlp_set_parameter(c->m, BN_MLP_LEARNING_RATE, lr > 1e-3 * c->lr ? lr : 1e-3 * c->lr);
  }
  return 0;
}

static int on_epoch(void *user, size_t epoch, float loss, float accuracy, double seconds)
{
  train_ctx *c = user;
  if (interrupt_received()) /* a partial epoch: no metrics, the caller saves */
    return 1;
  char phase[64];
  snprintf(phase, sizeof phase, "%zu %s samples", c->test->n, c->held_label);
  progress_phase(&c->prog, epoch, "evaluating", phase);
  bn_status st = bn_mlp_evaluate(c->m, c->test->n, c->test->x, c->test->features, c->test->y,
                                 NULL, &c->test_loss, &c->test_acc);
  if (st != BN_OK) {
    c->failed = st;
    return 1;
  }
  progress_clear(&c->prog);
  c->epochs_done = epoch;
  double rate = seconds > 0 ? (double)c->train_n / seconds : 0;
  if (!c->quiet) {
    printf("epoch %3zu/%zu  loss %.4f  acc %.4f  %s_loss %.4f  %s_acc %.4f  %6.1fs  %.0f "
           "samples/s\n",
           epoch, c->epochs, (double)loss, (double)accuracy, c->held_name, (double)c->test_loss,
           c->held_name, (double)c->test_acc, seconds, rate);
    fflush(stdout);
  }
  run_history_row row = {epoch, loss, accuracy, c->test_loss, c->test_acc, seconds};
  if (history_append(c->hist, &row) != CLI_OK) {
    c->failed = BN_ERR_OUT_OF_MEMORY;
    return 1;
  }
  if (c->history) {
    history_write_row(c->history, &row);
    fflush(c->history);
  }
  if (c->checkpoint_every && epoch % c->checkpoint_every == 0 && epoch < c->epochs) {
    if (checkpoint_save(c->m, c->output) != CLI_OK) {
      c->failed = BN_ERR_IO;
      return 1;
    }
    if (!c->quiet)
      printf("checkpoint: epoch %zu saved to %s\n", epoch, c->output);
  }
  return 0;
}

typedef struct train_opts {
  const char *data, *limit, *hidden, *activation, *bn, *init, *optimizer, *lr, *schedule,
      *momentum, *weight_decay, *batch_size, *epochs, *seed, *threads, *output, *history;
  const char *validation_split, *plot, *checkpoint_every;
  int no_input_bn, save_optimizer, recompute, quiet;
} train_opts;

int cmd_train(int argc, char **argv)
{
  train_opts o = {NULL, "0", "256,128", "relu", "before", NULL, "adam", NULL,
                  "cosine", "0.9", "0", "256", "10", "42", NULL, "model.bnm", NULL,
                  NULL, NULL, "0", 0, 0, 0, 0};
  const cli_option opts[] = {
    {"data", 1, &o.data, NULL}, {"limit", 1, &o.limit, NULL},
    {"hidden", 1, &o.hidden, NULL}, {"activation", 1, &o.activation, NULL},
    {"bn", 1, &o.bn, NULL}, {"no-input-bn", 0, NULL, &o.no_input_bn},
    {"init", 1, &o.init, NULL}, {"optimizer", 1, &o.optimizer, NULL},
    {"lr", 1, &o.lr, NULL}, {"schedule", 1, &o.schedule, NULL},
    {"momentum", 1, &o.momentum, NULL},
    {"weight-decay", 1, &o.weight_decay, NULL}, {"batch-size", 1, &o.batch_size, NULL},
    {"epochs", 1, &o.epochs, NULL}, {"seed", 1, &o.seed, NULL},
    {"threads", 1, &o.threads, NULL}, {"output", 1, &o.output, NULL},
    {"save-optimizer", 0, NULL, &o.save_optimizer}, {"history", 1, &o.history, NULL},
    {"recompute-stats", 0, NULL, &o.recompute}, {"quiet", 0, NULL, &o.quiet},
    {"validation-split", 1, &o.validation_split, NULL}, {"plot", 1, &o.plot, NULL},
    {"checkpoint-every", 1, &o.checkpoint_every, NULL},
    {NULL, 0, NULL, NULL}};
  const char *pos[1];
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 0, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(USAGE, stdout);
    return CLI_OK;
  }
  if (!o.data)
    o.data = cli_default_data();

  /* Validate every option before touching any file. */
  static const char *const acts[] = {"relu", "elu", "sigmoid", "tanh"};
  static const bn_activation act_ids[] = {BN_ACT_RELU, BN_ACT_ELU, BN_ACT_SIGMOID, BN_ACT_TANH};
  static const char *const places[] = {"none", "before", "after"};
  static const char *const inits[] = {"he", "glorot"};
  static const char *const optims[] = {"sgd", "momentum", "nesterov", "adam"};
  static const char *const schedules[] = {"constant", "cosine"};
  size_t hidden[64], layers, limit, batch, epochs, threads = 0;
  uint64_t seed;
  double lr = 0, momentum, wd, split = 0;
  size_t checkpoint_every;
  int plot_w, plot_h;
  int a = cli_choice("--activation", o.activation, acts, 4);
  int pl = cli_choice("--bn", o.bn, places, 3);
  int opt = cli_choice("--optimizer", o.optimizer, optims, 4);
  int init = o.init ? cli_choice("--init", o.init, inits, 2) : (a <= 1 ? 0 : 1);
  int sched = cli_choice("--schedule", o.schedule, schedules, 2);
  if (a < 0 || pl < 0 || opt < 0 || init < 0 || sched < 0 ||
      cli_size_list("--hidden", o.hidden, hidden, 64, &layers) ||
      cli_size("--limit", o.limit, 0, SIZE_MAX, &limit) ||
      cli_size("--batch-size", o.batch_size, 2, 1u << 20, &batch) ||
      cli_size("--epochs", o.epochs, 1, 100000, &epochs) || cli_u64("--seed", o.seed, &seed) ||
      (o.threads && cli_size("--threads", o.threads, 1, 1024, &threads)) ||
      (o.lr && cli_double("--lr", o.lr, 0, 1e3, 1, &lr)) ||
      cli_double("--momentum", o.momentum, 0, 0.999999, 0, &momentum) ||
      cli_double("--weight-decay", o.weight_decay, 0, 1e3, 0, &wd) ||
      (o.validation_split &&
       cli_double("--validation-split", o.validation_split, 0, 0.9, 1, &split)) ||
      cli_size("--checkpoint-every", o.checkpoint_every, 0, 100000, &checkpoint_every) ||
      cli_plot_size(CLI_PLOT_WIDTH, CLI_PLOT_HEIGHT, &plot_w, &plot_h))
    return CLI_USAGE;
  if (!o.lr)
    lr = opt == 3 ? 2e-3 : 0.05;
  if (!*o.output || (o.plot && !*o.plot))
    return cli_error(CLI_USAGE, "%s: empty path", *o.output ? "--plot" : "--output");
  if (o.plot && !plot_available)
    return plot_history(NULL, o.plot, plot_w, plot_h);
  /* Before any data is read: a path that cannot be written fails now, not
   * after the training. */
  if (cli_check_writable("--output", o.output) != CLI_OK ||
      (o.plot && cli_check_writable("--plot", o.plot) != CLI_OK))
    return CLI_FAIL;
  if (threads)
    openblas_set_num_threads((int)threads);

  dataset train, test;
  if (dataset_load(o.data, "train", limit, &train) != CLI_OK)
    return CLI_FAIL;
  if (o.validation_split ? dataset_split(&train, split, seed, &test) != CLI_OK
                         : dataset_load(o.data, "t10k", 0, &test) != CLI_OK) {
    dataset_free(&train);
    return CLI_FAIL;
  }
  const char *held_name = o.validation_split ? "val" : "test";
  const char *held_label = o.validation_split ? "validation" : "test";
  int rc = CLI_FAIL;
  bn_mlp *m = NULL;
  FILE *history = NULL;
  run_history hist = {NULL, 0, 0, ""};
  snprintf(hist.held_out, sizeof hist.held_out, "%s", held_name);
  size_t classes = (size_t)train.max_label + 1 < 2 ? 2 : (size_t)train.max_label + 1;
  if (test.features != train.features) {
    cli_error(CLI_FAIL, "the test images have %zu pixels, the training images %zu",
              test.features, train.features);
    goto out;
  }
  if ((size_t)test.max_label >= classes) {
    cli_error(CLI_FAIL, "a test label (%d) is not among the %zu training classes",
              (int)test.max_label, classes);
    goto out;
  }
  if (train.n < 2) {
    cli_error(CLI_FAIL, "at least 2 training samples are needed (got %zu)", train.n);
    goto out;
  }
  bn_status st = bn_mlp_create(&m, train.features, hidden, layers, classes, act_ids[a],
                               (bn_mlp_placement)pl, BN_MLP_HEAD_SOFTMAX,
                               o.no_input_bn ? 0u : (unsigned)BN_MLP_INPUT_BATCHNORM);
  bn_rng rng;
  bn_rng_seed(&rng, seed);
  if (st == BN_OK)
    st = bn_mlp_init(m, init == 0 ? BN_INIT_HE_NORMAL : BN_INIT_GLOROT_UNIFORM, &rng);
  if (st == BN_OK)
    st = bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, opt + 1);
  if (st == BN_OK)
    st = bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, lr);
  if (st == BN_OK)
    st = bn_mlp_set_parameter(m, BN_MLP_MOMENTUM_COEF, momentum);
  if (st == BN_OK)
    st = bn_mlp_set_parameter(m, BN_MLP_WEIGHT_DECAY, wd);
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "cannot build the network: %s (%s)", bn_mlp_last_error(m),
              bn_status_string(st));
    goto out;
  }
  if (o.history && !(history = fopen(o.history, "w"))) {
    cli_error(CLI_FAIL, "cannot write the history %s: %s", o.history, strerror(errno));
    goto out;
  }
  if (history)
    history_write_header(history, held_name);

  size_t params;
  char arch[1024];
  bn_mlp_parameter_count(m, &params);
  cli_describe(m, arch, sizeof arch);
  if (!o.quiet) {
    printf("data: %s (%zu training, %zu %s samples, %zu inputs, %zu classes)\n", o.data,
           train.n, test.n, held_label, train.features, classes);
    printf("network: %s; %zu parameters, %s init\n", arch, params, inits[init]);
    printf("training: %s lr %g (%s), batch %zu, %zu epochs, seed %llu, %d OpenBLAS threads\n",
           optims[opt], lr, schedules[sched], batch, epochs, (unsigned long long)seed,
           openblas_get_num_threads());
    fflush(stdout);
  }
  train_ctx ctx = {m,     &test, {0},       history,  o.quiet,          sched == 1,
                   lr,    epochs, train.n, BN_OK,    0,                0,
                   held_name, held_label, o.output, checkpoint_every, 0, &hist};
  size_t per_epoch = train.n;
  progress_init(&ctx.prog, epochs, per_epoch);
  if (o.quiet)
    ctx.prog.tty = 0;
  bn_rng shuffle;
  bn_rng_seed(&shuffle, seed ^ 0x5DEECE66Dull);
  bn_mlp_set_batch_callback(m, on_batch);
  interrupt_install();
  double t0 = cli_now();
  st = bn_mlp_fit(m, train.n, train.x, train.features, train.y, NULL, batch, epochs, &shuffle,
                  on_epoch, &ctx);
  double seconds = cli_now() - t0;
  progress_clear(&ctx.prog);
  if (st == BN_OK && ctx.failed != BN_OK)
    st = ctx.failed;
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "training failed: %s (%s)", bn_mlp_last_error(m), bn_status_string(st));
    goto out;
  }
  int signo = interrupt_received();
  if (signo) {
    if (checkpoint_save(m, o.output) == CLI_OK) {
      fprintf(stderr, "bn: interrupted by signal %d after %zu complete epochs; model and "
              "optimizer state saved to %s\n", signo, ctx.epochs_done, o.output);
      rc = 128 + signo;
    }
    goto out;
  }
  if (o.recompute) {
    st = bn_mlp_recompute_statistics(m, train.n, train.x, train.features);
    if (st == BN_OK)
      st = bn_mlp_evaluate(m, test.n, test.x, test.features, test.y, NULL, &ctx.test_loss,
                           &ctx.test_acc);
    if (st != BN_OK) {
      cli_error(CLI_FAIL, "recomputing the statistics failed: %s", bn_mlp_last_error(m));
      goto out;
    }
    if (!o.quiet)
      printf("population statistics recomputed over %zu samples\n", train.n);
  }
  if (o.plot) {
    if (plot_history(&hist, o.plot, plot_w, plot_h) != CLI_OK)
      goto out;
    if (!o.quiet)
      printf("learning curves drawn to %s\n", o.plot);
  }
  st = bn_mlp_save(m, o.output, o.save_optimizer ? (unsigned)BN_MLP_SAVE_OPTIMIZER : 0u);
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "cannot save the model: %s", bn_mlp_last_error(m));
    goto out;
  }
  printf("%s accuracy %.4f  %s loss %.4f  (%zu epochs in %.1f s; model saved to %s)\n",
         held_label, (double)ctx.test_acc, held_label, (double)ctx.test_loss, epochs, seconds,
         o.output);
  rc = CLI_OK;
out:
  if (history && fclose(history) != 0 && rc == CLI_OK)
    rc = cli_error(CLI_FAIL, "cannot write the history %s", o.history);
  history_free(&hist);
  bn_mlp_destroy(m);
  dataset_free(&train);
  dataset_free(&test);
  return rc;
}

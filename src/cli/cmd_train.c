/* `bn train`: train an MLP on an IDX dataset (Fashion-MNIST by default) or
 * on CSV / .npy files, report each epoch's training and held-out (test, or
 * validation with --validation-split) metrics, save the model; checkpoints,
 * and a save on SIGINT/SIGTERM. */
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
    "dataset-fashion-mnist; pixels scaled to [0, 1]) or on CSV or .npy files (values\n"
    "as they are) and save it.\n"
    "\n"
    "data:\n"
    "  --data DIR            directory with {train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]\n"
    "                        (default $BN_DATA or " CLI_DEFAULT_DATA ")\n"
    "  --train FILE          training data instead: a CSV file (one sample per row,\n"
    "                        labels in a column) or a .npy array (samples x features)\n"
    "  --train-labels FILE   the labels of a .npy --train: (samples,) or (samples, units)\n"
    "  --test FILE           test data in the same form (optional with --train)\n"
    "  --test-labels FILE    the labels of a .npy --test\n"
    CLI_HELP_LABEL
    CLI_HELP_HEADER
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
    "  --head NAME           softmax (default: classes 0..max label, cross-entropy) or\n"
    "                        sigmoid (one unit per label column, binary cross-entropy;\n"
    "                        0/1 labels or targets in [0, 1])\n"
    "  --init NAME           he-normal, he-uniform, glorot-normal, glorot-uniform\n"
    "                        (default: he-normal for relu/elu, glorot-uniform otherwise)\n"
    "  --head-init NAME      the output layer's scheme (default: that of --init)\n"
    "  --bn-eps X            BatchNorm epsilon (default 1e-5; Keras 1e-3)\n"
    "  --bn-momentum X       Keras' momentum of the running statistics: each update keeps\n"
    "                        X of the old value (0.99 = update factor 0.01)\n"
    "  --bn-update-factor X  PyTorch's momentum: the weight of the new batch (default 0.1)\n"
    "  --biased-running-var  running variance from the biased batch variance (Keras)\n"
    "  --standardize         standardize each input feature by its mean and standard\n"
    "                        deviation over the training set (before the input BN)\n"
    "  --head-bn             BatchNorm on the output layer (dense without bias -> BN)\n"
    "  --renorm              Batch Renormalization in every BatchNorm, with the\n"
    "                        paper's schedule of rmax and dmax (see --rmax, --dmax)\n"
    "  --rmax X, --dmax X    with --renorm: fixed limits instead of the schedule\n"
    "                        (rmax >= 1, default 3; dmax >= 0, default 5)\n";
/* The help in two strings: C11 guarantees string literals of 4095 bytes. */
static const char *const USAGE_TRAINING =
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
    "  --threads N           OpenBLAS threads (default: 1 for training steps on\n"
    "                        batches below 256 samples, OpenBLAS's own choice\n"
    "                        otherwise and for evaluation; OPENBLAS_NUM_THREADS\n"
    "                        set: that)\n"
    "  --recompute-stats     after training, set BatchNorm statistics to the exact\n"
    "                        population statistics of the training set\n"
    "output:\n"
    "  --output PATH         model file (default model.bnm)\n"
    "  --save-optimizer      store the optimizer state in the model file\n"
    "  --history FILE        write per-epoch metrics as CSV\n"
    "  --plot PNG            draw the loss and accuracy curves (as bn plot)\n"
    "  --checkpoint-every N  save the model (with optimizer state and the run's\n"
    "                        record) to --output every N epochs\n"
    "resuming:\n"
    "  --resume MODEL        continue the run MODEL records (a checkpoint, a --stop-after\n"
    "                        or interrupted run) to its planned epochs, with the same\n"
    "                        data and recipe; only --output (default MODEL), --history,\n"
    "                        --plot, --checkpoint-every, --stop-after, --threads and\n"
    "                        --quiet may be given with it\n"
    "  --stop-after K        stop after epoch K of the planned --epochs and save a\n"
    "                        resumable model (the schedule runs as for all epochs)\n"
    "  --quiet               only the closing summary line\n"
    "\n"
    "Ctrl-C (SIGINT) or SIGTERM ends the current step, saves the model with its\n"
    "optimizer state to --output and exits with status 128 + the signal number; a\n"
    "resume of it trains the interrupted epoch again (checkpoints resume exactly).\n";

/* OpenBLAS threads for the training steps and for evaluation. OpenBLAS has
 * one process-wide pool and no per-call thread count, so bn train switches
 * the pool's size between the two phases. By default a step on a batch
 * below 256 samples runs on one thread: its GEMMs are too small for a second
 * thread to pay for waking it and splitting the work (docs/performance.md,
 * "The MLP training step"); larger batches and evaluation (chunks of 1024
 * samples) keep OpenBLAS's own choice. --threads N, or OPENBLAS_NUM_THREADS
 * in the environment, fixes both. */
typedef struct threading {
  int steps, evaluation;
} threading;

#define SMALL_BATCH_THREADS_BELOW 256u

static threading choose_threads(size_t threads, size_t batch_share)
{
  const int pool = openblas_get_num_threads();
  threading t = {pool, pool};
  if (threads)
    t.steps = t.evaluation = (int)threads;
  else if (!getenv("OPENBLAS_NUM_THREADS") && batch_share < SMALL_BATCH_THREADS_BELOW)
    t.steps = 1;
  return t;
}

typedef struct train_ctx {
  bn_mlp *m;
  threading threads;
  const dataset *test; /* the held-out set: test, validation (held_name "val"), or NULL */
  progress prog;
  FILE *history;
  int quiet, cosine;
  double lr;
  size_t epochs, train_n;
  bn_status failed;
  float test_loss, test_acc;
  const char *held_name, *held_label, *output; /* "val", "validation" or "test" twice */
  size_t checkpoint_every;
  size_t first_epoch, end_epoch; /* epochs done before this fit; the last one it trains */
  int stopped_in_epoch;          /* an interrupt ended training between two batches */
  const bn_rng *shuffle;
  train_record *rec;
  run_history *hist;
  const cli_dist *dist;
} train_ctx;

/* The signal that stops training, as every process sees it: under mpirun
 * the processes receive a Ctrl-C at different moments, and all must stop
 * after the same step (the next one's collectives would wait for a process
 * that left). 0: go on. */
static int stop_signal(const train_ctx *c)
{
  return cli_dist_max(c->dist, interrupt_received());
}

static int on_batch(void *user, size_t epoch, size_t done, size_t total, float loss,
                    float accuracy)
{
  train_ctx *c = user;
  if (stop_signal(c)) {
    c->stopped_in_epoch = done < total; /* after the last step the epoch is whole */
    return 1;
  }
  epoch += c->first_epoch;
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
  /* An epoch cut short by a signal (bn_mlp_fit still calls this) is not
   * done: the record keeps the position of its start. */
  if (c->stopped_in_epoch)
    return 1;
  epoch += c->first_epoch;
  /* The run's position: the weights and the shuffling generator as of this
   * epoch's end are exactly where the next epoch starts. */
  c->rec->epochs_done = epoch;
  c->rec->shuffle = *c->shuffle;
  if (stop_signal(c)) /* no metrics: the caller saves */
    return 1;
  const dataset *t = c->test;
  bn_status st = BN_OK;
  if (t) {
    char phase[64];
    snprintf(phase, sizeof phase, "%zu %s samples", t->n, c->held_label);
    progress_phase(&c->prog, epoch, "evaluating", phase);
    openblas_set_num_threads(c->threads.evaluation);
    st = bn_mlp_evaluate(c->m, t->n, t->x, t->features, t->y, t->t, &c->test_loss, &c->test_acc);
    openblas_set_num_threads(c->threads.steps);
  } else { /* no held-out set: its columns are NaN in the history, blank on screen */
    c->test_loss = c->test_acc = NAN;
  }
  if (st != BN_OK) {
    c->failed = st;
    return 1;
  }
  progress_clear(&c->prog);
  char test[80] = "";
  if (t)
    snprintf(test, sizeof test, "  %s_loss %.4f  %s_acc %.4f", c->held_name,
             (double)c->test_loss, c->held_name, (double)c->test_acc);
  double rate = seconds > 0 ? (double)c->train_n / seconds : 0;
  if (!c->quiet) {
    printf("epoch %3zu/%zu  loss %.4f  acc %.4f%s  %6.1fs  %.0f samples/s\n", epoch, c->epochs,
           (double)loss, (double)accuracy, test, seconds, rate);
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
  if (c->checkpoint_every && epoch % c->checkpoint_every == 0 && epoch < c->end_epoch) {
    if (checkpoint_save(c->m, c->rec, c->output) != CLI_OK) {
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
  int no_input_bn, save_optimizer, recompute, quiet;
  const char *train, *train_labels, *test, *test_labels, *label, *head, *head_init, *bn_eps,
      *bn_momentum, *bn_factor;
  int header, no_header, biased_var;
  const char *validation_split, *plot, *checkpoint_every;
  int standardize, head_bn, renorm;
  const char *rmax, *dmax;
  const char *resume, *stop_after;
} train_opts;

/* The options --resume allows: those that do not change the run. */
static int resume_allows(const char *name)
{
  static const char *const allowed[] = {"output", "history", "plot", "checkpoint-every",
                                        "stop-after", "threads", "quiet", "resume"};
  for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
    if (strcmp(name, allowed[i]) == 0)
      return 1;
  return 0;
}

/* Take the recipe of the run from its record r into o; the numbers are
 * printed into numbers (4 x 32 bytes). */
static void recipe_to_options(const train_record *r, train_opts *o, char numbers[4][32])
{
  snprintf(numbers[0], 32, "%.17g", r->lr);
  snprintf(numbers[1], 32, "%zu", r->epochs);
  snprintf(numbers[2], 32, "%zu", r->batch_size);
  snprintf(numbers[3], 32, "%llu", (unsigned long long)r->seed);
  o->lr = numbers[0];
  o->epochs = numbers[1];
  o->batch_size = numbers[2];
  o->seed = numbers[3];
  o->schedule = r->text[TR_SCHEDULE];
  o->train = r->text[TR_TRAIN];
  o->data = o->train ? NULL : r->text[TR_DATA];
  o->train_labels = r->text[TR_TRAIN_LABELS];
  o->test = r->text[TR_TEST];
  o->test_labels = r->text[TR_TEST_LABELS];
  o->label = r->text[TR_LABEL];
  const char *header = r->text[TR_HEADER];
  o->header = header && strcmp(header, "yes") == 0;
  o->no_header = header && strcmp(header, "no") == 0;
  o->limit = r->text[TR_LIMIT];
  o->validation_split = r->text[TR_VALIDATION_SPLIT];
  o->init = r->text[TR_INIT];
  o->head_init = r->text[TR_HEAD_INIT];
  o->recompute = r->recompute_stats;
  o->save_optimizer = r->save_optimizer;
}

/* The defaults of the options not given (nor taken from a record). */
static void default_options(train_opts *o)
{
  const char **texts[] = {&o->limit,   &o->hidden,     &o->activation,   &o->bn,
                          &o->optimizer, &o->schedule, &o->momentum,     &o->weight_decay,
                          &o->batch_size, &o->epochs,  &o->seed,         &o->output,
                          &o->checkpoint_every};
  const char *const values[] = {"0",   "256,128", "relu", "before", "adam", "cosine", "0.9",
                                "0",   "256",     "10",   "42",     o->resume ? o->resume
                                                                              : "model.bnm",
                                "0"};
  for (size_t i = 0; i < sizeof values / sizeof values[0]; i++)
    if (!*texts[i])
      *texts[i] = values[i];
}

static int cli_train(train_opts *opts, bn_mlp *m, train_record *rec);

int cmd_train(int argc, char **argv)
{
  train_opts o;
  memset(&o, 0, sizeof o);
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
    {"train", 1, &o.train, NULL}, {"train-labels", 1, &o.train_labels, NULL},
    {"test", 1, &o.test, NULL}, {"test-labels", 1, &o.test_labels, NULL},
    {"label", 1, &o.label, NULL}, {"header", 0, NULL, &o.header},
    {"no-header", 0, NULL, &o.no_header}, {"head", 1, &o.head, NULL},
    {"head-init", 1, &o.head_init, NULL}, {"bn-eps", 1, &o.bn_eps, NULL},
    {"bn-momentum", 1, &o.bn_momentum, NULL}, {"bn-update-factor", 1, &o.bn_factor, NULL},
    {"biased-running-var", 0, NULL, &o.biased_var},
    {"validation-split", 1, &o.validation_split, NULL}, {"plot", 1, &o.plot, NULL},
    {"checkpoint-every", 1, &o.checkpoint_every, NULL},
    {"standardize", 0, NULL, &o.standardize}, {"head-bn", 0, NULL, &o.head_bn},
    {"renorm", 0, NULL, &o.renorm}, {"rmax", 1, &o.rmax, NULL}, {"dmax", 1, &o.dmax, NULL},
    {"resume", 1, &o.resume, NULL}, {"stop-after", 1, &o.stop_after, NULL},
    {NULL, 0, NULL, NULL}};
  const char *pos[1];
  int npos, help;
  if (cli_parse(argc, argv, 2, opts, pos, 0, &npos, &help) != CLI_OK)
    return CLI_USAGE;
  if (help) {
    fputs(USAGE, stdout);
    fputs(USAGE_TRAINING, stdout);
    return CLI_OK;
  }
  /* A resumed run is the recorded one: options that would change it are refused. */
  for (const cli_option *op = opts; o.resume && op->name; op++)
    if (!resume_allows(op->name) && (op->value ? *op->value != NULL : *op->flag != 0))
      return cli_error(CLI_USAGE, "--%s cannot go with --resume: the run continues with the "
                       "recipe MODEL records (see bn info MODEL)", op->name);
  bn_mlp *m = NULL;
  train_record rec;
  char numbers[4][32];
  memset(&rec, 0, sizeof rec);
  if (o.resume) {
    char why[256];
    if (!*o.resume)
      return cli_error(CLI_USAGE, "--resume: empty path");
    if (cli_load_model(o.resume, &m) != CLI_OK)
      return CLI_FAIL;
    if (train_record_load(m, &rec, why, sizeof why) != CLI_OK) {
      bn_mlp_destroy(m);
      return cli_error(CLI_FAIL, "cannot resume %s: %s (bn train writes a record in "
                       "checkpoints, interrupted and --stop-after runs)", o.resume, why);
    }
    recipe_to_options(&rec, &o, numbers);
  }
  default_options(&o);
  int rc = cli_train(&o, m, &rec);
  bn_mlp_destroy(m);
  train_record_free(&rec);
  return rc;
}

/* The run itself; m is the model to resume with its record rec, or NULL. */
static int cli_train(train_opts *opts, bn_mlp *m, train_record *rec)
{
  train_opts o = *opts;

  /* Validate every option before touching any file. */
  static const char *const acts[] = {"relu", "elu", "sigmoid", "tanh"};
  static const bn_activation act_ids[] = {BN_ACT_RELU, BN_ACT_ELU, BN_ACT_SIGMOID, BN_ACT_TANH};
  static const char *const places[] = {"none", "before", "after"};
  static const char *const heads[] = {"softmax", "sigmoid"};
  static const char *const optims[] = {"sgd", "momentum", "nesterov", "adam"};
  static const char *const schedules[] = {"constant", "cosine"};
  size_t hidden[64], layers, limit, batch, epochs, threads = 0;
  uint64_t seed;
  double lr = 0, momentum, wd, split = 0, rmax = 3, dmax = 5;
  size_t checkpoint_every, stop_after = 0;
  int plot_w, plot_h;
  const int resumed = m != NULL;
  int a = cli_choice("--activation", o.activation, acts, 4);
  int pl = cli_choice("--bn", o.bn, places, 3);
  int opt = cli_choice("--optimizer", o.optimizer, optims, 4);
  int init = o.init ? cli_init_choice("--init", o.init)
                    : (a <= 1 ? CLI_INIT_HE_NORMAL : CLI_INIT_GLOROT_UNIFORM);
  int head_init = o.head_init ? cli_init_choice("--head-init", o.head_init) : init;
  int hd = o.head ? cli_choice("--head", o.head, heads, 2) : 0;
  bn_mlp_head head = hd == 1 ? BN_MLP_HEAD_SIGMOID : BN_MLP_HEAD_SOFTMAX;
  size_t model_inputs = 0, model_outputs = 0;
  if (resumed)
    bn_mlp_architecture(m, &model_inputs, NULL, &model_outputs, NULL, NULL, &head, NULL);
  double bn_eps = 0, bn_factor = 0, bn_momentum = 0;
  csv_header header;
  int sched = cli_choice("--schedule", o.schedule, schedules, 2);
  if (a < 0 || pl < 0 || opt < 0 || init < 0 || head_init < 0 || hd < 0 || sched < 0 ||
      cli_size_list("--hidden", o.hidden, hidden, 64, &layers) ||
      cli_size("--limit", o.limit, 0, SIZE_MAX, &limit) ||
      cli_size("--batch-size", o.batch_size, 2, 1u << 20, &batch) ||
      cli_size("--epochs", o.epochs, 1, 100000, &epochs) || cli_u64("--seed", o.seed, &seed) ||
      (o.threads && cli_size("--threads", o.threads, 1, 1024, &threads)) ||
      (o.lr && cli_double("--lr", o.lr, 0, 1e3, 1, &lr)) ||
      cli_double("--momentum", o.momentum, 0, 0.999999, 0, &momentum) ||
      cli_double("--weight-decay", o.weight_decay, 0, 1e3, 0, &wd) ||
      (o.bn_eps && cli_double("--bn-eps", o.bn_eps, 0, 1, 1, &bn_eps)) ||
      (o.bn_momentum && cli_double("--bn-momentum", o.bn_momentum, 0, 0.999999, 0,
                                   &bn_momentum)) ||
      (o.bn_factor && cli_double("--bn-update-factor", o.bn_factor, 0, 1, 1, &bn_factor)) ||
      cli_header_mode(o.header, o.no_header, &header) ||
      (o.validation_split &&
       cli_double("--validation-split", o.validation_split, 0, 0.9, 1, &split)) ||
      cli_size("--checkpoint-every", o.checkpoint_every, 0, 100000, &checkpoint_every) ||
      cli_plot_size(CLI_PLOT_WIDTH, CLI_PLOT_HEIGHT, &plot_w, &plot_h) ||
      (o.rmax && cli_double("--rmax", o.rmax, 1, 1e30, 0, &rmax)) ||
      (o.dmax && cli_double("--dmax", o.dmax, 0, 1e30, 0, &dmax)) ||
      (o.stop_after && cli_size("--stop-after", o.stop_after, 1, 100000, &stop_after)))
    return CLI_USAGE;
  const size_t first_epoch = resumed ? rec->epochs_done : 0;
  const size_t end_epoch = stop_after && stop_after < epochs ? stop_after : epochs;
  if (first_epoch >= epochs)
    return cli_error(CLI_FAIL, "%s's run is complete (%zu of %zu epochs)", o.resume,
                     first_epoch, epochs);
  if (first_epoch >= end_epoch)
    return cli_error(CLI_USAGE, "--stop-after %zu: %zu epochs are already done", stop_after,
                     first_epoch);
  if ((o.rmax || o.dmax) && !o.renorm)
    return cli_error(CLI_USAGE, "--rmax and --dmax go with --renorm");
  if (o.bn_momentum && o.bn_factor)
    return cli_error(CLI_USAGE, "--bn-momentum and --bn-update-factor exclude each other "
                     "(Keras' momentum m is the update factor 1 - m)");
  if (o.bn_momentum)
    bn_factor = 1.0 - bn_momentum;
  if (o.data && (o.train || o.test))
    return cli_error(CLI_USAGE, "--data and --train/--test exclude each other");
  if (!o.train && (o.test || o.train_labels || o.test_labels || o.label || o.header ||
                   o.no_header))
    return cli_error(CLI_USAGE, "--test, --train-labels, --test-labels, --label and --header "
                     "go with --train FILE");
  if (!o.test && o.test_labels)
    return cli_error(CLI_USAGE, "--test-labels goes with --test FILE");
  /* A CSV holds its labels in a column: the last one unless --label says otherwise. */
  const char *label = o.label ? o.label : "-1";
  data_source train_src = {o.data, {o.train, o.train_labels, o.label, header}};
  data_source test_src = {o.data, {o.test, o.test_labels, o.label, header}};
  if (o.train && !is_npy_path(o.train))
    train_src.table.label = label;
  if (o.test && !is_npy_path(o.test))
    test_src.table.label = label;
  const char *data_name = o.train ? o.train : o.data ? o.data : cli_default_data();
  if (!o.lr)
    lr = opt == 3 ? 2e-3 : 0.05;
  if (o.validation_split && o.test)
    return cli_error(CLI_USAGE, "--validation-split and --test exclude each other (the "
                     "validation set replaces the test set during training)");
  if (!*o.output || (o.plot && !*o.plot))
    return cli_error(CLI_USAGE, "%s: empty path", *o.output ? "--plot" : "--output");
  if (o.plot && !plot_available)
    return plot_history(NULL, o.plot, plot_w, plot_h);
  /* Before any data is read: a path that cannot be written fails now, not
   * after the training. */
  if (cli_check_writable("--output", o.output) != CLI_OK ||
      (o.plot && cli_check_writable("--plot", o.plot) != CLI_OK))
    return CLI_FAIL;

  dataset train, test = {0};
  int have_test = o.validation_split || !o.train || o.test;
  if (dataset_open(&train_src, "train", limit, head, &train) != CLI_OK)
    return CLI_FAIL;
  if (have_test && (o.validation_split ? dataset_split(&train, split, seed, &test) != CLI_OK
                                       : dataset_open(&test_src, "t10k", 0, head, &test) !=
                                           CLI_OK)) {
    dataset_free(&train);
    return CLI_FAIL;
  }
  const char *held_name = o.validation_split ? "val" : "test";
  const char *held_label = o.validation_split ? "validation" : "test";
  int rc = CLI_FAIL;
  int everyone_knows = 0; /* every process has the same rc: leave MPI in order */
  cli_dist dist = {0, 1, 0, NULL};
  FILE *history = NULL;
  run_history hist = {NULL, 0, 0, ""};
  snprintf(hist.held_out, sizeof hist.held_out, "%s", held_name);
  size_t classes = head == BN_MLP_HEAD_SIGMOID ? train.targets
                   : (size_t)train.max_label + 1 < 2 ? 2 : (size_t)train.max_label + 1;
  if (have_test && test.features != train.features) {
    cli_error(CLI_FAIL, "the test data has %zu features per sample, the training data %zu",
              test.features, train.features);
    goto out;
  }
  if (have_test && test.targets != train.targets) {
    cli_error(CLI_FAIL, "the test data has %zu label columns, the training data %zu",
              test.targets, train.targets);
    goto out;
  }
  if (have_test && head == BN_MLP_HEAD_SOFTMAX && (size_t)test.max_label >= classes) {
    cli_error(CLI_FAIL, "a test label (%d) is not among the %zu training classes",
              (int)test.max_label, classes);
    goto out;
  }
  if (resumed && (model_inputs != train.features || model_outputs != classes)) {
    cli_error(CLI_FAIL, "the data (%zu features, %zu outputs) no longer fits %s (%zu inputs, "
              "%zu outputs)", train.features, classes, o.resume, model_inputs, model_outputs);
    goto out;
  }
  if (train.n < 2) {
    cli_error(CLI_FAIL, "at least 2 training samples are needed (got %zu)", train.n);
    goto out;
  }
  unsigned flags = (o.no_input_bn ? 0u : (unsigned)BN_MLP_INPUT_BATCHNORM) |
                   (o.biased_var ? (unsigned)BN_MLP_BIASED_RUNNING_VAR : 0u) |
                   (o.standardize ? (unsigned)BN_MLP_STANDARDIZE : 0u) |
                   (o.head_bn ? (unsigned)BN_MLP_HEAD_BATCHNORM : 0u) |
                   (o.renorm ? (unsigned)BN_MLP_RENORM : 0u);
  bn_status st = resumed ? BN_OK
                         : bn_mlp_create(&m, train.features, hidden, layers, classes,
                                         act_ids[a], (bn_mlp_placement)pl, head, flags);
  bn_rng rng;
  bn_rng_seed(&rng, seed);
  if (resumed) /* the model holds the network, its state and the scheduled rate */
    goto built;
  if (st == BN_OK)
    st = cli_init_weights(m, init, head_init, &rng);
  if (st == BN_OK && o.bn_eps)
    st = bn_mlp_set_parameter(m, BN_MLP_BN_EPSILON, bn_eps);
  if (st == BN_OK && (o.bn_momentum || o.bn_factor))
    st = bn_mlp_set_parameter(m, BN_MLP_BN_UPDATE_FACTOR, bn_factor);
  /* The standardizer sees the training set (never the held-out part). */
  if (st == BN_OK && o.standardize)
    st = bn_mlp_fit_standardizer(m, train.n, train.x, train.features);
  if (st == BN_OK && (o.rmax || o.dmax))
    st = bn_mlp_set_parameter(m, BN_MLP_RENORM_SCHEDULE, 0);
  if (st == BN_OK && o.rmax)
    st = bn_mlp_set_parameter(m, BN_MLP_RENORM_RMAX, rmax);
  if (st == BN_OK && o.dmax)
    st = bn_mlp_set_parameter(m, BN_MLP_RENORM_DMAX, dmax);
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
  static const char *const header_names[] = {"auto", "yes", "no"};
  *rec = (train_record){lr, epochs, batch, 0, seed, o.recompute, o.save_optimizer, 0, {{0}},
                        {NULL}, NULL};
  rec->text[TR_SCHEDULE] = o.schedule;
  rec->text[TR_DATA] = o.train ? NULL : data_name;
  rec->text[TR_TRAIN] = o.train;
  rec->text[TR_TRAIN_LABELS] = o.train_labels;
  rec->text[TR_TEST] = o.test;
  rec->text[TR_TEST_LABELS] = o.test_labels;
  rec->text[TR_LABEL] = o.label;
  rec->text[TR_HEADER] = o.train ? header_names[header] : NULL;
  rec->text[TR_LIMIT] = o.limit;
  rec->text[TR_VALIDATION_SPLIT] = o.validation_split;
  rec->text[TR_INIT] = cli_init_names[init];
  rec->text[TR_HEAD_INIT] = cli_init_names[head_init];
built:
  /* Under mpirun: one rank of several; rank 0 alone prints and writes files. */
  if (cli_dist_start(&dist, m) != CLI_OK)
    goto out;
  if (batch < (size_t)dist.size) {
    cli_error(CLI_FAIL, "--batch-size %zu is smaller than the %d processes", batch, dist.size);
    goto out;
  }
  /* This rank's share of a batch decides its threads. */
  const threading threads_of = choose_threads(threads, batch / (size_t)dist.size);
  if (dist.rank != 0) { /* rank 0 alone writes files */
    o.quiet = 1;
    o.history = NULL;
    o.plot = NULL;
    checkpoint_every = 0;
  }
  /* A resumed run's history goes on in the same file. */
  if (o.history && !(history = fopen(o.history, resumed ? "a" : "w"))) {
    cli_error(CLI_FAIL, "cannot write the history %s: %s", o.history, strerror(errno));
    goto out;
  }
  if (history && ftell(history) == 0)
    history_write_header(history, held_name);

  size_t params;
  char arch[1024];
  bn_mlp_parameter_count(m, &params);
  cli_describe(m, arch, sizeof arch);
  if (!o.quiet) {
    char tests[48] = "no test";
    if (have_test)
      snprintf(tests, sizeof tests, "%zu %s", test.n, held_label);
    printf("data: %s (%zu training, %s samples, %zu inputs, %zu %s)\n", data_name, train.n,
           tests, train.features, classes,
           head == BN_MLP_HEAD_SOFTMAX ? "classes" : "sigmoid outputs");
    printf("network: %s; %zu parameters, %s init", arch, params, cli_init_names[init]);
    if (head_init != init)
      printf(" (head %s)", cli_init_names[head_init]);
    printf("\n");
    double kind = 0;
    bn_mlp_get_parameter(m, BN_MLP_OPTIMIZER, &kind);
    printf("training: %s lr %g (%s), batch %zu, %zu epoch%s, seed %llu, %d OpenBLAS thread%s",
           cli_optimizer_name((int)kind), lr, schedules[sched], batch, epochs, cli_plural(epochs),
           (unsigned long long)seed, threads_of.steps, cli_plural((size_t)threads_of.steps));
    if (threads_of.evaluation != threads_of.steps)
      printf(" (%d evaluating)", threads_of.evaluation);
    printf("\n");
    if (dist.size > 1)
      printf("across %d processes: each takes its share of every batch of %zu\n", dist.size,
             batch);
    if (resumed)
      printf("resuming %s after epoch %zu\n", o.resume, first_epoch);
    fflush(stdout);
  }
  if (resumed && rec->partial_epoch)
    fprintf(stderr, "bn: warning: %s was saved inside epoch %zu, which is trained again from "
            "there (a checkpoint resumes exactly)\n", o.resume, first_epoch + 1);
  bn_rng shuffle;
  if (resumed)
    shuffle = rec->shuffle;
  else
    bn_rng_seed(&shuffle, seed ^ 0x5DEECE66Dull);
  rec->epochs_done = first_epoch;
  rec->shuffle = shuffle;
  rec->partial_epoch = 0;
  train_ctx ctx = {m,          threads_of, have_test ? &test : NULL, {0},         history, o.quiet,
                   sched == 1, lr,       epochs,    train.n,     BN_OK,   0,
                   0,          held_name, held_label, o.output,  checkpoint_every,
                   first_epoch, end_epoch, 0,         &shuffle,  rec,     &hist,
                   &dist};
  size_t per_epoch = train.n;
  progress_init(&ctx.prog, epochs, per_epoch);
  if (o.quiet)
    ctx.prog.tty = 0;
  bn_mlp_set_batch_callback(m, on_batch);
  interrupt_install();
  double t0 = cli_now();
  openblas_set_num_threads(threads_of.steps);
  st = bn_mlp_fit(m, train.n, train.x, train.features, train.y, train.t, batch,
                  end_epoch - first_epoch, &shuffle, on_epoch, &ctx);
  openblas_set_num_threads(threads_of.evaluation);
  double seconds = cli_now() - t0;
  progress_clear(&ctx.prog);
  int signo = stop_signal(&ctx);
  if (signo) {
    rec->partial_epoch = ctx.stopped_in_epoch;
    /* Rank 0 saves; every process learns whether it could, so all end alike
     * and leave MPI in order rather than abort rank 0 while it saves. */
    int failed = dist.rank == 0 && checkpoint_save(m, rec, o.output) != CLI_OK;
    failed = cli_dist_max(&dist, failed);
    if (!failed && dist.rank == 0)
      fprintf(stderr, "bn: interrupted by signal %d after %zu complete epoch%s; model and "
              "optimizer state saved to %s\n", signo, rec->epochs_done,
              cli_plural(rec->epochs_done), o.output);
    rc = failed ? CLI_FAIL : 128 + signo;
    everyone_knows = 1;
    goto out;
  }
  if (st == BN_OK && ctx.failed != BN_OK)
    st = ctx.failed;
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "training failed: %s (%s)", bn_mlp_last_error(m), bn_status_string(st));
    goto out;
  }
  if (end_epoch < epochs) {
    if (dist.rank != 0 || checkpoint_save(m, rec, o.output) == CLI_OK) {
      printf("stopped after epoch %zu of %zu; resumable model saved to %s (bn train "
             "--resume)\n", end_epoch, epochs, o.output);
      rc = CLI_OK;
    }
    goto out;
  }
  if (o.recompute) {
    st = bn_mlp_recompute_statistics(m, train.n, train.x, train.features);
    if (st == BN_OK && have_test)
      st = bn_mlp_evaluate(m, test.n, test.x, test.features, test.y, test.t, &ctx.test_loss,
                           &ctx.test_acc);
    if (st != BN_OK) {
      cli_error(CLI_FAIL, "recomputing the statistics failed: %s", bn_mlp_last_error(m));
      goto out;
    }
    if (!o.quiet)
      printf("population statistics recomputed over %zu samples\n", train.n);
  }
  if (train_record_store(m, rec) != CLI_OK)
    goto out;
  if (dist.rank == 0)
    st = bn_mlp_save(m, o.output, o.save_optimizer ? (unsigned)BN_MLP_SAVE_OPTIMIZER : 0u);
  if (st != BN_OK) {
    cli_error(CLI_FAIL, "cannot save the model: %s", bn_mlp_last_error(m));
    goto out;
  }
  if (o.plot) {
    if (plot_history(&hist, o.plot, plot_w, plot_h) != CLI_OK)
      goto out;
    if (!o.quiet)
      printf("learning curves drawn to %s\n", o.plot);
  }
  if (!have_test) { /* no test data: the training data, evaluated as the test data would be */
    st = bn_mlp_evaluate(m, train.n, train.x, train.features, train.y, train.t, &ctx.test_loss,
                         &ctx.test_acc);
    if (st != BN_OK) {
      cli_error(CLI_FAIL, "evaluation failed: %s", bn_mlp_last_error(m));
      goto out;
    }
  }
  if (dist.rank == 0) {
    const char *judged = have_test ? held_label : "training";
    printf("%s accuracy %.4f  %s loss %.4f  (%zu epoch%s in %.1f s; model saved to %s)\n",
           judged, (double)ctx.test_acc, judged, (double)ctx.test_loss, epochs - first_epoch,
           cli_plural(epochs - first_epoch), seconds, o.output);
  }
  rc = CLI_OK;
out:
  if (history && fclose(history) != 0 && rc == CLI_OK)
    rc = cli_error(CLI_FAIL, "cannot write the history %s", o.history);
  cli_dist_stop(&dist, everyone_knows ? CLI_OK : rc);
  if (!resumed)
    bn_mlp_destroy(m);
  dataset_free(&train);
  dataset_free(&test);
  history_free(&hist);
  return rc;
}

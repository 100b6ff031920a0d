#ifndef BN_CLI_H
#define BN_CLI_H

/* The `bn` program: one file per idea (args.c option parsing, idx.c and
 * csv.c readers, dataset.c locating and loading a dataset, progress.c the
 * progress display, cmd_*.c the commands, npy.c .npy files, output.c
 * atomic output files). Exit codes: 0 success, 1 failure
 * (files, data, the library), 2 usage error. */

#include <stddef.h>
#include <stdio.h>
#include <stdint.h>
#include <stdio.h>
#include <bn/bn.h>

enum { CLI_OK = 0, CLI_FAIL = 1, CLI_USAGE = 2 };

#define CLI_DEFAULT_DATA "/usr/share/datasets/fashion-mnist"
#define CLI_DATA_PACKAGE "dataset-fashion-mnist"

/* "bn: error: ..." on stderr; returns code. */
#if defined(__GNUC__) || defined(__clang__)
__attribute__((format(printf, 2, 3)))
#endif
int cli_error(int code, const char *format, ...);

/* ---- args.c ---------------------------------------------------------------- */

/* One option of a command: "--name VALUE", "--name=VALUE" or a flag "--name". */
typedef struct cli_option {
  const char *name;
  int takes_value;
  const char **value; /* receives the value (takes_value) */
  int *flag;          /* set to 1 when present (flags) */
} cli_option;

/* Parse argv[first..argc) against opts (terminated by a NULL name); other
 * words go to positional[] (at most max_positional). Returns CLI_OK or prints
 * the problem and returns CLI_USAGE. "--help" sets *help. */
int cli_parse(int argc, char **argv, int first, const cli_option *opts, const char **positional,
              int max_positional, int *npositional, int *help);

/* Conversions with range checks; they print the problem and return CLI_USAGE. */
int cli_size(const char *option, const char *text, size_t lo, size_t hi, size_t *out);
int cli_u64(const char *option, const char *text, uint64_t *out);
int cli_double(const char *option, const char *text, double lo, double hi, int lo_open,
               double *out);
/* "256,128" -> sizes (at most max); "none" or "" -> 0 layers. */
int cli_size_list(const char *option, const char *text, size_t *sizes, size_t max, size_t *count);
/* Match text against names[0..n); returns its index or -1 after printing the choices. */
int cli_choice(const char *option, const char *text, const char *const *names, int n);

/* ---- idx.c ----------------------------------------------------------------- */

/* An IDX file of unsigned bytes (gzip-compressed or not). */
typedef struct idx_file {
  unsigned char *data; /* count * item bytes */
  size_t count;        /* first dimension */
  size_t item;         /* product of the other dimensions (1 for labels) */
  size_t dims[3];
  int ndims;
} idx_file;

/* Read path; ndims_min..ndims_max is what the caller accepts. On failure
 * writes a message to err and returns CLI_FAIL. */
int idx_read(const char *path, int ndims_min, int ndims_max, idx_file *out, char *err,
             size_t errcap);
/* The same file's first `limit` samples (0: all) as floats in [0, 1]
 * (pixels_to_floats), decompressed and converted a chunk at a time:
 * *pixels from cli_float_array, out without data. */
int idx_read_pixels(const char *path, int ndims_min, int ndims_max, size_t limit, idx_file *out,
                    float **pixels, char *err, size_t errcap);
void idx_free(idx_file *f);

/* ---- tables: csv.c, npy.c ------------------------------------------------- */

/* Samples read from a CSV or .npy file, values as they are. */
typedef struct table {
  float *x;              /* features x n: sample i at x + i*features */
  double *labels;        /* label_cols x n, or NULL when the source has no labels */
  size_t n, features, label_cols;
  size_t first_line;     /* CSV: the file line of sample 0 (1-based); 0 for .npy */
  const char *path;      /* where x came from */
  const char *label_path; /* where the labels came from */
} table;
void table_free(table *t);

/* How a CSV file's first row is taken: a header when a field is text (auto). */
typedef enum csv_header { CSV_HEADER_AUTO, CSV_HEADER_YES, CSV_HEADER_NO } csv_header;

/* Rows of comma-separated numbers (see csv.c for the rules); label NULL (no
 * label column), a header name, or a position (0 first, -1 last). Errors
 * name the file and line. */
int csv_read(const char *path, csv_header header, const char *label, table *out, char *err,
             size_t errcap);

/* A 1-D or 2-D little-endian NumPy array, as stored. */
typedef struct npy_array {
  unsigned char *data;
  size_t count, cols;  /* shape (count,) or (count, cols); cols is 1 for 1-D */
  size_t shape[2], item;
  int ndim;
  char kind;           /* 'f', 'i', 'u' or 'b' */
} npy_array;
int npy_read(const char *path, npy_array *out, char *err, size_t errcap);
double npy_value(const npy_array *a, size_t i);
void npy_free(npy_array *a);
/* Features from xpath and, when ypath is not NULL, labels from ypath. */
int npy_table(const char *xpath, const char *ypath, table *out, char *err, size_t errcap);

/* Why v cannot be a float feature (NaN, infinite, beyond float), or NULL. */
const char *value_problem(double v);

/* ---- dataset.c ------------------------------------------------------------- */

/* A file of samples: FILE.npy (+ LABELS.npy) or a CSV file (+ its label column). */
typedef struct table_source {
  const char *file, *labels, *label;
  csv_header header;
} table_source;
int is_npy_path(const char *path); /* ends in .npy */
int is_csv_path(const char *path); /* ends in .csv, or "-" (standard input) */
int table_read(const table_source *src, table *out, char *err, size_t errcap);

/* --data DIR (IDX) or a table file. */
typedef struct data_source {
  const char *dir;     /* NULL: the default directory */
  table_source table;  /* used when table.file is set */
} data_source;

#define CLI_MAX_CLASS ((1 << 20) - 1)

typedef struct dataset {
  float *x;          /* features x n (IDX pixels scaled to [0, 1]) */
  int32_t *y;        /* n class labels (softmax head, IDX) or NULL */
  float *t;          /* targets x n values in [0, 1] (sigmoid head) or NULL */
  size_t n, features, targets;
  int32_t max_label;
} dataset;

/* The default of --data: $BN_DATA if set, else CLI_DEFAULT_DATA. */
const char *cli_default_data(void);
/* Load DIR/PREFIX-images-idx3-ubyte[.gz] and DIR/PREFIX-labels-idx1-ubyte[.gz]
 * (PREFIX "train" or "t10k"), keeping the first `limit` samples (0: all). */
int dataset_load(const char *dir, const char *prefix, size_t limit, dataset *out);
/* Load src with labels for `head` (IDX from DIR/PREFIX-*), first `limit` samples
 * (0: all); prints the problem and returns CLI_FAIL. */
int dataset_open(const data_source *src, const char *idx_prefix, size_t limit, bn_mlp_head head,
                 dataset *out);
void dataset_free(dataset *d);
/* Scale count bytes to [0, 1] floats. */
void pixels_to_floats(const unsigned char *data, size_t count, float *out);
/* An array of count floats for a whole dataset, released with free(); NULL
 * when out of memory. */
float *cli_float_array(size_t count);

/* The help text of --label in train and eval. */
#define CLI_HELP_LABEL                                                                      \
  "  --label NAME|INDEX    the CSV label column: a header name, or a position\n"           \
  "                        (0 first, -1 last; default -1)\n"

/* Parse --header / --no-header (not both: CLI_USAGE); their help text. */
#define CLI_HELP_HEADER                                                                     \
  "  --header, --no-header the CSV's first row is (not) a header (default: a header\n"     \
  "                        when one of its fields is not a number)\n"
int cli_header_mode(int header, int no_header, csv_header *out);

/* ---- init.c ---------------------------------------------------------------- */

/* Weight initialization schemes by name (--init, --head-init). */
enum { CLI_INIT_HE_NORMAL, CLI_INIT_HE_UNIFORM, CLI_INIT_GLOROT_NORMAL, CLI_INIT_GLOROT_UNIFORM,
       CLI_INIT_COUNT };
extern const char *const cli_init_names[CLI_INIT_COUNT];
/* The scheme text names (also "he" and "glorot"), or -1 after printing the choices. */
int cli_init_choice(const char *option, const char *text);
/* Initialize m as bn_mlp_init() does, hidden layers with one scheme, the head with another. */
bn_status cli_init_weights(bn_mlp *m, int hidden_scheme, int head_scheme, bn_rng *rng);

/* ---- output.c -------------------------------------------------------------- */

/* A file being written atomically (see output.c). */
typedef struct atomic_file {
  FILE *f;             /* write here */
  char *path, *tmp;
} atomic_file;
int atomic_open(const char *path, atomic_file *a, char *err, size_t errcap);
/* Replace the target with what was written; on failure the old file stays. */
int atomic_commit(atomic_file *a, char *err, size_t errcap);
/* Drop what was written. */
void atomic_abort(atomic_file *a);

/* ---- progress.c ------------------------------------------------------------ */

typedef struct progress {
  int tty;            /* draw a bar on stderr */
  double start, last; /* seconds */
  size_t epochs, per_epoch;
} progress;

/* What one progress line shows; phase, when set, replaces loss and accuracy
 * (e.g. "evaluating", detail "10000 test samples", dropped first). */
typedef struct progress_view {
  size_t epoch, epochs;
  double fraction; /* of the epoch done, [0, 1] */
  float loss, accuracy;
  double rate, eta_seconds; /* samples/s, time left */
  const char *phase, *detail;
} progress_view;

double cli_now(void);
/* The terminal's width on fd (TIOCGWINSZ), else $COLUMNS, else 80. */
int progress_columns(int fd);
/* Write the line for v into out, at most columns - 1 characters (fields
 * dropped to fit); returns its length. */
size_t progress_format(const progress_view *v, int columns, char *out, size_t cap);
void progress_init(progress *p, size_t epochs, size_t per_epoch);
void progress_update(progress *p, size_t epoch, size_t done, float loss, float accuracy);
/* Show that the epoch's training is done and `what` (`detail`) is under way. */
void progress_phase(progress *p, size_t epoch, const char *what, const char *detail);
void progress_clear(progress *p);

/* ---- train_record.c: the recipe and progress of a run, in the model file -- */

/* The string-valued keys of a record, indexes into train_record.text. */
enum { TR_SCHEDULE, TR_DATA, TR_TRAIN, TR_TRAIN_LABELS, TR_TEST, TR_TEST_LABELS, TR_LABEL,
       TR_HEADER, TR_LIMIT, TR_VALIDATION_SPLIT, TR_INIT, TR_HEAD_INIT, TRAIN_RECORD_TEXTS };
#define TRAIN_RECORD_MAX 16384

typedef struct train_record {
  double lr;                  /* the base learning rate (before any schedule) */
  size_t epochs, batch_size, epochs_done;
  uint64_t seed;
  int recompute_stats, save_optimizer;
  int partial_epoch;          /* saved inside epoch epochs_done + 1 (an interrupt) */
  bn_rng shuffle;             /* the shuffling generator at the start of epoch epochs_done + 1 */
  const char *text[TRAIN_RECORD_TEXTS]; /* NULL: absent */
  char *storage;              /* what text[] points into after parsing */
} train_record;

/* The record's key name of text[which]. */
const char *train_record_key(int which);
/* Write r as "bn-train-record v1" text (NUL-terminated) into out. */
int train_record_format(const train_record *r, char *out, size_t cap);
/* Parse a record; on failure writes why (no "bn: error") and returns CLI_FAIL. */
int train_record_parse(const char *bytes, size_t size, train_record *r, char *why, size_t cap);
/* Store r in m (bn_mlp_set_training_record); prints why not. */
int train_record_store(bn_mlp *m, const train_record *r);
/* m's record, parsed; CLI_FAIL with why when it has none or it is damaged. */
int train_record_load(const bn_mlp *m, train_record *r, char *why, size_t cap);
void train_record_free(train_record *r);

/* ---- split.c, checkpoint.c, interrupt.c: training runs --------------------- */

/* Move a seeded random `fraction` of train's samples into held_out (both
 * keep their original order). */
int dataset_split(dataset *train, double fraction, uint64_t seed, dataset *held_out);
/* Fail early (CLI_FAIL, message naming option) unless a file can be created
 * at path's directory and path is not a directory. */
int cli_check_writable(const char *option, const char *path);
/* Save the model with its optimizer state and the record r (the run's
 * recipe and position), atomically (bn_mlp_save), so that it can resume. */
int checkpoint_save(bn_mlp *m, const train_record *r, const char *path);
/* SIGINT/SIGTERM only set a flag from now on; the loop polls it. */
void interrupt_install(void);
/* The signal received since interrupt_install(), or 0. */
int interrupt_received(void);

/* ---- history.c, plot.c: per-epoch metrics and their plot ------------------ */

typedef struct run_history_row {
  size_t epoch;
  double train_loss, train_accuracy, held_loss, held_accuracy, seconds;
} run_history_row;

typedef struct history {
  run_history_row *rows;
  size_t n, cap;
  char held_out[8]; /* "test" or "val": the set of held_loss / held_accuracy */
} run_history;

int history_append(run_history *h, const run_history_row *row);
void history_free(run_history *h);
void history_write_header(FILE *f, const char *held_out);
void history_write_row(FILE *f, const run_history_row *row);
/* Read a CSV written by history_write_*; on failure prints why. */
int history_read(const char *path, run_history *h);

#define CLI_PLOT_WIDTH "1000"
#define CLI_PLOT_HEIGHT "420"
/* Non-zero when bn was built with cairo. */
extern const int plot_available;
/* Draw h as a width x height PNG at path; prints why not on failure. */
int plot_history(const run_history *h, const char *path, int width, int height);
/* --width / --height values to pixels (CLI_USAGE when out of range). */
int cli_plot_size(const char *width, const char *height, int *w, int *h);

/* ---- distributed.c --------------------------------------------------------- */

/* Training across processes: started under mpirun (Open MPI or PMIx in the
 * environment) and built with libbn_mpi, `bn train` is one rank of a
 * data-parallel training; otherwise it is rank 0 of 1. */
typedef struct cli_dist {
  int rank, size;
  int mpi;          /* MPI was initialized here */
  void *attachment; /* bn_mpi * */
} cli_dist;

/* Join the other processes (MPI_Init, bn_mpi_attach) when under mpirun. */
int cli_dist_start(cli_dist *d, bn_mlp *m);
/* Leave: detach and MPI_Finalize; with rc != CLI_OK and other ranks, abort
 * the job instead, so no rank waits for one that gave up. */
void cli_dist_stop(cli_dist *d, int rc);
/* The largest of every process's value (>= 0): a collective under mpirun,
 * value itself otherwise. */
int cli_dist_max(const cli_dist *d, int value);

/* ---- commands -------------------------------------------------------------- */

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_predict(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_fold(int argc, char **argv);
int cmd_plot(int argc, char **argv);

/* Shared by the commands: load a model or print why not. */
int cli_load_model(const char *path, bn_mlp **out);
const char *cli_activation_name(bn_activation a);
const char *cli_optimizer_name(int kind);
/* "s" unless n is 1: "%zu epoch%s" reads "1 epoch", "2 epochs". */
const char *cli_plural(size_t n);
const char *cli_placement_name(bn_mlp_placement p);
/* "784 -> [BN] -> 256 -> 128 -> 10 softmax" */
void cli_describe(const bn_mlp *m, char *out, size_t cap);

#endif

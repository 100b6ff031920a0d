/* Whatever the MLP accepts or produces, a model file keeps: after any
 * sequence of successful calls, serialize (or save) then deserialize (or
 * load) succeeds and gives the same model, byte for byte. A training step
 * that would produce a state a file cannot hold (a non-finite parameter or
 * optimizer moment, a step count past BN_MLP_STEP's bound) fails and leaves
 * the parameters, the optimizer state and the step count as they were.
 *
 * Regression tests for the two cases found by probing (issue 13): Adam's
 * second moment overflowing to inf with |g| ~ 2e19, and BN_MLP_STEP set to
 * its bound; then a randomized property test over call sequences with
 * extreme values. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <float.h>
#include <stdio.h>
#include <unistd.h>
#include "testing.h"

enum { MAX_BYTES = 1 << 16, MAX_N = 12, MAX_F = 6, SEQUENCES = 400, CALLS = 14 };

static const double STEP_BOUND = 9007199254740992.0; /* 2^53 */

typedef struct blob {
  unsigned char bytes[MAX_BYTES];
  size_t size;
} blob;

static void serialize(const bn_mlp *m, blob *b)
{
  assert_int_equal(bn_mlp_serialize(m, BN_MLP_SAVE_OPTIMIZER, b->bytes, MAX_BYTES, &b->size),
                   BN_OK);
}

/* serialize -> deserialize -> serialize gives the same bytes, with and
 * without the optimizer; save -> load too when `path` is given. */
static void assert_round_trip(const bn_mlp *m, const char *path, const char *after)
{
  static blob first, second;
  for (unsigned flags = 0; flags <= BN_MLP_SAVE_OPTIMIZER; flags += BN_MLP_SAVE_OPTIMIZER) {
    bn_mlp *copy = NULL;
    char message[256] = "";
    assert_int_equal(bn_mlp_serialize(m, flags, first.bytes, MAX_BYTES, &first.size), BN_OK);
    bn_status st = bn_mlp_deserialize(&copy, first.bytes, first.size, message, sizeof message);
    if (st != BN_OK)
      fail_msg("after %s: the serialized model does not load: %s (%s)", after,
               bn_status_string(st), message);
    assert_int_equal(bn_mlp_serialize(copy, flags, second.bytes, MAX_BYTES, &second.size), BN_OK);
    bn_mlp_destroy(copy);
    if (first.size != second.size || memcmp(first.bytes, second.bytes, first.size) != 0)
      fail_msg("after %s: the reloaded model differs", after);
    if (path) {
      assert_int_equal(bn_mlp_save(m, path, flags), BN_OK);
      st = bn_mlp_load(&copy, path, message, sizeof message);
      if (st != BN_OK)
        fail_msg("after %s: the saved file does not load: %s (%s)", after, bn_status_string(st),
                 message);
      assert_int_equal(bn_mlp_serialize(copy, flags, second.bytes, MAX_BYTES, &second.size),
                       BN_OK);
      bn_mlp_destroy(copy);
      if (first.size != second.size || memcmp(first.bytes, second.bytes, first.size) != 0)
        fail_msg("after %s: the loaded file differs", after);
    }
  }
}

/* A failed training step on (n x inputs) x left the model as it was, or
 * as a training-mode forward of x alone leaves it (the running statistics
 * and batch counts have seen the batch): the parameters, the optimizer
 * state and the step count are unchanged. */
static void assert_failed_step_kept_parameters(const blob *before, const bn_mlp *now,
                                               const float *x, size_t n, const char *what)
{
  static blob got, expected;
  serialize(now, &got);
  if (got.size == before->size && memcmp(got.bytes, before->bytes, got.size) == 0)
    return;
  bn_mlp *old;
  size_t inputs, outputs;
  float out[MAX_F * MAX_N];
  assert_int_equal(bn_mlp_deserialize(&old, before->bytes, before->size, NULL, 0), BN_OK);
  assert_int_equal(bn_mlp_architecture(old, &inputs, NULL, &outputs, NULL, NULL, NULL, NULL),
                   BN_OK);
  (void)bn_mlp_predict(old, BN_MODE_TRAINING, BN_MLP_LOGITS, n, x, inputs, out, outputs);
  serialize(old, &expected);
  bn_mlp_destroy(old);
  if (expected.size != got.size || memcmp(expected.bytes, got.bytes, got.size) != 0)
    fail_msg("%s: a failed step (%s) changed the parameters or the optimizer state", what,
             bn_mlp_last_error(now));
}

/* A failed call other than a training step changed nothing. */
static void assert_unchanged(const blob *before, const bn_mlp *now, const char *what)
{
  static blob got;
  serialize(now, &got);
  if (before->size != got.size || memcmp(before->bytes, got.bytes, got.size) != 0)
    fail_msg("%s: the failed call changed the model", what);
}

/* ---- regressions --------------------------------------------------------------- */

/* A head-only network on inputs ~ scale: dW ~ (p - y) x, so |g| ~ scale. */
static bn_mlp *linear_model(bn_mlp_optimizer kind)
{
  bn_mlp *m;
  bn_rng rng;
  bn_rng_seed(&rng, 3);
  assert_int_equal(bn_mlp_create(&m, 2, NULL, 0, 2, BN_ACT_RELU, BN_MLP_BN_NONE,
                                 BN_MLP_HEAD_SOFTMAX, 0), BN_OK);
  assert_int_equal(bn_mlp_init(m, BN_INIT_GLOROT_UNIFORM, &rng), BN_OK);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_OPTIMIZER, kind), BN_OK);
  return m;
}

/* Found by probing: Adam's m2 = b2*m2 + (1-b2)*g*g overflowed float with
 * |g| ~ 2e19 (beta2 = 0 makes it g*g = 4e38 > FLT_MAX): train_step returned
 * BN_OK and the saved file was refused by load. Now the step fails before
 * writing anything. */
static void adam_second_moment_overflow_is_refused(void **state)
{
  (void)state;
  bn_mlp *m = linear_model(BN_MLP_ADAM);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_ADAM_BETA2, 0.0), BN_OK);
  /* one input twice with both labels: p - y cannot vanish, |dW| = x/2 = 2e19 */
  const float small[4] = {1.0f, -1.0f, 0.5f, 2.0f}, huge[4] = {4e19f, -4e19f, 4e19f, -4e19f};
  const int32_t labels[2] = {0, 1};
  float loss;
  assert_int_equal(bn_mlp_train_step(m, 2, small, 2, labels, NULL, &loss), BN_OK);
  static blob before, after;
  serialize(m, &before);
  assert_int_equal(bn_mlp_train_step(m, 2, huge, 2, labels, NULL, &loss), BN_ERR_NON_FINITE);
  assert_non_null(strstr(bn_mlp_last_error(m), "overflow"));
  serialize(m, &after);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.bytes, before.bytes, before.size);
  assert_round_trip(m, NULL, "a refused Adam step");
  /* and training goes on from the unchanged state */
  assert_int_equal(bn_mlp_train_step(m, 2, small, 2, labels, NULL, &loss), BN_OK);
  bn_mlp_destroy(m);
}

/* The same through the momentum buffer and through the parameter itself. */
static void momentum_and_parameter_overflow_are_refused(void **state)
{
  (void)state;
  const bn_mlp_optimizer kinds[3] = {BN_MLP_MOMENTUM, BN_MLP_NESTEROV, BN_MLP_SGD};
  const float huge[4] = {3e38f, -3e38f, 3e38f, -3e38f}; /* |dW| = 1.5e38 */
  const int32_t labels[2] = {0, 1};
  for (int k = 0; k < 3; k++) {
    bn_mlp *m = linear_model(kinds[k]);
    assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_LEARNING_RATE, 1000.0), BN_OK);
    static blob before, after;
    serialize(m, &before);
    assert_int_equal(bn_mlp_train_step(m, 2, huge, 2, labels, NULL, NULL), BN_ERR_NON_FINITE);
    serialize(m, &after);
    assert_int_equal(after.size, before.size);
    assert_memory_equal(after.bytes, before.bytes, before.size);
    bn_mlp_destroy(m);
  }
}

/* Found by probing: BN_MLP_STEP set near its bound 2^53 trained past it and
 * the file was refused. Steps up to the bound are kept; the next is refused
 * with nothing changed; resetting the count lets training go on. */
static void step_count_stops_at_its_bound(void **state)
{
  (void)state;
  bn_mlp *m = linear_model(BN_MLP_ADAM);
  const float x[4] = {1.0f, -1.0f, 0.5f, 2.0f};
  const int32_t labels[2] = {0, 1};
  char path[64];
  snprintf(path, sizeof path, "/tmp/bn_step_bound_%ld.bnm", (long)getpid());
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_STEP, STEP_BOUND - 1.0), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, 2, x, 2, labels, NULL, NULL), BN_OK);
  double step;
  assert_int_equal(bn_mlp_get_parameter(m, BN_MLP_STEP, &step), BN_OK);
  assert_true(step == STEP_BOUND);
  assert_round_trip(m, path, "the step reaching its bound");
  static blob before, after;
  serialize(m, &before);
  assert_int_equal(bn_mlp_train_step(m, 2, x, 2, labels, NULL, NULL), BN_ERR_WRONG_STATE);
  bn_rng rng;
  bn_rng_seed(&rng, 1);
  assert_int_equal(bn_mlp_fit(m, 2, x, 2, labels, NULL, 2, 1, &rng, NULL, NULL),
                   BN_ERR_WRONG_STATE);
  serialize(m, &after);
  assert_int_equal(after.size, before.size);
  assert_memory_equal(after.bytes, before.bytes, before.size);
  assert_int_equal(bn_mlp_set_parameter(m, BN_MLP_STEP, 0.0), BN_OK);
  assert_int_equal(bn_mlp_train_step(m, 2, x, 2, labels, NULL, NULL), BN_OK);
  bn_mlp_destroy(m);
  unlink(path);
}

/* ---- property -------------------------------------------------------------------- */

typedef struct session {
  test_rng rng;
  bn_mlp *m;
  size_t inputs, outputs, layers;
  bn_mlp_head head;
  float x[MAX_F * MAX_N], targets[MAX_F * MAX_N];
  int32_t labels[MAX_N];
  size_t n; /* samples of the last batch */
} session;

static size_t pick(session *s, size_t n)
{
  return (size_t)(test_rng_next(&s->rng) % n);
}

/* A magnitude from ordinary to the edge of float. */
static double scale(session *s)
{
  static const double scales[] = {1.0, 1e-30, 1e3, 1e10, 1e19, 2e19, 1e30, 3e38};
  return scales[pick(s, sizeof scales / sizeof scales[0])];
}

static void fill_batch(session *s, size_t n)
{
  s->n = n;
  const double sd = scale(s);
  test_fill(&s->rng, s->x, s->inputs, n, s->inputs, 0.0, sd);
  for (size_t i = 0; i < s->inputs * n; i++)
    if (!isfinite(s->x[i]))
      s->x[i] = s->x[i] > 0 ? FLT_MAX : -FLT_MAX;
  for (size_t j = 0; j < n; j++)
    s->labels[j] = (int32_t)pick(s, s->outputs);
  for (size_t i = 0; i < s->outputs * n; i++)
    s->targets[i] = (float)test_rng_uniform(&s->rng);
}

static const int32_t *labels_of(const session *s)
{
  return s->head == BN_MLP_HEAD_SOFTMAX ? s->labels : NULL;
}

static const float *targets_of(const session *s)
{
  return s->head == BN_MLP_HEAD_SIGMOID ? s->targets : NULL;
}

static void new_model(session *s)
{
  size_t hidden[2];
  s->inputs = 1 + pick(s, MAX_F);
  s->layers = pick(s, 3);
  for (size_t i = 0; i < s->layers; i++)
    hidden[i] = 1 + pick(s, MAX_F);
  s->head = pick(s, 2) ? BN_MLP_HEAD_SOFTMAX : BN_MLP_HEAD_SIGMOID;
  s->outputs = (s->head == BN_MLP_HEAD_SOFTMAX ? 2 : 1) + pick(s, MAX_F - 1);
  const bn_activation acts[4] = {BN_ACT_RELU, BN_ACT_ELU, BN_ACT_SIGMOID, BN_ACT_TANH};
  bn_mlp_placement placement = s->layers ? (bn_mlp_placement)pick(s, 3) : BN_MLP_BN_NONE;
  assert_int_equal(bn_mlp_create(&s->m, s->inputs, hidden, s->layers, s->outputs,
                                 acts[pick(s, 4)], placement, s->head, (unsigned)pick(s, 4)),
                   BN_OK);
  bn_rng rng;
  bn_rng_seed(&rng, test_rng_next(&s->rng));
  assert_int_equal(bn_mlp_init(s->m, (bn_init)pick(s, 4), &rng), BN_OK);
}

/* One random call; returns its name. Failures are allowed (the inputs are
 * extreme); what they leave behind is checked by the caller. */
static const char *random_call(session *s, bn_status *st)
{
  const size_t n = 2 + pick(s, MAX_N - 1);
  bn_rng rng;
  bn_rng_seed(&rng, test_rng_next(&s->rng));
  switch (pick(s, 9)) {
  case 0:
  case 1:
    fill_batch(s, n);
    *st = bn_mlp_train_step(s->m, n, s->x, s->inputs, labels_of(s), targets_of(s), NULL);
    return "train_step";
  case 2:
    fill_batch(s, n);
    *st = bn_mlp_fit(s->m, n, s->x, s->inputs, labels_of(s), targets_of(s), 1 + pick(s, n), 2,
                     &rng, NULL, NULL);
    return "fit";
  case 3: {
    /* any parameter, to a value at, inside or past its bounds */
    const bn_mlp_param p = (bn_mlp_param)(1 + pick(s, BN_MLP_STEP));
    double lo, hi;
    assert_int_equal(bn_mlp_parameter_bounds(p, &lo, &hi), BN_OK);
    const double candidates[6] = {lo, hi, hi - 1.0, lo + (hi - lo) * test_rng_uniform(&s->rng),
                                  hi * 2.0, floor(lo + (hi - lo) * test_rng_uniform(&s->rng))};
    *st = bn_mlp_set_parameter(s->m, p, candidates[pick(s, 6)]);
    return "set_parameter";
  }
  case 4: {
    float values[MAX_F * MAX_F];
    const double sd = scale(s);
    for (size_t i = 0; i < MAX_F * MAX_F; i++)
      values[i] = (float)fmin(fabs(sd * test_rng_normal(&s->rng)), FLT_MAX);
    const bn_mlp_tensor which = (bn_mlp_tensor)(1 + pick(s, BN_MLP_RUNNING_VAR));
    const size_t layer = pick(s, s->layers + 2);
    *st = BN_ERR_SHAPE_MISMATCH;
    for (size_t count = 1; count <= MAX_F * MAX_F && *st == BN_ERR_SHAPE_MISMATCH; count++)
      *st = bn_mlp_set(s->m, layer, which, values, count);
    return "set";
  }
  case 5:
    fill_batch(s, n);
    *st = bn_mlp_recompute_statistics(s->m, n, s->x, s->inputs);
    return "recompute_statistics";
  case 6: {
    float out[MAX_F * MAX_N];
    fill_batch(s, n);
    *st = bn_mlp_predict(s->m, BN_MODE_TRAINING, BN_MLP_LOGITS, n, s->x, s->inputs, out,
                         s->outputs);
    return "predict (training mode)";
  }
  case 7: {
    bn_mlp *folded = NULL;
    *st = bn_mlp_fold_batchnorm(s->m, &folded);
    if (*st == BN_OK)
      assert_round_trip(folded, NULL, "fold (the folded model)");
    bn_mlp_destroy(folded);
    return "fold";
  }
  default:
    *st = bn_mlp_set_parameter(s->m, BN_MLP_STEP, STEP_BOUND - (double)pick(s, 3));
    return "set_parameter(STEP near 2^53)";
  }
}

/* SEQUENCES random models, CALLS random calls each: after every successful
 * call the model survives a round trip; after a failed training step the
 * parameters and optimizer state are as before it. */
static void any_successful_sequence_round_trips(void **state)
{
  (void)state;
  static session s;
  static blob before;
  char path[64];
  snprintf(path, sizeof path, "/tmp/bn_round_trip_%ld.bnm", (long)getpid());
  s.rng.state = 13;
  size_t successes = 0, failures = 0;
  for (int seq = 0; seq < SEQUENCES; seq++) {
    new_model(&s);
    for (int c = 0; c < CALLS; c++) {
      serialize(s.m, &before);
      bn_status st;
      const char *name = random_call(&s, &st);
      if (st == BN_OK) {
        successes++;
        assert_round_trip(s.m, c == CALLS - 1 && seq % 20 == 0 ? path : NULL, name);
        continue;
      }
      failures++;
      if (strcmp(name, "fit") == 0) /* may fail after successful steps */
        ;
      else if (strcmp(name, "train_step") == 0 || strncmp(name, "predict", 7) == 0)
        assert_failed_step_kept_parameters(&before, s.m, s.x, s.n, name);
      else
        assert_unchanged(&before, s.m, name);
      assert_round_trip(s.m, NULL, name);
    }
    bn_mlp_destroy(s.m);
  }
  unlink(path);
  print_message("%zu successful and %zu failed calls, every model round-tripped\n", successes,
                failures);
  /* the extremes must have made both happen often */
  assert_true(successes > SEQUENCES * CALLS / 4);
  assert_true(failures > SEQUENCES);
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(adam_second_moment_overflow_is_refused),
    cmocka_unit_test(momentum_and_parameter_overflow_are_refused),
    cmocka_unit_test(step_count_stops_at_its_bound),
    cmocka_unit_test(any_successful_sequence_round_trips),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

/* Model files written by earlier versions of libbn (tests/fixtures/, see its
 * README.md) must keep loading: each fixture loads, predicts exactly the
 * bits recorded when it was written, and serializes back to the same bytes. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <bn/bn.h>

#ifndef BN_FIXTURE_DIR
#error "BN_FIXTURE_DIR must name tests/fixtures (tests/model_fixtures.cmake)"
#endif

#define INPUTS 5
#define SAMPLES 8

typedef struct fixture {
  const char *name;
  size_t outputs;
  unsigned save_flags; /* the flags it was saved with: re-serializing with them is exact */
} fixture;

/* Keep in step with tests/fixtures/make_fixtures.c. */
static const fixture FIXTURES[] = {
  {"before_relu_softmax_adam", 3, BN_MLP_SAVE_OPTIMIZER},
  {"after_tanh_sigmoid", 1, 0},
  {"none_elu_inputbn_softmax", 2, 0},
  {"before_sigmoid_inputbn_biased_adam", 2, BN_MLP_SAVE_OPTIMIZER},
  {"after_relu_biased_nesterov", 3, BN_MLP_SAVE_OPTIMIZER},
  {"nolayers_softmax_momentum", 3, BN_MLP_SAVE_OPTIMIZER},
};
#define NFIX (sizeof FIXTURES / sizeof FIXTURES[0])

/* The whole file, or NULL. */
static unsigned char *slurp(const char *name, const char *ext, size_t *size)
{
  char path[1024];
  snprintf(path, sizeof path, "%s/%s%s", BN_FIXTURE_DIR, name, ext);
  FILE *f = fopen(path, "rb");
  if (!f)
    return NULL;
  unsigned char *data = NULL;
  long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
  if (n >= 0 && fseek(f, 0, SEEK_SET) == 0) {
    data = malloc((size_t)n + 1);
    if (data && fread(data, 1, (size_t)n, f) != (size_t)n) {
      free(data);
      data = NULL;
    }
    *size = (size_t)n;
  }
  fclose(f);
  return data;
}

static void load_predicts_recorded_bits(void **state)
{
  (void)state;
  size_t size;
  float *x = (float *)slurp("input", ".f32", &size);
  assert_non_null(x);
  assert_int_equal(size, sizeof(float) * INPUTS * SAMPLES);
  for (size_t k = 0; k < NFIX; k++) {
    const fixture *fx = &FIXTURES[k];
    char path[1024], msg[256];
    snprintf(path, sizeof path, "%s/%s.bnm", BN_FIXTURE_DIR, fx->name);
    bn_mlp *m = NULL;
    bn_status st = bn_mlp_load(&m, path, msg, sizeof msg);
    if (st != BN_OK)
      fail_msg("%s: %s", fx->name, msg);
    const size_t n = fx->outputs * SAMPLES;
    float out[2 * 3 * SAMPLES];
    assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_LOGITS, SAMPLES, x, INPUTS, out,
                                    fx->outputs),
                     BN_OK);
    assert_int_equal(bn_mlp_predict(m, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, SAMPLES, x,
                                    INPUTS, out + n, fx->outputs),
                     BN_OK);
    /* The element loops round a*b + c once with FMA and twice without, so
     * the recording has one set per kind of loop table; the loaded network
     * must reproduce one of them bit for bit. */
    int matched = 0;
    const char *const kinds[2] = {".fma.f32", ".generic.f32"};
    for (int t = 0; t < 2 && !matched; t++) {
      size_t got = 0;
      unsigned char *want = slurp(fx->name, kinds[t], &got);
      assert_non_null(want);
      assert_int_equal(got, 2 * n * sizeof(float));
      matched = memcmp(want, out, got) == 0;
      free(want);
    }
    if (!matched)
      fail_msg("%s: predictions differ from the recorded bits", fx->name);
    bn_mlp_destroy(m);
  }
  free(x);
}

static void reserializes_to_the_same_bytes(void **state)
{
  (void)state;
  for (size_t k = 0; k < NFIX; k++) {
    const fixture *fx = &FIXTURES[k];
    size_t size = 0, need = 0, written = 0;
    unsigned char *bytes = slurp(fx->name, ".bnm", &size);
    assert_non_null(bytes);
    bn_mlp *m = NULL;
    char msg[256];
    if (bn_mlp_deserialize(&m, bytes, size, msg, sizeof msg) != BN_OK)
      fail_msg("%s: %s", fx->name, msg);
    assert_int_equal(bn_mlp_serialized_size(m, fx->save_flags, &need), BN_OK);
    assert_int_equal(need, size);
    unsigned char *again = malloc(need);
    assert_non_null(again);
    assert_int_equal(bn_mlp_serialize(m, fx->save_flags, again, need, &written), BN_OK);
    assert_int_equal(written, size);
    if (memcmp(again, bytes, size) != 0)
      fail_msg("%s: re-serialized bytes differ from the fixture", fx->name);
    free(again);
    free(bytes);
    bn_mlp_destroy(m);
  }
}

int main(void)
{
  const struct CMUnitTest tests[] = {
    cmocka_unit_test(load_predicts_recorded_bits),
    cmocka_unit_test(reserializes_to_the_same_bytes),
  };
  return cmocka_run_group_tests(tests, NULL, NULL);
}

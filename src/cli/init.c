/* Weight initialization by name, with a separate scheme for the head (Keras
 * builds its models with He-normal hidden layers and a Glorot-uniform
 * output layer). bn_mlp_init() draws every layer with one of the library's
 * schemes; layers that want another scheme, or He uniform (which the
 * library does not have), are then drawn here from the same generator and
 * set with bn_mlp_set(). When every layer uses one library scheme the
 * weights are exactly bn_mlp_init()'s. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "cli.h"

const char *const cli_init_names[CLI_INIT_COUNT] = {"he-normal", "he-uniform", "glorot-normal",
                                                    "glorot-uniform"};

int cli_init_choice(const char *option, const char *text)
{
  /* "he" and "glorot", the names of earlier versions, stay valid. */
  if (strcmp(text, "he") == 0)
    return CLI_INIT_HE_NORMAL;
  if (strcmp(text, "glorot") == 0)
    return CLI_INIT_GLOROT_UNIFORM;
  return cli_choice(option, text, cli_init_names, CLI_INIT_COUNT);
}

/* The library's scheme for a CLI scheme, or BN_INIT_ZEROS when it has none. */
static bn_init library_scheme(int scheme)
{
  switch (scheme) {
  case CLI_INIT_HE_NORMAL: return BN_INIT_HE_NORMAL;
  case CLI_INIT_GLOROT_NORMAL: return BN_INIT_GLOROT_NORMAL;
  case CLI_INIT_GLOROT_UNIFORM: return BN_INIT_GLOROT_UNIFORM;
  default: return BN_INIT_ZEROS;
  }
}

/* W (out x in) drawn with scheme: uniform on (-a, a) with a = sqrt(6/fan),
 * or normal with standard deviation sqrt(2/fan); fan = in for He,
 * in + out for Glorot. */
static bn_status draw(bn_mlp *m, size_t layer, size_t in, size_t out, int scheme, bn_rng *rng)
{
  int he = scheme == CLI_INIT_HE_NORMAL || scheme == CLI_INIT_HE_UNIFORM;
  int uniform = scheme == CLI_INIT_HE_UNIFORM || scheme == CLI_INIT_GLOROT_UNIFORM;
  double fan = he ? (double)in : (double)in + (double)out;
  double scale = sqrt((uniform ? 6.0 : 2.0) / fan);
  float *w = malloc(in * out * sizeof *w);
  if (!w)
    return BN_ERR_OUT_OF_MEMORY;
  bn_status st = BN_OK;
  for (size_t k = 0; st == BN_OK && k < in * out; k++) {
    double v = 0;
    st = uniform ? bn_rng_uniform(rng, &v) : bn_rng_normal(rng, &v);
    w[k] = (float)(scale * (uniform ? 2.0 * v - 1.0 : v));
  }
  if (st == BN_OK)
    st = bn_mlp_set(m, layer, BN_MLP_WEIGHT, w, in * out);
  free(w);
  return st;
}

bn_status cli_init_weights(bn_mlp *m, int hidden_scheme, int head_scheme, bn_rng *rng)
{
  bn_init base = library_scheme(hidden_scheme);
  size_t inputs = 0, layers = 0, outputs = 0;
  bn_status st = bn_mlp_init(m, base != BN_INIT_ZEROS ? base : BN_INIT_HE_NORMAL, rng);
  if (st == BN_OK)
    st = bn_mlp_architecture(m, &inputs, &layers, &outputs, NULL, NULL, NULL, NULL);
  if (st != BN_OK)
    return st;
  size_t *sizes = malloc((layers + 1) * sizeof *sizes);
  if (!sizes)
    return BN_ERR_OUT_OF_MEMORY;
  st = bn_mlp_hidden_sizes(m, sizes, layers);
  size_t in = inputs;
  for (size_t l = 1; st == BN_OK && l <= layers + 1; l++) {
    size_t out = l <= layers ? sizes[l - 1] : outputs;
    int scheme = l <= layers ? hidden_scheme : head_scheme;
    if (base == BN_INIT_ZEROS || library_scheme(scheme) != base)
      st = draw(m, l, in, out, scheme, rng);
    in = out;
  }
  free(sizes);
  return st;
}

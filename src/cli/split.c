/* --validation-split: hold out a fraction of the training samples, chosen by
 * a seeded shuffle, so the numbers watched during training are not the test
 * set's. The kept samples stay in their original order. */
#include <stdlib.h>
#include <string.h>
#include "cli.h"

int dataset_split(dataset *train, double fraction, uint64_t seed, dataset *held_out)
{
  memset(held_out, 0, sizeof *held_out);
  /* A sample is its features plus either a class label (y) or `targets`
   * values in [0, 1] (t, sigmoid head). */
  size_t n = train->n, f = train->features, u = train->t ? train->targets : 0;
  size_t count = (size_t)(fraction * (double)n);
  if (count < 1 || n - count < 2)
    return cli_error(CLI_FAIL,
                     "--validation-split %g of %zu samples leaves %zu for validation and %zu "
                     "for training (at least 1 and 2 are needed)",
                     fraction, n, count, n - count);
  size_t *order = malloc(n * sizeof *order);
  unsigned char *chosen = calloc(n, 1);
  held_out->x = cli_float_array(count * f);
  if (train->y)
    held_out->y = malloc(count * sizeof *held_out->y);
  if (u)
    held_out->t = malloc(count * u * sizeof *held_out->t);
  if (!order || !chosen || !held_out->x || (train->y && !held_out->y) || (u && !held_out->t)) {
    free(order);
    free(chosen);
    dataset_free(held_out);
    return cli_error(CLI_FAIL, "out of memory splitting %zu samples", n);
  }
  /* The first `count` places of a Fisher-Yates shuffle are the held-out set. */
  bn_rng rng;
  bn_rng_seed(&rng, seed ^ 0x76616C6964ull); /* "valid": not the init's or the shuffle's stream */
  for (size_t i = 0; i < n; i++)
    order[i] = i;
  for (size_t i = 0; i < count; i++) {
    uint64_t r;
    bn_rng_next_u64(&rng, &r);
    size_t j = i + (size_t)(r % (uint64_t)(n - i));
    size_t t = order[i];
    order[i] = order[j];
    order[j] = t;
    chosen[order[i]] = 1;
  }
  /* Held-out samples in their original order too, then compact the rest. */
  size_t v = 0, k = 0;
  for (size_t i = 0; i < n; i++) {
    if (chosen[i]) {
      memcpy(held_out->x + v * f, train->x + i * f, f * sizeof *train->x);
      if (train->y)
        held_out->y[v] = train->y[i];
      if (u)
        memcpy(held_out->t + v * u, train->t + i * u, u * sizeof *train->t);
      v++;
    } else {
      memmove(train->x + k * f, train->x + i * f, f * sizeof *train->x);
      if (train->y)
        train->y[k] = train->y[i];
      if (u)
        memmove(train->t + k * u, train->t + i * u, u * sizeof *train->t);
      k++;
    }
  }
  held_out->n = count;
  held_out->features = f;
  held_out->targets = train->targets;
  held_out->max_label = train->max_label;
  train->n = k;
  free(order);
  free(chosen);
  return CLI_OK;
}

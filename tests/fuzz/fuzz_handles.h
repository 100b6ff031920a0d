#ifndef BN_FUZZ_HANDLES_H
#define BN_FUZZ_HANDLES_H

/* What the two API-sequence harnesses share: an MLP's shape read from the
 * fuzzer's bytes, and the promise they check after any sequence of calls:
 * what the library serializes, it loads again. Each *_reloaded function
 * writes a handle's state, reads it into a new handle and returns that (the
 * caller replaces the old one with it); a refusal aborts, as a finding. */

#include <bn/bn.h>
#include "fuzz_input.h"

typedef struct fuzz_mlp_shape {
  size_t inputs, hidden[2], layers, outputs;
  bn_mlp_head head;
  bn_activation activation;
  bn_mlp_placement placement;
} fuzz_mlp_shape;

/* Up to two hidden layers of 1 to max_width units; outputs fit the head. */
static inline fuzz_mlp_shape fuzz_mlp_shape_read(fuzz_input *in, size_t max_width)
{
  fuzz_mlp_shape s;
  s.inputs = fuzz_below(in, max_width) + 1;
  s.hidden[0] = fuzz_below(in, max_width) + 1;
  s.hidden[1] = fuzz_below(in, max_width) + 1;
  s.layers = fuzz_below(in, 3);
  s.head = fuzz_u8(in) & 1 ? BN_MLP_HEAD_SIGMOID : BN_MLP_HEAD_SOFTMAX;
  s.outputs = fuzz_below(in, 4) + (s.head == BN_MLP_HEAD_SOFTMAX ? 2 : 1);
  s.activation = (bn_activation)fuzz_below(in, 5);
  s.placement = (bn_mlp_placement)fuzz_below(in, 3);
  return s;
}

static inline bn_status fuzz_mlp_create(bn_mlp **out, const fuzz_mlp_shape *s, unsigned flags)
{
  return bn_mlp_create(out, s->inputs, s->hidden, s->layers, s->outputs, s->activation,
                       s->placement, s->head, flags);
}

static inline bn_batchnorm *fuzz_batchnorm_reloaded(const bn_batchnorm *layer, size_t features,
                                                    unsigned flags)
{
  size_t need = 0, written = 0;
  if (bn_batchnorm_serialized_size(layer, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *b = fuzz_buffer(need);
  if (bn_batchnorm_serialize(layer, b, need, &written) != BN_OK)
    FUZZ_BROKEN();
  bn_batchnorm *other = NULL;
  if (bn_batchnorm_create(&other, features, flags) != BN_OK ||
      bn_batchnorm_deserialize(other, b, written) != BN_OK)
    FUZZ_BROKEN(); /* written by the library, refused by it */
  free(b);
  return other;
}

static inline bn_dense *fuzz_dense_reloaded(const bn_dense *dense, size_t in, size_t out,
                                            unsigned flags)
{
  size_t need = 0, written = 0;
  if (bn_dense_serialized_size(dense, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *b = fuzz_buffer(need);
  if (bn_dense_serialize(dense, b, need, &written) != BN_OK)
    FUZZ_BROKEN();
  bn_dense *other = NULL;
  if (bn_dense_create(&other, in, out, flags) != BN_OK ||
      bn_dense_deserialize(other, b, written) != BN_OK)
    FUZZ_BROKEN();
  free(b);
  return other;
}

static inline bn_standardizer *fuzz_standardizer_reloaded(const bn_standardizer *standardizer)
{
  size_t need = 0, written = 0;
  if (bn_standardizer_serialized_size(standardizer, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *b = fuzz_buffer(need);
  bn_standardizer *other = NULL;
  if (bn_standardizer_serialize(standardizer, b, need, &written) != BN_OK ||
      bn_standardizer_create_from_bytes(&other, b, written, NULL, 0) != BN_OK)
    FUZZ_BROKEN();
  free(b);
  return other;
}

/* The model's bytes (free them); flags: bn_mlp_save_flags. */
static inline unsigned char *fuzz_mlp_bytes(const bn_mlp *mlp, unsigned flags, size_t *written)
{
  size_t need = 0;
  if (bn_mlp_serialized_size(mlp, flags, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *b = fuzz_buffer(need);
  if (bn_mlp_serialize(mlp, flags, b, need, written) != BN_OK)
    FUZZ_BROKEN();
  return b;
}

static inline bn_mlp *fuzz_mlp_reloaded(const bn_mlp *mlp, unsigned flags)
{
  size_t written = 0;
  unsigned char *b = fuzz_mlp_bytes(mlp, flags, &written);
  char message[256];
  bn_mlp *other = NULL;
  if (bn_mlp_deserialize(&other, b, written, message, sizeof message) != BN_OK) {
    fprintf(stderr, "a model the library wrote is refused: %s\n", message);
    FUZZ_BROKEN();
  }
  free(b);
  return other;
}

#endif

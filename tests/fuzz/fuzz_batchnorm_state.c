/* libFuzzer: bn_batchnorm_deserialize on any bytes. The first two bytes
 * choose the receiving layer (features, flags); the rest is the blob, tried
 * as it is and with its checksum made right. A blob
 * that loads must survive a serialize/deserialize round trip bit for bit and
 * run a forward pass in both modes. */
#include <bn/bn.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_blob(size_t features, unsigned flags, const uint8_t *blob, size_t size)
{
  bn_batchnorm *layer = NULL;
  if (bn_batchnorm_create(&layer, features, flags) != BN_OK)
    return;
  if (bn_batchnorm_deserialize(layer, blob, size) == BN_OK) {
    size_t need = 0, written = 0;
    if (bn_batchnorm_serialized_size(layer, &need) != BN_OK)
      FUZZ_BROKEN();
    unsigned char *copy = malloc(need);
    if (!copy || bn_batchnorm_serialize(layer, copy, need, &written) != BN_OK || written != need)
      FUZZ_BROKEN();
    bn_batchnorm *again = NULL;
    if (bn_batchnorm_create(&again, features, flags) != BN_OK ||
        bn_batchnorm_deserialize(again, copy, written) != BN_OK)
      FUZZ_BROKEN();
    unsigned char *copy2 = malloc(need);
    if (!copy2 || bn_batchnorm_serialize(again, copy2, need, &written) != BN_OK ||
        written != need || memcmp(copy, copy2, need) != 0)
      FUZZ_BROKEN();
    float x[16 * 3], y[16 * 3];
    for (size_t i = 0; i < features * 3; i++)
      x[i] = (float)i - 7.0f;
    (void)bn_batchnorm_forward(again, BN_MODE_INFERENCE, 3, x, features, y, features);
    (void)bn_batchnorm_forward(again, BN_MODE_TRAINING, 3, x, features, y, features);
    bn_batchnorm_destroy(again);
    free(copy);
    free(copy2);
  }
  bn_batchnorm_destroy(layer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_input in = {data, size};
  size_t features = fuzz_below(&in, 16) + 1;
  unsigned flags = fuzz_u8(&in) & 0x3fu;
  try_blob(features, flags, in.p, in.n);
  uint8_t *sealed = fuzz_sealed_copy(in.p, in.n);
  if (sealed)
    try_blob(features, flags, sealed, in.n);
  free(sealed);
  return 0;
}

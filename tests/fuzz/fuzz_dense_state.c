/* libFuzzer: bn_dense_deserialize on any bytes. The first three bytes choose
 * the receiving layer (in, out, flags); the rest is the blob, tried as it is
 * and with its checksum made right. A blob that
 * loads must round-trip bit for bit and run forward and backward. */
#include <bn/bn.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void try_blob(size_t inputs, size_t outputs, unsigned flags, const uint8_t *blob,
                     size_t size)
{
  bn_dense *layer = NULL;
  if (bn_dense_create(&layer, inputs, outputs, flags) != BN_OK)
    return;
  if (bn_dense_deserialize(layer, blob, size) == BN_OK) {
    size_t need = 0, written = 0;
    if (bn_dense_serialized_size(layer, &need) != BN_OK)
      FUZZ_BROKEN();
    unsigned char *copy = malloc(need), *copy2 = malloc(need);
    if (!copy || !copy2 || bn_dense_serialize(layer, copy, need, &written) != BN_OK ||
        written != need)
      FUZZ_BROKEN();
    bn_dense *again = NULL;
    if (bn_dense_create(&again, inputs, outputs, flags) != BN_OK ||
        bn_dense_deserialize(again, copy, written) != BN_OK ||
        bn_dense_serialize(again, copy2, need, &written) != BN_OK || written != need ||
        memcmp(copy, copy2, need) != 0)
      FUZZ_BROKEN();
    float x[8 * 2], y[8 * 2], dy[8 * 2], dx[8 * 2];
    for (size_t i = 0; i < 16; i++) {
      x[i] = (float)i * 0.25f - 2.0f;
      dy[i] = 1.0f - (float)i * 0.125f;
    }
    if (bn_dense_forward(again, 2, x, inputs, y, outputs) == BN_OK)
      (void)bn_dense_backward(again, 2, x, inputs, dy, outputs, dx, inputs);
    bn_dense_destroy(again);
    free(copy);
    free(copy2);
  }
  bn_dense_destroy(layer);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_input in = {data, size};
  size_t inputs = fuzz_below(&in, 8) + 1, outputs = fuzz_below(&in, 8) + 1;
  unsigned flags = fuzz_u8(&in) & 0x3u;
  try_blob(inputs, outputs, flags, in.p, in.n);
  uint8_t *sealed = fuzz_sealed_copy(in.p, in.n);
  if (sealed)
    try_blob(inputs, outputs, flags, sealed, in.n);
  free(sealed);
  return 0;
}

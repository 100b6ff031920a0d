/* libFuzzer: the standardizer's state blob, through both entry points
 * (create_from_bytes, and deserialize into an existing 3-feature handle), as
 * given and with its checksum made right. A
 * state that loads must round-trip bit for bit and transform both ways. */
#include <bn/bn.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void exercise(const bn_standardizer *s)
{
  size_t features = 0, need = 0, written = 0;
  if (bn_standardizer_features(s, &features) != BN_OK || features == 0 ||
      bn_standardizer_serialized_size(s, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *copy = malloc(need), *copy2 = malloc(need);
  bn_standardizer *again = NULL;
  if (!copy || !copy2 || bn_standardizer_serialize(s, copy, need, &written) != BN_OK ||
      written != need || bn_standardizer_create_from_bytes(&again, copy, need, NULL, 0) != BN_OK ||
      bn_standardizer_serialize(again, copy2, need, &written) != BN_OK || written != need ||
      memcmp(copy, copy2, need) != 0)
    FUZZ_BROKEN();
  if (features <= 64) {
    float x[64 * 2], y[64 * 2];
    for (size_t i = 0; i < features * 2; i++)
      x[i] = (float)i - 3.0f;
    if (bn_standardizer_transform(again, 2, x, features, y, features) == BN_OK)
      (void)bn_standardizer_inverse_transform(again, 2, y, features, x, features);
  }
  bn_standardizer_destroy(again);
  free(copy);
  free(copy2);
}

static void try_blob(const uint8_t *data, size_t size)
{
  bn_standardizer *s = NULL;
  if (bn_standardizer_create_from_bytes(&s, data, size, NULL, 0) == BN_OK) {
    exercise(s);
    bn_standardizer_destroy(s);
  }
  if (bn_standardizer_create(&s, 3) != BN_OK)
    FUZZ_BROKEN();
  if (bn_standardizer_deserialize(s, data, size) == BN_OK)
    exercise(s);
  bn_standardizer_destroy(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  try_blob(data, size);
  uint8_t *sealed = fuzz_sealed_copy(data, size);
  if (sealed)
    try_blob(sealed, size);
  free(sealed);
  return 0;
}

/* libFuzzer: model files of every format version, as bn_mlp_deserialize
 * (and bn_mlp_read_header) see them, as given and with the checksum made
 * right. A model that loads must predict, and
 * what it writes must load again and be written identically (a file read
 * in an older version is compared from its first rewrite on). */
#include <bn/bn.h>
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char *written_by(const bn_mlp *mlp, unsigned flags, size_t *size)
{
  size_t need = 0, written = 0;
  if (bn_mlp_serialized_size(mlp, flags, &need) != BN_OK)
    FUZZ_BROKEN();
  unsigned char *buf = malloc(need);
  if (!buf || bn_mlp_serialize(mlp, flags, buf, need, &written) != BN_OK || written != need)
    FUZZ_BROKEN();
  *size = need;
  return buf;
}

static void try_file(const uint8_t *data, size_t size)
{
  unsigned version = 0, contents = 0;
  uint64_t file_bytes = 0;
  (void)bn_mlp_read_header(data, size, &version, &contents, &file_bytes);
  char message[256];
  bn_mlp *mlp = NULL;
  if (bn_mlp_deserialize(&mlp, data, size, message, sizeof message) != BN_OK)
    return;
  size_t inputs = 0, layers = 0, outputs = 0;
  if (bn_mlp_architecture(mlp, &inputs, &layers, &outputs, NULL, NULL, NULL, NULL) != BN_OK)
    FUZZ_BROKEN();
  if (inputs * 2 <= 4096 && outputs * 2 <= 4096) {
    static float x[4096], y[4096];
    for (size_t i = 0; i < inputs * 2; i++)
      x[i] = (float)(i % 7) - 3.0f;
    (void)bn_mlp_predict(mlp, BN_MODE_INFERENCE, BN_MLP_PROBABILITIES, 2, x, inputs, y, outputs);
  }
  unsigned flags = (contents & BN_MLP_FILE_OPTIMIZER) ? BN_MLP_SAVE_OPTIMIZER : 0;
  size_t n1 = 0, n2 = 0;
  unsigned char *first = written_by(mlp, flags, &n1);
  bn_mlp *again = NULL;
  if (bn_mlp_deserialize(&again, first, n1, message, sizeof message) != BN_OK)
    FUZZ_BROKEN(); /* written by the library, refused by it */
  unsigned char *second = written_by(again, flags, &n2);
  if (n1 != n2 || memcmp(first, second, n1) != 0)
    FUZZ_BROKEN();
  free(first);
  free(second);
  bn_mlp_destroy(again);
  bn_mlp_destroy(mlp);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  try_file(data, size);
  uint8_t *sealed = fuzz_sealed_copy(data, size);
  if (sealed)
    try_file(sealed, size);
  free(sealed);
  return 0;
}

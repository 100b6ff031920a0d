/* libFuzzer: the bn program's .npy reader, as an array (every value read
 * back) and as a table of features, alone or with itself as the labels. */
#include "../../src/cli/cli.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_input in = {data, size};
  uint8_t choice = fuzz_u8(&in);
  char path[64], err[512];
  int fd;
  if (!fuzz_memfile(in.p, in.n, path, sizeof path, &fd))
    return 0;
  if (choice % 3 == 0) {
    npy_array a;
    if (npy_read(path, &a, err, sizeof err) == CLI_OK) {
      volatile double sum = 0;
      for (size_t i = 0; i < a.count * a.cols; i++)
        sum += npy_value(&a, i);
      (void)sum;
      npy_free(&a);
    }
  } else {
    table t;
    if (npy_table(path, choice % 3 == 2 ? path : NULL, &t, err, sizeof err) == CLI_OK) {
      volatile float sum = 0;
      for (size_t i = 0; i < t.n * t.features; i++)
        sum += t.x[i];
      for (size_t i = 0; t.labels && i < t.n * t.label_cols; i++)
        sum += (float)t.labels[i];
      (void)sum;
      table_free(&t);
    }
  }
  close(fd);
  return 0;
}

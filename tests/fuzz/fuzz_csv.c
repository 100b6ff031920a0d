/* libFuzzer: the bn program's CSV reader. The first byte chooses the header
 * rule and the label column (none, first, last, a name). */
#include "../../src/cli/cli.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  static const char *const labels[] = {NULL, "0", "-1", "label", "1"};
  fuzz_input in = {data, size};
  uint8_t choice = fuzz_u8(&in);
  csv_header header = (csv_header)(choice % 3);
  const char *label = labels[(choice / 3) % 5];
  char path[64], err[512];
  int fd;
  if (!fuzz_memfile(in.p, in.n, path, sizeof path, &fd))
    return 0;
  table t;
  if (csv_read(path, header, label, &t, err, sizeof err) == CLI_OK) {
    volatile float sum = 0;
    for (size_t i = 0; i < t.n * t.features; i++) {
      if (!isfinite(t.x[i]))
        FUZZ_BROKEN(); /* the reader promises finite features */
      sum += t.x[i];
    }
    for (size_t i = 0; t.labels && i < t.n * t.label_cols; i++)
      sum += (float)t.labels[i];
    (void)sum;
    table_free(&t);
  }
  close(fd);
  return 0;
}

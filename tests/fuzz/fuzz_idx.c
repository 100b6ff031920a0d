/* libFuzzer: the bn program's IDX reader (plain or gzip-compressed). The
 * first byte chooses the dimension range the caller accepts. */
#include "../../src/cli/cli.h"
#include "fuzz_input.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  fuzz_input in = {data, size};
  int lo = (int)fuzz_below(&in, 3) + 1;
  char path[64], err[512];
  int fd;
  if (!fuzz_memfile(in.p, in.n, path, sizeof path, &fd))
    return 0;
  idx_file f;
  if (idx_read(path, lo, 3, &f, err, sizeof err) == CLI_OK) {
    volatile unsigned sum = 0;
    for (size_t i = 0; i < f.count * f.item; i++)
      sum += f.data[i]; /* every byte it claims is there */
    (void)sum;
    idx_free(&f);
  }
  close(fd);
  return 0;
}

/* Replays a harness's regression inputs (tests/fuzz/regressions/HARNESS.inc,
 * compiled in as C arrays) through its LLVMFuzzerTestOneInput in an ordinary
 * build, so that what the fuzzer once found stays fixed in every CI step
 * (gcc, clang, the sanitizers). Files named on the command line are replayed
 * too (a new crash-* file, before it is added to the .inc). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#include BN_FUZZ_REGRESSION_FILE

static void replay(const char *name, const unsigned char *data, size_t size)
{
  printf("replaying %s (%zu bytes)\n", name, size);
  fflush(stdout);
  LLVMFuzzerTestOneInput(data, size); /* a regression aborts or trips a sanitizer */
}

int main(int argc, char **argv)
{
#define BN_FUZZ_REGRESSION(name) replay(#name, name, sizeof name);
  BN_FUZZ_REGRESSIONS
#undef BN_FUZZ_REGRESSION
  for (int i = 1; i < argc; i++) {
    FILE *f = fopen(argv[i], "rb");
    static unsigned char buf[1 << 20];
    size_t n = f ? fread(buf, 1, sizeof buf, f) : 0;
    if (!f) {
      perror(argv[i]);
      return 1;
    }
    fclose(f);
    replay(argv[i], buf, n);
  }
  return 0;
}

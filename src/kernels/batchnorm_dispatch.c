#include <stdlib.h>
#include <string.h>
#include "batchnorm_loops.h"

const bni_bn_loops *bni_bn_loops_select(void)
{
  /* Asked on every call rather than cached, so there is no global state to
   * initialize or race on; both questions cost a few nanoseconds. */
  const char *isa = getenv("BN_ISA");
  if (isa && strcmp(isa, "generic") == 0)
    return &bni_bn_loops_generic;
#if defined(__x86_64__) || defined(__i386__)
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
    return &bni_bn_loops_avx2;
#endif
  return &bni_bn_loops_generic;
}

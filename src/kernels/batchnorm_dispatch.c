#include <stdlib.h>
#include <string.h>
#include "batchnorm_loops.h"

/* The widest path not above the BN_ISA cap: 0 generic, 1 avx2, 2 avx512. */
static int isa_cap(void)
{
  const char *isa = getenv("BN_ISA");
  if (isa && strcmp(isa, "generic") == 0)
    return 0;
  if (isa && strcmp(isa, "avx2") == 0)
    return 1;
  return 2;
}

bni_isa bni_isa_select(void)
{
  /* Asked on every call rather than cached, so there is no global state to
   * initialize or race on; these questions cost a few nanoseconds. A path
   * runs only when the CPU has every feature its file is compiled with;
   * libgcc's __builtin_cpu_supports also checks that the OS saves the wider
   * registers (XCR0). */
  int cap = isa_cap();
#if defined(__x86_64__) || defined(__i386__)
  int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  if (cap >= 2 && avx2 && __builtin_cpu_supports("avx512f") &&
      __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512dq"))
    return BNI_ISA_AVX512;
  if (cap >= 1 && avx2)
    return BNI_ISA_AVX2;
#else
  (void)cap;
#endif
  return BNI_ISA_GENERIC;
}

const bni_bn_loops *bni_bn_loops_select(void)
{
  switch (bni_isa_select()) {
#if defined(__x86_64__) || defined(__i386__)
  case BNI_ISA_AVX512: return &bni_bn_loops_avx512;
  case BNI_ISA_AVX2: return &bni_bn_loops_avx2;
#endif
  default: return &bni_bn_loops_generic;
  }
}
